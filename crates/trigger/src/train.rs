//! Training on fresh mixtures: every step draws a new batch from the pools
//! (so there are no epochs), optimises a positive-weighted per-step binary
//! cross-entropy with Adam, validates on a fixed set of mixtures at intervals,
//! checkpoints, and writes the run report (loss curves and the false-reject /
//! false-accept trade-off on the validation mixtures).
//!
//! Randomness is a function of (seed, step), so `--resume` continues exactly.

use std::time::Instant;

use anyhow::{bail, Result};
use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::log_sigmoid;
use burn::tensor::{Tensor, TensorData};
use casebook_core::checkpoint::{module_from_bytes, module_to_bytes};
use casebook_core::config::{require, require_positive};
use casebook_core::model_file::SavedModel;
use casebook_core::observe::{Event, Observer};
use casebook_core::run::{series, MetricsRecord, RunDir, Training};
use casebook_core::seed::{self, purpose};
use casebook_core::{checkpoint, plot};
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::features::{FeatureConfig, MODEL_SPECTROGRAM};
use crate::data::mixer::{MixConfig, Mixture};
use crate::data::spectrogram::Spectrogram;
use crate::data::spectrogram::{SpectrogramConfig, MAX_N_FFT};
use crate::data::synth::{draw, PoolSources, Pools};
use crate::eval::{det_curve, operating_point, OperatingPoint, ScoredFile};
use crate::infer::{DetectionRule, StepScore, TriggerModel};
use crate::model::{Preset, TriggerNetConfig};

/// Everything that defines a training run; written to `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub word: String,
    pub sources: PoolSources,
    pub preset: Preset,
    pub steps: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Weight of positive steps in the loss (they are ~7 % of all steps).
    pub pos_weight: f64,
    pub label_steps: usize,
    /// Validate and checkpoint every this many steps.
    pub eval_every: usize,
    pub val_clips: usize,
    pub seed: u64,
    /// Spectrogram at the pools' 16 kHz: FFT length and hop in samples (Hann
    /// window, as matplotlib's `specgram`). Defaults: 101 bins × 5511 frames for 10 s.
    #[serde(default = "default_spectrogram")]
    pub spectrogram: SpectrogramConfig,
    /// Start from this model's weights and feature statistics (a model file
    /// or `builtin`) instead of random weights: fine-tuning, e.g. on mined
    /// hard negatives.
    #[serde(default)]
    pub init: Option<String>,
}

fn default_spectrogram() -> SpectrogramConfig {
    MODEL_SPECTROGRAM
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            word: "activate".into(),
            sources: PoolSources::default(),
            preset: Preset::Default,
            steps: 1000,
            batch_size: 8,
            learning_rate: 2e-3,
            pos_weight: 3.0,
            label_steps: 50,
            eval_every: 100,
            val_clips: 48,
            seed: 42,
            spectrogram: MODEL_SPECTROGRAM,
            init: None,
        }
    }
}

/// Loop state saved with every checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoopState {
    completed_steps: usize,
    history: Vec<MetricsRecord>,
    train_seconds: f64,
}

/// What a finished run produced.
#[derive(Debug)]
pub struct TrainOutcome {
    pub run: RunDir,
    pub history: Vec<MetricsRecord>,
    /// Share of output steps labelled positive in the validation mixtures.
    pub positive_fraction: f64,
    /// Validation operating point at threshold 0.5.
    pub validation: OperatingPoint,
    pub train_seconds: f64,
}

fn mix_config(config: &TrainConfig, architecture: &TriggerNetConfig) -> MixConfig {
    let s = config.spectrogram;
    let frames = s.frames((MixConfig::default().seconds * s.rate as f64) as usize);
    MixConfig {
        output_steps: architecture.steps(frames),
        label_steps: config.label_steps,
        ..MixConfig::default()
    }
}

/// Cosine decay from `--lr` to a twentieth of it over the run.
fn learning_rate(config: &TrainConfig, step: usize) -> f64 {
    let progress = step as f64 / config.steps.max(1) as f64;
    config.learning_rate * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
}

/// SpecAugment-style frequency masking of a training clip's standardised
/// features `[frames × bins]`: up to two bands of up to 8 bins set to the
/// mean, so the detector cannot lean on a few bins that a new voice or
/// microphone may not have.
fn mask_frequencies(features: &mut [f32], bins: usize, rng: &mut impl rand::Rng) {
    for _ in 0..rng.gen_range(0..=2) {
        let width = rng.gen_range(1..=8usize);
        let start = rng.gen_range(0..bins - width);
        for frame in features.chunks_mut(bins) {
            frame[start..start + width]
                .iter_mut()
                .for_each(|v| *v = 0.0);
        }
    }
}

/// Draws mixtures `0..n` of the sub-stream `path` in parallel; mixture `i`
/// comes from sub-stream `path + [i]`.
fn draw_many(pools: &Pools, mix: &MixConfig, seed: u64, path: &[u64], n: usize) -> Vec<Mixture> {
    (0..n)
        .into_par_iter()
        .map(|i| {
            let path: Vec<u64> = path.iter().copied().chain([i as u64]).collect();
            draw(pools, mix, &mut seed::stream(seed, &path))
        })
        .collect()
}

fn features_of(features: &FeatureConfig, mixtures: &[Mixture]) -> Vec<Vec<f32>> {
    mixtures
        .par_iter()
        .map_init(
            || Spectrogram::new(features.spectrogram),
            |spec, m| features.compute(spec, &m.clip.samples),
        )
        .collect()
}

/// Positive-weighted binary cross-entropy on logits, averaged over steps.
fn weighted_bce(logits: Tensor<2>, labels: Tensor<2>, pos_weight: f64) -> Tensor<1> {
    let positive = labels.clone() * log_sigmoid(logits.clone()) * pos_weight;
    let negative = (labels.neg() + 1.0) * log_sigmoid(logits.neg());
    (positive + negative).mean().neg()
}

fn labels_tensor(mixtures: &[Mixture], device: &burn::tensor::Device) -> Tensor<2> {
    let steps = mixtures[0].labels.len();
    let flat: Vec<f32> = mixtures
        .iter()
        .flat_map(|m| m.labels.iter().copied())
        .collect();
    Tensor::from_data(TensorData::new(flat, [mixtures.len(), steps]), device)
}

impl TrainConfig {
    /// Bytes a training step needs, estimated from the values autodiff keeps
    /// per 10 s mixture (its spectrogram, the convolution's and the GRUs'
    /// activations), plus 100 MB for the rest. Peak RSS measured at batch 8
    /// and 32 grew by 29 MB a clip for the default network and 16 MB for the
    /// small one; this gives 32 and 18.
    pub fn estimated_memory(&self) -> u64 {
        let s = self.spectrogram;
        let frames = s.frames((MixConfig::default().seconds * s.rate as f64) as usize);
        let net = self.preset.config(s.bins());
        let steps = net.steps(frames);
        let per_clip = 3 * frames * s.bins() + steps * (8 * net.filters + 24 * net.hidden);
        100_000_000 + 4 * (per_clip * self.batch_size) as u64
    }
}

impl Training for TrainConfig {
    type Outcome = TrainOutcome;

    fn validate(&self) -> Result<()> {
        let config = self;
        require(
            config.batch_size >= 2,
            "batch_size",
            "must be at least 2 (batch norm needs two clips to compare)",
        )?;
        for (value, field) in [
            (config.steps, "steps"),
            (config.eval_every, "eval_every"),
            (config.val_clips, "val_clips"),
        ] {
            require(value >= 1, field, "must be at least 1")?;
        }
        require_positive(config.learning_rate, "learning_rate")?;
        let s = config.spectrogram;
        require(
            s.rate == MODEL_SPECTROGRAM.rate,
            "spectrogram.rate",
            format!(
                "must be {} Hz, the rate of the model",
                MODEL_SPECTROGRAM.rate
            ),
        )?;
        require(
            (16..=MAX_N_FFT).contains(&s.n_fft),
            "spectrogram.n_fft",
            format!("must be 16–{MAX_N_FFT}"),
        )?;
        require(s.hop >= 1, "spectrogram.hop", "must be at least 1")?;
        let architecture = config.preset.config(s.bins());
        require(
            architecture.steps(s.frames((MixConfig::default().seconds * s.rate as f64) as usize))
                >= 2,
            "spectrogram.hop",
            format!(
                "{} with n_fft {} leaves too few frames in 10 s for the network",
                s.hop, s.n_fft
            ),
        )?;
        require_positive(config.pos_weight, "pos_weight")?;
        if let Some(available) = casebook_core::device::available_memory() {
            let needed = config.estimated_memory();
            require(
                needed < available,
                "batch_size",
                format!(
                    "of {} clips needs about {:.1} GB a step and {:.1} GB is free; lower it",
                    config.batch_size,
                    needed as f64 / 1e9,
                    available as f64 / 1e9
                ),
            )?;
        }
        Ok(())
    }

    fn fit(&self, run: RunDir, observer: &dyn Observer) -> Result<TrainOutcome> {
        fit(self, run, observer)
    }
}

/// The model `--init` names, checked to fit this run's network and spectrogram.
fn starting_model(
    model: &str,
    config: &TrainConfig,
    architecture: &TriggerNetConfig,
) -> Result<TriggerModel> {
    let start = TriggerModel::open(model)?;
    if start.architecture != *architecture || start.features.spectrogram != config.spectrogram {
        bail!(
            "{model} is a network of {} filters and GRUs of {} on spectrograms of n_fft {}, hop {}; \
             fine-tune it with the same --preset, --n-fft and --hop",
            start.architecture.filters,
            start.architecture.hidden,
            start.features.spectrogram.n_fft,
            start.features.spectrogram.hop
        );
    }
    Ok(start)
}

/// Validation mixtures with their features, made once per run.
struct ValidationSet {
    mixtures: Vec<Mixture>,
    features: Vec<Vec<f32>>,
}

impl ValidationSet {
    /// Loss, per-step accuracy and per-clip scores of the current model.
    fn score(&self, model: &TriggerModel, pos_weight: f64) -> (f64, f64, Vec<ScoredFile>) {
        let device = crate::infer::device();
        let (mut loss, mut correct, mut total) = (0.0, 0usize, 0usize);
        let mut files = Vec::new();
        for (mixtures, features) in self.mixtures.chunks(8).zip(self.features.chunks(8)) {
            let logits = model.logits(features);
            let flat: Vec<f32> = logits.iter().flatten().copied().collect();
            let l = Tensor::<2>::from_data(
                TensorData::new(flat, [logits.len(), logits[0].len()]),
                &device,
            );
            loss += weighted_bce(l, labels_tensor(mixtures, &device), pos_weight)
                .into_scalar::<f32>() as f64
                * mixtures.len() as f64;
            for (m, row) in mixtures.iter().zip(&logits) {
                correct += row
                    .iter()
                    .zip(&m.labels)
                    .filter(|(l, y)| (**l > 0.0) == (**y > 0.5))
                    .count();
                total += row.len();
                let rate = m.clip.rate as f64;
                files.push(ScoredFile {
                    name: String::new(),
                    path: String::new(),
                    seconds: m.clip.seconds(),
                    scores: row
                        .iter()
                        .enumerate()
                        .map(|(step, l)| StepScore {
                            step,
                            time: model.step_time(step),
                            probability: 1.0 / (1.0 + (-l).exp()),
                        })
                        .collect(),
                    words: m
                        .segments
                        .iter()
                        .filter(|s| s.positive)
                        .map(|s| (s.start as f64 / rate, s.end as f64 / rate))
                        .collect(),
                });
            }
        }
        (
            loss / self.mixtures.len() as f64,
            correct as f64 / total.max(1) as f64,
            files,
        )
    }
}

fn fit(config: &TrainConfig, run: RunDir, observer: &dyn Observer) -> Result<TrainOutcome> {
    let pools = Pools::load(&config.sources)?;
    let architecture = config.preset.config(config.spectrogram.bins());
    let mix = mix_config(config, &architecture);
    let start = config
        .init
        .as_deref()
        .map(|model| starting_model(model, config, &architecture))
        .transpose()?;
    let features = match &start {
        Some(model) => model.features.clone(),
        None => {
            let fit_clips = draw_many(&pools, &mix, config.seed, &[purpose::FIT], 16);
            FeatureConfig::fit(
                config.spectrogram,
                &fit_clips
                    .iter()
                    .map(|m| &m.clip.samples[..])
                    .collect::<Vec<_>>(),
            )
        }
    };
    let val_mixtures = draw_many(
        &pools,
        &mix,
        config.seed,
        &[purpose::VALIDATION],
        config.val_clips,
    );
    let val = ValidationSet {
        features: features_of(&features, &val_mixtures),
        mixtures: val_mixtures,
    };
    let positive_fraction = val
        .mixtures
        .iter()
        .flat_map(|m| &m.labels)
        .map(|&y| y as f64)
        .sum::<f64>()
        / val.mixtures.iter().map(|m| m.labels.len()).sum::<usize>() as f64;
    observer.note(&format!(
        "training '{}' ({:?} preset) on fresh mixtures of {} positives, {} negatives, {} background recordings; \
         {:.1} % of output steps are positive, weighted ×{} in the loss",
        config.word,
        config.preset,
        pools.positives.len(),
        pools.negatives.len(),
        pools.backgrounds.len(),
        100.0 * positive_fraction,
        config.pos_weight
    ));

    let device = crate::infer::device().autodiff();
    device.seed(config.seed);
    let mut net = match &start {
        Some(model) => {
            module_from_bytes(architecture.init(&device), &module_to_bytes(&model.net)?)?
        }
        None => architecture.init(&device),
    };
    let mut optimizer = AdamConfig::new()
        .with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
        .init();
    let mut state = LoopState {
        completed_steps: 0,
        history: Vec::new(),
        train_seconds: 0.0,
    };
    if run.has_checkpoint() {
        (net, optimizer, state) = checkpoint::load(&run.checkpoint_dir(), net, optimizer)?;
        observer.note(&format!(
            "resuming {} after step {}",
            run.path().display(),
            state.completed_steps
        ));
    }

    let phase = observer.phase("training", config.steps as u64);
    phase.advance(state.completed_steps as u64);
    let (mut loss_sum, mut correct, mut seen, mut interval_steps) =
        (0.0f64, 0usize, 0usize, 0usize);
    let mut started = Instant::now();
    while state.completed_steps < config.steps {
        observer.check_stop(|| {
            format!(
                "the run in {} keeps its checkpoint of step {}",
                run.path().display(),
                state.history.last().map_or(0, |r| r.step)
            )
        })?;
        let step = state.completed_steps;
        let step_path = [purpose::TRAIN, step as u64];
        device.seed(seed::stream(config.seed, &step_path).gen());
        let batch = draw_many(&pools, &mix, config.seed, &step_path, config.batch_size);
        let mut x = features_of(&features, &batch);
        for (i, clip) in x.iter_mut().enumerate() {
            mask_frequencies(
                clip,
                features.bins(),
                &mut seed::stream(config.seed, &[purpose::AUGMENT, step as u64, i as u64]),
            );
        }
        let x: Vec<f32> = x.concat();
        let frames = x.len() / (batch.len() * features.bins());
        let x = Tensor::<3>::from_data(
            TensorData::new(x, [batch.len(), frames, features.bins()]),
            &device,
        );
        let y = labels_tensor(&batch, &device);
        let logits = net.forward(x);
        let loss = weighted_bce(logits.clone(), y.clone(), config.pos_weight);
        let loss_value = loss.clone().into_scalar::<f32>() as f64;
        if !loss_value.is_finite() {
            bail!(
                "the loss became {loss_value} at step {}; lower the learning rate",
                step + 1
            );
        }
        let predicted = logits.greater_elem(0.0).float();
        correct += predicted
            .equal(y.greater_elem(0.5).float())
            .int()
            .sum()
            .into_scalar::<i64>() as usize;
        seen += batch.len() * mix.output_steps;
        loss_sum += loss_value;
        interval_steps += 1;
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optimizer.step(learning_rate(config, step), net, grads);
        state.completed_steps += 1;
        phase.advance(1);
        phase.status(&format!("loss {:.4}", loss_sum / interval_steps as f64));

        if state.completed_steps.is_multiple_of(config.eval_every)
            || state.completed_steps == config.steps
        {
            let model = TriggerModel::new(
                &net,
                architecture.clone(),
                features.clone(),
                config.word.clone(),
            );
            let (val_loss, val_accuracy, files) = val.score(&model, config.pos_weight);
            let seconds = started.elapsed().as_secs_f64();
            state.train_seconds += seconds;
            let point = operating_point(&files, 0.5, DetectionRule::default());
            let record = MetricsRecord::new(state.completed_steps)
                .with("train_loss", loss_sum / interval_steps as f64)
                .with("train_accuracy", correct as f64 / seen.max(1) as f64)
                .with("val_loss", val_loss)
                .with("val_accuracy", val_accuracy)
                .with("val_false_reject_rate", point.false_reject_rate)
                .with("val_false_accepts_per_hour", point.false_accepts_per_hour)
                .with("learning_rate", learning_rate(config, step))
                .with("seconds", seconds);
            observer.event(Event::Metrics(&record));
            observer.note(&format!(
                "step {}: train loss {:.4}, val loss {:.4}, val FRR {:.1} %, FA {:.1}/h (threshold 0.5)",
                state.completed_steps,
                loss_sum / interval_steps as f64,
                val_loss,
                100.0 * point.false_reject_rate,
                point.false_accepts_per_hour
            ));
            state.history.push(record);
            run.write_metrics(&state.history)?;
            checkpoint::save(&run.checkpoint_dir(), &net, &optimizer, &state)?;
            (loss_sum, correct, seen, interval_steps) = (0.0, 0, 0, 0);
            started = Instant::now();
        }
    }
    drop(phase);

    let model = TriggerModel::new(&net, architecture, features, config.word.clone());
    let (_, _, files) = val.score(&model, config.pos_weight);
    let curve = det_curve(&files, DetectionRule::default());
    let validation = operating_point(&files, 0.5, DetectionRule::default());
    // A fine-tuned model carries the record of the one it started from.
    let started_from = match &config.init {
        Some(init) => TriggerModel::file(init)?.meta.training,
        None => serde_json::Value::Null,
    };
    model.save(
        &run.model_path(),
        serde_json::json!({ "config": config, "steps": state.completed_steps, "positive_fraction": positive_fraction,
            "validation_at_0.5": validation, "started_from": started_from }),
    )?;
    write_report(
        config,
        &run,
        &state.history,
        &curve,
        positive_fraction,
        state.train_seconds,
    )?;
    Ok(TrainOutcome {
        run,
        history: state.history,
        positive_fraction,
        validation,
        train_seconds: state.train_seconds,
    })
}

fn write_report(
    config: &TrainConfig,
    run: &RunDir,
    history: &[MetricsRecord],
    curve: &[OperatingPoint],
    positive_fraction: f64,
    train_seconds: f64,
) -> Result<()> {
    let mut report =
        casebook_core::report::Report::new(format!("Trigger word '{}': training", config.word));
    report.paragraph(&format!(
        "{:?} preset, {} steps of {} fresh 10 s mixtures (words varied in speed and reverberation, frequency bands masked), Adam lr {} with cosine decay, positive weight {} ({:.1} % of steps are positive), {:.0} s of training.",
        config.preset, config.steps, config.batch_size, config.learning_rate, config.pos_weight, 100.0 * positive_fraction, train_seconds
    ));
    let series = |label: &str, name: &str| plot::Series::new(label, series(history, name));
    report.heading("Loss");
    report.figure(&plot::line_chart(
        "Weighted binary cross-entropy",
        "step",
        "loss",
        &[
            series("train", "train_loss"),
            series("validation", "val_loss"),
        ],
    )?);
    crate::eval::report_curve(&mut report, "validation mixtures (training voices)", curve)?;
    report.save(&run.report_path())
}
