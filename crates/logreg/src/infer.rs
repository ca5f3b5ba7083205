//! A trained logistic-regression model: encoders + weights, saved as one
//! casebook model file; predicting appends probabilities and label names.

use std::path::Path;

use anyhow::{bail, Context, Result};
use burn::tensor::{Device, Tensor, TensorData};
use casebook_core::checkpoint::{module_from_bytes, module_to_bytes};
use casebook_core::model_file::{ModelFile, SavedModel, WEIGHTS};
use serde::{Deserialize, Serialize};

use crate::data::{EncodeNotes, Features, Mode, Table, TableChunks, Targets};
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
        let p = casebook_core::tensor::values(self.net.probabilities(x, self.targets.mode));
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

    /// The header of the predictions of a file with columns `headers`: them,
    /// a probability per output and the predicted label(s).
    fn predictions_header(&self, headers: &[String]) -> Vec<String> {
        let mut header = headers.to_vec();
        header.extend(self.targets.output_names().iter().map(|n| format!("p_{n}")));
        header.push(format!("predicted_{}", self.targets.columns().join("+")));
        header
    }

    /// Writes `table`'s rows with their probabilities and predicted
    /// label(s) appended.
    fn write_predictions(
        &self,
        table: &Table,
        writer: &mut csv::Writer<impl std::io::Write>,
    ) -> Result<EncodeNotes> {
        let rows: Vec<usize> = (0..table.len()).collect();
        let (p, notes) = self.probabilities(table, &rows)?;
        let k = self.targets.output_names().len();
        for (r, probs) in p.chunks(k).enumerate() {
            let mut record: Vec<String> = table.row(r).map(String::from).collect();
            record.extend(probs.iter().map(|v| format!("{v:.6}")));
            record.push(self.decode(probs));
            writer.write_record(&record)?;
        }
        Ok(notes)
    }
}

/// Lines that tell the user about imputed values and unseen categories.
impl SavedModel for Model {
    const TASK: &'static str = TASK;

    fn to_file(&self, training: serde_json::Value) -> Result<ModelFile> {
        let arch = Architecture {
            mode: self.targets.mode,
            inputs: self.features.width(),
            outputs: self.targets.output_names().len(),
            targets: self.targets.clone(),
        };
        Ok(ModelFile::new(
            TASK,
            self.targets.output_names(),
            &self.features,
            &arch,
            training,
        )?
        .with_section(WEIGHTS, module_to_bytes(&self.net)?))
    }

    fn from_file(file: &ModelFile, path: &Path) -> Result<Self> {
        let arch: Architecture = file.architecture(path)?;
        let features: Features = file.preprocessing(path)?;
        arch.targets.check().map_err(|e| {
            anyhow::anyhow!(
                "{}'s targets are damaged ({e}); retrain the model",
                path.display()
            )
        })?;
        if arch.inputs != features.width()
            || arch.outputs != arch.targets.output_names().len()
            || arch.mode != arch.targets.mode
        {
            bail!(
                "{}'s sections do not fit together ({} inputs for {} encoded features, {} outputs for {} targets); retrain the model",
                path.display(),
                arch.inputs,
                features.width(),
                arch.outputs,
                arch.targets.output_names().len()
            );
        }
        let device = casebook_core::device::compute_device();
        let net = module_from_bytes(
            LogisticRegression::new(arch.inputs, arch.outputs, &device),
            file.section(WEIGHTS, path)?,
        )
        .with_context(|| format!("cannot load weights from {}", path.display()))?;
        Ok(Self {
            net,
            features,
            targets: arch.targets,
        })
    }
}

/// Rows predicted per part of the input: the file streams through in parts,
/// so memory stays flat on files of any length.
const ROWS_PER_PART: usize = 16_384;

/// Writes `data` with probability columns and the predicted label(s)
/// appended to `out` (atomically); returns the number of rows.
pub fn predict_csv(
    model: &Path,
    data: &Path,
    out: &Path,
    observer: &dyn casebook_core::observe::Observer,
) -> Result<usize> {
    let model = Model::load(model)?;
    let mut parts = TableChunks::open(data)?;
    let (mut rows, mut notes) = (0, EncodeNotes::default());
    casebook_core::fsx::write_atomic_with(out, |file| {
        let mut writer = csv::Writer::from_writer(file);
        writer.write_record(model.predictions_header(parts.headers()))?;
        while let Some(table) = parts.next_chunk(ROWS_PER_PART)? {
            notes.add(model.write_predictions(&table, &mut writer)?);
            rows += table.len();
        }
        if rows == 0 {
            bail!("{} has a header but no data rows", data.display());
        }
        Ok(writer.flush()?)
    })?;
    for line in describe_notes(&notes) {
        observer.note(&line);
    }
    Ok(rows)
}

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
