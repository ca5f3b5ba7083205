//! `casebook face ...`: flags → `casebook_faces` calls.

use std::path::PathBuf;

use anyhow::{Context, Result};
use casebook_core::observe::Observer;
use casebook_faces::import::DlibModel;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum FaceCommand {
    /// Convert one of dlib's model files (.dat: the MMOD face detector, the 5-point landmark
    /// predictor or the ResNet face encoder) into a casebook model file.
    ///
    /// The result records the source file's name and SHA-256 and whatever --origin says; no dlib
    /// or Python is needed. casebook's built-in face models were made this way from the PyPI
    /// package face-recognition-models 0.3.0 (CC0).
    ImportDlib {
        /// dlib .dat file.
        file: PathBuf,
        /// casebook model file to write.
        #[arg(long)]
        out: PathBuf,
        /// Where the file came from and its licence, as JSON (stored in the model's record).
        #[arg(long, default_value = "{}")]
        origin: String,
    },
}

pub fn run(cmd: FaceCommand, observer: &dyn Observer) -> Result<()> {
    match cmd {
        FaceCommand::ImportDlib { file, out, origin } => {
            let origin: serde_json::Value = serde_json::from_str(&origin).context("--origin must be JSON")?;
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let model = DlibModel::from_bytes(&bytes).with_context(|| format!("{} is not a dlib model casebook can read", file.display()))?;
            model.save(&out, &file, &bytes, origin)?;
            observer.note(&format!("{} → {} ({})", file.display(), out.display(), model.kind()));
            println!("{}", out.display());
            Ok(())
        }
    }
}
