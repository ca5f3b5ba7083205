//! Verification measured the LFW way (`casebook face eval`): pairs of
//! photos, half of one person and half of two, in 10 folds of different
//! people; for each fold the threshold is chosen on the other nine and the
//! accuracy measured on it, so the figure is what the threshold would do on
//! people it never saw. Also the ROC over all pairs, its AUC, the true-accept
//! rate at a false-accept rate of 1e-3 (the operating point a door lock
//! cares about), and the threshold that fits all pairs best, which
//! `--save-threshold` writes into the encoder.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use casebook_core::metrics::{auc, roc_curve, RocPoint};
use casebook_core::observe::Observer;
use casebook_core::report::Report;
use casebook_core::run::RunDir;
use casebook_core::seed::{self, purpose};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::gallery::distance;
use crate::infer::{main_face, read_image, FacePipeline};

/// A pair of photos, as paths relative to the data folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pair {
    pub a: PathBuf,
    pub b: PathBuf,
    pub same: bool,
    pub fold: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalConfig {
    pub data: PathBuf,
    /// A pairs file (LFW's `pairs.txt` or one written by an earlier eval); drawn when None.
    pub pairs: Option<PathBuf>,
    pub folds: usize,
    /// Same-person pairs per fold when drawing (as many different-person pairs).
    pub per_fold: usize,
    pub model: String,
    pub upsample: usize,
    pub seed: u64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::new(),
            pairs: None,
            folds: 10,
            per_fold: 300,
            model: crate::infer::BUILTIN.into(),
            upsample: 1,
            seed: seed::DEFAULT,
        }
    }
}

/// The pairs file name inside a run folder.
pub const PAIRS_FILE: &str = "pairs.txt";

/// Draws person-disjoint folds of balanced pairs from `people` (name → file
/// names). Each fold gets up to `per_fold` same and as many different pairs;
/// fewer when the data runs out (all folds get the same count).
pub fn draw_pairs(
    people: &BTreeMap<String, Vec<String>>,
    folds: usize,
    per_fold: usize,
    seed: u64,
) -> Result<Vec<Pair>> {
    casebook_core::config::require(
        folds >= 2,
        "folds",
        format!("must be at least 2 (got {folds})"),
    )?;
    let mut names: Vec<&String> = people.keys().collect();
    let mut rng = seed::stream(seed, &[purpose::VALIDATION]);
    names.shuffle(&mut rng);
    if names.len() < 2 * folds {
        bail!(
            "{} people is too few for {folds} folds of different people (need at least {})",
            names.len(),
            2 * folds
        );
    }
    let mut drawn: Vec<(Vec<Pair>, Vec<Pair>)> = Vec::new();
    for fold in 0..folds {
        let members: Vec<&String> = names.iter().skip(fold).step_by(folds).copied().collect();
        let path = |name: &str, file: &str| Path::new(name).join(file);
        let mut same = HashSet::new();
        let mut different = HashSet::new();
        let with_pairs: Vec<&&String> = members.iter().filter(|n| people[**n].len() >= 2).collect();
        for _ in 0..per_fold * 20 {
            if same.len() >= per_fold || with_pairs.is_empty() {
                break;
            }
            let name = with_pairs[rng.gen_range(0..with_pairs.len())];
            let files = &people[name.as_str()];
            let (i, j) = (rng.gen_range(0..files.len()), rng.gen_range(0..files.len()));
            if i != j {
                let (i, j) = (i.min(j), i.max(j));
                same.insert(Pair {
                    a: path(name, &files[i]),
                    b: path(name, &files[j]),
                    same: true,
                    fold,
                });
            }
        }
        for _ in 0..per_fold * 20 {
            if different.len() >= per_fold {
                break;
            }
            let (p, q) = (
                rng.gen_range(0..members.len()),
                rng.gen_range(0..members.len()),
            );
            if p != q {
                let (p, q) = (p.min(q), p.max(q));
                let (fp, fq) = (&people[members[p]], &people[members[q]]);
                let a = path(members[p], &fp[rng.gen_range(0..fp.len())]);
                let b = path(members[q], &fq[rng.gen_range(0..fq.len())]);
                different.insert(Pair {
                    a,
                    b,
                    same: false,
                    fold,
                });
            }
        }
        let mut same: Vec<Pair> = same.into_iter().collect();
        let mut different: Vec<Pair> = different.into_iter().collect();
        same.sort_by(|x, y| (&x.a, &x.b).cmp(&(&y.a, &y.b)));
        different.sort_by(|x, y| (&x.a, &x.b).cmp(&(&y.a, &y.b)));
        drawn.push((same, different));
    }
    let count = drawn
        .iter()
        .map(|(s, d)| s.len().min(d.len()))
        .min()
        .unwrap_or(0);
    if count == 0 {
        bail!("cannot draw same-person pairs in every fold: each fold needs people with at least two photos");
    }
    Ok(drawn
        .into_iter()
        .flat_map(|(s, d)| s.into_iter().take(count).chain(d.into_iter().take(count)))
        .collect())
}

/// Writes pairs in LFW's layout: "folds per_fold", then per fold its same
/// pairs (`person a b`) and its different pairs (`person1 a person2 b`).
pub fn write_pairs(path: &Path, pairs: &[Pair], folds: usize) -> Result<()> {
    let per_fold = pairs.iter().filter(|p| p.same && p.fold == 0).count();
    let mut text = format!("{folds}\t{per_fold}\n");
    let parts = |p: &Path| {
        let person = p
            .parent()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let file = p
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        (person, file)
    };
    for pair in pairs {
        let ((pa, fa), (pb, fb)) = (parts(&pair.a), parts(&pair.b));
        if pair.same {
            writeln!(text, "{pa}\t{fa}\t{fb}")?;
        } else {
            writeln!(text, "{pa}\t{fa}\t{pb}\t{fb}")?;
        }
    }
    casebook_core::fsx::write_atomic(path, text.as_bytes())
}

/// Reads a pairs file: LFW's `pairs.txt` (image numbers: `Name 1 4` means
/// Name/Name_0001.jpg and Name/Name_0004.jpg) or one written by
/// [`write_pairs`] (file names). `data` resolves LFW numbers to files.
pub fn read_pairs(path: &Path, data: &Path) -> Result<(Vec<Pair>, usize)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read pairs file {}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let bad = |n: usize, why: &str| anyhow::anyhow!("{} line {n}: {why}", path.display());
    let header: Vec<usize> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    let (folds, per_fold) = match header[..] {
        [folds, per_fold] if folds >= 2 && per_fold >= 1 => (folds, per_fold),
        _ => {
            return Err(bad(
                1,
                "expected \"folds pairs-per-fold\" (e.g. \"10 300\")",
            ))
        }
    };
    let file = |person: &str, token: &str| -> PathBuf {
        match token.parse::<usize>() {
            Ok(number) => {
                let stem = format!("{person}_{number:04}");
                let jpg = Path::new(person).join(format!("{stem}.jpg"));
                if data.join(&jpg).exists() {
                    jpg
                } else {
                    Path::new(person).join(format!("{stem}.png"))
                }
            }
            Err(_) => Path::new(person).join(token),
        }
    };
    let mut pairs = Vec::new();
    for (i, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let fold = i / (2 * per_fold);
        let pair = match fields[..] {
            [person, a, b] => Pair {
                a: file(person, a),
                b: file(person, b),
                same: true,
                fold,
            },
            [p, a, q, b] => Pair {
                a: file(p, a),
                b: file(q, b),
                same: false,
                fold,
            },
            _ => return Err(bad(i + 2, "expected `person a b` or `person1 a person2 b`")),
        };
        pairs.push(pair);
    }
    if pairs.len() != 2 * folds * per_fold {
        bail!(
            "{} holds {} pairs, but its header promises {folds} folds of 2×{per_fold}",
            path.display(),
            pairs.len()
        );
    }
    Ok((pairs, folds))
}

/// The threshold that classifies `(distance, same)` best (same ⇔ distance ≤
/// threshold), halfway between neighbouring distances; with its accuracy.
pub fn best_threshold(scored: &[(f32, bool)]) -> (f32, f64) {
    let mut sorted: Vec<(f32, bool)> = scored.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total_different = sorted.iter().filter(|s| !s.1).count();
    // Threshold below everything: all "different".
    let (mut best, mut best_correct) =
        (sorted.first().map_or(0.0, |s| s.0 - 1e-3), total_different);
    let mut correct = total_different;
    for (i, &(d, same)) in sorted.iter().enumerate() {
        if same {
            correct += 1;
        } else {
            correct -= 1;
        }
        let last_of_tie = sorted.get(i + 1).is_none_or(|n| n.0 != d);
        if last_of_tie && correct > best_correct {
            best_correct = correct;
            best = sorted.get(i + 1).map_or(d + 1e-3, |n| (d + n.0) / 2.0);
        }
    }
    (best, best_correct as f64 / sorted.len().max(1) as f64)
}

#[derive(Debug, Clone, Serialize)]
pub struct Fold {
    pub threshold: f32,
    pub accuracy: f64,
    pub pairs: usize,
}

/// What verification scored.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub folds: Vec<Fold>,
    pub mean_accuracy: f64,
    pub std_accuracy: f64,
    pub auc: f64,
    /// True-accept rate with at most 1e-3 false accepts (None below 1000 different pairs).
    pub tar_at_far_1e3: Option<f64>,
    /// The threshold best over all pairs, and its accuracy there.
    pub threshold: f32,
    pub threshold_accuracy: f64,
    pub same_pairs: usize,
    pub different_pairs: usize,
    #[serde(skip)]
    pub roc: Vec<RocPoint>,
}

/// Scores `(distance, same, fold)` triples with the 10-fold protocol.
pub fn score_pairs(scored: &[(f32, bool, usize)], folds: usize) -> Result<Verification> {
    let same_pairs = scored.iter().filter(|s| s.1).count();
    let different_pairs = scored.len() - same_pairs;
    if same_pairs == 0 || different_pairs == 0 {
        bail!("verification needs both same-person and different-person pairs (got {same_pairs} and {different_pairs})");
    }
    let mut results = Vec::new();
    for fold in 0..folds {
        let train: Vec<(f32, bool)> = scored
            .iter()
            .filter(|s| s.2 != fold)
            .map(|s| (s.0, s.1))
            .collect();
        let test: Vec<&(f32, bool, usize)> = scored.iter().filter(|s| s.2 == fold).collect();
        if test.is_empty() || train.is_empty() {
            continue;
        }
        let (threshold, _) = best_threshold(&train);
        let correct = test.iter().filter(|s| (s.0 <= threshold) == s.1).count();
        results.push(Fold {
            threshold,
            accuracy: correct as f64 / test.len() as f64,
            pairs: test.len(),
        });
    }
    if results.is_empty() {
        bail!("no fold has pairs to test on");
    }
    let n = results.len() as f64;
    let mean = results.iter().map(|f| f.accuracy).sum::<f64>() / n;
    let std = (results
        .iter()
        .map(|f| (f.accuracy - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let scores: Vec<f64> = scored.iter().map(|s| -(s.0 as f64)).collect();
    let positive: Vec<bool> = scored.iter().map(|s| s.1).collect();
    let roc = roc_curve(&scores, &positive);
    let tar = (different_pairs >= 1000).then(|| {
        roc.iter()
            .filter(|p| p.false_positive_rate <= 1e-3)
            .map(|p| p.true_positive_rate)
            .fold(0.0, f64::max)
    });
    let (threshold, threshold_accuracy) =
        best_threshold(&scored.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>());
    Ok(Verification {
        folds: results,
        mean_accuracy: mean,
        std_accuracy: std,
        auc: auc(&roc),
        tar_at_far_1e3: tar,
        threshold,
        threshold_accuracy,
        same_pairs,
        different_pairs,
        roc,
    })
}

/// One scored pair as `face eval` writes it (`predictions.csv`, `--json`),
/// decided at the evaluation's threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairOutcome {
    pub file_a: String,
    pub file_b: String,
    /// `same` or `different`: the truth...
    pub label: &'static str,
    /// ... and what the distance says at the threshold.
    pub prediction: &'static str,
    pub distance: f32,
    pub fold: usize,
}

fn same_or_different(same: bool) -> &'static str {
    if same {
        "same"
    } else {
        "different"
    }
}

/// The name of the per-pair file in an evaluation's run folder.
pub const OUTCOMES_FILE: &str = casebook_core::classification::OUTCOMES_FILE;

pub struct EvalOutcome {
    pub verification: Verification,
    /// Each scored pair, as in the run's `predictions.csv`.
    pub pairs: Vec<PairOutcome>,
    /// Pairs left out because a photo had no face or could not be read.
    pub dropped_pairs: usize,
    pub run: RunDir,
}

/// Runs the protocol on `config.data` with the encoder `config.model`.
pub fn evaluate(config: &EvalConfig, run: RunDir, observer: &dyn Observer) -> Result<EvalOutcome> {
    run.start(config, |run| {
        let (pairs, folds) = match &config.pairs {
            Some(file) => read_pairs(file, &config.data)?,
            None => {
                let dataset = casebook_vision::ScannedDataset::scan(&config.data)?;
                let mut people: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for (file, person) in &dataset.items {
                    let name = Path::new(file)
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned();
                    people
                        .entry(dataset.classes[*person].clone())
                        .or_default()
                        .push(name);
                }
                let pairs = draw_pairs(&people, config.folds, config.per_fold, config.seed)?;
                write_pairs(&run.path().join(PAIRS_FILE), &pairs, config.folds)?;
                (pairs, config.folds)
            }
        };
        let pipeline = FacePipeline::load(&config.model)?;
        let mut files: Vec<&PathBuf> = pairs.iter().flat_map(|p| [&p.a, &p.b]).collect();
        files.sort();
        files.dedup();
        let mut vectors: HashMap<&PathBuf, Vec<f32>> = HashMap::new();
        let phase = observer.phase("encoding faces", files.len() as u64);
        for file in files {
            observer.check_stop(String::new)?;
            let path = config.data.join(file);
            match read_image(&path).map(|image| pipeline.find(&image, config.upsample)) {
                Ok(faces) => match main_face(&faces) {
                    Some(i) => {
                        vectors.insert(file, pipeline.encode(&faces[i..=i])?.remove(0));
                    }
                    None => observer.skipped(&path, "no face found"),
                },
                Err(e) => observer.skipped(&path, &format!("{e:#}")),
            }
            phase.advance(1);
        }
        drop(phase);
        let measured: Vec<(&Pair, f32)> = pairs
            .iter()
            .filter_map(|p| Some((p, distance(vectors.get(&p.a)?, vectors.get(&p.b)?))))
            .collect();
        let scored: Vec<(f32, bool, usize)> =
            measured.iter().map(|(p, d)| (*d, p.same, p.fold)).collect();
        let verification = score_pairs(&scored, folds)?;
        casebook_core::fsx::write_json(&run.path().join("metrics.json"), &verification)?;
        let outcomes: Vec<PairOutcome> = measured
            .iter()
            .map(|(p, d)| PairOutcome {
                file_a: p.a.display().to_string(),
                file_b: p.b.display().to_string(),
                label: same_or_different(p.same),
                prediction: same_or_different(*d <= verification.threshold),
                distance: *d,
                fold: p.fold,
            })
            .collect();
        casebook_core::fsx::write_csv(
            &run.path().join(OUTCOMES_FILE),
            &[
                "file_a",
                "file_b",
                "label",
                "prediction",
                "distance",
                "fold",
            ],
            &outcomes,
        )?;
        report(&run, config, &verification, pairs.len() - scored.len())?;
        Ok(EvalOutcome {
            verification,
            pairs: outcomes,
            dropped_pairs: pairs.len() - scored.len(),
            run,
        })
    })
}

fn report(run: &RunDir, config: &EvalConfig, v: &Verification, dropped: usize) -> Result<()> {
    let mut report = Report::new(format!("Face verification on {}", config.data.display()));
    report.paragraph(&format!(
        "{} same-person and {} different-person pairs in {} folds of different people{}. Encoder: {}.",
        v.same_pairs,
        v.different_pairs,
        v.folds.len(),
        if dropped > 0 { format!(" ({dropped} pairs left out: a photo without a face)") } else { String::new() },
        config.model
    ));
    report.heading("Accuracy, threshold chosen on the other folds");
    report.paragraph(&format!(
        "{:.2} % ± {:.2} (mean ± std over folds)",
        100.0 * v.mean_accuracy,
        100.0 * v.std_accuracy
    ));
    let rows: Vec<Vec<String>> = v
        .folds
        .iter()
        .enumerate()
        .map(|(i, f)| {
            vec![
                (i + 1).to_string(),
                f.pairs.to_string(),
                format!("{:.3}", f.threshold),
                format!("{:.2} %", 100.0 * f.accuracy),
            ]
        })
        .collect();
    report.table(
        &["fold", "pairs", "threshold (other folds)", "accuracy"],
        &rows,
    );
    report.heading("ROC (all pairs; score = −distance)");
    report.roc("ROC", &v.roc, v.auc)?;
    report.paragraph(&match v.tar_at_far_1e3 {
        Some(t) => format!("TAR at FAR = 1e-3: {:.2} %.", 100.0 * t),
        None => format!(
            "TAR at FAR = 1e-3 needs at least 1000 different-person pairs (have {}).",
            v.different_pairs
        ),
    });
    report.paragraph(&format!(
        "Threshold over all pairs: {:.3} ({:.2} % of pairs right); `--save-threshold` writes it into a copy of the encoder.",
        v.threshold,
        100.0 * v.threshold_accuracy
    ));
    report.save(&run.report_path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_threshold_splits_the_distances() {
        let scored = [
            (0.2, true),
            (0.3, true),
            (0.5, false),
            (0.45, true),
            (0.7, false),
            (0.4, false),
        ];
        let (t, acc) = best_threshold(&scored);
        // 0.2 0.3 same | 0.4 diff | 0.45 same | 0.5 0.7 diff: best cut after 0.3 or after 0.45 (5/6).
        assert!((acc - 5.0 / 6.0).abs() < 1e-12);
        assert!((t - 0.35).abs() < 1e-6, "the first best cut wins: {t}");
    }

    #[test]
    fn folds_choose_thresholds_on_the_others() {
        // Separable at 0.6 except one hard pair per fold.
        let mut scored = Vec::new();
        for fold in 0..10 {
            for i in 0..9 {
                scored.push((0.3 + 0.02 * i as f32, true, fold));
                scored.push((0.8 + 0.02 * i as f32, false, fold));
            }
            scored.push((0.9, true, fold));
        }
        let v = score_pairs(&scored, 10).unwrap();
        assert_eq!(v.folds.len(), 10);
        assert!(
            (v.mean_accuracy - 18.0 / 19.0).abs() < 1e-9,
            "{}",
            v.mean_accuracy
        );
        assert!(v
            .folds
            .iter()
            .all(|f| f.threshold > 0.46 && f.threshold < 0.8));
        assert!(v.auc > 0.9 && v.auc < 1.0);
        assert_eq!(v.tar_at_far_1e3, None);
    }

    #[test]
    fn drawn_pairs_are_balanced_person_disjoint_and_round_trip() {
        let people: BTreeMap<String, Vec<String>> = (0..40)
            .map(|p| {
                (
                    format!("p{p:02}"),
                    (0..(p % 4 + 1))
                        .map(|i| format!("p{p:02}_{i:04}.png"))
                        .collect(),
                )
            })
            .collect();
        let pairs = draw_pairs(&people, 10, 5, 7).unwrap();
        assert_eq!(pairs, draw_pairs(&people, 10, 5, 7).unwrap());
        for fold in 0..10 {
            let in_fold: Vec<&Pair> = pairs.iter().filter(|p| p.fold == fold).collect();
            assert_eq!(in_fold.iter().filter(|p| p.same).count() * 2, in_fold.len());
        }
        let person = |p: &Path| p.parent().unwrap().to_path_buf();
        let fold_of: HashMap<PathBuf, usize> = pairs
            .iter()
            .flat_map(|p| [(person(&p.a), p.fold), (person(&p.b), p.fold)])
            .collect();
        assert!(pairs
            .iter()
            .all(|p| fold_of[&person(&p.a)] == p.fold && fold_of[&person(&p.b)] == p.fold));
        let dir = tempfile::tempdir().unwrap();
        write_pairs(&dir.path().join("pairs.txt"), &pairs, 10).unwrap();
        let (back, folds) = read_pairs(&dir.path().join("pairs.txt"), dir.path()).unwrap();
        assert_eq!((back, folds), (pairs, 10));
    }

    #[test]
    fn lfw_pairs_files_read_with_image_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pairs.txt");
        std::fs::write(&file, "2\t1\nAbel_Pacheco\t1\t4\nAkhmed_Zakayev\t1\tAndy_Roddick\t3\nZico\t1\t2\nA\t1\tB\t2\n").unwrap();
        let (pairs, folds) = read_pairs(&file, dir.path()).unwrap();
        assert_eq!(folds, 2);
        assert_eq!(pairs[0].b, Path::new("Abel_Pacheco/Abel_Pacheco_0004.png"));
        assert!(!pairs[1].same && pairs[2].same && pairs[3].fold == 1);
        std::fs::write(&file, "10\t300\nA\t1\t2\n").unwrap();
        assert!(read_pairs(&file, dir.path())
            .unwrap_err()
            .to_string()
            .contains("promises 10 folds"));
        std::fs::write(&file, "ten\n").unwrap();
        assert!(read_pairs(&file, dir.path()).is_err());
    }
}
