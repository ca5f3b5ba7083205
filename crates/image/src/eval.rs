//! Evaluating a classifier on a labelled image set (the metrics and report
//! sections are core's [`Classification`]), and `image eval`'s entry point:
//! a model on a class-per-folder dataset, written as a run folder.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use casebook_core::classification::{
    argmax, write_outcomes, Classification, Item, Outcome, OUTCOMES_FILE,
};
use casebook_core::encoding::LabelEncoder;
use casebook_core::fingerprint;
use casebook_core::observe::Observer;
use casebook_core::report::{escape, png_img, Report};
use casebook_core::run::RunDir;
use casebook_core::split::ManifestItem;
use serde::{Deserialize, Serialize};

use crate::infer::Classifier;
use casebook_vision::{load_items, png_bytes, read_rgb, ImageSet, ScannedDataset, Skipped};

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

/// Every readable image of the class-per-folder dataset `folder`, at side
/// `load_size`, and the files left out (also reported to `observer`). A
/// class folder the model does not know is an error.
pub fn load_labelled_folder(
    folder: &Path,
    encoder: &LabelEncoder,
    load_size: u32,
    observer: &dyn Observer,
) -> Result<(ImageSet, Vec<Skipped>)> {
    let scan = ScannedDataset::scan(folder)?;
    for class in &scan.classes {
        if encoder.encode(class).is_none() {
            bail!(
                "{} has a class folder '{class}' that the model does not know (model classes: {})",
                folder.display(),
                encoder.classes().join(", ")
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
    let (set, unreadable) = load_items(folder, &items, encoder, load_size, || phase.advance(1))?;
    drop(phase);
    let skipped: Vec<Skipped> = scan.skipped.into_iter().chain(unreadable).collect();
    for s in &skipped {
        observer.skipped(&s.path, &s.reason);
    }
    Ok((set, skipped))
}

/// How many images of `set` have the contents of one the classifier was
/// trained or validated on.
fn seen_in_training(classifier: &Classifier, set: &ImageSet) -> usize {
    if classifier.seen.is_empty() {
        return 0;
    }
    set.paths
        .iter()
        .filter_map(|path| std::fs::read(path).ok())
        .filter(|bytes| classifier.seen.contains(fingerprint::of_bytes(bytes)))
        .count()
}

/// Most misclassified images a report shows.
const MAX_SHOWN: usize = 100;
/// Side of their thumbnails, in pixels.
const THUMBNAIL: u32 = 128;

/// A section with a thumbnail of each image `evaluation` got wrong (the
/// highest loss first), its true and predicted class and its file.
pub fn add_misclassified(
    report: &mut Report,
    evaluation: &Evaluation,
    set: &ImageSet,
) -> Result<()> {
    let mut wrong: Vec<(usize, usize, f32)> = evaluation
        .truth
        .iter()
        .zip(&evaluation.probabilities)
        .enumerate()
        .filter_map(|(i, (&truth, p))| {
            let predicted = argmax(p);
            (predicted != truth).then_some((i, predicted, p[predicted]))
        })
        .collect();
    report.heading(&format!("Misclassified {ITEMS} ({})", wrong.len()));
    if wrong.is_empty() {
        report.paragraph("None.");
        return Ok(());
    }
    // Highest loss first: the least probability on the true class (fastai's
    // top losses; for two classes, the surest wrong prediction).
    let on_truth = |i: usize| evaluation.probabilities[i][evaluation.truth[i]];
    wrong.sort_by(|a, b| on_truth(a.0).total_cmp(&on_truth(b.0)));
    if wrong.len() > MAX_SHOWN {
        report.paragraph(&format!(
            "The {MAX_SHOWN} with the highest loss (the least probability on the true class) first:"
        ));
    }
    let mut html = String::from("<div>");
    for &(i, predicted, confidence) in wrong.iter().take(MAX_SHOWN) {
        let path = &set.paths[i];
        // The file again, for a sharper thumbnail than the network's input;
        // the network's input if it cannot be read now.
        let picture = read_rgb(path).unwrap_or_else(|_| set.images[i].clone());
        let png = png_bytes(&image::imageops::thumbnail(
            &picture,
            THUMBNAIL,
            (THUMBNAIL * picture.height() / picture.width().max(1)).max(1),
        ))?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        html.push_str(&format!(
            "<figure>{}<figcaption>{} → <b>{}</b> {:.0}%<br>{}</figcaption></figure>",
            png_img(&png, &path.display().to_string()),
            escape(&evaluation.classes[evaluation.truth[i]]),
            escape(&evaluation.classes[predicted]),
            100.0 * confidence,
            escape(&name),
        ));
    }
    html.push_str("</div>");
    report.html(&html);
    Ok(())
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
    /// Each image's result, as in the run's `predictions.csv`.
    pub outcomes: Vec<Outcome>,
    /// How many of the images the model was trained or validated on (the
    /// same contents, under any name).
    pub seen_in_training: usize,
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
        let classifier = Classifier::open(&config.model)?;
        let (set, skipped) = load_labelled_folder(
            &config.data,
            classifier.encoder(),
            classifier.preprocessing.load_size,
            observer,
        )?;
        if set.is_empty() {
            bail!("no readable images in {}", config.data.display());
        }
        let evaluation = evaluate(&classifier, &set);
        let seen_in_training = seen_in_training(&classifier, &set);
        let seen_note = (seen_in_training > 0).then(|| {
            format!(
                "{seen_in_training} of these {} images were in the model's training or validation \
                 split: its accuracy on them overstates how it does on new images",
                set.len()
            )
        });
        if let Some(note) = &seen_note {
            observer.warn(note);
        }
        casebook_core::fsx::write_json(&run.path().join("metrics.json"), &evaluation)?;
        let outcomes = evaluation.outcomes(|i| Item::File(set.paths[i].display().to_string()));
        write_outcomes(&run.path().join(OUTCOMES_FILE), &outcomes)?;
        let mut report = Report::new(format!("Evaluation of {}", config.model.display()));
        report.paragraph(&format!(
            "Data: {} ({} images).",
            config.data.display(),
            set.len()
        ));
        if let Some(note) = &seen_note {
            report.paragraph(&format!("Warning: {note}."));
        }
        evaluation.add_section(&mut report, "Evaluation", ITEMS)?;
        add_misclassified(&mut report, &evaluation, &set)?;
        report.save(&run.report_path())?;
        Ok(FolderEvaluation {
            evaluation,
            outcomes,
            seen_in_training,
            skipped,
            run,
        })
    })
}
