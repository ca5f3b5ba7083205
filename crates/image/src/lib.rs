//! The image-classification case: "is this photo taken by day or by night?".
//!
//! Rooms: [`data`] (generator, datasets, batches), [`model`] (the CNN),
//! [`train`] (the training loop and run report), [`eval`] (metrics),
//! [`infer`] (loading a model file and predicting), and [`study`] (resolution
//! study, human baseline, learning curve).

pub mod data;
pub mod eval;
pub mod infer;
pub mod model;
pub mod study;
pub mod train;
