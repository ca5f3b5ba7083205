//! Tabular data for logistic regression: reading CSV files, typing columns,
//! choosing the task from the target columns, and encoding features and
//! targets into matrices. The fitted encoders are stored in the model file so
//! prediction prepares new rows exactly as training did.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use casebook_core::choice::Choice;
use casebook_core::encoding::LabelEncoder;

pub mod generate;
use serde::{Deserialize, Serialize};

/// A CSV file held as text; `cell(r, c)` is row `r`'s value in column `c`,
/// `line(r)` its line in the file.
#[derive(Debug, Clone)]
pub struct Table {
    pub headers: Vec<String>,
    /// Every cell, row after row, in one buffer: a `String` per cell cost
    /// ~40 bytes for cells of a few characters (a 148 MB CSV took 950 MB).
    text: String,
    /// Where each cell ends in `text`; row `r`, column `c` is cell `r · width + c`.
    ends: Vec<usize>,
    lines: Vec<u64>,
}

impl Table {
    /// Reads a CSV file with a header row. Ragged rows and empty files are
    /// errors that name the file and line.
    pub fn read(path: &Path) -> Result<Self> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Self::from_reader(file, &path.display().to_string())
    }

    pub fn from_reader(reader: impl std::io::Read, name: &str) -> Result<Self> {
        let mut chunks = TableChunks::new(reader, name)?;
        match chunks.next_chunk(usize::MAX)? {
            Some(table) => Ok(table),
            None => bail!("{name} has a header but no data rows"),
        }
    }

    /// The file line of row `i` (1-based, the header is line 1).
    pub fn line(&self, i: usize) -> u64 {
        self.lines.get(i).copied().unwrap_or(0)
    }

    /// The number of data rows.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Row `r`'s value in column `c`.
    pub fn cell(&self, r: usize, c: usize) -> &str {
        let i = r * self.headers.len() + c;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// Row `r`'s values.
    pub fn row(&self, r: usize) -> impl Iterator<Item = &str> {
        (0..self.headers.len()).map(move |c| self.cell(r, c))
    }

    /// The index of column `name`, or an error listing the columns.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.headers
            .iter()
            .position(|h| h == name)
            .with_context(|| {
                format!(
                    "no column named '{name}'; the columns are: {}",
                    self.headers.join(", ")
                )
            })
    }
}

/// A CSV file read a number of rows at a time, each part a [`Table`] with
/// the file's header and line numbers: prediction streams files larger than
/// memory (a 200 MB CSV held whole peaked at 2.3 GB).
pub struct TableChunks<R: std::io::Read> {
    csv: csv::Reader<R>,
    headers: Vec<String>,
    name: String,
}

impl TableChunks<std::fs::File> {
    pub fn open(path: &Path) -> Result<Self> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Self::new(file, &path.display().to_string())
    }
}

impl<R: std::io::Read> TableChunks<R> {
    /// Reads and checks the header row. An empty file and two columns of one
    /// name are errors.
    pub fn new(reader: R, name: &str) -> Result<Self> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let headers: Vec<String> = csv
            .headers()
            .with_context(|| format!("{name}: cannot read the header row"))?
            .iter()
            .map(String::from)
            .collect();
        if headers.is_empty() || headers.iter().all(String::is_empty) {
            bail!("{name} is empty: expected a header row and data rows");
        }
        // Columns are found by name: a second column of the same name
        // would never be read.
        for (i, header) in headers.iter().enumerate() {
            if headers[..i].contains(header) {
                bail!(
                    "{name}: two columns are named '{header}' (columns {} and {}); rename one",
                    headers[..i].iter().position(|h| h == header).unwrap_or(0) + 1,
                    i + 1
                );
            }
        }
        Ok(Self {
            csv,
            headers,
            name: name.to_string(),
        })
    }

    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The next (at most) `rows` rows; `None` at the end of the file. A
    /// ragged row is an error naming its line.
    pub fn next_chunk(&mut self, rows: usize) -> Result<Option<Table>> {
        let name = &self.name;
        let (mut text, mut ends, mut lines) = (String::new(), Vec::new(), Vec::new());
        let mut record = csv::StringRecord::new();
        while lines.len() < rows {
            let more = self
                .csv
                .read_record(&mut record)
                .map_err(|e| match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        pos,
                        expected_len,
                        len,
                    } => anyhow::anyhow!(
                        "{name}, line {}: {len} fields where the header has {expected_len}",
                        pos.as_ref().map_or(0, |p| p.line())
                    ),
                    _ => anyhow::anyhow!("{name}: {e}"),
                })?;
            if !more {
                break;
            }
            lines.push(record.position().map_or(0, |p| p.line()));
            for value in &record {
                text.push_str(value);
                ends.push(text.len());
            }
        }
        text.shrink_to_fit();
        ends.shrink_to_fit();
        Ok((!lines.is_empty()).then(|| Table {
            headers: self.headers.clone(),
            text,
            ends,
            lines,
        }))
    }
}

/// A value that stands for "missing".
pub fn is_missing(value: &str) -> bool {
    matches!(
        value.trim(),
        "" | "NA" | "N/A" | "NaN" | "nan" | "?" | "null" | "NULL"
    )
}

/// The three kinds of logistic regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One target with two values: one sigmoid output.
    Binary,
    /// Several 0/1 targets (or `;`-separated tags): independent sigmoids.
    Multilabel,
    /// One target with more than two values: softmax over one output per class.
    Multiclass,
}

/// How the targets are laid out in the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TargetSpec {
    /// One column of class names (binary or multiclass).
    Classes {
        column: String,
        classes: LabelEncoder,
    },
    /// Several 0/1 columns, one per label.
    Flags { columns: Vec<String> },
    /// One column of `;`-separated tags.
    Tags {
        column: String,
        labels: LabelEncoder,
    },
}

/// The targets, with the mode they imply and the names of the model outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    pub mode: Mode,
    pub spec: TargetSpec,
}

fn flag(value: &str) -> Option<f32> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "1.0" | "true" | "yes" => Some(1.0),
        "0" | "0.0" | "false" | "no" => Some(0.0),
        _ => None,
    }
}

impl Targets {
    /// Picks the mode from the target columns (`mode` forces one) and fits the
    /// label encoders on `rows`.
    pub fn fit(
        table: &Table,
        columns: &[String],
        mode: Option<Mode>,
        rows: &[usize],
    ) -> Result<Self> {
        let idx: Vec<usize> = columns
            .iter()
            .map(|c| table.column(c))
            .collect::<Result<_>>()?;
        let values = |col: usize| {
            rows.iter()
                .map(move |&r| table.cell(r, col))
                .filter(|v| !is_missing(v))
        };
        if idx.len() > 1 {
            if matches!(mode, Some(Mode::Binary | Mode::Multiclass)) {
                bail!(
                    "{} mode takes one --target column; several columns mean multilabel",
                    mode.unwrap_or(Mode::Binary).name()
                );
            }
            for (&col, name) in idx.iter().zip(columns) {
                if let Some(bad) = values(col).find(|v| flag(v).is_none()) {
                    bail!("multilabel target column '{name}' must hold 0/1 values, found '{bad}'");
                }
            }
            return Ok(Self {
                mode: Mode::Multilabel,
                spec: TargetSpec::Flags {
                    columns: columns.to_vec(),
                },
            });
        }
        let (col, name) = (idx[0], columns[0].clone());
        let tagged = values(col).any(|v| v.contains(';'));
        if tagged || mode == Some(Mode::Multilabel) {
            let labels = LabelEncoder::fit(
                values(col).flat_map(|v| v.split(';').map(str::trim).filter(|t| !t.is_empty())),
            );
            if labels.is_empty() {
                bail!("target column '{name}' holds no tags");
            }
            return Ok(Self {
                mode: Mode::Multilabel,
                spec: TargetSpec::Tags {
                    column: name,
                    labels,
                },
            });
        }
        let classes = LabelEncoder::fit(values(col));
        let auto = match classes.len() {
            0 | 1 => bail!(
                "target column '{name}' has {} distinct value(s); a classifier needs at least two",
                classes.len()
            ),
            2 => Mode::Binary,
            _ => Mode::Multiclass,
        };
        let mode = match mode {
            Some(Mode::Binary) if classes.len() > 2 => {
                bail!(
                    "--mode binary, but '{name}' has {} values: use --mode multiclass",
                    classes.len()
                )
            }
            Some(m) => m,
            None => auto,
        };
        Ok(Self {
            mode,
            spec: TargetSpec::Classes {
                column: name,
                classes,
            },
        })
    }

    /// Refuses a layout its mode cannot use (as a crafted model file could
    /// hold): binary needs exactly two classes, multiclass at least two, the
    /// multilabel layouts at least one label.
    pub fn check(&self) -> Result<()> {
        let fits = match (&self.spec, self.mode) {
            (TargetSpec::Classes { classes, .. }, Mode::Binary) => classes.len() == 2,
            (TargetSpec::Classes { classes, .. }, Mode::Multiclass) => classes.len() >= 2,
            (TargetSpec::Flags { columns }, Mode::Multilabel) => !columns.is_empty(),
            (TargetSpec::Tags { labels, .. }, Mode::Multilabel) => !labels.is_empty(),
            _ => false,
        };
        if !fits {
            bail!(
                "the targets do not fit the {} mode: {:?}",
                self.mode.name(),
                self.spec
            );
        }
        Ok(())
    }

    /// Names of the model outputs: the positive class (binary), each class, or each label.
    pub fn output_names(&self) -> Vec<String> {
        match (&self.spec, self.mode) {
            (TargetSpec::Classes { classes, .. }, Mode::Binary) => {
                vec![classes.classes()[1].clone()]
            }
            (TargetSpec::Classes { classes, .. }, _) => classes.classes().to_vec(),
            (TargetSpec::Flags { columns }, _) => columns.clone(),
            (TargetSpec::Tags { labels, .. }, _) => labels.classes().to_vec(),
        }
    }

    /// Class names for confusion matrices: both classes (binary) or all (multiclass).
    pub fn class_names(&self) -> Vec<String> {
        match &self.spec {
            TargetSpec::Classes { classes, .. } => classes.classes().to_vec(),
            _ => self.output_names(),
        }
    }

    pub fn columns(&self) -> Vec<String> {
        match &self.spec {
            TargetSpec::Classes { column, .. } | TargetSpec::Tags { column, .. } => {
                vec![column.clone()]
            }
            TargetSpec::Flags { columns } => columns.clone(),
        }
    }

    /// Whether row `r` has a usable target (an empty tag list means "no tags").
    pub fn present(&self, table: &Table, r: usize) -> bool {
        matches!(self.spec, TargetSpec::Tags { .. })
            || self
                .columns()
                .iter()
                .all(|c| table.column(c).is_ok_and(|i| !is_missing(table.cell(r, i))))
    }

    /// The target matrix `[rows, outputs]` (0/1).
    pub fn encode(&self, table: &Table, rows: &[usize]) -> Result<Vec<f32>> {
        let k = self.output_names().len();
        let mut y = vec![0f32; rows.len() * k];
        for (i, &r) in rows.iter().enumerate() {
            let out = &mut y[i * k..(i + 1) * k];
            match &self.spec {
                TargetSpec::Classes { column, classes } => {
                    let v = table.cell(r, table.column(column)?);
                    let c = classes.encode(v).with_context(|| {
                        format!(
                            "line {}: target '{v}' is not one of the classes the model knows ({})",
                            table.line(r),
                            classes.classes().join(", ")
                        )
                    })?;
                    match self.mode {
                        Mode::Binary => out[0] = c as f32,
                        _ => out[c] = 1.0,
                    }
                }
                TargetSpec::Flags { columns } => {
                    for (j, c) in columns.iter().enumerate() {
                        let v = table.cell(r, table.column(c)?);
                        out[j] = flag(v).with_context(|| {
                            format!("line {}, column '{c}': '{v}' is not 0 or 1", table.line(r))
                        })?;
                    }
                }
                TargetSpec::Tags { column, labels } => {
                    for tag in table
                        .cell(r, table.column(column)?)
                        .split(';')
                        .map(str::trim)
                    {
                        if let Some(j) = labels.encode(tag) {
                            out[j] = 1.0;
                        }
                    }
                }
            }
        }
        Ok(y)
    }
}

impl Choice for Mode {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (
            Self::Binary,
            "binary",
            "one target with two values: one sigmoid output",
        ),
        (
            Self::Multilabel,
            "multilabel",
            "several 0/1 targets or `;`-separated tags: independent sigmoids",
        ),
        (
            Self::Multiclass,
            "multiclass",
            "one target with more than two values: softmax over the classes",
        ),
    ];
}

/// How string (categorical) columns become numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// One 0/1 input per category, plus one for categories unseen in training.
    #[default]
    Onehot,
    /// One input holding the category's code 0, 1, 2, ... (standardised).
    Label,
}

/// What to do with missing feature values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// Drop rows with any missing feature.
    Drop,
    /// Fill with the training mean (numbers) or most frequent value (categories).
    #[default]
    Impute,
}

impl Choice for Encoding {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (
            Self::Onehot,
            "onehot",
            "one 0/1 input per category (plus one for unseen ones): right for a linear model",
        ),
        (
            Self::Label,
            "label",
            "one input with the category's integer code: cheaper, but it tells a linear model that \
             categories are ordered and equally spaced, which is rarely true",
        ),
    ];
}

impl Choice for Missing {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (
            Self::Impute,
            "impute",
            "fill missing features with the training mean or most frequent category",
        ),
        (Self::Drop, "drop", "drop rows with any missing feature"),
    ];
}

/// A fitted feature column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FeatureColumn {
    Numeric {
        name: String,
        mean: f64,
        std: f64,
    },
    Categorical {
        name: String,
        categories: LabelEncoder,
        most_frequent: String,
        encoding: Encoding,
        code_mean: f64,
        code_std: f64,
    },
}

impl FeatureColumn {
    fn name(&self) -> &str {
        match self {
            Self::Numeric { name, .. } | Self::Categorical { name, .. } => name,
        }
    }
    /// Number of model inputs this column becomes.
    fn width(&self) -> usize {
        match self {
            Self::Categorical {
                categories,
                encoding: Encoding::Onehot,
                ..
            } => categories.len() + 1,
            _ => 1,
        }
    }
}

/// Rows below which a column of distinct values is not taken for an ID.
const MIN_ROWS_FOR_ID: usize = 20;

/// Whether column `name` looks like an identifier on `rows`: a different
/// text in every row, or the integers of a row count (1, 2, 3, …, in any
/// order). As a feature it can only memorise the training rows.
pub fn id_like(table: &Table, name: &str, rows: &[usize]) -> Result<bool> {
    let col = table.column(name)?;
    let values: Vec<&str> = rows
        .iter()
        .map(|&r| table.cell(r, col))
        .filter(|v| !is_missing(v))
        .collect();
    let distinct: std::collections::HashSet<&str> = values.iter().copied().collect();
    if values.len() < MIN_ROWS_FOR_ID || distinct.len() < values.len() {
        return Ok(false);
    }
    let integers: Option<Vec<i64>> = values.iter().map(|v| v.parse::<i64>().ok()).collect();
    Ok(match integers {
        Some(n) => {
            let (low, high) = (n.iter().min(), n.iter().max());
            matches!((low, high), (Some(l), Some(h)) if (h - l) as usize + 1 == n.len())
        }
        None => values.iter().all(|v| v.parse::<f64>().is_err()),
    })
}

/// The fitted feature encoder: column types, statistics and categories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Features {
    pub columns: Vec<FeatureColumn>,
    pub missing: Missing,
}

/// What encoding a table's rows found worth telling the user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodeNotes {
    pub imputed: usize,
    /// (column, category) pairs never seen in training, with counts.
    pub unseen: BTreeMap<(String, String), usize>,
}

impl EncodeNotes {
    /// Adds the notes of another part of the same data.
    pub fn add(&mut self, other: EncodeNotes) {
        self.imputed += other.imputed;
        for (pair, count) in other.unseen {
            *self.unseen.entry(pair).or_default() += count;
        }
    }
}

/// Mean and standard deviation (1 for a constant column), computed on the
/// values divided by the largest magnitude: squares of values past ~1e154
/// overflow, and an infinite deviation made a model that would not load.
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let scale = values.iter().fold(0f64, |m, v| m.max(v.abs()));
    if scale == 0.0 {
        return (0.0, 1.0);
    }
    let mean = values.iter().map(|v| v / scale).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|v| (v / scale - mean).powi(2))
        .sum::<f64>()
        / n;
    let std = scale * var.sqrt();
    (mean * scale, if std > 1e-12 { std } else { 1.0 })
}

/// `(v − mean) / std`, also where `v − mean` alone would overflow.
fn standardise(v: f64, mean: f64, std: f64) -> f64 {
    let z = (v - mean) / std;
    if z.is_finite() {
        z
    } else {
        v / std - mean / std
    }
}

impl Features {
    /// Types each column (numeric if every present value is a number) and fits
    /// statistics on `rows`. A column that is mostly numbers with a few words
    /// is a data error, reported with its line.
    pub fn fit(
        table: &Table,
        columns: &[String],
        encoding: Encoding,
        missing: Missing,
        rows: &[usize],
    ) -> Result<Self> {
        let mut fitted = Vec::new();
        for name in columns {
            let col = table.column(name)?;
            let present: Vec<(usize, &str)> = rows
                .iter()
                .map(|&r| (r, table.cell(r, col)))
                .filter(|(_, v)| !is_missing(v))
                .collect();
            let numbers: Vec<Option<f64>> =
                present.iter().map(|(_, v)| v.parse::<f64>().ok()).collect();
            let numeric_share =
                numbers.iter().filter(|x| x.is_some()).count() as f64 / present.len().max(1) as f64;
            // `inf` or `1e400` in a column of numbers is a number no model
            // can use (a share of them once made the column categorical).
            let overflow = present
                .iter()
                .zip(&numbers)
                .find(|(_, x)| x.is_some_and(|x| !x.is_finite()));
            if let (Some(((r, v), _)), true) = (overflow, numeric_share >= 0.9) {
                bail!(
                    "line {}, column '{name}': '{v}' is not a finite number; mark it missing \
                     (an empty field or NA) or remove the row",
                    table.line(*r)
                );
            }
            if numeric_share == 1.0 && !present.is_empty() {
                let values: Vec<f64> = numbers.into_iter().flatten().collect();
                let (mean, std) = mean_std(&values);
                fitted.push(FeatureColumn::Numeric {
                    name: name.clone(),
                    mean,
                    std,
                });
            } else if numeric_share >= 0.9 {
                let (r, v) = present
                    .iter()
                    .zip(&numbers)
                    .find(|(_, x)| x.is_none())
                    .map(|(p, _)| *p)
                    .unwrap_or((0, ""));
                bail!("line {}, column '{name}': '{v}' is not a number, but the rest of the column is numeric", table.line(r));
            } else {
                let categories = LabelEncoder::fit(present.iter().map(|(_, v)| *v));
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for (_, v) in &present {
                    *counts.entry(v).or_default() += 1;
                }
                let most_frequent = counts
                    .iter()
                    .max_by_key(|(_, &c)| c)
                    .map(|(v, _)| v.to_string())
                    .unwrap_or_default();
                let codes: Vec<f64> = present
                    .iter()
                    .filter_map(|(_, v)| categories.encode(v))
                    .map(|c| c as f64)
                    .collect();
                let (code_mean, code_std) = mean_std(&codes);
                fitted.push(FeatureColumn::Categorical {
                    name: name.clone(),
                    categories,
                    most_frequent,
                    encoding,
                    code_mean,
                    code_std,
                });
            }
        }
        Ok(Self {
            columns: fitted,
            missing,
        })
    }

    /// Number of model inputs.
    pub fn width(&self) -> usize {
        self.columns.iter().map(FeatureColumn::width).sum()
    }

    /// Names of the model inputs, for reports (`column=category` for one-hot).
    pub fn input_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for c in &self.columns {
            match c {
                FeatureColumn::Categorical {
                    name,
                    categories,
                    encoding: Encoding::Onehot,
                    ..
                } => {
                    names.extend(categories.classes().iter().map(|v| format!("{name}={v}")));
                    names.push(format!("{name}=<unknown>"));
                }
                other => names.push(other.name().to_string()),
            }
        }
        names
    }

    /// Rows whose features are all present (for `--missing drop`).
    pub fn complete(&self, table: &Table, r: usize) -> Result<bool> {
        for c in &self.columns {
            if is_missing(table.cell(r, table.column(c.name())?)) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The input matrix `[rows, width]`, row-major.
    pub fn encode(&self, table: &Table, rows: &[usize]) -> Result<(Vec<f32>, EncodeNotes)> {
        let width = self.width();
        let mut x = vec![0f32; rows.len() * width];
        let mut notes = EncodeNotes::default();
        let idx: Vec<usize> = self
            .columns
            .iter()
            .map(|c| table.column(c.name()))
            .collect::<Result<_>>()?;
        for (i, &r) in rows.iter().enumerate() {
            let mut offset = i * width;
            for (c, &col) in self.columns.iter().zip(&idx) {
                let raw = table.cell(r, col);
                let missing = is_missing(raw);
                if missing {
                    notes.imputed += 1;
                }
                match c {
                    FeatureColumn::Numeric { name, mean, std } => {
                        let v = if missing {
                            *mean
                        } else {
                            raw.parse::<f64>()
                                .ok()
                                .filter(|v| v.is_finite())
                                .with_context(|| {
                                    format!(
                                        "line {}, column '{name}': '{raw}' is not a finite number",
                                        table.line(r)
                                    )
                                })?
                        };
                        x[offset] = standardise(v, *mean, *std) as f32;
                    }
                    FeatureColumn::Categorical {
                        name,
                        categories,
                        most_frequent,
                        encoding,
                        code_mean,
                        code_std,
                    } => {
                        let value = if missing { most_frequent.as_str() } else { raw };
                        let code = categories.encode(value);
                        if code.is_none() {
                            *notes
                                .unseen
                                .entry((name.clone(), value.to_string()))
                                .or_default() += 1;
                        }
                        // Unseen categories take the extra "unknown" slot.
                        let code = code.unwrap_or(categories.len());
                        match encoding {
                            Encoding::Onehot => x[offset + code] = 1.0,
                            Encoding::Label => {
                                x[offset] = ((code as f64 - code_mean) / code_std) as f32
                            }
                        }
                    }
                }
                offset += c.width();
            }
        }
        Ok((x, notes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        Table::from_reader(text.as_bytes(), "t.csv").unwrap()
    }

    #[test]
    fn identifiers_are_told_from_features() {
        let mut text = String::from("name,row,height,colour,code\n");
        for i in 0..30 {
            let colour = ["red", "blue"][i % 2];
            // `code`: distinct integers with gaps, like measured counts.
            text.push_str(&format!(
                "p{i},{},{:.2},{colour},{}\n",
                30 - i,
                1.5 + i as f64 / 7.0,
                i * 3
            ));
        }
        let t = table(&text);
        let rows: Vec<usize> = (0..30).collect();
        let id = |name| id_like(&t, name, &rows).unwrap();
        assert!(id("name") && id("row"));
        assert!(!id("height") && !id("colour") && !id("code"));
        // Too few rows to tell.
        assert!(!id_like(&t, "name", &rows[..10]).unwrap());
    }

    /// Issue 16: values past ~1e154 overflowed the variance, and the
    /// model stored an infinite deviation it could not load.
    #[test]
    fn statistics_of_huge_values_stay_finite() {
        let (mean, std) = mean_std(&[1e200, 3e200, -1e300, 1e300]);
        assert!(mean.is_finite() && std.is_finite() && std > 0.0);
        let (mean, std) = mean_std(&[1e200, 3e200]);
        assert!((mean / 2e200 - 1.0).abs() < 1e-12 && (std / 1e200 - 1.0).abs() < 1e-12);
        assert_eq!(mean_std(&[0.0, 0.0]), (0.0, 1.0));
        assert_eq!(mean_std(&[5.0, 5.0]), (5.0, 1.0));
        let (mean, std) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert!((mean - 2.5).abs() < 1e-15 && (std - 1.25f64.sqrt()).abs() < 1e-15);
        assert!(standardise(1.7e308, -1.7e308, 1.7e308).is_finite());
    }

    #[test]
    fn malformed_csv_errors_name_the_line_or_column() {
        let err = Table::from_reader("a,b\n1,2\n3\n".as_bytes(), "t.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        let err = Table::from_reader("".as_bytes(), "t.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty"), "{err}");
        let t = table("x,y\n1,a\n2,b\n");
        let err = t.column("z").unwrap_err().to_string();
        assert!(err.contains("'z'") && err.contains("x, y"), "{err}");
        let rows: Vec<usize> = (0..12).collect();
        let text = format!(
            "x,y\n{}oops,b\n",
            (0..11).map(|i| format!("{i},a\n")).collect::<String>()
        );
        let t = table(&text);
        let err = Features::fit(&t, &["x".into()], Encoding::Onehot, Missing::Impute, &rows)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 13") && err.contains("'oops'"), "{err}");
        // Numbers too large for f64, and infinities, whatever their share.
        for bad in ["inf", "1e400", "-Infinity"] {
            let text = format!("x,y\n1,a\n{bad},b\n2,a\n{bad},b\n");
            let rows: Vec<usize> = (0..4).collect();
            let err = Features::fit(
                &table(&text),
                &["x".into()],
                Encoding::Onehot,
                Missing::Impute,
                &rows,
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("line 3") && err.contains("not a finite number"),
                "{err}"
            );
        }
        let err = Table::from_reader("a,b,a\n1,2,3\n".as_bytes(), "t.csv")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("two columns are named 'a'") && err.contains("1 and 3"),
            "{err}"
        );
    }

    #[test]
    fn auto_mode_follows_the_targets() {
        let t = table("f,bin,multi,tags,l1,l2\n1,yes,a,x;y,1,0\n2,no,b,y,0,1\n3,yes,c,,1,1\n");
        let all: Vec<usize> = (0..3).collect();
        assert_eq!(
            Targets::fit(&t, &["bin".into()], None, &all).unwrap().mode,
            Mode::Binary
        );
        assert_eq!(
            Targets::fit(&t, &["multi".into()], None, &all)
                .unwrap()
                .mode,
            Mode::Multiclass
        );
        let tags = Targets::fit(&t, &["tags".into()], None, &all).unwrap();
        assert_eq!(
            (tags.mode, tags.output_names()),
            (Mode::Multilabel, vec!["x".to_string(), "y".to_string()])
        );
        let flags = Targets::fit(&t, &["l1".into(), "l2".into()], None, &all).unwrap();
        assert_eq!(flags.mode, Mode::Multilabel);
        assert_eq!(
            flags.encode(&t, &all).unwrap(),
            vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]
        );
        let bin = Targets::fit(&t, &["bin".into()], None, &all).unwrap();
        // Classes sorted: no (0), yes (1); the output is P(yes).
        assert_eq!(bin.encode(&t, &all).unwrap(), vec![1.0, 0.0, 1.0]);
        assert!(Targets::fit(&t, &["f".into()], Some(Mode::Binary), &all).is_err());
    }

    #[test]
    fn encoders_standardise_impute_and_map_unseen_categories() {
        let train = table("num,cat\n1,red\n3,blue\n,red\n");
        let rows: Vec<usize> = (0..3).collect();
        let f = Features::fit(
            &train,
            &["num".into(), "cat".into()],
            Encoding::Onehot,
            Missing::Impute,
            &rows,
        )
        .unwrap();
        assert_eq!(
            f.input_names(),
            vec!["num", "cat=blue", "cat=red", "cat=<unknown>"]
        );
        let (x, notes) = f.encode(&train, &rows).unwrap();
        // mean 2, std 1: 1 -> -1, 3 -> 1, missing -> mean -> 0.
        assert_eq!(
            x,
            vec![-1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        );
        assert_eq!(notes.imputed, 1);
        let new = table("num,cat\n2,green\n");
        let (x, notes) = f.encode(&new, &[0]).unwrap();
        assert_eq!(x, vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(
            notes.unseen.get(&("cat".to_string(), "green".to_string())),
            Some(&1)
        );
        // Encoders round-trip through JSON (they live in the model file).
        let back: Features = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);

        let label = Features::fit(
            &train,
            &["cat".into()],
            Encoding::Label,
            Missing::Impute,
            &rows,
        )
        .unwrap();
        assert_eq!(label.width(), 1);
    }
}
