//! Metrics for the three modes, on core's [`Classification`]: one over the
//! classes for binary and multiclass, one per label ("not x" / "x") for
//! multilabel, plus exact-match accuracy; and `logreg eval`'s entry point.

use std::path::PathBuf;

use anyhow::{bail, Result};
use casebook_core::classification::{
    argmax, write_outcomes, Classification, Item, Outcome, OUTCOMES_FILE,
};
use casebook_core::model_file::SavedModel;
use casebook_core::observe::Observer;
use casebook_core::report::Report;
use casebook_core::run::RunDir;
use serde::{Deserialize, Serialize};

use crate::data::{Mode, Table};
use crate::infer::{describe_notes, Model};

/// Word for the items counted in summaries.
const ITEMS: &str = "rows";

/// One classification with what it is about ("classes", or "label 'tech'").
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    pub title: String,
    pub classification: Classification,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub mode: Mode,
    pub count: usize,
    /// Binary/multiclass: share of rows predicted right. Multilabel: share of
    /// rows with every label right (exact match).
    pub accuracy: f64,
    /// Multilabel only: share of single label decisions that are right.
    pub label_accuracy: Option<f64>,
    /// Mean over rows of the summed per-output cross-entropy.
    pub log_loss: f64,
    pub roc_auc: Option<f64>,
    /// Binary and multiclass: one part; multilabel: one per label.
    pub parts: Vec<Part>,
}

fn rows(values: &[f32], k: usize) -> Vec<Vec<f32>> {
    values.chunks(k.max(1)).map(<[f32]>::to_vec).collect()
}

/// Evaluates probabilities `p` (`[n, k]`) against targets `y` (`[n, k]`).
/// `names` are the classes (binary: both; multiclass: all) or the labels.
pub fn evaluate(mode: Mode, names: &[String], p: &[f32], y: &[f32], k: usize) -> Evaluation {
    let n = p.len().checked_div(k).unwrap_or(0);
    let (pr, yr) = (rows(p, k), rows(y, k));
    let column = |v: &[Vec<f32>], j: usize| v.iter().map(|r| r[j]).collect::<Vec<f32>>();
    let truth_of = |j: usize| {
        yr.iter()
            .map(|r| usize::from(r[j] >= 0.5))
            .collect::<Vec<usize>>()
    };
    let single = |classification: Classification| Evaluation {
        mode,
        count: n,
        accuracy: classification.accuracy,
        label_accuracy: None,
        log_loss: classification.log_loss,
        roc_auc: classification.auc,
        parts: vec![Part {
            title: "classes".into(),
            classification,
        }],
    };
    match mode {
        Mode::Binary => single(Classification::from_binary(
            names.to_vec(),
            truth_of(0),
            &column(&pr, 0),
        )),
        Mode::Multiclass => single(Classification::from_probabilities(
            names.to_vec(),
            yr.iter().map(|r| argmax(r)).collect(),
            pr,
        )),
        Mode::Multilabel => {
            let parts: Vec<Part> = names
                .iter()
                .enumerate()
                .map(|(j, name)| Part {
                    title: format!("label '{name}'"),
                    classification: Classification::from_binary(
                        vec![format!("not {name}"), name.clone()],
                        truth_of(j),
                        &column(&pr, j),
                    ),
                })
                .collect();
            let exact = pr
                .iter()
                .zip(&yr)
                .filter(|(p, y)| {
                    p.iter()
                        .zip(y.iter())
                        .all(|(a, b)| (*a >= 0.5) == (*b >= 0.5))
                })
                .count();
            let sum = |f: fn(&Classification) -> f64| {
                parts.iter().map(|p| f(&p.classification)).sum::<f64>()
            };
            Evaluation {
                mode,
                count: n,
                accuracy: exact as f64 / n.max(1) as f64,
                label_accuracy: Some(sum(|c| c.accuracy) / parts.len().max(1) as f64),
                log_loss: sum(|c| c.log_loss),
                roc_auc: None,
                parts,
            }
        }
    }
}

impl Evaluation {
    pub fn headline(&self) -> String {
        match self.mode {
            Mode::Multilabel => format!(
                "exact-match accuracy {:.2}%, per-label accuracy {:.2}% on {} rows, log-loss {:.4}",
                100.0 * self.accuracy,
                100.0 * self.label_accuracy.unwrap_or(0.0),
                self.count,
                self.log_loss
            ),
            _ => self.parts[0].classification.headline(ITEMS),
        }
    }

    pub fn summary(&self) -> String {
        let mut s = self.headline();
        s.push('\n');
        for part in &self.parts {
            let c = &part.classification;
            // Binary and multiclass: every class; multilabel: the label itself.
            let shown = if self.mode == Mode::Multilabel {
                1..2
            } else {
                0..c.classes.len()
            };
            for i in shown {
                s.push_str(&c.class_line(i, ITEMS));
                s.push('\n');
            }
            if self.mode != Mode::Multilabel {
                s.push_str(&c.averages_line());
                s.push('\n');
            }
        }
        s
    }

    pub fn add_to_report(&self, report: &mut Report, title: &str) -> anyhow::Result<()> {
        report.heading(title);
        report.paragraph(&self.headline());
        for part in &self.parts {
            part.classification
                .add_to_report(report, &format!("{title}: {}", part.title))?;
        }
        Ok(())
    }
}

/// Rows a report lists as the worst.
const WORST_SHOWN: usize = 20;

/// A table of the misclassified rows, highest loss first (the lowest
/// probability given to the true class: fastai's top losses).
fn add_worst_rows(report: &mut Report, outcomes: &[Outcome]) {
    let mut wrong: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.prediction != o.label)
        .collect();
    report.heading(&format!("Misclassified {ITEMS} ({})", wrong.len()));
    if wrong.is_empty() {
        report.paragraph("None.");
        return;
    }
    wrong.sort_by(|a, b| a.label_probability.total_cmp(&b.label_probability));
    report.paragraph(&format!(
        "The {} with the highest loss (the least probability on the true label) first; every row is in {OUTCOMES_FILE}.",
        wrong.len().min(WORST_SHOWN)
    ));
    let rows: Vec<Vec<String>> = wrong
        .iter()
        .take(WORST_SHOWN)
        .map(|o| {
            let line = match &o.item {
                Item::Line(l) => l.to_string(),
                Item::File(f) => f.clone(),
            };
            vec![
                line,
                o.label.clone(),
                o.prediction.clone(),
                format!("{:.3}", o.probability),
                format!("{:.3}", o.label_probability),
            ]
        })
        .collect();
    report.table(
        &[
            "line",
            "label",
            "prediction",
            "probability of prediction",
            "probability of label",
        ],
        &rows,
    );
}

/// What `logreg eval` measures: a model file on a labelled CSV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    pub model: PathBuf,
    pub data: PathBuf,
}

/// The result of `logreg eval`.
#[derive(Debug)]
pub struct CsvEvaluation {
    pub evaluation: Evaluation,
    /// Each row's result (multilabel: each row's, label by label), as in
    /// the run's `predictions.csv`.
    pub outcomes: Vec<Outcome>,
    pub run: RunDir,
}

/// Evaluates the model on every row of the CSV that has its targets, and
/// writes `metrics.json`, `predictions.csv` and the report into the new run
/// `run`.
pub fn evaluate_csv(
    config: &EvalConfig,
    run: RunDir,
    observer: &dyn Observer,
) -> Result<CsvEvaluation> {
    run.start(config, |run| {
        let model = Model::load(&config.model)?;
        let table = Table::read(&config.data)?;
        let rows: Vec<usize> = (0..table.len())
            .filter(|&r| model.targets.present(&table, r))
            .collect();
        if rows.is_empty() {
            bail!(
                "{} has no rows with the target column(s) {}",
                config.data.display(),
                model.targets.columns().join(", ")
            );
        }
        let (p, notes) = model.probabilities(&table, &rows)?;
        for line in describe_notes(&notes) {
            observer.note(&line);
        }
        let y = model.targets.encode(&table, &rows)?;
        let k = model.targets.output_names().len();
        let evaluation = evaluate(model.targets.mode, &model.targets.class_names(), &p, &y, k);
        casebook_core::fsx::write_json(&run.path().join("metrics.json"), &evaluation)?;
        let outcomes: Vec<Outcome> = evaluation
            .parts
            .iter()
            .flat_map(|part| {
                part.classification
                    .outcomes(|i| Item::Line(table.line(rows[i])))
            })
            .collect();
        write_outcomes(&run.path().join(OUTCOMES_FILE), &outcomes)?;
        let mut report = Report::new(format!("Evaluation of {}", config.model.display()));
        evaluation.add_to_report(&mut report, "Evaluation")?;
        add_worst_rows(&mut report, &outcomes);
        report.save(&run.report_path())?;
        Ok(CsvEvaluation {
            evaluation,
            outcomes,
            run,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(line: u64, label: &str, prediction: &str, p: f32, on_label: f32) -> Outcome {
        Outcome {
            item: Item::Line(line),
            label: label.into(),
            prediction: prediction.into(),
            probability: p,
            label_probability: on_label,
        }
    }

    /// Top losses: the row with the least probability on its label comes
    /// first, though another was predicted more confidently.
    #[test]
    fn worst_rows_come_highest_loss_first_and_right_rows_are_left_out() {
        let outcomes = [
            outcome(2, "cat", "dog", 0.90, 0.08),
            outcome(3, "cat", "cat", 0.99, 0.99),
            outcome(4, "bird", "dog", 0.60, 0.01),
            outcome(5, "dog", "cat", 0.55, 0.45),
        ];
        let mut report = Report::new("t");
        add_worst_rows(&mut report, &outcomes);
        let html = report.to_html();
        assert!(html.contains("Misclassified rows (3)"), "{html}");
        let at = |line: &str| html.find(&format!("<td>{line}</td>")).unwrap();
        assert!(at("4") < at("2") && at("2") < at("5"), "{html}");
        assert!(!html.contains("<td>3</td>"));
    }
}
