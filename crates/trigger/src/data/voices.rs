//! Built-in speech pools made with the TTS programs `espeak-ng` and `flite`
//! (`casebook trigger make-voices`): the trigger word and other words, hard
//! negatives included, across voices, speeds and pitches. The clips are
//! committed (16 kHz, trimmed), so nothing else needs a TTS program. Some
//! voices are held out for testing: no test voice is ever used in training.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::Clip;

use super::SAMPLE_RATE as RATE;

/// The committed pools, compiled into the binary so an installed `casebook`
/// needs no source tree.
static BUILTIN: include_dir::Dir<'_> = include_dir::include_dir!("$CARGO_MANIFEST_DIR/voices");

/// The file listing a pool.
const LIST: &str = "voices.csv";

/// Words that are not the trigger, several close to "activate" on purpose.
pub const NEGATIVE_WORDS: [&str; 16] = [
    "active",
    "activity",
    "captivate",
    "motivate",
    "vacate",
    "cultivate",
    "navigate",
    "relative",
    "actor",
    "vacation",
    "alligator",
    "hello",
    "computer",
    "weather",
    "music",
    "tomorrow",
];

/// A TTS voice setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voice {
    /// Stable name, e.g. `espeak:en-us+f2:s160:p50` or `flite:slt:d1.0`.
    pub name: String,
    pub held_out: bool,
}

fn espeak_voices() -> Vec<(String, bool)> {
    let bases = [
        "en-us",
        "en-gb",
        "en-gb-x-rp",
        "en-029",
        "en-gb-scotland",
        "en-gb-x-gbclan",
    ];
    let variants = ["m1", "m3", "f1", "f2", "f4"];
    let mut out = Vec::new();
    for (i, base) in bases.iter().enumerate() {
        for (j, variant) in variants.iter().enumerate() {
            let speed = [130, 160, 190][(i + j) % 3];
            let pitch = [35, 50, 70][(i * 2 + j) % 3];
            // Scottish English voices are kept for testing only.
            out.push((
                format!("espeak:{base}+{variant}:s{speed}:p{pitch}"),
                *base == "en-gb-scotland",
            ));
        }
    }
    out
}

fn flite_voices() -> Vec<(String, bool)> {
    ["kal", "awb", "rms", "slt"]
        .iter()
        .flat_map(|v| ["0.9", "1.1"].map(|d| (format!("flite:{v}:d{d}"), *v == "slt")))
        .collect()
}

fn speak(voice: &str, text: &str, out: &Path) -> Result<()> {
    let parts: Vec<&str> = voice.split(':').collect();
    let status = match parts.as_slice() {
        ["espeak", name, speed, pitch] => Command::new("espeak-ng")
            .args(["-v", name, "-s", &speed[1..], "-p", &pitch[1..], "-w"])
            .arg(out)
            .arg(text)
            .status(),
        ["flite", name, stretch] => Command::new("flite")
            .args([
                "-voice",
                name,
                "--setf",
                &format!("duration_stretch={}", &stretch[1..]),
                "-t",
                text,
                "-o",
            ])
            .arg(out)
            .status(),
        _ => bail!("unknown voice {voice}"),
    };
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => bail!("{} failed for voice {voice} ({s})", parts[0]),
        Err(e) => bail!(
            "cannot run {} ({e}); install the Debian packages espeak-ng and flite",
            parts[0]
        ),
    }
}

/// Cuts leading and trailing near-silence, keeping a 20 ms margin.
pub fn trim(clip: &Clip) -> Clip {
    let threshold = 0.02 * clip.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    let first = clip
        .samples
        .iter()
        .position(|s| s.abs() > threshold)
        .unwrap_or(0);
    let last = clip
        .samples
        .iter()
        .rposition(|s| s.abs() > threshold)
        .unwrap_or(clip.samples.len().saturating_sub(1));
    let margin = clip.rate as usize / 50;
    let start = first.saturating_sub(margin);
    let end = (last + margin + 1).min(clip.samples.len());
    Clip::new(clip.rate, clip.samples[start..end].to_vec())
}

/// One row of `voices.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolEntry {
    pub file: String,
    pub word: String,
    pub positive: bool,
    pub voice: String,
    pub held_out: bool,
}

/// Makes the pools under `out/positives` and `out/negatives` with `voices.csv`.
pub fn make_voices(word: &str, out: &Path, mut on_clip: impl FnMut()) -> Result<Vec<PoolEntry>> {
    let voices: Vec<(String, bool)> = espeak_voices().into_iter().chain(flite_voices()).collect();
    let scratch = tempfile_dir(out)?;
    let mut entries = Vec::new();
    for (v, (voice, held_out)) in voices.iter().enumerate() {
        // Every voice says the trigger word; negatives rotate through the word list.
        let negatives = (0..3).map(|k| NEGATIVE_WORDS[(v * 3 + k) % NEGATIVE_WORDS.len()]);
        for (text, positive) in std::iter::once((word, true)).chain(negatives.map(|w| (w, false))) {
            let raw = scratch.join("raw.wav");
            speak(voice, text, &raw)?;
            let clip = trim(&Clip::read_wav(&raw)?.resample(RATE)?);
            let folder = if positive { "positives" } else { "negatives" };
            let safe_voice: String = voice
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let file = format!("{folder}/{safe_voice}__{text}.wav");
            clip.write_wav(&out.join(&file))?;
            entries.push(PoolEntry {
                file,
                word: text.to_string(),
                positive,
                voice: voice.clone(),
                held_out: *held_out,
            });
            on_clip();
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let mut csv = csv::Writer::from_writer(Vec::new());
    for e in &entries {
        csv.serialize(e)?;
    }
    casebook_core::fsx::write_atomic(&out.join(LIST), &csv.into_inner()?)?;
    Ok(entries)
}

fn tempfile_dir(out: &Path) -> Result<PathBuf> {
    let dir = out.join(".scratch");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The rows of a pool's `voices.csv`.
pub fn read_list(bytes: &[u8], name: &str) -> Result<Vec<PoolEntry>> {
    csv::Reader::from_reader(bytes)
        .deserialize()
        .collect::<Result<_, _>>()
        .with_context(|| format!("{name} is not a pool list (file,word,positive,voice,held_out)"))
}

/// Loads a pool: (positives, negatives) of the training voices
/// (`held_out == false`) or of the test voices. `read` gives a file of the
/// pool by its path in the pool.
fn load_pool_with(
    read: impl Fn(&str) -> Result<Vec<u8>>,
    held_out: bool,
) -> Result<(Vec<Clip>, Vec<Clip>)> {
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for entry in read_list(&read(LIST)?, LIST)? {
        if entry.held_out != held_out {
            continue;
        }
        let clip = Clip::from_wav_bytes(&read(&entry.file)?, &entry.file)?;
        if entry.positive {
            pos.push(clip);
        } else {
            neg.push(clip);
        }
    }
    Ok((pos, neg))
}

/// Loads a pool written by [`make_voices`] into `dir`.
pub fn load_pool(dir: &Path, held_out: bool) -> Result<(Vec<Clip>, Vec<Clip>)> {
    if !dir.join(LIST).exists() {
        bail!(
            "no {LIST} in {}; make a pool with `casebook trigger make-voices --out DIR`",
            dir.display()
        );
    }
    load_pool_with(
        |name| {
            std::fs::read(dir.join(name))
                .with_context(|| format!("cannot read {name} in {}", dir.display()))
        },
        held_out,
    )
}

/// Loads the built-in pool compiled into the binary.
pub fn load_builtin_pool(held_out: bool) -> Result<(Vec<Clip>, Vec<Clip>)> {
    load_pool_with(
        |name| {
            BUILTIN
                .get_file(name)
                .map(|f| f.contents().to_vec())
                .with_context(|| format!("the built-in pool lacks {name}"))
        },
        held_out,
    )
}

/// The `.wav` files of a folder, sorted; an error if there are none.
pub fn wav_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no .wav files in {}", dir.display());
    }
    Ok(files)
}

/// Every WAV in a user folder, resampled to `rate`.
pub fn load_folder(dir: &Path, rate: u32) -> Result<Vec<Clip>> {
    wav_files(dir)?
        .iter()
        .map(|f| Clip::read_wav(f)?.resample(rate))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_pools_hold_out_whole_voices() {
        let (train_pos, train_neg) = load_builtin_pool(false).unwrap();
        let (test_pos, test_neg) = load_builtin_pool(true).unwrap();
        assert!(
            train_pos.len() >= 20 && train_neg.len() >= 40,
            "{} / {}",
            train_pos.len(),
            train_neg.len()
        );
        assert!(!test_pos.is_empty() && !test_neg.is_empty());
        for clip in train_pos.iter().chain(&test_neg) {
            assert_eq!(clip.rate, RATE);
            assert!(
                (0.2..2.5).contains(&clip.seconds()),
                "clip of {} s",
                clip.seconds()
            );
        }
        let list = read_list(BUILTIN.get_file(LIST).unwrap().contents(), LIST).unwrap();
        let voices = |held: bool| -> std::collections::BTreeSet<String> {
            list.iter()
                .filter(|e| e.held_out == held)
                .map(|e| e.voice.clone())
                .collect()
        };
        assert!(
            voices(true).is_disjoint(&voices(false)),
            "a voice is in both train and test"
        );
    }

    #[test]
    fn trim_cuts_silence_but_keeps_a_margin() {
        let mut samples = vec![0.0; 1000];
        samples.extend((0..500).map(|i| ((i as f32) * 0.2).sin()));
        samples.extend(vec![0.0; 1000]);
        let t = trim(&Clip::new(1000, samples));
        assert!(
            (500..=545).contains(&t.samples.len()),
            "{}",
            t.samples.len()
        );
    }
}
