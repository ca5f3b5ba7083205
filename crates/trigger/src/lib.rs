//! Trigger-word detection ("activate"): the data room so far — reading and
//! resampling WAV clips, spectrograms, procedural backgrounds, and the mixer
//! that makes labelled 10 s training clips. The model, training, streaming
//! detection and evaluation follow (issue 4).

pub mod data;
pub mod eval;
pub mod infer;
pub mod mine;
pub mod model;
pub mod study;
pub mod train;
