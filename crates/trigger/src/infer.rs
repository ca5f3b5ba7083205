//! Using a trained trigger-word model: the model file, per-step
//! probabilities, and detection — always as a stream.
//!
//! [`Stream`] runs the network incrementally: it keeps the unfinished
//! spectrogram frame and the last `kernel` frames for the convolution, and
//! hands the windows each chunk completes to the network's streaming form
//! ([`StreamNet`], which keeps both GRU states), so each chunk of audio costs
//! only its own work and memory stays constant however long the input is.
//! Offline `detect` is the same stream fed from a file, so the two agree by
//! construction; a test checks the stream against the burn network on whole
//! clips.

use std::path::Path;

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use casebook_core::checkpoint::{module_from_bytes, module_to_bytes};
use casebook_core::model_file::{ModelFile, SavedModel, WEIGHTS};
use casebook_core::tensor::values;
use serde::{Deserialize, Serialize};

use crate::data::audio::{Pcm16Decoder, StreamResampler, WavChunks};
use crate::data::features::FeatureConfig;
use crate::data::spectrogram::{Spectrogram, SpectrogramConfig, MAX_N_FFT};
use crate::data::SUPPORTED_RATES;
use crate::model::stream::StreamNet;
use crate::model::{TriggerNet, TriggerNetConfig};

/// The task name written into trigger-word model files.
pub const TASK: &str = "trigger-word";

/// The device the trigger model runs on: its GRU kernel is CPU code.
pub fn device() -> Device {
    Device::flex()
}

/// The threshold used where none is given and the model has no calibration.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// The model-file section holding a [`Calibration`].
const CALIBRATION: &str = "calibration";

/// The detection threshold measured for a model: the lowest one whose false
/// accepts per hour met a target on an evaluation set (`trigger eval
/// --calibrate`), with what it measured there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub threshold: f32,
    pub target_fa_per_hour: f64,
    pub false_reject_rate: f64,
    pub false_accepts_per_hour: f64,
    /// Hours of audio and trigger words it was measured on.
    pub hours: f64,
    pub words: usize,
    /// The folders measured.
    pub data: Vec<String>,
}

/// A trained trigger-word model.
#[derive(Debug, Clone)]
pub struct TriggerModel {
    pub net: TriggerNet,
    pub architecture: TriggerNetConfig,
    pub features: FeatureConfig,
    pub word: String,
    pub calibration: Option<Calibration>,
}

impl TriggerModel {
    pub fn new(
        net: &TriggerNet,
        architecture: TriggerNetConfig,
        features: FeatureConfig,
        word: String,
    ) -> Self {
        Self {
            net: net.valid(),
            architecture,
            features,
            word,
            calibration: None,
        }
    }

    /// The threshold detection uses unless told otherwise: the calibrated
    /// one, else [`DEFAULT_THRESHOLD`].
    pub fn default_threshold(&self) -> f32 {
        self.calibration
            .as_ref()
            .map_or(DEFAULT_THRESHOLD, |c| c.threshold)
    }

    /// A model file, or the committed model for [`BUILTIN`].
    pub fn open(model: &str) -> Result<Self> {
        Self::load_or_builtin(Path::new(model), BUILTIN_MODEL)
    }

    /// The model file `model` (a path or `builtin`) as stored, header and all.
    pub fn file(model: &str) -> Result<ModelFile> {
        Ok(if model == BUILTIN {
            ModelFile::from_bytes(BUILTIN_MODEL, Path::new("the built-in model"))?
        } else {
            ModelFile::load_for_task(Path::new(model), TASK)?
        })
    }

    /// Writes the model file `model` (a path or `builtin`) to `out` with
    /// `calibration` in place of any it had; the rest of the file, its
    /// training record included, is kept byte for byte.
    pub fn write_calibrated(model: &str, calibration: &Calibration, out: &Path) -> Result<()> {
        if !(calibration.threshold > 0.0 && calibration.threshold < 1.0) {
            bail!(
                "a calibrated threshold must lie between 0 and 1, not {}",
                calibration.threshold
            );
        }
        let file =
            Self::file(model)?.with_section(CALIBRATION, serde_json::to_vec_pretty(calibration)?);
        // What is written must load.
        Self::from_file(&file, out)?;
        file.save(out)
    }

    /// Per-step logits of equal-length clips through the burn network
    /// (batched; used for validation during training).
    pub fn logits(&self, features: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let bins = self.features.bins();
        let frames = features[0].len() / bins;
        let flat: Vec<f32> = features.iter().flatten().copied().collect();
        let x = Tensor::<3>::from_data(
            TensorData::new(flat, [features.len(), frames, bins]),
            &device(),
        );
        let out = values(self.net.forward(x));
        let steps = out.len() / features.len();
        out.chunks(steps).map(|c| c.to_vec()).collect()
    }

    /// Every output step's score over a clip at any sample rate (resampled
    /// to the model's first, as `listen --rate` does).
    pub fn score_clip(&self, clip: &crate::data::audio::Clip) -> Result<Vec<StepScore>> {
        let audio = clip.resample(self.features.spectrogram.rate)?;
        Ok(self.stream().push(&audio.samples))
    }

    /// A fresh stream over this model.
    pub fn stream(&self) -> Stream {
        Stream::new(self)
    }

    /// Seconds from the start of the audio to the end of output step `step`'s
    /// receptive field: the moment the step can be computed.
    pub fn step_time(&self, step: usize) -> f64 {
        step_time(&self.features.spectrogram, &self.architecture, step)
    }
}

impl SavedModel for TriggerModel {
    const TASK: &'static str = TASK;

    fn to_file(&self, training: serde_json::Value) -> Result<ModelFile> {
        let file = ModelFile::new(
            TASK,
            vec![self.word.clone()],
            &self.features,
            &self.architecture,
            training,
        )?
        .with_section(WEIGHTS, module_to_bytes(&self.net)?);
        Ok(match &self.calibration {
            Some(c) => file.with_section(CALIBRATION, serde_json::to_vec_pretty(c)?),
            None => file,
        })
    }

    fn from_file(file: &ModelFile, path: &Path) -> Result<Self> {
        let architecture: TriggerNetConfig = file.architecture(path)?;
        let features: FeatureConfig = file.preprocessing(path)?;
        // The stream indexes frames by these sizes: they must agree before
        // any audio is read.
        let s = features.spectrogram;
        let sound = (16..=MAX_N_FFT).contains(&s.n_fft)
            && (1..=s.n_fft).contains(&s.hop)
            && SUPPORTED_RATES.contains(&s.rate)
            && features.bins() == architecture.bins
            && features.mean.len() == architecture.bins
            && features.std.len() == architecture.bins
            // A zero or NaN statistic turns every probability into NaN.
            && features.mean.iter().all(|m| m.is_finite())
            && features.std.iter().all(|d| d.is_finite() && *d > 0.0)
            && (1..=256).contains(&architecture.kernel)
            && (1..=architecture.kernel).contains(&architecture.stride)
            && (1..=4096).contains(&architecture.filters)
            && (1..=4096).contains(&architecture.hidden)
            && (0.0..1.0).contains(&architecture.dropout);
        if !sound {
            bail!(
                "{}'s sections do not fit together (spectrogram of {} bins from n_fft {}, hop {}, {} Hz; statistics for {} bins (finite, std above 0); network for {} bins, kernel {}, stride {}, dropout {}); retrain the model",
                path.display(),
                features.bins(),
                s.n_fft,
                s.hop,
                s.rate,
                features.mean.len(),
                architecture.bins,
                architecture.kernel,
                architecture.stride,
                architecture.dropout
            );
        }
        let net = module_from_bytes(architecture.init(&device()), file.section(WEIGHTS, path)?)
            .with_context(|| format!("cannot load weights from {}", path.display()))?;
        let word = file.meta.classes.first().cloned().unwrap_or_default();
        let calibration: Option<Calibration> = file
            .sections
            .get(CALIBRATION)
            .map(|bytes| serde_json::from_slice(bytes))
            .transpose()
            .with_context(|| {
                format!(
                    "{}'s calibration section is damaged; calibrate the model again",
                    path.display()
                )
            })?;
        if let Some(c) = &calibration {
            if !(c.threshold > 0.0 && c.threshold < 1.0) {
                bail!(
                    "{} is calibrated to threshold {}, outside 0..1; calibrate it again",
                    path.display(),
                    c.threshold
                );
            }
        }
        Ok(Self {
            calibration,
            ..Self::new(&net, architecture, features, word)
        })
    }
}

fn step_time(s: &SpectrogramConfig, architecture: &TriggerNetConfig, step: usize) -> f64 {
    let last_frame = step * architecture.stride + architecture.kernel - 1;
    (last_frame * s.hop + s.n_fft) as f64 / s.rate as f64
}

/// One output step of a stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepScore {
    pub step: usize,
    /// Seconds from the start of the stream (see [`TriggerModel::step_time`]).
    pub time: f64,
    pub probability: f32,
}

/// Incremental inference over audio at the model's sample rate.
pub struct Stream {
    features: FeatureConfig,
    architecture: TriggerNetConfig,
    net: StreamNet,
    spectrogram: Spectrogram,
    /// Samples not yet consumed by a complete frame.
    pending: Vec<f32>,
    /// Standardised frames from `first_frame` on, flattened.
    frames: Vec<f32>,
    first_frame: usize,
    frames_seen: usize,
    steps_done: usize,
}

impl Stream {
    fn new(model: &TriggerModel) -> Self {
        Self {
            spectrogram: Spectrogram::new(model.features.spectrogram),
            net: StreamNet::new(&model.net, &model.architecture),
            features: model.features.clone(),
            architecture: model.architecture.clone(),
            pending: Vec::new(),
            frames: Vec::new(),
            first_frame: 0,
            frames_seen: 0,
            steps_done: 0,
        }
    }

    /// Feeds samples (at the model's rate); returns the steps they complete.
    pub fn push(&mut self, samples: &[f32]) -> Vec<StepScore> {
        let s = self.features.spectrogram;
        let a = &self.architecture;
        let bins = s.bins();
        self.pending.extend_from_slice(samples);
        // Complete frames.
        let new_frames = s.frames(self.pending.len());
        if new_frames > 0 {
            let used = new_frames * s.hop;
            let mut feats = self
                .spectrogram
                .features(&self.pending[..(new_frames - 1) * s.hop + s.n_fft]);
            for frame in &mut feats {
                self.features.standardise(frame);
                self.frames.extend_from_slice(frame);
            }
            self.frames_seen += new_frames;
            self.pending.drain(..used);
        }
        // Output steps whose receptive field is complete.
        let ready = a.steps(self.frames_seen);
        let count = ready - self.steps_done;
        if count == 0 {
            return Vec::new();
        }
        let window = a.kernel * bins;
        let mut im2col = Vec::with_capacity(count * window);
        for step in self.steps_done..ready {
            let start = (step * a.stride - self.first_frame) * bins;
            im2col.extend_from_slice(&self.frames[start..start + window]);
        }
        let scores = self
            .net
            .forward(&im2col, count)
            .into_iter()
            .enumerate()
            .map(|(i, logit)| {
                let step = self.steps_done + i;
                StepScore {
                    step,
                    time: step_time(&s, a, step),
                    probability: 1.0 / (1.0 + (-logit).exp()),
                }
            })
            .collect();
        self.steps_done = ready;
        // Keep frames from the next window's start on.
        let keep_from = self.steps_done * a.stride;
        let drop = (keep_from - self.first_frame).min(self.frames.len() / bins);
        self.frames.drain(..drop * bins);
        self.first_frame += drop;
        scores
    }
}

/// One detected trigger word.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Seconds from the start of the audio.
    pub time: f64,
    pub score: f32,
}

/// How step scores become detections, besides the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectionRule {
    /// Seconds after a detection during which no other fires.
    pub refractory_s: f64,
    /// Consecutive steps at or above the threshold needed to fire.
    pub patience: usize,
}

impl Default for DetectionRule {
    fn default() -> Self {
        Self {
            refractory_s: REFRACTORY_S,
            patience: PATIENCE,
        }
    }
}

/// Default seconds between two detections.
pub const REFRACTORY_S: f64 = 1.0;
/// Default consecutive steps above the threshold. Measured on held-out voices,
/// waiting longer (3-15 steps) did not remove false accepts: the ones left are
/// confident, not flickers.
pub const PATIENCE: usize = 1;

/// Turns per-step probabilities into detections: fire when the probability
/// has been at or above the threshold for `patience` steps, then stay quiet
/// until it has fallen below the threshold again and the refractory period
/// has passed (one detection per word).
#[derive(Debug, Clone)]
pub struct Debouncer {
    pub threshold: f32,
    pub rule: DetectionRule,
    last_fire: Option<f64>,
    fell_since: bool,
    run: usize,
}

impl Debouncer {
    pub fn new(threshold: f32, rule: DetectionRule) -> Self {
        Self {
            threshold,
            rule,
            last_fire: None,
            fell_since: true,
            run: 0,
        }
    }

    pub fn feed(&mut self, score: &StepScore) -> Option<Detection> {
        if score.probability < self.threshold {
            self.fell_since = true;
            self.run = 0;
            return None;
        }
        self.run += 1;
        let rested = self
            .last_fire
            .is_none_or(|t| score.time - t >= self.rule.refractory_s);
        if self.fell_since && rested && self.run >= self.rule.patience.max(1) {
            self.last_fire = Some(score.time);
            self.fell_since = false;
            return Some(Detection {
                time: score.time,
                score: score.probability,
            });
        }
        None
    }

    /// Detections in a whole sequence of scores, each with its peak score.
    pub fn run(threshold: f32, rule: DetectionRule, scores: &[StepScore]) -> Vec<Detection> {
        let mut peaks = Peaks::new(threshold, rule);
        let mut detections: Vec<Detection> = scores.iter().filter_map(|s| peaks.feed(s)).collect();
        detections.extend(peaks.finish());
        detections
    }
}

/// Detections with the peak score over each, as a user reads a score (how
/// sure the model was of that word), rather than the score of the step
/// that first crossed the threshold. A detection is handed out when it
/// closes: when the score falls below the threshold, or `refractory_s`
/// after it fired, whichever comes first. Its time stays the step it
/// fired on. Live listening uses the [`Debouncer`] itself, which fires
/// without waiting for the peak.
#[derive(Debug, Clone)]
pub struct Peaks {
    debouncer: Debouncer,
    open: Option<Detection>,
}

impl Peaks {
    pub fn new(threshold: f32, rule: DetectionRule) -> Self {
        Self {
            debouncer: Debouncer::new(threshold, rule),
            open: None,
        }
    }

    /// The detection that this step closes, if any.
    pub fn feed(&mut self, score: &StepScore) -> Option<Detection> {
        let (threshold, refractory_s) =
            (self.debouncer.threshold, self.debouncer.rule.refractory_s);
        let closed = match &mut self.open {
            Some(open)
                if score.probability >= threshold && score.time - open.time < refractory_s =>
            {
                open.score = open.score.max(score.probability);
                None
            }
            _ => self.open.take(),
        };
        if let Some(fired) = self.debouncer.feed(score) {
            self.open = Some(fired);
        }
        closed
    }

    /// The detection still open when the scores end.
    pub fn finish(self) -> Option<Detection> {
        self.open
    }
}

/// Streams a WAV file through the model in one-second chunks, calling
/// `on_score` for every output step; returns the audio's length in seconds.
/// Memory stays constant in the length of the file.
pub fn stream_file(
    model: &TriggerModel,
    path: &Path,
    mut on_score: impl FnMut(StepScore),
) -> Result<f64> {
    let rate = model.features.spectrogram.rate;
    let mut reader = WavChunks::open(path, rate)?;
    let mut stream = model.stream();
    let mut samples = 0usize;
    while let Some(chunk) = reader.next_chunk(rate as usize)? {
        samples += chunk.len();
        stream.push(&chunk).into_iter().for_each(&mut on_score);
    }
    Ok(samples as f64 / rate as f64)
}

pub use casebook_core::model_file::BUILTIN;

/// The committed small model, trained by `casebook trigger train` (see the
/// README in its folder for the exact command), compiled into the binary so
/// an installed `casebook` needs no source tree.
static BUILTIN_MODEL: &[u8] = include_bytes!("../models/activate-small.casebook");

/// Detections in one WAV file, streamed in one-second chunks (constant memory
/// however long the file), each with its peak score ([`Peaks`]);
/// `on_detection` sees each one as it closes.
pub fn detect_file(
    model: &TriggerModel,
    path: &Path,
    threshold: f32,
    rule: DetectionRule,
    mut on_detection: impl FnMut(&Detection),
) -> Result<Vec<Detection>> {
    let mut peaks = Peaks::new(threshold, rule);
    let mut detections = Vec::new();
    stream_file(model, path, |score| {
        if let Some(d) = peaks.feed(&score) {
            on_detection(&d);
            detections.push(d);
        }
    })?;
    if let Some(d) = peaks.finish() {
        on_detection(&d);
        detections.push(d);
    }
    Ok(detections)
}

/// Writes the WAV `input` to `out` (16-bit mono at the input's rate) with a
/// chime at each detection, a chunk at a time: a two-hour recording takes no
/// more memory than detecting in it (it held the whole file, 910 MB).
pub fn write_chimed(input: &Path, detections: &[Detection], out: &Path) -> Result<()> {
    casebook_core::fsx::ensure_not_input(input, out)?;
    let mut chunks = WavChunks::open_at_own_rate(input)?;
    let rate = chunks.rate();
    let chime = chime(rate);
    let starts: Vec<usize> = detections
        .iter()
        .map(|d| (d.time * rate as f64) as usize)
        .collect();
    casebook_core::fsx::write_atomic_with(out, |file| {
        let mut writer = hound::WavWriter::new(file, crate::data::audio::pcm16_spec(rate))?;
        let mut at = 0;
        while let Some(mut samples) = chunks.next_chunk(rate as usize)? {
            let end = at + samples.len();
            for &start in &starts {
                for i in start.max(at)..(start + chime.len()).min(end) {
                    samples[i - at] = (samples[i - at] + chime[i - start]).clamp(-1.0, 1.0);
                }
            }
            for &s in &samples {
                writer.write_sample(crate::data::audio::pcm16(s))?;
            }
            at = end;
        }
        Ok(writer.finalize()?)
    })
}

/// Detections in live raw 16-bit mono PCM at `rate` Hz read from `input` until
/// it ends (100 ms per read); `on_detection` sees each one as it fires, with
/// the score of that step (not waiting for the peak, as [`Peaks`] does).
pub fn listen(
    model: &TriggerModel,
    mut input: impl std::io::Read,
    rate: u32,
    threshold: f32,
    rule: DetectionRule,
    mut on_detection: impl FnMut(&Detection),
) -> Result<()> {
    casebook_core::config::require(
        SUPPORTED_RATES.contains(&rate),
        "rate",
        format!(
            "{rate} is not a usable sample rate; give the input's rate in Hz, {}–{}, e.g. 16000",
            SUPPORTED_RATES.start(),
            SUPPORTED_RATES.end()
        ),
    )?;
    let mut resampler = StreamResampler::new(rate, model.features.spectrogram.rate)?;
    let mut decoder = Pcm16Decoder::default();
    let mut stream = model.stream();
    let mut debouncer = Debouncer::new(threshold, rule);
    let mut buffer = vec![0u8; (rate as usize / 10).max(1) * 2];
    let mut handle = |samples: Vec<f32>| {
        for score in stream.push(&samples) {
            if let Some(d) = debouncer.feed(&score) {
                on_detection(&d);
            }
        }
    };
    loop {
        let n = input
            .read(&mut buffer)
            .context("cannot read the audio input")?;
        if n == 0 {
            break;
        }
        handle(resampler.push(&decoder.decode(&buffer[..n]))?);
    }
    handle(resampler.finish()?);
    Ok(())
}

/// A short two-tone chime at `rate` Hz, loud enough to hear over speech.
fn chime(rate: u32) -> Vec<f32> {
    let rate = rate as f32;
    (0..(0.35 * rate) as usize)
        .map(|i| {
            let t = i as f32 / rate;
            let tone = (std::f32::consts::TAU * 880.0 * t).sin()
                + 0.6 * (std::f32::consts::TAU * 1320.0 * t).sin();
            0.3 * tone * (-t * 9.0).exp()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::features::MODEL_SPECTROGRAM;
    use burn::module::RunningState;
    use burn::tensor::Distribution;
    use rand::{Rng, SeedableRng};

    /// The chimed copy is the input's mono mix at its own rate with a chime
    /// added at each detection (overlapping ones and one cut by the end
    /// included), written chunk by chunk: equal to doing it in memory.
    #[test]
    fn chimes_are_mixed_in_chunk_by_chunk_as_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("speech.wav");
        let rate = 44_100;
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(&input, spec).unwrap();
        for i in 0..3 * rate as i32 {
            writer
                .write_sample(((i * 37) % 20_000 - 10_000) as i16)
                .unwrap();
            writer
                .write_sample(((i * 11) % 16_000 - 8_000) as i16)
                .unwrap();
        }
        writer.finalize().unwrap();
        let times = [0.5, 0.6, 2.9];
        let detections: Vec<Detection> = times
            .iter()
            .map(|&time| Detection { time, score: 0.9 })
            .collect();
        let out = dir.path().join("chimed.wav");
        write_chimed(&input, &detections, &out).unwrap();

        let mut expected = crate::data::Clip::read_wav(&input).unwrap().samples;
        let chime = chime(rate);
        for time in times {
            let start = (time * rate as f64) as usize;
            for (s, c) in expected.iter_mut().skip(start).zip(&chime) {
                *s = (*s + c).clamp(-1.0, 1.0);
            }
        }
        let mut written = hound::WavReader::open(&out).unwrap();
        assert_eq!(written.spec(), crate::data::audio::pcm16_spec(rate));
        let written: Vec<i16> = written.samples::<i16>().map(Result::unwrap).collect();
        let expected: Vec<i16> = expected
            .into_iter()
            .map(crate::data::audio::pcm16)
            .collect();
        assert_eq!(written, expected);
    }

    /// A small random model whose batch norms have non-trivial running statistics.
    fn random_model() -> TriggerModel {
        let device = device();
        let architecture = TriggerNetConfig::new(MODEL_SPECTROGRAM.bins())
            .with_filters(12)
            .with_hidden(10);
        let mut net = architecture.init(&device);
        for norm in [&mut net.conv_norm, &mut net.norm1, &mut net.norm2] {
            let n = norm.gamma.dims()[0];
            norm.running_mean =
                RunningState::new(Tensor::random([n], Distribution::Normal(0.0, 0.5), &device));
            norm.running_var = RunningState::new(Tensor::random(
                [n],
                Distribution::Uniform(0.5, 2.0),
                &device,
            ));
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let noise: Vec<f32> = (0..16_000).map(|_| rng.gen_range(-0.3..0.3)).collect();
        let features = FeatureConfig::fit(MODEL_SPECTROGRAM, &[&noise]);
        TriggerModel::new(&net, architecture, features, "activate".into())
    }

    fn test_audio(seconds: f64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        (0..(seconds * 16_000.0) as usize)
            .map(|i| {
                0.2 * ((i as f32) * 0.02).sin() * ((i / 4000) % 3) as f32
                    + rng.gen_range(-0.05..0.05)
            })
            .collect()
    }

    #[test]
    fn stream_equals_the_network_on_a_whole_clip() {
        let model = random_model();
        let audio = test_audio(3.0);
        let spec = Spectrogram::new(model.features.spectrogram);
        let logits = model
            .logits(&[model.features.compute(&spec, &audio)])
            .remove(0);
        let streamed = model.stream().push(&audio);
        assert_eq!(streamed.len(), logits.len());
        for (s, l) in streamed.iter().zip(&logits) {
            let p = 1.0 / (1.0 + (-l).exp());
            assert!(
                (s.probability - p).abs() < 1e-4,
                "step {}: stream {} vs network {p}",
                s.step,
                s.probability
            );
        }
        // Step times are where each receptive field ends: the last step of 3 s
        // of audio ends within one stride of the end.
        let last = streamed.last().unwrap().time;
        assert!(
            last <= 3.0 && last > 3.0 - 4.0 * 29.0 / 16_000.0 - 1e-9,
            "{last}"
        );
    }

    #[test]
    fn chunking_does_not_change_the_output() {
        let model = random_model();
        let audio = test_audio(4.0);
        let whole = model.stream().push(&audio);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut stream = model.stream();
        let mut chunked = Vec::new();
        let mut at = 0;
        while at < audio.len() {
            let n = rng.gen_range(1..3000).min(audio.len() - at);
            chunked.extend(stream.push(&audio[at..at + n]));
            at += n;
        }
        assert_eq!(whole, chunked);
    }

    #[test]
    fn debouncer_fires_once_per_word() {
        let score = |step: usize, p: f32| StepScore {
            step,
            time: step as f64 * 0.01,
            probability: p,
        };
        let mut probs = vec![0.1f32; 400];
        probs[100..150].iter_mut().for_each(|p| *p = 0.6); // one word
        probs[120] = 0.95; // its peak
        probs[152..160].iter_mut().for_each(|p| *p = 0.8); // flicker within the refractory period
        probs[300..320].iter_mut().for_each(|p| *p = 0.7); // a second word 2 s later
        let scores: Vec<StepScore> = probs
            .iter()
            .enumerate()
            .map(|(i, &p)| score(i, p))
            .collect();
        let d = Debouncer::run(
            0.5,
            DetectionRule {
                refractory_s: 1.0,
                patience: 1,
            },
            &scores,
        );
        assert_eq!(d.len(), 2);
        assert!((d[0].time - 1.0).abs() < 1e-9 && (d[1].time - 3.0).abs() < 1e-9);
        // Each carries its peak, not the first step's score.
        assert_eq!((d[0].score, d[1].score), (0.95, 0.7));
        // A detection still open when the scores end is kept; the peak is
        // looked for only within the refractory period.
        let mut tail = vec![0.1f32; 300];
        tail[200..].iter_mut().for_each(|p| *p = 0.6);
        tail[250] = 0.8;
        tail[201] = 0.7;
        let tail: Vec<StepScore> = tail.iter().enumerate().map(|(i, &p)| score(i, p)).collect();
        let rule = DetectionRule {
            refractory_s: 0.2,
            patience: 1,
        };
        let d = Debouncer::run(0.5, rule, &tail);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].time, d[0].score), (2.0, 0.7));
    }

    #[test]
    fn model_file_round_trip_keeps_predictions() {
        let model = random_model();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.casebook");
        model.save(&path, serde_json::json!({})).unwrap();
        let loaded = TriggerModel::load(&path).unwrap();
        let audio = test_audio(1.5);
        assert_eq!(model.stream().push(&audio), loaded.stream().push(&audio));
        assert_eq!(loaded.word, "activate");
        assert_eq!(loaded.features, model.features);
    }

    #[test]
    fn a_crafted_file_whose_sections_disagree_is_refused() {
        let model = random_model();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crafted.casebook");
        // Weights for 101 bins, preprocessing that makes 51: the stream would
        // hand the convolution frames shorter than its weights.
        let mut file = model.to_file(serde_json::json!({})).unwrap();
        file.meta.preprocessing["spectrogram"]["n_fft"] = serde_json::json!(100);
        file.save(&path).unwrap();
        let err = TriggerModel::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("do not fit together") && err.contains("51 bins"),
            "{err}"
        );
        // Statistics of the wrong length, and a missing weights section.
        let mut file = model.to_file(serde_json::json!({})).unwrap();
        file.meta.preprocessing["mean"] = serde_json::json!([0.0]);
        file.save(&path).unwrap();
        assert!(TriggerModel::load(&path).is_err());
        // A zero std (every probability NaN), a hop past the window, a stride past the kernel.
        let bins = model.architecture.bins;
        for (field, value) in [
            ("std", serde_json::json!(vec![0.0; bins])),
            ("hop", serde_json::json!(1000)),
            ("rate", serde_json::json!(100_000_000)),
            ("stride", serde_json::json!(1000)),
        ] {
            let mut file = model.to_file(serde_json::json!({})).unwrap();
            match field {
                "std" => file.meta.preprocessing["std"] = value,
                "stride" => file.meta.architecture["stride"] = value,
                _ => file.meta.preprocessing["spectrogram"][field] = value,
            }
            file.save(&path).unwrap();
            let err = TriggerModel::load(&path).unwrap_err().to_string();
            assert!(err.contains("do not fit together"), "{field}: {err}");
        }
        let mut file = model.to_file(serde_json::json!({})).unwrap();
        file.sections.clear();
        file.save(&path).unwrap();
        let err = TriggerModel::load(&path).unwrap_err().to_string();
        assert!(err.contains("no 'weights' section"), "{err}");
    }

    /// Loads an edited model file and, where it loads, streams a second of
    /// audio through it: false when that panicked.
    fn refused_or_works(edited: &casebook_core::model_file::ModelFile) -> bool {
        std::panic::catch_unwind(|| {
            let bytes = edited.to_bytes();
            if let Ok(model) = TriggerModel::from_bytes(&bytes, Path::new("edited")) {
                let _ = model.stream().push(&vec![0.1; 16_000]);
            }
        })
        .is_ok()
    }

    /// Every hostile edit of any header value is refused with an error or
    /// loads as a model that streams audio: never a panic.
    #[test]
    fn every_edited_header_value_is_refused_or_works() {
        let file = random_model().to_file(serde_json::json!({})).unwrap();
        let edits = casebook_core::model_file::header_edits(&file);
        assert!(edits.len() > 50, "{} edits", edits.len());
        for (what, edited) in edits {
            assert!(refused_or_works(&edited), "{what}: panicked");
        }
    }

    /// The same for edits drawn at random (issue 16).
    #[test]
    fn any_drawn_header_edit_is_refused_or_works() {
        let file = random_model().to_file(serde_json::json!({})).unwrap();
        proptest::proptest!(|(seed: u64)| {
            let (what, edited) = casebook_core::model_file::header_edit(&file, seed);
            proptest::prop_assert!(refused_or_works(&edited), "{}: panicked", what);
        });
    }

    #[test]
    fn the_built_in_model_is_compiled_in() {
        let model = TriggerModel::open(BUILTIN).unwrap();
        assert_eq!(model.word, "activate");
        assert_eq!(model.features.spectrogram.rate, crate::data::SAMPLE_RATE);
        // Its threshold is the one that met 0.5 false accepts per hour on the evaluation set.
        let stored = model.calibration.as_ref().expect("calibrated");
        assert_eq!(stored.target_fa_per_hour, 0.5);
        assert!(stored.false_accepts_per_hour <= 0.5 && stored.hours > 2.0);
        assert_eq!(model.default_threshold(), stored.threshold);
    }

    #[test]
    fn a_calibration_round_trips_and_a_bad_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let calibration = Calibration {
            threshold: 0.93,
            target_fa_per_hour: 0.5,
            false_reject_rate: 0.04,
            false_accepts_per_hour: 0.4,
            hours: 7.5,
            words: 800,
            data: vec!["eval/clips".into()],
        };
        let out = dir.path().join("cal.casebook");
        TriggerModel::write_calibrated(BUILTIN, &calibration, &out).unwrap();
        let model = TriggerModel::load(&out).unwrap();
        assert_eq!(model.calibration.as_ref(), Some(&calibration));
        assert_eq!(model.default_threshold(), 0.93);
        assert_eq!(random_model().default_threshold(), DEFAULT_THRESHOLD);
        // Calibrating again replaces the section; the training record stays.
        let again = Calibration {
            threshold: 0.8,
            ..calibration.clone()
        };
        TriggerModel::write_calibrated(out.to_str().unwrap(), &again, &out).unwrap();
        let file = ModelFile::load(&out).unwrap();
        let builtin = ModelFile::from_bytes(BUILTIN_MODEL, Path::new("builtin")).unwrap();
        assert_eq!(file.meta.training, builtin.meta.training);
        assert_eq!(TriggerModel::load(&out).unwrap().default_threshold(), 0.8);

        let bad = |section: &[u8]| {
            let path = dir.path().join("bad.casebook");
            builtin
                .clone()
                .with_section(CALIBRATION, section.to_vec())
                .save(&path)
                .unwrap();
            TriggerModel::load(&path).unwrap_err().to_string()
        };
        let err = bad(br#"{"threshold": 7.0}"#);
        assert!(err.contains("calibration section is damaged"), "{err}");
        let mut outside = serde_json::to_value(&calibration).unwrap();
        outside["threshold"] = serde_json::json!(1.5);
        let err = bad(&serde_json::to_vec(&outside).unwrap());
        assert!(err.contains("outside 0..1"), "{err}");
        assert!(TriggerModel::write_calibrated(
            BUILTIN,
            &Calibration {
                threshold: 0.0,
                ..calibration
            },
            &out
        )
        .is_err());
    }
}
