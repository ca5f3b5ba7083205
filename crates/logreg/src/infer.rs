//! A trained logistic-regression model: encoders + weights, saved as one
//! casebook model file; predicting appends probabilities and label names.

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::{Device, Tensor, TensorData};
use casebook_core::checkpoint::{module_from_bytes, module_to_bytes};
use casebook_core::model_file::{ModelFile, ModelMeta};
use serde::{Deserialize, Serialize};

use crate::data::{EncodeNotes, Features, Mode, Table, Targets};
use crate::model::{LogisticRegression, TASK};

/// What the model file's architecture section holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Architecture {
    mode: Mode,
    inputs: usize,
    outputs: usize,
    targets: Targets,
}

#[derive(Debug)]
pub struct Model {
    pub net: LogisticRegression,
    pub features: Features,
    pub targets: Targets,
}

impl Model {
    pub fn save(&self, path: &Path, training: serde_json::Value) -> Result<()> {
        let arch = Architecture {
            mode: self.targets.mode,
            inputs: self.features.width(),
            outputs: self.targets.output_names().len(),
            targets: self.targets.clone(),
        };
        let meta = ModelMeta {
            task: TASK.into(),
            casebook_version: casebook_core::VERSION.into(),
            classes: self.targets.output_names(),
            preprocessing: serde_json::to_value(&self.features)?,
            architecture: serde_json::to_value(&arch)?,
            training,
        };
        ModelFile {
            meta,
            weights: module_to_bytes(&self.net)?,
        }
        .save(path)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let file = ModelFile::load_for_task(path, TASK)?;
        let arch: Architecture = file.architecture(path)?;
        let features: Features = file.preprocessing(path)?;
        let device = casebook_core::device::compute_device();
        let net = module_from_bytes(
            LogisticRegression::new(arch.inputs, arch.outputs, &device),
            &file.weights,
        )
        .with_context(|| format!("cannot load weights from {}", path.display()))?;
        Ok(Self {
            net,
            features,
            targets: arch.targets,
        })
    }

    /// Probabilities `[rows, outputs]` for the given rows of `table`.
    pub fn probabilities(&self, table: &Table, rows: &[usize]) -> Result<(Vec<f32>, EncodeNotes)> {
        let (x, notes) = self.features.encode(table, rows)?;
        let device: Device = burn::module::Module::devices(&self.net)
            .first()
            .cloned()
            .unwrap_or_else(Device::flex);
        let x = Tensor::<2>::from_data(
            TensorData::new(x, [rows.len(), self.features.width()]),
            &device,
        );
        let p = self
            .net
            .probabilities(x, self.targets.mode)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        Ok((p, notes))
    }

    /// Decodes one row of probabilities to the original label string(s).
    pub fn decode(&self, p: &[f32]) -> String {
        let names = self.targets.class_names();
        match self.targets.mode {
            Mode::Binary => names[usize::from(p[0] >= 0.5)].clone(),
            Mode::Multiclass => names[p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i)]
            .clone(),
            Mode::Multilabel => {
                let on: Vec<&str> = names
                    .iter()
                    .zip(p)
                    .filter(|(_, &v)| v >= 0.5)
                    .map(|(n, _)| n.as_str())
                    .collect();
                on.join(";")
            }
        }
    }

    /// Writes `table` with probability columns and the predicted label(s) appended.
    pub fn predict_csv(&self, table: &Table, out: &Path) -> Result<EncodeNotes> {
        let rows: Vec<usize> = (0..table.rows.len()).collect();
        let (p, notes) = self.probabilities(table, &rows)?;
        let k = self.targets.output_names().len();
        let target = self.targets.columns().join("+");
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut header = table.headers.clone();
        header.extend(self.targets.output_names().iter().map(|n| format!("p_{n}")));
        header.push(format!("predicted_{target}"));
        writer.write_record(&header)?;
        for (r, probs) in p.chunks(k).enumerate() {
            let mut record = table.rows[r].clone();
            record.extend(probs.iter().map(|v| format!("{v:.6}")));
            record.push(self.decode(probs));
            writer.write_record(&record)?;
        }
        let bytes = writer
            .into_inner()
            .map_err(|e| anyhow::anyhow!("cannot write CSV: {e}"))?;
        casebook_core::fsx::write_atomic(out, &bytes)?;
        Ok(notes)
    }
}

/// Lines that tell the user about imputed values and unseen categories.
pub fn describe_notes(notes: &EncodeNotes) -> Vec<String> {
    let mut lines = Vec::new();
    if notes.imputed > 0 {
        lines.push(format!("imputed {} missing feature values", notes.imputed));
    }
    for ((column, value), count) in &notes.unseen {
        lines.push(format!("warning: column '{column}' has category '{value}' ({count} rows) not seen in training; it maps to the unknown slot"));
    }
    lines
}
