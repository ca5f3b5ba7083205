//! Evaluating a classifier on a labelled image set (the metrics and report
//! sections are core's [`Classification`]), and `image eval`'s entry point:
//! a model on a class-per-folder dataset, written as a run folder.

use std::path::PathBuf;

use anyhow::{bail, Result};
use casebook_core::classification::Classification;
use casebook_core::model_file::SavedModel;
use casebook_core::observe::Observer;
use casebook_core::report::Report;
use casebook_core::run::RunDir;
use casebook_core::split::ManifestItem;
use serde::{Deserialize, Serialize};

use crate::infer::Classifier;
use casebook_vision::{load_items, ImageSet, ScannedDataset, Skipped};

/// Everything measured on one evaluation set.
pub type Evaluation = Classification;

/// Word for the items counted in summaries.
pub const ITEMS: &str = "images";

pub fn evaluate(classifier: &Classifier, set: &ImageSet) -> Evaluation {
    Classification::from_probabilities(
        classifier.classes().to_vec(),
        set.labels.clone(),
        classifier.probabilities(&set.images),
    )
}

/// What `image eval` measures: a model file on a class-per-folder dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    pub model: PathBuf,
    pub data: PathBuf,
}

/// The result of evaluating a folder.
#[derive(Debug)]
pub struct FolderEvaluation {
    pub evaluation: Evaluation,
    pub skipped: Vec<Skipped>,
    pub run: RunDir,
}

/// Evaluates the model on every readable image of the dataset and writes
/// `metrics.json` and the report into the new run `run`.
pub fn evaluate_folder(
    config: &EvalConfig,
    run: RunDir,
    observer: &dyn Observer,
) -> Result<FolderEvaluation> {
    run.start(config, |run| {
        let classifier = Classifier::load(&config.model)?;
        let scan = ScannedDataset::scan(&config.data)?;
        for class in &scan.classes {
            if !classifier.classes().contains(class) {
                bail!(
                    "{} has a class folder '{class}' that the model does not know (model classes: {})",
                    config.data.display(),
                    classifier.classes().join(", ")
                );
            }
        }
        let items: Vec<ManifestItem> = scan
            .items
            .iter()
            .map(|(path, l)| ManifestItem {
                path: path.clone(),
                label: scan.classes[*l].clone(),
            })
            .collect();
        let phase = observer.phase("loading", items.len() as u64);
        let (set, unreadable) = load_items(
            &config.data,
            &items,
            classifier.encoder(),
            classifier.preprocessing.load_size,
            || phase.advance(1),
        )?;
        drop(phase);
        let skipped: Vec<Skipped> = scan.skipped.into_iter().chain(unreadable).collect();
        for s in &skipped {
            observer.skipped(&s.path, &s.reason);
        }
        if set.is_empty() {
            bail!("no readable images in {}", config.data.display());
        }
        let evaluation = evaluate(&classifier, &set);
        casebook_core::fsx::write_json(&run.path().join("metrics.json"), &evaluation)?;
        let mut report = Report::new(format!("Evaluation of {}", config.model.display()));
        report.paragraph(&format!(
            "Data: {} ({} images).",
            config.data.display(),
            set.len()
        ));
        evaluation.add_section(&mut report, "Evaluation", ITEMS)?;
        report.save(&run.report_path())?;
        Ok(FolderEvaluation {
            evaluation,
            skipped,
            run,
        })
    })
}
