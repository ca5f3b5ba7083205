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
    /// Share of trigger words said inside a phrase: other words right before
    /// and/or after them ("okay, activate", "activate the lights").
    #[serde(default)]
    pub context: f64,
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
            context: 0.5,
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

/// A clip as the mixer inserts it: varied in speed, pitch and room if the
/// config asks for it.
fn say(clip: &Clip, config: &MixConfig, rng: &mut impl Rng) -> Clip {
    if config.vary_words {
        super::augment::vary_word(clip, rng)
    } else {
        clip.clone()
    }
}

/// Mixes a background (looped or cut to `seconds`) with 0..=max positives and
/// negatives, each scaled to a random SNR against the background (on digital
/// silence, an empty background included, to an RMS of 0.01–0.2).
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
    let background_rms = Clip::new(rate, samples.clone()).rms();
    // On digital silence an SNR means nothing: words get a level of their own.
    let silent = background_rms < 1e-6;
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
        let word = say(
            if positive {
                &positives[index]
            } else {
                &negatives[index]
            },
            config,
            rng,
        );
        // A phrase: the word, and for some trigger words other words beside
        // it, each 0–150 ms apart, all at the word's level.
        let mut phrase = vec![(word, positive)];
        if positive && !negatives.is_empty() && rng.gen_bool(config.context) {
            let before = rng.gen_bool(0.6);
            let after = !before || rng.gen_bool(0.4);
            if before {
                let other = &negatives[rng.gen_range(0..negatives.len())];
                phrase.insert(0, (say(other, config, rng), false));
            }
            if after {
                let other = &negatives[rng.gen_range(0..negatives.len())];
                phrase.push((say(other, config, rng), false));
            }
        }
        let gaps: Vec<usize> = (1..phrase.len())
            .map(|_| rng.gen_range(0..=rate as usize * 3 / 20))
            .collect();
        let len =
            phrase.iter().map(|(c, _)| c.samples.len()).sum::<usize>() + gaps.iter().sum::<usize>();
        let Some(start) = place(len, total, &segments, rng) else {
            continue;
        };
        let level = if silent {
            rng.gen_range(0.01f32..0.2)
        } else {
            let snr = rng.gen_range(config.snr_db.0..=config.snr_db.1);
            background_rms * 10f32.powf(snr / 20.0)
        };
        let mut at = start;
        for (i, (clip, positive)) in phrase.iter().enumerate() {
            let gain = level / clip.rms().max(1e-6);
            for (out, s) in samples[at..].iter_mut().zip(&clip.samples) {
                *out += gain * s;
            }
            segments.push(Segment {
                start: at,
                end: at + clip.samples.len(),
                positive: *positive,
            });
            at += clip.samples.len() + gaps.get(i).copied().unwrap_or(0);
        }
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
    fn words_on_digital_silence_are_heard_at_everyday_levels() {
        let word = Clip::new(1000, (0..700).map(|i| ((i as f32) * 0.9).sin()).collect());
        for seed in 0..20 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let m = mix(
                &Clip::new(1000, Vec::new()),
                std::slice::from_ref(&word),
                &[],
                &MixConfig::default(),
                &mut rng,
            );
            assert_eq!(m.clip.samples.len(), 10_000);
            for s in &m.segments {
                let rms = Clip::new(1000, m.clip.samples[s.start..s.end].to_vec()).rms();
                assert!((0.009..0.21).contains(&rms), "seed {seed}: rms {rms}");
            }
            let outside = m
                .clip
                .samples
                .iter()
                .enumerate()
                .filter(|(i, _)| !m.segments.iter().any(|s| (s.start..s.end).contains(i)));
            assert!(
                outside.clone().all(|(_, v)| *v == 0.0),
                "seed {seed}: the silence is not silent"
            );
        }
    }

    #[test]
    fn trigger_words_inside_phrases_have_other_words_right_beside_them() {
        let rate = 1000;
        let background = Clip::new(rate, vec![0.01; 3000]);
        let tone = |len: usize, v: f32| {
            Clip::new(
                rate,
                (0..len).map(|i| v * ((i as f32) * 0.9).sin()).collect(),
            )
        };
        let config = MixConfig {
            vary_words: false,
            context: 1.0,
            max_negatives: 0,
            ..MixConfig::default()
        };
        let (mut phrases, mut before, mut after) = (0, 0, 0);
        for seed in 0..100 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let m = mix(
                &background,
                &[tone(700, 0.5)],
                &[tone(400, 0.3)],
                &config,
                &mut rng,
            );
            assert_eq!(m.labels, labels_for(&m.segments, 10_000, &config));
            let near = |a: usize, b: usize| b >= a && b - a <= rate as usize * 3 / 20;
            for (i, word) in m.segments.iter().enumerate().filter(|(_, s)| s.positive) {
                // With no free negatives, every other word is context.
                let left =
                    i > 0 && !m.segments[i - 1].positive && near(m.segments[i - 1].end, word.start);
                let right = m
                    .segments
                    .get(i + 1)
                    .is_some_and(|s| !s.positive && near(word.end, s.start));
                assert!(
                    left || right,
                    "seed {seed}: a lone word {word:?} in {:?}",
                    m.segments
                );
                phrases += 1;
                before += left as usize;
                after += right as usize;
            }
            assert!(
                m.segments.iter().filter(|s| !s.positive).count()
                    <= 2 * m.segments.iter().filter(|s| s.positive).count()
            );
        }
        // Both orders occur: "okay, activate" and "activate the lights".
        assert!(
            phrases > 50 && before > 10 && after > 10,
            "{phrases} {before} {after}"
        );
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
