//! Audio data: clips, spectrogram features, backgrounds and the mixer.

pub mod audio;
pub mod augment;
pub mod backgrounds;
pub mod features;
pub mod mixer;
pub mod spectrogram;
pub mod synth;
pub mod voices;

pub use audio::Clip;

/// The sample rate of the trigger model, its spectrogram and the built-in
/// speech pools; other audio is resampled to it.
pub const SAMPLE_RATE: u32 = 16_000;
