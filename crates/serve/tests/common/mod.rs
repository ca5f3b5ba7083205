//! Inputs the studio tests share: generated scenes, WAV bytes, a trained
//! logistic-regression run, a held-out voice saying the word.

// Each test binary uses part of this.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A recording of the word by a voice held out of training.
pub fn held_out_word() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../trigger/voices/positives/espeak_en_gb_scotland_m1_s160_p70__activate.wav")
}

/// `held_out_word` said 1 s into 4 s of quiet noise, at `rate`; and when the word ends.
pub fn word_in_noise(rate: u32) -> (Vec<u8>, f64) {
    let word = casebook_trigger::data::audio::Clip::read_wav(&held_out_word())
        .unwrap()
        .resample(rate)
        .unwrap();
    let mut audio = noise(4 * rate as usize, 0.003);
    for (i, s) in word.samples.iter().enumerate() {
        audio[rate as usize + i] += s;
    }
    (wav(rate, &audio), 1.0 + word.seconds())
}

pub fn scenes(dir: &Path, count: usize) -> Vec<(PathBuf, String)> {
    casebook_image::data::generate::generate_dataset(
        dir,
        &casebook_image::data::generate::GenerateOptions {
            count,
            night_fraction: 0.5,
            seed: 11,
        },
        || {},
    )
    .unwrap();
    let mut found = Vec::new();
    for class in ["day", "night"] {
        for entry in std::fs::read_dir(dir.join(class)).unwrap() {
            found.push((entry.unwrap().path(), class.to_string()));
        }
    }
    found.sort();
    found
}

/// 16-bit mono WAV bytes.
pub fn wav(rate: u32, samples: &[f32]) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::new(&mut bytes, spec).unwrap();
    for &s in samples {
        writer
            .write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16)
            .unwrap();
    }
    writer.finalize().unwrap();
    bytes.into_inner()
}

/// Quiet noise, deterministic.
pub fn noise(n: usize, level: f32) -> Vec<f32> {
    let mut state = 0x2545_f491_u32;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            level * ((state as f32 / u32::MAX as f32) * 2.0 - 1.0)
        })
        .collect()
}

/// A logistic-regression run folder trained by the library, as `logreg train` makes one.
pub fn logreg_run(runs: &Path, data: &Path) {
    casebook_logreg::data::generate::write_table(
        data,
        casebook_logreg::data::Mode::Multiclass,
        400,
        3,
    )
    .unwrap();
    let config = casebook_logreg::train::TrainConfig {
        data: data.to_path_buf(),
        targets: vec!["species".into()],
        ignore: vec!["id".into()],
        ..Default::default()
    };
    let run = casebook_core::run::RunDir::create(runs, Some("species"), "logreg-train").unwrap();
    casebook_logreg::train::train(&config, run, &casebook_core::observe::Silent).unwrap();
}
