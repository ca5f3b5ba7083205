//! Audio data: clips, spectrogram features, backgrounds and the mixer.

pub mod audio;
pub mod backgrounds;
pub mod mixer;
pub mod spectrogram;

pub use audio::Clip;
