//! `casebook image ...`: flags → `casebook_image` library calls.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use casebook_core::balance::{Balance, BalanceReport};
use casebook_core::run::RunDir;
use casebook_core::split::SplitFractions;
use casebook_image::data::ScannedDataset;
use casebook_image::infer::Classifier;
use casebook_image::study;
use casebook_image::train::{self, TrainConfig};
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum ImageCommand {
    /// Make a stratified, seeded 80/10/10 train/validation/test split and print the class balance.
    ///
    /// Writes a JSON manifest that `image train --split FILE` reuses, so runs compare on the same images.
    Split {
        /// Dataset folder with one sub-folder per class.
        data: PathBuf,
        /// Where to write the manifest [default: DATA/split.json].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Random seed for the shuffle within each class.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Train a CNN on a class-per-folder dataset; writes a run folder with the model and report.html.
    ///
    /// Each epoch is checkpointed: if the run is killed, `--resume RUN_DIR` continues it.
    Train(TrainArgs),
    /// Evaluate a model on every image of a class-per-folder dataset (accuracy, confusion matrix, ROC).
    Eval {
        /// Model file written by `image train` (runs/<name>/model.casebook).
        model: PathBuf,
        /// Dataset folder with one sub-folder per class, named as the model's classes.
        data: PathBuf,
        /// Name of the run folder for the report [default: eval-<time>].
        #[arg(long)]
        run: Option<String>,
        /// Folder holding run folders.
        #[arg(long, default_value = "runs")]
        runs_dir: PathBuf,
    },
    /// Predict the class of image files: label and probability per file.
    Predict {
        /// Model file written by `image train`.
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
    #[arg(long, default_value_t = 64)]
    pub resolution: u32,
    /// Maximum number of passes over the training split.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Images per optimisation step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Class-imbalance mitigation: none, weights (loss weights n/(k·n_c)) or sampler (draw classes equally often).
    #[arg(long, default_value = "none")]
    pub balance: Balance,
    /// Random seed for the split, initial weights, shuffling and augmentation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Early stopping: stop after this many epochs without a better validation accuracy.
    #[arg(long, default_value_t = 5)]
    pub patience: usize,
    /// Reuse a split manifest from `image split` instead of splitting anew.
    #[arg(long)]
    pub split: Option<PathBuf>,
    /// Run folder name under --runs-dir [default: image-<time>].
    #[arg(long)]
    pub run: Option<String>,
    /// Folder holding run folders.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Continue a killed run from its last checkpoint (pass its run folder; other flags are taken from it).
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "data")]
    pub resume: Option<PathBuf>,
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
    /// Random seed (the same split is used at every resolution).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also write a page for a person to label test images at each resolution (no labels inside).
    #[arg(long, value_name = "OUT.html")]
    pub human_page: Option<PathBuf>,
    /// Test images per resolution on the human page.
    #[arg(long, default_value_t = 20)]
    pub human_count: usize,
    /// Run folder name under --runs-dir [default: resolution-<time>].
    #[arg(long)]
    pub run: Option<String>,
    /// Folder holding run folders.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
}

#[derive(Args)]
pub struct CurveArgs {
    /// Dataset folder with one sub-folder per class.
    pub data: PathBuf,
    /// Fractions of the training split to train on, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.25,0.5,1")]
    pub fractions: Vec<f64>,
    /// Network input side in pixels.
    #[arg(long, default_value_t = 64)]
    pub resolution: u32,
    /// Epochs per fraction.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Random seed (the same split is used for every fraction; smaller fractions are stratified subsets).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Run folder name under --runs-dir [default: learning-curve-<time>].
    #[arg(long)]
    pub run: Option<String>,
    /// Folder holding run folders.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
}

pub fn run(cmd: ImageCommand, quiet: bool) -> Result<()> {
    match cmd {
        ImageCommand::Split { data, out, seed } => split(&data, out, seed),
        ImageCommand::Train(args) => train_cmd(args, quiet),
        ImageCommand::Eval {
            model,
            data,
            run,
            runs_dir,
        } => eval(&model, &data, run.as_deref(), &runs_dir, quiet),
        ImageCommand::Predict { model, files, json } => predict(&model, &files, json),
        ImageCommand::ResolutionStudy(args) => resolution_study(&args, quiet),
        ImageCommand::HumanBaseline { answers, key } => human_baseline(&answers, key.as_deref()),
        ImageCommand::LearningCurve(args) => learning_curve(&args, quiet),
    }
}

fn split(data: &Path, out: Option<PathBuf>, seed: u64) -> Result<()> {
    let scan = ScannedDataset::scan_for_training(data)?;
    for s in &scan.skipped {
        eprintln!("skipped {}: {}", s.path.display(), s.reason);
    }
    let manifest = scan.split(SplitFractions::default(), seed);
    let out = out.unwrap_or_else(|| data.join("split.json"));
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
        seed: args.seed,
        patience: args.patience,
        ..TrainConfig::default()
    }
}

fn train_cmd(args: TrainArgs, quiet: bool) -> Result<()> {
    let outcome = match (&args.resume, &args.data) {
        (Some(run_dir), _) => train::resume(RunDir::open(run_dir)?, quiet)?,
        (None, Some(data)) => {
            let config = train_config(&args, data.clone());
            let run = RunDir::create(&args.runs_dir, args.run.as_deref(), "image")?;
            train::train(&config, run, quiet)?
        }
        (None, None) => bail!("give a dataset folder to train on, or --resume RUN_DIR"),
    };
    println!("test {}", outcome.test.summary().trim_end());
    println!("model:  {}", outcome.run.model_path().display());
    println!("report: {}", outcome.run.report_path().display());
    Ok(())
}

fn eval(model: &Path, data: &Path, run: Option<&str>, runs_dir: &Path, quiet: bool) -> Result<()> {
    let classifier = Classifier::load(model)?;
    let scan = ScannedDataset::scan(data)?;
    for class in &scan.classes {
        if !classifier.classes().contains(class) {
            bail!(
                "{} has a class folder '{class}' that the model does not know (model classes: {})",
                data.display(),
                classifier.classes().join(", ")
            );
        }
    }
    let items: Vec<_> = scan
        .items
        .iter()
        .map(|(path, l)| casebook_core::split::ManifestItem {
            path: path.clone(),
            label: scan.classes[*l].clone(),
        })
        .collect();
    let bar = casebook_core::progress::bar(items.len() as u64, "loading", quiet);
    let (set, skipped) = casebook_image::data::load_items(
        data,
        &items,
        classifier.encoder(),
        classifier.preprocessing.load_size,
        || bar.inc(1),
    )?;
    bar.finish_and_clear();
    for s in scan.skipped.iter().chain(&skipped) {
        eprintln!("skipped {}: {}", s.path.display(), s.reason);
    }
    if set.is_empty() {
        bail!("no readable images in {}", data.display());
    }
    let evaluation = casebook_image::eval::evaluate(&classifier, &set);
    let run = RunDir::create(runs_dir, run, "eval")?;
    run.write_config(
        &serde_json::json!({ "command": "image eval", "model": model, "data": data }),
    )?;
    casebook_core::fsx::write_json(&run.path().join("metrics.json"), &evaluation)?;
    let mut report =
        casebook_core::report::Report::new(format!("Evaluation of {}", model.display()));
    report.paragraph(&format!("Data: {} ({} images).", data.display(), set.len()));
    evaluation.add_to_report(&mut report, "Evaluation")?;
    report.save(&run.report_path())?;
    print!("{}", evaluation.summary());
    println!("report: {}", run.report_path().display());
    Ok(())
}

fn predict(model: &Path, files: &[PathBuf], json: bool) -> Result<()> {
    let classifier = Classifier::load(model)?;
    let mut failures = 0;
    for result in classifier.predict_files(files) {
        match result {
            Ok(p) if json => println!(
                "{}",
                serde_json::to_string(&p).context("cannot write JSON")?
            ),
            Ok(p) => println!("{}\t{}\t{:.4}", p.path.display(), p.label, p.probability),
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

fn resolution_study(args: &StudyArgs, quiet: bool) -> Result<()> {
    let base = TrainConfig {
        data: args.data.clone(),
        epochs: args.epochs,
        seed: args.seed,
        ..TrainConfig::default()
    };
    ScannedDataset::scan_for_training(&args.data)?; // fail on bad data before making the study folder
    let study_dir = RunDir::create(&args.runs_dir, args.run.as_deref(), "resolution")?;
    let page = args.human_page.as_deref().map(|p| (p, args.human_count));
    let result = study::resolution_study(&study_dir, &base, &args.resolutions, page, quiet)?;
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

fn human_baseline(answers: &Path, key: Option<&Path>) -> Result<()> {
    let (answers, key) = casebook_core::human::load_answers(answers, key)?;
    casebook_core::human::print_scores(
        "resolution",
        &casebook_core::human::score_human(&answers, &key),
    );
    Ok(())
}

fn learning_curve(args: &CurveArgs, quiet: bool) -> Result<()> {
    let base = TrainConfig {
        data: args.data.clone(),
        resolution: args.resolution,
        epochs: args.epochs,
        seed: args.seed,
        ..TrainConfig::default()
    };
    ScannedDataset::scan_for_training(&args.data)?; // fail on bad data before making the study folder
    let study_dir = RunDir::create(&args.runs_dir, args.run.as_deref(), "learning-curve")?;
    let curve = study::learning_curve(&study_dir, &base, &args.fractions, quiet)?;
    println!(
        "{:>9} {:>16} {:>14}",
        "fraction", "training images", "test accuracy"
    );
    for p in &curve.points {
        println!(
            "{:>9} {:>16} {:>13.2}%",
            p.train_fraction,
            p.train_images,
            100.0 * p.test_accuracy
        );
    }
    println!("reading: {}", curve.reading);
    println!("report: {}", study_dir.report_path().display());
    Ok(())
}
