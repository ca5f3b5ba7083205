//! `casebook face ...`: flags → `casebook_faces` calls.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use casebook_core::model_file::SavedModel;
use casebook_core::observe::Observer;
use casebook_core::run::{RunDir, Training};
use casebook_faces::data::synth::{generate, FacesOptions};
use casebook_faces::eval::{evaluate, EvalConfig};
use casebook_faces::gallery::{distance, Gallery};
use casebook_faces::import::DlibModel;
use casebook_faces::infer::enroll::{enroll_people, largest_face, people_folders, Enrolled};
use casebook_faces::infer::group::{cluster_folder, ClusterConfig, Method};
use casebook_faces::infer::{load_encoder, read_image, FacePipeline, FoundFace, BUILTIN};
use casebook_faces::model::encoder::Threshold;
use casebook_faces::train::triplet::Mining;
use casebook_faces::train::{Start, TrainConfig};
use casebook_vision::{image_files, png_bytes};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::args::{choice, non_negative, RunArgs, SeedArg};
use crate::terminal::{print_evaluation, tsv_field};

#[derive(Subcommand)]
pub enum FaceCommand {
    /// Find faces: prints file, box (left,top,right,bottom, inclusive pixels), detector score and
    /// the 5 landmarks (eye corners and the base of the nose) per face.
    ///
    /// The detector is dlib's CNN (MMOD), ported to Rust: it finds faces of about 40 px and up at
    /// --upsample 0, 20 px at 1, at four times the work per step. Folders are searched for .png
    /// and .jpg files.
    Detect {
        /// Image files or folders.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Write each face's aligned 150×150 chip here (<image>_<n>.png), as the encoder sees it.
        #[arg(long, value_name = "DIR")]
        crops: Option<PathBuf>,
        #[command(flatten)]
        find: FindArgs,
        /// One JSON object per face instead of tab-separated lines.
        #[arg(long)]
        json: bool,
    },
    /// Are two photos of the same person? Prints the distance between their faces' vectors, the
    /// verdict, and the threshold used with where it came from.
    ///
    /// Where a photo shows several faces the largest is used (and a note says so).
    Verify {
        first: PathBuf,
        second: PathBuf,
        #[command(flatten)]
        matching: MatchArgs,
    },
    /// Add a person to a gallery (created if missing) from one or more photos of them, or
    /// everyone in a folder at once with --people.
    ///
    /// Each photo adds one vector (its largest face). The gallery records the encoder that made
    /// them, so it later refuses any other encoder. A gallery of 10 000 vectors or more is
    /// indexed (HNSW) each time it is saved, so enrol many people in one command.
    Enroll {
        /// Gallery file.
        #[arg(long)]
        gallery: PathBuf,
        /// The person's name.
        #[arg(required_unless_present = "people", conflicts_with = "people")]
        name: Option<String>,
        /// Photos (or folders of photos) of this person.
        #[arg(required_unless_present = "people", conflicts_with = "people")]
        images: Vec<PathBuf>,
        /// A folder with one sub-folder of photos per person (LFW layout): enrols them all,
        /// each under their folder's name.
        #[arg(long, value_name = "DIR")]
        people: Option<PathBuf>,
        #[command(flatten)]
        model: ModelArg,
        #[command(flatten)]
        find: FindArgs,
    },
    /// Who is in these photos? For every face: the enrolled person within the threshold, or
    /// `unknown`, with the distance and the runner-up (the nearest other person).
    Identify {
        /// Gallery file made by `face enroll`.
        #[arg(long)]
        gallery: PathBuf,
        /// Image files or folders.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[command(flatten)]
        matching: MatchArgs,
    },
    /// Group a folder of photos by person: prints CSV (file, face, box, cluster) and writes a run
    /// folder with clusters.csv and report.html (thumbnails per group, methods compared).
    Cluster(ClusterArgs),
    /// Measure verification the LFW way: pairs of photos in 10 folds of different people; the
    /// threshold is chosen on 9 folds and tested on the 10th. Prints accuracy (mean ± std), ROC AUC,
    /// TAR at FAR = 1e-3 and the best threshold; writes a run folder with report.html.
    ///
    /// DATA has one sub-folder per person (LFW layout). Without --pairs, balanced pairs are drawn
    /// (seeded) and written to the run folder's pairs.txt, which --pairs accepts next time; LFW's
    /// own pairs.txt works too.
    Eval {
        /// Folder with one sub-folder of photos per person.
        data: PathBuf,
        /// Pairs file (LFW's pairs.txt or one written by an earlier eval).
        #[arg(long)]
        pairs: Option<PathBuf>,
        /// Folds when drawing pairs.
        #[arg(long, default_value_t = 10)]
        folds: usize,
        /// Same-person pairs per fold when drawing (as many different-person pairs; LFW uses 300).
        #[arg(long, default_value_t = 300)]
        per_fold: usize,
        /// Write a copy of the encoder whose threshold is the one measured here.
        #[arg(long, value_name = "OUT.casebook")]
        save_threshold: Option<PathBuf>,
        #[command(flatten)]
        model: ModelArg,
        #[command(flatten)]
        find: FindArgs,
        #[command(flatten)]
        seed: SeedArg,
        #[command(flatten)]
        run: RunArgs,
        /// Print the scores as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Train a face encoder with the triplet loss, or fine-tune dlib's: P people × K photos per
    /// batch, triplets mined online; writes a run folder with model.casebook (usable by every face
    /// command through --model), checkpoints, metrics and report.html (loss, share of active
    /// triplets, validation ROC AUC per epoch).
    ///
    /// A share of the people is held out: each epoch their pairs measure ROC AUC and the best
    /// threshold, which the saved encoder carries. A killed run continues with --resume RUN_DIR.
    Train(TrainArgs),
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
        #[arg(long, value_hint = clap::ValueHint::FilePath)]
        out: PathBuf,
        /// Where the file came from and its licence, as JSON (stored in the model's record).
        #[arg(long, default_value = "{}")]
        origin: String,
    },
}

/// The groups of `face cluster`.
#[derive(Args)]
pub struct ClusterArgs {
    /// Folder of photos (searched with its sub-folders).
    folder: PathBuf,
    /// Make exactly K groups (k-means, k-means++ seeding, --restarts runs).
    #[arg(long, conflicts_with = "auto")]
    k: Option<usize>,
    /// Choose the number of groups by the silhouette (k-means for k = 2..50).
    ///
    /// Without --k or --auto, groups come from dlib's graph method (Chinese whispers): faces closer
    /// than the threshold are linked and the number of people falls out.
    #[arg(long)]
    auto: bool,
    /// The folder's sub-folders are people (LFW layout): score the groups against them (purity,
    /// NMI, ARI in the report).
    #[arg(long)]
    truth: bool,
    /// Link faces closer than this in the graph method [default: the encoder's threshold].
    #[arg(long, value_parser = non_negative::<f32>)]
    threshold: Option<f32>,
    /// k-means runs from different seeds; the tightest is kept.
    #[arg(long, default_value_t = 10)]
    restarts: usize,
    /// Also copy each photo into DIR/person_<group>/ for every group it has a face in.
    #[arg(long, value_name = "DIR")]
    folders: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    find: FindArgs,
    #[command(flatten)]
    seed: SeedArg,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Folder with one sub-folder of photos per person (LFW layout).
    #[arg(required_unless_present = "resume")]
    data: Option<PathBuf>,
    /// Where training starts. The built-in encoder already separates most faces by more than
    /// the margin: fine-tuning it learns only from photos it gets wrong (few triplets are
    /// active), so give it hard data (your own cameras, lighting, people it confuses) or a
    /// larger --margin, and watch the active-triplet fraction in the report.
    #[arg(long, value_parser = choice::<Start>(), default_value = "scratch")]
    from: Start,
    /// The photos are aligned face crops already (e.g. from `face detect --crops`): skip detection.
    #[arg(long)]
    aligned: bool,
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = TrainConfig::default().steps_per_epoch)]
    steps: usize,
    /// People per batch (P).
    #[arg(long, default_value_t = TrainConfig::default().people_per_batch)]
    people_per_batch: usize,
    /// Photos per person in a batch (K).
    #[arg(long, default_value_t = TrainConfig::default().photos_per_person)]
    photos_per_person: usize,
    /// Triplet margin α on squared distances. It must be positive: at 0, mapping every face to
    /// one point already gives zero loss, so nothing pushes different people apart.
    #[arg(long, default_value_t = TrainConfig::default().margin)]
    margin: f32,
    /// How triplets are mined within a batch.
    #[arg(long, value_parser = choice::<Mining>(), default_value = "semi-hard")]
    mining: Mining,
    /// Adam learning rate (try 1e-4 when fine-tuning dlib's encoder).
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    lr: f64,
    /// Share of the people held out for validation.
    #[arg(long = "holdout", alias = "validation", default_value_t = TrainConfig::default().validation_fraction)]
    validation: f64,
    /// Continue the run in this folder from its last checkpoint.
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    #[command(flatten)]
    find: FindArgs,
    #[command(flatten)]
    seed: SeedArg,
    #[command(flatten)]
    run: RunArgs,
}

pub fn generate_faces(
    out: &Path,
    people: usize,
    min_images: usize,
    max_images: usize,
    seed: u64,
    observer: &dyn Observer,
) -> Result<()> {
    let options = FacesOptions {
        people,
        min_images,
        max_images,
        seed,
        ..FacesOptions::default()
    };
    let summary = generate(out, &options, observer)?;
    println!(
        "wrote {} photos of {} people to {}",
        summary.images,
        summary.people,
        out.display()
    );
    Ok(())
}

fn train(args: TrainArgs, observer: &dyn Observer) -> Result<()> {
    let outcome = match &args.resume {
        Some(dir) => TrainConfig::resume(RunDir::open(dir)?, observer)?,
        None => {
            let config = TrainConfig {
                data: args
                    .data
                    .clone()
                    .expect("clap requires DATA without --resume"),
                from: args.from,
                aligned: args.aligned,
                epochs: args.epochs,
                steps_per_epoch: args.steps,
                people_per_batch: args.people_per_batch,
                photos_per_person: args.photos_per_person,
                margin: args.margin,
                mining: args.mining,
                learning_rate: args.lr,
                validation_fraction: args.validation,
                upsample: args.find.upsample,
                seed: args.seed.seed,
            };
            config.train(args.run.create_resumable("face-train")?, observer)?
        }
    };
    println!(
        "best epoch {} of {}: validation ROC AUC {:.4}",
        outcome.best_epoch,
        outcome.history.len(),
        outcome.best_auc
    );
    println!("model:  {}", outcome.run.model_path().display());
    println!("report: {}", outcome.run.report_path().display());
    Ok(())
}

/// How faces are found.
#[derive(Args)]
pub struct FindArgs {
    /// Double the image this many times before detecting: 0 finds faces from ~40 px, 1 from
    /// ~20 px (4× slower), 2 from ~10 px.
    #[arg(long, default_value_t = 1)]
    upsample: usize,
}

/// Comparing faces: the encoder, how faces are found, the same-person threshold.
#[derive(Args)]
pub struct MatchArgs {
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    find: FindArgs,
    /// Same-person threshold on the distance [default: the encoder's own].
    #[arg(long, value_parser = non_negative::<f32>)]
    threshold: Option<f32>,
    /// One JSON object per answer instead of text.
    #[arg(long)]
    json: bool,
}

impl MatchArgs {
    /// The threshold to use and where it came from.
    fn threshold(&self, pipeline: &FacePipeline) -> (f32, String) {
        match self.threshold {
            Some(t) => (t, "--threshold".to_string()),
            None => (
                pipeline.encoder.threshold.distance,
                pipeline.encoder.threshold.source.clone(),
            ),
        }
    }
}

/// Which encoder turns faces into vectors.
#[derive(Args)]
pub struct ModelArg {
    /// Encoder model file (from `face train` or `face import-dlib`), or `builtin` (dlib's ResNet).
    #[arg(long, default_value = BUILTIN)]
    model: String,
}

/// Faces of every readable image; unreadable ones are reported and left out.
fn faces_in(
    pipeline: &FacePipeline,
    inputs: &[PathBuf],
    find: &FindArgs,
    observer: &dyn Observer,
) -> Result<Vec<(PathBuf, Vec<FoundFace>)>> {
    let (files, skipped) = image_files(inputs)?;
    for s in &skipped {
        observer.skipped(&s.path, &s.reason);
    }
    if files.is_empty() {
        bail!("no .png or .jpg images in {}", describe(inputs));
    }
    let phase = observer.phase("finding faces", files.len() as u64);
    let mut found = Vec::new();
    for file in files {
        observer.check_stop(String::new)?;
        match read_image(&file) {
            Ok(image) => {
                let faces = pipeline.find(&image, find.upsample);
                found.push((file, faces));
            }
            Err(e) => observer.skipped(&file, &format!("{e:#}")),
        }
        phase.advance(1);
    }
    Ok(found)
}

/// "1 person", "2 people".
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn describe(inputs: &[PathBuf]) -> String {
    inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An f32 as JSON without its f64 widening noise (0.6, not 0.6000000238).
fn rounded(x: f32) -> f64 {
    (x as f64 * 1e6).round() / 1e6
}

fn face_json(file: &Path, index: usize, face: &FoundFace) -> serde_json::Value {
    let r = face.detection.rect;
    json!({
        "file": file.display().to_string(),
        "face": index,
        "box": [r.left, r.top, r.right, r.bottom],
        "score": rounded(face.detection.score),
        "landmarks": face.landmarks.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
    })
}

pub fn run(cmd: FaceCommand, observer: &dyn Observer) -> Result<()> {
    match cmd {
        FaceCommand::Detect {
            images,
            crops,
            find,
            json,
        } => {
            let pipeline = FacePipeline::load(BUILTIN)?;
            if let Some(dir) = &crops {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            for (file, faces) in faces_in(&pipeline, &images, &find, observer)? {
                if faces.is_empty() && !json {
                    println!("{}	no face", tsv_field(&file));
                }
                for (i, face) in faces.iter().enumerate() {
                    if let Some(dir) = &crops {
                        let stem = file.file_stem().unwrap_or_default().to_string_lossy();
                        let out = dir.join(format!("{stem}_{i}.png"));
                        casebook_core::fsx::write_atomic(&out, &png_bytes(&face.chip)?)?;
                    }
                    let record = face_json(&file, i, face);
                    if json {
                        println!("{record}");
                    } else {
                        let r = face.detection.rect;
                        let marks: Vec<String> = face
                            .landmarks
                            .iter()
                            .map(|p| format!("{},{}", p.x, p.y))
                            .collect();
                        println!(
                            "{}	{},{},{},{}	{:.3}	{}",
                            tsv_field(&file),
                            r.left,
                            r.top,
                            r.right,
                            r.bottom,
                            face.detection.score,
                            marks.join(" ")
                        );
                    }
                }
            }
            Ok(())
        }
        FaceCommand::Verify {
            first,
            second,
            matching,
        } => {
            let pipeline = FacePipeline::load(&matching.model.model)?;
            let find = &matching.find;
            let faces = [
                largest_face(&pipeline, &first, find.upsample, observer)?,
                largest_face(&pipeline, &second, find.upsample, observer)?,
            ];
            let vectors = pipeline.encode(&faces)?;
            let d = distance(&vectors[0], &vectors[1]);
            let (limit, source) = matching.threshold(&pipeline);
            let json = matching.json;
            let same = d <= limit;
            if json {
                println!(
                    "{}",
                    json!({"distance": rounded(d), "same_person": same, "threshold": rounded(limit), "threshold_source": source})
                );
            } else {
                println!(
                    "{}: distance {d:.3} {} threshold {limit:.3} ({source})",
                    if same {
                        "same person"
                    } else {
                        "different people"
                    },
                    if same { "<=" } else { ">" }
                );
            }
            Ok(())
        }
        FaceCommand::Enroll {
            gallery,
            name,
            images,
            people,
            model,
            find,
        } => {
            let pipeline = FacePipeline::load(&model.model)?;
            let mut book = if gallery.exists() {
                Gallery::load(&gallery)?
            } else {
                Gallery::new(&pipeline.encoder)
            };
            let (batches, skipped) = match (people, name) {
                (Some(dir), _) => people_folders(&dir)?,
                (None, Some(name)) => {
                    let (files, skipped) = image_files(&images)?;
                    (vec![(name, files)], skipped)
                }
                (None, None) => unreachable!("clap requires a name or --people"),
            };
            for s in &skipped {
                observer.skipped(&s.path, &s.reason);
            }
            let Enrolled {
                photos,
                people: enrolled,
            } = enroll_people(&pipeline, &mut book, &batches, find.upsample, observer)?;
            book.save(&gallery)?;
            println!(
                "enrolled {} from {photos} photo{} ({}, {} vectors{} in {})",
                match enrolled.as_slice() {
                    [one] => one.to_string(),
                    many => format!("{} people", many.len()),
                },
                if photos == 1 { "" } else { "s" },
                count(book.people().len(), "person", "people"),
                book.len(),
                if book.is_indexed() {
                    ", HNSW-indexed"
                } else {
                    ""
                },
                gallery.display()
            );
            Ok(())
        }
        FaceCommand::Identify {
            gallery,
            images,
            matching,
        } => {
            let pipeline = FacePipeline::load(&matching.model.model)?;
            let book = Gallery::load(&gallery)?;
            book.check_encoder(&pipeline.encoder)?;
            let (limit, _) = matching.threshold(&pipeline);
            let json = matching.json;
            for (file, faces) in faces_in(&pipeline, &images, &matching.find, observer)? {
                if faces.is_empty() && !json {
                    println!("{}	no face", tsv_field(&file));
                }
                let vectors = pipeline.encode(&faces)?;
                for (i, (face, vector)) in faces.iter().zip(&vectors).enumerate() {
                    let who = book.identify(vector, limit);
                    if json {
                        let mut record = face_json(&file, i, face);
                        record["person"] = json!(who.person);
                        record["nearest"] = json!(who.nearest);
                        record["runner_up"] = json!(who.runner_up);
                        println!("{record}");
                    } else {
                        let r = face.detection.rect;
                        let name = who.person.as_deref().unwrap_or("unknown");
                        let nearest = who
                            .nearest
                            .map(|c| format!("{:.3} ({})", c.distance, c.name))
                            .unwrap_or_default();
                        let runner = who
                            .runner_up
                            .map(|c| format!("{} {:.3}", c.name, c.distance))
                            .unwrap_or_else(|| "-".into());
                        println!(
                            "{}	{},{},{},{}	{name}	{nearest}	runner-up {runner}",
                            tsv_field(&file),
                            r.left,
                            r.top,
                            r.right,
                            r.bottom
                        );
                    }
                }
            }
            Ok(())
        }
        FaceCommand::Cluster(args) => cluster(args, observer),
        FaceCommand::Train(args) => train(args, observer),
        FaceCommand::Eval {
            data,
            pairs,
            folds,
            per_fold,
            save_threshold,
            model,
            find,
            seed,
            run,
            json,
        } => {
            let config = EvalConfig {
                data: data.clone(),
                pairs,
                folds,
                per_fold,
                model: model.model.clone(),
                upsample: find.upsample,
                seed: seed.seed,
            };
            let outcome = evaluate(&config, run.create("face-eval")?, observer)?;
            let v = &outcome.verification;
            let tar = match v.tar_at_far_1e3 {
                Some(t) => format!("TAR at FAR=1e-3 {:.2}%", 100.0 * t),
                None => "TAR at FAR=1e-3: needs at least 1000 different-person pairs".to_string(),
            };
            let summary = format!(
                "accuracy {:.2}% ± {:.2} over {} folds ({} same, {} different pairs)\n\
                 ROC AUC {:.4}\n{tar}\nthreshold {:.3} ({:.2}% of all pairs right)\n",
                100.0 * v.mean_accuracy,
                100.0 * v.std_accuracy,
                v.folds.len(),
                v.same_pairs,
                v.different_pairs,
                v.auc,
                v.threshold,
                100.0 * v.threshold_accuracy
            );
            print_evaluation(
                json,
                &summary,
                &outcome.run.report_path(),
                v,
                &outcome.pairs,
            )?;
            if outcome.dropped_pairs > 0 {
                observer.note(&format!(
                    "{} pairs left out: a photo without a face",
                    outcome.dropped_pairs
                ));
            }
            if let Some(out) = save_threshold {
                let mut encoder = load_encoder(&model.model)?;
                encoder.threshold = Threshold {
                    distance: v.threshold,
                    source: format!(
                        "casebook face eval on {}: {:.2}% ± {:.2} over {} folds of {} pairs",
                        data.display(),
                        100.0 * v.mean_accuracy,
                        100.0 * v.std_accuracy,
                        v.folds.len(),
                        v.same_pairs + v.different_pairs
                    ),
                };
                let record = encoder.record.clone();
                encoder.save(&out, record)?;
                observer.note(&format!(
                    "encoder with threshold {:.3} written to {}",
                    v.threshold,
                    out.display()
                ));
            }
            observer.note(&format!("report: {}", outcome.run.report_path().display()));
            Ok(())
        }
        FaceCommand::ImportDlib { file, out, origin } => {
            let origin: serde_json::Value =
                serde_json::from_str(&origin).context("--origin must be JSON")?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let model = DlibModel::from_bytes(&bytes).with_context(|| {
                format!("{} is not a dlib model casebook can read", file.display())
            })?;
            model.save(&out, &file, &bytes, origin)?;
            observer.note(&format!(
                "{} → {} ({})",
                file.display(),
                out.display(),
                model.kind()
            ));
            println!("{}", out.display());
            Ok(())
        }
    }
}

fn cluster(args: ClusterArgs, observer: &dyn Observer) -> Result<()> {
    let method = match (args.k, args.auto) {
        (Some(k), _) => Method::KMeans(k),
        (None, true) => Method::KMeansAuto,
        (None, false) => Method::Graph,
    };
    let config = ClusterConfig {
        folder: args.folder.clone(),
        method,
        truth: args.truth,
        threshold: args.threshold,
        upsample: args.find.upsample,
        model: args.model.model,
        restarts: args.restarts,
        seed: args.seed.seed,
    };
    let outcome = cluster_folder(&config, args.run.create("face-cluster")?, observer)?;
    // The csv crate quotes a file name with a comma, quote or line break.
    let mut table = csv::Writer::from_writer(std::io::stdout());
    table.write_record(["file", "face", "left", "top", "right", "bottom", "cluster"])?;
    for (face, group) in outcome.faces.iter().zip(&outcome.groups) {
        let r = face.rect;
        table.serialize((
            &face.file, face.face, r.left, r.top, r.right, r.bottom, group,
        ))?;
    }
    table.flush()?;
    if let Some(dir) = &args.folders {
        for (face, group) in outcome.faces.iter().zip(&outcome.groups) {
            let source = args.folder.join(&face.file);
            let name = source.file_name().unwrap_or_default();
            let out = dir.join(format!("person_{group}")).join(name);
            let bytes = std::fs::read(&source)
                .with_context(|| format!("cannot read {}", source.display()))?;
            casebook_core::fsx::write_atomic(&out, &bytes)?;
        }
    }
    for s in &outcome.scores {
        let truth = match (s.purity, s.nmi, s.ari) {
            (Some(p), Some(n), Some(a)) => format!(", purity {p:.3}, NMI {n:.3}, ARI {a:.3}"),
            _ => String::new(),
        };
        observer.note(&format!("{}: {} groups{truth}", s.method, s.groups));
    }
    observer.note(&format!("report: {}", outcome.run.report_path().display()));
    Ok(())
}
