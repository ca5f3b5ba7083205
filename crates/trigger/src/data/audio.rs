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
        Self::from_wav_reader(hound::WavReader::open(path), &name.to_string())
    }

    /// Reads WAV bytes (`name` names them in errors), as [`Clip::read_wav`].
    pub fn from_wav_bytes(bytes: &[u8], name: &str) -> Result<Self> {
        Self::from_wav_reader(hound::WavReader::new(std::io::Cursor::new(bytes)), name)
    }

    fn from_wav_reader<R: std::io::Read>(
        reader: hound::Result<hound::WavReader<R>>,
        name: &str,
    ) -> Result<Self> {
        let name = name.to_string();
        let mut reader = reader.map_err(|e| open_error(e, &name))?;
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

    /// The clip as a 16-bit PCM mono WAV file's bytes.
    pub fn to_wav_bytes(&self) -> Result<Vec<u8>> {
        let mut bytes = std::io::Cursor::new(Vec::new());
        {
            let mut writer = hound::WavWriter::new(&mut bytes, pcm16_spec(self.rate))?;
            for &s in &self.samples {
                writer.write_sample(pcm16(s))?;
            }
            writer.finalize()?;
        }
        Ok(bytes.into_inner())
    }

    /// Writes 16-bit PCM mono, atomically.
    pub fn write_wav(&self, path: &Path) -> Result<()> {
        casebook_core::fsx::write_atomic(path, &self.to_wav_bytes()?)
    }

    /// `seconds` of the WAV file `path` from `start` (s), its mono mix at
    /// its own rate: the reader seeks there, so a moment of an hour-long
    /// recording reads no more than that moment. Shorter where the file
    /// ends first.
    pub fn read_span(path: &Path, start: f64, seconds: f64) -> Result<Self> {
        let mut chunks = WavChunks::open_at_own_rate(path)?;
        let rate = chunks.rate();
        let duration = chunks.reader.duration();
        let first = ((start.max(0.0) * rate as f64) as u32).min(duration);
        chunks
            .reader
            .seek(first)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let frames = (seconds.max(0.0) * rate as f64).round() as usize;
        let samples = if first < duration {
            chunks.next_chunk(frames)?.unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(Self::new(rate, samples))
    }

    /// The clip at another sample rate (band-limited FFT resampling by `rubato`).
    pub fn resample(&self, rate: u32) -> Result<Self> {
        if rate == self.rate {
            return Ok(self.clone());
        }
        let mut resampler = StreamResampler::new(self.rate, rate)?;
        let mut samples = resampler.push(&self.samples)?;
        samples.extend(resampler.finish()?);
        Ok(Self { rate, samples })
    }

    /// Root-mean-square level.
    pub fn rms(&self) -> f32 {
        (self.samples.iter().map(|s| s * s).sum::<f32>() / self.samples.len().max(1) as f32).sqrt()
    }
}

/// Resampling of a stream, chunk by chunk, with the resampler's delay removed
/// so the output lines up with the input: `round(n · to / from)` samples in all.
pub struct StreamResampler {
    inner: Option<FftFixedIn<f32>>,
    from: u32,
    to: u32,
    buffer: Vec<f32>,
    delay_left: usize,
    consumed: u64,
    produced: u64,
}

const RESAMPLE_CHUNK: usize = 1024;

impl StreamResampler {
    pub fn new(from: u32, to: u32) -> Result<Self> {
        // A rate outside these (a crafted WAV header says 4 GHz) would build
        // an FFT of gigabytes.
        for rate in [from, to] {
            if !super::SUPPORTED_RATES.contains(&rate) {
                bail!(
                    "a sample rate of {rate} Hz is outside what casebook reads ({}–{} Hz)",
                    super::SUPPORTED_RATES.start(),
                    super::SUPPORTED_RATES.end()
                );
            }
        }
        let inner = if from == to {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(from as usize, to as usize, RESAMPLE_CHUNK, 2, 1)
                    .context("cannot build a resampler for these rates")?,
            )
        };
        let delay_left = inner.as_ref().map_or(0, |r| r.output_delay());
        Ok(Self {
            inner,
            from,
            to,
            buffer: Vec::new(),
            delay_left,
            consumed: 0,
            produced: 0,
        })
    }

    fn wanted(&self) -> u64 {
        (self.consumed as f64 * self.to as f64 / self.from as f64).round() as u64
    }

    fn emit(&mut self, mut block: Vec<f32>, out: &mut Vec<f32>) {
        let skip = self.delay_left.min(block.len());
        self.delay_left -= skip;
        block.drain(..skip);
        self.produced += block.len() as u64;
        out.extend(block);
    }

    /// Feeds samples; returns the output samples that are ready.
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<f32>> {
        self.consumed += samples.len() as u64;
        let Some(inner) = self.inner.as_mut() else {
            return Ok(samples.to_vec());
        };
        self.buffer.extend_from_slice(samples);
        let mut blocks = Vec::new();
        let mut used = 0;
        while self.buffer.len() - used >= RESAMPLE_CHUNK {
            blocks.push(
                inner
                    .process(&[&self.buffer[used..used + RESAMPLE_CHUNK]], None)?
                    .remove(0),
            );
            used += RESAMPLE_CHUNK;
        }
        self.buffer.drain(..used);
        let mut out = Vec::new();
        for block in blocks {
            self.emit(block, &mut out);
        }
        Ok(out)
    }

    /// Flushes the end of the stream.
    pub fn finish(&mut self) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        let wanted = self.wanted();
        let Some(inner) = self.inner.as_mut() else {
            return Ok(out);
        };
        let rest = std::mem::take(&mut self.buffer);
        // rubato pads a partial block with zeros, but refuses an empty one
        // ("Insufficient buffer size 0"): with nothing left over (a stream
        // a whole number of blocks long) the flush is a block of zeros.
        let first = if rest.is_empty() {
            inner.process_partial::<Vec<f32>>(None, None)?
        } else {
            inner.process_partial(Some(&[rest]), None)?
        };
        let mut blocks = vec![first.into_iter().next().unwrap_or_default()];
        let mut budget = self.produced + blocks[0].len() as u64;
        while budget < wanted + self.delay_left as u64 {
            let block = inner.process_partial::<Vec<f32>>(None, None)?.remove(0);
            budget += block.len() as u64;
            blocks.push(block);
        }
        for block in blocks {
            self.emit(block, &mut out);
        }
        let extra = self.produced.saturating_sub(wanted) as usize;
        out.truncate(out.len().saturating_sub(extra));
        self.produced -= extra as u64;
        Ok(out)
    }
}

/// Why a WAV file could not be opened, with what to do about it.
fn open_error(error: hound::Error, name: &str) -> anyhow::Error {
    match error {
        hound::Error::IoError(io) => anyhow!("cannot read {name}: {io}"),
        other => anyhow!("{name} is not a readable WAV file ({other}); convert it with e.g. `sox IN -r 16000 -b 16 OUT.wav`"),
    }
}

/// Raw 16-bit little-endian mono PCM (as `arecord -f S16_LE` writes) to
/// samples in -1..1, in pieces of any length: an odd trailing byte waits for
/// its pair in the next piece.
#[derive(Debug, Default)]
pub struct Pcm16Decoder {
    carry: Option<u8>,
}

impl Pcm16Decoder {
    pub fn decode(&mut self, bytes: &[u8]) -> Vec<f32> {
        let mut joined: Vec<u8> = self.carry.take().into_iter().collect();
        joined.extend_from_slice(bytes);
        if joined.len() % 2 == 1 {
            self.carry = joined.pop();
        }
        joined
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
            .collect()
    }
}

/// Reads a WAV file a chunk at a time as mono samples at a chosen rate, so
/// hour-long recordings never sit in memory whole.
pub struct WavChunks {
    reader: hound::WavReader<std::io::BufReader<std::fs::File>>,
    name: String,
    channels: usize,
    scale: Option<f32>,
    resampler: StreamResampler,
    done: bool,
    seen: u64,
}

/// The format casebook writes WAVs in: 16-bit PCM mono at `rate` Hz.
pub fn pcm16_spec(rate: u32) -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// A sample in [-1, 1] as 16-bit PCM (clipped outside).
pub fn pcm16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16
}

impl WavChunks {
    /// The file's mono mix at its own sample rate.
    pub fn open_at_own_rate(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let rate = hound::WavReader::open(path)
            .map_err(|e| open_error(e, &name))?
            .spec()
            .sample_rate;
        Self::open(path, rate)
    }

    /// The rate of the samples it gives.
    pub fn rate(&self) -> u32 {
        self.resampler.to
    }

    pub fn open(path: &Path, rate: u32) -> Result<Self> {
        let name = path.display().to_string();
        let reader = hound::WavReader::open(path).map_err(|e| open_error(e, &name))?;
        let spec = reader.spec();
        let scale = match spec.sample_format {
            hound::SampleFormat::Float => None,
            hound::SampleFormat::Int => Some(1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32),
        };
        Ok(Self {
            resampler: StreamResampler::new(spec.sample_rate, rate)
                .with_context(|| format!("cannot read {name}"))?,
            channels: spec.channels.max(1) as usize,
            reader,
            name,
            scale,
            done: false,
            seen: 0,
        })
    }

    /// The next chunk (about `frames` input frames), or `None` at the end.
    pub fn next_chunk(&mut self, frames: usize) -> Result<Option<Vec<f32>>> {
        if self.done {
            return Ok(None);
        }
        let n = frames * self.channels;
        let raw: Vec<f32> = match self.scale {
            None => self
                .reader
                .samples::<f32>()
                .take(n)
                .collect::<Result<_, _>>(),
            Some(scale) => self
                .reader
                .samples::<i32>()
                .take(n)
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>(),
        }
        .map_err(|e| anyhow!("{} is truncated or damaged ({e})", self.name))?;
        self.seen += raw.len() as u64;
        let mono: Vec<f32> = raw
            .chunks(self.channels)
            .map(|f| f.iter().sum::<f32>() / f.len() as f32)
            .collect();
        let mut out = self.resampler.push(&mono)?;
        if raw.len() < n {
            if self.seen == 0 {
                bail!("{} holds no audio samples", self.name);
            }
            self.done = true;
            out.extend(self.resampler.finish()?);
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A span is the file's samples from its start on, seeking in the file;
    /// shorter at the end, empty past it.
    #[test]
    fn a_span_is_read_from_where_it_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ramp.wav");
        let ramp: Vec<f32> = (0..24_000)
            .map(|i| (i % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        Clip::new(8000, ramp.clone()).write_wav(&path).unwrap();
        let span = Clip::read_span(&path, 1.0, 0.5).unwrap();
        assert_eq!((span.rate, span.samples.len()), (8000, 4000));
        for (got, want) in span.samples.iter().zip(&ramp[8000..12_000]) {
            assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        }
        assert_eq!(
            Clip::read_span(&path, 2.8, 1.0).unwrap().samples.len(),
            1600
        );
        assert!(Clip::read_span(&path, 5.0, 1.0).unwrap().samples.is_empty());
        let first = Clip::read_span(&path, -1.0, 0.25).unwrap();
        assert_eq!(first.samples.len(), 2000);
        assert!((first.samples[1] - ramp[1]).abs() < 1e-4);
    }

    /// Found by fuzzing (fuzz/regressions/wav_file/rate-4ghz.wav): a 64-byte
    /// WAV whose header claims 4.29 GHz took 12 GB and hung.
    #[test]
    fn a_sample_rate_beyond_what_is_read_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fast.wav");
        // RIFF, PCM mono, 8-bit, 4 sample bytes; rate and byte rate u32::MAX.
        let mut bytes = b"RIFF\x28\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
        bytes.extend([0xff; 8]);
        bytes.extend(b"\x01\0\x08\0data\x04\0\0\0\x10\x20\x30\x40");
        std::fs::write(&path, bytes).unwrap();
        for opened in [
            WavChunks::open(&path, 16_000),
            WavChunks::open_at_own_rate(&path),
        ] {
            let err = format!("{:#}", opened.err().expect("refused"));
            assert!(err.contains("4294967295 Hz is outside"), "{err}");
            assert!(err.contains("fast.wav"), "{err}");
        }
        assert!(StreamResampler::new(16_000, 999).is_err());
    }

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

    /// Rates people record at, and any other in the supported range.
    fn any_rate() -> impl proptest::strategy::Strategy<Value = u32> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::sample::select(vec![
                8_000, 11_025, 16_000, 22_050, 44_100, 48_000, 96_000, 192_000, 384_000
            ]),
            super::super::SUPPORTED_RATES,
        ]
    }

    /// Lengths near whole resampler blocks (where rubato once refused the
    /// flush, issue 16 item 1) as often as lengths of any kind.
    fn any_length() -> impl proptest::strategy::Strategy<Value = usize> {
        use proptest::prelude::*;
        prop_oneof![
            (0usize..6, -2i64..=2).prop_map(|(blocks, off)| (blocks as i64 * RESAMPLE_CHUNK as i64
                + off)
                .max(0) as usize),
            0usize..8_000,
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any rate pair and any length, fed in pieces of any sizes, gives
        /// `round(n · to / from)` samples, the same as fed whole, and never
        /// an error.
        #[test]
        fn any_rate_and_length_resamples_to_the_expected_count(
            from in any_rate(),
            to in any_rate(),
            length in any_length(),
            pieces in proptest::collection::vec(1usize..3_000, 1..6),
        ) {
            let samples: Vec<f32> = (0..length).map(|i| ((i * 7919) % 200) as f32 / 100.0 - 1.0).collect();
            let whole = Clip::new(from, samples.clone()).resample(to).unwrap().samples;
            let expected = (length as f64 * to as f64 / from as f64).round() as usize;
            proptest::prop_assert_eq!(whole.len(), expected);
            let mut streamed = StreamResampler::new(from, to).unwrap();
            let mut out = Vec::new();
            let mut at = 0;
            for size in pieces.iter().cycle() {
                if at >= length {
                    break;
                }
                let end = (at + size).min(length);
                out.extend(streamed.push(&samples[at..end]).unwrap());
                at = end;
            }
            out.extend(streamed.finish().unwrap());
            proptest::prop_assert_eq!(out, whole);
        }
    }

    #[test]
    fn pcm_pieces_of_any_length_decode_like_the_whole() {
        let samples: Vec<i16> = vec![0, 16384, -32768, 32767, -1, 7];
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let whole = Pcm16Decoder::default().decode(&bytes);
        assert_eq!(whole[..3], [0.0, 0.5, -1.0]);
        let mut decoder = Pcm16Decoder::default();
        let pieces: Vec<f32> = [1, 2, 0, 3, 5, 1]
            .iter()
            .scan(0, |at, &n| {
                let piece = &bytes[*at..*at + n];
                *at += n;
                Some(decoder.decode(piece))
            })
            .flatten()
            .collect();
        assert_eq!(pieces, whole);
        // The bytes of a WAV's data decode to what the WAV reader reads.
        let wav = Clip::new(16000, whole.clone()).to_wav_bytes().unwrap();
        let clip = Clip::from_wav_bytes(&wav, "mem.wav").unwrap();
        assert_eq!(Pcm16Decoder::default().decode(&wav[44..]), clip.samples);
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

    /// Every common rate, at lengths on and around whole resampler blocks
    /// (where the flush has nothing left over), whole and in odd pieces:
    /// `round(n · to / from)` samples out, never an error.
    #[test]
    fn resampling_works_at_every_rate_and_block_boundary() {
        let rates = [
            8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000, 192000, 384000,
        ];
        let block = RESAMPLE_CHUNK;
        let lengths = [
            0,
            1,
            block - 1,
            block,
            block + 1,
            3 * block,
            3 * block + 1,
            10 * block,
        ];
        for from in rates {
            for &n in &lengths {
                let samples: Vec<f32> = (0..n).map(|i| (i as f32 * 0.01).sin()).collect();
                let expected = (n as f64 * 16000.0 / from as f64).round() as usize;
                let clip = Clip {
                    rate: from,
                    samples: samples.clone(),
                };
                let whole = clip
                    .resample(16000)
                    .unwrap_or_else(|e| panic!("{from} Hz, {n} samples: {e:#}"));
                assert_eq!(whole.samples.len(), expected, "{from} Hz, {n} samples");
                let mut stream = StreamResampler::new(from, 16000).unwrap();
                let mut pieces = Vec::new();
                for piece in samples.chunks(777) {
                    pieces.extend(stream.push(piece).unwrap());
                }
                pieces.extend(stream.finish().unwrap());
                assert_eq!(pieces.len(), expected, "{from} Hz, {n} samples, in pieces");
            }
        }
    }

    #[test]
    fn chunked_reading_equals_whole_file_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let frames: Vec<Vec<i32>> = (0..110_000)
            .map(|i| {
                let v = (8000.0 * (i as f32 * 0.01).sin()) as i32;
                vec![v, v / 2]
            })
            .collect();
        write(&path, spec, &frames);
        let whole = Clip::read_wav(&path).unwrap().resample(16_000).unwrap();
        let mut reader = WavChunks::open(&path, 16_000).unwrap();
        let mut chunked = Vec::new();
        while let Some(chunk) = reader.next_chunk(7_000).unwrap() {
            chunked.extend(chunk);
        }
        assert_eq!(chunked.len(), whole.samples.len());
        assert_eq!(chunked, whole.samples);
    }
}
