//! Training: split, load, fit the CNN with Adam and cross-entropy, validate
//! every epoch, keep the best model, checkpoint, stop early, then evaluate on
//! the held-out test split and write the run report.
//!
//! The loop is casebook's own rather than burn-train's `Learner`: the run
//! folder, class-balance mitigation, seeded per-epoch randomness (so a resumed
//! run continues exactly) and the report are what this case is about, and the
//! loop that ties them together is short.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Int, Tensor, TensorData};
use casebook_core::balance::{balanced_sample, class_weights, Balance, BalanceReport};
use casebook_core::choice::Choice;
use casebook_core::config::{require, require_positive};
use casebook_core::encoding::LabelEncoder;
use casebook_core::fingerprint::{self, Fingerprints};
use casebook_core::model_file::SavedModel;
use casebook_core::observe::{Event, Observer};
use casebook_core::run::{series, MetricsRecord, RunDir, Training};
use casebook_core::seed::{self, purpose};
use casebook_core::split::{stratified_split, SplitFractions, SplitManifest};
use casebook_core::{checkpoint, plot};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::eval::{load_labelled_folder, Evaluation, ITEMS};
use crate::infer::{Classifier, Preprocessing};
use crate::model::CnnConfig;
use casebook_core::classification::Classification;
use casebook_vision::{
    load_items, load_size, to_tensor, Augment, ImageSet, Normalization, ScannedDataset, Skipped,
    MAX_RESOLUTION,
};

/// Metrics of the `--val` folder, per epoch.
const VAL_FOLDER_LOSS: &str = "val_folder_loss";
const VAL_FOLDER_ACCURACY: &str = "val_folder_accuracy";

/// Everything that defines a training run; written to `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub data: PathBuf,
    /// A split manifest to reuse instead of making a new split.
    pub split: Option<PathBuf>,
    pub resolution: u32,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub balance: Balance,
    pub seed: u64,
    /// Stop after this many epochs without a better validation score.
    pub patience: usize,
    pub widths: Vec<usize>,
    pub augment: Augment,
    /// Train on this stratified fraction of the training split (learning curves).
    pub train_fraction: f64,
    /// A labelled folder scored after every epoch beside the validation
    /// split (say, real photographs while training on generated scenes):
    /// watched, never trained on or used to pick the best epoch.
    #[serde(default)]
    pub val_folder: Option<PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::new(),
            split: None,
            resolution: 64,
            epochs: 20,
            batch_size: 32,
            learning_rate: 2e-3,
            balance: Balance::None,
            seed: 42,
            patience: 5,
            widths: CnnConfig::new(2).widths,
            augment: Augment::default(),
            train_fraction: 1.0,
            val_folder: None,
        }
    }
}

/// What a finished run produced.
#[derive(Debug)]
pub struct TrainOutcome {
    pub run: RunDir,
    pub history: Vec<MetricsRecord>,
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub test: Evaluation,
    /// The best model on the `--val` folder, if one was given.
    pub val_folder: Option<Evaluation>,
    pub train_count: usize,
    pub train_seconds: f64,
    /// Mean prediction time per test image, in milliseconds.
    pub inference_ms_per_image: f64,
    pub skipped: Vec<Skipped>,
}

/// Loop state saved with every checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoopState {
    completed_epochs: usize,
    history: Vec<MetricsRecord>,
    best_epoch: usize,
    best_val_accuracy: f64,
    best_val_loss: f64,
    epochs_since_best: usize,
    train_seconds: f64,
}

/// The three loaded parts of a dataset.
struct Loaded {
    classes: Vec<String>,
    train: ImageSet,
    val: ImageSet,
    test: ImageSet,
    /// The images of `--val` ([`TrainConfig::val_folder`]), if given.
    val_folder: Option<ImageSet>,
    /// Fingerprints of the training and validation splits' files, kept in
    /// the model so `image eval` can tell when it is shown them again.
    seen: Fingerprints,
    skipped: Vec<Skipped>,
    balance: BalanceReport,
}

impl Training for TrainConfig {
    type Outcome = TrainOutcome;

    fn validate(&self) -> Result<()> {
        let config = self;
        require(
            (8..=MAX_RESOLUTION).contains(&config.resolution),
            "resolution",
            format!(
                "{} is out of range; use 8 to {MAX_RESOLUTION}",
                config.resolution
            ),
        )?;
        require(
            config.batch_size >= 2,
            "batch_size",
            "must be at least 2 (batch norm needs two images to compare)",
        )?;
        require(config.epochs >= 1, "epochs", "must be at least 1")?;
        require(
            config.patience >= 1,
            "patience",
            "must be at least 1 (epochs without a better validation accuracy before stopping)",
        )?;
        require_positive(config.learning_rate, "learning_rate")?;
        require(
            config.train_fraction > 0.0 && config.train_fraction <= 1.0,
            "train_fraction",
            "must be in (0, 1]",
        )?;
        Ok(())
    }

    fn fit(&self, run: RunDir, observer: &dyn Observer) -> Result<TrainOutcome> {
        fit(self, run, observer)
    }
}

/// The split manifest's name: in a run folder, and where `image split`
/// leaves it in a dataset folder for every run on it to share.
pub const SPLIT_FILE: &str = "split.json";

impl TrainConfig {
    /// `split`, or else the manifest `image split` left in the dataset
    /// folder: runs on one dataset compare on the same images unless told
    /// otherwise.
    pub fn with_dataset_split(mut self) -> Self {
        if self.split.is_none() {
            let beside = self.data.join(SPLIT_FILE);
            self.split = beside.is_file().then_some(beside);
        }
        self
    }
}

fn load(config: &TrainConfig, run: &RunDir, observer: &dyn Observer) -> Result<Loaded> {
    let scan = ScannedDataset::scan_for_training(&config.data)?;
    let manifest_path = run.path().join(SPLIT_FILE);
    let manifest = if manifest_path.exists() {
        SplitManifest::load(&manifest_path)?
    } else if let Some(split) = &config.split {
        SplitManifest::load(split)
            .with_context(|| format!("cannot use split manifest {}", split.display()))?
    } else {
        scan.split(SplitFractions::default(), config.seed)
    };
    manifest.save(&manifest_path)?;
    let classes = manifest.classes.clone();
    let encoder = LabelEncoder::from_classes(classes.clone());
    let size = load_size(config.resolution);
    let total = (manifest.train.len() + manifest.val.len() + manifest.test.len()) as u64;
    let phase = observer.phase("loading", total);
    let mut skipped = scan.skipped.clone();
    let mut part = |items| -> Result<ImageSet> {
        let (set, bad) = load_items(&config.data, items, &encoder, size, || phase.advance(1))?;
        skipped.extend(bad);
        Ok(set)
    };
    let mut train = part(&manifest.train)?;
    let val = part(&manifest.val)?;
    let test = part(&manifest.test)?;
    drop(phase);
    for s in &skipped {
        observer.skipped(&s.path, &s.reason);
    }
    if config.train_fraction < 1.0 {
        let keep = stratified_split(
            &train.labels,
            SplitFractions {
                train: config.train_fraction,
                val: 0.0,
                test: 1.0 - config.train_fraction,
            },
            config.seed,
        )
        .train;
        train = ImageSet {
            size,
            images: keep.iter().map(|&i| train.images[i].clone()).collect(),
            labels: keep.iter().map(|&i| train.labels[i]).collect(),
            paths: keep.iter().map(|&i| train.paths[i].clone()).collect(),
        };
    }
    if train.is_empty() {
        let why = if skipped.is_empty() {
            "the training split is empty; add images to each class folder".to_string()
        } else {
            format!(
                "{} files could not be read; see the lines above",
                skipped.len()
            )
        };
        bail!(
            "no readable training images left in {} ({why})",
            config.data.display()
        );
    }
    if val.is_empty() {
        bail!(
            "the validation split is empty: add images (at least 3 per class) to {}",
            config.data.display()
        );
    }
    let val_folder = match &config.val_folder {
        Some(folder) => {
            let (set, bad) = load_labelled_folder(folder, &encoder, size, observer)?;
            if set.is_empty() {
                bail!(
                    "no readable images in the --val folder {}",
                    folder.display()
                );
            }
            skipped.extend(bad);
            Some(set)
        }
        None => None,
    };
    let balance = BalanceReport::new(&classes, &train.labels);
    if balance.counts.iter().filter(|&&c| c > 0).count() < 2 {
        bail!("the training split of {} holds only one class: a classifier needs examples of at least two", config.data.display());
    }
    let seen = manifest
        .train
        .iter()
        .chain(&manifest.val)
        .filter_map(|item| std::fs::read(config.data.join(&item.path)).ok())
        .map(|bytes| fingerprint::of_bytes(&bytes))
        .collect();
    Ok(Loaded {
        classes,
        train,
        val,
        test,
        val_folder,
        seen,
        skipped,
        balance,
    })
}

fn fit(config: &TrainConfig, run: RunDir, observer: &dyn Observer) -> Result<TrainOutcome> {
    let data = load(config, &run, observer)?;
    observer.note(&format!(
        "training on {} images ({} classes):\n{}",
        data.train.len(),
        data.classes.len(),
        data.balance.to_text().trim_end()
    ));
    let normalization = Normalization::fit(&data.train.images);
    let preprocessing = Preprocessing::new(config.resolution, normalization);
    let architecture = CnnConfig::new(data.classes.len()).with_widths(config.widths.clone());

    let device = casebook_core::device::compute_device().autodiff();
    device.seed(config.seed);
    let mut model = architecture.init(&device);
    let mut optimizer = AdamConfig::new().init();
    let mut state = LoopState {
        completed_epochs: 0,
        history: Vec::new(),
        best_epoch: 0,
        best_val_accuracy: -1.0,
        best_val_loss: f64::INFINITY,
        epochs_since_best: 0,
        train_seconds: 0.0,
    };
    if run.has_checkpoint() {
        (model, optimizer, state) = checkpoint::load(&run.checkpoint_dir(), model, optimizer)?;
        observer.note(&format!(
            "resuming {} after epoch {}",
            run.path().display(),
            state.completed_epochs
        ));
    }

    let weights = match config.balance {
        Balance::Weights => Some(class_weights(&data.balance.counts)),
        _ => None,
    };
    let loss_fn = CrossEntropyLossConfig::new()
        .with_weights(weights)
        .init(&device);
    let training_record = |state: &LoopState| {
        serde_json::json!({ "config": config, "epochs_run": state.completed_epochs, "best_epoch": state.best_epoch,
            "best_val_accuracy": state.best_val_accuracy, "train_images": data.train.len() })
    };

    let mut stopped_early = false;
    while state.completed_epochs < config.epochs {
        if state.epochs_since_best >= config.patience {
            stopped_early = true;
            break;
        }
        let epoch = state.completed_epochs + 1;
        let started = Instant::now();
        // Randomness is a function of (seed, epoch), so a resumed run draws
        // exactly what the uninterrupted run would have.
        let mut rng = seed::stream(config.seed, &[purpose::TRAIN, epoch as u64]);
        device.seed(rng.gen());
        let order: Vec<usize> = match config.balance {
            Balance::Sampler => balanced_sample(&data.train.labels, data.train.len(), &mut rng),
            _ => {
                let mut o: Vec<usize> = (0..data.train.len()).collect();
                o.shuffle(&mut rng);
                o
            }
        };
        let batches: Vec<&[usize]> = order
            .chunks(config.batch_size)
            .filter(|b| b.len() >= 2)
            .collect();
        let phase = observer.phase(
            &format!("epoch {epoch}/{}", config.epochs),
            batches.len() as u64,
        );
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for batch in batches {
            observer.check_stop(|| {
                format!(
                    "the run in {} keeps its checkpoint of epoch {}",
                    run.path().display(),
                    state.completed_epochs
                )
            })?;
            let images: Vec<_> = batch.iter().map(|&i| &data.train.images[i]).collect();
            let labels: Vec<i64> = batch.iter().map(|&i| data.train.labels[i] as i64).collect();
            let x = to_tensor(
                &images,
                config.resolution,
                &normalization,
                Some((&config.augment, &mut rng)),
                &device,
            );
            let y = Tensor::<1, Int>::from_data(
                TensorData::new(labels.clone(), [labels.len()]),
                &device,
            );
            let logits = model.forward(x);
            let loss = loss_fn.forward(logits.clone(), y);
            let loss_value = loss.clone().into_scalar::<f32>() as f64;
            if !loss_value.is_finite() {
                bail!("training diverged at epoch {epoch} (loss is {loss_value}); lower the learning rate (now {})", config.learning_rate);
            }
            let k = data.classes.len();
            let logit_values = casebook_core::tensor::values(logits);
            correct += logit_values
                .chunks(k)
                .zip(&labels)
                .filter(|(row, &t)| {
                    row.iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .map(|(i, _)| i as i64)
                        == Some(t)
                })
                .count();
            loss_sum += loss_value * batch.len() as f64;
            seen += batch.len();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(config.learning_rate, model, grads);
            phase.status(&format!("loss {:.4}", loss_sum / seen as f64));
            phase.advance(1);
        }
        drop(phase);

        let classifier = Classifier::new(
            &model,
            architecture.clone(),
            data.classes.clone(),
            preprocessing,
        )
        .with_seen(data.seen.clone());
        let val = Classification::from_probabilities(
            data.classes.clone(),
            data.val.labels.clone(),
            classifier.probabilities(&data.val.images),
        );
        let watched = data
            .val_folder
            .as_ref()
            .map(|set| crate::eval::evaluate(&classifier, set));
        let seconds = started.elapsed().as_secs_f64();
        state.train_seconds += seconds;
        let (train_loss, train_accuracy) = (
            loss_sum / seen.max(1) as f64,
            correct as f64 / seen.max(1) as f64,
        );
        let mut record = MetricsRecord::new(epoch)
            .with("train_loss", train_loss)
            .with("train_accuracy", train_accuracy)
            .with("val_loss", val.log_loss)
            .with("val_accuracy", val.accuracy)
            .with("learning_rate", config.learning_rate)
            .with("seconds", seconds);
        let mut watched_note = String::new();
        if let Some(watched) = &watched {
            record = record
                .with(VAL_FOLDER_LOSS, watched.log_loss)
                .with(VAL_FOLDER_ACCURACY, watched.accuracy);
            watched_note = format!(
                " | --val loss {:.4} acc {:.3}",
                watched.log_loss, watched.accuracy
            );
        }
        observer.event(Event::Metrics(&record));
        observer.note(&format!(
            "epoch {epoch:>3}: train loss {train_loss:.4} acc {train_accuracy:.3} | val loss {:.4} acc {:.3}{watched_note} | {seconds:.1}s",
            val.log_loss, val.accuracy
        ));
        state.history.push(record);
        state.completed_epochs = epoch;
        let better = val.accuracy > state.best_val_accuracy
            || (val.accuracy == state.best_val_accuracy && val.log_loss < state.best_val_loss);
        if better {
            state.best_val_accuracy = val.accuracy;
            state.best_val_loss = val.log_loss;
            state.best_epoch = epoch;
            state.epochs_since_best = 0;
            classifier.save(&run.model_path(), training_record(&state))?;
        } else {
            state.epochs_since_best += 1;
        }
        run.write_metrics(&state.history)?;
        checkpoint::save(&run.checkpoint_dir(), &model, &optimizer, &state)?;
    }
    if state.epochs_since_best >= config.patience && state.completed_epochs < config.epochs {
        stopped_early = true;
    }

    let best = Classifier::load(&run.model_path())?;
    let timer = Instant::now();
    let test = if data.test.is_empty() {
        Classification::from_probabilities(data.classes.clone(), Vec::new(), Vec::new())
    } else {
        crate::eval::evaluate(&best, &data.test)
    };
    let inference_ms_per_image =
        1000.0 * timer.elapsed().as_secs_f64() / data.test.len().max(1) as f64;
    let val_folder = data
        .val_folder
        .as_ref()
        .map(|set| crate::eval::evaluate(&best, set));
    let mut record = training_record(&state);
    record["test_accuracy"] = serde_json::json!(test.accuracy);
    if let Some(watched) = &val_folder {
        record["val_folder_accuracy"] = serde_json::json!(watched.accuracy);
    }
    best.save(&run.model_path(), record)?;

    let outcome = TrainOutcome {
        history: state.history.clone(),
        best_epoch: state.best_epoch,
        stopped_early,
        train_count: data.train.len(),
        train_seconds: state.train_seconds,
        inference_ms_per_image,
        skipped: data.skipped.clone(),
        test,
        val_folder,
        run,
    };
    write_report(config, &data, &outcome)?;
    Ok(outcome)
}

fn write_report(config: &TrainConfig, data: &Loaded, outcome: &TrainOutcome) -> Result<()> {
    let mut report = casebook_core::report::Report::new(format!(
        "Image classifier — {}",
        outcome.run.path().display()
    ));
    report.paragraph(&format!(
        "Trained on {} images of {} at {}×{} pixels for {} epochs (best epoch {}{}), {:.1} s.",
        outcome.train_count,
        config.data.display(),
        config.resolution,
        config.resolution,
        outcome.history.len(),
        outcome.best_epoch,
        if outcome.stopped_early {
            ", stopped early"
        } else {
            ""
        },
        outcome.train_seconds
    ));
    report.heading("Data and class balance");
    let split_rows: Vec<Vec<String>> = data
        .classes
        .iter()
        .map(|c| {
            let count = |set: &ImageSet| {
                set.labels
                    .iter()
                    .filter(|&&l| data.classes[l] == *c)
                    .count()
                    .to_string()
            };
            vec![
                c.clone(),
                count(&data.train),
                count(&data.val),
                count(&data.test),
            ]
        })
        .collect();
    report.table(&["class", "train", "validation", "test"], &split_rows);
    report.paragraph(&format!(
        "Imbalance ratio {:.2}: {}. Mitigation used: {}.",
        data.balance.imbalance_ratio,
        data.balance.advice(),
        config.balance.name()
    ));
    if !data.skipped.is_empty() {
        let rows: Vec<Vec<String>> = data
            .skipped
            .iter()
            .map(|s| vec![s.path.display().to_string(), s.reason.clone()])
            .collect();
        report.paragraph(&format!("{} files were left out:", rows.len()));
        report.table(&["file", "reason"], &rows);
    }
    report.heading("Training curves");
    let curves = |train_key, val_key, watched_key| {
        let mut curves = vec![
            plot::Series::new("train", series(&outcome.history, train_key)),
            plot::Series::new("validation", series(&outcome.history, val_key)),
        ];
        if config.val_folder.is_some() {
            curves.push(plot::Series::new(
                "--val folder",
                series(&outcome.history, watched_key),
            ));
        }
        curves
    };
    report.figure(&plot::line_chart(
        "loss",
        "epoch",
        "cross-entropy",
        &curves("train_loss", "val_loss", VAL_FOLDER_LOSS),
    )?);
    report.figure(&plot::line_chart(
        "accuracy",
        "epoch",
        "accuracy",
        &curves("train_accuracy", "val_accuracy", VAL_FOLDER_ACCURACY),
    )?);
    outcome.test.add_section(&mut report, "Test split", ITEMS)?;
    if let (Some(folder), Some(watched), Some(set)) =
        (&config.val_folder, &outcome.val_folder, &data.val_folder)
    {
        watched.add_section(
            &mut report,
            &format!("The --val folder, {}", folder.display()),
            ITEMS,
        )?;
        crate::eval::add_misclassified(&mut report, watched, set)?;
    }
    report.heading("Configuration");
    report.html(&format!(
        "<pre>{}</pre>",
        casebook_core::report::escape(&serde_json::to_string_pretty(config)?)
    ));
    report.save(&outcome.run.report_path())
}
