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

    trigger_step(args, &runs, quiet)?;

    println!("== Done");
    println!("test accuracy: {:.2}%", 100.0 * outcome.test.accuracy);
    println!("model:  {}", outcome.run.model_path().display());
    println!("report: {}", outcome.run.report_path().display());
    Ok(())
}

/// Step 4: trigger-word detection with the committed model on clips spoken by
/// voices it never heard in training.
fn trigger_step(args: &DemoArgs, runs: &Path, quiet: bool) -> Result<()> {
    use casebook_trigger::data::mixer::MixConfig;
    use casebook_trigger::data::synth::{synthesize, PoolSources, Pools};
    use casebook_trigger::eval::{evaluate_folders, read_labels};
    use casebook_trigger::infer::{
        add_chimes, builtin_model, stream_file, Debouncer, DetectionRule, TriggerModel,
    };

    const CLIPS: usize = 30;
    let clips = args.out.join("trigger-clips");
    println!("== 4. Trigger word: mix {CLIPS} clips of 10 s with held-out voices into {}, detect 'activate', evaluate", clips.display());
    let pools = Pools::load(&PoolSources {
        test_voices: true,
        ..PoolSources::default()
    })?;
    let bar = casebook_core::progress::bar(CLIPS as u64, "mixing", quiet);
    synthesize(
        &clips,
        CLIPS,
        &pools,
        &MixConfig::default(),
        args.seed,
        || bar.inc(1),
    )?;
    bar.finish_and_clear();
    let model = TriggerModel::load(&builtin_model())?;
    let labels = read_labels(&clips)?;
    let first = labels
        .keys()
        .next()
        .cloned()
        .unwrap_or_else(|| "clip_00000.wav".into());
    let mut debouncer = Debouncer::new(0.5, DetectionRule::default());
    let mut found = Vec::new();
    stream_file(&model, &clips.join(&first), |s| {
        found.extend(debouncer.feed(&s))
    })?;
    let said: Vec<String> = labels.get(&first).map_or(vec![], |w| {
        w.iter().map(|(_, e)| format!("{e:.2}")).collect()
    });
    let heard: Vec<String> = found
        .iter()
        .map(|d| format!("{:.2} ({:.2})", d.time, d.score))
        .collect();
    println!(
        "   {first}: words end at [{}] s; detections at [{}] s (score)",
        said.join(", "),
        heard.join(", ")
    );
    let mut clip = casebook_trigger::data::Clip::read_wav(&clips.join(&first))?;
    add_chimes(&mut clip, &found.iter().map(|d| d.time).collect::<Vec<_>>());
    let chimed = args.out.join("trigger-chimed.wav");
    clip.write_wav(&chimed)?;
    println!(
        "   listen: {} (a chime after each detection)",
        chimed.display()
    );
    let run_dir = runs.join("trigger-eval");
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)?;
    }
    let run = RunDir::create(runs, Some("trigger-eval"), "eval")?;
    let evaluation = evaluate_folders(
        &model,
        "the built-in model",
        std::slice::from_ref(&clips),
        0.5,
        DetectionRule::default(),
        1.0,
        &run,
        quiet,
    )?;
    for line in evaluation.to_string().lines() {
        println!("   {line}");
    }
    println!("   report: {}", run.report_path().display());
    Ok(())
}
