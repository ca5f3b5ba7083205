//! The classification report every case shares: accuracy, log-loss, the
//! confusion matrix with per-class precision/recall/F1, ROC and AUC for two
//! classes, as terminal lines and report sections. The image classifier uses it
//! as it is; logistic regression once per target (binary, multiclass) or per
//! label (multilabel); verification and recognition reuse its ROC.

use std::path::Path;

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
    /// The per-class scores' plain and support-weighted means.
    pub macro_average: ClassScores,
    pub weighted_average: ClassScores,
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
        let class_scores = confusion.class_scores();
        let macro_average = ClassScores::macro_average(&class_scores);
        let weighted_average = ClassScores::weighted_average(&class_scores);
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
            class_scores,
            confusion,
            macro_average,
            weighted_average,
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
            "accuracy {:.2}% on {} {items}{}, log-loss {:.4}",
            100.0 * self.accuracy,
            self.count,
            self.accuracy_interval()
                .map_or(String::new(), |(low, high)| format!(
                    " (95 % interval {:.1}–{:.1} %)",
                    100.0 * low,
                    100.0 * high
                )),
            self.log_loss
        );
        if let Some(a) = self.auc {
            s.push_str(&format!(", ROC AUC {a:.4}"));
        }
        s
    }

    /// Wilson's 95 % interval of the accuracy: how far it could be from the
    /// accuracy on all such items, on this few (`None` without items).
    pub fn accuracy_interval(&self) -> Option<(f64, f64)> {
        let right = (self.accuracy * self.count as f64).round() as usize;
        crate::interval::wilson(right, self.count)
    }

    /// One line of precision, recall and F1 for class `i`.
    /// The recall carries its 95 % interval: per-class counts are often
    /// small (19 night photos: one more or less moves recall by 5 points).
    pub fn class_line(&self, i: usize, items: &str) -> String {
        let sc = &self.class_scores[i];
        let found = (sc.recall * sc.support as f64).round() as usize;
        let interval = crate::interval::wilson(found, sc.support)
            .map_or(String::new(), |(low, high)| {
                format!(" [{low:.3}–{high:.3}]")
            });
        format!(
            "  {:<20} precision {:.3}  recall {:.3}{interval}  F1 {:.3}  ({} {items})",
            self.classes[i], sc.precision, sc.recall, sc.f1, sc.support
        )
    }

    /// The headline, one line per class and the averages, for the terminal.
    pub fn summary(&self, items: &str) -> String {
        let mut s = self.headline(items);
        s.push('\n');
        for i in 0..self.classes.len() {
            s.push_str(&self.class_line(i, items));
            s.push('\n');
        }
        s.push_str(&self.averages_line());
        s.push('\n');
        s
    }

    /// The macro and weighted average F1: one number per class, and one
    /// weighted by the classes' sizes.
    pub fn averages_line(&self) -> String {
        format!(
            "  F1 macro average {:.3}, weighted average {:.3}",
            self.macro_average.f1, self.weighted_average.f1
        )
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

/// What one evaluated item is: a file, or a line of a CSV file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Item {
    File(String),
    Line(u64),
}

/// One item's result as every `eval` writes it (`predictions.csv` in the
/// run folder, and `--json`): the same fields in every case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub item: Item,
    /// The true class.
    pub label: String,
    pub prediction: String,
    /// The probability the model gave its prediction.
    pub probability: f32,
    /// The probability it gave the true class: low on a confident mistake
    /// (fastai's "top losses" are the lowest).
    pub label_probability: f32,
}

impl Classification {
    /// Each item's outcome, in order; `item(i)` says what item `i` is.
    pub fn outcomes(&self, item: impl Fn(usize) -> Item) -> Vec<Outcome> {
        self.truth
            .iter()
            .zip(&self.probabilities)
            .enumerate()
            .map(|(i, (&truth, p))| {
                let predicted = argmax(p);
                Outcome {
                    item: item(i),
                    label: self.classes[truth].clone(),
                    prediction: self.classes[predicted].clone(),
                    probability: p[predicted],
                    label_probability: p[truth],
                }
            })
            .collect()
    }
}

/// The name of the per-item file in an evaluation's run folder.
pub const OUTCOMES_FILE: &str = "predictions.csv";

/// Writes `outcomes` as CSV (header `file` or `line`, then `label`,
/// `prediction`, `probability`, `label_probability`), atomically.
pub fn write_outcomes(path: &Path, outcomes: &[Outcome]) -> anyhow::Result<()> {
    let item_column = match outcomes.first().map(|o| &o.item) {
        Some(Item::Line(_)) => "line",
        _ => "file",
    };
    let rows: Vec<[String; 5]> = outcomes
        .iter()
        .map(|o| {
            let item = match &o.item {
                Item::File(f) => f.clone(),
                Item::Line(l) => l.to_string(),
            };
            [
                item,
                o.label.clone(),
                o.prediction.clone(),
                o.probability.to_string(),
                o.label_probability.to_string(),
            ]
        })
        .collect();
    crate::fsx::write_csv(
        path,
        &[
            item_column,
            "label",
            "prediction",
            "probability",
            "label_probability",
        ],
        &rows,
    )
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
        // 'day' found 1 of 2 times: recall 0.5, interval 9.5–90.5 %.
        assert!(c
            .class_line(0, "images")
            .contains("recall 0.500 [0.095–0.905]"));
        // 3 of 4: Wilson's interval is 30.1–95.4 %.
        assert!(
            c.summary("images")
                .starts_with("accuracy 75.00% on 4 images (95 % interval 30.1–95.4 %)"),
            "{}",
            c.summary("images")
        );
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

    #[test]
    fn outcomes_name_each_item_and_round_trip_through_csv() {
        let classes = vec!["day".to_string(), "night, dark".to_string()];
        let c = Classification::from_binary(classes, vec![0, 1], &[0.9, 0.75]);
        let outcomes = c.outcomes(|i| Item::File(format!("pic{i}.png")));
        assert_eq!(outcomes[0].label, "day");
        assert_eq!(outcomes[0].prediction, "night, dark");
        assert!((outcomes[0].probability - 0.9).abs() < 1e-6);
        assert!((outcomes[0].label_probability - 0.1).abs() < 1e-6);
        assert_eq!(outcomes[1].prediction, "night, dark");
        let json = serde_json::to_value(&outcomes[1]).unwrap();
        assert_eq!(json["file"], "pic1.png");
        assert_eq!(json["label"], "night, dark");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(OUTCOMES_FILE);
        write_outcomes(&path, &outcomes).unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        assert_eq!(
            reader.headers().unwrap(),
            vec![
                "file",
                "label",
                "prediction",
                "probability",
                "label_probability"
            ]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][0], "pic0.png");
        assert_eq!(&rows[0][2], "night, dark");
        let lines = c.outcomes(|i| Item::Line(i as u64 + 2));
        write_outcomes(&path, &lines).unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        assert_eq!(&reader.headers().unwrap()[0], "line");
        assert_eq!(&reader.records().next().unwrap().unwrap()[0], "2");
    }
}
