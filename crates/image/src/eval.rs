//! Evaluating a classifier on a labelled image set: accuracy, log-loss,
//! confusion matrix, per-class precision/recall/F1, ROC for two classes, and
//! the matching report sections.

use casebook_core::metrics::{accuracy, auc, roc_curve, ClassScores, ConfusionMatrix, RocPoint};
use casebook_core::report::Report;
use serde::Serialize;

use crate::data::ImageSet;
use crate::infer::Classifier;

/// Everything measured on one evaluation set.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub classes: Vec<String>,
    pub count: usize,
    pub accuracy: f64,
    pub log_loss: f64,
    pub confusion: ConfusionMatrix,
    pub class_scores: Vec<ClassScores>,
    /// ROC of the second class against the first (two-class sets only).
    pub roc: Option<Vec<RocPoint>>,
    pub auc: Option<f64>,
    #[serde(skip)]
    pub truth: Vec<usize>,
    #[serde(skip)]
    pub probabilities: Vec<Vec<f32>>,
}

pub fn evaluate(classifier: &Classifier, set: &ImageSet) -> Evaluation {
    let probabilities = classifier.probabilities(&set.images);
    from_probabilities(
        classifier.classes().to_vec(),
        set.labels.clone(),
        probabilities,
    )
}

/// Computes every metric from predicted probabilities and true labels.
pub fn from_probabilities(
    classes: Vec<String>,
    truth: Vec<usize>,
    probabilities: Vec<Vec<f32>>,
) -> Evaluation {
    let predicted: Vec<usize> = probabilities
        .iter()
        .map(|p| {
            p.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i)
        })
        .collect();
    let log_loss = truth
        .iter()
        .zip(&probabilities)
        .map(|(&t, p)| -(p[t].max(1e-7) as f64).ln())
        .sum::<f64>()
        / truth.len().max(1) as f64;
    let confusion = ConfusionMatrix::new(classes.len(), &truth, &predicted);
    // ROC needs both classes present; with one, AUC is undefined.
    let both_present = truth.contains(&0) && truth.contains(&1);
    let (roc, auc_value) = if classes.len() == 2 && both_present {
        let scores: Vec<f64> = probabilities.iter().map(|p| p[1] as f64).collect();
        let positive: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
        let curve = roc_curve(&scores, &positive);
        let a = auc(&curve);
        (Some(curve), Some(a))
    } else {
        (None, None)
    };
    Evaluation {
        count: truth.len(),
        accuracy: accuracy(&truth, &predicted),
        log_loss,
        class_scores: confusion.class_scores(),
        confusion,
        roc,
        auc: auc_value,
        classes,
        truth,
        probabilities,
    }
}

impl Evaluation {
    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "accuracy {:.2}% on {} images, log-loss {:.4}",
            100.0 * self.accuracy,
            self.count,
            self.log_loss
        );
        if let Some(a) = self.auc {
            s.push_str(&format!(", ROC AUC {a:.4}"));
        }
        s.push('\n');
        for (c, sc) in self.classes.iter().zip(&self.class_scores) {
            s.push_str(&format!(
                "  {c:<14} precision {:.3}  recall {:.3}  F1 {:.3}  ({} images)\n",
                sc.precision, sc.recall, sc.f1, sc.support
            ));
        }
        s
    }

    /// Adds the metrics table, confusion matrix and ROC plot to a report.
    pub fn add_to_report(&self, report: &mut Report, title: &str) -> anyhow::Result<()> {
        report.heading(title);
        let mut line = format!(
            "Accuracy {:.2}% on {} images; log-loss {:.4}.",
            100.0 * self.accuracy,
            self.count,
            self.log_loss
        );
        if let Some(a) = self.auc {
            line.push_str(&format!(
                " ROC AUC {a:.4} ('{}' as the positive class).",
                self.classes[1]
            ));
        }
        report.paragraph(&line);
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
