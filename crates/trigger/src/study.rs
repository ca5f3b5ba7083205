//! Audio "resolution": what sample rate does a person need to hear the
//! trigger word? A page of short clips from the held-out voices, each played
//! at one of several sample rates, for a person to mark "word present?";
//! scored per rate by `casebook trigger human-baseline` (core's human module).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use base64::Engine;
use casebook_core::fsx;
use casebook_core::human::{self, KeyEntry, PageText, Question};
use casebook_core::interval::wilson;
use casebook_core::report::{escape, Report};
use casebook_core::run::RunDir;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::data::mixer::MixConfig;
use crate::data::synth::{draw, PoolSources, Pools};
use crate::data::SUPPORTED_RATES;
use crate::infer::{Debouncer, DetectionRule, TriggerModel};

/// The kind of study its human page records ([`PageText::study`]).
pub const HUMAN_STUDY: &str = "trigger sample rate";

/// One sample rate of the study: how the model did on the page's clips at it.
#[derive(Debug, Clone, Serialize)]
pub struct RateScore {
    pub rate: u32,
    pub clips: usize,
    pub with_word: usize,
    /// Clips where the model's verdict (a detection or none) matched the truth.
    pub model_correct: usize,
    pub model_accuracy: f64,
}

/// Refuses a list of rates the study cannot play (before any folder is made).
pub fn check_rates(rates: &[u32]) -> Result<()> {
    if rates.is_empty() || rates.iter().any(|r| !SUPPORTED_RATES.contains(r)) {
        bail!(
            "give sample rates of {}–{} Hz, e.g. --rates 4000,8000,16000,44100",
            SUPPORTED_RATES.start(),
            SUPPORTED_RATES.end()
        );
    }
    Ok(())
}

/// What a sample-rate study wrote into its run folder.
pub struct RateStudy {
    pub key_path: PathBuf,
    pub scores: Vec<RateScore>,
}

/// The sample-rate study: draws `per_rate` 3 s clips (held-out voices) at
/// each rate, writes them to the page `out` for a person, and puts into
/// `run` the answer key, `results.json` and a report of the model's verdict
/// on the same clips (each played at its rate, then resampled to the
/// model's, as `listen --rate` would hear it); `human-baseline` adds the
/// person's scores to that report.
pub fn rate_study(
    run: &RunDir,
    out: &Path,
    model: &TriggerModel,
    rates: &[u32],
    per_rate: usize,
    word: &str,
    seed: u64,
) -> Result<RateStudy> {
    check_rates(rates)?;
    let pools = Pools::load(&PoolSources {
        test_voices: true,
        ..PoolSources::default()
    })?;
    let mix = MixConfig {
        seconds: 3.0,
        max_positives: 1,
        max_negatives: 1,
        ..MixConfig::default()
    };
    let threshold = model.default_threshold();
    let model_rate = model.features.spectrogram.rate;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0041_5544_494F);
    let mut questions = Vec::new();
    let mut scores = Vec::new();
    for &rate in rates {
        let mut score = RateScore {
            rate,
            clips: per_rate,
            with_word: 0,
            model_correct: 0,
            model_accuracy: 0.0,
        };
        for i in 0..per_rate {
            let m = draw(&pools, &mix, &mut rng);
            let present = m.segments.iter().any(|s| s.positive);
            let heard = m.clip.resample(rate)?;
            let steps = model.score_clip(&heard)?;
            let detected = !Debouncer::run(threshold, DetectionRule::default(), &steps).is_empty();
            score.with_word += usize::from(present);
            score.model_correct += usize::from(detected == present);
            let data = base64::engine::general_purpose::STANDARD.encode(heard.to_wav_bytes()?);
            questions.push(Question {
                media_html: format!(
                    "<audio controls preload=none src=\"data:audio/wav;base64,{data}\"></audio>"
                ),
                entry: KeyEntry {
                    condition: rate,
                    label: if present { "yes" } else { "no" }.into(),
                    path: format!("clip {i} at {rate} Hz"),
                },
            });
        }
        score.model_accuracy = score.model_correct as f64 / per_rate.max(1) as f64;
        scores.push(score);
    }
    questions.shuffle(&mut rng);
    let key_path = run.path().join("human-key.json");
    let intro = format!(
        "Each 3 s clip is played at one of several sample rates. Does it contain the word \"{}\"? Answer yes or no.",
        escape(word)
    );
    let text = PageText {
        study: HUMAN_STUDY,
        heading: "Do you hear the trigger word?",
        intro: &intro,
        command: "casebook trigger human-baseline",
    };
    let model_accuracy = scores.iter().map(|s| (s.rate, s.model_accuracy)).collect();
    human::write_page(
        out,
        &key_path,
        &text,
        &["yes".to_string(), "no".to_string()],
        questions,
        model_accuracy,
    )?;
    fsx::write_json(&run.path().join("results.json"), &scores)?;
    report(word, threshold, model_rate, &scores).save(&run.report_path())?;
    Ok(RateStudy { key_path, scores })
}

fn report(word: &str, threshold: f32, model_rate: u32, scores: &[RateScore]) -> Report {
    let mut report = Report::new("Sample-rate study");
    report.paragraph(&format!(
        "Does the word \"{}\" survive a lower sample rate? The same kind of 3 s clips (held-out voices, \
         about half with the word) at each rate; the model hears each at that rate resampled to its own \
         {model_rate} Hz, and counts as saying \"yes\" when it detects the word (threshold {threshold:.3}). \
         The human page asks a person the same question; `casebook trigger human-baseline` adds the \
         answers below.",
        escape(word)
    ));
    let rows: Vec<Vec<String>> = scores
        .iter()
        .map(|s| {
            let interval = wilson(s.model_correct, s.clips).map_or("–".into(), |(lo, hi)| {
                format!("{:.0}–{:.0} %", 100.0 * lo, 100.0 * hi)
            });
            vec![
                s.rate.to_string(),
                s.clips.to_string(),
                s.with_word.to_string(),
                format!("{:.1} %", 100.0 * s.model_accuracy),
                interval,
            ]
        })
        .collect();
    report.table(
        &[
            "rate (Hz)",
            "clips",
            "with the word",
            "model accuracy",
            "95 % interval (Wilson)",
        ],
        &rows,
    );
    if scores.iter().any(|s| s.clips < 30) {
        report.paragraph(
            "With fewer than 30 clips per rate the intervals are wide: a difference between rates inside them is not evidence of one.",
        );
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_study_writes_a_page_without_labels_and_scores_the_model_at_every_rate() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path(), Some("study"), "trigger-human-page").unwrap();
        let out = dir.path().join("page.html");
        let model = TriggerModel::open("builtin").unwrap();
        let study = rate_study(&run, &out, &model, &[4000, 16000], 12, "activate", 1).unwrap();
        let html = std::fs::read_to_string(&out).unwrap();
        assert_eq!(html.matches("<audio").count(), 24);
        assert!(!html.contains("\"yes\"}") && !html.contains("clip 0 at"));
        let key: human::HumanKey = fsx::read_json(&study.key_path).unwrap();
        let rates: std::collections::BTreeSet<u32> =
            key.questions.values().map(|q| q.condition).collect();
        assert_eq!(rates.into_iter().collect::<Vec<_>>(), vec![4000, 16000]);
        // The key carries the model's accuracy for the human-baseline table.
        assert_eq!(key.model_accuracy.len(), 2);
        let at_16k = &study.scores[1];
        assert_eq!((at_16k.rate, at_16k.clips), (16000, 12));
        // At its own rate the built-in model hears the held-out voices
        // (better than always answering the commoner truth).
        let majority = at_16k.with_word.max(at_16k.clips - at_16k.with_word);
        assert!(
            at_16k.model_correct > majority,
            "{} of 12 right, majority {majority}",
            at_16k.model_correct
        );
        let report = std::fs::read_to_string(run.report_path()).unwrap();
        assert!(report.contains("Sample-rate study") && report.contains("<td>4000</td>"));
    }
}
