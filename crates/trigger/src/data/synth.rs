//! `casebook trigger synth`: labelled 10 s clips on disk, as WAVs plus
//! `labels.csv` with one `file,start_s,end_s` row per inserted trigger word.

use std::path::Path;

use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::backgrounds::{self, Background};
use super::mixer::{mix, MixConfig, Mixture};
use super::{voices, Clip};

/// Where the mixer's material comes from.
pub struct Pools {
    pub positives: Vec<Clip>,
    pub negatives: Vec<Clip>,
    /// Recorded backgrounds; when empty, backgrounds are generated.
    pub backgrounds: Vec<Clip>,
    pub rate: u32,
}

/// Where the user points the mixer; `None` means the built-in material.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PoolSources {
    pub positives: Option<std::path::PathBuf>,
    pub negatives: Option<std::path::PathBuf>,
    pub backgrounds: Option<std::path::PathBuf>,
    /// Use the built-in held-out test voices instead of the training voices.
    pub test_voices: bool,
}

impl Pools {
    /// Loads the pools at the built-in 16 kHz; user clips are resampled.
    pub fn load(sources: &PoolSources) -> Result<Self> {
        let rate = voices::RATE;
        let (builtin_pos, builtin_neg) =
            voices::load_pool(&voices::builtin_dir(), sources.test_voices)?;
        let folder = |dir: &Option<std::path::PathBuf>, builtin: Vec<Clip>| match dir {
            Some(dir) => voices::load_folder(dir, rate),
            None => Ok(builtin),
        };
        let pools = Self {
            positives: folder(&sources.positives, builtin_pos)?,
            negatives: folder(&sources.negatives, builtin_neg)?,
            backgrounds: folder(&sources.backgrounds, Vec::new())?,
            rate,
        };
        if pools.positives.is_empty() {
            anyhow::bail!("no clips of the trigger word to train or test with");
        }
        Ok(pools)
    }
}

/// One fresh mixture: a background (recorded excerpt, generated noise or
/// babble of negatives) with words inserted.
pub fn draw(pools: &Pools, config: &MixConfig, rng: &mut impl Rng) -> Mixture {
    let level = rng.gen_range(0.005f32..0.08);
    let background = if !pools.backgrounds.is_empty() && rng.gen_bool(0.7) {
        let clip = &pools.backgrounds[rng.gen_range(0..pools.backgrounds.len())];
        let need = (config.seconds * pools.rate as f64) as usize;
        let start = if clip.samples.len() > need {
            rng.gen_range(0..clip.samples.len() - need)
        } else {
            0
        };
        Clip::new(
            pools.rate,
            clip.samples[start..].iter().copied().take(need).collect(),
        )
    } else if rng.gen_bool(0.2) {
        backgrounds::babble(&pools.negatives, config.seconds, pools.rate, level, rng)
    } else {
        let kind: Background = backgrounds::ALL[rng.gen_range(0..backgrounds::ALL.len())];
        backgrounds::generate(kind, config.seconds, pools.rate, level, rng)
    };
    mix(&background, &pools.positives, &pools.negatives, config, rng)
}

/// Writes `count` mixtures to `out` with `labels.csv`; returns the number of
/// trigger words inserted.
pub fn synthesize(
    out: &Path,
    count: usize,
    pools: &Pools,
    config: &MixConfig,
    seed: u64,
    mut on_clip: impl FnMut(),
) -> Result<usize> {
    let mut labels = String::from("file,start_s,end_s\n");
    let mut words = 0;
    for i in 0..count {
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64);
        let m = draw(pools, config, &mut rng);
        let file = format!("clip_{i:05}.wav");
        m.clip.write_wav(&out.join(&file))?;
        for s in m.segments.iter().filter(|s| s.positive) {
            let r = pools.rate as f64;
            labels.push_str(&format!(
                "{file},{:.4},{:.4}\n",
                s.start as f64 / r,
                s.end as f64 / r
            ));
            words += 1;
        }
        on_clip();
    }
    casebook_core::fsx::write_atomic(&out.join("labels.csv"), labels.as_bytes())?;
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synth_writes_clips_and_labels_that_match_the_audio() {
        let rate = 8000;
        let word = Clip::new(
            rate,
            (0..4000).map(|i| 0.5 * ((i as f32) * 0.3).sin()).collect(),
        );
        let pools = Pools {
            positives: vec![word.clone()],
            negatives: vec![word],
            backgrounds: vec![],
            rate,
        };
        let config = MixConfig {
            seconds: 3.0,
            max_negatives: 0,
            vary_words: false,
            ..MixConfig::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let words = synthesize(dir.path(), 6, &pools, &config, 7, || {}).unwrap();
        let labels = std::fs::read_to_string(dir.path().join("labels.csv")).unwrap();
        assert_eq!(labels.lines().count(), words + 1);
        let rows: Vec<(String, f64, f64)> = labels
            .lines()
            .skip(1)
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                (
                    c[0].to_string(),
                    c[1].parse().unwrap(),
                    c[2].parse().unwrap(),
                )
            })
            .collect();
        for (file, start, end) in &rows {
            let clip = Clip::read_wav(&dir.path().join(file)).unwrap();
            assert_eq!(clip.samples.len(), 24000);
            assert!((end - start - 0.5).abs() < 1e-3, "{file} {start}");
            // Words are inserted at SNR >= 0 dB: the labelled span is louder
            // than the same clip outside every labelled span.
            let index = |t: f64| (t * rate as f64) as usize;
            let inside = |i: usize| {
                rows.iter()
                    .any(|(f, s, e)| f == file && i >= index(*s) && i < index(*e))
            };
            let rms = |v: Vec<f32>| Clip::new(rate, v).rms();
            let span = rms(clip.samples[index(*start)..index(*end)].to_vec());
            let rest = rms(clip
                .samples
                .iter()
                .enumerate()
                .filter(|(i, _)| !inside(*i))
                .map(|(_, &s)| s)
                .collect());
            assert!(
                span > 1.2 * rest,
                "{file} at {start}: span rms {span} vs background {rest}"
            );
        }
    }
}
