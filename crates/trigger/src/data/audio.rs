//! Mono clips: reading WAV files of any common layout (8/16/24/32-bit integer
//! or float, mono or stereo, any rate), resampling, and writing 16-bit WAV.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use rubato::{FftFixedIn, Resampler};

/// A mono clip with samples in -1..1.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    pub rate: u32,
    pub samples: Vec<f32>,
}

impl Clip {
    pub fn new(rate: u32, samples: Vec<f32>) -> Self {
        Self { rate, samples }
    }

    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / self.rate as f64
    }

    /// Reads a WAV file; stereo is averaged to mono, integer samples scaled to -1..1.
    pub fn read_wav(path: &Path) -> Result<Self> {
        let name = path.display();
        let mut reader = hound::WavReader::open(path).map_err(|e| match e {
            hound::Error::IoError(io) => anyhow!("cannot read {name}: {io}"),
            other => anyhow!("{name} is not a readable WAV file ({other}); convert it with e.g. `sox IN -r 16000 -b 16 OUT.wav`"),
        })?;
        let spec = reader.spec();
        let channels = spec.channels.max(1) as usize;
        let raw: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>(),
            hound::SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
                reader
                    .samples::<i32>()
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect::<Result<_, _>>()
            }
        }
        .map_err(|e| anyhow!("{name} is truncated or damaged ({e})"))?;
        if raw.is_empty() {
            bail!("{name} holds no audio samples");
        }
        let samples = raw
            .chunks(channels)
            .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
            .collect();
        Ok(Self {
            rate: spec.sample_rate,
            samples,
        })
    }

    /// Writes 16-bit PCM mono, atomically.
    pub fn write_wav(&self, path: &Path) -> Result<()> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: self.rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut bytes = std::io::Cursor::new(Vec::new());
        {
            let mut writer = hound::WavWriter::new(&mut bytes, spec)?;
            for &s in &self.samples {
                writer.write_sample((s.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16)?;
            }
            writer.finalize()?;
        }
        casebook_core::fsx::write_atomic(path, bytes.get_ref())
    }

    /// The clip at another sample rate (band-limited FFT resampling by `rubato`).
    pub fn resample(&self, rate: u32) -> Result<Self> {
        if rate == self.rate {
            return Ok(self.clone());
        }
        const CHUNK: usize = 1024;
        let mut resampler = FftFixedIn::<f32>::new(self.rate as usize, rate as usize, CHUNK, 2, 1)
            .context("cannot build a resampler for these rates")?;
        let delay = resampler.output_delay();
        let mut out =
            Vec::with_capacity(self.samples.len() * rate as usize / self.rate as usize + CHUNK);
        let mut chunks = self.samples.chunks_exact(CHUNK);
        for chunk in &mut chunks {
            out.extend_from_slice(&resampler.process(&[chunk], None)?[0]);
        }
        let rest = chunks.remainder();
        out.extend_from_slice(&resampler.process_partial(Some(&[rest]), None)?[0]);
        // Flush what the resampler still holds, then drop its delay.
        while out.len() < delay + self.samples.len() * rate as usize / self.rate as usize {
            out.extend_from_slice(&resampler.process_partial::<Vec<f32>>(None, None)?[0]);
        }
        let wanted = (self.samples.len() as f64 * rate as f64 / self.rate as f64).round() as usize;
        Ok(Self {
            rate,
            samples: out[delay..delay + wanted].to_vec(),
        })
    }

    /// Root-mean-square level.
    pub fn rms(&self) -> f32 {
        (self.samples.iter().map(|s| s * s).sum::<f32>() / self.samples.len().max(1) as f32).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, spec: hound::WavSpec, frames: &[Vec<i32>]) {
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for frame in frames {
            for &s in frame {
                match spec.bits_per_sample {
                    8 => w.write_sample(s as i8).unwrap(),
                    _ => w.write_sample(s as i16).unwrap(),
                }
            }
        }
        w.finalize().unwrap();
    }

    #[test]
    fn stereo_and_8_bit_are_converted_to_mono_floats() {
        let dir = tempfile::tempdir().unwrap();
        let stereo = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        write(
            &dir.path().join("s.wav"),
            stereo,
            &[vec![16384, 0], vec![-16384, -16384]],
        );
        let clip = Clip::read_wav(&dir.path().join("s.wav")).unwrap();
        assert_eq!(clip.rate, 8000);
        assert_eq!(clip.samples, vec![0.25, -0.5]);
        let eight = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 8,
            sample_format: hound::SampleFormat::Int,
        };
        write(&dir.path().join("e.wav"), eight, &[vec![64], vec![-128]]);
        assert_eq!(
            Clip::read_wav(&dir.path().join("e.wav")).unwrap().samples,
            vec![0.5, -1.0]
        );
    }

    #[test]
    fn bad_audio_gives_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        write(&dir.path().join("empty.wav"), spec, &[]);
        let err = Clip::read_wav(&dir.path().join("empty.wav"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no audio samples"), "{err}");
        std::fs::write(dir.path().join("text.wav"), "not audio at all").unwrap();
        let err = Clip::read_wav(&dir.path().join("text.wav"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a readable WAV"), "{err}");
        let good = Clip::new(16000, vec![0.1; 1000]);
        good.write_wav(&dir.path().join("good.wav")).unwrap();
        let bytes = std::fs::read(dir.path().join("good.wav")).unwrap();
        std::fs::write(dir.path().join("cut.wav"), &bytes[..bytes.len() / 2 + 1]).unwrap();
        let err = Clip::read_wav(&dir.path().join("cut.wav"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("truncated") || err.contains("not a readable"),
            "{err}"
        );
    }

    #[test]
    fn wav_round_trip_and_resampling_keep_a_tone() {
        let dir = tempfile::tempdir().unwrap();
        let rate = 44100;
        let tone: Vec<f32> = (0..rate)
            .map(|i| 0.5 * (std::f32::consts::TAU * 440.0 * i as f32 / rate as f32).sin())
            .collect();
        let clip = Clip::new(rate as u32, tone);
        clip.write_wav(&dir.path().join("t.wav")).unwrap();
        let back = Clip::read_wav(&dir.path().join("t.wav")).unwrap();
        assert!(back
            .samples
            .iter()
            .zip(&clip.samples)
            .all(|(a, b)| (a - b).abs() < 1e-4));
        let down = clip.resample(16000).unwrap();
        assert_eq!(down.samples.len(), 16000);
        assert!(
            (down.rms() - clip.rms()).abs() < 0.01,
            "rms {} vs {}",
            down.rms(),
            clip.rms()
        );
        // Still a 440 Hz tone: zero crossings per second ~ 880.
        let crossings = down
            .samples
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        assert!(
            (860..=900).contains(&crossings),
            "{crossings} zero crossings"
        );
    }
}
