//! The mixer: a 10 s background with positive and negative clips inserted at
//! random, non-overlapping positions and gains. Labels are known by
//! construction: the output steps right after each positive ends are 1.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::Clip;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MixConfig {
    pub seconds: f64,
    pub max_positives: usize,
    pub max_negatives: usize,
    /// Signal-to-background ratio range of inserted clips, in dB.
    pub snr_db: (f32, f32),
    /// Output time steps of the model for `seconds` of audio.
    pub output_steps: usize,
    /// Steps labelled 1 after each positive ends.
    pub label_steps: usize,
    /// Vary inserted words in speed/pitch and reverberation (`augment::vary_word`).
    #[serde(default)]
    pub vary_words: bool,
}

impl Default for MixConfig {
    fn default() -> Self {
        Self {
            seconds: 10.0,
            max_positives: 4,
            max_negatives: 4,
            snr_db: (0.0, 20.0),
            output_steps: 1375,
            label_steps: 50,
            vary_words: true,
        }
    }
}

/// One inserted clip: samples `start..end` of the mixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub start: usize,
    pub end: usize,
    pub positive: bool,
}

#[derive(Debug, Clone)]
pub struct Mixture {
    pub clip: Clip,
    pub segments: Vec<Segment>,
    /// Per output step: 1 right after a positive ends, else 0.
    pub labels: Vec<f32>,
}

/// The output step that sample `sample` of `total` falls in.
pub fn step_of(sample: usize, total: usize, steps: usize) -> usize {
    ((sample as u128 * steps as u128) / total.max(1) as u128) as usize
}

/// Labels for segments: for each positive ending at sample `e`, the steps
/// `step_of(e) + 1 ..= step_of(e) + label_steps` (clipped to the end) are 1.
pub fn labels_for(segments: &[Segment], total: usize, config: &MixConfig) -> Vec<f32> {
    let mut y = vec![0f32; config.output_steps];
    for s in segments.iter().filter(|s| s.positive) {
        let end_step = step_of(s.end, total, config.output_steps);
        for slot in y.iter_mut().skip(end_step + 1).take(config.label_steps) {
            *slot = 1.0;
        }
    }
    y
}

/// Tries a few random places for a clip of `len` samples that overlap no
/// existing segment; `None` if the clip does not fit.
fn place(len: usize, total: usize, taken: &[Segment], rng: &mut impl Rng) -> Option<usize> {
    if len >= total {
        return None;
    }
    (0..50)
        .map(|_| rng.gen_range(0..total - len))
        .find(|&start| {
            let end = start + len;
            taken.iter().all(|s| end <= s.start || start >= s.end)
        })
}

/// Mixes a background (looped or cut to `seconds`) with 0..=max positives and
/// negatives, each scaled to a random SNR against the background.
pub fn mix(
    background: &Clip,
    positives: &[Clip],
    negatives: &[Clip],
    config: &MixConfig,
    rng: &mut impl Rng,
) -> Mixture {
    let rate = background.rate;
    let total = (config.seconds * rate as f64).round() as usize;
    let mut samples: Vec<f32> = background
        .samples
        .iter()
        .copied()
        .cycle()
        .take(total)
        .collect();
    samples.resize(total, 0.0);
    let background_rms = Clip::new(rate, samples.clone()).rms().max(1e-4);
    let mut segments: Vec<Segment> = Vec::new();
    let n_pos = if positives.is_empty() {
        0
    } else {
        rng.gen_range(0..=config.max_positives)
    };
    let n_neg = if negatives.is_empty() {
        0
    } else {
        rng.gen_range(0..=config.max_negatives)
    };
    let mut picks: Vec<(bool, usize)> = (0..n_pos)
        .map(|_| (true, rng.gen_range(0..positives.len())))
        .collect();
    picks.extend((0..n_neg).map(|_| (false, rng.gen_range(0..negatives.len()))));
    for (positive, index) in picks {
        let original = if positive {
            &positives[index]
        } else {
            &negatives[index]
        };
        let varied;
        let clip = if config.vary_words {
            varied = super::augment::vary_word(original, rng);
            &varied
        } else {
            original
        };
        let Some(start) = place(clip.samples.len(), total, &segments, rng) else {
            continue;
        };
        let snr = rng.gen_range(config.snr_db.0..=config.snr_db.1);
        let gain = background_rms * 10f32.powf(snr / 20.0) / clip.rms().max(1e-6);
        for (out, s) in samples[start..].iter_mut().zip(&clip.samples) {
            *out += gain * s;
        }
        segments.push(Segment {
            start,
            end: start + clip.samples.len(),
            positive,
        });
    }
    segments.sort_by_key(|s| s.start);
    // Keep the mixture in range without changing relative levels.
    let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    if peak > 0.99 {
        samples.iter_mut().for_each(|s| *s *= 0.99 / peak);
    }
    let labels = labels_for(&segments, total, config);
    Mixture {
        clip: Clip::new(rate, samples),
        segments,
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn label_steps_land_on_the_right_indices() {
        // 10 s at 1 kHz = 10 000 samples over 1375 steps; a word ending at
        // sample 5000 ends in step 687, so steps 688..=737 are 1.
        let config = MixConfig {
            label_steps: 50,
            ..MixConfig::default()
        };
        let y = labels_for(
            &[Segment {
                start: 4000,
                end: 5000,
                positive: true,
            }],
            10_000,
            &config,
        );
        let ones: Vec<usize> = y
            .iter()
            .enumerate()
            .filter(|(_, &v)| v == 1.0)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(ones, (688..=737).collect::<Vec<_>>());
        // Near the end the label is clipped, and negatives are never labelled.
        let y = labels_for(
            &[
                Segment {
                    start: 9000,
                    end: 9990,
                    positive: true,
                },
                Segment {
                    start: 100,
                    end: 900,
                    positive: false,
                },
            ],
            10_000,
            &config,
        );
        // The word ends in step 1373 (9990·1375/10000), so only step 1374 remains.
        let ones: Vec<usize> = y
            .iter()
            .enumerate()
            .filter(|(_, &v)| v == 1.0)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(ones, vec![1374]);
    }

    #[test]
    fn clips_never_overlap_and_labels_match_positions() {
        let rate = 1000;
        let background = Clip::new(rate, vec![0.01; 3000]);
        // Alternating signs: a "word" cannot cancel the constant background.
        let word = |len: usize, v: f32| {
            Clip::new(
                rate,
                (0..len).map(|i| if i % 2 == 0 { v } else { -v }).collect(),
            )
        };
        let positives = vec![word(700, 0.5), word(900, 0.4)];
        let negatives = vec![word(600, -0.3), word(1200, 0.2)];
        // Fixed words: these checks are about placement (varying is tested in augment).
        let config = MixConfig {
            vary_words: false,
            ..MixConfig::default()
        };
        for seed in 0..200 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let m = mix(&background, &positives, &negatives, &config, &mut rng);
            assert_eq!(m.clip.samples.len(), 10_000);
            for pair in m.segments.windows(2) {
                assert!(
                    pair[0].end <= pair[1].start,
                    "seed {seed}: overlap {pair:?}"
                );
            }
            assert_eq!(
                m.labels,
                labels_for(&m.segments, 10_000, &config),
                "seed {seed}"
            );
            let positives_placed = m.segments.iter().filter(|s| s.positive).count();
            assert!(positives_placed <= config.max_positives);
            if positives_placed > 0 {
                assert!(m.labels.contains(&1.0));
            }
            // Inserted audio is really there: a segment is louder than the background.
            for s in &m.segments {
                let seg = Clip::new(rate, m.clip.samples[s.start..s.end].to_vec());
                assert!(seg.rms() > 0.009, "seed {seed}: segment {s:?} is silent");
            }
        }
    }
}
