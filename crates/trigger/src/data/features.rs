//! Network input: log-power spectrogram frames, standardised per bin with
//! statistics measured on training mixtures and stored in the model file.

use serde::{Deserialize, Serialize};

use super::spectrogram::{Spectrogram, SpectrogramConfig};

/// The model's spectrogram: the lecture's 101 bins × 5511 frames for 10 s,
/// at the built-in pools' 16 kHz (hop 29 samples instead of 80 at 44.1 kHz).
pub const MODEL_SPECTROGRAM: SpectrogramConfig = SpectrogramConfig {
    rate: super::SAMPLE_RATE,
    n_fft: 200,
    hop: 29,
};

/// How audio becomes network input; stored in the model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    pub spectrogram: SpectrogramConfig,
    /// Per-bin mean and standard deviation of the dB features.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl FeatureConfig {
    /// Measures per-bin statistics on `clips` (at `spectrogram.rate`).
    pub fn fit(spectrogram: SpectrogramConfig, clips: &[&[f32]]) -> Self {
        let spec = Spectrogram::new(spectrogram);
        let bins = spectrogram.bins();
        let (mut sum, mut sq, mut n) = (vec![0f64; bins], vec![0f64; bins], 0usize);
        for clip in clips {
            for frame in spec.features(clip) {
                for (k, v) in frame.iter().enumerate() {
                    sum[k] += *v as f64;
                    sq[k] += (*v as f64) * (*v as f64);
                }
                n += 1;
            }
        }
        let n = n.max(1) as f64;
        let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| ((q / n - (*m as f64).powi(2)).max(1e-6).sqrt()) as f32)
            .collect();
        Self {
            spectrogram,
            mean,
            std,
        }
    }

    pub fn bins(&self) -> usize {
        self.spectrogram.bins()
    }

    /// Standardises one frame of dB features in place.
    pub fn standardise(&self, frame: &mut [f32]) {
        for ((v, m), s) in frame.iter_mut().zip(&self.mean).zip(&self.std) {
            *v = (*v - m) / s;
        }
    }

    /// Standardised features of a whole clip, flattened `[frames × bins]`.
    pub fn compute(&self, spec: &Spectrogram, samples: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.spectrogram.frames(samples.len()) * self.bins());
        for mut frame in spec.features(samples) {
            self.standardise(&mut frame);
            out.extend_from_slice(&frame);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_spectrogram_has_the_lecture_shape_at_16k() {
        let c = MODEL_SPECTROGRAM;
        assert_eq!((c.bins(), c.frames(160_000)), (101, 5511));
    }

    #[test]
    fn fitted_features_are_standardised() {
        // Noise whose loudness changes every 1000 samples, so every bin varies.
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let clip: Vec<f32> = (0..16_000)
            .map(|i| rng.gen_range(-1.0f32..1.0) * (1.0 + (i / 1000 % 5) as f32))
            .collect();
        let config = FeatureConfig::fit(MODEL_SPECTROGRAM, &[&clip]);
        let spec = Spectrogram::new(MODEL_SPECTROGRAM);
        let x = config.compute(&spec, &clip);
        let bins = config.bins();
        let frames = x.len() / bins;
        for k in [0, 30, 100] {
            let col: Vec<f32> = (0..frames).map(|f| x[f * bins + k]).collect();
            let mean = col.iter().sum::<f32>() / frames as f32;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / frames as f32;
            assert!(
                mean.abs() < 1e-3 && (var - 1.0).abs() < 1e-2,
                "bin {k}: mean {mean} var {var}"
            );
        }
    }
}
