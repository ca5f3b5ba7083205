//! The readers of untrusted input, each behind one function that takes
//! arbitrary bytes: what the fuzz targets in `fuzz/` call (nightly, `cargo
//! fuzz run TARGET`), and what `tests/corpus.rs` replays on stable from the
//! committed corpus. Each must return, with whatever error, and never panic,
//! abort or allocate without bound; a panic here is a bug in a reader.
//!
//! The readers take paths, as the commands do, so the bytes go through a
//! file first: the fuzzing covers the real code path, file handling and all.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use casebook_core::model_file::{ModelFile, SavedModel};
use casebook_trigger::data::audio::{Pcm16Decoder, StreamResampler, WavChunks};
use image::RgbImage;

/// A reader of arbitrary bytes.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name: the folder names under `fuzz/corpus/`.
pub const TARGETS: [(&str, Target); 6] = [
    ("image_file", image_file),
    ("csv_table", csv_table),
    ("wav_file", wav_file),
    ("pcm_stream", pcm_stream),
    ("labels_csv", labels_csv),
    ("model_file", model_file),
];

thread_local! {
    /// A scratch folder per thread, made once (fuzzing runs millions of inputs).
    static SCRATCH: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// `data` written to `name` in this thread's scratch folder.
fn as_file(name: &str, data: &[u8]) -> PathBuf {
    let dir = SCRATCH.with(|s| {
        s.borrow_mut()
            .get_or_insert_with(|| {
                let dir = std::env::temp_dir().join(format!(
                    "casebook-fuzzing-{}-{:?}",
                    std::process::id(),
                    std::thread::current().id()
                ));
                std::fs::create_dir_all(&dir).expect("a scratch folder");
                dir
            })
            .clone()
    });
    let path = dir.join(name);
    std::fs::write(&path, data).expect("a scratch file");
    path
}

/// An image file: decoded as every image case reads one, and squared.
pub fn image_file(data: &[u8]) {
    let path = as_file("input.img", data);
    let _ = casebook_vision::read_rgb(&path);
    let _ = casebook_vision::load_square(&path, 24);
}

/// A CSV table, as `logreg train` reads it whole and `predict` in parts.
pub fn csv_table(data: &[u8]) {
    let path = as_file("input.csv", data);
    let _ = casebook_logreg::data::Table::read(&path);
    if let Ok(mut parts) = casebook_logreg::data::TableChunks::open(&path) {
        while let Ok(Some(_)) = parts.next_chunk(7) {}
    }
}

/// A WAV file, read in chunks at 16 kHz (resampled from its own rate) and
/// at its own rate.
pub fn wav_file(data: &[u8]) {
    let path = as_file("input.wav", data);
    let readers = [
        WavChunks::open(&path, 16_000),
        WavChunks::open_at_own_rate(&path),
    ];
    for mut reader in readers.into_iter().flatten() {
        while let Ok(Some(_)) = reader.next_chunk(4_000) {}
    }
}

/// A raw 16-bit PCM stream (`trigger listen --stdin`) at a rate taken from
/// the first bytes, cut into pieces whose lengths the next bytes give, to
/// 16 kHz. Checks what the resampler promises: `round(n · to / from)`
/// samples out for `n` in, whatever the pieces.
pub fn pcm_stream(data: &[u8]) {
    let [a, b, c, cuts, rest @ ..] = data else {
        return;
    };
    let rates = casebook_trigger::data::SUPPORTED_RATES;
    let span = rates.end() - rates.start() + 1;
    let rate = rates.start() + u32::from_le_bytes([*a, *b, *c, 0]) % span;
    let mut decoder = Pcm16Decoder::default();
    let Ok(mut resampler) = StreamResampler::new(rate, 16_000) else {
        return;
    };
    let (mut samples, mut out) = (0u64, 0u64);
    let mut left = rest;
    let mut cut = *cuts as usize;
    while !left.is_empty() {
        // Piece lengths from 1 byte to ~8 KB, varied by the cut byte.
        cut = (cut * 31 + 7) % 8_191 + 1;
        let (piece, after) = left.split_at(cut.min(left.len()));
        left = after;
        let decoded = decoder.decode(piece);
        samples += decoded.len() as u64;
        out += resampler.push(&decoded).expect("resampling a piece").len() as u64;
    }
    out += resampler.finish().expect("flushing the resampler").len() as u64;
    let wanted = (samples as f64 * 16_000.0 / rate as f64).round() as u64;
    assert_eq!(out, wanted, "{samples} samples at {rate} Hz");
}

/// A `labels.csv` beside nothing else, as `trigger eval` reads it.
pub fn labels_csv(data: &[u8]) {
    let path = as_file("labels.csv", data);
    let _ = casebook_trigger::data::synth::read_labels(path.parent().expect("a folder"));
}

/// A model file, offered to every case's loader (and a loaded model runs
/// once, on a small input, where that is cheap). The file's last 4 bytes
/// are set to the checksum of the rest first, as a crafted file would have
/// them: otherwise nearly every mutation would stop at the checksum, and
/// the header's validation would go unfuzzed.
pub fn model_file(data: &[u8]) {
    let name = Path::new("fuzzed.casebook");
    let Some(body_len) = data.len().checked_sub(4) else {
        let _ = ModelFile::from_bytes(data, name);
        return;
    };
    let mut data = data.to_vec();
    let crc = crc32fast::hash(&data[..body_len]);
    data[body_len..].copy_from_slice(&crc.to_le_bytes());
    let data = data.as_slice();
    if ModelFile::from_bytes(data, name).is_err() {
        return;
    }
    if let Ok(model) = casebook_image::infer::Classifier::from_bytes(data, name) {
        let picture = image_of(20, 14);
        let _ = model.probabilities(&[picture]);
    }
    let _ = casebook_trigger::infer::TriggerModel::from_bytes(data, name);
    let _ = casebook_logreg::infer::Model::from_bytes(data, name);
    let _ = casebook_style::model::transform::FastStyle::from_bytes(data, name);
    let _ = casebook_style::model::adain::AdaIn::from_bytes(data, name);
    let _ = casebook_style::model::distilled::DistilledEncoder::from_bytes(data, name);
    let _ = casebook_faces::model::detector::Detector::from_bytes(data, name);
    let _ = casebook_faces::model::encoder::FaceEncoder::from_bytes(data, name);
    let _ = casebook_faces::model::landmarks::LandmarkPredictor::from_bytes(data, name);
    let path = as_file("gallery.casebook", data);
    let _ = casebook_faces::gallery::Gallery::load(&path);
}

fn image_of(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 12) as u8, (y * 17) as u8, 90])
    })
}
