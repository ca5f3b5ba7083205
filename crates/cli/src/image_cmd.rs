//! `casebook image ...`: flags → `casebook_image` library calls.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use casebook_core::balance::{Balance, BalanceReport};
use casebook_core::choice::Choice;
use casebook_core::observe::Observer;
use casebook_core::run::{RunDir, Training};
use casebook_core::split::SplitFractions;
use casebook_image::eval::{evaluate_folder, EvalConfig, ITEMS};
use casebook_image::infer::Classifier;
use casebook_image::study;
use casebook_image::train::{TrainConfig, SPLIT_FILE};
use casebook_vision::ScannedDataset;
use clap::{Args, Subcommand};

use crate::args::{choice, RunArgs, SeedArg};
use crate::terminal::{print_evaluation, tsv_field};

#[derive(Subcommand)]
pub enum ImageCommand {
    /// Make a stratified, seeded 80/10/10 train/validation/test split and print the class balance.
    ///
    /// Writes a JSON manifest that `image train --split FILE` reuses, so runs compare on the same images.
    Split {
        /// Dataset folder with one sub-folder per class.
        data: PathBuf,
        /// Where to write the manifest [default: DATA/split.json].
        #[arg(long, value_hint = clap::ValueHint::FilePath)]
        out: Option<PathBuf>,
        #[command(flatten)]
        seed: SeedArg,
    },
    /// Train a CNN on a class-per-folder dataset; writes a run folder with the model and report.html.
    ///
    /// Each epoch is checkpointed: if the run is killed, `--resume RUN_DIR` continues it.
    Train(TrainArgs),
    /// Evaluate a model on every image of a class-per-folder dataset (accuracy, confusion matrix, ROC).
    Eval {
        /// Model file written by `image train` (runs/<name>/model.casebook), or `builtin` for
        /// the committed day/night model trained on real photographs.
        model: PathBuf,
        /// Dataset folder with one sub-folder per class, named as the model's classes.
        data: PathBuf,
        /// Print one JSON object (report, metrics and every item's result) instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Predict the class of image files: label and probability per file.
    Predict {
        /// Model file written by `image train`, or `builtin` for the committed day/night model
        /// trained on real photographs.
        model: PathBuf,
        /// Image files (.png, .jpg).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON object per file instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Train and evaluate at several input resolutions; recommend the smallest that is good enough.
    ResolutionStudy(StudyArgs),
    /// Score a person's answers from the --human-page of a resolution study, per resolution.
    HumanBaseline {
        /// The answers JSON file the human page saved.
        answers: PathBuf,
        /// The human-key.json written beside the study [default: the key path the page recorded].
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Accuracy against training-set size: is more data still helping?
    LearningCurve(CurveArgs),
}

#[derive(Args)]
pub struct TrainArgs {
    /// Dataset folder with one sub-folder per class (not needed with --resume).
    pub data: Option<PathBuf>,
    /// Network input side in pixels; images are squared and resized to it.
    #[arg(long, default_value_t = TrainConfig::default().resolution)]
    pub resolution: u32,
    /// Maximum number of passes over the training split.
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    pub epochs: usize,
    /// Images per optimisation step.
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    pub lr: f64,
    /// Class-imbalance mitigation.
    #[arg(long, value_parser = choice::<Balance>(), default_value = Balance::None.name())]
    pub balance: Balance,
    #[command(flatten)]
    pub seed: SeedArg,
    /// Early stopping: stop after this many epochs without a better validation accuracy.
    #[arg(long, default_value_t = TrainConfig::default().patience)]
    pub patience: usize,
    #[command(flatten)]
    pub val: ValFolderArg,
    /// Reuse a split manifest from `image split` [default: DATA/split.json if it exists, else a
    /// new split].
    #[arg(long)]
    pub split: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
    /// Continue a killed run from its last checkpoint (pass its run folder). It keeps the settings
    /// it was started with: flags that would change them are refused.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
}

/// `--val DIR`, for training and the studies.
#[derive(Args)]
pub struct ValFolderArg {
    /// A labelled folder (one sub-folder per class) to score after every epoch, e.g. real
    /// photographs while training on generated scenes: shown in the report, never trained on,
    /// and not used to pick the best epoch.
    #[arg(long = "val", value_name = "DIR")]
    pub folder: Option<PathBuf>,
}

#[derive(Args)]
pub struct StudyArgs {
    /// Dataset folder with one sub-folder per class.
    pub data: PathBuf,
    /// Resolutions to compare, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128")]
    pub resolutions: Vec<u32>,
    /// Epochs per resolution.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[command(flatten)]
    pub seed: SeedArg,
    /// Also write a page for a person to label test images at each resolution (no labels inside).
    #[arg(long, value_name = "OUT.html")]
    pub human_page: Option<PathBuf>,
    /// Test images per resolution on the human page.
    #[arg(long, default_value_t = 20)]
    pub human_count: usize,
    #[command(flatten)]
    pub val: ValFolderArg,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct CurveArgs {
    /// Dataset folder with one sub-folder per class.
    pub data: PathBuf,
    /// Fractions of the training split to train on, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.25,0.5,1")]
    pub fractions: Vec<f64>,
    /// Network input side in pixels.
    #[arg(long, default_value_t = TrainConfig::default().resolution)]
    pub resolution: u32,
    /// Epochs per fraction.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[command(flatten)]
    pub seed: SeedArg,
    #[command(flatten)]
    pub val: ValFolderArg,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(cmd: ImageCommand, observer: &dyn Observer) -> Result<()> {
    match cmd {
        ImageCommand::Split { data, out, seed } => split(&data, out, seed.seed, observer),
        ImageCommand::Train(args) => train_cmd(args, observer),
        ImageCommand::Eval {
            model,
            data,
            json,
            run,
        } => eval(model, data, json, &run, observer),
        ImageCommand::Predict { model, files, json } => predict(&model, &files, json),
        ImageCommand::ResolutionStudy(args) => resolution_study(&args, observer),
        ImageCommand::HumanBaseline { answers, key } => crate::terminal::human_baseline(
            &answers,
            key.as_deref(),
            casebook_image::study::HUMAN_STUDY,
        ),
        ImageCommand::LearningCurve(args) => learning_curve(&args, observer),
    }
}

fn split(data: &Path, out: Option<PathBuf>, seed: u64, observer: &dyn Observer) -> Result<()> {
    let scan = ScannedDataset::scan_for_training(data)?;
    for s in &scan.skipped {
        observer.skipped(&s.path, &s.reason);
    }
    let manifest = scan.split(SplitFractions::default(), seed);
    let out = out.unwrap_or_else(|| data.join(SPLIT_FILE));
    manifest.save(&out)?;
    let labels: Vec<usize> = scan.items.iter().map(|(_, l)| *l).collect();
    println!("{} images in {} classes:", labels.len(), scan.classes.len());
    print!("{}", BalanceReport::new(&scan.classes, &labels).to_text());
    println!("{:<16} {:>7} {:>7} {:>7}", "class", "train", "val", "test");
    for c in &scan.classes {
        println!(
            "{c:<16} {:>7} {:>7} {:>7}",
            manifest.counts["train"][c], manifest.counts["val"][c], manifest.counts["test"][c]
        );
    }
    println!("split written to {}", out.display());
    Ok(())
}

pub fn train_config(args: &TrainArgs, data: PathBuf) -> TrainConfig {
    TrainConfig {
        data,
        split: args.split.clone(),
        resolution: args.resolution,
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        balance: args.balance,
        seed: args.seed.seed,
        patience: args.patience,
        val_folder: args.val.folder.clone(),
        ..TrainConfig::default()
    }
}

fn train_cmd(args: TrainArgs, observer: &dyn Observer) -> Result<()> {
    let outcome = match (&args.resume, &args.data) {
        (Some(run_dir), _) => TrainConfig::resume(RunDir::open(run_dir)?, observer)?,
        (None, Some(data)) => {
            let config = train_config(&args, data.clone()).with_dataset_split();
            observer.note(&match &config.split {
                Some(split) => format!("split: {}", split.display()),
                None => format!(
                    "split: a new seeded 80/10/10 one, saved in the run folder (`casebook image \
                     split {}` makes one that every run on this data reuses)",
                    data.display()
                ),
            });
            config.train(args.run.create_resumable("image-train")?, observer)?
        }
        (None, None) => bail!("give a dataset folder to train on, or --resume RUN_DIR"),
    };
    println!("test {}", outcome.test.summary(ITEMS).trim_end());
    println!("model:  {}", outcome.run.model_path().display());
    println!("report: {}", outcome.run.report_path().display());
    Ok(())
}

fn eval(
    model: PathBuf,
    data: PathBuf,
    json: bool,
    run: &RunArgs,
    observer: &dyn Observer,
) -> Result<()> {
    let config = EvalConfig { model, data };
    let result = evaluate_folder(&config, run.create("image-eval")?, observer)?;
    print_evaluation(
        json,
        &result.evaluation.summary(ITEMS),
        &result.run.report_path(),
        &result.evaluation,
        &result.outcomes,
    )
}

fn predict(model: &Path, files: &[PathBuf], json: bool) -> Result<()> {
    let classifier = Classifier::open(model)?;
    let mut failures = 0;
    for result in classifier.predict_files(files) {
        match result {
            Ok(p) if json => println!(
                "{}",
                serde_json::to_string(&p).context("cannot write JSON")?
            ),
            Ok(p) => println!("{}\t{}\t{:.4}", tsv_field(&p.path), p.label, p.probability),
            Err(e) => {
                failures += 1;
                eprintln!("skipped {e}");
            }
        }
    }
    if failures > 0 {
        bail!("{failures} of {} files could not be read", files.len());
    }
    Ok(())
}

fn resolution_study(args: &StudyArgs, observer: &dyn Observer) -> Result<()> {
    let base = TrainConfig {
        data: args.data.clone(),
        epochs: args.epochs,
        seed: args.seed.seed,
        val_folder: args.val.folder.clone(),
        ..TrainConfig::default()
    };
    ScannedDataset::scan_for_training(&args.data)?; // fail on bad data before making the study folder
    let study_dir = args.run.create("image-resolution-study")?;
    let page = args.human_page.as_deref().map(|p| (p, args.human_count));
    let result = study::resolution_study(&study_dir, &base, &args.resolutions, page, observer)?;
    print!("{}", study::resolution_table(&result));
    if let Some(page) = &result.human_page {
        println!(
            "human page: {} (answer it, then `casebook image human-baseline answers.json`)",
            page.display()
        );
    }
    println!("report: {}", study_dir.report_path().display());
    Ok(())
}

fn learning_curve(args: &CurveArgs, observer: &dyn Observer) -> Result<()> {
    let base = TrainConfig {
        data: args.data.clone(),
        resolution: args.resolution,
        epochs: args.epochs,
        seed: args.seed.seed,
        val_folder: args.val.folder.clone(),
        ..TrainConfig::default()
    };
    ScannedDataset::scan_for_training(&args.data)?; // fail on bad data before making the study folder
    let study_dir = args.run.create("image-learning-curve")?;
    let curve = study::learning_curve(&study_dir, &base, &args.fractions, observer)?;
    print!("{}", study::curve_table(&curve));
    println!("report: {}", study_dir.report_path().display());
    Ok(())
}
