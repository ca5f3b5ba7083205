//! Training a fast-style network (Johnson et al., 2016; `casebook style
//! train-fast`): a [`TransformNet`] learns to draw any picture in one
//! style, with the perceptual losses of style transfer computed on a fixed
//! feature network. Each step draws a batch of training pictures (centre
//! squares, randomly mirrored), stylises them, and takes an Adam step on
//! `content_weight·J_content + style_weight·J_style + tv_weight·J_tv`,
//! where the content target is the input batch's own activations.
//!
//! Every `sample_every` steps the run writes a checkpoint, the model so far
//! and a strip of stylised sample pictures, so a killed run resumes
//! exactly (`--resume`) and the report shows the style forming.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Tensor;
use casebook_core::checkpoint;
use casebook_core::config::{require, require_positive};
use casebook_core::model_file::SavedModel;
use casebook_core::observe::{Event, Observer};
use casebook_core::plot::{line_chart, Series};
use casebook_core::report::Report;
use casebook_core::run::{series, MetricsRecord, RunDir, Training};
use casebook_core::seed::{self, purpose};
use casebook_vision::folder::{image_files, load_square};
use casebook_vision::picture::{picture_tensor, pictures_tensor};
use image::RgbImage;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::data::{load_picture, save_picture, MIN_SIDE};
use crate::loss::{relative_content_loss, total_variation, StyleGrams};
use crate::model::transform::{FastStyle, TransformArch, TransformNet, SIDE_MULTIPLE};
use crate::model::{layer_index, FeatureNet, Pool, Source};
use crate::run::picture_strip;

/// Johnson et al.'s content layer (relu2_2 in their code): early enough to
/// keep edges and shapes, late enough to leave colours and textures free.
pub const CONTENT_LAYER: &str = "conv2_2";
/// Johnson et al.'s style layers.
pub const STYLE_LAYERS: [&str; 4] = ["conv1_2", "conv2_2", "conv3_3", "conv4_3"];
/// Training pictures shown in the report's strips.
const SAMPLES: usize = 3;
const SAMPLES_DIR: &str = "samples";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FastTrainConfig {
    /// The style picture.
    pub style: PathBuf,
    /// A folder of training pictures (sub-folders included).
    pub images: PathBuf,
    /// VGG-19 weights for the losses; `None` is the built-in random network.
    pub features: Option<PathBuf>,
    pub pool: Pool,
    pub arch: TransformArch,
    /// Side of the square training pictures (and the style's longer side).
    pub size: u32,
    pub batch_size: usize,
    pub steps: usize,
    /// Steps between checkpoints, sample pictures and model saves.
    pub sample_every: usize,
    pub content_weight: f32,
    pub style_weight: f32,
    pub tv_weight: f32,
    pub learning_rate: f64,
    pub seed: u64,
}

impl Default for FastTrainConfig {
    fn default() -> Self {
        Self {
            style: PathBuf::new(),
            images: PathBuf::new(),
            features: None,
            pool: Pool::default(),
            arch: TransformArch::default(),
            size: 256,
            batch_size: 4,
            steps: 2000,
            sample_every: 100,
            content_weight: 1.0,
            style_weight: 30.0,
            tv_weight: 1.0,
            learning_rate: 1e-3,
            seed: seed::DEFAULT,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoopState {
    completed_steps: usize,
    history: Vec<MetricsRecord>,
}

#[derive(Debug)]
pub struct FastTrainOutcome {
    pub history: Vec<MetricsRecord>,
    pub run: RunDir,
}

impl Training for FastTrainConfig {
    type Outcome = FastTrainOutcome;

    fn validate(&self) -> Result<()> {
        self.arch.check()?;
        require(
            self.size >= MIN_SIDE && (self.size as usize).is_multiple_of(SIDE_MULTIPLE),
            "size",
            format!(
                "must be a multiple of {SIDE_MULTIPLE} of at least {MIN_SIDE} (got {})",
                self.size
            ),
        )?;
        require(self.batch_size >= 1, "batch_size", "must be at least 1")?;
        require(self.steps >= 1, "steps", "must be at least 1")?;
        require(self.sample_every >= 1, "sample_every", "must be at least 1")?;
        require_positive(self.learning_rate, "learning_rate")?;
        for (field, weight) in [
            ("content_weight", self.content_weight),
            ("style_weight", self.style_weight),
            ("tv_weight", self.tv_weight),
        ] {
            require(
                weight >= 0.0 && weight.is_finite(),
                field,
                format!("must be a number ≥ 0 (got {weight})"),
            )?;
        }
        Ok(())
    }

    fn fit(&self, run: RunDir, observer: &dyn Observer) -> Result<FastTrainOutcome> {
        fit(self, run, observer)
    }
}

/// The loss network and the fixed style target.
struct Perceptual {
    net: FeatureNet,
    style: StyleGrams,
    /// Content layer first, then the style layers.
    layers: Vec<usize>,
}

impl Perceptual {
    fn new(
        config: &FastTrainConfig,
        style: &RgbImage,
        device: &burn::tensor::Device,
    ) -> Result<Self> {
        let net = match &config.features {
            None => FeatureNet::builtin(config.pool, device),
            Some(path) => FeatureNet::from_file(path, config.pool, device)?,
        };
        let net = FeatureNet {
            vgg: net.vgg.no_grad(),
            source: net.source,
        };
        let mut layers = vec![layer_index(CONTENT_LAYER)?];
        for name in STYLE_LAYERS {
            layers.push(layer_index(name)?);
        }
        let style_features = net.activations(picture_tensor(style, device), &layers[1..]);
        Ok(Self {
            style: StyleGrams::blend(vec![(style_features, 1.0)]),
            net,
            layers,
        })
    }

    /// The weighted loss of `output` for `input`, and its parts.
    fn losses(
        &self,
        input: Tensor<4>,
        output: Tensor<4>,
        config: &FastTrainConfig,
    ) -> (Tensor<1>, [f64; 3]) {
        let target = self.net.activations(input, &self.layers[..1])[0]
            .clone()
            .detach();
        let features = self.net.activations(output.clone(), &self.layers);
        let content = relative_content_loss(features[0].clone(), target);
        let style = self.style.loss(&features[1..]);
        let tv = total_variation(output);
        let parts = [&content, &style, &tv].map(|t| t.clone().into_scalar::<f32>() as f64);
        let total = content * config.content_weight as f64
            + style * config.style_weight as f64
            + tv * config.tv_weight as f64;
        (total, parts)
    }
}

fn fit(config: &FastTrainConfig, run: RunDir, observer: &dyn Observer) -> Result<FastTrainOutcome> {
    let style = load_picture(&config.style, config.size)?;
    let files = training_files(&config.images, observer)?;
    let samples: Vec<RgbImage> = files
        .iter()
        .take(SAMPLES)
        .map(|f| read_square(f, config.size))
        .collect::<Result<_>>()?;
    observer.note(&format!(
        "training a fast-style network for {} on {} pictures from {}",
        config.style.display(),
        files.len(),
        config.images.display()
    ));

    let device = casebook_core::device::compute_device().autodiff();
    let perceptual = Perceptual::new(config, &style, &device)?;
    let mut model = TransformNet::new(&config.arch, config.seed, &device);
    let mut optimizer = AdamConfig::new().init();
    let mut state = LoopState {
        completed_steps: 0,
        history: Vec::new(),
    };
    if run.has_checkpoint() {
        (model, optimizer, state) = checkpoint::load(&run.checkpoint_dir(), model, optimizer)?;
        observer.note(&format!(
            "resuming {} after step {}",
            run.path().display(),
            state.completed_steps
        ));
    }
    let phase = observer.phase("training", config.steps as u64);
    phase.advance(state.completed_steps as u64);
    while state.completed_steps < config.steps {
        let step = state.completed_steps + 1;
        observer.check_stop(|| {
            format!(
                "the run in {} keeps its checkpoint of step {}",
                run.path().display(),
                state.completed_steps - state.completed_steps % config.sample_every
            )
        })?;
        let started = Instant::now();
        let mut rng = seed::stream(config.seed, &[purpose::TRAIN, step as u64]);
        let batch: Vec<RgbImage> = (0..config.batch_size)
            .map(|_| {
                let picture = read_square(&files[rng.gen_range(0..files.len())], config.size)?;
                Ok(if rng.gen_bool(0.5) {
                    image::imageops::flip_horizontal(&picture)
                } else {
                    picture
                })
            })
            .collect::<Result<_>>()?;
        let input = pictures_tensor(&batch, &device);
        let output = model.forward(input.clone());
        let (loss, [content, style_loss, tv]) = perceptual.losses(input, output, config);
        let total = loss.clone().into_scalar::<f32>() as f64;
        if !total.is_finite() {
            bail!(
                "training diverged at step {step} (loss is {total}); lower the learning rate (now {})",
                config.learning_rate
            );
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(config.learning_rate, model, grads);
        let record = MetricsRecord::new(step)
            .with("content", content)
            .with("style", style_loss)
            .with("tv", tv)
            .with("total", total)
            .with("seconds", started.elapsed().as_secs_f64());
        phase.status(&format!(
            "content {content:.3} style {style_loss:.3} total {total:.3}"
        ));
        phase.advance(1);
        observer.event(Event::Metrics(&record));
        state.history.push(record);
        state.completed_steps = step;
        if is_checkpoint(config, step) {
            let fast = FastStyle {
                arch: config.arch,
                net: model.valid(),
                record: serde_json::Value::Null,
            };
            let strip: Vec<RgbImage> = samples.iter().map(|s| fast.apply(s)).collect();
            save_picture(&sample_path(&run, step), &join_horizontally(&strip))?;
            fast.save(&run.model_path(), training_record(config, &state))?;
            run.write_metrics(&state.history)?;
            checkpoint::save(&run.checkpoint_dir(), &model, &optimizer, &state)?;
        }
    }
    drop(phase);
    write_report(config, &run, &state, &style, &samples)?;
    Ok(FastTrainOutcome {
        history: state.history,
        run,
    })
}

/// The image files under `folder` that can be trained on (headers read;
/// files that are not pictures or are too small are reported as skipped).
fn training_files(folder: &Path, observer: &dyn Observer) -> Result<Vec<PathBuf>> {
    ensure!(
        folder.is_dir(),
        "{} is not a folder of pictures",
        folder.display()
    );
    let (files, skipped) = image_files(&[folder.to_path_buf()])?;
    for s in &skipped {
        observer.skipped(&s.path, &s.reason);
    }
    let mut usable = Vec::new();
    for file in files {
        match image::image_dimensions(&file) {
            Ok((w, h)) if w.min(h) >= MIN_SIDE => usable.push(file),
            Ok((w, h)) => {
                observer.skipped(&file, &format!("{w}×{h} is smaller than {MIN_SIDE} pixels"))
            }
            Err(e) => observer.skipped(&file, &format!("not a readable image: {e}")),
        }
    }
    ensure!(
        !usable.is_empty(),
        "{} has no pictures to train on (.png/.jpg/.jpeg, at least {MIN_SIDE} pixels a side)",
        folder.display()
    );
    Ok(usable)
}

fn read_square(path: &Path, size: u32) -> Result<RgbImage> {
    load_square(path, size)
        .map_err(|e| anyhow::anyhow!(e))
        .with_context(|| format!("cannot train on {}", path.display()))
}

/// Whether a checkpoint (and samples, and the model so far) follows `step`.
fn is_checkpoint(config: &FastTrainConfig, step: usize) -> bool {
    step.is_multiple_of(config.sample_every) || step == config.steps
}

fn sample_path(run: &RunDir, step: usize) -> PathBuf {
    run.path()
        .join(SAMPLES_DIR)
        .join(format!("step_{step:06}.png"))
}

fn join_horizontally(pictures: &[RgbImage]) -> RgbImage {
    let width = pictures.iter().map(|p| p.width()).sum();
    let height = pictures.iter().map(|p| p.height()).max().unwrap_or(0);
    let mut strip = RgbImage::new(width, height);
    let mut x = 0;
    for p in pictures {
        image::imageops::replace(&mut strip, p, x as i64, 0);
        x += p.width();
    }
    strip
}

fn training_record(config: &FastTrainConfig, state: &LoopState) -> serde_json::Value {
    let last = state.history.last();
    serde_json::json!({
        "config": config,
        "steps": state.completed_steps,
        "features": match &config.features {
            None => Source::Builtin,
            Some(p) => Source::File(p.display().to_string()),
        },
        "final_losses": last.map(|r| serde_json::json!({
            "content": r.get("content"),
            "style": r.get("style"),
            "tv": r.get("tv"),
        })),
    })
}

/// Mean of `name` over each window of `window` steps (single steps are
/// noisy: every batch holds other pictures).
fn smoothed(history: &[MetricsRecord], name: &str, window: usize) -> Vec<(f64, f64)> {
    series(history, name)
        .chunks(window.max(1))
        .map(|chunk| {
            let last = chunk.last().expect("chunks are not empty").0;
            let mean = chunk.iter().map(|p| p.1).sum::<f64>() / chunk.len() as f64;
            (last, mean)
        })
        .collect()
}

fn write_report(
    config: &FastTrainConfig,
    run: &RunDir,
    state: &LoopState,
    style: &RgbImage,
    samples: &[RgbImage],
) -> Result<()> {
    let mut report = Report::new(format!("Fast-style network for {}", config.style.display()));
    report.paragraph(&format!(
        "{} steps of {} pictures at {}×{} from {}; transform network of width {} with {} residual blocks; weights content {}, style {}, total variation {}; Adam at {}; {} loss network.",
        state.completed_steps,
        config.batch_size,
        config.size,
        config.size,
        config.images.display(),
        config.arch.width,
        config.arch.residual_blocks,
        config.content_weight,
        config.style_weight,
        config.tv_weight,
        config.learning_rate,
        match &config.features {
            None => "built-in random".to_string(),
            Some(p) => format!("VGG-19 from {}", p.display()),
        },
    ));
    let mut inputs = vec![("style".to_string(), style.clone())];
    inputs.extend(
        samples
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("sample {}", i + 1), s.clone())),
    );
    report
        .heading("Style and samples")
        .html(&picture_strip(&inputs)?);

    let window = config.sample_every.min(config.steps.div_ceil(20)).max(1);
    report.heading("Losses").paragraph(&format!(
        "Relative errors before weighting, averaged over windows of {window} steps (each step sees other pictures)."
    ));
    report.figure(&line_chart(
        "Losses by step",
        "step",
        "loss",
        &[
            Series::new("content", smoothed(&state.history, "content", window)),
            Series::new("style", smoothed(&state.history, "style", window)),
            Series::new("total variation", smoothed(&state.history, "tv", window)),
        ],
    )?);

    let mut strips = Vec::new();
    for step in (1..=state.completed_steps).filter(|s| is_checkpoint(config, *s)) {
        if let Ok(strip) = image::open(sample_path(run, step)) {
            strips.push((format!("step {step}"), strip.to_rgb8()));
        }
    }
    report
        .heading("The samples as training went on")
        .html(&picture_strip(&strips)?);
    report.save(&run.report_path())
}
