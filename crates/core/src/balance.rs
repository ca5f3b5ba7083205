//! Class balance: a report of counts and imbalance, and two mitigations —
//! loss weights inversely proportional to class frequency, or a sampler that
//! draws every class equally often.

use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// How to counter class imbalance during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// Train on the data as it is.
    #[default]
    None,
    /// Weight each class's loss by `n / (k * n_c)` (scikit-learn's "balanced").
    Weights,
    /// Draw training items so that each class is seen equally often.
    Sampler,
}

impl crate::choice::Choice for Balance {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (Self::None, "none", "train on the data as it is"),
        (
            Self::Weights,
            "weights",
            "weight each class's loss by n/(k·n_c) (scikit-learn's \"balanced\")",
        ),
        (
            Self::Sampler,
            "sampler",
            "draw training items so that each class is seen equally often",
        ),
    ];
}

/// Class counts with the imbalance ratio (largest / smallest class).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceReport {
    pub classes: Vec<String>,
    pub counts: Vec<usize>,
    pub imbalance_ratio: f64,
}

impl BalanceReport {
    pub fn new(classes: &[String], labels: &[usize]) -> Self {
        let mut counts = vec![0usize; classes.len()];
        for &l in labels {
            counts[l] += 1;
        }
        let max = counts.iter().copied().max().unwrap_or(0) as f64;
        let min = counts.iter().copied().min().unwrap_or(0) as f64;
        let imbalance_ratio = if min > 0.0 { max / min } else { f64::INFINITY };
        Self {
            classes: classes.to_vec(),
            counts,
            imbalance_ratio,
        }
    }

    /// A short advice line for the report.
    pub fn advice(&self) -> &'static str {
        if self.imbalance_ratio <= 1.5 {
            "balanced: no mitigation needed"
        } else if self.imbalance_ratio <= 4.0 {
            "mildly imbalanced: consider --balance weights"
        } else {
            "strongly imbalanced: use --balance weights or --balance sampler, and read per-class recall, not accuracy"
        }
    }

    /// Human-readable table.
    pub fn to_text(&self) -> String {
        let total: usize = self.counts.iter().sum();
        let mut s = String::new();
        for (c, n) in self.classes.iter().zip(&self.counts) {
            let pct = 100.0 * *n as f64 / total.max(1) as f64;
            s.push_str(&format!("  {c:<16} {n:>7}  {pct:5.1}%\n"));
        }
        s.push_str(&format!(
            "  imbalance ratio {:.2} — {}\n",
            self.imbalance_ratio,
            self.advice()
        ));
        s
    }
}

/// Per-class loss weights `n / (k * n_c)`; a class with no items gets weight 0.
pub fn class_weights(counts: &[usize]) -> Vec<f32> {
    let n: usize = counts.iter().sum();
    let k = counts.iter().filter(|&&c| c > 0).count().max(1);
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                n as f32 / (k as f32 * c as f32)
            }
        })
        .collect()
}

/// Draws `count` item indices with replacement so that every class is equally
/// likely (each item weighted by the inverse of its class size).
pub fn balanced_sample(labels: &[usize], count: usize, rng: &mut impl Rng) -> Vec<usize> {
    let k = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut counts = vec![0usize; k];
    for &l in labels {
        counts[l] += 1;
    }
    let weights: Vec<f64> = labels.iter().map(|&l| 1.0 / counts[l] as f64).collect();
    match WeightedIndex::new(&weights) {
        Ok(dist) => (0..count).map(|_| dist.sample(rng)).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn weights_match_sklearn_balanced() {
        // sklearn: n_samples / (n_classes * bincount) = 100 / (2 * [80, 20]).
        let w = class_weights(&[80, 20]);
        assert!(
            (w[0] - 0.625).abs() < 1e-6 && (w[1] - 2.5).abs() < 1e-6,
            "{w:?}"
        );
        // Weighted counts are equal across classes.
        assert!((80.0 * w[0] - 20.0 * w[1]).abs() < 1e-4);
    }

    #[test]
    fn report_counts_and_ratio() {
        let classes = vec!["a".to_string(), "b".to_string()];
        let r = BalanceReport::new(&classes, &[0, 0, 0, 0, 1]);
        assert_eq!(r.counts, vec![4, 1]);
        assert_eq!(r.imbalance_ratio, 4.0);
        assert!(r.to_text().contains("imbalance ratio 4.00"));
    }

    #[test]
    fn sampler_evens_out_classes() {
        let labels: Vec<usize> = (0..1000).map(|i| usize::from(i >= 900)).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let drawn = balanced_sample(&labels, 10_000, &mut rng);
        let minority = drawn.iter().filter(|&&i| labels[i] == 1).count();
        assert!(
            (4500..5500).contains(&minority),
            "minority drawn {minority} of 10000"
        );
    }
}
