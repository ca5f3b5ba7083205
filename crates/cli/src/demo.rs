//! `casebook demo` and `casebook data daynight`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use casebook_core::observe::Observer;
use casebook_core::run::{RunDir, Training};
use casebook_image::data::generate::{generate_dataset, GenerateOptions};
use casebook_image::eval::ITEMS;
use casebook_image::train::TrainConfig;
use clap::Args;

use crate::args::SeedArg;

#[derive(Args)]
pub struct DemoArgs {
    /// Folder for the demo's data and runs.
    #[arg(long = "out-dir", alias = "out", default_value = "demo", value_hint = clap::ValueHint::DirPath)]
    pub out_dir: PathBuf,
    /// Number of day/night images to generate.
    #[arg(long, default_value_t = 1500)]
    pub count: usize,
    /// Maximum training epochs.
    #[arg(long, default_value_t = 15)]
    pub epochs: usize,
    /// Input resolution of the classifier.
    #[arg(long, default_value_t = TrainConfig::default().resolution)]
    pub resolution: u32,
    #[command(flatten)]
    pub seed: SeedArg,
}

pub fn generate_daynight(
    out: &Path,
    count: usize,
    night_fraction: f64,
    seed: u64,
    observer: &dyn Observer,
) -> Result<()> {
    if !(0.0..=1.0).contains(&night_fraction) {
        anyhow::bail!("--night-fraction must be between 0 and 1");
    }
    let phase = observer.phase("generating", count as u64);
    let (days, nights) = generate_dataset(
        out,
        &GenerateOptions {
            count,
            night_fraction,
            seed,
        },
        || phase.advance(1),
    )?;
    drop(phase);
    println!(
        "wrote {days} day and {nights} night images to {}",
        out.display()
    );
    Ok(())
}

pub fn run(args: &DemoArgs, observer: &dyn Observer) -> Result<()> {
    let seed = args.seed.seed;
    let data = args.out_dir.join("daynight");
    println!(
        "== 1. Generate {} day/night scenes into {}",
        args.count,
        data.display()
    );
    if data.join("day").is_dir() && data.join("night").is_dir() {
        println!("   (already there; delete the folder to regenerate)");
    } else {
        generate_daynight(&data, args.count, 0.5, seed, observer)?;
    }
    println!("== 2. Split, train and evaluate the day/night classifier");
    let runs = args.out_dir.join("runs");
    let run_dir = runs.join("daynight");
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)?;
    }
    let config = TrainConfig {
        data: data.clone(),
        resolution: args.resolution,
        epochs: args.epochs,
        seed,
        ..TrainConfig::default()
    };
    let outcome = config.train(
        RunDir::create(&runs, Some("daynight"), "image-train")?,
        observer,
    )?;
    print!("{}", outcome.test.summary(ITEMS));

    println!("== 3. Logistic regression on a generated table (multiclass, categorical column, missing values)");
    let table = args.out_dir.join("species.csv");
    casebook_logreg::data::generate::write_table(
        &table,
        casebook_logreg::data::Mode::Multiclass,
        2000,
        seed,
    )?;
    let logreg_run = runs.join("logreg-species");
    if logreg_run.exists() {
        std::fs::remove_dir_all(&logreg_run)?;
    }
    let logreg_config = casebook_logreg::train::TrainConfig {
        data: table,
        targets: vec!["species".into()],
        ignore: vec!["id".into()],
        seed,
        ..Default::default()
    };
    let lr_run = RunDir::create(&runs, Some("logreg-species"), "logreg-train")?;
    let lr = casebook_logreg::train::train(&logreg_config, lr_run, observer)?;
    println!(
        "   {:?} mode, L-BFGS converged in {} evaluations; held-out {}",
        lr.mode,
        lr.fit.evaluations,
        lr.test.as_ref().map_or(String::new(), |t| t.headline())
    );
    println!("   report: {}", lr.run.report_path().display());

    trigger_step(args, &runs, observer)?;
    faces_step(args, &runs, observer)?;
    style_step(&data, &runs, observer)?;

    println!("== Done");
    println!("test accuracy: {:.2}%", 100.0 * outcome.test.accuracy);
    println!("model:  {}", outcome.run.model_path().display());
    println!("report: {}", outcome.run.report_path().display());
    Ok(())
}

/// Step 4: trigger-word detection with the committed model on clips spoken by
/// voices it never heard in training.
fn trigger_step(args: &DemoArgs, runs: &Path, observer: &dyn Observer) -> Result<()> {
    use casebook_trigger::data::mixer::MixConfig;
    use casebook_trigger::data::synth::{read_labels, synthesize, PoolSources, Pools};
    use casebook_trigger::eval::{evaluate, EvalConfig};
    use casebook_trigger::infer::{
        detect_file, write_chimed, DetectionRule, TriggerModel, BUILTIN,
    };

    const CLIPS: usize = 30;
    let clips = args.out_dir.join("trigger-clips");
    println!("== 4. Trigger word: mix {CLIPS} clips of 10 s with held-out voices into {}, detect 'activate', evaluate", clips.display());
    let pools = Pools::load(&PoolSources {
        test_voices: true,
        ..PoolSources::default()
    })?;
    if clips.join("labels.csv").is_file() {
        println!("   (already there; delete the folder to mix them again)");
    } else {
        let phase = observer.phase("mixing", CLIPS as u64);
        synthesize(
            &clips,
            CLIPS,
            &pools,
            &MixConfig::default(),
            args.seed.seed,
            || phase.advance(1),
        )?;
    }
    let model = TriggerModel::open(BUILTIN)?;
    let labels = read_labels(&clips)?;
    let first = labels
        .keys()
        .next()
        .cloned()
        .unwrap_or_else(|| "clip_00000.wav".into());
    let rule = DetectionRule::default();
    let found = detect_file(
        &model,
        &clips.join(&first),
        model.default_threshold(),
        rule,
        |_| {},
    )?;
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
    let chimed = args.out_dir.join("trigger-chimed.wav");
    write_chimed(&clips.join(&first), &found, &chimed)?;
    println!(
        "   listen: {} (a chime after each detection)",
        chimed.display()
    );
    let run_dir = runs.join("trigger-eval");
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)?;
    }
    let config = EvalConfig {
        model: BUILTIN.into(),
        data: vec![clips],
        threshold: None,
        rule,
        target_fa_per_hour: 1.0,
    };
    let (evaluation, run) = evaluate(
        &config,
        RunDir::create(runs, Some("trigger-eval"), "trigger-eval")?,
        observer,
    )?;
    for line in evaluation.to_string().lines() {
        println!("   {line}");
    }
    println!("   report: {}", run.report_path().display());
    Ok(())
}

/// Step 5: faces with dlib's models ported to Rust, on the licensed sample
/// photos compiled into casebook: verify, identify (with a stranger), group.
fn faces_step(args: &DemoArgs, runs: &Path, observer: &dyn Observer) -> Result<()> {
    use casebook_faces::data::samples::write_samples;
    use casebook_faces::gallery::{distance, Gallery};
    use casebook_faces::infer::group::{cluster_folder, ClusterConfig, Method};
    use casebook_faces::infer::{main_face, read_image, FacePipeline, BUILTIN};

    let people = args.out_dir.join("faces");
    println!(
        "== 5. Faces: detect, align, encode {} sample photos (public domain / CC0) in {}",
        7,
        people.display()
    );
    let files = write_samples(&people)?;
    let pipeline = FacePipeline::load(BUILTIN)?;
    let mut vectors = Vec::new();
    for file in &files {
        let faces = pipeline.find(&read_image(file)?, 1);
        let i = main_face(&faces)
            .ok_or_else(|| anyhow::anyhow!("no face found in {}", file.display()))?;
        vectors.push(pipeline.encode(&faces[i..=i])?.remove(0));
    }
    let threshold = pipeline.encoder.threshold.distance;
    let name = |i: usize| {
        files[i]
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    for (a, b) in [(0, 1), (2, 4)] {
        let d = distance(&vectors[a], &vectors[b]);
        let verdict = if d <= threshold {
            "same person"
        } else {
            "different people"
        };
        println!(
            "   verify {} vs {}: {verdict} (distance {d:.3}, threshold {threshold:.2})",
            name(a),
            name(b)
        );
    }
    let mut gallery = Gallery::new(&pipeline.encoder);
    gallery.enroll("Edwin Torres", &vectors[0], &name(0))?;
    gallery.enroll("Grace Hopper", &vectors[2], &name(2))?;
    for i in [1, 3, 6] {
        let who = gallery.identify(&vectors[i], threshold);
        let nearest = who.nearest.map_or(String::new(), |c| {
            format!(", nearest {} at {:.3}", c.name, c.distance)
        });
        println!(
            "   identify {}: {}{nearest}",
            name(i),
            who.person.as_deref().unwrap_or("unknown")
        );
    }
    let config = ClusterConfig {
        folder: people,
        method: Method::Graph,
        truth: true,
        threshold: None,
        upsample: 1,
        model: BUILTIN.into(),
        restarts: 10,
        seed: args.seed.seed,
    };
    let run_dir = runs.join("faces-cluster");
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)?;
    }
    let outcome = cluster_folder(
        &config,
        RunDir::create(runs, Some("faces-cluster"), "face-cluster")?,
        observer,
    )?;
    let graph = &outcome.scores[0];
    println!(
        "   cluster: {} groups for 5 people (ARI {:.2}; Eileen Collins and Sally Ride, two NASA portraits, are dlib's closest strangers)",
        graph.groups,
        graph.ari.unwrap_or(0.0)
    );
    println!("   report: {}", outcome.run.report_path().display());
    Ok(())
}

/// Step 6: one of the generated day scenes drawn in the style of the built-in
/// painting, small and short enough to take seconds.
fn style_step(scenes: &Path, runs: &Path, observer: &dyn Observer) -> Result<()> {
    use casebook_style::data::{load_picture, starry_night};
    use casebook_style::infer::{StyleInput, TransferConfig};
    use casebook_style::model::{FeatureNet, Pool};
    use casebook_style::run::{run_transfer, TransferRecord};

    let mut days: Vec<PathBuf> = std::fs::read_dir(scenes.join("day"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    days.sort();
    let scene = days
        .first()
        .ok_or_else(|| anyhow::anyhow!("no day scene in {}", scenes.display()))?;
    println!(
        "== 6. Style transfer: {} in the style of The Starry Night (built-in VGG-19)",
        scene.display()
    );
    let config = TransferConfig {
        size: 128,
        iterations: 60,
        ..TransferConfig::default()
    };
    let net = FeatureNet::builtin(
        Pool::default(),
        &casebook_core::device::compute_device().autodiff(),
    )?;
    let record = TransferRecord {
        config: config.clone(),
        content: scene.display().to_string(),
        styles: vec![("The Starry Night (built in)".into(), 1.0)],
        features: net.source.clone(),
        pool: Pool::default(),
        frame_every: 10,
    };
    let run_dir = runs.join("style");
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)?;
    }
    let done = run_transfer(
        &net,
        &load_picture(scene, config.size)?,
        &[StyleInput {
            picture: starry_night(),
            weight: 1.0,
        }],
        &record,
        RunDir::create(runs, Some("style"), "style-transfer")?,
        observer,
        &mut |_, _| Ok(()),
    )?;
    let (first, last) = (
        done.transfer.history[0],
        *done.transfer.history.last().unwrap(),
    );
    println!(
        "   style loss {:.3} → {:.3} in {} iterations; picture: {}",
        first.style,
        last.style,
        config.iterations,
        done.run.path().join("result.png").display()
    );
    println!("   report: {}", done.run.report_path().display());
    Ok(())
}
