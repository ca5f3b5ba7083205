//! `casebook trigger ...`: flags → `casebook_trigger` calls.

use std::path::PathBuf;

use anyhow::Result;
use casebook_trigger::data::mixer::MixConfig;
use casebook_trigger::data::synth::{synthesize, Pools};
use casebook_trigger::data::voices::{self, builtin_dir, load_folder, load_pool};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum TriggerCommand {
    /// Make the built-in speech pools with espeak-ng and flite (Debian packages): the trigger word
    /// and other words (hard negatives included) across voices, speeds and pitches, 16 kHz.
    ///
    /// The project commits the result, so nothing else needs a TTS program. Some voices are
    /// marked held-out in voices.csv: they are for testing only, never for training.
    MakeVoices {
        /// The trigger word.
        #[arg(long, default_value = "activate")]
        word: String,
        /// Folder to write positives/, negatives/ and voices.csv into [default: the built-in pool].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write labelled 10 s training clips: WAVs plus labels.csv (file,start_s,end_s per trigger word).
    ///
    /// Each clip is a background (recorded, generated noise, hum, tonal bed or babble) with 0-4
    /// trigger words and 0-4 other words inserted at random, non-overlapping positions and SNRs.
    Synth {
        /// Folder to write into.
        #[arg(long)]
        out: PathBuf,
        /// Number of clips.
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// Folder of WAV clips of the trigger word [default: built-in training voices].
        #[arg(long)]
        positives: Option<PathBuf>,
        /// Folder of WAV clips of other words [default: built-in training voices].
        #[arg(long)]
        negatives: Option<PathBuf>,
        /// Folder of background recordings [default: generated backgrounds].
        #[arg(long)]
        backgrounds: Option<PathBuf>,
        /// Use the held-out test voices of the built-in pool instead of the training voices.
        #[arg(long)]
        test_voices: bool,
        /// Random seed: same seed, same clips.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

pub fn run(cmd: TriggerCommand, quiet: bool) -> Result<()> {
    match cmd {
        TriggerCommand::MakeVoices { word, out } => {
            let out = out.unwrap_or_else(builtin_dir);
            let bar = casebook_core::progress::bar(0, "speaking", quiet);
            let entries = voices::make_voices(&word, &out, || bar.inc(1))?;
            bar.finish_and_clear();
            let positives = entries.iter().filter(|e| e.positive).count();
            println!(
                "wrote {positives} '{word}' clips and {} other words to {}",
                entries.len() - positives,
                out.display()
            );
            Ok(())
        }
        TriggerCommand::Synth {
            out,
            count,
            positives,
            negatives,
            backgrounds,
            test_voices,
            seed,
        } => {
            let rate = voices::RATE;
            let (builtin_pos, builtin_neg) = load_pool(&builtin_dir(), test_voices)?;
            let pools = Pools {
                positives: match positives {
                    Some(dir) => load_folder(&dir, rate)?,
                    None => builtin_pos,
                },
                negatives: match negatives {
                    Some(dir) => load_folder(&dir, rate)?,
                    None => builtin_neg,
                },
                backgrounds: match backgrounds {
                    Some(dir) => load_folder(&dir, rate)?,
                    None => Vec::new(),
                },
                rate,
            };
            let bar = casebook_core::progress::bar(count as u64, "mixing", quiet);
            let words = synthesize(&out, count, &pools, &MixConfig::default(), seed, || {
                bar.inc(1)
            })?;
            bar.finish_and_clear();
            println!(
                "wrote {count} clips with {words} trigger words to {} (labels.csv)",
                out.display()
            );
            Ok(())
        }
    }
}
