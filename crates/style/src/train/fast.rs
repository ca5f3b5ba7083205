//! Training a fast-style network (Johnson et al., 2016; `casebook style
//! train-fast`): a [`TransformNet`] learns to draw any picture in one
//! style, with the perceptual losses of style transfer computed on a fixed
//! feature network. Each step draws a batch of training pictures (centre
//! squares, randomly mirrored), stylises them, and takes an Adam step on
//! `content_weight·J_content + style_weight·J_style + tv_weight·J_tv`,
//! where the content target is the input batch's own activations.

use std::path::PathBuf;

use anyhow::Result;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use casebook_core::config::require_non_negative;
use casebook_core::model_file::SavedModel;
use casebook_core::observe::Observer;
use casebook_core::report::Report;
use casebook_core::run::{MetricsRecord, RunDir, Training};
use casebook_vision::picture::{picture_tensor, pictures_tensor};
use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::{
    draw_squares, report_training, samples, save_samples, train_steps, training_files,
    validate_pictures, LoopState, Schedule, TrainOutcome,
};
use crate::data::load_picture;
use crate::loss::{relative_content_loss, total_variation, StyleGrams};
use crate::model::transform::{FastStyle, TransformArch, TransformNet, SIDE_MULTIPLE};
use crate::model::{layer_index, FeatureNet, Pool, Source, DEEPEST_LAYER};

/// Johnson et al.'s content layer (relu2_2 in their code): early enough to
/// keep edges and shapes, late enough to leave colours and textures free.
pub const CONTENT_LAYER: &str = "conv2_2";
/// Johnson et al.'s style layers.
pub const STYLE_LAYERS: [&str; 4] = ["conv1_2", "conv2_2", "conv3_3", "conv4_3"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FastTrainConfig {
    /// The style picture.
    pub style: PathBuf,
    /// A folder of training pictures (sub-folders included).
    pub images: PathBuf,
    /// The feature network for the losses.
    pub features: Source,
    pub pool: Pool,
    pub arch: TransformArch,
    /// Side of the square training pictures (and the style's longer side).
    pub size: u32,
    pub batch_size: usize,
    pub content_weight: f32,
    pub style_weight: f32,
    pub tv_weight: f32,
    pub schedule: Schedule,
}

impl Default for FastTrainConfig {
    fn default() -> Self {
        Self {
            style: PathBuf::new(),
            images: PathBuf::new(),
            features: Source::Builtin,
            pool: Pool::default(),
            arch: TransformArch::default(),
            size: 256,
            batch_size: 4,
            content_weight: 1.0,
            style_weight: 30.0,
            tv_weight: 1.0,
            schedule: Schedule::default(),
        }
    }
}

impl Training for FastTrainConfig {
    type Outcome = TrainOutcome;

    fn validate(&self) -> Result<()> {
        self.arch.check()?;
        validate_pictures(self.size, SIDE_MULTIPLE, self.batch_size)?;
        self.schedule.validate()?;
        require_non_negative(self.content_weight as f64, "content_weight")?;
        require_non_negative(self.style_weight as f64, "style_weight")?;
        require_non_negative(self.tv_weight as f64, "tv_weight")?;
        Ok(())
    }

    fn fit(&self, run: RunDir, observer: &dyn Observer) -> Result<TrainOutcome> {
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
    fn new(config: &FastTrainConfig, style: &RgbImage, device: &Device) -> Result<Self> {
        let net = FeatureNet::load(&config.features, config.pool, device)?.frozen();
        net.check_reaches(DEEPEST_LAYER)?;
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

fn fit(config: &FastTrainConfig, run: RunDir, observer: &dyn Observer) -> Result<TrainOutcome> {
    let style = load_picture(&config.style, config.size)?;
    let files = training_files(&config.images, observer)?;
    let samples = samples(&files, config.size)?;
    observer.note(&format!(
        "training a fast-style network for {} on {} pictures from {}",
        config.style.display(),
        files.len(),
        config.images.display()
    ));
    let device = casebook_core::device::compute_device().autodiff();
    let perceptual = Perceptual::new(config, &style, &device)?;
    let (_, state) = train_steps(
        &run,
        &config.schedule,
        observer,
        TransformNet::new(&config.arch, config.schedule.seed, &device),
        &mut |model: TransformNet, optimizer, lr, rng| {
            let batch = draw_squares(&files, config.batch_size, config.size, rng)?;
            let input = pictures_tensor(&batch, &device);
            let output = model.forward(input.clone());
            let (loss, [content, style, tv]) = perceptual.losses(input, output, config);
            let total = loss.clone().into_scalar::<f32>() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let record = MetricsRecord::new(0)
                .with("content", content)
                .with("style", style)
                .with("tv", tv)
                .with("total", total);
            Ok((optimizer.step(lr, model, grads), record))
        },
        &mut |model, state| {
            let fast = FastStyle {
                arch: config.arch,
                net: model.valid(),
                record: serde_json::Value::Null,
            };
            let drawn: Vec<RgbImage> = samples.iter().map(|s| fast.apply(s)).collect();
            save_samples(&run, state.completed_steps, &drawn)?;
            fast.save(&run.model_path(), training_record(config, state))
        },
    )?;
    write_report(config, &run, &state, &style, &samples)?;
    Ok(TrainOutcome {
        history: state.history,
        run,
    })
}

fn training_record(config: &FastTrainConfig, state: &LoopState) -> serde_json::Value {
    let last = state.history.last();
    serde_json::json!({
        "config": config,
        "steps": state.completed_steps,
        "features": config.features,
        "final_losses": last.map(|r| serde_json::json!({
            "content": r.get("content"),
            "style": r.get("style"),
            "tv": r.get("tv"),
        })),
    })
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
        config.schedule.learning_rate,
        config.features,
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
        .html(&crate::run::picture_strip(&inputs)?);
    report_training(
        &mut report,
        run,
        &config.schedule,
        state,
        &[
            ("content", "content"),
            ("style", "style"),
            ("tv", "total variation"),
        ],
    )?;
    report.save(&run.report_path())
}
