//! The run folder: `runs/<name>/` holds `config.json`, `metrics.jsonl` (one
//! line per epoch), `report.html`, the best model and the training checkpoint.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// One epoch of training, as written to `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub learning_rate: f64,
    pub seconds: f64,
}

/// A run folder on disk.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates `root/<name>` for a new run. A name already holding a run is an
    /// error (the user may mean `--resume`). Without a name, one is made from
    /// `prefix` and the time.
    pub fn create(root: &Path, name: Option<&str>, prefix: &str) -> Result<Self> {
        let name = match name {
            Some(n) => n.to_string(),
            None => {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                format!("{prefix}-{secs}")
            }
        };
        let path = root.join(&name);
        if path.join("config.json").exists() {
            bail!(
                "run folder {} already holds a run; pass --resume {} to continue it or --run NEW_NAME",
                path.display(),
                path.display()
            );
        }
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create run folder {}", path.display()))?;
        Ok(Self { path })
    }

    /// Opens an existing run folder (for `--resume`).
    pub fn open(path: &Path) -> Result<Self> {
        if !path.join("config.json").exists() {
            bail!("{} is not a casebook run folder (no config.json); pass the folder a training run printed", path.display());
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
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
        self.path.join("checkpoint")
    }

    pub fn write_config<T: Serialize>(&self, config: &T) -> Result<()> {
        crate::fsx::write_json(&self.config_path(), config)
    }

    pub fn read_config<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        crate::fsx::read_json(&self.config_path())
    }

    /// Rewrites `metrics.jsonl` from the full history (atomic, so a kill
    /// mid-write never leaves a torn line).
    pub fn write_metrics(&self, history: &[EpochRecord]) -> Result<()> {
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
        let err = RunDir::create(root.path(), Some("r1"), "image").unwrap_err();
        assert!(err.to_string().contains("--resume"), "{err}");
        assert!(RunDir::open(run.path()).is_ok());
        assert!(RunDir::open(root.path()).is_err());
    }

    #[test]
    fn metrics_are_one_json_line_per_epoch() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), Some("r"), "image").unwrap();
        let rec = |epoch| EpochRecord {
            epoch,
            train_loss: 1.0,
            train_accuracy: 0.5,
            val_loss: 1.0,
            val_accuracy: 0.5,
            learning_rate: 1e-3,
            seconds: 1.0,
        };
        run.write_metrics(&[rec(1), rec(2)]).unwrap();
        let text = std::fs::read_to_string(run.metrics_path()).unwrap();
        let lines: Vec<EpochRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines, vec![rec(1), rec(2)]);
    }
}
