//! The classification report every case shares: accuracy, log-loss, the
//! confusion matrix with per-class precision/recall/F1, ROC and AUC for two
//! classes, as terminal lines and report sections. The image classifier uses it
//! as it is; logistic regression once per target (binary, multiclass) or per
//! label (multilabel); verification and recognition reuse its ROC.

use serde::Serialize;

use crate::metrics::{accuracy, auc, roc_curve, ClassScores, ConfusionMatrix, RocPoint};
use crate::report::Report;

/// Probabilities are f32: below this they are treated as this (log-loss stays finite).
const MIN_PROBABILITY: f64 = 1e-7;

/// Everything measured on one labelled set by a single-label classifier.
#[derive(Debug, Clone, Serialize)]
pub struct Classification {
    pub classes: Vec<String>,
    pub count: usize,
    pub accuracy: f64,
    pub log_loss: f64,
    pub confusion: ConfusionMatrix,
    pub class_scores: Vec<ClassScores>,
    /// ROC of the second class against the first (two classes, both present).
    pub roc: Option<Vec<RocPoint>>,
    pub auc: Option<f64>,
    #[serde(skip)]
    pub truth: Vec<usize>,
    #[serde(skip)]
    pub probabilities: Vec<Vec<f32>>,
}

impl Classification {
    /// Computes every metric from each item's class probabilities and true class.
    pub fn from_probabilities(
        classes: Vec<String>,
        truth: Vec<usize>,
        probabilities: Vec<Vec<f32>>,
    ) -> Self {
        let predicted: Vec<usize> = probabilities.iter().map(|p| argmax(p)).collect();
        let log_loss = truth
            .iter()
            .zip(&probabilities)
            .map(|(&t, p)| -(p[t] as f64).max(MIN_PROBABILITY).ln())
            .sum::<f64>()
            / truth.len().max(1) as f64;
        let confusion = ConfusionMatrix::new(classes.len(), &truth, &predicted);
        // ROC needs both classes present; with one, AUC is undefined.
        let both_present = truth.contains(&0) && truth.contains(&1);
        let roc = (classes.len() == 2 && both_present).then(|| {
            let scores: Vec<f64> = probabilities.iter().map(|p| p[1] as f64).collect();
            let positive: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
            roc_curve(&scores, &positive)
        });
        Self {
            count: truth.len(),
            accuracy: accuracy(&truth, &predicted),
            log_loss,
            class_scores: confusion.class_scores(),
            confusion,
            auc: roc.as_deref().map(auc),
            roc,
            classes,
            truth,
            probabilities,
        }
    }

    /// Two classes from the probability of the second (`[1 - p, p]` per item).
    pub fn from_binary(classes: Vec<String>, truth: Vec<usize>, positive: &[f32]) -> Self {
        let probabilities = positive.iter().map(|&p| vec![1.0 - p, p]).collect();
        Self::from_probabilities(classes, truth, probabilities)
    }

    /// The headline: accuracy, count of `items` ("images", "rows"), log-loss, AUC.
    pub fn headline(&self, items: &str) -> String {
        let mut s = format!(
            "accuracy {:.2}% on {} {items}, log-loss {:.4}",
            100.0 * self.accuracy,
            self.count,
            self.log_loss
        );
        if let Some(a) = self.auc {
            s.push_str(&format!(", ROC AUC {a:.4}"));
        }
        s
    }

    /// One line of precision, recall and F1 for class `i`.
    pub fn class_line(&self, i: usize, items: &str) -> String {
        let sc = &self.class_scores[i];
        format!(
            "  {:<20} precision {:.3}  recall {:.3}  F1 {:.3}  ({} {items})",
            self.classes[i], sc.precision, sc.recall, sc.f1, sc.support
        )
    }

    /// The headline and one line per class, for the terminal.
    pub fn summary(&self, items: &str) -> String {
        let mut s = self.headline(items);
        s.push('\n');
        for i in 0..self.classes.len() {
            s.push_str(&self.class_line(i, items));
            s.push('\n');
        }
        s
    }

    /// A report section: heading, headline, confusion matrix, ROC.
    pub fn add_section(&self, report: &mut Report, title: &str, items: &str) -> anyhow::Result<()> {
        report.heading(title);
        let mut line = format!("{}.", self.headline(items));
        if self.auc.is_some() {
            line.push_str(&format!(
                " ROC with '{}' as the positive class.",
                self.classes[1]
            ));
        }
        report.paragraph(&line);
        self.add_to_report(report, title)
    }

    /// The confusion matrix with per-class scores, and the ROC plot if any.
    pub fn add_to_report(&self, report: &mut Report, title: &str) -> anyhow::Result<()> {
        report.class_scores(
            &format!("{title}: confusion matrix"),
            &self.classes,
            &self.confusion,
        )?;
        if let (Some(curve), Some(a)) = (&self.roc, self.auc) {
            report.roc(&format!("{title}: ROC"), curve, a)?;
        }
        Ok(())
    }
}

/// Index of the largest value (the first of ties); 0 for an empty slice.
pub fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computed_values() {
        let classes = vec!["day".to_string(), "night".to_string()];
        // Three right (0.8, 0.7, 0.6 on the true class), one wrong (0.4).
        let c = Classification::from_binary(classes, vec![0, 1, 1, 0], &[0.2, 0.7, 0.6, 0.6]);
        assert_eq!(c.accuracy, 0.75);
        let expected = -(0.8f64.ln() + 0.7f64.ln() + 0.6f64.ln() + 0.4f64.ln()) / 4.0;
        assert!((c.log_loss - expected).abs() < 1e-6, "{}", c.log_loss);
        // Positives score 0.7 and 0.6; negatives 0.2 and 0.6: 3.5 of 4 pairs ordered.
        assert!((c.auc.unwrap() - 0.875).abs() < 1e-9, "{:?}", c.auc);
        assert_eq!(c.class_scores[1].support, 2);
        assert!(c
            .summary("images")
            .starts_with("accuracy 75.00% on 4 images"));
    }

    #[test]
    fn no_roc_without_both_classes_or_with_more_than_two() {
        let two = vec!["a".to_string(), "b".to_string()];
        assert!(Classification::from_binary(two, vec![1, 1], &[0.9, 0.2])
            .auc
            .is_none());
        let three = vec!["a".into(), "b".into(), "c".into()];
        let c = Classification::from_probabilities(
            three,
            vec![0, 2],
            vec![vec![0.5, 0.3, 0.2], vec![0.1, 0.1, 0.8]],
        );
        assert!(c.roc.is_none() && c.accuracy == 1.0);
        assert_eq!(argmax(&[0.2, 0.5, 0.5]), 1);
    }
}
