//! Hard-negative mining: run a model over word-free (or labelled) audio and
//! keep the stretches where it fires on no trigger word, as background
//! recordings for the next training run. Training on fresh mixtures rarely
//! draws the few sounds a model confuses with the word; these windows put
//! exactly those sounds under the words it learns from.

use std::path::{Path, PathBuf};

use anyhow::Result;

use casebook_core::observe::Observer;

use crate::data::Clip;
use crate::eval::{score_folder, HIT_WINDOW_S};
use crate::infer::{Debouncer, DetectionRule, TriggerModel};

/// Seconds kept after a false accept in its window: the step fires at the
/// end of what it heard, so the sound that fired lies just before.
const AFTER_S: f64 = 1.0;

/// What a mining pass found.
#[derive(Debug, Clone, PartialEq)]
pub struct Mined {
    pub hours: f64,
    pub false_accepts: usize,
    /// Windows written (false accepts closer than a window share one).
    pub windows: Vec<PathBuf>,
}

/// Streams every WAV of `dirs` (each with `labels.csv`; files without rows
/// are word-free) through `model`, and writes a `seconds`-long window around
/// each false accept at `threshold` into `out` as `mined_<file>_<k>.wav`, at
/// the model's rate.
pub fn mine(
    model: &TriggerModel,
    dirs: &[PathBuf],
    threshold: f32,
    seconds: f64,
    out: &Path,
    observer: &dyn Observer,
) -> Result<Mined> {
    anyhow::ensure!(
        (1.0..=60.0).contains(&seconds),
        "the window must be 1 to 60 seconds, not {seconds}"
    );
    let rate = model.features.spectrogram.rate;
    let mut mined = Mined {
        hours: 0.0,
        false_accepts: 0,
        windows: Vec::new(),
    };
    for dir in dirs {
        let phase = observer.phase("mining", 0);
        let files = score_folder(model, dir, observer, || phase.advance(1))?;
        drop(phase);
        for file in files {
            mined.hours += file.seconds / 3600.0;
            let times = false_accepts(
                &file.words,
                &Debouncer::run(threshold, DetectionRule::default(), &file.scores),
            );
            mined.false_accepts += times.len();
            if times.is_empty() {
                continue;
            }
            let audio = Clip::read_wav(&dir.join(&file.name))?.resample(rate)?;
            let stem = Path::new(&file.name)
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            for (k, (start, end)) in windows(&times, seconds, audio.seconds())
                .into_iter()
                .enumerate()
            {
                // Length from the span, not from two roundings: never a sample over.
                let len = audio.samples.len();
                let first = ((start * rate as f64) as usize).min(len);
                let last = (first + ((end - start) * rate as f64) as usize).min(len);
                let window = Clip::new(rate, audio.samples[first..last].to_vec());
                let path = out.join(format!("mined_{stem}_{k:04}.wav"));
                window.write_wav(&path)?;
                mined.windows.push(path);
            }
        }
    }
    Ok(mined)
}

/// Times of the detections that match no word.
fn false_accepts(words: &[(f64, f64)], detections: &[crate::infer::Detection]) -> Vec<f64> {
    detections
        .iter()
        .map(|d| d.time)
        .filter(|&t| !words.iter().any(|(s, e)| t >= *s && t <= e + HIT_WINDOW_S))
        .collect()
}

/// Windows of `seconds` (within `0..length`) ending `AFTER_S` after each
/// time; a time inside the previous window adds none.
fn windows(times: &[f64], seconds: f64, length: f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for &t in times {
        if out.last().is_some_and(|&(_, end)| t + AFTER_S <= end) {
            continue;
        }
        let end = (t + AFTER_S).min(length);
        let start = (end - seconds).max(0.0);
        out.push((start, (start + seconds).min(length)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_end_after_each_false_accept_and_never_repeat_one() {
        // 30 s of audio, 10 s windows: 5 s and 8 s share one window (0–10 s
        // holds both), 20 s gets its own, 29.5 s is clipped at the end.
        let w = windows(&[5.0, 8.0, 20.0, 29.5], 10.0, 30.0);
        assert_eq!(w, vec![(0.0, 10.0), (11.0, 21.0), (20.0, 30.0)]);
        assert!(windows(&[], 10.0, 30.0).is_empty());
        // A file shorter than a window is kept whole.
        assert_eq!(windows(&[2.0], 10.0, 4.0), vec![(0.0, 4.0)]);
    }

    #[test]
    fn only_detections_away_from_words_are_false_accepts() {
        let words = [(1.0, 1.5), (10.0, 10.6)];
        let at = |time| crate::infer::Detection { time, score: 0.9 };
        // 1.7 s and 11.2 s follow words; 5 s and 12 s (past the hit window) do not.
        let times = false_accepts(&words, &[at(1.7), at(5.0), at(11.2), at(12.0)]);
        assert_eq!(times, vec![5.0, 12.0]);
    }
}
