//! The casebook model file: ONE self-describing file holding the metadata
//! needed to use a model (task, class names, input size, normalisation,
//! architecture, training config and scores, casebook version) and named
//! binary sections: the network's `weights` (burn's burnpack bytes) and
//! whatever else a case needs beside them (a face gallery, say).
//!
//! Layout of format 2 (all integers little-endian):
//!
//! ```text
//! "CASEBOOK"            8 bytes magic
//! format version        u32 (2)
//! header length         u64, then the header: UTF-8 JSON (ModelMeta)
//! section count         u32, then per section:
//!   name length         u16, then the name (UTF-8)
//!   data length         u64, then the data
//! checksum              u32, CRC-32 of everything before it
//! ```
//!
//! Format 1 (read, no longer written) had one unnamed weights blob where
//! format 2 has its sections; it loads as a file with one `weights` section.
//! The header is plain JSON so `head -c 4096 model.casebook` shows what a file is.
//!
//! [`SavedModel`] is how a case's model type uses the file: it says how its
//! parts map to the header and sections and checks that they agree with each
//! other; saving, loading and the task check are written once, here.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fsx::write_atomic;

const MAGIC: &[u8; 8] = b"CASEBOOK";
/// The newest model-file format this build reads and the one it writes.
pub const FORMAT_VERSION: u32 = 2;

/// The section holding a model's network weights.
pub const WEIGHTS: &str = "weights";

/// Everything that describes a model apart from its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Which case the model belongs to, e.g. `image-classifier`.
    pub task: String,
    /// casebook version that wrote the file.
    pub casebook_version: String,
    /// Class names in output order (empty where a task has no classes).
    pub classes: Vec<String>,
    /// How inputs are prepared (size, normalisation, ...), task specific.
    pub preprocessing: serde_json::Value,
    /// Architecture hyper-parameters needed to rebuild the network.
    pub architecture: serde_json::Value,
    /// The training configuration and final metrics, for the record.
    pub training: serde_json::Value,
}

/// The name that stands for a command's committed model wherever a model
/// file is expected (where the command has one).
pub const BUILTIN: &str = "builtin";

/// Why a model file could not be used. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    // `reason`, not `source`: the message already says it, and a source
    // would be printed a second time in the error's chain.
    #[error("cannot read model file {path}: {reason}")]
    Io {
        path: String,
        reason: std::io::Error,
    },
    #[error(
        "this command has no built-in model; give a model file (a run folder's model.casebook)"
    )]
    NoBuiltin,
    #[error("{path} is not a casebook model file (it does not start with the casebook signature)")]
    NotCasebook { path: String },
    #[error(
        "{path} uses model-file format {found}, newer than this casebook reads ({supported}); upgrade casebook"
    )]
    NewerFormat {
        path: String,
        found: u32,
        supported: u32,
    },
    #[error("{path} is truncated or damaged ({detail}); re-copy or retrain the model")]
    Truncated { path: String, detail: String },
    #[error("{path} is a '{found}' model, but this command needs a '{expected}' model")]
    WrongTask {
        path: String,
        found: String,
        expected: String,
    },
}

/// Whether the file at `path` starts as a casebook model file does (for
/// options that take either a model file or another format).
pub fn is_model_file(path: &Path) -> bool {
    let mut start = [0u8; MAGIC.len()];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut start))
        .is_ok_and(|()| &start == MAGIC)
}

/// A model file in memory: metadata plus named binary sections.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    pub meta: ModelMeta,
    pub sections: BTreeMap<String, Vec<u8>>,
}

impl ModelFile {
    /// A file for `task` written by this casebook, with no sections yet.
    pub fn new(
        task: &str,
        classes: Vec<String>,
        preprocessing: &impl Serialize,
        architecture: &impl Serialize,
        training: serde_json::Value,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            meta: ModelMeta {
                task: task.to_string(),
                casebook_version: crate::VERSION.to_string(),
                classes,
                preprocessing: serde_json::to_value(preprocessing)?,
                architecture: serde_json::to_value(architecture)?,
                training,
            },
            sections: BTreeMap::new(),
        })
    }

    /// Adds (or replaces) the section `name`.
    pub fn with_section(mut self, name: &str, data: Vec<u8>) -> Self {
        self.sections.insert(name.to_string(), data);
        self
    }

    /// The section `name` of the file read from `path`.
    pub fn section(&self, name: &str, path: &Path) -> anyhow::Result<&[u8]> {
        self.sections.get(name).map(Vec::as_slice).ok_or_else(|| {
            anyhow::anyhow!(
                "{} has no '{name}' section; retrain the model",
                path.display()
            )
        })
    }

    /// Encodes the file into bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec_pretty(&self.meta).expect("metadata is always JSON");
        let data: usize = self
            .sections
            .iter()
            .map(|(n, d)| 10 + n.len() + d.len())
            .sum();
        let mut out = Vec::with_capacity(32 + header.len() + data);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&(self.sections.len() as u32).to_le_bytes());
        for (name, data) in &self.sections {
            let name_len = u16::try_from(name.len()).expect("section names are short");
            out.extend_from_slice(&name_len.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(data.len() as u64).to_le_bytes());
            out.extend_from_slice(data);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes bytes read from `path` (the path only names the file in errors).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, ModelFileError> {
        let name = path.display().to_string();
        let truncated = |detail: &str| ModelFileError::Truncated {
            path: name.clone(),
            detail: detail.to_string(),
        };
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(ModelFileError::NotCasebook { path: name });
        }
        let mut cursor = Cursor {
            bytes,
            pos: MAGIC.len(),
        };
        let version = cursor.u32().ok_or_else(|| truncated("no format version"))?;
        if version > FORMAT_VERSION {
            return Err(ModelFileError::NewerFormat {
                path: name,
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let header_len = cursor.u64().ok_or_else(|| truncated("no header length"))?;
        let header = cursor
            .take(header_len)
            .ok_or_else(|| truncated("header cut short"))?;
        let mut sections = BTreeMap::new();
        if version == 1 {
            let weights_len = cursor.u64().ok_or_else(|| truncated("no weights length"))?;
            let weights = cursor
                .take(weights_len)
                .ok_or_else(|| truncated("weights cut short"))?;
            sections.insert(WEIGHTS.to_string(), weights.to_vec());
        } else {
            let count = cursor.u32().ok_or_else(|| truncated("no section count"))?;
            for _ in 0..count {
                let name_len = cursor.u16().ok_or_else(|| truncated("no section name"))?;
                let name = cursor
                    .take(name_len as u64)
                    .and_then(|n| std::str::from_utf8(n).ok())
                    .ok_or_else(|| truncated("section name cut short or not UTF-8"))?;
                let data_len = cursor.u64().ok_or_else(|| truncated("no section length"))?;
                let data = cursor
                    .take(data_len)
                    .ok_or_else(|| truncated(&format!("section '{name}' cut short")))?;
                if sections.insert(name.to_string(), data.to_vec()).is_some() {
                    return Err(truncated(&format!("section '{name}' appears twice")));
                }
            }
        }
        let body_end = cursor.pos;
        let stored_crc = cursor.u32().ok_or_else(|| truncated("no checksum"))?;
        if cursor.pos != bytes.len() {
            return Err(truncated("unexpected bytes after the checksum"));
        }
        if crc32fast::hash(&bytes[..body_end]) != stored_crc {
            return Err(truncated("checksum mismatch"));
        }
        let meta: ModelMeta = serde_json::from_slice(header)
            .map_err(|e| truncated(&format!("header is not valid metadata: {e}")))?;
        Ok(Self { meta, sections })
    }

    /// Writes the file atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        write_atomic(path, &self.to_bytes())
    }

    /// Reads and checks a model file.
    pub fn load(path: &Path) -> Result<Self, ModelFileError> {
        let bytes = std::fs::read(path).map_err(|reason| {
            // Commands with a built-in model take BUILTIN before loading.
            if reason.kind() == std::io::ErrorKind::NotFound && path == Path::new(BUILTIN) {
                ModelFileError::NoBuiltin
            } else {
                ModelFileError::Io {
                    path: path.display().to_string(),
                    reason,
                }
            }
        })?;
        Self::from_bytes(&bytes, path)
    }

    /// The architecture section as the case's own type.
    pub fn architecture<T: serde::de::DeserializeOwned>(&self, path: &Path) -> anyhow::Result<T> {
        parse_section(&self.meta.architecture, path, "architecture")
    }

    /// The preprocessing section as the case's own type.
    pub fn preprocessing<T: serde::de::DeserializeOwned>(&self, path: &Path) -> anyhow::Result<T> {
        parse_section(&self.meta.preprocessing, path, "preprocessing")
    }

    /// Reads a model file and checks that it was made for `task`.
    pub fn load_for_task(path: &Path, task: &str) -> Result<Self, ModelFileError> {
        let file = Self::load(path)?;
        file.check_task(path, task)?;
        Ok(file)
    }

    /// An error unless the file was made for `task`.
    pub fn check_task(&self, path: &Path, task: &str) -> Result<(), ModelFileError> {
        if self.meta.task != task {
            return Err(ModelFileError::WrongTask {
                path: path.display().to_string(),
                found: self.meta.task.clone(),
                expected: task.to_string(),
            });
        }
        Ok(())
    }
}

/// A model kept in a casebook model file.
///
/// Model files are untrusted input: `from_file` must check that the sections
/// agree with each other (sizes the header names against the weights, the
/// preprocessing against the architecture) before anything uses them.
pub trait SavedModel: Sized {
    /// The task written into, and required of, the model's files.
    const TASK: &'static str;

    /// The file for this model; `training` is the run's record (config, scores).
    fn to_file(&self, training: serde_json::Value) -> anyhow::Result<ModelFile>;

    /// The model from a file of its task (`path` names it in errors).
    fn from_file(file: &ModelFile, path: &Path) -> anyhow::Result<Self>;

    /// Writes the model file atomically, after reading it back from its
    /// bytes: a model that would not load is never written.
    fn save(&self, path: &Path, training: serde_json::Value) -> anyhow::Result<()> {
        let bytes = self.to_file(training)?.to_bytes();
        Self::from_bytes(&bytes, path).map_err(|e| {
            anyhow::anyhow!(
                "did not write {}: the model would not load back ({e:#})",
                path.display()
            )
        })?;
        write_atomic(path, &bytes)
    }

    /// Reads and checks a model file.
    fn load(path: &Path) -> anyhow::Result<Self> {
        Self::from_file(&ModelFile::load_for_task(path, Self::TASK)?, path)
    }

    /// The model file `path`, or the model compiled into the binary as
    /// `builtin` where `path` is [`BUILTIN`].
    fn load_or_builtin(path: &Path, builtin: &[u8]) -> anyhow::Result<Self> {
        if path == Path::new(BUILTIN) {
            Self::from_bytes(builtin, Path::new("the built-in model"))
        } else {
            Self::load(path)
        }
    }

    /// Reads and checks a model file's bytes (a model compiled into the binary).
    fn from_bytes(bytes: &[u8], name: &Path) -> anyhow::Result<Self> {
        let file = ModelFile::from_bytes(bytes, name)?;
        file.check_task(name, Self::TASK)?;
        Self::from_file(&file, name)
    }
}

/// The header sections that header edits reach: what a case reads to build
/// and run its model. `training` is in: the face encoder reads its
/// verification threshold there.
const EDITED_SECTIONS: [&str; 3] = ["preprocessing", "architecture", "training"];

fn section<'a>(meta: &'a ModelMeta, name: &str) -> &'a serde_json::Value {
    match name {
        "preprocessing" => &meta.preprocessing,
        "architecture" => &meta.architecture,
        _ => &meta.training,
    }
}

fn section_mut<'a>(meta: &'a mut ModelMeta, name: &str) -> &'a mut serde_json::Value {
    match name {
        "preprocessing" => &mut meta.preprocessing,
        "architecture" => &mut meta.architecture,
        _ => &mut meta.training,
    }
}

/// Every value [`header_edit`] can replace, as (section, JSON pointer).
fn header_slots(file: &ModelFile) -> Vec<(&'static str, String)> {
    EDITED_SECTIONS
        .into_iter()
        .flat_map(|name| {
            leaf_pointers(section(&file.meta, name), String::new())
                .into_iter()
                .map(move |pointer| (name, pointer))
        })
        .collect()
}

fn with_value(
    file: &ModelFile,
    (name, pointer): &(&str, String),
    value: serde_json::Value,
) -> (String, ModelFile) {
    let mut edited = file.clone();
    let what = format!("{name}{pointer} = {value}");
    if let Some(slot) = section_mut(&mut edited.meta, name).pointer_mut(pointer) {
        *slot = value;
    }
    (what, edited)
}

/// Copies of `file` with one value of its header's `preprocessing`,
/// `architecture` or `training` (at any depth) replaced by a hostile one:
/// zero, negative, huge, fractional, a string, an empty list. Each is named
/// by its JSON path. For robustness tests: a case must load each with a clear
/// error, or as a working model, and never panic or allocate without bound,
/// since a model file is untrusted input. [`header_edit`] draws further ones.
pub fn header_edits(file: &ModelFile) -> Vec<(String, ModelFile)> {
    let hostile = [
        serde_json::json!(0),
        serde_json::json!(-1),
        serde_json::json!(1e12),
        serde_json::json!(0.5),
        serde_json::json!(1e308),
        serde_json::json!("x"),
        serde_json::json!([]),
    ];
    header_slots(file)
        .iter()
        .flat_map(|slot| {
            hostile
                .iter()
                .map(|value| with_value(file, slot, value.clone()))
        })
        .collect()
}

/// One edit of `file`'s header drawn from `seed` (for property tests, which
/// shrink the seed): a value of `preprocessing`, `architecture` or
/// `training` (picked by the seed among all of them, lists included) or the
/// class list, replaced by a value near the old one (±1, doubled, halved,
/// negated), an integer or float at the edge of a type's range, a string,
/// null, or a list or object of such values; or the whole section emptied.
pub fn header_edit(file: &ModelFile, seed: u64) -> (String, ModelFile) {
    let mut draws = SplitMix(seed);
    let slots = header_slots(file);
    let pick = draws.below(slots.len() as u64 + 2) as usize;
    if pick == slots.len() {
        let mut edited = file.clone();
        let count = draws.below(4) as usize;
        edited.meta.classes = (0..count).map(|i| format!("class{i}")).collect();
        return (format!("classes = {:?}", edited.meta.classes), edited);
    }
    if pick == slots.len() + 1 {
        let section = EDITED_SECTIONS[draws.below(3) as usize];
        let empty = if draws.below(2) == 0 {
            serde_json::json!({})
        } else {
            serde_json::Value::Null
        };
        return with_value(file, &(section, String::new()), empty);
    }
    let slot = &slots[pick];
    let old = section(&file.meta, slot.0)
        .pointer(&slot.1)
        .cloned()
        .unwrap_or_default();
    with_value(file, slot, hostile_value(&mut draws, &old, 2))
}

/// A value to put where `old` was; `depth` bounds nested lists and objects.
fn hostile_value(draws: &mut SplitMix, old: &serde_json::Value, depth: u32) -> serde_json::Value {
    use serde_json::json;
    const INTEGERS: [i64; 12] = [
        0,
        1,
        -1,
        2,
        3,
        255,
        65_536,
        i32::MAX as i64,
        1 << 32,
        1 << 53,
        i64::MAX,
        i64::MIN,
    ];
    const FLOATS: [f64; 9] = [
        0.5,
        -0.5,
        1e-300,
        5e-324,
        0.999_999,
        1.000_001,
        1e12,
        1e300,
        -f64::MAX,
    ];
    let near = |x: f64, draws: &mut SplitMix| match draws.below(5) {
        0 => x + 1.0,
        1 => x - 1.0,
        2 => x * 2.0,
        3 => x / 2.0,
        _ => -x,
    };
    match draws.below(if depth == 0 { 7 } else { 9 }) {
        0 | 1 => match old.as_f64() {
            Some(x) => {
                let x = near(x, draws);
                if x.fract() == 0.0 && x.abs() < 9e15 {
                    json!(x as i64)
                } else {
                    json!(x)
                }
            }
            None => json!(INTEGERS[draws.below(12) as usize]),
        },
        2 => json!(INTEGERS[draws.below(12) as usize]),
        3 => json!(FLOATS[draws.below(9) as usize]),
        4 => json!(u64::MAX - draws.below(2)),
        5 => json!(["", "x", "NaN", "-1", "1e400", "\u{0}"][draws.below(6) as usize]),
        6 => [json!(null), json!(true), json!(false)][draws.below(3) as usize].clone(),
        7 => {
            let len = draws.below(4);
            let first = old
                .as_array()
                .and_then(|a| a.first())
                .cloned()
                .unwrap_or_default();
            json!((0..len)
                .map(|_| hostile_value(draws, &first, depth - 1))
                .collect::<Vec<_>>())
        }
        _ => {
            let len = draws.below(3);
            let map: serde_json::Map<String, serde_json::Value> = (0..len)
                .map(|i| {
                    (
                        format!("k{i}"),
                        hostile_value(draws, &json!(null), depth - 1),
                    )
                })
                .collect();
            json!(map)
        }
    }
}

/// SplitMix64: a small, seedable source of numbers for [`header_edit`].
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// JSON pointers to the leaves of `value` (and to each list, and its first
/// element: lists of statistics are long and alike).
fn leaf_pointers(value: &serde_json::Value, at: String) -> Vec<String> {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .flat_map(|(key, v)| leaf_pointers(v, format!("{at}/{key}")))
            .collect(),
        serde_json::Value::Array(items) => std::iter::once(at.clone())
            .chain(
                items
                    .first()
                    .map(|first| leaf_pointers(first, format!("{at}/0")))
                    .unwrap_or_default(),
            )
            .collect(),
        _ => vec![at],
    }
}

fn parse_section<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    path: &Path,
    name: &str,
) -> anyhow::Result<T> {
    T::deserialize(value).map_err(|e| {
        anyhow::anyhow!(
            "{} has a damaged {name} section ({e}); retrain the model",
            path.display()
        )
    })
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: u64) -> Option<&'a [u8]> {
        let len = usize::try_from(len).ok()?;
        let end = self.pos.checked_add(len)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> ModelFile {
        ModelFile {
            meta: ModelMeta {
                task: "image-classifier".into(),
                casebook_version: crate::VERSION.into(),
                classes: vec!["day".into(), "night".into()],
                preprocessing: json!({"resolution": 32}),
                architecture: json!({"widths": [8, 16]}),
                training: json!({"epochs": 3}),
            },
            sections: [
                (WEIGHTS.to_string(), (0..=255u8).collect()),
                ("gallery".to_string(), vec![7; 10]),
            ]
            .into_iter()
            .collect(),
        }
    }

    /// Drawn edits are the same for the same seed, reach every value of
    /// the three sections and the class list, and keep what they do not
    /// edit.
    #[test]
    fn drawn_header_edits_reach_every_value_and_repeat_by_seed() {
        let file = sample();
        let mut reached = std::collections::BTreeSet::new();
        for seed in 0..400 {
            let (what, edited) = header_edit(&file, seed);
            assert_eq!(header_edit(&file, seed), (what.clone(), edited.clone()));
            assert_eq!(edited.sections, file.sections);
            let slot = what.split(" = ").next().unwrap().to_string();
            reached.insert(slot);
        }
        for slot in [
            "preprocessing/resolution",
            "architecture/widths",
            "architecture/widths/0",
            "training/epochs",
            "classes",
            "training",
        ] {
            assert!(reached.contains(slot), "{slot} never edited: {reached:?}");
        }
        assert_eq!(header_edits(&file).len(), 4 * 7);
    }

    #[test]
    fn round_trip_through_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.casebook");
        sample().save(&path).unwrap();
        assert_eq!(ModelFile::load(&path).unwrap(), sample());
        assert_eq!(
            ModelFile::load_for_task(&path, "image-classifier").unwrap(),
            sample()
        );
    }

    #[test]
    fn every_corruption_is_explained() {
        let p = Path::new("m.casebook");
        let good = sample().to_bytes();

        let err = ModelFile::from_bytes(b"PNG\x89 not a model", p).unwrap_err();
        assert!(matches!(err, ModelFileError::NotCasebook { .. }), "{err}");

        let mut newer = good.clone();
        newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let err = ModelFile::from_bytes(&newer, p).unwrap_err();
        assert!(
            matches!(err, ModelFileError::NewerFormat { found, .. } if found == FORMAT_VERSION + 1)
        );

        for cut in [10, 20, good.len() / 2, good.len() - 1] {
            let err = ModelFile::from_bytes(&good[..cut], p).unwrap_err();
            assert!(
                matches!(err, ModelFileError::Truncated { .. }),
                "cut at {cut}: {err}"
            );
        }

        let mut flipped = good.clone();
        let last_weight = good.len() - 5;
        flipped[last_weight] ^= 0xFF;
        let err = ModelFile::from_bytes(&flipped, p).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn format_1_files_load_with_their_weights_as_a_section() {
        let p = Path::new("old.casebook");
        let header = serde_json::to_vec(&sample().meta).unwrap();
        let mut old = b"CASEBOOK".to_vec();
        old.extend_from_slice(&1u32.to_le_bytes());
        old.extend_from_slice(&(header.len() as u64).to_le_bytes());
        old.extend_from_slice(&header);
        old.extend_from_slice(&3u64.to_le_bytes());
        old.extend_from_slice(&[1, 2, 3]);
        old.extend_from_slice(&crc32fast::hash(&old).to_le_bytes());
        let file = ModelFile::from_bytes(&old, p).unwrap();
        assert_eq!(file.section(WEIGHTS, p).unwrap(), [1, 2, 3]);
        let err = file.section("gallery", p).unwrap_err().to_string();
        assert!(err.contains("no 'gallery' section"), "{err}");
    }

    #[test]
    fn sections_parse_into_case_types_or_name_the_damage() {
        #[derive(Deserialize)]
        struct Pre {
            resolution: u32,
        }
        let p = Path::new("m.casebook");
        let file = sample();
        assert_eq!(file.preprocessing::<Pre>(p).unwrap().resolution, 32);
        let err = file
            .architecture::<Pre>(p)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("m.casebook") && err.contains("damaged architecture section"),
            "{err}"
        );
    }

    #[test]
    fn wrong_task_names_both_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.casebook");
        sample().save(&path).unwrap();
        let err = ModelFile::load_for_task(&path, "trigger-word").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("image-classifier") && text.contains("trigger-word"),
            "{text}"
        );
    }
}
