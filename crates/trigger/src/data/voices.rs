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

/// Sample rate of the built-in pools.
pub const RATE: u32 = 16_000;

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
    let mut csv = String::from("file,word,positive,voice,held_out\n");
    for e in &entries {
        csv.push_str(&format!(
            "{},{},{},{},{}\n",
            e.file, e.word, e.positive, e.voice, e.held_out
        ));
    }
    casebook_core::fsx::write_atomic(&out.join("voices.csv"), csv.as_bytes())?;
    Ok(entries)
}

fn tempfile_dir(out: &Path) -> Result<PathBuf> {
    let dir = out.join(".scratch");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The committed built-in pools.
pub fn builtin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("voices")
}

/// Loads a pool listed in `voices.csv`: (positives, negatives) for the
/// training voices (`held_out == false`) or the test voices.
pub fn load_pool(dir: &Path, held_out: bool) -> Result<(Vec<Clip>, Vec<Clip>)> {
    let text = std::fs::read_to_string(dir.join("voices.csv")).with_context(|| {
        format!(
            "no voices.csv in {}; run `casebook trigger make-voices`",
            dir.display()
        )
    })?;
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        if cols.len() != 5 || (cols[4] == "true") != held_out {
            continue;
        }
        let clip = Clip::read_wav(&dir.join(cols[0]))?;
        if cols[2] == "true" {
            pos.push(clip);
        } else {
            neg.push(clip);
        }
    }
    Ok((pos, neg))
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
        let dir = builtin_dir();
        let (train_pos, train_neg) = load_pool(&dir, false).unwrap();
        let (test_pos, test_neg) = load_pool(&dir, true).unwrap();
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
        let csv = std::fs::read_to_string(dir.join("voices.csv")).unwrap();
        let voices = |held: &str| -> std::collections::BTreeSet<String> {
            csv.lines()
                .skip(1)
                .filter(|l| l.ends_with(held))
                .map(|l| l.split(',').nth(3).unwrap().to_string())
                .collect()
        };
        assert!(
            voices(",true").is_disjoint(&voices(",false")),
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
