//! Classification metrics: accuracy, confusion matrix, per-class precision /
//! recall / F1, ROC curve and its area.

use serde::{Deserialize, Serialize};

/// Fraction of predictions equal to the truth (0 for no items).
pub fn accuracy(truth: &[usize], predicted: &[usize]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    let hits = truth.iter().zip(predicted).filter(|(t, p)| t == p).count();
    hits as f64 / truth.len() as f64
}

/// `matrix[t][p]` counts items of true class `t` predicted as `p`.
///
/// In JSON (`metrics.json`) it is the whole matrix up to [`DENSE_UP_TO`]
/// classes, as a person reads it; beyond, only the cells that are not zero
/// (`[true, predicted, count]`): 1,000 classes over 2,000 items are then at
/// most 2,000 cells, not a million.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "StoredConfusion", try_from = "StoredConfusion")]
pub struct ConfusionMatrix {
    pub matrix: Vec<Vec<usize>>,
}

/// Most classes whose confusion matrix is written whole.
pub const DENSE_UP_TO: usize = 50;

/// A confusion matrix as JSON holds it.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StoredConfusion {
    Dense {
        matrix: Vec<Vec<usize>>,
    },
    Sparse {
        classes: usize,
        /// `[true class, predicted class, count]` of every non-zero cell.
        cells: Vec<[usize; 3]>,
    },
}

impl From<ConfusionMatrix> for StoredConfusion {
    fn from(confusion: ConfusionMatrix) -> Self {
        let classes = confusion.matrix.len();
        if classes <= DENSE_UP_TO {
            return Self::Dense {
                matrix: confusion.matrix,
            };
        }
        let cells = confusion
            .matrix
            .iter()
            .enumerate()
            .flat_map(|(t, row)| {
                row.iter()
                    .enumerate()
                    .filter(|(_, &count)| count > 0)
                    .map(move |(p, &count)| [t, p, count])
            })
            .collect();
        Self::Sparse { classes, cells }
    }
}

impl TryFrom<StoredConfusion> for ConfusionMatrix {
    type Error = String;

    fn try_from(stored: StoredConfusion) -> Result<Self, String> {
        match stored {
            StoredConfusion::Dense { matrix } => {
                if matrix.iter().any(|row| row.len() != matrix.len()) {
                    return Err("a confusion matrix must be square".into());
                }
                Ok(Self { matrix })
            }
            StoredConfusion::Sparse { classes, cells } => {
                if classes > 1_000_000 {
                    return Err(format!(
                        "{classes} classes is not a confusion matrix one can hold"
                    ));
                }
                let mut matrix = vec![vec![0; classes]; classes];
                for [t, p, count] in cells {
                    *matrix
                        .get_mut(t)
                        .and_then(|row| row.get_mut(p))
                        .ok_or_else(|| {
                            format!("cell ({t}, {p}) is outside {classes} classes")
                        })? += count;
                }
                Ok(Self { matrix })
            }
        }
    }
}

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

impl ConfusionMatrix {
    pub fn new(k: usize, truth: &[usize], predicted: &[usize]) -> Self {
        let mut matrix = vec![vec![0; k]; k];
        for (&t, &p) in truth.iter().zip(predicted) {
            matrix[t][p] += 1;
        }
        Self { matrix }
    }

    /// Scores per class; a ratio with a zero denominator is reported as 0,
    /// as scikit-learn does with `zero_division=0`.
    pub fn class_scores(&self) -> Vec<ClassScores> {
        let k = self.matrix.len();
        (0..k)
            .map(|c| {
                let tp = self.matrix[c][c] as f64;
                let predicted: usize = (0..k).map(|t| self.matrix[t][c]).sum();
                let support: usize = self.matrix[c].iter().sum();
                let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
                let precision = ratio(tp, predicted as f64);
                let recall = ratio(tp, support as f64);
                let f1 = ratio(2.0 * precision * recall, precision + recall);
                ClassScores {
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect()
    }
}

impl ClassScores {
    /// The unweighted mean of each score over the classes, and the total
    /// support: scikit-learn's "macro avg", where a rare class counts as
    /// much as a common one.
    pub fn macro_average(scores: &[ClassScores]) -> ClassScores {
        Self::mean(scores, |_| 1.0)
    }

    /// The mean weighted by each class's support, and the total support:
    /// scikit-learn's "weighted avg".
    pub fn weighted_average(scores: &[ClassScores]) -> ClassScores {
        Self::mean(scores, |s| s.support as f64)
    }

    fn mean(scores: &[ClassScores], weight: impl Fn(&ClassScores) -> f64) -> ClassScores {
        let total: f64 = scores.iter().map(&weight).sum();
        let mean = |score: fn(&ClassScores) -> f64| {
            if total > 0.0 {
                scores.iter().map(|s| weight(s) * score(s)).sum::<f64>() / total
            } else {
                0.0
            }
        };
        ClassScores {
            precision: mean(|s| s.precision),
            recall: mean(|s| s.recall),
            f1: mean(|s| s.f1),
            support: scores.iter().map(|s| s.support).sum(),
        }
    }
}

/// One point of a ROC curve at a score threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    pub threshold: f64,
    pub false_positive_rate: f64,
    pub true_positive_rate: f64,
}

/// ROC curve of `scores` (higher = more positive) against `positive` flags.
/// Tied scores form one step, as in scikit-learn's `roc_curve`.
pub fn roc_curve(scores: &[f64], positive: &[bool]) -> Vec<RocPoint> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let n_pos = positive.iter().filter(|&&p| p).count().max(1) as f64;
    let n_neg = positive.iter().filter(|&&p| !p).count().max(1) as f64;
    let mut points = vec![RocPoint {
        threshold: f64::INFINITY,
        false_positive_rate: 0.0,
        true_positive_rate: 0.0,
    }];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (rank, &i) in order.iter().enumerate() {
        if positive[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_tie = order
            .get(rank + 1)
            .is_none_or(|&next| scores[next] != scores[i]);
        if last_of_tie {
            points.push(RocPoint {
                threshold: scores[i],
                false_positive_rate: fp / n_neg,
                true_positive_rate: tp / n_pos,
            });
        }
    }
    points
}

/// Area under a ROC curve by the trapezoidal rule.
pub fn auc(curve: &[RocPoint]) -> f64 {
    curve
        .windows(2)
        .map(|w| {
            (w[1].false_positive_rate - w[0].false_positive_rate)
                * (w[1].true_positive_rate + w[0].true_positive_rate)
                / 2.0
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_confusion_matrices_are_written_as_their_nonzero_cells() {
        let small = ConfusionMatrix::new(3, &[0, 1, 2, 2], &[0, 2, 2, 1]);
        let json = serde_json::to_value(&small).unwrap();
        assert_eq!(json["matrix"][2], serde_json::json!([0, 1, 1]));
        assert_eq!(
            serde_json::from_value::<ConfusionMatrix>(json).unwrap(),
            small
        );

        // 1,000 classes, 2,000 items: the pretty JSON is kilobytes, not tens of megabytes.
        let truth: Vec<usize> = (0..2000).map(|i| i % 1000).collect();
        let predicted: Vec<usize> = (0..2000).map(|i| (i * 7) % 1000).collect();
        let large = ConfusionMatrix::new(1000, &truth, &predicted);
        let text = serde_json::to_string_pretty(&large).unwrap();
        assert!(text.len() < 200_000, "{} bytes", text.len());
        assert_eq!(
            serde_json::from_str::<ConfusionMatrix>(&text).unwrap(),
            large
        );

        for bad in [
            r#"{"matrix": [[1, 2], [3]]}"#,
            r#"{"classes": 2, "cells": [[0, 5, 1]]}"#,
            r#"{"classes": 100000000, "cells": []}"#,
        ] {
            assert!(
                serde_json::from_str::<ConfusionMatrix>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn scores_match_hand_computation() {
        // truth:     0 0 0 1 1 2
        // predicted: 0 1 0 1 0 2
        let truth = [0, 0, 0, 1, 1, 2];
        let pred = [0, 1, 0, 1, 0, 2];
        assert!((accuracy(&truth, &pred) - 4.0 / 6.0).abs() < 1e-12);
        let cm = ConfusionMatrix::new(3, &truth, &pred);
        assert_eq!(cm.matrix, vec![vec![2, 1, 0], vec![1, 1, 0], vec![0, 0, 1]]);
        let s = cm.class_scores();
        // class 0: tp 2, predicted 3, support 3.
        assert!((s[0].precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((s[0].recall - 2.0 / 3.0).abs() < 1e-12);
        // class 1: tp 1, predicted 2, support 2 -> p = r = f1 = 0.5.
        assert!((s[1].f1 - 0.5).abs() < 1e-12);
        assert_eq!(
            s[2],
            ClassScores {
                precision: 1.0,
                recall: 1.0,
                f1: 1.0,
                support: 1
            }
        );
    }

    #[test]
    fn averages_match_scikit_learns_report() {
        // The classes of the test above: scores 2/3, 1/2 and 1 (precision,
        // recall and F1 alike) with supports 3, 2 and 1. scikit-learn's
        // `classification_report` gives macro avg 0.72, weighted avg 0.67.
        let truth = [0, 0, 0, 1, 1, 2];
        let pred = [0, 1, 0, 1, 0, 2];
        let s = ConfusionMatrix::new(3, &truth, &pred).class_scores();
        let (macro_avg, weighted) = (
            ClassScores::macro_average(&s),
            ClassScores::weighted_average(&s),
        );
        for v in [macro_avg.precision, macro_avg.recall, macro_avg.f1] {
            assert!((v - 13.0 / 18.0).abs() < 1e-12, "{v}");
        }
        for v in [weighted.precision, weighted.recall, weighted.f1] {
            assert!((v - 4.0 / 6.0).abs() < 1e-12, "{v}");
        }
        assert_eq!((macro_avg.support, weighted.support), (6, 6));
        // No items: zeros, not NaN.
        let none = ConfusionMatrix::new(2, &[], &[]).class_scores();
        assert_eq!(ClassScores::weighted_average(&none).f1, 0.0);
    }

    #[test]
    fn roc_and_auc_match_hand_computation() {
        // sklearn.metrics.roc_auc_score([0,0,1,1], [0.1,0.4,0.35,0.8]) == 0.75
        let scores = [0.1, 0.4, 0.35, 0.8];
        let positive = [false, false, true, true];
        let curve = roc_curve(&scores, &positive);
        assert!((auc(&curve) - 0.75).abs() < 1e-12);
        let last = curve.last().unwrap();
        assert_eq!(
            (last.false_positive_rate, last.true_positive_rate),
            (1.0, 1.0)
        );
    }

    #[test]
    fn tied_scores_form_one_step() {
        let curve = roc_curve(&[0.5, 0.5], &[true, false]);
        assert_eq!(curve.len(), 2);
        assert!((auc(&curve) - 0.5).abs() < 1e-12);
    }
}
