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
/// Sample rates audio may have, in Hz: telephone-band to studio rates.
/// Outside them a resampler's buffers grow without bound (a rate of 4 GHz
/// asked for 512 MB per block) or the audio has no speech band left.
pub const SUPPORTED_RATES: std::ops::RangeInclusive<u32> = 1_000..=384_000;
