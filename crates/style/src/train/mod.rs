//! Training the one-pass networks: a fast-style network per style
//! ([`fast`], Johnson et al.), an AdaIN decoder for any style ([`adain`],
//! Huang & Belongie) and a narrow encoder for it ([`distil`]). All train in
//! the same loop: steps of
//! randomly drawn picture batches with Adam; every `sample_every` steps a
//! checkpoint, the model so far and a strip of sample pictures, so a killed
//! run resumes exactly (`--resume`) and the report shows the network learn.

pub mod adain;
pub mod distil;
pub mod fast;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use casebook_core::checkpoint;
use casebook_core::config::{require, require_positive, InvalidConfig};
use casebook_core::observe::{Event, Observer};
use casebook_core::plot::{line_chart, Series};
use casebook_core::report::Report;
use casebook_core::run::{series, MetricsRecord, RunDir};
use casebook_core::seed::{self, purpose};
use casebook_vision::folder::{image_files, load_square};
use image::RgbImage;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::{save_picture, MIN_SIDE};
use crate::run::picture_strip;

/// Steps over which the learning rate rises to its value.
const WARMUP_STEPS: usize = 100;
/// Training pictures shown in the report's strips.
pub(crate) const SAMPLES: usize = 3;
const SAMPLES_DIR: &str = "samples";

/// How long a network trains and how often it is saved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub steps: usize,
    /// Steps between checkpoints, sample pictures and model saves.
    pub sample_every: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

/// 2000 steps, a checkpoint every 100, Adam at 10⁻³, the default seed.
impl Default for Schedule {
    fn default() -> Self {
        Self {
            steps: 2000,
            sample_every: 100,
            learning_rate: 1e-3,
            seed: seed::DEFAULT,
        }
    }
}

impl Schedule {
    pub(crate) fn validate(&self) -> Result<(), InvalidConfig> {
        require(self.steps >= 1, "steps", "must be at least 1")?;
        require(self.sample_every >= 1, "sample_every", "must be at least 1")?;
        require_positive(self.learning_rate, "learning_rate")
    }

    /// The learning rate of step `step` (from 1): it rises linearly over the
    /// first tenth of the steps (at most [`WARMUP_STEPS`]). At full rate from
    /// the first step, Adam's first update (every weight moved by the full
    /// rate in its gradient's direction) threw an AdaIN decoder's pictures
    /// 10⁴ times further from their targets, and the gradients of that step
    /// then damped every later one through Adam's second moments.
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        let warmup = (self.steps / 10).clamp(1, WARMUP_STEPS);
        self.learning_rate * (step.min(warmup) as f64 / warmup as f64)
    }

    /// Whether a checkpoint (and samples, and the model so far) follows `step`.
    fn is_checkpoint(&self, step: usize) -> bool {
        step.is_multiple_of(self.sample_every) || step == self.steps
    }
}

/// Checks a training's picture side (a multiple of `multiple`, at least
/// [`MIN_SIDE`]) and batch size.
pub(crate) fn validate_pictures(
    size: u32,
    multiple: usize,
    batch_size: usize,
) -> Result<(), InvalidConfig> {
    require(
        size >= MIN_SIDE && (size as usize).is_multiple_of(multiple),
        "size",
        format!("must be a multiple of {multiple} of at least {MIN_SIDE} (got {size})"),
    )?;
    require(batch_size >= 1, "batch_size", "must be at least 1")
}

/// A finished training run: the losses of every step and its folder.
#[derive(Debug)]
pub struct TrainOutcome {
    pub history: Vec<MetricsRecord>,
    pub run: RunDir,
}

/// What a run has done so far (saved with each checkpoint).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoopState {
    pub completed_steps: usize,
    pub history: Vec<MetricsRecord>,
}

/// One training step: takes the model, the step's learning rate and random
/// stream, returns the updated model and the step's losses (a record with at
/// least `total`).
pub(crate) type Step<'a, M> =
    dyn FnMut(M, &mut ModuleOptimizer, f64, &mut ChaCha8Rng) -> Result<(M, MetricsRecord)> + 'a;

/// Runs `step` until `schedule.steps`, continuing from the run's checkpoint
/// if it has one. At each checkpoint `at_checkpoint` sees the model (to
/// draw samples and save the model so far), then the metrics and the
/// checkpoint are written.
pub(crate) fn train_steps<M: Module>(
    run: &RunDir,
    schedule: &Schedule,
    observer: &dyn Observer,
    model: M,
    step: &mut Step<'_, M>,
    at_checkpoint: &mut dyn FnMut(&M, &LoopState) -> Result<()>,
) -> Result<(M, LoopState)> {
    let mut model = model;
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
    let phase = observer.phase("training", schedule.steps as u64);
    phase.advance(state.completed_steps as u64);
    while state.completed_steps < schedule.steps {
        let number = state.completed_steps + 1;
        observer.check_stop(|| {
            format!(
                "the run in {} keeps its checkpoint of step {}",
                run.path().display(),
                state.completed_steps - state.completed_steps % schedule.sample_every
            )
        })?;
        let started = Instant::now();
        let mut rng = seed::stream(schedule.seed, &[purpose::TRAIN, number as u64]);
        let lr = schedule.learning_rate_at(number);
        let (next, record) = step(model, &mut optimizer, lr, &mut rng)?;
        model = next;
        let total = record.get("total");
        if !total.is_finite() {
            bail!(
                "training diverged at step {number} (loss is {total}); lower the learning rate (now {})",
                schedule.learning_rate
            );
        }
        let mut record = record.with("seconds", started.elapsed().as_secs_f64());
        record.step = number;
        phase.status(&format!("loss {total:.3}"));
        phase.advance(1);
        observer.event(Event::Metrics(&record));
        state.history.push(record);
        state.completed_steps = number;
        if schedule.is_checkpoint(number) {
            at_checkpoint(&model, &state)?;
            run.write_metrics(&state.history)?;
            checkpoint::save(&run.checkpoint_dir(), &model, &optimizer, &state)?;
        }
    }
    Ok((model, state))
}

/// The image files under `folder` that can be trained on (headers read;
/// files that are not pictures or are too small are reported as skipped).
pub(crate) fn training_files(folder: &Path, observer: &dyn Observer) -> Result<Vec<PathBuf>> {
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

/// A picture's centre square at `size`.
pub(crate) fn read_square(path: &Path, size: u32) -> Result<RgbImage> {
    load_square(path, size)
        .map_err(|e| anyhow::anyhow!(e))
        .with_context(|| format!("cannot train on {}", path.display()))
}

/// `count` pictures drawn from `files`: centre squares, half of them
/// mirrored.
pub(crate) fn draw_squares(
    files: &[PathBuf],
    count: usize,
    size: u32,
    rng: &mut impl Rng,
) -> Result<Vec<RgbImage>> {
    (0..count)
        .map(|_| {
            let picture = read_square(&files[rng.gen_range(0..files.len())], size)?;
            Ok(if rng.gen_bool(0.5) {
                image::imageops::flip_horizontal(&picture)
            } else {
                picture
            })
        })
        .collect()
}

/// The first [`SAMPLES`] pictures of `files`, shown at every checkpoint.
pub(crate) fn samples(files: &[PathBuf], size: u32) -> Result<Vec<RgbImage>> {
    files
        .iter()
        .take(SAMPLES)
        .map(|f| read_square(f, size))
        .collect()
}

/// Writes the strip of `pictures` drawn at `step`.
pub(crate) fn save_samples(run: &RunDir, step: usize, pictures: &[RgbImage]) -> Result<()> {
    save_picture(&sample_path(run, step), &join_horizontally(pictures))
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

/// The report's training sections: the losses `curves` (metric name,
/// label) by step, and the sample strips of every checkpoint.
pub(crate) fn report_training(
    report: &mut Report,
    run: &RunDir,
    schedule: &Schedule,
    state: &LoopState,
    curves: &[(&str, &str)],
) -> Result<()> {
    let window = schedule
        .sample_every
        .min(schedule.steps.div_ceil(20))
        .max(1);
    report.heading("Losses").paragraph(&format!(
        "Relative errors before weighting, averaged over windows of {window} steps (each step sees other pictures)."
    ));
    let series: Vec<Series> = curves
        .iter()
        .map(|(name, label)| Series::new(*label, smoothed(&state.history, name, window)))
        .collect();
    report.figure(&line_chart("Losses by step", "step", "loss", &series)?);
    let mut strips = Vec::new();
    for step in (1..=state.completed_steps).filter(|s| schedule.is_checkpoint(*s)) {
        if let Ok(strip) = image::open(sample_path(run, step)) {
            strips.push((format!("step {step}"), strip.to_rgb8()));
        }
    }
    if !strips.is_empty() {
        report
            .heading("The samples as training went on")
            .html(&picture_strip(&strips)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learning_rate_warms_up_over_a_tenth_of_the_steps_at_most_100() {
        let schedule = |steps| Schedule {
            steps,
            sample_every: 10,
            learning_rate: 0.5,
            seed: 1,
        };
        assert_eq!(schedule(3000).learning_rate_at(1), 0.005);
        assert_eq!(schedule(3000).learning_rate_at(50), 0.25);
        assert_eq!(schedule(3000).learning_rate_at(100), 0.5);
        assert_eq!(schedule(3000).learning_rate_at(2000), 0.5);
        assert_eq!(schedule(40).learning_rate_at(2), 0.25);
        assert_eq!(schedule(40).learning_rate_at(4), 0.5);
        assert_eq!(schedule(5).learning_rate_at(1), 0.5);
    }
}
