//! Small synthetic tables for each mode (`casebook data tabular`), made from
//! a known logistic model so the right answer exists: numeric columns,
//! a categorical column, and a few missing values.

use std::path::Path;

use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::Mode;

fn normal(rng: &mut impl Rng) -> f64 {
    rng.sample(StandardNormal)
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

const COLORS: [&str; 3] = ["blue", "green", "red"];
const SPECIES: [&str; 3] = ["bird", "cat", "dog"];
const TAGS: [&str; 3] = ["politics", "sports", "tech"];

/// Writes a CSV of `rows` rows for `mode`; returns the target column(s).
pub fn write_table(path: &Path, mode: Mode, rows: usize, seed: u64) -> Result<Vec<String>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = csv::Writer::from_writer(Vec::new());
    let targets = match mode {
        Mode::Binary => vec!["approved".to_string()],
        Mode::Multiclass => vec!["species".to_string()],
        Mode::Multilabel => vec!["tags".to_string()],
    };
    out.write_record(["id", "x1", "x2", "x3", "color", &targets[0]])?;
    for i in 0..rows {
        let x: [f64; 3] = [
            normal(&mut rng),
            normal(&mut rng),
            normal(&mut rng) * 2.0 + 1.0,
        ];
        let color = rng.gen_range(0..COLORS.len());
        let color_effect = [-1.0, 0.0, 1.0][color];
        let label = match mode {
            Mode::Binary => {
                let z = 2.0 * x[0] - 1.5 * x[1] + 0.5 * x[2] - 0.5 + 1.5 * color_effect;
                if rng.gen_bool(sigmoid(z)) {
                    "yes"
                } else {
                    "no"
                }
                .to_string()
            }
            Mode::Multiclass => {
                let z = [
                    x[0] * 2.0 + color_effect,
                    x[1] * 2.0 - color_effect,
                    0.5 * x[2] - 0.5,
                ];
                let m = z.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
                let total: f64 = e.iter().sum();
                let mut u = rng.gen::<f64>() * total;
                let mut c = 0;
                while c < 2 && u > e[c] {
                    u -= e[c];
                    c += 1;
                }
                SPECIES[c].to_string()
            }
            Mode::Multilabel => {
                let z = [2.0 * x[0] - 0.5, -2.0 * x[1] + color_effect, x[2] - 1.0];
                let on: Vec<&str> = TAGS
                    .iter()
                    .zip(z)
                    .filter(|(_, z)| rng.gen_bool(sigmoid(*z * 1.5)))
                    .map(|(t, _)| *t)
                    .collect();
                on.join(";")
            }
        };
        // About 3% of feature values are missing, as in real tables.
        let cell =
            |rng: &mut ChaCha8Rng, v: String| if rng.gen_bool(0.03) { String::new() } else { v };
        let record = [
            format!("r{i:05}"),
            cell(&mut rng, format!("{:.4}", x[0])),
            cell(&mut rng, format!("{:.4}", x[1])),
            cell(&mut rng, format!("{:.4}", x[2])),
            cell(&mut rng, COLORS[color].to_string()),
            label,
        ];
        out.write_record(&record)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write CSV: {e}"))?;
    casebook_core::fsx::write_atomic(path, &bytes)?;
    Ok(targets)
}
