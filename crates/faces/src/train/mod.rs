//! Training (or fine-tuning) a face encoder with the triplet loss
//! (`casebook face train`). Photos are turned into aligned chips once
//! (detector → landmarks → chip, or taken as they are with `aligned`),
//! people are split into training and validation (every photo of a person
//! on one side), and every step draws P people × K photos, mines triplets in
//! the batch and takes an Adam step. After each epoch the validation people's
//! pairs give an ROC AUC and the best threshold; the best epoch's encoder is
//! saved with that threshold, so it plugs into every face command.

pub mod triplet;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Tensor, TensorData};
use casebook_core::checkpoint::{self, module_from_bytes, module_to_bytes};
use casebook_core::choice::Choice;
use casebook_core::config::{require, require_positive};
use casebook_core::metrics::{auc, roc_curve};
use casebook_core::model_file::SavedModel;
use casebook_core::observe::{Event, Observer};
use casebook_core::report::Report;
use casebook_core::run::{series, MetricsRecord, RunDir, Training};
use casebook_core::seed::{self, purpose};
use casebook_core::split::{group_split, SplitFractions};
use image::imageops::FilterType;
use image::RgbImage;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::eval::best_threshold;
use crate::gallery::distance;
use crate::infer::{load_encoder, main_face, read_image, FacePipeline, BUILTIN};
use crate::model::encoder::{ChipInput, Encoder, EncoderArch, FaceEncoder, Threshold};
use triplet::{triplet_loss, Mining};

/// Where training starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Start {
    /// Fine-tune dlib's ResNet (150×150 chips, 5.6 M parameters).
    Builtin,
    /// A small ResNet of the same family from random weights (80×80 chips).
    Scratch,
}

impl Choice for Start {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (
            Self::Builtin,
            "builtin",
            "fine-tune dlib's ResNet (150×150 chips; slow on a CPU, best results)",
        ),
        (
            Self::Scratch,
            "scratch",
            "a small ResNet from random weights (80×80 chips; minutes on a CPU)",
        ),
    ];
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    /// One sub-folder of photos per person (LFW layout).
    pub data: PathBuf,
    pub from: Start,
    /// The photos are aligned face crops already (skip detection).
    pub aligned: bool,
    pub epochs: usize,
    pub steps_per_epoch: usize,
    /// People per batch (P) and photos per person (K).
    pub people_per_batch: usize,
    pub photos_per_person: usize,
    /// The triplet margin α on squared distances.
    pub margin: f32,
    pub mining: Mining,
    pub learning_rate: f64,
    /// Share of the people held out for validation.
    pub validation_fraction: f64,
    pub upsample: usize,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::new(),
            from: Start::Scratch,
            aligned: false,
            epochs: 10,
            steps_per_epoch: 50,
            people_per_batch: 8,
            photos_per_person: 4,
            margin: 0.2,
            mining: Mining::SemiHard,
            learning_rate: 1e-3,
            validation_fraction: 0.2,
            upsample: 1,
            seed: seed::DEFAULT,
        }
    }
}

/// The small encoder trained from scratch.
pub fn scratch_arch() -> EncoderArch {
    let stage = |filters, downsample| crate::model::encoder::Stage {
        filters,
        blocks: 1,
        downsample,
    };
    EncoderArch {
        input_size: 80,
        stem_filters: 16,
        stages: vec![
            stage(16, false),
            stage(32, true),
            stage(64, true),
            stage(128, true),
        ],
        embedding: 128,
        normalize: true,
    }
}

/// Chips of one side of the split, with their person index.
struct Chips {
    images: Vec<RgbImage>,
    people: Vec<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoopState {
    completed_epochs: usize,
    history: Vec<MetricsRecord>,
    best_auc: f64,
    best_epoch: usize,
}

pub struct TrainOutcome {
    pub history: Vec<MetricsRecord>,
    pub best_epoch: usize,
    pub best_auc: f64,
    pub run: RunDir,
}

impl Training for TrainConfig {
    type Outcome = TrainOutcome;

    fn validate(&self) -> Result<()> {
        require(self.epochs >= 1, "epochs", "must be at least 1")?;
        require(
            self.steps_per_epoch >= 1,
            "steps_per_epoch",
            "must be at least 1",
        )?;
        require(
            self.people_per_batch >= 2,
            "people_per_batch",
            format!(
                "must be at least 2: triplets need another person (got {})",
                self.people_per_batch
            ),
        )?;
        require(
            self.photos_per_person >= 2,
            "photos_per_person",
            format!(
                "must be at least 2: triplets need a second photo (got {})",
                self.photos_per_person
            ),
        )?;
        require(
            self.margin > 0.0 && self.margin.is_finite(),
            "margin",
            format!(
                "must be positive: with 0 every face at one point already scores zero (got {})",
                self.margin
            ),
        )?;
        require_positive(self.learning_rate, "learning_rate")?;
        require(
            self.validation_fraction > 0.0 && self.validation_fraction < 1.0,
            "validation_fraction",
            "must be between 0 and 1",
        )?;
        Ok(())
    }

    fn fit(&self, run: RunDir, observer: &dyn Observer) -> Result<TrainOutcome> {
        fit(self, run, observer)
    }
}

fn fit(config: &TrainConfig, run: RunDir, observer: &dyn Observer) -> Result<TrainOutcome> {
    let (arch, start_weights, mean) = match config.from {
        Start::Builtin => {
            let builtin = load_encoder(BUILTIN)?;
            (
                builtin.arch.clone(),
                Some(module_to_bytes(&builtin.net)?),
                builtin.input.mean,
            )
        }
        Start::Scratch => (scratch_arch(), None, [128.0; 3]),
    };
    let (train, val) = prepare(config, arch.input_size, observer)?;
    observer.note(&format!(
        "training on {} chips of {} people; validating on {} chips of {} other people",
        train.images.len(),
        count_people(&train),
        val.images.len(),
        count_people(&val)
    ));

    let device = casebook_core::device::compute_device().autodiff();
    device.seed(config.seed);
    let mut model = Encoder::new(&arch, &device);
    if let Some(bytes) = &start_weights {
        model = module_from_bytes(model, bytes)?;
    }
    let mut optimizer = AdamConfig::new().init();
    let mut state = LoopState {
        completed_epochs: 0,
        history: Vec::new(),
        best_auc: -1.0,
        best_epoch: 0,
    };
    if run.has_checkpoint() {
        (model, optimizer, state) = checkpoint::load(&run.checkpoint_dir(), model, optimizer)?;
        observer.note(&format!(
            "resuming {} after epoch {}",
            run.path().display(),
            state.completed_epochs
        ));
    }
    let by_person = group_by_person(&train);
    let size = arch.input_size;
    while state.completed_epochs < config.epochs {
        let epoch = state.completed_epochs + 1;
        let started = Instant::now();
        let mut rng = seed::stream(config.seed, &[purpose::TRAIN, epoch as u64]);
        let phase = observer.phase(
            &format!("epoch {epoch}/{}", config.epochs),
            config.steps_per_epoch as u64,
        );
        let (mut loss_sum, mut active, mut steps) = (0.0f64, 0.0f64, 0usize);
        for _ in 0..config.steps_per_epoch {
            observer.check_stop(|| {
                format!(
                    "the run in {} keeps its checkpoint of epoch {}",
                    run.path().display(),
                    state.completed_epochs
                )
            })?;
            let (batch, labels) = draw_batch(&by_person, config, &mut rng);
            let chips: Vec<RgbImage> = batch
                .iter()
                .map(|&i| maybe_flip(&train.images[i], rng.gen_bool(0.5)))
                .collect();
            let x = chip_tensor(&chips, mean, size, &device);
            let out = triplet_loss(model.forward(x), &labels, config.margin, config.mining);
            let value = out.loss.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                bail!("training diverged at epoch {epoch} (loss is {value}); lower the learning rate (now {})", config.learning_rate);
            }
            loss_sum += value;
            active += out.active;
            let grads = GradientsParams::from_grads(out.loss.backward(), &model);
            model = optimizer.step(config.learning_rate, model, grads);
            steps += 1;
            phase.status(&format!("loss {:.4}", loss_sum / steps as f64));
            phase.advance(1);
        }
        drop(phase);
        let threshold = Threshold {
            distance: 0.6,
            source: String::new(),
        };
        let encoder = FaceEncoder::new(
            arch.clone(),
            model.valid(),
            ChipInput { mean },
            threshold,
            String::new(),
            serde_json::json!({}),
        );
        let (val_auc, val_threshold, val_accuracy) = validate(&encoder, &val, config.seed)?;
        let seconds = started.elapsed().as_secs_f64();
        let record = MetricsRecord::new(epoch)
            .with("train_loss", loss_sum / config.steps_per_epoch as f64)
            .with("active_triplets", active / config.steps_per_epoch as f64)
            .with("val_auc", val_auc)
            .with("val_accuracy", val_accuracy)
            .with("val_threshold", val_threshold as f64)
            .with("seconds", seconds);
        observer.event(Event::Metrics(&record));
        observer.note(&format!(
            "epoch {epoch:>3}: loss {:.4}, {:.0}% of triplets active | validation AUC {val_auc:.4}, accuracy {:.1}% at {val_threshold:.3} | {seconds:.1}s",
            record.get("train_loss"),
            100.0 * record.get("active_triplets"),
            100.0 * val_accuracy
        ));
        state.history.push(record);
        state.completed_epochs = epoch;
        if val_auc > state.best_auc {
            state.best_auc = val_auc;
            state.best_epoch = epoch;
            let mut best = encoder;
            best.threshold = Threshold {
                distance: val_threshold,
                source: format!("face train validation pairs ({} people never trained on), epoch {epoch}: {:.1}% accuracy", count_people(&val), 100.0 * val_accuracy),
            };
            best.save(&run.model_path(), serde_json::json!({ "config": config, "best_epoch": epoch, "val_auc": val_auc, "start": config.from.name() }))?;
        }
        run.write_metrics(&state.history)?;
        checkpoint::save(&run.checkpoint_dir(), &model, &optimizer, &state)?;
    }
    write_report(config, &run, &state)?;
    Ok(TrainOutcome {
        history: state.history,
        best_epoch: state.best_epoch,
        best_auc: state.best_auc,
        run,
    })
}

fn count_people(chips: &Chips) -> usize {
    let mut people = chips.people.clone();
    people.sort_unstable();
    people.dedup();
    people.len()
}

fn group_by_person(chips: &Chips) -> Vec<Vec<usize>> {
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, &p) in chips.people.iter().enumerate() {
        groups.entry(p).or_default().push(i);
    }
    groups.into_values().filter(|g| g.len() >= 2).collect()
}

/// P people × K photos (drawn with replacement where a person has fewer).
fn draw_batch(
    by_person: &[Vec<usize>],
    config: &TrainConfig,
    rng: &mut impl Rng,
) -> (Vec<usize>, Vec<usize>) {
    let people: Vec<&Vec<usize>> = by_person
        .choose_multiple(rng, config.people_per_batch.min(by_person.len()))
        .collect();
    let (mut batch, mut labels) = (Vec::new(), Vec::new());
    for (label, photos) in people.into_iter().enumerate() {
        let picks: Vec<usize> = if photos.len() >= config.photos_per_person {
            photos
                .choose_multiple(rng, config.photos_per_person)
                .copied()
                .collect()
        } else {
            (0..config.photos_per_person)
                .map(|_| photos[rng.gen_range(0..photos.len())])
                .collect()
        };
        labels.extend(std::iter::repeat_n(label, picks.len()));
        batch.extend(picks);
    }
    (batch, labels)
}

fn maybe_flip(chip: &RgbImage, flip: bool) -> RgbImage {
    if flip {
        image::imageops::flip_horizontal(chip)
    } else {
        chip.clone()
    }
}

fn chip_tensor(
    chips: &[RgbImage],
    mean: [f32; 3],
    size: usize,
    device: &burn::tensor::Device,
) -> Tensor<4> {
    let mut data = Vec::with_capacity(chips.len() * 3 * size * size);
    for chip in chips {
        for (ch, m) in mean.iter().enumerate() {
            data.extend(chip.pixels().map(|p| (p[ch] as f32 - m) / 256.0));
        }
    }
    Tensor::from_data(TensorData::new(data, [chips.len(), 3, size, size]), device)
}

/// Validation AUC, best threshold and its accuracy over all same-person
/// pairs and as many seeded different-person pairs.
fn validate(encoder: &FaceEncoder, val: &Chips, seed: u64) -> Result<(f64, f32, f64)> {
    let vectors = encoder.embed(&val.images)?;
    let n = vectors.len();
    let mut scored = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            if val.people[i] == val.people[j] {
                scored.push((distance(&vectors[i], &vectors[j]), true));
            }
        }
    }
    let same = scored.len();
    let mut rng = seed::stream(seed, &[purpose::VALIDATION]);
    for _ in 0..same * 20 {
        if scored.len() >= 2 * same {
            break;
        }
        let (i, j) = (rng.gen_range(0..n), rng.gen_range(0..n));
        if val.people[i] != val.people[j] {
            scored.push((distance(&vectors[i], &vectors[j]), false));
        }
    }
    let scores: Vec<f64> = scored.iter().map(|s| -(s.0 as f64)).collect();
    let positive: Vec<bool> = scored.iter().map(|s| s.1).collect();
    let (threshold, accuracy) = best_threshold(&scored);
    Ok((auc(&roc_curve(&scores, &positive)), threshold, accuracy))
}

/// Chips for training and validation, people split by `group_split`.
fn prepare(config: &TrainConfig, size: usize, observer: &dyn Observer) -> Result<(Chips, Chips)> {
    let dataset = casebook_vision::ScannedDataset::scan(&config.data)?;
    for s in &dataset.skipped {
        observer.skipped(&s.path, &s.reason);
    }
    let pipeline = if config.aligned {
        None
    } else {
        Some(FacePipeline::load(BUILTIN)?)
    };
    let phase = observer.phase("preparing face chips", dataset.items.len() as u64);
    let mut all = Chips {
        images: Vec::new(),
        people: Vec::new(),
    };
    for (file, person) in &dataset.items {
        observer.check_stop(String::new)?;
        let path = config.data.join(file);
        let chip = read_image(&path).and_then(|image| match &pipeline {
            None => Ok(image),
            Some(p) => {
                let faces = p.find(&image, config.upsample);
                let i = main_face(&faces).ok_or_else(|| anyhow::anyhow!("no face found"))?;
                Ok(faces[i].chip.clone())
            }
        });
        match chip {
            Ok(chip) => {
                all.images.push(image::imageops::resize(
                    &chip,
                    size as u32,
                    size as u32,
                    FilterType::Triangle,
                ));
                all.people.push(*person);
            }
            Err(e) => observer.skipped(&path, &format!("{e:#}")),
        }
        phase.advance(1);
    }
    drop(phase);
    let fractions = SplitFractions {
        train: 1.0 - config.validation_fraction,
        val: config.validation_fraction,
        test: 0.0,
    };
    let split = group_split(&all.people, fractions, config.seed);
    let take = |idx: &[usize]| Chips {
        images: idx.iter().map(|&i| all.images[i].clone()).collect(),
        people: idx.iter().map(|&i| all.people[i]).collect(),
    };
    let (train, val) = (take(&split.train), take(&split.val));
    if group_by_person(&train).len() < 2 {
        bail!("{} has too few people with two or more usable photos to train on (need at least 2 after holding out validation people)", config.data.display());
    }
    if group_by_person(&val).is_empty() || count_people(&val) < 2 {
        bail!("{} has too few people to validate on (the held-out people need two photos of one person and a second person)", config.data.display());
    }
    Ok((train, val))
}

fn write_report(config: &TrainConfig, run: &RunDir, state: &LoopState) -> Result<()> {
    let mut report = Report::new(format!("Face encoder trained on {}", config.data.display()));
    report.paragraph(&format!(
        "Start: {}. Triplet loss, margin {}, {} mining, {} people × {} photos per batch, Adam at {}. Best epoch {} (validation AUC {:.4}).",
        config.from.name(),
        config.margin,
        config.mining.name(),
        config.people_per_batch,
        config.photos_per_person,
        config.learning_rate,
        state.best_epoch,
        state.best_auc
    ));
    for (name, label) in [
        ("train_loss", "triplet loss"),
        (
            "active_triplets",
            "share of the batch's triplets violating the margin",
        ),
        ("val_auc", "validation ROC AUC"),
    ] {
        let points = series(&state.history, name);
        report.figure(&casebook_core::plot::line_chart(
            label,
            "epoch",
            label,
            &[casebook_core::plot::Series::new(label, points)],
        )?);
    }
    let rows: Vec<Vec<String>> = state
        .history
        .iter()
        .map(|r| {
            vec![
                r.step.to_string(),
                format!("{:.4}", r.get("train_loss")),
                format!("{:.1} %", 100.0 * r.get("active_triplets")),
                format!("{:.4}", r.get("val_auc")),
                format!(
                    "{:.1} % at {:.3}",
                    100.0 * r.get("val_accuracy"),
                    r.get("val_threshold")
                ),
            ]
        })
        .collect();
    report.table(
        &[
            "epoch",
            "loss",
            "active triplets",
            "validation AUC",
            "validation accuracy",
        ],
        &rows,
    );
    report.save(&run.report_path())
}
