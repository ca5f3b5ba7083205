//! The run folder: `runs/<name>/` holds `config.json`, `metrics.jsonl` (one
//! record per epoch or evaluation interval), `report.html`, the best model and
//! the training checkpoint. [`RunDir::start`] is the one lifecycle every
//! command follows: write the config, do the work, and remove the folder if
//! the work fails before it has a checkpoint worth resuming.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Named measurements at one point of a run (an epoch, a step), as written to
/// `metrics.jsonl`: `{"step": 3, "train_loss": 0.41, "val_accuracy": 0.92, ...}`.
/// Cases record what they measure (losses, accuracies, rates) under their own names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRecord {
    /// The epoch or optimisation step the values belong to.
    #[serde(alias = "epoch")]
    pub step: usize,
    #[serde(flatten)]
    pub values: BTreeMap<String, f64>,
}

impl MetricsRecord {
    pub fn new(step: usize) -> Self {
        Self {
            step,
            values: BTreeMap::new(),
        }
    }

    pub fn with(mut self, name: &str, value: f64) -> Self {
        self.values.insert(name.to_string(), value);
        self
    }

    /// The value recorded under `name`; NaN when there is none.
    pub fn get(&self, name: &str) -> f64 {
        self.values.get(name).copied().unwrap_or(f64::NAN)
    }
}

/// `(step, value)` pairs of one named value over a history, for plotting.
pub fn series(history: &[MetricsRecord], name: &str) -> Vec<(f64, f64)> {
    history
        .iter()
        .map(|r| (r.step as f64, r.get(name)))
        .collect()
}

/// A case's training, as its configuration: how the configuration is checked
/// and how a run is fitted from whatever checkpoint its folder holds. Starting
/// and resuming are written once, here.
pub trait Training: Serialize + serde::de::DeserializeOwned {
    type Outcome;

    /// Checks the configuration before anything is loaded or written.
    fn validate(&self) -> Result<()>;

    /// Fits the run in `run`, continuing from its checkpoint if it has one.
    fn fit(&self, run: RunDir, observer: &dyn crate::observe::Observer) -> Result<Self::Outcome>;

    /// Starts a new run in `run` (see [`RunDir::start`]).
    fn train(&self, run: RunDir, observer: &dyn crate::observe::Observer) -> Result<Self::Outcome> {
        run.start(self, |run| {
            self.validate()?;
            self.fit(run, observer)
        })
    }

    /// Continues the run in `run` with the configuration it was started with.
    fn resume(run: RunDir, observer: &dyn crate::observe::Observer) -> Result<Self::Outcome> {
        let config: Self = run.read_config()?;
        config.fit(run, observer)
    }
}

const CHECKPOINT: &str = "checkpoint";

/// `--run NAME` names a folder that already holds a run. (Commands that
/// continue runs say how; this one cannot know whether the command can.)
#[derive(Debug, thiserror::Error)]
#[error("run folder {} already holds a run; pass --run NEW_NAME, or delete the folder", .0.display())]
pub struct HoldsRun(pub PathBuf);

/// The file a run's writer holds an exclusive lock on.
const LOCK: &str = ".lock";

/// A run folder on disk, held by this process alone: creating or opening one
/// takes an exclusive lock on its `.lock` file, released when the last clone
/// of the `RunDir` is dropped (or the process dies), so two trainings never
/// write one folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
    _lock: std::sync::Arc<std::fs::File>,
}

/// Takes the writer's lock on the run folder `path` (which exists); `None`
/// when another process holds it.
fn lock(path: &Path) -> std::io::Result<Option<std::sync::Arc<std::fs::File>>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.join(LOCK))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(std::sync::Arc::new(file))),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Whether the lock taken is still the one in `path` (not in a folder
/// that a discarded run moved aside between the open and the lock).
fn still_in(path: &Path, lock: &std::fs::File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (lock.metadata(), std::fs::metadata(path.join(LOCK))) {
            (Ok(held), Ok(there)) => held.dev() == there.dev() && held.ino() == there.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, lock);
        true
    }
}

fn in_use(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "run folder {} is in use by another casebook process; wait for it to end or pass \
         --run NEW_NAME",
        path.display()
    )
}

/// What [`RunDir::claim`] found.
enum Claim {
    New(RunDir),
    HoldsRun,
    InUse,
}

impl RunDir {
    /// Creates `root/<name>` for a new run. A name already holding a run is an
    /// error (the user may mean `--resume`), and so is one another process is
    /// writing. Without a name, one is made from `prefix` and the time.
    pub fn create(root: &Path, name: Option<&str>, prefix: &str) -> Result<Self> {
        if let Some(name) = name {
            let path = root.join(name);
            return match Self::claim(&path)? {
                Claim::New(run) => Ok(run),
                Claim::InUse => Err(in_use(&path)),
                Claim::HoldsRun => Err(HoldsRun(path).into()),
            };
        }
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // Two runs started within one second get -2, -3, … after the first.
        let first = format!("{prefix}-{secs}");
        let mut n = 1;
        loop {
            let name = match n {
                1 => first.clone(),
                _ => format!("{first}-{n}"),
            };
            if let Claim::New(run) = Self::claim(&root.join(name))? {
                return Ok(run);
            }
            n += 1;
        }
    }

    /// Makes the folder `path` and locks it; a new run only if it holds none.
    fn claim(path: &Path) -> Result<Claim> {
        // Locked before the check, so of two runs started together one sees the other.
        let lock = loop {
            std::fs::create_dir_all(path)
                .with_context(|| format!("cannot create run folder {}", path.display()))?;
            match lock(path) {
                Ok(Some(lock)) if still_in(path, &lock) => break lock,
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(Claim::InUse),
                // A run of this name was discarded (moved aside) meanwhile: start again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot lock run folder {}", path.display()))
                }
            }
        };
        if path.join("config.json").exists() {
            return Ok(Claim::HoldsRun);
        }
        let run = Self {
            path: path.to_path_buf(),
            _lock: lock,
        };
        run.remove_stale_files();
        Ok(Claim::New(run))
    }

    /// Removes what a killed writer left half-made: temporary files of atomic
    /// writes (`.NAME.PID.tmp`) and a checkpoint being staged. Only safe
    /// under the lock: no other process can be writing them.
    fn remove_stale_files(&self) {
        let _ = std::fs::remove_dir_all(self.checkpoint_dir().with_extension("new"));
        let Ok(entries) = std::fs::read_dir(&self.path) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Opens an existing run folder (for `--resume`).
    pub fn open(path: &Path) -> Result<Self> {
        if !path.join("config.json").exists() {
            bail!("{} is not a casebook run folder (no config.json); pass the folder a training run printed", path.display());
        }
        let held =
            lock(path).with_context(|| format!("cannot lock run folder {}", path.display()))?;
        let run = Self {
            path: path.to_path_buf(),
            _lock: held.ok_or_else(|| in_use(path))?,
        };
        run.remove_stale_files();
        Ok(run)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.json")
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }
    pub fn report_path(&self) -> PathBuf {
        self.path.join("report.html")
    }
    pub fn model_path(&self) -> PathBuf {
        self.path.join("model.casebook")
    }
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.path.join(CHECKPOINT)
    }

    /// Whether the run has a checkpoint to resume from.
    pub fn has_checkpoint(&self) -> bool {
        crate::checkpoint::exists(&self.checkpoint_dir())
    }

    /// Does `work` as this run: writes `config`, runs `work`, and removes the
    /// folder when `work` fails (or is stopped) before writing a checkpoint, so
    /// a mistake never leaves a half-made run behind to trip a later `--run NAME`.
    pub fn start<C: Serialize, T>(
        self,
        config: &C,
        work: impl FnOnce(RunDir) -> Result<T>,
    ) -> Result<T> {
        // Held until the folder is gone: see `discard`.
        let held = self.clone();
        let result = self.write_config(config).and_then(|()| work(self));
        if result.is_err() && !held.has_checkpoint() {
            held.discard();
        }
        result
    }

    /// Removes the run folder. It is first renamed aside while the lock is
    /// still held, so a run that meanwhile claims the same name (another
    /// thread, within the same second) gets a folder of its own rather
    /// than one being removed under it.
    pub fn discard(self) {
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        let aside = self
            .path
            .with_file_name(format!(".{name}.{}.discarded", std::process::id()));
        let gone = match std::fs::rename(&self.path, &aside) {
            Ok(()) => aside,
            Err(_) => self.path.clone(),
        };
        drop(self);
        let _ = std::fs::remove_dir_all(gone);
    }

    pub fn write_config<T: Serialize>(&self, config: &T) -> Result<()> {
        crate::fsx::write_json(&self.config_path(), config)
    }

    pub fn read_config<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        crate::fsx::read_json(&self.config_path())
    }

    /// Rewrites `metrics.jsonl` from the full history (atomic, so a kill
    /// mid-write never leaves a torn line).
    pub fn write_metrics(&self, history: &[MetricsRecord]) -> Result<()> {
        let mut text = String::new();
        for record in history {
            text.push_str(&serde_json::to_string(record)?);
            text.push('\n');
        }
        crate::fsx::write_atomic(&self.metrics_path(), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_folder_refuses_to_overwrite_a_run() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), Some("r1"), "image").unwrap();
        run.write_config(&serde_json::json!({"epochs": 2})).unwrap();
        drop(run);
        let run = RunDir::open(&root.path().join("r1")).unwrap();
        drop(run.clone());
        let path = run.path().to_path_buf();
        drop(run);
        let err = RunDir::create(root.path(), Some("r1"), "image").unwrap_err();
        assert!(err.to_string().contains("already holds a run"), "{err}");
        assert!(err.downcast_ref::<HoldsRun>().is_some(), "{err}");
        assert!(RunDir::open(&path).is_ok());
        assert!(RunDir::open(root.path()).is_err());
        // Unnamed runs started within the same second get distinct folders.
        let first = RunDir::create(root.path(), None, "style").unwrap();
        first.write_config(&serde_json::json!({})).unwrap();
        let second = RunDir::create(root.path(), None, "style").unwrap();
        assert_ne!(first.path(), second.path());
    }

    #[test]
    fn one_writer_per_run_folder() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), Some("r"), "image").unwrap();
        // A second writer while the first is alive, before or after it wrote its config.
        let err = RunDir::create(root.path(), Some("r"), "image").unwrap_err();
        assert!(err.to_string().contains("in use by another"), "{err}");
        run.write_config(&serde_json::json!({})).unwrap();
        let err = RunDir::open(run.path()).unwrap_err();
        assert!(err.to_string().contains("in use by another"), "{err}");
        // Unnamed runs skip a folder being written.
        let unnamed = RunDir::create(root.path(), None, "x").unwrap();
        let other = RunDir::create(root.path(), None, "x").unwrap();
        assert_ne!(unnamed.path(), other.path());
        // A clone keeps the lock; dropping every handle releases it.
        let path = run.path().to_path_buf();
        let clone = run.clone();
        drop(run);
        assert!(RunDir::open(&path).is_err());
        drop(clone);
        assert!(RunDir::open(&path).is_ok());
    }

    #[test]
    fn opening_a_run_removes_what_a_killed_writer_left() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), Some("r"), "image").unwrap();
        run.write_config(&serde_json::json!({})).unwrap();
        let path = run.path().to_path_buf();
        drop(run);
        let temp = path.join(".model.casebook.4242.tmp");
        std::fs::write(&temp, "half").unwrap();
        std::fs::create_dir_all(path.join("checkpoint.new")).unwrap();
        std::fs::write(path.join("checkpoint.new/state.json"), "{").unwrap();
        std::fs::write(path.join(".keep"), "").unwrap();
        let run = RunDir::open(&path).unwrap();
        assert!(!temp.exists() && !path.join("checkpoint.new").exists());
        assert!(run.config_path().exists() && path.join(".keep").exists());
    }

    #[test]
    fn metrics_are_one_json_line_per_record() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), Some("r"), "image").unwrap();
        let rec = |step| {
            MetricsRecord::new(step)
                .with("train_loss", 1.0 / step as f64)
                .with("val_accuracy", 0.5)
        };
        run.write_metrics(&[rec(1), rec(2)]).unwrap();
        let text = std::fs::read_to_string(run.metrics_path()).unwrap();
        assert!(
            text.starts_with(r#"{"step":1,"train_loss":1.0,"val_accuracy":0.5}"#),
            "{text}"
        );
        let lines: Vec<MetricsRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines, vec![rec(1), rec(2)]);
        assert_eq!(series(&lines, "train_loss"), [(1.0, 1.0), (2.0, 0.5)]);
        assert!(lines[0].get("absent").is_nan());
        // Records written before the rename (epoch records) still load.
        let old: MetricsRecord =
            serde_json::from_str(r#"{"epoch":4,"train_loss":0.25,"seconds":2.0}"#).unwrap();
        assert_eq!((old.step, old.get("seconds")), (4, 2.0));
    }

    #[test]
    fn a_failed_start_leaves_no_folder_unless_it_checkpointed() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), Some("bad"), "x").unwrap();
        let path = run.path().to_path_buf();
        let err = run
            .start(&serde_json::json!({}), |_| -> Result<()> {
                bail!("bad data")
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "bad data");
        assert!(!path.exists());

        let run = RunDir::create(root.path(), Some("late"), "x").unwrap();
        let path = run.path().to_path_buf();
        let result = run.start(&serde_json::json!({}), |run| -> Result<()> {
            std::fs::create_dir_all(run.checkpoint_dir())?;
            std::fs::write(run.checkpoint_dir().join("state.json"), "{}")?;
            bail!("diverged at epoch 7")
        });
        assert!(result.is_err() && path.join("config.json").exists());
        assert!(RunDir::open(&path).unwrap().has_checkpoint());
    }

    /// Runs discarded while others start under the same names, on many
    /// threads (as the studio's refused uploads do): every run that was
    /// not discarded keeps its folder, and nothing discarded is left.
    #[test]
    fn discarding_a_run_never_removes_another_runs_folder() {
        let root = tempfile::tempdir().unwrap();
        let kept: Vec<PathBuf> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|i| {
                    let root = root.path();
                    scope.spawn(move || {
                        let mut kept = Vec::new();
                        for n in 0..40 {
                            let run = RunDir::create(root, None, "race").unwrap();
                            if (i + n) % 2 == 0 {
                                run.discard();
                            } else {
                                run.write_config(&serde_json::json!({})).unwrap();
                                kept.push(run.path().to_path_buf());
                            }
                        }
                        kept
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        assert_eq!(kept.len(), 160);
        for path in &kept {
            assert!(
                path.join("config.json").is_file(),
                "{} lost",
                path.display()
            );
        }
        let left = std::fs::read_dir(root.path()).unwrap().count();
        assert_eq!(left, kept.len(), "discarded folders were left");
    }
}
