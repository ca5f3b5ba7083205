//! `casebook trigger synth`: labelled 10 s clips on disk, as WAVs plus
//! `labels.csv` with one `file,start_s,end_s` row per inserted trigger word.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use casebook_core::seed::{self, purpose};
use rand::Rng;
use serde::{Deserialize, Serialize};

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
    /// A pool folder written by `make-voices` (with `voices.csv`), in place of
    /// the built-in pool.
    #[serde(default)]
    pub voices: Option<std::path::PathBuf>,
    /// Use the pool's held-out test voices instead of its training voices.
    pub test_voices: bool,
}

impl Pools {
    /// Loads the pools at the built-in 16 kHz; user clips are resampled. The
    /// pool (built-in or `voices`) is read only for what the sources leave to it.
    pub fn load(sources: &PoolSources) -> Result<Self> {
        let rate = super::SAMPLE_RATE;
        let (builtin_pos, builtin_neg) = match (
            &sources.voices,
            sources.positives.is_none() || sources.negatives.is_none(),
        ) {
            (_, false) => (Vec::new(), Vec::new()),
            (Some(dir), true) => voices::load_pool(dir, sources.test_voices)?,
            (None, true) => voices::load_builtin_pool(sources.test_voices)?,
        };
        let folder = |dir: &Option<std::path::PathBuf>, builtin: Vec<Clip>| match dir {
            Some(dir) => voices::load_folder(dir, rate),
            None => Ok(builtin),
        };
        let pools = Self {
            positives: folder(&sources.positives, builtin_pos)?,
            negatives: folder(&sources.negatives, builtin_neg)?,
            backgrounds: match &sources.backgrounds {
                Some(dir) => voices::load_tree(dir, rate)?,
                None => Vec::new(),
            },
            rate,
        };
        if pools.positives.is_empty() {
            anyhow::bail!("no clips of the trigger word to train or test with");
        }
        Ok(pools)
    }
}

/// Share of mixtures on digital silence. Files padded with exact zeros are
/// common, and a model that never met them missed a clean female voice in
/// silence that it found under the faintest noise (1000 fine-tuning steps
/// with this share did not cure that voice; issue 12).
const SILENT_SHARE: f64 = 0.05;

/// One fresh mixture: a background (recorded excerpt, generated noise,
/// babble of negatives or digital silence) with words inserted.
pub fn draw(pools: &Pools, config: &MixConfig, rng: &mut impl Rng) -> Mixture {
    let level = rng.gen_range(0.005f32..0.08);
    let background = if rng.gen_bool(SILENT_SHARE) {
        Clip::new(pools.rate, Vec::new())
    } else if !pools.backgrounds.is_empty() && rng.gen_bool(0.7) {
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

/// The longest clip `synthesize` writes (an hour-long stream is a typical use).
pub const MAX_SECONDS: f64 = 4.0 * 3600.0;

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
    if !(1.0..=MAX_SECONDS).contains(&config.seconds) {
        bail!(
            "clips must be 1 to {MAX_SECONDS} seconds (4 hours) long, not {}",
            config.seconds
        );
    }
    casebook_core::fsx::build_folder(out, |out| {
        synthesize_into(out, count, pools, config, seed, &mut on_clip)
    })
}

fn synthesize_into(
    out: &Path,
    count: usize,
    pools: &Pools,
    config: &MixConfig,
    seed: u64,
    on_clip: &mut impl FnMut(),
) -> Result<usize> {
    let mut labels = Vec::new();
    for i in 0..count {
        let mut rng = seed::stream(seed, &[purpose::GENERATE, i as u64]);
        let m = draw(pools, config, &mut rng);
        let file = format!("clip_{i:05}.wav");
        m.clip.write_wav(&out.join(&file))?;
        let r = pools.rate as f64;
        labels.extend(m.segments.iter().filter(|s| s.positive).map(|s| WordLabel {
            file: file.clone(),
            start_s: (s.start as f64 / r * 1e4).round() / 1e4,
            end_s: (s.end as f64 / r * 1e4).round() / 1e4,
        }));
        on_clip();
    }
    write_labels(out, &labels)?;
    Ok(labels.len())
}

/// The name of the label file in a folder of clips.
pub const LABELS: &str = "labels.csv";

/// One trigger word in a clip: a row of `labels.csv`. Files of the folder
/// without rows hold no trigger word.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordLabel {
    pub file: String,
    pub start_s: f64,
    pub end_s: f64,
}

/// Writes `labels.csv` into `dir`.
pub fn write_labels(dir: &Path, labels: &[WordLabel]) -> Result<()> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    if labels.is_empty() {
        csv.write_record(["file", "start_s", "end_s"])?;
    }
    for label in labels {
        csv.serialize(label)?;
    }
    casebook_core::fsx::write_atomic(&dir.join(LABELS), &csv.into_inner()?)
}

/// Reads `labels.csv` of a folder: file name → (start, end) seconds of each
/// trigger word, sorted by start.
pub fn read_labels(dir: &Path) -> Result<BTreeMap<String, Vec<(f64, f64)>>> {
    let path = dir.join(LABELS);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(&path)
        .with_context(|| {
            format!(
                "no {LABELS} in {} (expected file,start_s,end_s rows)",
                dir.display()
            )
        })?;
    let columns: Vec<String> = reader
        .headers()
        .with_context(|| format!("cannot read {}", path.display()))?
        .iter()
        .map(String::from)
        .collect();
    if columns.iter().all(String::is_empty) {
        bail!(
            "{} is empty: it needs the header line file,start_s,end_s (and no rows for audio \
             without the word)",
            path.display()
        );
    }
    if columns != ["file", "start_s", "end_s"] {
        bail!(
            "{} has the columns {}; expected file,start_s,end_s",
            path.display(),
            columns.join(",")
        );
    }
    let mut labels: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for row in reader.deserialize::<WordLabel>() {
        let row = row.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            anyhow::anyhow!(
                "{} line {line}: expected file,start_s,end_s with numbers in seconds ({e})",
                path.display()
            )
        })?;
        if row.file.contains(['/', '\\']) {
            bail!(
                "{}: {} is in a sub-folder; name files of the folder itself (sub-folders are \
                 not read)",
                path.display(),
                row.file
            );
        }
        if !(row.start_s.is_finite() && row.start_s >= 0.0) {
            bail!(
                "{}: {} has a word starting at {} s; times are seconds from the start, at least 0",
                path.display(),
                row.file,
                row.start_s
            );
        }
        if row
            .start_s
            .partial_cmp(&row.end_s)
            .is_none_or(|o| o.is_gt())
        {
            bail!(
                "{}: {} has a word ending ({} s) before it starts ({} s)",
                path.display(),
                row.file,
                row.end_s,
                row.start_s
            );
        }
        labels
            .entry(row.file)
            .or_default()
            .push((row.start_s, row.end_s));
    }
    for words in labels.values_mut() {
        words.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok(labels)
}

/// Refuses words of `file` (from `dir`'s labels) that end after its
/// `seconds` of audio: they could never be detected, and would count as
/// misses.
pub fn check_words_fit(dir: &Path, file: &str, words: &[(f64, f64)], seconds: f64) -> Result<()> {
    // Half a frame of slack for rounding in the tool that wrote the labels.
    const SLACK_S: f64 = 0.01;
    if let Some((start, end)) = words.iter().find(|(_, end)| *end > seconds + SLACK_S) {
        bail!(
            "{}: {file} has a word at {start}–{end} s, but the file lasts {seconds:.2} s",
            dir.join(LABELS).display()
        );
    }
    Ok(())
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
            // Words alone: the check below compares a word with everything else.
            context: 0.0,
            ..MixConfig::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let words = synthesize(dir.path(), 6, &pools, &config, 7, || {}).unwrap();
        let rows: Vec<(String, f64, f64)> = read_labels(dir.path())
            .unwrap()
            .into_iter()
            .flat_map(|(file, words)| words.into_iter().map(move |(s, e)| (file.clone(), s, e)))
            .collect();
        assert_eq!(rows.len(), words);
        for (file, start, end) in &rows {
            let clip = Clip::read_wav(&dir.path().join(file)).unwrap();
            assert_eq!(clip.samples.len(), 24000);
            assert!((end - start - 0.5).abs() < 1e-3, "{file} {start}");
            // Words are inserted at SNR >= 0 dB: the labelled span is louder
            // than the same clip outside every labelled span (by less than
            // the 3 dB of a steady background: generated babble and bursts
            // vary in level along the clip).
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
                span > rest,
                "{file} at {start}: span rms {span} vs background {rest}"
            );
        }
    }

    #[test]
    fn a_pool_folder_replaces_the_built_in_pool_and_keeps_its_test_voices_apart() {
        let dir = tempfile::tempdir().unwrap();
        let clip = |seconds: f64| Clip::new(16_000, vec![0.1; (seconds * 16_000.0) as usize]);
        std::fs::create_dir_all(dir.path().join("positives")).unwrap();
        let rows = [
            ("positives/a.wav", "activate", true, "espeak:x", false, 0.5),
            ("positives/b.wav", "activate", true, "espeak:y", true, 0.6),
            ("negatives/c.wav", "hello", false, "espeak:x", false, 0.7),
            ("negatives/d.wav", "okay", false, "espeak:y", true, 0.8),
        ];
        let mut csv = csv::Writer::from_writer(Vec::new());
        for (file, word, positive, voice, held_out, seconds) in rows {
            clip(seconds).write_wav(&dir.path().join(file)).unwrap();
            csv.serialize(voices::PoolEntry {
                file: file.into(),
                word: word.into(),
                positive,
                voice: voice.into(),
                held_out,
            })
            .unwrap();
        }
        std::fs::write(dir.path().join("voices.csv"), csv.into_inner().unwrap()).unwrap();
        let lengths = |test_voices| {
            let pools = Pools::load(&PoolSources {
                voices: Some(dir.path().to_path_buf()),
                test_voices,
                ..PoolSources::default()
            })
            .unwrap();
            let len = |clips: &[Clip]| clips.iter().map(|c| c.samples.len()).collect::<Vec<_>>();
            (len(&pools.positives), len(&pools.negatives))
        };
        assert_eq!(lengths(false), (vec![8000], vec![11200]));
        assert_eq!(lengths(true), (vec![9600], vec![12800]));
    }

    #[test]
    fn labels_round_trip_and_bad_rows_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let label = |file: &str, start_s, end_s| WordLabel {
            file: file.into(),
            start_s,
            end_s,
        };
        write_labels(
            dir.path(),
            &[label("b.wav", 3.0, 3.5), label("b.wav", 1.0, 1.5)],
        )
        .unwrap();
        let read = read_labels(dir.path()).unwrap();
        assert_eq!(read["b.wav"], [(1.0, 1.5), (3.0, 3.5)]);
        write_labels(dir.path(), &[]).unwrap();
        assert!(read_labels(dir.path()).unwrap().is_empty());

        let path = dir.path().join(LABELS);
        std::fs::write(&path, "file,start_s,end_s\na.wav, 1.0 ,2\na.wav,soon,3\n").unwrap();
        let err = read_labels(dir.path()).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        std::fs::write(&path, "file,start_s,end_s\na.wav,2,1\n").unwrap();
        let err = read_labels(dir.path()).unwrap_err().to_string();
        assert!(err.contains("before it starts"), "{err}");
        for (text, expected) in [
            ("", "is empty"),
            (
                "file,start_s,end_s,speaker\na.wav,1,2,x\n",
                "has the columns",
            ),
            ("file,start,end\na.wav,1,2\n", "has the columns"),
            ("file,start_s,end_s\nsub/a.wav,1,2\n", "sub-folder"),
            ("file,start_s,end_s\na.wav,-1,2\n", "at least 0"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = read_labels(dir.path()).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        std::fs::remove_file(&path).unwrap();
        let err = read_labels(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no labels.csv"), "{err}");
        // Words must lie inside their file's audio.
        check_words_fit(dir.path(), "a.wav", &[(1.0, 2.0)], 2.0).unwrap();
        let err = check_words_fit(dir.path(), "a.wav", &[(5.0, 6.0)], 2.0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("lasts 2.00 s"), "{err}");
    }
}
