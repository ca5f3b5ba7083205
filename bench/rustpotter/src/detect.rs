//! Streams WAV files through rustpotter in the frames it asks for (30 ms at
//! 16 kHz, 60 ms at 8 kHz) and writes its detections as CSV:
//! folder,file,time_s,score.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, ensure, Context, Result};
use rustpotter::{Rustpotter, RustpotterConfig, SampleFormat};

/// Low, so that detections can be thresholded afterwards (score.py). Scores
/// below ~0.27 never reach the detector: it only scores windows where
/// "activate" out-scores "none", i.e. a logit margin over 0, which maps to
/// 1 - 1/(1 + e^((0 - 2.2)/2.2)) = 0.27 with the default score reference.
pub const DEFAULT_THRESHOLD: f32 = 0.3;

pub fn detect(model: &Path, out: &Path, threshold: f32, folders: &[String]) -> Result<()> {
    let model = std::fs::read(model).with_context(|| model.display().to_string())?;
    let mut csv = BufWriter::new(File::create(out).with_context(|| out.display().to_string())?);
    writeln!(csv, "folder,file,time_s,score")?;
    let start = Instant::now();
    let (mut seconds, mut detections) = (0.0, 0);
    for folder in folders {
        let folder = folder.trim_end_matches('/');
        for path in wav_files(Path::new(folder))? {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let (file_seconds, times) = detect_file(&path, &model, threshold)?;
            seconds += file_seconds;
            detections += times.len();
            for (time, score) in times {
                writeln!(csv, "{folder},{name},{time:.3},{score}")?;
            }
        }
    }
    csv.flush()?;
    let wall = start.elapsed().as_secs_f64();
    println!(
        "{detections} detections (threshold {threshold}) in {:.3} h of audio; wall {wall:.1} s -> {:.0}x real time -> {}",
        seconds / 3600.0,
        seconds / wall,
        out.display()
    );
    Ok(())
}

/// Seconds of audio in `path` and rustpotter's detections in it: (seconds
/// of input consumed when it fired, score). A fresh detector per file, set to
/// the file's own rate (rustpotter resamples to 16 kHz itself); rustpotter's
/// other settings are its defaults: at least 5 partial scores over the
/// threshold, and a detection fires once no better score came for half a
/// window.
fn detect_file(path: &Path, model: &[u8], threshold: f32) -> Result<(f64, Vec<(f64, f32)>)> {
    let mut reader = hound::WavReader::open(path).with_context(|| path.display().to_string())?;
    let spec = reader.spec();
    ensure!(
        spec.channels == 1 && spec.bits_per_sample == 16,
        "{}: not mono 16-bit",
        path.display()
    );
    let rate = spec.sample_rate as f64;
    let mut config = RustpotterConfig::default();
    config.fmt.sample_rate = spec.sample_rate as usize;
    config.fmt.sample_format = SampleFormat::I16;
    config.detector.threshold = threshold;
    // The "averaged" score of a two-label model equals its score: no second filter.
    config.detector.avg_threshold = 0.0;
    let mut detector = Rustpotter::new(&config).map_err(|e| anyhow!(e))?;
    detector
        .add_wakeword_from_buffer("activate", model)
        .map_err(|e| anyhow!(e))?;
    let frame_len = detector.get_samples_per_frame();
    let mut frame = Vec::with_capacity(frame_len);
    let (mut consumed, mut detections) = (0usize, Vec::new());
    for sample in reader.samples::<i16>() {
        frame.push(sample?);
        if frame.len() == frame_len {
            consumed += frame_len;
            let full = std::mem::replace(&mut frame, Vec::with_capacity(frame_len));
            if let Some(d) = detector.process_samples(full) {
                detections.push((consumed as f64 / rate, d.score));
            }
        }
    }
    Ok((reader.duration() as f64 / rate, detections))
}

/// The WAV files of a folder, sorted by name.
fn wav_files(folder: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| folder.display().to_string())?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "wav"));
    paths.sort();
    ensure!(!paths.is_empty(), "no WAV files in {}", folder.display());
    Ok(paths)
}
