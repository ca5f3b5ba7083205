//! Face datasets: synthetic identities in the LFW layout.

pub mod samples;
pub mod synth;
