//! Training set and training of a rustpotter wakeword model (its neural
//! kind). Every sample is one window of `WINDOW_S` seconds: rustpotter trains
//! on the longest sample and scores a sliding window of that length.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, ensure, Context, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rubato::{FftFixedInOut, Resampler};
use rustpotter::{
    ModelType, TensorData, WakewordModel, WakewordModelTrain, WakewordModelTrainOptions,
    WakewordSave,
};

const RATE: usize = 16_000;
const SEED: u64 = 2026;
/// Holds the longest training "activate" (0.93 s) and little more: rustpotter
/// fires half a window after the last frame that scored over the threshold,
/// so a longer window would push detections past the 1 s hit window.
const WINDOW_S: f64 = 1.0;
/// Background after the word's end, in seconds. Short for the same reason:
/// the model learns to score high while the word sits at the window's end.
const TAIL_S: (f64, f64) = (0.05, 0.3);
const SNR_DB: (f64, f64) = (0.0, 20.0);
/// Copies of each voice clip, each on its own background, SNR and tail: the
/// network (a plain MLP over the whole window) overfits less on more of them
/// (test accuracy after 300-400 epochs: 89 % with 4/2/2000, 93 % with these).
const POSITIVE_COPIES: usize = 16;
const NEGATIVE_COPIES: usize = 6;
const BACKGROUND_SAMPLES: usize = 8000;
/// As casebook's mixer: half the trigger words are said inside a phrase,
/// another word 0–150 ms before (60 %) and/or after them.
const CONTEXT: f64 = 0.5;
const TEST_SHARE: f64 = 0.1;
const MFCC_SIZE: u16 = 16;

pub struct TrainConfig {
    pub pool: PathBuf,
    pub backgrounds: PathBuf,
    pub out: PathBuf,
    pub model_type: ModelType,
    pub epochs: usize,
    pub learning_rate: f64,
}

pub fn train(config: &TrainConfig) -> Result<()> {
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let (positives, negatives) = training_voices(&config.pool)?;
    let backgrounds = Backgrounds::load(&config.backgrounds)?;
    let mut set = TrainingSet::default();
    for clip in &positives {
        let test = rng.gen_bool(TEST_SHARE);
        for _ in 0..POSITIVE_COPIES {
            let (mut before, mut after) = (None, None);
            if rng.gen_bool(CONTEXT) {
                let has_before = rng.gen_bool(0.6);
                let has_after = !has_before || rng.gen_bool(0.4);
                if has_before {
                    before = negatives.choose(&mut rng).map(Vec::as_slice);
                }
                if has_after {
                    after = negatives.choose(&mut rng).map(Vec::as_slice);
                }
            }
            let audio = voice_sample(clip, before, after, &backgrounds, &mut rng);
            set.add("activate", test, &audio)?;
        }
    }
    for clip in &negatives {
        let test = rng.gen_bool(TEST_SHARE);
        for _ in 0..NEGATIVE_COPIES {
            let audio = voice_sample(clip, None, None, &backgrounds, &mut rng);
            set.add("none", test, &audio)?;
        }
    }
    for _ in 0..BACKGROUND_SAMPLES {
        let test = rng.gen_bool(TEST_SHARE);
        set.add("none", test, &backgrounds.excerpt(window_len(), &mut rng))?;
    }
    println!(
        "{} training voices ({} activate), {} backgrounds; {} train / {} test samples of {WINDOW_S} s, built in {:.1} s",
        positives.len() + negatives.len(),
        positives.len(),
        backgrounds.clips.len(),
        set.train.len(),
        set.test.len(),
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let initial = seeded_model(config, &set, &mut rng)?;
    let options = WakewordModelTrainOptions::new(
        config.model_type.clone(),
        config.learning_rate,
        config.epochs,
        (config.epochs / 10).max(1),
        MFCC_SIZE,
    );
    let model = WakewordModel::train_from_buffers(options, set.train, set.test, Some(initial))?;
    let out = config
        .out
        .to_str()
        .ok_or_else(|| anyhow!("non-UTF-8 path"))?;
    model.save_to_file(out).map_err(|e| anyhow!(e))?;
    println!(
        "trained a {} model ({} epochs, lr {}) in {:.1} s -> {out}",
        config.model_type.as_str(),
        config.epochs,
        config.learning_rate,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn window_len() -> usize {
    (WINDOW_S * RATE as f64) as usize
}

/// rustpotter's training samples: WAV files whose name holds the label in
/// brackets, "[activate]…" or "[none]…".
#[derive(Default)]
struct TrainingSet {
    train: HashMap<String, Vec<u8>>,
    test: HashMap<String, Vec<u8>>,
}

impl TrainingSet {
    fn add(&mut self, label: &str, test: bool, audio: &[f32]) -> Result<()> {
        let name = format!("[{label}]{}.wav", self.train.len() + self.test.len());
        let wav = wav_bytes(audio)?;
        if test {
            &mut self.test
        } else {
            &mut self.train
        }
        .insert(name, wav);
        Ok(())
    }
}

/// A model whose weights are drawn from our seeded generator: rustpotter's
/// own initialization (candle's) cannot be seeded. Training zero epochs on two
/// samples gives the layer names and shapes of `config.model_type`; the
/// weights are then redrawn as candle draws them (Kaiming-normal weights,
/// uniform biases in ±1/√fan-in) and the label order is fixed.
fn seeded_model(
    config: &TrainConfig,
    set: &TrainingSet,
    rng: &mut impl Rng,
) -> Result<WakewordModel> {
    let mut probe = HashMap::new();
    for label in ["[activate]", "[none]"] {
        let (name, wav) = set
            .train
            .iter()
            .find(|(name, _)| name.starts_with(label))
            .ok_or_else(|| anyhow!("no {label} sample"))?;
        probe.insert(name.clone(), wav.clone());
    }
    let options = WakewordModelTrainOptions::new(config.model_type.clone(), 0., 0, 1, MFCC_SIZE);
    let mut model = WakewordModel::train_from_buffers(options, probe.clone(), probe, None)?;
    model.labels = vec!["none".into(), "activate".into()];
    let mut names: Vec<String> = model.weights.keys().cloned().collect();
    names.sort();
    let fan_in: HashMap<String, usize> = model
        .weights
        .iter()
        .filter(|(_, t)| t.dims.len() == 2)
        .map(|(name, t)| (name.replace(".weight", ""), t.dims[1]))
        .collect();
    for name in names {
        let tensor = model.weights.get_mut(&name).expect("listed above");
        let layer = name.trim_end_matches(".weight").trim_end_matches(".bias");
        let fan_in = fan_in[layer] as f64;
        let count: usize = tensor.dims.iter().product();
        let values: Vec<f32> = (0..count)
            .map(|_| {
                if name.ends_with(".weight") {
                    (normal(rng) * (2.0 / fan_in).sqrt()) as f32
                } else {
                    rng.gen_range(-1.0..1.0) as f32 / fan_in.sqrt() as f32
                }
            })
            .collect();
        *tensor = TensorData {
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            dims: tensor.dims.clone(),
            d_type: "f32".into(),
        };
    }
    Ok(model)
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut impl Rng) -> f64 {
    let u: f64 = 1.0 - rng.gen::<f64>();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * rng.gen::<f64>()).cos()
}

/// Audio samples at 16 kHz, in [-1, 1].
type Clip = Vec<f32>;

/// The training voices (held_out == false) of a `make-voices` pool:
/// (positives, negatives).
fn training_voices(pool: &Path) -> Result<(Vec<Clip>, Vec<Clip>)> {
    let list = pool.join("voices.csv");
    let text = std::fs::read_to_string(&list).with_context(|| list.display().to_string())?;
    let (mut positives, mut negatives) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        // file,word,positive,voice,held_out: a word may hold quoted commas,
        // so the flags are read from the end.
        let fields: Vec<&str> = line.split(',').collect();
        ensure!(fields.len() >= 5, "bad line in {}: {line}", list.display());
        if fields[fields.len() - 1] != "false" {
            continue;
        }
        let (samples, rate) = read_wav(&pool.join(fields[0]))?;
        ensure!(rate == RATE as u32, "{}: {rate} Hz, not 16 kHz", fields[0]);
        match fields[fields.len() - 3] {
            "true" => positives.push(samples),
            _ => negatives.push(samples),
        }
    }
    ensure!(
        !positives.is_empty() && !negatives.is_empty(),
        "no training voices in {}",
        list.display()
    );
    Ok((positives, negatives))
}

/// A clip on a background excerpt at a random SNR, ending `TAIL_S` before
/// the window's end (a clip longer than the window: a random cut of it), with
/// optional other words 0–150 ms before and after it at the same level.
fn voice_sample(
    clip: &[f32],
    before: Option<&[f32]>,
    after: Option<&[f32]>,
    backgrounds: &Backgrounds,
    rng: &mut impl Rng,
) -> Vec<f32> {
    let n = window_len() as isize;
    let mut out = backgrounds.excerpt(n as usize, rng);
    // The floor keeps words audible on near-silent excerpts.
    let snr = rng.gen_range(SNR_DB.0..=SNR_DB.1) as f32;
    let level = rms(&out).max(0.01) * 10f32.powf(snr / 20.0);
    let len = clip.len() as isize;
    let tail = (rng.gen_range(TAIL_S.0..=TAIL_S.1) * RATE as f64) as isize;
    let at = if len <= n {
        (n - tail - len).max(0)
    } else {
        -rng.gen_range(0..=len - n)
    };
    let gap_before = rng.gen_range(0..=RATE as isize * 3 / 20);
    let gap_after = rng.gen_range(0..=RATE as isize * 3 / 20);
    let mut add = |samples: &[f32], at: isize| {
        let gain = level / rms(samples).max(1e-6);
        for (i, s) in samples.iter().enumerate() {
            if let Some(o) = usize::try_from(at + i as isize)
                .ok()
                .and_then(|j| out.get_mut(j))
            {
                *o += gain * s;
            }
        }
    };
    add(clip, at);
    if let Some(other) = before {
        add(other, at - gap_before - other.len() as isize);
    }
    if let Some(other) = after {
        add(other, at + len + gap_after);
    }
    // Keep it in range without changing relative levels (as casebook's mixer).
    let peak = out.iter().fold(0f32, |m, s| m.max(s.abs()));
    if peak > 0.99 {
        out.iter_mut().for_each(|s| *s *= 0.99 / peak);
    }
    out
}

fn rms(samples: &[f32]) -> f32 {
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt()
}

/// The background recordings, at 16 kHz.
struct Backgrounds {
    clips: Vec<Vec<f32>>,
}

impl Backgrounds {
    /// The WAVs directly in `dir` (not its sub-folders).
    fn load(dir: &Path) -> Result<Self> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| dir.display().to_string())?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        paths.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "wav"));
        paths.sort();
        let clips = paths
            .iter()
            .map(|p| read_wav(p).and_then(|(s, rate)| resample(&s, rate as usize)))
            .collect::<Result<Vec<_>>>()?;
        ensure!(!clips.is_empty(), "no backgrounds in {}", dir.display());
        Ok(Self { clips })
    }

    /// `len` samples from a random place, every second of background equally
    /// likely.
    fn excerpt(&self, len: usize, rng: &mut impl Rng) -> Vec<f32> {
        let spare = |c: &Vec<f32>| c.len().saturating_sub(len) + 1;
        let mut pick = rng.gen_range(0..self.clips.iter().map(spare).sum::<usize>());
        for clip in &self.clips {
            if pick < spare(clip) {
                let mut out = clip[pick..(pick + len).min(clip.len())].to_vec();
                out.resize(len, 0.0);
                return out;
            }
            pick -= spare(clip);
        }
        unreachable!("pick is below the sum of spares")
    }
}

/// A mono 16-bit WAV as samples in [-1, 1], and its rate.
fn read_wav(path: &Path) -> Result<(Vec<f32>, u32)> {
    let mut reader = hound::WavReader::open(path).with_context(|| path.display().to_string())?;
    let spec = reader.spec();
    ensure!(
        spec.channels == 1 && spec.bits_per_sample == 16,
        "{}: not mono 16-bit",
        path.display()
    );
    let samples = reader
        .samples::<i16>()
        .map(|s| s.map(|s| s as f32 / 32768.0))
        .collect::<Result<_, _>>()?;
    Ok((samples, spec.sample_rate))
}

fn resample(samples: &[f32], rate: usize) -> Result<Vec<f32>> {
    if rate == RATE {
        return Ok(samples.to_vec());
    }
    let mut resampler = FftFixedInOut::<f32>::new(rate, RATE, 1024, 1)?;
    let chunk = resampler.input_frames_next();
    let mut out = Vec::with_capacity(samples.len() * RATE / rate + chunk);
    for part in samples.chunks(chunk) {
        let mut part = part.to_vec();
        part.resize(chunk, 0.0);
        out.extend_from_slice(&resampler.process(&[part], None)?[0]);
    }
    Ok(out)
}

fn wav_bytes(samples: &[f32]) -> Result<Vec<u8>> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE as u32,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut bytes, spec)?;
    for s in samples {
        writer.write_sample((s * 32767.0).round().clamp(-32768.0, 32767.0) as i16)?;
    }
    writer.finalize()?;
    Ok(bytes.into_inner())
}
