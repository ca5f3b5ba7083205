//! Metrics for the three modes: accuracy, per-class or per-label precision,
//! recall and F1, log-loss, confusion matrices (one per label in multilabel),
//! ROC for binary; and the matching report sections.

use casebook_core::metrics::{accuracy, auc, roc_curve, ClassScores, ConfusionMatrix, RocPoint};
use casebook_core::report::Report;
use serde::Serialize;

use crate::data::Mode;

/// One confusion matrix with its class names and scores.
#[derive(Debug, Clone, Serialize)]
pub struct Confusion {
    pub title: String,
    pub classes: Vec<String>,
    pub matrix: ConfusionMatrix,
    pub scores: Vec<ClassScores>,
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
    pub log_loss: f64,
    pub confusions: Vec<Confusion>,
    pub roc_auc: Option<f64>,
    #[serde(skip)]
    roc: Option<Vec<RocPoint>>,
}

fn bce(p: f32, y: f32) -> f64 {
    let p = (p as f64).clamp(1e-12, 1.0 - 1e-12);
    -(y as f64 * p.ln() + (1.0 - y as f64) * (1.0 - p).ln())
}

fn confusion(title: String, classes: Vec<String>, truth: &[usize], pred: &[usize]) -> Confusion {
    let matrix = ConfusionMatrix::new(classes.len(), truth, pred);
    Confusion {
        title,
        scores: matrix.class_scores(),
        classes,
        matrix,
    }
}

/// Evaluates probabilities `p` (`[n, k]`) against targets `y` (`[n, k]`).
/// `names` are the classes (binary: both; multiclass: all) or the labels.
pub fn evaluate(mode: Mode, names: &[String], p: &[f32], y: &[f32], k: usize) -> Evaluation {
    let n = if k == 0 { 0 } else { p.len() / k };
    let rows = |v: &[f32]| v.chunks(k.max(1)).map(<[f32]>::to_vec).collect::<Vec<_>>();
    let (pr, yr) = (rows(p), rows(y));
    match mode {
        Mode::Binary => {
            let truth: Vec<usize> = yr.iter().map(|r| usize::from(r[0] >= 0.5)).collect();
            let pred: Vec<usize> = pr.iter().map(|r| usize::from(r[0] >= 0.5)).collect();
            let scores: Vec<f64> = pr.iter().map(|r| r[0] as f64).collect();
            let positive: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
            let both = positive.iter().any(|&b| b) && positive.iter().any(|&b| !b);
            let curve = both.then(|| roc_curve(&scores, &positive));
            Evaluation {
                mode,
                count: n,
                accuracy: accuracy(&truth, &pred),
                label_accuracy: None,
                log_loss: pr
                    .iter()
                    .zip(&yr)
                    .map(|(p, y)| bce(p[0], y[0]))
                    .sum::<f64>()
                    / n.max(1) as f64,
                confusions: vec![confusion(
                    "confusion matrix".into(),
                    names.to_vec(),
                    &truth,
                    &pred,
                )],
                roc_auc: curve.as_ref().map(|c| auc(c)),
                roc: curve,
            }
        }
        Mode::Multiclass => {
            let argmax = |r: &Vec<f32>| {
                r.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i)
            };
            let truth: Vec<usize> = yr.iter().map(argmax).collect();
            let pred: Vec<usize> = pr.iter().map(argmax).collect();
            let log_loss = pr
                .iter()
                .zip(&truth)
                .map(|(p, &t)| -(p[t].max(1e-12) as f64).ln())
                .sum::<f64>()
                / n.max(1) as f64;
            Evaluation {
                mode,
                count: n,
                accuracy: accuracy(&truth, &pred),
                label_accuracy: None,
                log_loss,
                confusions: vec![confusion(
                    "confusion matrix".into(),
                    names.to_vec(),
                    &truth,
                    &pred,
                )],
                roc_auc: None,
                roc: None,
            }
        }
        Mode::Multilabel => {
            let mut confusions = Vec::new();
            let mut right = 0usize;
            for (j, name) in names.iter().enumerate() {
                let truth: Vec<usize> = yr.iter().map(|r| usize::from(r[j] >= 0.5)).collect();
                let pred: Vec<usize> = pr.iter().map(|r| usize::from(r[j] >= 0.5)).collect();
                right += truth.iter().zip(&pred).filter(|(a, b)| a == b).count();
                confusions.push(confusion(
                    format!("label '{name}'"),
                    vec![format!("not {name}"), name.clone()],
                    &truth,
                    &pred,
                ));
            }
            let exact = pr
                .iter()
                .zip(&yr)
                .filter(|(p, y)| {
                    p.iter()
                        .zip(y.iter())
                        .all(|(a, b)| (*a >= 0.5) == (*b >= 0.5))
                })
                .count();
            let log_loss = p.iter().zip(y).map(|(&a, &b)| bce(a, b)).sum::<f64>() / n.max(1) as f64;
            Evaluation {
                mode,
                count: n,
                accuracy: exact as f64 / n.max(1) as f64,
                label_accuracy: Some(right as f64 / (n * k).max(1) as f64),
                log_loss,
                confusions,
                roc_auc: None,
                roc: None,
            }
        }
    }
}

impl Evaluation {
    pub fn summary(&self) -> String {
        let mut s = match self.mode {
            Mode::Multilabel => format!(
                "exact-match accuracy {:.2}%, per-label accuracy {:.2}% on {} rows, log-loss {:.4}",
                100.0 * self.accuracy,
                100.0 * self.label_accuracy.unwrap_or(0.0),
                self.count,
                self.log_loss
            ),
            _ => format!(
                "accuracy {:.2}% on {} rows, log-loss {:.4}",
                100.0 * self.accuracy,
                self.count,
                self.log_loss
            ),
        };
        if let Some(a) = self.roc_auc {
            s.push_str(&format!(", ROC AUC {a:.4}"));
        }
        s.push('\n');
        for c in &self.confusions {
            // Binary and multiclass: every class; multilabel: the label itself.
            let shown: Vec<usize> = if self.mode == Mode::Multilabel {
                vec![1]
            } else {
                (0..c.classes.len()).collect()
            };
            for i in shown {
                let sc = c.scores[i];
                s.push_str(&format!(
                    "  {:<20} precision {:.3}  recall {:.3}  F1 {:.3}  ({} rows)\n",
                    c.classes[i], sc.precision, sc.recall, sc.f1, sc.support
                ));
            }
        }
        s
    }

    pub fn add_to_report(&self, report: &mut Report, title: &str) -> anyhow::Result<()> {
        report.heading(title);
        report.paragraph(self.summary().lines().next().unwrap_or_default());
        for c in &self.confusions {
            report.class_scores(&format!("{title}: {}", c.title), &c.classes, &c.matrix)?;
        }
        if let (Some(curve), Some(a)) = (&self.roc, self.roc_auc) {
            report.roc(&format!("{title}: ROC"), curve, a)?;
        }
        Ok(())
    }
}
