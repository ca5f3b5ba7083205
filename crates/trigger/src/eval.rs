//! Evaluation as a wake-word user sees it: words missed (false-reject rate),
//! false accepts per hour of audio, detection latency after the word ends,
//! and the trade-off between them over thresholds (a DET curve).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use casebook_core::plot;
use casebook_core::report::{escape, Report};
use serde::{Deserialize, Serialize};

use casebook_core::observe::Observer;
use casebook_core::run::RunDir;

use crate::data::audio::Clip;
use crate::infer::{stream_file, Calibration, Debouncer, DetectionRule, StepScore, TriggerModel};

/// A detection within this many seconds after a word's end counts as a hit.
pub const HIT_WINDOW_S: f64 = 1.0;

/// Scores of one audio file and the words it holds (start, end seconds).
#[derive(Debug, Clone)]
pub struct ScoredFile {
    /// The file's name in its folder (as `labels.csv` names it).
    pub name: String,
    /// Where it is: what events and reports name.
    pub path: String,
    pub seconds: f64,
    pub scores: Vec<StepScore>,
    pub words: Vec<(f64, f64)>,
}

/// The operating point of one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OperatingPoint {
    pub threshold: f32,
    pub false_reject_rate: f64,
    pub false_accepts_per_hour: f64,
    pub false_accepts: usize,
    pub missed: usize,
    /// Mean seconds from a word's end to its detection; `None` when no
    /// word was detected.
    pub mean_latency_s: Option<f64>,
}

/// Which detection, if any, hit each word (a detection within
/// [`HIT_WINDOW_S`] after its end, each used once), and the detections
/// that hit none: the false accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Matching {
    pub hits: Vec<Option<usize>>,
    pub false_accepts: Vec<usize>,
}

pub fn match_words(words: &[(f64, f64)], detections: &[f64]) -> Matching {
    let mut hits = vec![None; words.len()];
    let mut false_accepts = Vec::new();
    for (j, &d) in detections.iter().enumerate() {
        let hit = words
            .iter()
            .enumerate()
            .find(|(i, (start, end))| hits[*i].is_none() && d >= *start && d <= end + HIT_WINDOW_S);
        match hit {
            Some((i, _)) => hits[i] = Some(j),
            None => false_accepts.push(j),
        }
    }
    Matching {
        hits,
        false_accepts,
    }
}

/// Detections matched against words: (missed words, false accepts, latencies).
pub fn match_detections(words: &[(f64, f64)], detections: &[f64]) -> (usize, usize, Vec<f64>) {
    let matching = match_words(words, detections);
    let latencies = words
        .iter()
        .zip(&matching.hits)
        .filter_map(|((_, end), hit)| hit.map(|j| detections[j] - end))
        .collect();
    (
        matching.hits.iter().filter(|h| h.is_none()).count(),
        matching.false_accepts.len(),
        latencies,
    )
}

/// What happened at one word or detection, as `trigger eval` writes it
/// (`events.csv`, `--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub file: String,
    /// `hit`, `missed` or `false_accept`.
    pub outcome: &'static str,
    /// The word's start and end in seconds (none for a false accept).
    pub start_s: Option<f64>,
    pub end_s: Option<f64>,
    /// When the detection fired (none for a missed word).
    pub time_s: Option<f64>,
    /// The detection's score; for a missed word the highest step score
    /// from its start to [`HIT_WINDOW_S`] after its end: how near it came.
    pub score: f32,
    /// Why a missed word whose score reached the threshold got no
    /// detection of its own (its score alone reads like a hit).
    pub why: Option<String>,
}

/// Every word (hit or missed) and every false accept at `threshold`, file by file.
pub fn events(files: &[ScoredFile], threshold: f32, rule: DetectionRule) -> Vec<Event> {
    let mut events = Vec::new();
    for f in files {
        let detections = Debouncer::run(threshold, rule, &f.scores);
        let times: Vec<f64> = detections.iter().map(|d| d.time).collect();
        let matching = match_words(&f.words, &times);
        for (&(start, end), hit) in f.words.iter().zip(&matching.hits) {
            let (outcome, time_s, score, why) = match hit {
                Some(j) => ("hit", Some(times[*j]), detections[*j].score, None),
                None => {
                    let near = f
                        .scores
                        .iter()
                        .filter(|s| s.time >= start && s.time <= end + HIT_WINDOW_S)
                        .map(|s| s.probability)
                        .fold(0.0, f32::max);
                    let why = (near >= threshold).then(|| why_missed(&times, start, end, rule));
                    ("missed", None, near, why)
                }
            };
            events.push(Event {
                file: f.path.clone(),
                outcome,
                start_s: Some(start),
                end_s: Some(end),
                time_s,
                score,
                why,
            });
        }
        for &j in &matching.false_accepts {
            events.push(Event {
                file: f.path.clone(),
                outcome: "false_accept",
                start_s: None,
                end_s: None,
                time_s: Some(times[j]),
                score: detections[j].score,
                why: None,
            });
        }
    }
    events
}

/// Why a word from `start` to `end` s whose score reached the threshold
/// was missed, given the detection times of its file.
fn why_missed(detections: &[f64], start: f64, end: f64, rule: DetectionRule) -> String {
    let window = start..=end + HIT_WINDOW_S;
    if let Some(t) = detections.iter().find(|t| window.contains(t)) {
        return format!("the detection at {t:.2} s was counted for the word before it");
    }
    match detections.iter().rev().find(|&&t| t < start) {
        Some(t) => format!(
            "the detector was still held by its detection at {t:.2} s: it fires again only after \
             the score falls below the threshold and {} s have passed",
            rule.refractory_s
        ),
        None => format!(
            "the score stayed at or above the threshold for fewer than {} steps",
            rule.patience
        ),
    }
}

/// The name of the per-event file in an evaluation's run folder.
pub const EVENTS_FILE: &str = "events.csv";

/// Writes `events` as CSV, atomically; empty cells where a field is none.
pub fn write_events(path: &Path, events: &[Event]) -> Result<()> {
    casebook_core::fsx::write_csv(
        path,
        &[
            "file", "outcome", "start_s", "end_s", "time_s", "score", "why",
        ],
        events,
    )
}

/// The operating point of `threshold` over scored files.
pub fn operating_point(
    files: &[ScoredFile],
    threshold: f32,
    rule: DetectionRule,
) -> OperatingPoint {
    let (mut missed, mut fa, mut words, mut seconds) = (0, 0, 0, 0.0);
    let mut latencies = Vec::new();
    for f in files {
        let detections: Vec<f64> = Debouncer::run(threshold, rule, &f.scores)
            .iter()
            .map(|d| d.time)
            .collect();
        let (m, a, l) = match_detections(&f.words, &detections);
        missed += m;
        fa += a;
        latencies.extend(l);
        words += f.words.len();
        seconds += f.seconds;
    }
    OperatingPoint {
        threshold,
        false_reject_rate: if words == 0 {
            0.0
        } else {
            missed as f64 / words as f64
        },
        false_accepts_per_hour: fa as f64 / (seconds / 3600.0).max(1e-9),
        false_accepts: fa,
        missed,
        mean_latency_s: (!latencies.is_empty())
            .then(|| latencies.iter().sum::<f64>() / latencies.len() as f64),
    }
}

/// The thresholds of a DET curve: 0.01, 0.02, …, 0.99, then 0.991, …,
/// 0.999, where a confident model's few false accepts are told apart.
pub fn curve_thresholds() -> impl Iterator<Item = f32> {
    (1..100)
        .map(|i| i as f32 / 100.0)
        .chain((991..1000).map(|i| i as f32 / 1000.0))
}

/// Operating points at every [`curve_thresholds`] threshold.
pub fn det_curve(files: &[ScoredFile], rule: DetectionRule) -> Vec<OperatingPoint> {
    curve_thresholds()
        .map(|t| operating_point(files, t, rule))
        .collect()
}

/// The lowest threshold (fewest misses) whose false accepts per hour meet the target.
pub fn threshold_for(curve: &[OperatingPoint], target_fa_per_hour: f64) -> Option<OperatingPoint> {
    curve
        .iter()
        .find(|p| p.false_accepts_per_hour <= target_fa_per_hour)
        .copied()
}

/// Adds the DET curve and a table of thresholds to a report.
pub fn report_curve(report: &mut Report, what: &str, curve: &[OperatingPoint]) -> Result<()> {
    report.heading(&format!("False rejects vs false accepts: {what}"));
    let points: Vec<(f64, f64)> = curve
        .iter()
        .map(|p| (p.false_accepts_per_hour, 100.0 * p.false_reject_rate))
        .collect();
    report.figure(&plot::det_chart(
        "DET curve: one point per threshold",
        &[plot::Series::new("model", points)],
    )?);
    let rows: Vec<Vec<String>> = curve
        .iter()
        .filter(|p| {
            let thousandths = (p.threshold * 1000.0).round() as u32;
            thousandths.is_multiple_of(100) || [50, 950, 990, 995, 999].contains(&thousandths)
        })
        .map(|p| {
            vec![
                format!("{}", p.threshold),
                format!("{:.1} %", 100.0 * p.false_reject_rate),
                format!("{:.2}", p.false_accepts_per_hour),
                p.mean_latency_s
                    .map_or("–".to_string(), |s| format!("{s:.2}")),
            ]
        })
        .collect();
    report.table(
        &[
            "threshold",
            "false-reject rate",
            "false accepts / hour",
            "mean latency (s)",
        ],
        &rows,
    );
    Ok(())
}

/// Streams every WAV in `dir` through the model; stops between files when
/// the observer asks.
pub fn score_folder(
    model: &TriggerModel,
    dir: &Path,
    observer: &dyn Observer,
    mut on_file: impl FnMut(),
) -> Result<Vec<ScoredFile>> {
    let labels = crate::data::synth::read_labels(dir)?;
    let wavs = crate::data::voices::wav_files(dir)?;
    for file in labels.keys() {
        if !dir.join(file).exists() {
            bail!("labels.csv names {file}, which is not in {}", dir.display());
        }
    }
    wavs.iter()
        .map(|path| {
            observer.check_stop(|| "nothing was measured".to_string())?;
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let mut scores = Vec::new();
            let seconds = stream_file(model, path, |s| scores.push(s))?;
            let words = labels.get(&name).cloned().unwrap_or_default();
            crate::data::synth::check_words_fit(dir, &name, &words, seconds)?;
            on_file();
            Ok(ScoredFile {
                words,
                name,
                path: path.display().to_string(),
                seconds,
                scores,
            })
        })
        .collect()
}

/// The result of evaluating a folder.
#[derive(Debug, Clone, Serialize)]
pub struct FolderEvaluation {
    pub files: usize,
    pub hours: f64,
    pub words: usize,
    pub at_threshold: OperatingPoint,
    pub rule: DetectionRule,
    pub target_fa_per_hour: f64,
    pub meeting_target: Option<OperatingPoint>,
    pub det_curve: Vec<OperatingPoint>,
    /// Every word and false accept at [`Self::at_threshold`] (in
    /// `events.csv`, not in `metrics.json`).
    #[serde(skip)]
    pub events: Vec<Event>,
}

impl FolderEvaluation {
    /// One operating point in words, with 95 % intervals: how far the
    /// figures could be from the truth on this much audio.
    fn describe(&self, p: &OperatingPoint) -> String {
        let rejects = match casebook_core::interval::wilson(p.missed, self.words) {
            Some((low, high)) => format!(
                "false-reject rate {:.1} % ({} of {} missed; 95 % interval {:.1}–{:.1} %)",
                100.0 * p.false_reject_rate,
                p.missed,
                self.words,
                100.0 * low,
                100.0 * high
            ),
            None => "no trigger words to miss".to_string(),
        };
        let accepts = if self.hours > 0.0 {
            let (low, high) = casebook_core::interval::poisson_rate(p.false_accepts, self.hours);
            format!(
                "{:.2} false accepts per hour ({} in {:.2} h; 95 % interval {:.2}–{:.2})",
                p.false_accepts_per_hour, p.false_accepts, self.hours, low, high
            )
        } else {
            "no audio for false accepts".to_string()
        };
        let latency = p
            .mean_latency_s
            .map_or(String::new(), |s| format!(", mean latency {s:.2} s"));
        format!("threshold {}: {rejects}, {accepts}{latency}", p.threshold)
    }

    /// Hours of word-free audio needed before zero false accepts would show
    /// (at 95 %) a rate at or under the target.
    fn hours_to_show_target(&self) -> f64 {
        casebook_core::interval::poisson_rate(0, 1.0).1 / self.target_fa_per_hour
    }
}

impl std::fmt::Display for FolderEvaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} files, {:.2} h of audio, {} trigger words",
            self.files, self.hours, self.words
        )?;
        writeln!(f, "{}", self.describe(&self.at_threshold))?;
        match &self.meeting_target {
            Some(p) => writeln!(
                f,
                "for <= {} false accepts per hour: {}",
                self.target_fa_per_hour,
                self.describe(p)
            )?,
            None => writeln!(
                f,
                "no threshold keeps false accepts at or under {} per hour",
                self.target_fa_per_hour
            )?,
        }
        if self.hours < self.hours_to_show_target() {
            writeln!(
                f,
                "note: {:.2} h of audio cannot show {} false accepts per hour or fewer: even none \
                 in it allows up to {:.1} per hour (95 %); that takes {:.1} h",
                self.hours,
                self.target_fa_per_hour,
                casebook_core::interval::poisson_rate(0, self.hours).1,
                self.hours_to_show_target()
            )?;
        }
        Ok(())
    }
}

/// What `evaluate` measures: a model on folders of WAVs with `labels.csv`,
/// at one detection setting, plus the threshold that meets a false-accept target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// A model file, or [`crate::infer::BUILTIN`].
    pub model: String,
    /// Folders measured as one set (e.g. clips with words plus word-free audio).
    pub data: Vec<PathBuf>,
    /// `None`: the model's own threshold ([`TriggerModel::default_threshold`]).
    pub threshold: Option<f32>,
    pub rule: DetectionRule,
    pub target_fa_per_hour: f64,
}

/// Scores every WAV in the configured folders against their `labels.csv` and
/// writes `metrics.json` and the report into the new run `run`.
pub fn evaluate(
    config: &EvalConfig,
    run: RunDir,
    observer: &dyn Observer,
) -> Result<(FolderEvaluation, RunDir)> {
    casebook_core::config::require(
        config.target_fa_per_hour >= 0.0 && config.target_fa_per_hour.is_finite(),
        "target_fa_per_hour",
        format!("must be 0 or more, not {}", config.target_fa_per_hour),
    )?;
    run.start(config, |run| {
        let model = TriggerModel::open(&config.model)?;
        let evaluation = evaluate_in(&model, config, &run, observer)?;
        Ok((evaluation, run))
    })
}

/// The calibration an evaluation supports: its lowest threshold that met
/// the false-accept target; an error when none did.
pub fn calibration(config: &EvalConfig, evaluation: &FolderEvaluation) -> Result<Calibration> {
    let Some(point) = evaluation.meeting_target else {
        bail!(
            "no threshold meets {} false accepts per hour on this audio",
            config.target_fa_per_hour
        );
    };
    Ok(Calibration {
        threshold: point.threshold,
        target_fa_per_hour: config.target_fa_per_hour,
        false_reject_rate: point.false_reject_rate,
        false_accepts_per_hour: point.false_accepts_per_hour,
        hours: evaluation.hours,
        words: evaluation.words,
        data: config
            .data
            .iter()
            .map(|d| d.display().to_string())
            .collect(),
    })
}

/// Mistakes a report lists, of each kind.
const MAX_LISTED: usize = 100;
/// The first this many of each list carry a player of their moment (each
/// adds ~60 KB to the report).
const MAX_PLAYERS: usize = 20;

/// A player of `event`'s moment, at 16 kHz: a missed word with a quarter
/// of a second around it; a false accept's second and a quarter before
/// it fired (detection comes as a word ends) and a quarter after.
fn event_player(event: &Event) -> String {
    let (start, end) = match (event.start_s, event.end_s, event.time_s) {
        (Some(start), Some(end), _) => (start - 0.25, end + 0.25),
        (_, _, Some(time)) => (time - 1.25, time + 0.25),
        _ => return String::new(),
    };
    let path = Path::new(&event.file);
    let wav = Clip::read_span(path, start, end - start)
        .and_then(|clip| clip.resample(PLAYER_RATE))
        .and_then(|clip| clip.to_wav_bytes());
    match wav {
        Ok(wav) => casebook_core::report::wav_audio(&wav),
        Err(e) => escape(&format!("(no audio: {e:#})")),
    }
}

/// The sample rate of the report's players.
const PLAYER_RATE: u32 = 16_000;

/// Tables of the missed words and the false accepts at `threshold`, the
/// nearest misses and the surest false accepts first.
fn report_mistakes(report: &mut Report, events: &[Event], threshold: f32) {
    let seconds = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.2}"));
    for (outcome, title, headers) in [
        (
            "missed",
            "Missed words",
            [
                "file",
                "word start (s)",
                "word end (s)",
                "highest score near it",
                "why, where it reached the threshold",
            ],
        ),
        (
            "false_accept",
            "False accepts",
            ["file", "time (s)", "", "score", ""],
        ),
    ] {
        let mut listed: Vec<&Event> = events.iter().filter(|e| e.outcome == outcome).collect();
        report.heading(&format!(
            "{title} at threshold {threshold} ({})",
            listed.len()
        ));
        if listed.is_empty() {
            report.paragraph("None.");
            continue;
        }
        listed.sort_by(|a, b| b.score.total_cmp(&a.score));
        if listed.len() > MAX_LISTED {
            report.paragraph(&format!(
                "The first {MAX_LISTED} by score; all of them are in {EVENTS_FILE}."
            ));
        }
        let mut headers: Vec<&str> = headers.into_iter().filter(|h| !h.is_empty()).collect();
        headers.push("listen");
        let rows: Vec<Vec<String>> = listed
            .iter()
            .take(MAX_LISTED)
            .enumerate()
            .map(|(i, e)| {
                let mut row = vec![e.file.clone()];
                if outcome == "missed" {
                    row.extend([seconds(e.start_s), seconds(e.end_s)]);
                } else {
                    row.push(seconds(e.time_s));
                }
                row.push(format!("{:.3}", e.score));
                if outcome == "missed" {
                    row.push(e.why.clone().unwrap_or_default());
                }
                let mut row: Vec<String> = row.iter().map(|cell| escape(cell)).collect();
                row.push(if i < MAX_PLAYERS {
                    event_player(e)
                } else {
                    String::new()
                });
                row
            })
            .collect();
        if listed.len() > MAX_PLAYERS {
            report.paragraph(&format!("The first {MAX_PLAYERS} can be listened to here."));
        }
        report.table_html(&headers, &rows);
    }
}

fn evaluate_in(
    model: &TriggerModel,
    config: &EvalConfig,
    run: &RunDir,
    observer: &dyn Observer,
) -> Result<FolderEvaluation> {
    let count: usize = config
        .data
        .iter()
        .map(|d| crate::data::voices::wav_files(d).map_or(0, |f| f.len()))
        .sum();
    let phase = observer.phase("scoring", count as u64);
    let mut files = Vec::new();
    for dir in &config.data {
        files.extend(score_folder(model, dir, observer, || phase.advance(1))?);
    }
    drop(phase);
    let names: Vec<String> = config
        .data
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    let names = names.join(", ");
    let rule = config.rule;
    let curve = det_curve(&files, rule);
    let threshold = config.threshold.unwrap_or(model.default_threshold());
    let evaluation = FolderEvaluation {
        files: files.len(),
        hours: files.iter().map(|f| f.seconds).sum::<f64>() / 3600.0,
        words: files.iter().map(|f| f.words.len()).sum(),
        at_threshold: operating_point(&files, threshold, rule),
        rule,
        target_fa_per_hour: config.target_fa_per_hour,
        meeting_target: threshold_for(&curve, config.target_fa_per_hour),
        det_curve: curve,
        events: events(&files, threshold, rule),
    };
    casebook_core::fsx::write_json(&run.path().join("metrics.json"), &evaluation)?;
    write_events(&run.path().join(EVENTS_FILE), &evaluation.events)?;
    let model_name = if config.model == crate::infer::BUILTIN {
        "the built-in model".to_string()
    } else {
        config.model.clone()
    };
    let mut report = Report::new(format!("Trigger word evaluation of {model_name}"));
    report.paragraph(&format!(
        "{names}: {} files, {:.2} hours of audio, {} trigger words. A detection within {HIT_WINDOW_S} s after a word's end is a hit; any other detection is a false accept.",
        evaluation.files,
        evaluation.hours,
        evaluation.words
    ));
    report.html(&format!(
        "<pre>{}</pre>",
        casebook_core::report::escape(&evaluation.to_string())
    ));
    report_curve(&mut report, &names, &evaluation.det_curve)?;
    report_mistakes(&mut report, &evaluation.events, threshold);
    report.save(&run.report_path())?;
    Ok(evaluation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evaluation(words: usize, missed: usize, false_accepts: usize, hours: f64) -> String {
        let point = OperatingPoint {
            threshold: 0.5,
            false_reject_rate: if words == 0 {
                0.0
            } else {
                missed as f64 / words as f64
            },
            false_accepts_per_hour: false_accepts as f64 / hours,
            false_accepts,
            missed,
            mean_latency_s: (missed < words).then_some(0.25),
        };
        FolderEvaluation {
            files: 3,
            hours,
            words,
            at_threshold: point,
            rule: DetectionRule::default(),
            target_fa_per_hour: 0.5,
            meeting_target: None,
            det_curve: vec![point],
            events: Vec::new(),
        }
        .to_string()
    }

    /// Issue 14: no words means no false-reject rate and no latency (it
    /// printed "0.0 %" and "NaN"), and a few minutes of audio cannot show
    /// a rate under one false accept per hour, which the summary says.
    #[test]
    fn the_summary_gives_intervals_and_says_what_the_audio_cannot_show() {
        let none = evaluation(0, 0, 3, 0.18);
        assert!(none.contains("no trigger words to miss"), "{none}");
        assert!(!none.contains("NaN") && !none.contains("latency"), "{none}");
        assert!(
            none.contains("3 in 0.18 h; 95 % interval 3.44–48.71"),
            "{none}"
        );
        assert!(none.contains("note: 0.18 h of audio cannot show"), "{none}");
        let many = evaluation(183, 23, 0, 10.0);
        assert!(
            many.contains("12.6 % (23 of 183 missed; 95 % interval 8.5–18.2 %)"),
            "{many}"
        );
        assert!(many.contains("mean latency 0.25 s"), "{many}");
        assert!(!many.contains("note:"), "{many}");
    }

    #[test]
    fn a_calibration_needs_a_threshold_that_met_the_target() {
        let config = EvalConfig {
            model: "m".into(),
            data: vec!["eval/clips".into()],
            threshold: None,
            rule: DetectionRule::default(),
            target_fa_per_hour: 0.5,
        };
        let point = |threshold, fa| OperatingPoint {
            threshold,
            false_reject_rate: 0.04,
            false_accepts_per_hour: fa,
            false_accepts: 1,
            missed: 2,
            mean_latency_s: Some(0.3),
        };
        let mut evaluation = FolderEvaluation {
            files: 2,
            hours: 8.0,
            words: 50,
            at_threshold: point(0.5, 3.0),
            rule: DetectionRule::default(),
            target_fa_per_hour: 0.5,
            meeting_target: None,
            det_curve: vec![point(0.5, 3.0)],
            events: Vec::new(),
        };
        let err = calibration(&config, &evaluation).unwrap_err().to_string();
        assert!(
            err.contains("no threshold meets 0.5 false accepts per hour"),
            "{err}"
        );
        evaluation.meeting_target = Some(point(0.93, 0.25));
        let c = calibration(&config, &evaluation).unwrap();
        assert_eq!((c.threshold, c.hours, c.words), (0.93, 8.0, 50));
        assert_eq!(c.data, ["eval/clips"]);
    }

    #[test]
    fn detections_match_words_once_and_the_rest_are_false_accepts() {
        let words = [(1.0, 1.6), (5.0, 5.5)];
        // a hit 0.2 s after the first word, a second detection of the same word,
        // one far from any word, and none for the second word.
        let (missed, fa, lat) = match_detections(&words, &[1.8, 2.0, 9.0]);
        let matching = match_words(&words, &[1.8, 2.0, 9.0]);
        assert_eq!(matching.false_accepts, vec![1, 2]);
        assert_eq!(matching.hits, vec![Some(0), None]);
        assert_eq!((missed, fa), (1, 2));
        assert!((lat[0] - 0.2).abs() < 1e-9);
    }

    #[test]
    fn events_list_each_word_and_false_accept_with_its_score() {
        // Steps every 0.1 s: 0.9 just after the first word, 0.3 at most
        // over the second, 0.8 far from both.
        let scores: Vec<StepScore> = (0..100)
            .map(|step| {
                let time = step as f64 / 10.0;
                let probability = match step {
                    18 => 0.9,
                    52 => 0.3,
                    90 => 0.8,
                    _ => 0.05,
                };
                StepScore {
                    step,
                    time,
                    probability,
                }
            })
            .collect();
        let file = ScoredFile {
            name: "a.wav".into(),
            path: "a.wav".into(),
            seconds: 10.0,
            scores,
            words: vec![(1.0, 1.6), (5.0, 5.5)],
        };
        let rule = DetectionRule {
            refractory_s: 1.0,
            patience: 1,
        };
        let events = events(&[file], 0.5, rule);
        let outcomes: Vec<&str> = events.iter().map(|e| e.outcome).collect();
        assert_eq!(outcomes, ["hit", "missed", "false_accept"]);
        assert_eq!(events[0].time_s, Some(1.8));
        assert_eq!((events[1].start_s, events[1].time_s), (Some(5.0), None));
        assert!((events[1].score - 0.3).abs() < 1e-6);
        assert_eq!((events[2].start_s, events[2].time_s), (None, Some(9.0)));
        assert!((events[2].score - 0.8).abs() < 1e-6);
        assert!(events.iter().all(|e| e.why.is_none()), "{events:?}");

        // Words 0.5 s apart: the second's score stays high, but the detector
        // is held by the first's detection; and a word whose window holds a
        // detection that the word before it took.
        let held = ScoredFile {
            name: "b.wav".into(),
            path: "b.wav".into(),
            seconds: 10.0,
            scores: (0..100)
                .map(|step| StepScore {
                    step,
                    time: step as f64 / 10.0,
                    probability: if (18..=30).contains(&step) || step == 60 {
                        0.99
                    } else {
                        0.05
                    },
                })
                .collect(),
            words: vec![(1.0, 1.6), (2.1, 2.6), (5.0, 5.5), (5.6, 5.9)],
        };
        let reasons: Vec<(&str, Option<String>)> = super::events(&[held], 0.5, rule)
            .into_iter()
            .map(|e| (e.outcome, e.why))
            .collect();
        assert_eq!(reasons[0], ("hit", None));
        assert_eq!(reasons[1].0, "missed");
        assert!(
            reasons[1]
                .1
                .as_deref()
                .unwrap()
                .contains("held by its detection at 1.80 s"),
            "{reasons:?}"
        );
        assert_eq!(reasons[2], ("hit", None));
        assert_eq!(
            reasons[3].1.as_deref(),
            Some("the detection at 6.00 s was counted for the word before it")
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENTS_FILE);
        write_events(&path, &events).unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        assert_eq!(
            reader.headers().unwrap(),
            vec!["file", "outcome", "start_s", "end_s", "time_s", "score", "why"]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(&rows[2][1], "false_accept");
        assert_eq!(&rows[2][2], "");
        write_events(&path, &[]).unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        assert_eq!(reader.headers().unwrap().len(), 7);
    }

    #[test]
    fn curve_and_target_threshold() {
        let score = |step: usize, p: f32| StepScore {
            step,
            time: step as f64 * 0.1,
            probability: p,
        };
        // A word ending at 1.0 s scored 0.9 right after; a false bump of 0.6 at 5 s.
        let mut scores: Vec<StepScore> = (0..100).map(|i| score(i, 0.01)).collect();
        scores[11] = score(11, 0.9);
        scores[50] = score(50, 0.6);
        let files = vec![ScoredFile {
            name: "a".into(),
            path: "a".into(),
            seconds: 3600.0,
            scores,
            words: vec![(0.5, 1.0)],
        }];
        let rule = DetectionRule {
            refractory_s: 1.0,
            patience: 1,
        };
        let low = operating_point(&files, 0.5, rule);
        assert_eq!((low.missed, low.false_accepts), (0, 1));
        let high = operating_point(&files, 0.7, rule);
        assert_eq!((high.missed, high.false_accepts), (0, 0));
        let curve = det_curve(&files, rule);
        assert_eq!(threshold_for(&curve, 0.5).unwrap().threshold, 0.61);
        assert_eq!(operating_point(&files, 0.95, rule).missed, 1);
        // Two steps above 0.5 are needed to fire: the one-step bump no longer counts.
        let patient = operating_point(
            &files,
            0.5,
            DetectionRule {
                patience: 2,
                ..rule
            },
        );
        assert_eq!((patient.missed, patient.false_accepts), (1, 0));
    }
}
