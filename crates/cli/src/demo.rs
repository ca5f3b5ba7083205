//! `casebook demo` and `casebook data daynight`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use casebook_core::run::RunDir;
use casebook_image::data::generate::{generate_dataset, GenerateOptions};
use casebook_image::train::{self, TrainConfig};
use clap::Args;

#[derive(Args)]
pub struct DemoArgs {
    /// Folder for the demo's data and runs.
    #[arg(long, default_value = "demo")]
    pub out: PathBuf,
    /// Number of day/night images to generate.
    #[arg(long, default_value_t = 1500)]
    pub count: usize,
    /// Maximum training epochs.
    #[arg(long, default_value_t = 15)]
    pub epochs: usize,
    /// Input resolution of the classifier.
    #[arg(long, default_value_t = 64)]
    pub resolution: u32,
    /// Random seed for the data, the split and training.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub fn generate_daynight(
    out: &Path,
    count: usize,
    night_fraction: f64,
    seed: u64,
    quiet: bool,
) -> Result<()> {
    if !(0.0..=1.0).contains(&night_fraction) {
        anyhow::bail!("--night-fraction must be between 0 and 1");
    }
    let bar = casebook_core::progress::bar(count as u64, "generating", quiet);
    let (days, nights) = generate_dataset(
        out,
        &GenerateOptions {
            count,
            night_fraction,
            seed,
        },
        || bar.inc(1),
    )?;
    bar.finish_and_clear();
    println!(
        "wrote {days} day and {nights} night images to {}",
        out.display()
    );
    Ok(())
}

pub fn run(args: &DemoArgs, quiet: bool) -> Result<()> {
    let data = args.out.join("daynight");
    println!(
        "== 1. Generate {} day/night scenes into {}",
        args.count,
        data.display()
    );
    if data.join("day").is_dir() && data.join("night").is_dir() {
        println!("   (already there; delete the folder to regenerate)");
    } else {
        generate_daynight(&data, args.count, 0.5, args.seed, quiet)?;
    }
    println!("== 2. Split, train and evaluate the day/night classifier");
    let runs = args.out.join("runs");
    let run_dir = runs.join("daynight");
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)?;
    }
    let config = TrainConfig {
        data: data.clone(),
        resolution: args.resolution,
        epochs: args.epochs,
        seed: args.seed,
        ..TrainConfig::default()
    };
    let outcome = train::train(
        &config,
        RunDir::create(&runs, Some("daynight"), "image")?,
        quiet,
    )?;
    print!("{}", outcome.test.summary());

    println!("== 3. Logistic regression on a generated table (multiclass, categorical column, missing values)");
    let table = args.out.join("species.csv");
    casebook_logreg::data::generate::write_table(
        &table,
        casebook_logreg::data::Mode::Multiclass,
        2000,
        args.seed,
    )?;
    let logreg_run = runs.join("logreg-species");
    if logreg_run.exists() {
        std::fs::remove_dir_all(&logreg_run)?;
    }
    let logreg_config = casebook_logreg::train::TrainConfig {
        data: table,
        targets: vec!["species".into()],
        ignore: vec!["id".into()],
        seed: args.seed,
        ..Default::default()
    };
    let lr_run = RunDir::create(&runs, Some("logreg-species"), "logreg")?;
    let lr = casebook_logreg::train::train(&logreg_config, &lr_run, quiet)?;
    println!(
        "   {:?} mode, L-BFGS converged in {} evaluations; held-out {}",
        lr.mode,
        lr.fit.evaluations,
        lr.test.as_ref().map_or(String::new(), |t| t
            .summary()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string())
    );
    println!("   report: {}", lr_run.report_path().display());

    println!("== Done");
    println!("test accuracy: {:.2}%", 100.0 * outcome.test.accuracy);
    println!("model:  {}", outcome.run.model_path().display());
    println!("report: {}", outcome.run.report_path().display());
    Ok(())
}
