//! `casebook trigger ...`: flags → `casebook_trigger` calls.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use casebook_core::choice::Choice;
use casebook_core::observe::Observer;
use casebook_core::run::{RunDir, Training};
use casebook_trigger::data::mixer::MixConfig;
use casebook_trigger::data::spectrogram::SpectrogramConfig;
use casebook_trigger::data::synth::{synthesize, PoolSources, Pools};
use casebook_trigger::data::voices::{self, VoiceSet};
use casebook_trigger::eval::{calibration, evaluate, EvalConfig};
use casebook_trigger::infer::{
    detect_file, listen, write_chimed, Detection, DetectionRule, TriggerModel,
};
use casebook_trigger::model::Preset;
use casebook_trigger::train::TrainConfig;
use clap::{Args, Subcommand};

use crate::args::{choice, non_negative, unit_interval, RunArgs, SeedArg};
use crate::terminal::{print_evaluation, tsv_field};

#[derive(Subcommand)]
pub enum TriggerCommand {
    /// Make speech pools with espeak-ng and flite (Debian packages): the trigger word and other
    /// words (hard negatives included) across voices, speeds and pitches, 16 kHz.
    ///
    /// The project commits the `builtin` set, so nothing else needs a TTS program; `--set full`
    /// is the larger pool the shipped model is trained on (pass it to `synth` and `train` with
    /// `--voices`). Some voices are marked held-out in voices.csv: they are for testing only,
    /// never for training.
    MakeVoices {
        /// The trigger word.
        #[arg(long, default_value = "activate")]
        word: String,
        /// Folder to write positives/, negatives/ and voices.csv into (crates/trigger/voices is the
        /// pool compiled into casebook).
        #[arg(long = "out-dir", alias = "out", value_hint = clap::ValueHint::DirPath)]
        out_dir: PathBuf,
        /// Which voices and texts.
        #[arg(long, value_parser = choice::<VoiceSet>(), default_value = "builtin")]
        set: VoiceSet,
    },
    /// Write labelled 10 s training clips: WAVs plus labels.csv (file,start_s,end_s per trigger word).
    ///
    /// Each clip is a background (recorded, generated noise, hum, tonal bed or babble) with 0-4
    /// trigger words and 0-4 other words inserted at random, non-overlapping positions and SNRs.
    Synth {
        /// Folder to write into.
        #[arg(long = "out-dir", alias = "out", value_hint = clap::ValueHint::DirPath)]
        out_dir: PathBuf,
        /// Number of clips.
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// Folder of WAV clips of the trigger word [default: built-in training voices].
        #[arg(long)]
        positives: Option<PathBuf>,
        /// Folder of WAV clips of other words [default: built-in training voices].
        #[arg(long)]
        negatives: Option<PathBuf>,
        /// Folder of background recordings, sub-folders included [default: generated backgrounds].
        #[arg(long)]
        backgrounds: Option<PathBuf>,
        /// Pool folder made by `make-voices` (voices.csv) [default: the built-in pool].
        #[arg(long)]
        voices: Option<PathBuf>,
        /// Use the pool's held-out test voices instead of its training voices.
        #[arg(long)]
        test_voices: bool,
        /// Most trigger words per clip (0 makes word-free clips for measuring false accepts).
        #[arg(long, default_value_t = MixConfig::default().max_positives)]
        max_positives: usize,
        /// Most other words per clip.
        #[arg(long, default_value_t = MixConfig::default().max_negatives)]
        max_negatives: usize,
        /// Length of each clip in seconds (an hour as one file measures long streams).
        #[arg(long, default_value_t = MixConfig::default().seconds)]
        seconds: f64,
        #[command(flatten)]
        seed: SeedArg,
    },
    /// Train the Conv1D + GRU detector on fresh mixtures drawn every step; writes a run folder with
    /// the model, checkpoints, metrics and an HTML report (loss curves, false rejects vs false
    /// accepts on validation mixtures).
    ///
    /// There are no epochs: every step mixes a new batch of 10 s clips, so the model never sees the
    /// same clip twice. `--preset small` trains in minutes on 2 cores; the default preset is the
    /// lecture's network (Conv1D 196 filters, two GRUs of 128). A killed run continues with
    /// `--resume RUN_DIR`.
    Train(TrainArgs),
    /// Find the trigger word in WAV files: prints file, time (s, when the detection fired) and
    /// score (the highest over the detection) for each detection.
    ///
    /// Files are streamed through the model one second at a time, so hour-long recordings use
    /// constant memory. MODEL is a .casebook file, or `builtin` for the committed small model.
    Detect {
        /// Model file (or `builtin`).
        model: String,
        /// WAV files (any rate, mono or stereo; resampled to the model's rate).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        detection: DetectionArgs,
        /// Write the (single) input with a chime mixed in at each detection, as WAV.
        #[arg(long, value_name = "OUT.wav")]
        chime: Option<PathBuf>,
        /// One JSON object per detection instead of tab-separated lines.
        #[arg(long)]
        json: bool,
    },
    /// Detect in a live stream: raw 16-bit little-endian mono PCM on standard input, printed as
    /// detections happen. The same detections as `detect` on the same audio, printed the moment
    /// they fire: with the score of that step, where `detect` gives each detection's peak.
    ///
    /// The convolution's frames and both GRU states carry over between chunks, so nothing is
    /// recomputed; e.g. `arecord -f S16_LE -r 16000 -c 1 | casebook trigger listen builtin --stdin --rate 16000`.
    Listen {
        /// Model file (or `builtin`).
        model: String,
        /// Read audio from standard input (the only source so far).
        #[arg(long, required = true)]
        stdin: bool,
        /// Sample rate of the incoming audio in Hz (resampled to the model's rate).
        #[arg(long)]
        rate: u32,
        #[command(flatten)]
        detection: DetectionArgs,
        /// One JSON object per detection instead of tab-separated lines.
        #[arg(long)]
        json: bool,
    },
    /// Write a page of 3 s clips (held-out voices) played at several sample rates, for a person to
    /// mark "word present?": how much audio resolution does a listener need?
    ///
    /// The page holds no answers. The run folder gets its key and a report of the model's verdict
    /// on the same clips at each rate; `casebook trigger human-baseline answers.json` scores the
    /// person's saved answers and adds them to that report.
    HumanPage(HumanPageArgs),
    /// Score the answers saved by a human page: accuracy per sample rate, beside the model's.
    HumanBaseline {
        /// answers.json saved by the page.
        answers: PathBuf,
        /// The human-key.json in the study's run folder [default: the key path the page recorded].
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Hard-negative mining: stream word-free audio (folders with labels.csv; labelled words are
    /// skipped) through a model and write a window around every false accept as a WAV into OUT.
    ///
    /// Make OUT a sub-folder of the next training run's --backgrounds (and fine-tune with
    /// `train --init MODEL`): the sounds the model confuses with the word then sit under the
    /// words it learns from. Mine only training audio, never your evaluation set.
    Mine {
        /// Model file (or `builtin`).
        model: String,
        /// Folders of WAV files with labels.csv.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Folder to write the windows into.
        #[arg(long = "out-dir", alias = "out", value_hint = clap::ValueHint::DirPath)]
        out_dir: PathBuf,
        /// Score that counts as firing; lower than the detection threshold finds near misses too.
        #[arg(long, default_value_t = 0.5, value_parser = unit_interval::<f32>)]
        threshold: f32,
        /// Length of each window in seconds.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// Measure a model on a folder of WAVs + labels.csv (from `synth` or your own recordings):
    /// false-reject rate, false accepts per hour, latency, and a DET curve over thresholds.
    ///
    /// Files without rows in labels.csv count as word-free audio for false accepts. Writes a run
    /// folder with metrics.json and an HTML report.
    Eval {
        /// Model file (or `builtin`).
        model: String,
        /// Folders of WAV files, each with labels.csv (file,start_s,end_s per trigger word);
        /// several folders are measured as one set.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Detection settings; the DET curve varies the threshold, the summary reports this one.
        #[command(flatten)]
        detection: DetectionArgs,
        /// Also report the lowest threshold whose false accepts per hour meet this target.
        #[arg(long, default_value_t = 1.0)]
        target_fa_per_hour: f64,
        /// Write a copy of the model whose default threshold is that lowest threshold, with what
        /// it measured here (an error if no threshold meets the target). Calibrate on audio kept
        /// apart from training.
        #[arg(long, value_name = "OUT.casebook")]
        calibrate: Option<PathBuf>,
        /// Print one JSON object (report, metrics and every item's result) instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        run: RunArgs,
    },
}

/// How step scores become detections.
#[derive(Args)]
pub struct DetectionArgs {
    /// Probability a step must reach to fire a detection [default: the threshold calibrated into
    /// the model (`eval --calibrate`), else 0.5].
    #[arg(long, value_parser = unit_interval::<f32>)]
    pub threshold: Option<f32>,
    /// Consecutive steps (7.25 ms each) at or above the threshold needed to fire.
    #[arg(long, default_value_t = casebook_trigger::infer::PATIENCE)]
    pub patience: usize,
    /// Seconds after a detection during which no other fires.
    #[arg(long, default_value_t = casebook_trigger::infer::REFRACTORY_S, value_parser = non_negative::<f64>)]
    pub refractory: f64,
}

impl DetectionArgs {
    fn rule(&self) -> DetectionRule {
        DetectionRule {
            refractory_s: self.refractory,
            patience: self.patience,
        }
    }

    /// `--threshold`, else the model's own.
    fn threshold_for(&self, model: &TriggerModel) -> f32 {
        self.threshold.unwrap_or(model.default_threshold())
    }
}

#[derive(Args)]
pub struct HumanPageArgs {
    /// Sample rates to play clips at, in Hz (the built-in clips are 16 kHz: higher rates sound the same).
    #[arg(long, value_delimiter = ',', default_value = "4000,8000,16000,44100")]
    pub rates: Vec<u32>,
    /// The page to write (its answer key and the model's scores go to the run folder).
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
    pub out: PathBuf,
    /// The model scored on the same clips, beside the person (a file or `builtin`).
    #[arg(long, default_value = "builtin")]
    pub model: String,
    /// Clips per sample rate.
    #[arg(long, default_value_t = 10)]
    pub count: usize,
    /// The trigger word named on the page.
    #[arg(long, default_value = "activate")]
    pub word: String,
    #[command(flatten)]
    pub seed: SeedArg,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct TrainArgs {
    /// The trigger word (recorded in the model; the clips decide what is learnt).
    #[arg(long, default_value = "activate")]
    pub word: String,
    /// Folder of WAV clips of the trigger word [default: built-in training voices].
    #[arg(long)]
    pub positives: Option<PathBuf>,
    /// Folder of WAV clips of other words [default: built-in training voices].
    #[arg(long)]
    pub negatives: Option<PathBuf>,
    /// Folder of background recordings, sub-folders included [default: generated backgrounds].
    #[arg(long)]
    pub backgrounds: Option<PathBuf>,
    /// Pool folder made by `make-voices` (voices.csv; its training voices are used) [default: the
    /// built-in pool].
    #[arg(long)]
    pub voices: Option<PathBuf>,
    /// Network size.
    #[arg(long, value_parser = choice::<Preset>(), default_value = TrainConfig::default().preset.name())]
    pub preset: Preset,
    /// Optimiser steps (each on a fresh batch).
    #[arg(long, default_value_t = TrainConfig::default().steps)]
    pub steps: usize,
    /// Clips per step.
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    pub lr: f64,
    /// Loss weight of positive steps (they are about 7 % of all steps).
    #[arg(long, default_value_t = TrainConfig::default().pos_weight)]
    pub pos_weight: f64,
    /// Output steps labelled positive right after each trigger word ends.
    #[arg(long, default_value_t = TrainConfig::default().label_steps)]
    pub label_steps: usize,
    /// Validate, checkpoint and print progress every this many steps.
    #[arg(long, default_value_t = TrainConfig::default().eval_every)]
    pub eval_every: usize,
    /// Validation mixtures (fixed for the run, training voices).
    #[arg(long, default_value_t = TrainConfig::default().val_clips)]
    pub val_clips: usize,
    #[command(flatten)]
    pub seed: SeedArg,
    /// Spectrogram FFT length in samples at 16 kHz (n_fft/2 + 1 frequency bins; Hann window).
    #[arg(long, default_value_t = TrainConfig::default().spectrogram.n_fft)]
    pub n_fft: usize,
    /// Spectrogram hop in samples at 16 kHz (29 gives the lecture's 5511 frames for 10 s).
    #[arg(long, default_value_t = TrainConfig::default().spectrogram.hop)]
    pub hop: usize,
    #[command(flatten)]
    pub run: RunArgs,
    /// Start from this model (a file or `builtin`) instead of random weights: fine-tuning, e.g. after
    /// `trigger mine`. --preset, --n-fft and --hop must match it.
    #[arg(long, value_name = "MODEL")]
    pub init: Option<String>,
    /// Continue a killed run from its last checkpoint (pass its run folder; other flags are taken from it).
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
}

pub fn run(cmd: TriggerCommand, observer: &dyn Observer) -> Result<()> {
    match cmd {
        TriggerCommand::MakeVoices {
            word,
            out_dir: out,
            set,
        } => {
            let phase = observer.phase("speaking", 0);
            let entries = voices::make_voices(&word, set, &out, || phase.advance(1))?;
            drop(phase);
            let positives = entries.iter().filter(|e| e.positive).count();
            println!(
                "wrote {positives} '{word}' clips and {} other words to {}",
                entries.len() - positives,
                out.display()
            );
            Ok(())
        }
        TriggerCommand::Synth {
            out_dir: out,
            count,
            positives,
            negatives,
            backgrounds,
            voices,
            test_voices,
            max_positives,
            max_negatives,
            seconds,
            seed,
        } => {
            let pools = Pools::load(&PoolSources {
                positives,
                negatives,
                backgrounds,
                voices,
                test_voices,
            })?;
            let config = MixConfig {
                max_positives,
                max_negatives,
                seconds,
                ..MixConfig::default()
            };
            let phase = observer.phase("mixing", count as u64);
            let words = synthesize(&out, count, &pools, &config, seed.seed, || phase.advance(1))?;
            drop(phase);
            println!(
                "wrote {count} clips with {words} trigger words to {} (labels.csv)",
                out.display()
            );
            Ok(())
        }
        TriggerCommand::Train(args) => train(args, observer),
        TriggerCommand::Mine {
            model,
            dirs,
            out_dir: out,
            threshold,
            seconds,
        } => {
            let model = TriggerModel::open(&model)?;
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let mined =
                casebook_trigger::mine::mine(&model, &dirs, threshold, seconds, &out, observer)?;
            println!(
                "{} false accepts in {:.2} h of audio; wrote {} windows to {}",
                mined.false_accepts,
                mined.hours,
                mined.windows.len(),
                out.display()
            );
            Ok(())
        }
        TriggerCommand::HumanPage(args) => {
            casebook_trigger::study::check_rates(&args.rates)?;
            let model = TriggerModel::open(&args.model)?;
            let run = args.run.create("trigger-human-page")?;
            let report = run.report_path();
            let config = serde_json::json!({
                "study": casebook_trigger::study::HUMAN_STUDY,
                "page": args.out,
                "model": args.model,
                "rates": args.rates,
                "count": args.count,
                "word": args.word,
                "seed": args.seed.seed,
            });
            let study = run.start(&config, |run| {
                casebook_trigger::study::rate_study(
                    &run,
                    &args.out,
                    &model,
                    &args.rates,
                    args.count,
                    &args.word,
                    args.seed.seed,
                )
            })?;
            println!(
                "{:>10} {:>6} {:>14}",
                "rate (Hz)", "clips", "model accuracy"
            );
            for s in &study.scores {
                println!(
                    "{:>10} {:>6} {:>13.1}%",
                    s.rate,
                    s.clips,
                    100.0 * s.model_accuracy
                );
            }
            println!(
                "page:   {} (answer it, then `casebook trigger human-baseline answers.json`)\nreport: {}",
                args.out.display(),
                report.display()
            );
            Ok(())
        }
        TriggerCommand::HumanBaseline { answers, key } => crate::terminal::human_baseline(
            &answers,
            key.as_deref(),
            casebook_trigger::study::HUMAN_STUDY,
        ),
        TriggerCommand::Detect {
            model,
            files,
            detection,
            chime,
            json,
        } => {
            if chime.is_some() && files.len() != 1 {
                bail!("--chime writes one file: give exactly one input WAV");
            }
            if let (Some(out), [input]) = (&chime, files.as_slice()) {
                casebook_core::fsx::ensure_not_input(input, out)?;
            }
            let model = TriggerModel::open(&model)?;
            let threshold = detection.threshold_for(&model);
            // As `image predict`: a file that cannot be read is skipped with
            // its reason, the others are still scored, and the exit says so.
            let mut failures = 0;
            for file in &files {
                let source = file.display().to_string();
                let found = match detect_file(&model, file, threshold, detection.rule(), |d| {
                    print_detection(&source, d, json)
                }) {
                    Ok(found) => found,
                    Err(e) => {
                        failures += 1;
                        observer.skipped(file, &format!("{e:#}"));
                        continue;
                    }
                };
                if found.is_empty() {
                    // On standard error: standard output keeps one line per detection.
                    observer.note(&format!("{source}: no detections at threshold {threshold}"));
                }
                if let Some(out) = &chime {
                    write_chimed(file, &found, out)?;
                    observer.note(&format!(
                        "wrote {} with {} chimes",
                        out.display(),
                        found.len()
                    ));
                }
            }
            if failures > 0 {
                bail!("{failures} of {} files could not be read", files.len());
            }
            Ok(())
        }
        TriggerCommand::Listen {
            model,
            stdin: _,
            rate,
            detection,
            json,
        } => {
            let model = TriggerModel::open(&model)?;
            listen(
                &model,
                std::io::stdin().lock(),
                rate,
                detection.threshold_for(&model),
                detection.rule(),
                |d| {
                    print_detection("stdin", d, json);
                    let _ = std::io::stdout().flush();
                },
            )
        }
        TriggerCommand::Eval {
            model,
            dirs,
            detection,
            target_fa_per_hour,
            calibrate,
            json,
            run,
        } => {
            let config = EvalConfig {
                model,
                data: dirs,
                threshold: detection.threshold,
                rule: detection.rule(),
                target_fa_per_hour,
            };
            let (summary, run) = evaluate(&config, run.create("trigger-eval")?, observer)?;
            print_evaluation(
                json,
                &summary.to_string(),
                &run.report_path(),
                &summary,
                &summary.events,
            )?;
            if let Some(out) = calibrate {
                let c = calibration(&config, &summary)
                    .with_context(|| format!("{} was not written", out.display()))?;
                TriggerModel::write_calibrated(&config.model, &c, &out)?;
                let wrote = format!(
                    "wrote {} with threshold {} (false-reject rate {:.1} % at {:.2} false accepts per hour here)",
                    out.display(),
                    c.threshold,
                    100.0 * c.false_reject_rate,
                    c.false_accepts_per_hour
                );
                // Standard output holds the one JSON object with --json.
                if json {
                    eprintln!("{wrote}");
                } else {
                    println!("{wrote}");
                }
            }
            Ok(())
        }
    }
}

fn train(args: TrainArgs, observer: &dyn Observer) -> Result<()> {
    let outcome = match &args.resume {
        Some(run_dir) => TrainConfig::resume(RunDir::open(run_dir)?, observer)?,
        None => {
            let config = TrainConfig {
                word: args.word,
                sources: PoolSources {
                    positives: args.positives,
                    negatives: args.negatives,
                    backgrounds: args.backgrounds,
                    voices: args.voices,
                    test_voices: false,
                },
                preset: args.preset,
                steps: args.steps,
                batch_size: args.batch_size,
                learning_rate: args.lr,
                pos_weight: args.pos_weight,
                label_steps: args.label_steps,
                eval_every: args.eval_every,
                val_clips: args.val_clips,
                seed: args.seed.seed,
                spectrogram: SpectrogramConfig {
                    rate: casebook_trigger::data::SAMPLE_RATE,
                    n_fft: args.n_fft,
                    hop: args.hop,
                },
                init: args.init,
            };
            config.train(args.run.create_resumable("trigger-train")?, observer)?
        }
    };
    let v = outcome.validation;
    println!(
        "trained {} steps in {:.0} s; validation at threshold 0.5: false-reject rate {:.1} %, {:.1} false accepts per hour",
        outcome.history.last().map_or(0, |r| r.step),
        outcome.train_seconds,
        100.0 * v.false_reject_rate,
        v.false_accepts_per_hour
    );
    println!("model:  {}", outcome.run.model_path().display());
    println!("report: {}", outcome.run.report_path().display());
    Ok(())
}

fn print_detection(source: &str, d: &Detection, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({ "file": source, "time_s": d.time, "score": d.score })
        );
    } else {
        println!(
            "{}\t{:.3}\t{:.3}",
            tsv_field(Path::new(source)),
            d.time,
            d.score
        );
    }
}
