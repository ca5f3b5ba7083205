//! Distilling a feature network into a narrower encoder (`casebook style
//! distil`): each step draws pictures, runs them through the fixed teacher
//! to conv4_1 and trains the student (and the 1×1 convolutions that map its
//! activations to the teacher's) to give the same activations at conv1_1,
//! conv2_1, conv3_1 and conv4_1. The result is a `--features FILE` for
//! `style train-adain` whose model then runs at a fraction of the cost.

use std::path::PathBuf;

use anyhow::Result;
use burn::module::Module;
use burn::optim::GradientsParams;
use casebook_core::config::require;
use casebook_core::model_file::SavedModel;
use casebook_core::observe::Observer;
use casebook_core::report::Report;
use casebook_core::run::{MetricsRecord, RunDir, Training};
use casebook_core::seed::{self, purpose};
use casebook_vision::picture::pictures_tensor;
use serde::{Deserialize, Serialize};

use super::{
    draw_squares, report_training, train_steps, training_files, validate_pictures, LoopState,
    Schedule, TrainOutcome,
};
use crate::loss::mean_square;
use crate::model::adain::{style_layer_indices, AdaIn, AdaInArch, SIDE_MULTIPLE, STYLE_LAYERS};
use crate::model::distilled::{DistilledEncoder, Distiller};
use crate::model::{FeatureNet, Pool, Source};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistilConfig {
    /// A folder of pictures (sub-folders included): what the encoder will see.
    pub images: PathBuf,
    /// The network distilled.
    pub teacher: Source,
    /// The student's channels in blocks 1–4 and its pooling (the teacher's).
    pub arch: AdaInArch,
    /// Side of the square training pictures (a multiple of 8).
    pub size: u32,
    pub batch_size: usize,
    pub schedule: Schedule,
}

impl Default for DistilConfig {
    fn default() -> Self {
        Self {
            images: PathBuf::new(),
            teacher: Source::Builtin,
            arch: AdaInArch {
                widths: [32, 64, 128, 256],
                pool: Pool::default(),
            },
            size: 128,
            batch_size: 4,
            schedule: Schedule::default(),
        }
    }
}

impl Training for DistilConfig {
    type Outcome = TrainOutcome;

    fn validate(&self) -> Result<()> {
        validate_pictures(self.size, SIDE_MULTIPLE, self.batch_size)?;
        require(
            self.arch.check().is_ok(),
            "widths",
            format!("must each be 1–1024 (got {:?})", self.arch.widths),
        )?;
        self.schedule.validate()?;
        Ok(())
    }

    fn fit(&self, run: RunDir, observer: &dyn Observer) -> Result<TrainOutcome> {
        fit(self, run, observer)
    }
}

/// Loss names in the metrics: one per matched layer.
fn loss_name(layer: &str) -> String {
    format!("error_{layer}")
}

fn fit(config: &DistilConfig, run: RunDir, observer: &dyn Observer) -> Result<TrainOutcome> {
    let files = training_files(&config.images, observer)?;
    observer.note(&format!(
        "distilling the {} into an encoder of widths {:?} on {} pictures from {}",
        config.teacher,
        config.arch.widths,
        files.len(),
        config.images.display()
    ));
    let device = casebook_core::device::compute_device().autodiff();
    let (teacher, _) =
        AdaIn::encoder_of(FeatureNet::load(&config.teacher, config.arch.pool, &device)?.frozen());
    let layers = style_layer_indices();
    let teacher_widths: Vec<usize> = layers.iter().map(|&l| teacher.vgg.widths()[l]).collect();
    let distiller = Distiller::new(config.arch, &teacher_widths, config.schedule.seed, &device);
    // Targets are divided by each layer's root mean square on a first
    // batch: VGG-19's activations (on Caffe's 0–255 input) run into the
    // hundreds, and projections that start near 1 would take Adam ~10⁵ steps
    // to grow to them (conv1_1's error was still 0.89 after 250 steps).
    let scales: Vec<f64> = {
        let mut rng = seed::stream(config.schedule.seed, &[purpose::TRAIN, 0]);
        let pictures = draw_squares(&files, config.batch_size, config.size, &mut rng)?;
        teacher
            .activations(pictures_tensor(&pictures, &device), &layers)
            .into_iter()
            .map(|t| mean_square(t).sqrt())
            .collect()
    };
    let (_, state) = train_steps(
        &run,
        &config.schedule,
        observer,
        distiller,
        &mut |distiller: Distiller, optimizer, lr, rng| {
            let pictures = draw_squares(&files, config.batch_size, config.size, rng)?;
            let x = pictures_tensor(&pictures, &device);
            let targets: Vec<_> = teacher
                .activations(x.clone(), &layers)
                .into_iter()
                .zip(&scales)
                .map(|(t, scale)| t.detach() / *scale)
                .collect();
            let losses = distiller.losses(x, &targets);
            let mut record = MetricsRecord::new(0);
            for (layer, loss) in STYLE_LAYERS.iter().zip(&losses) {
                record = record.with(&loss_name(layer), loss.clone().into_scalar::<f32>() as f64);
            }
            let total = losses
                .into_iter()
                .reduce(|a, b| a + b)
                .expect("four matched layers")
                / STYLE_LAYERS.len() as f64;
            let record = record.with("total", total.clone().into_scalar::<f32>() as f64);
            let grads = GradientsParams::from_grads(total.backward(), &distiller);
            Ok((optimizer.step(lr, distiller, grads), record))
        },
        &mut |distiller, state| {
            let encoder = DistilledEncoder {
                vgg: distiller.student.clone().valid(),
                record: serde_json::Value::Null,
            };
            encoder.save(&run.model_path(), training_record(config, state))
        },
    )?;
    write_report(config, &run, &state)?;
    Ok(TrainOutcome {
        history: state.history,
        run,
    })
}

fn training_record(config: &DistilConfig, state: &LoopState) -> serde_json::Value {
    let last = state.history.last();
    serde_json::json!({
        "config": config,
        "steps": state.completed_steps,
        "final_errors": last.map(|r| STYLE_LAYERS
            .iter()
            .map(|l| (l.to_string(), serde_json::json!(r.get(&loss_name(l)))))
            .collect::<serde_json::Map<_, _>>()),
    })
}

fn write_report(config: &DistilConfig, run: &RunDir, state: &LoopState) -> Result<()> {
    let mut report = Report::new("Distilled encoder");
    report.paragraph(&format!(
        "{} steps of {} pictures at {}×{} from {}: an encoder of widths {:?} learns the {}'s activations at {} (through a 1×1 convolution each); Adam at {}.",
        state.completed_steps,
        config.batch_size,
        config.size,
        config.size,
        config.images.display(),
        config.arch.widths,
        config.teacher,
        STYLE_LAYERS.join(", "),
        config.schedule.learning_rate,
    ));
    let names: Vec<String> = STYLE_LAYERS.iter().map(|l| loss_name(l)).collect();
    let curves: Vec<(&str, &str)> = names
        .iter()
        .zip(STYLE_LAYERS)
        .map(|(name, layer)| (name.as_str(), layer))
        .collect();
    report_training(&mut report, run, &config.schedule, state, &curves)?;
    report.save(&run.report_path())
}
