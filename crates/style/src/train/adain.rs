//! Training an AdaIN decoder (Huang & Belongie, 2017; `casebook style
//! train-adain`): the encoder stays fixed; each step draws content and
//! style pictures, moves the content's conv4_1 features to the style's
//! channel statistics (AdaIN: `t`), decodes `t` to a picture `g` and
//! encodes `g` again. The content loss asks the features of `g` to be `t`;
//! the style loss asks the channel means and standard deviations of `g` at
//! conv1_1 … conv4_1 to be the style's. Both are relative, as everywhere in
//! this crate.

use std::path::PathBuf;

use anyhow::Result;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use casebook_core::config::require_non_negative;
use casebook_core::model_file::SavedModel;
use casebook_core::observe::Observer;
use casebook_core::report::Report;
use casebook_core::run::{MetricsRecord, RunDir, Training};
use casebook_vision::picture::pictures_tensor;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::{
    draw_squares, report_training, samples, save_samples, train_steps, training_files,
    validate_pictures, LoopState, Schedule, TrainOutcome,
};
use crate::loss::{mean_square, mean_squared_error, relative_content_loss};
use crate::model::adain::{adain, mean_std, style_layer_indices, AdaIn, Decoder, SIDE_MULTIPLE};
use crate::model::{FeatureNet, Pool, Source};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaInTrainConfig {
    /// A folder of content pictures (photos).
    pub images: PathBuf,
    /// A folder of style pictures (paintings): the decoder learns to draw
    /// any style like these.
    pub styles: PathBuf,
    /// The feature network for the encoder.
    pub features: Source,
    /// The network the style statistics are measured with, where not the
    /// encoder. A distilled encoder misses patterns its teacher sees: a
    /// decoder judged by it alone learnt to draw vertical stripes at low
    /// losses (2026-12-05); judged by VGG-19, it cannot.
    #[serde(default)]
    pub style_features: Option<Source>,
    pub pool: Pool,
    /// Side of the square training pictures (a multiple of 8).
    pub size: u32,
    /// Content pictures per step (each with a style picture).
    pub batch_size: usize,
    /// Weight of the style loss against the content loss (Huang & Belongie: 10).
    pub style_weight: f32,
    pub schedule: Schedule,
}

impl Default for AdaInTrainConfig {
    fn default() -> Self {
        Self {
            images: PathBuf::new(),
            styles: PathBuf::new(),
            features: Source::Builtin,
            style_features: None,
            pool: Pool::default(),
            size: 256,
            batch_size: 4,
            style_weight: 10.0,
            schedule: Schedule::default(),
        }
    }
}

impl Training for AdaInTrainConfig {
    type Outcome = TrainOutcome;

    fn validate(&self) -> Result<()> {
        validate_pictures(self.size, SIDE_MULTIPLE, self.batch_size)?;
        require_non_negative(self.style_weight as f64, "style_weight")?;
        self.schedule.validate()?;
        Ok(())
    }

    fn fit(&self, run: RunDir, observer: &dyn Observer) -> Result<TrainOutcome> {
        fit(self, run, observer)
    }
}

/// The relative error of `features`' channel means and standard deviations
/// against the style's, averaged over layers.
fn statistics_loss(features: &[Tensor<4>], style: &[(Tensor<4>, Tensor<4>)]) -> Tensor<1> {
    let layers = features.len() as f64;
    features
        .iter()
        .zip(style)
        .map(|(f, (s_mean, s_std))| {
            let (mean, std) = mean_std(f.clone());
            mean_squared_error(mean, s_mean.clone()) / mean_square(s_mean.clone())
                + mean_squared_error(std, s_std.clone()) / mean_square(s_std.clone())
        })
        .reduce(|a, b| a + b)
        .expect("at least one style layer")
        / layers
}

fn fit(config: &AdaInTrainConfig, run: RunDir, observer: &dyn Observer) -> Result<TrainOutcome> {
    let contents = training_files(&config.images, observer)?;
    let styles = training_files(&config.styles, observer)?;
    let sample_contents = samples(&contents, config.size)?;
    let sample_styles = samples(&styles, config.size)?;
    observer.note(&format!(
        "training an AdaIN decoder on {} content pictures from {} and {} style pictures from {}",
        contents.len(),
        config.images.display(),
        styles.len(),
        config.styles.display()
    ));
    let device = casebook_core::device::compute_device().autodiff();
    let net = FeatureNet::load(&config.features, config.pool, &device)?.frozen();
    let (encoder, arch) = AdaIn::encoder_of(net);
    let style_net = match &config.style_features {
        Some(source) => Some(FeatureNet::load(source, config.pool, &device)?.frozen()),
        None => None,
    };
    let judge = style_net.as_ref().unwrap_or(&encoder);
    let layers = style_layer_indices();
    let deepest = layers.len() - 1;
    let style_weight = config.style_weight as f64;
    let (_, state) = train_steps(
        &run,
        &config.schedule,
        observer,
        Decoder::new(&arch, encoder.vgg.norm(), config.schedule.seed, &device),
        &mut |decoder: Decoder, optimizer, lr, rng| {
            let content = draw_squares(&contents, config.batch_size, config.size, rng)?;
            let style = draw_squares(&styles, config.batch_size, config.size, rng)?;
            let style = pictures_tensor(&style, &device);
            let c = encoder.activations(pictures_tensor(&content, &device), &layers[deepest..]);
            let s = judge.activations(style.clone(), &layers);
            let s_encoded = match style_net {
                Some(_) => encoder.activations(style, &layers[deepest..]).remove(0),
                None => s[deepest].clone(),
            };
            let target = adain(c[0].clone(), s_encoded).detach();
            let s_stats: Vec<_> = s.into_iter().map(|f| mean_std(f.detach())).collect();
            let g = decoder.forward(target.clone());
            let drawn = judge.activations(g.clone(), &layers);
            let drawn_encoded = match style_net {
                Some(_) => encoder.activations(g, &layers[deepest..]).remove(0),
                None => drawn[deepest].clone(),
            };
            let content_loss = relative_content_loss(drawn_encoded, target);
            let style_loss = statistics_loss(&drawn, &s_stats);
            let loss = content_loss.clone() + style_loss.clone() * style_weight;
            let record = MetricsRecord::new(0)
                .with("content", content_loss.into_scalar::<f32>() as f64)
                .with("style", style_loss.into_scalar::<f32>() as f64)
                .with("total", loss.clone().into_scalar::<f32>() as f64);
            let grads = GradientsParams::from_grads(loss.backward(), &decoder);
            Ok((optimizer.step(lr, decoder, grads), record))
        },
        &mut |decoder, state| {
            let model = AdaIn {
                arch,
                encoder: FeatureNet {
                    vgg: encoder.vgg.clone().valid(),
                    source: encoder.source.clone(),
                },
                decoder: decoder.valid(),
                record: serde_json::Value::Null,
            };
            let drawn: Vec<RgbImage> = sample_contents
                .iter()
                .zip(sample_styles.iter().cycle())
                .map(|(c, s)| model.apply(c, s, 1.0))
                .collect();
            save_samples(&run, state.completed_steps, &drawn)?;
            model.save(&run.model_path(), training_record(config, state))
        },
    )?;
    write_report(config, &run, &state, &sample_contents, &sample_styles)?;
    Ok(TrainOutcome {
        history: state.history,
        run,
    })
}

fn training_record(config: &AdaInTrainConfig, state: &LoopState) -> serde_json::Value {
    let last = state.history.last();
    serde_json::json!({
        "config": config,
        "steps": state.completed_steps,
        "final_losses": last.map(|r| serde_json::json!({
            "content": r.get("content"),
            "style": r.get("style"),
        })),
    })
}

fn write_report(
    config: &AdaInTrainConfig,
    run: &RunDir,
    state: &LoopState,
    contents: &[RgbImage],
    styles: &[RgbImage],
) -> Result<()> {
    let mut report = Report::new("AdaIN decoder (arbitrary style in one pass)");
    report.paragraph(&format!(
        "{} steps of {} content and {} style pictures at {}×{} (content from {}, styles from {}); style weight {}; Adam at {}; {} encoder up to conv4_1; style statistics measured by {}.",
        state.completed_steps,
        config.batch_size,
        config.batch_size,
        config.size,
        config.size,
        config.images.display(),
        config.styles.display(),
        config.style_weight,
        config.schedule.learning_rate,
        config.features,
        match &config.style_features {
            Some(source) => source.to_string(),
            None => "the encoder".to_string(),
        },
    ));
    let pairs: Vec<(String, RgbImage)> = contents
        .iter()
        .zip(styles.iter().cycle())
        .enumerate()
        .flat_map(|(i, (c, s))| {
            [
                (format!("content {}", i + 1), c.clone()),
                (format!("style {}", i + 1), s.clone()),
            ]
        })
        .collect();
    report
        .heading("Sample pairs (drawn in order in each strip below)")
        .html(&crate::run::picture_strip(&pairs)?);
    report_training(
        &mut report,
        run,
        &config.schedule,
        state,
        &[("content", "content"), ("style", "style statistics")],
    )?;
    report.save(&run.report_path())
}
