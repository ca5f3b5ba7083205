//! Which models the studio offers and loads: `builtin` where the case ships
//! one, and the model of any run folder under `--runs-dir` whose task fits.
//! A model is named by its run folder's name only; the name is checked
//! before it is joined to the runs folder, so no path from the client ever
//! reaches the filesystem.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use casebook_core::model_file::{ModelFile, BUILTIN};
use serde::Serialize;

use crate::error::ApiError;

/// The cases whose models the studio runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Image,
    Trigger,
    Logreg,
    /// A face encoder (the detector and landmarks are always the built-in ones).
    Face,
    /// A gallery of enrolled people (a studio enrolment run's `model.casebook`).
    Gallery,
}

impl Kind {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "image" => Some(Self::Image),
            "trigger" => Some(Self::Trigger),
            "logreg" => Some(Self::Logreg),
            "face" => Some(Self::Face),
            "gallery" => Some(Self::Gallery),
            _ => None,
        }
    }

    /// The task written in this kind's model files.
    fn task(self) -> &'static str {
        match self {
            Self::Image => casebook_image::infer::TASK,
            Self::Trigger => casebook_trigger::infer::TASK,
            Self::Logreg => casebook_logreg::model::TASK,
            Self::Face => casebook_faces::model::encoder::TASK,
            Self::Gallery => casebook_faces::gallery::TASK,
        }
    }

    fn builtin(self) -> Option<&'static str> {
        match self {
            Self::Image => Some("built-in day/night model (trained on photographs)"),
            Self::Trigger => Some("built-in 'activate' model"),
            Self::Logreg | Self::Gallery => None,
            Self::Face => Some("built-in encoder (dlib's ResNet)"),
        }
    }
}

/// A run folder name as the client may give it: letters, digits, `-`, `_`
/// and `.`, not starting with a dot (so never `..` or a hidden file).
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// One model on offer.
#[derive(Debug, Clone, Serialize)]
pub struct Offer {
    /// What the client sends back: `builtin` or a run folder's name.
    pub name: String,
    /// What a person reads.
    pub label: String,
}

/// The model file to load for `name`: the built-in marker, or
/// `runs_dir/NAME/model.casebook` when that exists.
pub fn resolve(runs_dir: &Path, kind: Kind, name: &str) -> Result<PathBuf, ApiError> {
    if name == BUILTIN {
        return match kind.builtin() {
            Some(_) => Ok(PathBuf::from(BUILTIN)),
            None => Err(ApiError::not_found(
                "there is no built-in one: make one (train a model, enrol people) and pick its run",
            )),
        };
    }
    if !is_plain_name(name) {
        return Err(ApiError::bad_request(format!(
            "model must be `builtin` or a run folder's name, not {name:?}"
        )));
    }
    let path = runs_dir.join(name).join("model.casebook");
    if !path.is_file() {
        return Err(ApiError::not_found(format!(
            "no model in run {name} under {}: pick one from the list",
            runs_dir.display()
        )));
    }
    Ok(path)
}

/// Values remembered per file, with the file's modification time when they were made.
type ByFile<V> = Mutex<HashMap<PathBuf, (Option<SystemTime>, V)>>;

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Loaded models, reloaded when their file changes (a run retrained under
/// the same name). Few entries: a local studio uses a handful of models.
pub struct Cache<T> {
    entries: ByFile<Arc<Mutex<T>>>,
}

const CACHED_MODELS: usize = 8;

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Cache<T> {
    pub fn get(
        &self,
        path: &Path,
        load: impl FnOnce(&Path) -> anyhow::Result<T>,
    ) -> Result<Arc<Mutex<T>>, ApiError> {
        let stamp = modified(path);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((when, model)) = entries.get(path) {
            if *when == stamp {
                return Ok(model.clone());
            }
        }
        let model = Arc::new(Mutex::new(
            load(path).map_err(|e| ApiError::unprocessable(format!("{e:#}")))?,
        ));
        if entries.len() >= CACHED_MODELS {
            entries.clear();
        }
        entries.insert(path.to_path_buf(), (stamp, model.clone()));
        Ok(model)
    }
}

/// The models of `kind` on offer: the built-in one first, then run folders
/// (newest first) whose model file is of this kind. Tasks are read from the
/// file headers and remembered by modification time.
#[derive(Default)]
pub struct Catalogue {
    tasks: ByFile<Option<String>>,
}

impl Catalogue {
    pub fn offers(&self, runs_dir: &Path, kind: Kind) -> Vec<Offer> {
        let mut offers: Vec<Offer> = kind
            .builtin()
            .map(|label| Offer {
                name: BUILTIN.into(),
                label: label.into(),
            })
            .into_iter()
            .collect();
        let mut runs: Vec<(Option<SystemTime>, String)> = std::fs::read_dir(runs_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_str()?.to_string();
                let model = entry.path().join("model.casebook");
                (is_plain_name(&name) && self.task_of(&model).as_deref() == Some(kind.task()))
                    .then(|| (modified(&model), name))
            })
            .collect();
        runs.sort_by(|a, b| b.cmp(a));
        offers.extend(runs.into_iter().map(|(_, name)| Offer {
            label: format!("run {name}"),
            name,
        }));
        offers
    }

    fn task_of(&self, model: &Path) -> Option<String> {
        let stamp = modified(model)?;
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((when, task)) = tasks.get(model) {
            if *when == Some(stamp) {
                return task.clone();
            }
        }
        let task = ModelFile::load(model).ok().map(|f| f.meta.task);
        tasks.insert(model.to_path_buf(), (Some(stamp), task.clone()));
        task
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_reach_the_filesystem() {
        for good in ["first", "image-train-1764858000", "a.b_c-1"] {
            assert!(is_plain_name(good), "{good}");
        }
        for bad in [
            "", "..", "../etc", "a/b", "a\\b", ".hidden", "x\0y", "é", "/abs",
        ] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
        let dir = std::path::Path::new("/nonexistent-runs");
        assert_eq!(
            resolve(dir, Kind::Image, "../../etc/passwd")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            resolve(dir, Kind::Image, "missing").unwrap_err().status,
            404
        );
        assert_eq!(
            resolve(dir, Kind::Logreg, "builtin").unwrap_err().status,
            404
        );
        assert_eq!(
            resolve(dir, Kind::Trigger, "builtin").unwrap(),
            PathBuf::from(BUILTIN)
        );
    }
}
