//! The kill-test harness (issue 16): a training is SIGKILLed at random
//! moments and while it writes (a checkpoint being staged, the temporary file
//! of an atomic write), resumed after every kill, and must end exactly where
//! an uninterrupted run ends, with nothing half-written left behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use casebook_core::checkpoint::weight_values;
use casebook_core::model_file::{ModelFile, WEIGHTS};
use common::{daynight, ok};

/// When an attempt is killed.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// This long after it started.
    After(Duration),
    /// As soon as something half-written appears in the run folder.
    WhileWriting,
}

/// What an unfinished write leaves under `run`: `.NAME.PID.tmp` files of
/// atomic writes and a checkpoint being staged (`checkpoint.new`) or moved
/// aside (`checkpoint.old`).
fn half_written(run: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(run) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let unfinished = (name.starts_with('.') && name.ends_with(".tmp"))
                || name.starts_with("checkpoint.");
            let mut found = if unfinished {
                vec![path.clone()]
            } else {
                vec![]
            };
            if path.is_dir() {
                found.extend(half_written(&path));
            }
            found
        })
        .collect()
}

/// A seeded stream of numbers in [0, 1) (xorshift), so a failing schedule of
/// kills can be named and replayed.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A training command (`case train …`, without `--run`) in `work`.
struct Training<'a> {
    work: &'a Path,
    args: Vec<String>,
}

impl<'a> Training<'a> {
    fn new(work: &'a Path, args: &[&str]) -> Self {
        Self {
            work,
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn run(&self, name: &str) -> PathBuf {
        self.work.join("runs").join(name)
    }

    /// The command that starts run `name`, or resumes it once it has a config.
    fn command(&self, name: &str) -> Command {
        let run = self.run(name);
        let mut command = Command::new(env!("CARGO_BIN_EXE_casebook"));
        if run.join("config.json").exists() {
            command.args([&self.args[0], "train", "--resume", run.to_str().unwrap()]);
        } else {
            command.args(&self.args).args(["--run", name]);
        }
        command
            .arg("--quiet")
            .current_dir(self.work)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// Starts or resumes run `name` and kills it at `moment`, unless it
    /// finishes first.
    fn attempt(&self, name: &str, moment: Moment) -> Outcome {
        let run = self.run(name);
        let mut child = self.command(name).spawn().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut stderr = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
                assert!(status.success(), "{name} {moment:?}: {stderr}");
                return Outcome::Finished;
            }
            let due = match moment {
                Moment::After(after) => start.elapsed() >= after,
                Moment::WhileWriting => !half_written(&run).is_empty(),
            };
            if due {
                child.kill().unwrap();
                child.wait().unwrap();
                return Outcome::Killed {
                    mid_write: !half_written(&run).is_empty(),
                };
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Runs `name` to the end, uninterrupted; returns how long it took.
    fn straight(&self, name: &str) -> Duration {
        let start = Instant::now();
        let outcome = self.attempt(name, Moment::After(Duration::MAX));
        assert_eq!(outcome, Outcome::Finished);
        start.elapsed()
    }

    /// Runs `straight` uninterrupted, then `killed` under a schedule of
    /// kills drawn from `seed` (`case` names it in the output), and checks
    /// that both end the same.
    fn survives_kills(&self, case: &str, seed: u64) {
        let span = self.straight("straight");
        let kills = schedule(seed, span, 6, 4);
        report_kills(case, &kills, &self.with_kills("killed", &kills));
        assert_same_end(self, "killed", "straight");
    }

    /// Runs `name` under `kills` (each attempt resuming the last), then to
    /// the end; returns the killed attempts' outcomes.
    fn with_kills(&self, name: &str, kills: &[Moment]) -> Vec<Outcome> {
        let killed = kills
            .iter()
            .map(|&moment| self.attempt(name, moment))
            .filter(|outcome| *outcome != Outcome::Finished)
            .collect();
        self.attempt(name, Moment::After(Duration::MAX));
        killed
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Finished,
    /// Killed; `mid_write` when it left something half-written.
    Killed {
        mid_write: bool,
    },
}

/// Says how the kills landed, and checks that enough of them did.
fn report_kills(case: &str, kills: &[Moment], killed: &[Outcome]) {
    let mid_write = killed
        .iter()
        .filter(|k| **k == Outcome::Killed { mid_write: true })
        .count();
    eprintln!(
        "{case}: {} of {} attempts killed, {mid_write} of them in the middle of a write; {kills:?}",
        killed.len(),
        kills.len()
    );
    assert!(
        killed.len() >= 5,
        "only {} attempts were killed",
        killed.len()
    );
}

/// The losses of every record of a run's `metrics.jsonl` (times left out).
fn losses(run: &Path) -> Vec<Vec<(String, f64)>> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            record
                .as_object()
                .unwrap()
                .iter()
                .filter(|(key, _)| key.contains("loss") || key.contains("acc") || *key == "step")
                .map(|(key, value)| (key.clone(), value.as_f64().unwrap()))
                .collect()
        })
        .collect()
}

/// The killed run ends as the uninterrupted one: same losses at every step,
/// same weights, nothing half-written.
fn assert_same_end(training: &Training, killed: &str, straight: &str) {
    let (a, b) = (training.run(killed), training.run(straight));
    assert_eq!(losses(&a), losses(&b), "the resumed run's losses differ");
    let sections = |run: &Path| {
        ModelFile::load(&run.join("model.casebook"))
            .unwrap()
            .sections
    };
    let (sa, sb) = (sections(&a), sections(&b));
    assert_eq!(sa.keys().collect::<Vec<_>>(), sb.keys().collect::<Vec<_>>());
    for (name, bytes) in &sa {
        // Weights by value: burn stores parameter ids, new in every process, beside them.
        let same = match name.as_str() {
            WEIGHTS => weight_values(bytes).unwrap() == weight_values(&sb[name]).unwrap(),
            _ => bytes == &sb[name],
        };
        assert!(same, "the resumed model's section {name} differs");
    }
    assert!(a.join("report.html").exists());
    let left = half_written(&a);
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `random` kills at moments drawn from [0, `span`) and `writing` kills
/// the moment a write is under way, shuffled by `seed`.
fn schedule(seed: u64, span: Duration, random: usize, writing: usize) -> Vec<Moment> {
    let mut draws = Draws(seed);
    let mut moments: Vec<Moment> = (0..random)
        .map(|_| Moment::After(span.mul_f64(draws.next())))
        .chain(std::iter::repeat_n(Moment::WhileWriting, writing))
        .collect();
    for i in (1..moments.len()).rev() {
        let j = (draws.next() * (i + 1) as f64) as usize;
        moments.swap(i, j);
    }
    moments
}

#[test]
fn trigger_training_survives_kills_at_random_and_while_writing() {
    let work = tempfile::tempdir().unwrap();
    let args = [
        "trigger",
        "train",
        "--preset",
        "small",
        "--steps",
        "24",
        "--batch-size",
        "4",
        "--eval-every",
        "4",
        "--val-clips",
        "4",
    ];
    Training::new(work.path(), &args).survives_kills("trigger", 16);
}

#[test]
fn image_training_survives_kills_at_random_and_while_writing() {
    let work = tempfile::tempdir().unwrap();
    let data = daynight(work.path(), "scenes", 120, 0.5, 3);
    let d = data.to_str().unwrap();
    let args = [
        "image",
        "train",
        d,
        "--resolution",
        "32",
        "--epochs",
        "6",
        "--batch-size",
        "16",
        "--patience",
        "10",
    ];
    let training = Training::new(work.path(), &args);
    training.survives_kills("image", 11);
    let model = training.run("killed").join("model.casebook");
    let eval = [
        "image",
        "eval",
        model.to_str().unwrap(),
        d,
        "--run",
        "eval",
        "--quiet",
    ];
    ok(&eval, work.path());
}
