//! `casebook`: the command-line front of the casebook case studies. Each
//! subcommand parses flags and calls the case crate's library API; nothing
//! here computes anything itself.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod args;
mod demo;
mod face_cmd;
mod image_cmd;
mod logreg_cmd;
mod serve_cmd;
mod style_cmd;
mod terminal;
mod trigger_cmd;

use casebook_core::config::InvalidConfig;
use casebook_core::observe::Stopped;
use terminal::Terminal;

/// mimalloc rather than glibc's allocator, even with
/// [`casebook_core::memory::reuse_freed_memory`]'s settings (which this
/// binary used before): `style apply-adain` at 512 px took 46k page faults
/// and ~14 % of its CPU time in the kernel faulting in fresh activations
/// (32 channels of 512²: 33.5 MB each); with mimalloc, which keeps freed
/// memory for reuse, 0.6k: medians of 12 alternated runs 320 → 280 ms
/// (peak RSS 196 → 230 MB), the demo 20.2 → 18.2 s (364 → 430 MB).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "casebook",
    version,
    about = "Applied deep-learning case studies as tools you can run on your own data",
    long_about = "casebook turns classic applied deep-learning case studies into trainable, evaluable tools.\n\n\
Start with `casebook demo`: offline, on built-in data, it generates day/night scenes and trains \
an image classifier, fits logistic regression on a generated table, detects the trigger word \
'activate' in clips spoken by voices the built-in model never heard, verifies, identifies and \
clusters faces with dlib's models ported to Rust, and draws a scene in the style of a painting; \
each step writes an HTML report. Then run the same commands on your own photos, CSV tables, \
recordings and pictures.\n\n\
Every training or evaluation writes a run folder (runs/<name>/) with config.json, metrics, \
report.html and, for training, the model file. Ctrl-C stops a training run at its next checkpoint \
boundary; `--resume RUN_DIR` continues it."
)]
struct Cli {
    /// Hide progress bars and status lines (results and skipped files still print).
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate built-in datasets (procedural, offline).
    #[command(subcommand)]
    Data(DataCommand),
    /// Image classification: split, train, evaluate, predict, and studies of resolution and data size.
    #[command(subcommand)]
    Image(image_cmd::ImageCommand),
    /// Logistic regression on CSV tables: binary, multilabel and multiclass.
    #[command(subcommand)]
    Logreg(logreg_cmd::LogregCommand),
    /// Trigger-word detection: synthesise labelled audio, train the Conv1D + GRU detector, detect in
    /// files and live streams, measure false rejects and false accepts per hour.
    #[command(subcommand)]
    Trigger(trigger_cmd::TriggerCommand),
    /// Faces: detect, align and encode with dlib's models ported to Rust; verify, identify, cluster.
    #[command(subcommand)]
    Face(face_cmd::FaceCommand),
    /// Art generation: draw a picture in the style of a painting (neural style transfer).
    #[command(subcommand)]
    Style(style_cmd::StyleCommand),
    /// Run the whole tour offline on built-in data and print where the report is.
    Demo(demo::DemoArgs),
    /// The local web studio: day/night on your photos, the trigger word on your recordings, your
    /// logistic-regression models on a CSV, and every run folder with its report, in a browser.
    ///
    /// Listens on the loopback address (127.0.0.1) unless told otherwise, so only this computer
    /// can reach it. It runs the same library code as these commands.
    Serve(serve_cmd::ServeArgs),
}

#[derive(Subcommand)]
enum DataCommand {
    /// Procedural day/night scenes: writes OUT/day/*.png and OUT/night/*.png.
    ///
    /// Scenes vary sun elevation (golden hour and blue hour near the boundary), sun, moon and stars,
    /// clouds, overcast and rain, city skylines with lit windows, street lights and headlights,
    /// countryside, sea, indoor rooms with windows, exposure and colour casts, blur, noise and
    /// JPEG artefacts. The same --seed always writes the same images.
    Daynight {
        /// Folder to write into (created if missing).
        #[arg(long = "out-dir", alias = "out", value_hint = clap::ValueHint::DirPath)]
        out_dir: PathBuf,
        /// Number of images to write.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Expected share of night images, 0..1 (use e.g. 0.2 to practise class imbalance).
        #[arg(long, default_value_t = 0.5)]
        night_fraction: f64,
        /// Random seed: same seed, same images.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Synthetic people in the LFW layout (OUT/person_0000/person_0000_0001.png, 250×250), for
    /// trying and testing `face train` / `face eval` / `face cluster`.
    ///
    /// Each person keeps a face (shape, skin, eyes, brows, nose, mouth, hair, ears, beard, glasses,
    /// moles) across photos; pose, lighting, expression, occlusions, background, blur and noise
    /// vary. They are simple renders, not photographs: no built-in encoder is judged on them.
    Faces {
        /// Folder to write into (created if missing).
        #[arg(long = "out-dir", alias = "out", value_hint = clap::ValueHint::DirPath)]
        out_dir: PathBuf,
        /// Number of people.
        #[arg(long, default_value_t = 100)]
        people: usize,
        /// Fewest photos per person.
        #[arg(long, default_value_t = 2)]
        min_images: usize,
        /// Most photos per person (counts are skewed towards the fewest, as in LFW).
        #[arg(long, default_value_t = 12)]
        max_images: usize,
        #[command(flatten)]
        seed: args::SeedArg,
    },
    /// A small CSV from a known logistic model, with a categorical column and missing values.
    Tabular {
        /// Which task the table is for: binary (`approved` yes/no from numeric columns and a
        /// colour), multiclass (`species` bird/cat/dog) or multilabel (`tags`, `;`-separated
        /// politics/sports/tech).
        #[arg(long, value_parser = args::choice::<casebook_logreg::data::Mode>(), default_value = "binary")]
        kind: casebook_logreg::data::Mode,
        /// Number of rows.
        #[arg(long = "count", alias = "rows", default_value_t = 1000)]
        rows: usize,
        /// CSV file to write.
        #[arg(long, value_hint = clap::ValueHint::FilePath)]
        out: PathBuf,
        /// Random seed: same seed, same table.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    if let Some(message) = flags_beside_resume(&Cli::command(), &matches) {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    terminal::stop_on_ctrl_c();
    let observer = Terminal::new(cli.quiet);
    let result = match cli.command {
        Command::Data(DataCommand::Daynight {
            out_dir: out,
            count,
            night_fraction,
            seed,
        }) => demo::generate_daynight(&out, count, night_fraction, seed, &observer),
        Command::Data(DataCommand::Faces {
            out_dir: out,
            people,
            min_images,
            max_images,
            seed,
        }) => face_cmd::generate_faces(&out, people, min_images, max_images, seed.seed, &observer),
        Command::Data(DataCommand::Tabular {
            kind,
            rows,
            out,
            seed,
        }) => logreg_cmd::generate_table(kind, rows, &out, seed),
        Command::Image(cmd) => image_cmd::run(cmd, &observer),
        Command::Logreg(cmd) => logreg_cmd::run(cmd, &observer),
        Command::Trigger(cmd) => trigger_cmd::run(cmd, &observer),
        Command::Face(cmd) => face_cmd::run(cmd, &observer),
        Command::Style(cmd) => style_cmd::run(cmd, &observer),
        Command::Demo(args) => demo::run(&args, &observer),
        Command::Serve(args) => serve_cmd::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(stopped) = err.downcast_ref::<Stopped>() {
                eprintln!("stopped: {}", stopped.kept);
                return ExitCode::from(130);
            }
            // One line: the error and its causes, outermost first.
            match err.downcast_ref::<InvalidConfig>() {
                Some(invalid) => {
                    eprintln!("error: {} {}", flag_of(&invalid.field), invalid.problem)
                }
                None => eprintln!("error: {err:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// `--resume RUN_DIR` continues a run with the settings it started with (its
/// config.json), so any other flag given beside it would be silently
/// ignored: name them instead. Checked for every command that has
/// `--resume`, so a flag added later is covered too.
fn flags_beside_resume(cmd: &clap::Command, matches: &clap::ArgMatches) -> Option<String> {
    if let Some((name, sub)) = matches.subcommand() {
        return flags_beside_resume(cmd.find_subcommand(name)?, sub);
    }
    let from_user =
        |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    if !cmd.get_arguments().any(|a| a.get_id() == "resume") || !from_user("resume") {
        return None;
    }
    let others: Vec<String> = cmd
        .get_arguments()
        .filter(|a| !["resume", "quiet"].contains(&a.get_id().as_str()))
        .filter(|a| from_user(a.get_id().as_str()))
        .map(|a| match a.get_long() {
            Some(long) => format!("--{long}"),
            None => a
                .get_value_names()
                .map_or(a.get_id().to_string(), |v| v[0].to_string()),
        })
        .collect();
    (!others.is_empty()).then(|| {
        format!(
            "--resume continues a run with the settings it was started with; leave out {} (a \
             finished run is not extended: start a new run{})",
            others.join(", "),
            if cmd.get_arguments().any(|a| a.get_id() == "init") {
                ", e.g. from its model with --init"
            } else {
                ""
            }
        )
    })
}

/// The flag that sets a library configuration field.
fn flag_of(field: &str) -> String {
    let name = field.rsplit('.').next().unwrap_or(field);
    let flag = match name {
        "learning_rate" => "lr",
        "train_fraction" => "fractions",
        "targets" => "target",
        "validation_fraction" => "holdout",
        other => other,
    };
    format!("--{}", flag.replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, ValueHint};

    /// Every subcommand, with its path (`["image", "train"]`).
    fn leaves(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
        if !cmd.has_subcommands() {
            out.push((path, cmd.clone()));
            return;
        }
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            leaves(sub, p, out);
        }
    }

    /// The shared vocabulary (README, "Flags"): `--out` is always one file
    /// and `--out-dir` always a folder, so a flag's name tells what it writes.
    #[test]
    fn out_is_a_file_and_out_dir_a_folder_in_every_command() {
        let mut all = Vec::new();
        leaves(&Cli::command(), Vec::new(), &mut all);
        assert!(all.len() > 30, "found {} commands", all.len());
        let mut outs = 0;
        for (path, cmd) in &all {
            for arg in cmd.get_arguments() {
                let want = match arg.get_long() {
                    Some("out") => ValueHint::FilePath,
                    Some("out-dir") => ValueHint::DirPath,
                    _ => continue,
                };
                outs += 1;
                assert_eq!(
                    arg.get_value_hint(),
                    want,
                    "{path:?} --{}",
                    arg.get_long().unwrap()
                );
            }
        }
        assert!(outs >= 14, "found {outs} --out/--out-dir flags");
    }

    /// Every flag of every training command with `--resume` is refused
    /// beside it, by its name; `--quiet` is not a setting and is allowed.
    #[test]
    fn resume_refuses_every_other_flag_by_name() {
        let mut all = Vec::new();
        leaves(&Cli::command(), Vec::new(), &mut all);
        let mut checked = 0;
        for (path, cmd) in all
            .iter()
            .filter(|(_, c)| c.get_arguments().any(|a| a.get_id() == "resume"))
        {
            let mut base: Vec<String> = vec!["casebook".into()];
            base.extend(path.iter().cloned());
            base.extend(["--resume".into(), "runs/r".into(), "--quiet".into()]);
            let plain = Cli::command().try_get_matches_from(&base).unwrap();
            assert_eq!(
                flags_beside_resume(&Cli::command(), &plain),
                None,
                "{path:?}"
            );
            for arg in cmd.get_arguments().filter(|a| {
                a.get_long()
                    .is_some_and(|l| l != "resume" && l != "quiet" && l != "help")
            }) {
                let long = format!("--{}", arg.get_long().unwrap());
                let mut argv = base.clone();
                argv.push(long.clone());
                if arg.get_action().takes_values() {
                    let value = arg
                        .get_possible_values()
                        .first()
                        .map_or("1".to_string(), |v| v.get_name().to_string());
                    argv.push(value);
                }
                let matches = Cli::command().try_get_matches_from(&argv);
                let refused = match matches {
                    Ok(m) => flags_beside_resume(&Cli::command(), &m),
                    Err(e) => Some(e.to_string()),
                };
                assert!(
                    refused.is_some_and(|m| m.contains(&long)),
                    "{argv:?} accepted"
                );
                checked += 1;
            }
        }
        assert!(checked > 60, "checked {checked} flags");
    }

    #[test]
    fn a_library_field_error_names_the_flag_that_sets_it() {
        let mut all = Vec::new();
        leaves(&Cli::command(), Vec::new(), &mut all);
        let flags: std::collections::BTreeSet<String> = all
            .iter()
            .flat_map(|(_, c)| {
                c.get_arguments()
                    .filter_map(|a| a.get_long().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .collect();
        for field in [
            "learning_rate",
            "train_fraction",
            "targets",
            "validation_fraction",
            "config.epochs",
        ] {
            let flag = flag_of(field);
            assert!(
                flags.contains(flag.trim_start_matches("--")),
                "{field} -> {flag}"
            );
        }
    }
}
