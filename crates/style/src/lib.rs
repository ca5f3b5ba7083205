//! Art generation: neural style transfer.
//!
//! Rooms: `data` (pictures in and out, colour preservation), `model` (the
//! feature networks: VGG-19 from the user's file, or the built-in random
//! network), `loss` (Gram matrices, content, style and total-variation
//! losses), `infer` (transfer by optimising the picture), `run` (a transfer
//! as a run folder with its report), `train` (a fast-style network per
//! style).

pub mod data;
pub mod infer;
pub mod loss;
pub mod model;
pub mod run;
pub mod train;
