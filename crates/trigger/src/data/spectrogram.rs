//! Spectrogram features with explicit parameters, computed with `realfft`.
//!
//! Semantics follow matplotlib's `specgram` (the lecture's `graph_spectrogram`):
//! symmetric Hann window (`np.hanning`), one-sided power spectral density
//! `|FFT(x·w)|² / (rate · Σw²)`, doubled except at DC and Nyquist. The defaults
//! (44.1 kHz, n_fft 200, hop 80) give the lecture's 101 bins × 5511 frames for
//! 10 s. Features are `10·log10(psd + floor)` so their scale suits a network.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

/// The largest FFT a spectrogram may use (2049 bins). Wider ones make
/// networks of hundreds of millions of weights: `--n-fft 100000` ran for
/// minutes before failing, and a model file is untrusted input.
pub const MAX_N_FFT: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpectrogramConfig {
    pub rate: u32,
    pub n_fft: usize,
    pub hop: usize,
}

impl Default for SpectrogramConfig {
    fn default() -> Self {
        Self {
            rate: 44_100,
            n_fft: 200,
            hop: 80,
        }
    }
}

impl SpectrogramConfig {
    pub fn bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Frames for `samples` samples (no padding, as matplotlib).
    pub fn frames(&self, samples: usize) -> usize {
        if samples < self.n_fft {
            0
        } else {
            1 + (samples - self.n_fft) / self.hop
        }
    }
}

/// Computes spectrograms of one configuration, reusing the FFT plan.
pub struct Spectrogram {
    config: SpectrogramConfig,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    scale: f32,
}

/// Power below this (relative to full scale) is treated as silence in dB.
const FLOOR: f32 = 1e-12;

impl Spectrogram {
    pub fn new(config: SpectrogramConfig) -> Self {
        let n = config.n_fft;
        let window: Vec<f32> = (0..n)
            .map(|i| {
                if n == 1 {
                    1.0
                } else {
                    0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / (n - 1) as f32).cos()
                }
            })
            .collect();
        let scale = 1.0 / (config.rate as f32 * window.iter().map(|w| w * w).sum::<f32>());
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
        Self {
            config,
            fft,
            window,
            scale,
        }
    }

    pub fn config(&self) -> SpectrogramConfig {
        self.config
    }

    /// One-sided power spectral density, `[frames][bins]`.
    pub fn power(&self, samples: &[f32]) -> Vec<Vec<f32>> {
        let c = self.config;
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let bins = c.bins();
        (0..c.frames(samples.len()))
            .map(|f| {
                let start = f * c.hop;
                for (slot, (x, w)) in input
                    .iter_mut()
                    .zip(samples[start..start + c.n_fft].iter().zip(&self.window))
                {
                    *slot = x * w;
                }
                self.fft
                    .process(&mut input, &mut spectrum)
                    .expect("buffers sized by the planner");
                (0..bins)
                    .map(|k| {
                        let p = spectrum[k].norm_sqr() * self.scale;
                        // One-sided: double all but DC and (for even n_fft) Nyquist.
                        let edge = k == 0 || (c.n_fft.is_multiple_of(2) && k == bins - 1);
                        if edge {
                            p
                        } else {
                            2.0 * p
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Log-power features in dB, `[frames][bins]`.
    pub fn features(&self, samples: &[f32]) -> Vec<Vec<f32>> {
        let mut power = self.power(samples);
        for frame in &mut power {
            for v in frame.iter_mut() {
                *v = 10.0 * (*v + FLOOR).log10();
            }
        }
        power
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lecture_shape_for_ten_seconds() {
        let c = SpectrogramConfig::default();
        assert_eq!((c.bins(), c.frames(441_000)), (101, 5511));
    }

    /// Reference numbers computed once with numpy / matplotlib:
    /// ```python
    /// import numpy as np, matplotlib.mlab as mlab
    /// i = np.arange(1000); x = np.sin(0.05*i) + 0.3*np.sin(0.31*i) + 0.1*np.cos(1.7*i)
    /// p, f, t = mlab.specgram(x, NFFT=200, Fs=8000, noverlap=120)  # window_hanning
    /// ```
    /// stored as `tests/fixtures/specgram.json` (`p` is bins × frames).
    #[test]
    fn matches_matplotlib_specgram() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/specgram.json"))
                .expect("fixture");
        let x: Vec<f32> = (0..1000)
            .map(|i| {
                let i = i as f32;
                (0.05 * i).sin() + 0.3 * (0.31 * i).sin() + 0.1 * (1.7 * i).cos()
            })
            .collect();
        let s = Spectrogram::new(SpectrogramConfig {
            rate: 8000,
            n_fft: 200,
            hop: 80,
        });
        let ours = s.power(&x);
        let reference = fixture["p"].as_array().unwrap();
        assert_eq!(
            (ours.len(), ours[0].len()),
            (reference[0].as_array().unwrap().len(), reference.len())
        );
        let peak = reference
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
            .fold(0.0, f64::max);
        for (bin, row) in reference.iter().enumerate() {
            for (frame, v) in row.as_array().unwrap().iter().enumerate() {
                let (want, got) = (v.as_f64().unwrap(), ours[frame][bin] as f64);
                assert!(
                    (want - got).abs() <= 1e-4 * peak + 1e-3 * want.abs(),
                    "bin {bin} frame {frame}: {got} vs {want}"
                );
            }
        }
    }
}
