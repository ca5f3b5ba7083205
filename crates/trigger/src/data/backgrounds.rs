//! Procedural background recordings: white, pink and brown noise, mains hum,
//! tonal music-like beds, and babble made from negative speech clips.

use rand::Rng;

use super::Clip;

/// Kinds of generated background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    White,
    Pink,
    Brown,
    Hum,
    Tonal,
}

pub const ALL: [Background; 5] = [
    Background::White,
    Background::Pink,
    Background::Brown,
    Background::Hum,
    Background::Tonal,
];

fn white(rng: &mut impl Rng) -> f32 {
    rng.gen_range(-1.0f32..1.0)
}

/// Scales a clip to the given RMS level.
pub fn normalise(mut clip: Clip, rms: f32) -> Clip {
    let current = clip.rms();
    if current > 0.0 {
        let k = rms / current;
        clip.samples.iter_mut().for_each(|s| *s *= k);
    }
    clip
}

/// `seconds` of background of `kind` at `rate`, at RMS `level`.
pub fn generate(kind: Background, seconds: f64, rate: u32, level: f32, rng: &mut impl Rng) -> Clip {
    let n = (seconds * rate as f64).round() as usize;
    let samples: Vec<f32> = match kind {
        Background::White => (0..n).map(|_| white(rng)).collect(),
        Background::Pink => {
            // Paul Kellet's economy filter: white noise to a 1/f spectrum.
            let (mut b0, mut b1, mut b2) = (0f32, 0f32, 0f32);
            (0..n)
                .map(|_| {
                    let w = white(rng);
                    b0 = 0.99765 * b0 + w * 0.0990460;
                    b1 = 0.96300 * b1 + w * 0.2965164;
                    b2 = 0.57000 * b2 + w * 1.0526913;
                    b0 + b1 + b2 + w * 0.1848
                })
                .collect()
        }
        Background::Brown => {
            // Leaky integration of white noise: a 1/f² spectrum without drift.
            let mut acc = 0f32;
            (0..n)
                .map(|_| {
                    acc = 0.995 * acc + 0.05 * white(rng);
                    acc
                })
                .collect()
        }
        Background::Hum => {
            let mains = if rng.gen_bool(0.5) { 50.0 } else { 60.0 };
            let phase: f32 = rng.gen_range(0.0..std::f32::consts::TAU);
            (0..n)
                .map(|i| {
                    let t = i as f32 / rate as f32;
                    let tone: f32 = (1..=4)
                        .map(|h| {
                            (std::f32::consts::TAU * mains * h as f32 * t + phase).sin() / h as f32
                        })
                        .sum();
                    tone + 0.05 * white(rng)
                })
                .collect()
        }
        Background::Tonal => {
            // A few sustained notes with slow swells, changing every second or two.
            let mut out = vec![0f32; n];
            let mut start = 0usize;
            while start < n {
                let len = ((rng.gen_range(1.0..2.5) * rate as f64) as usize).min(n - start);
                let root = 110.0 * 2f32.powf(rng.gen_range(0..24) as f32 / 12.0);
                let chord = [1.0, 1.26, 1.5];
                for (j, s) in out[start..start + len].iter_mut().enumerate() {
                    let t = j as f32 / rate as f32;
                    let envelope = (std::f32::consts::PI * j as f32 / len as f32).sin();
                    *s += envelope
                        * chord
                            .iter()
                            .map(|r| (std::f32::consts::TAU * root * r * t).sin())
                            .sum::<f32>();
                }
                start += len;
            }
            out
        }
    };
    normalise(Clip::new(rate, samples), level)
}

/// Babble: several negative clips overlapping at random offsets.
pub fn babble(negatives: &[Clip], seconds: f64, rate: u32, level: f32, rng: &mut impl Rng) -> Clip {
    let n = (seconds * rate as f64).round() as usize;
    let mut out = vec![0f32; n];
    if !negatives.is_empty() {
        for _ in 0..(seconds * 3.0) as usize {
            let clip = &negatives[rng.gen_range(0..negatives.len())];
            let offset = rng.gen_range(0..n);
            for (o, s) in out[offset..].iter_mut().zip(&clip.samples) {
                *o += s;
            }
        }
    }
    normalise(Clip::new(rate, out), level)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::spectrogram::{Spectrogram, SpectrogramConfig};
    use rand::SeedableRng;

    /// Mean power in the lowest and highest quarter of the spectrum.
    fn low_high(clip: &Clip) -> (f64, f64) {
        let s = Spectrogram::new(SpectrogramConfig {
            rate: clip.rate,
            n_fft: 256,
            hop: 256,
        });
        let p = s.power(&clip.samples);
        let bins = p[0].len();
        let mean = |range: std::ops::Range<usize>| {
            p.iter()
                .map(|f| f[range.clone()].iter().map(|&v| v as f64).sum::<f64>())
                .sum::<f64>()
                / (p.len() * range.len()) as f64
        };
        (mean(1..bins / 4), mean(3 * bins / 4..bins))
    }

    #[test]
    fn noise_colours_have_their_slopes_and_levels() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let white = generate(Background::White, 2.0, 16000, 0.1, &mut rng);
        let pink = generate(Background::Pink, 2.0, 16000, 0.1, &mut rng);
        let brown = generate(Background::Brown, 2.0, 16000, 0.1, &mut rng);
        for clip in [&white, &pink, &brown] {
            assert!((clip.rms() - 0.1).abs() < 1e-3);
            assert_eq!(clip.samples.len(), 32000);
        }
        let ratio = |c: &Clip| {
            let (lo, hi) = low_high(c);
            lo / hi
        };
        assert!(ratio(&white) < 2.0, "white is flat: {}", ratio(&white));
        assert!(ratio(&pink) > 3.0 * ratio(&white), "pink tilts down");
        assert!(ratio(&brown) > 5.0 * ratio(&pink), "brown tilts more");
    }

    #[test]
    fn every_kind_and_babble_reach_the_asked_level() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        for kind in ALL {
            let clip = generate(kind, 1.0, 8000, 0.05, &mut rng);
            assert_eq!(clip.samples.len(), 8000, "{kind:?}");
            assert!(
                (clip.rms() - 0.05).abs() < 1e-3,
                "{kind:?}: rms {}",
                clip.rms()
            );
        }
        let words = vec![Clip::new(
            8000,
            (0..800).map(|i| ((i as f32) * 0.3).sin()).collect(),
        )];
        let b = babble(&words, 2.0, 8000, 0.02, &mut rng);
        assert_eq!(b.samples.len(), 16000);
        assert!((b.rms() - 0.02).abs() < 1e-3);
    }
}
