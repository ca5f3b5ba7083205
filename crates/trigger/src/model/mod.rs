//! The trigger-word network.

pub mod gru;
pub mod gru_kernel;
