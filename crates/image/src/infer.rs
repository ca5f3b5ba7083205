//! Using a trained classifier: load the model file, prepare images exactly as
//! training did, and return class probabilities with the original names.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::tensor::activation::softmax;
use burn::tensor::Device;
use casebook_core::checkpoint::{module_from_bytes, module_to_bytes};
use casebook_core::encoding::LabelEncoder;
use casebook_core::fingerprint::Fingerprints;
use casebook_core::model_file::{ModelFile, SavedModel, WEIGHTS};
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::model::{Cnn, CnnConfig};
use casebook_vision::{load_size, load_square, square, to_tensor, Normalization, MAX_RESOLUTION};

/// The task name written into image-classifier model files.
pub const TASK: &str = "image-classifier";
const PREDICT_BATCH: usize = 64;

/// How inputs must be prepared for a model; stored in the model file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// Network input side in pixels.
    pub resolution: u32,
    /// Images are squared, resized to this side, then centre-cropped.
    pub load_size: u32,
    pub normalization: Normalization,
}

impl Preprocessing {
    pub fn new(resolution: u32, normalization: Normalization) -> Self {
        Self {
            resolution,
            load_size: load_size(resolution),
            normalization,
        }
    }
}

/// One file's prediction.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub path: PathBuf,
    pub label: String,
    pub probability: f32,
    /// Probability of each class, in the model's class order.
    pub probabilities: Vec<f32>,
}

/// A trained image classifier ready for inference.
#[derive(Debug)]
pub struct Classifier {
    model: Cnn,
    pub architecture: CnnConfig,
    /// Class names in output order: the label encoder stored in the model file.
    encoder: LabelEncoder,
    pub preprocessing: Preprocessing,
    device: Device,
    /// Fingerprints of the images the model was trained and validated on
    /// (empty for models that did not record them).
    pub seen: Fingerprints,
}

/// The model file section holding [`Classifier::seen`].
const SEEN: &str = "seen_images";

/// The committed day/night model (see the README in its folder), compiled
/// into the binary so an installed `casebook` needs no source tree.
static BUILTIN_MODEL: &[u8] = include_bytes!("../models/daynight.casebook");

impl Classifier {
    /// A model file, or the committed day/night model for
    /// [`casebook_core::model_file::BUILTIN`].
    pub fn open(model: &Path) -> Result<Self> {
        Self::load_or_builtin(model, BUILTIN_MODEL)
    }

    /// Wraps a model; switches it to inference mode on a plain device.
    pub fn new(
        model: &Cnn,
        architecture: CnnConfig,
        classes: Vec<String>,
        preprocessing: Preprocessing,
    ) -> Self {
        let model = burn::module::Module::valid(model);
        let device = burn::module::Module::devices(&model)
            .first()
            .cloned()
            .unwrap_or_else(casebook_core::device::compute_device);
        Self {
            model,
            architecture,
            encoder: LabelEncoder::from_classes(classes),
            preprocessing,
            device,
            seen: Fingerprints::default(),
        }
    }

    /// The model, remembering the fingerprints of the images it learnt from.
    pub fn with_seen(mut self, seen: Fingerprints) -> Self {
        self.seen = seen;
        self
    }

    /// Class names in output order.
    pub fn classes(&self) -> &[String] {
        self.encoder.classes()
    }

    /// The label encoder (class name <-> output index).
    pub fn encoder(&self) -> &LabelEncoder {
        &self.encoder
    }

    /// Class probabilities for images already squared to `load_size`.
    pub fn probabilities(&self, images: &[RgbImage]) -> Vec<Vec<f32>> {
        let k = self.encoder.len();
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(PREDICT_BATCH) {
            let refs: Vec<&RgbImage> = chunk.iter().collect();
            let x = to_tensor(
                &refs,
                self.preprocessing.resolution,
                &self.preprocessing.normalization,
                None,
                &self.device,
            );
            let probs = casebook_core::tensor::values(softmax(self.model.forward(x), 1));
            out.extend(probs.chunks(k).map(<[f32]>::to_vec));
        }
        out
    }

    /// The class and its probability for one decoded image of any size
    /// (squared as the files are): `(label, probability, probabilities)`.
    pub fn predict_image(&self, image: &RgbImage) -> (String, f32, Vec<f32>) {
        let squared = square(image, self.preprocessing.load_size);
        let p = self
            .probabilities(std::slice::from_ref(&squared))
            .pop()
            .unwrap_or_default();
        let (best, &probability) = p
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap_or((0, &0.0));
        let label = self.encoder.decode(best).unwrap_or_default().to_string();
        (label, probability, p)
    }

    /// Predicts each file; unreadable files give an error for that file only.
    pub fn predict_files(&self, paths: &[PathBuf]) -> Vec<Result<Prediction, String>> {
        let mut results: Vec<Result<Prediction, String>> = Vec::with_capacity(paths.len());
        let loaded: Vec<Result<RgbImage, String>> = paths
            .iter()
            .map(|p| load_square(p, self.preprocessing.load_size))
            .collect();
        let ok_images: Vec<RgbImage> = loaded
            .iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect();
        let mut probs = self.probabilities(&ok_images).into_iter();
        for (path, img) in paths.iter().zip(loaded) {
            results.push(match img {
                Err(reason) => Err(format!("{}: {reason}", path.display())),
                Ok(_) => {
                    let p = probs.next().unwrap_or_default();
                    let (best, &probability) = p
                        .iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .unwrap_or((0, &0.0));
                    Ok(Prediction {
                        path: path.clone(),
                        label: self.encoder.decode(best).unwrap_or_default().to_string(),
                        probability,
                        probabilities: p,
                    })
                }
            });
        }
        results
    }
}

impl SavedModel for Classifier {
    const TASK: &'static str = TASK;

    /// The weights and everything needed to use them.
    fn to_file(&self, training: serde_json::Value) -> Result<ModelFile> {
        let file = ModelFile::new(
            TASK,
            self.classes().to_vec(),
            &self.preprocessing,
            &self.architecture,
            training,
        )?
        .with_section(WEIGHTS, module_to_bytes(&self.model)?);
        Ok(if self.seen.is_empty() {
            file
        } else {
            file.with_section(SEEN, self.seen.to_bytes())
        })
    }

    fn from_file(file: &ModelFile, path: &Path) -> Result<Self> {
        let architecture: CnnConfig = file.architecture(path)?;
        let preprocessing: Preprocessing = file.preprocessing(path)?;
        let classes = file.meta.classes.clone();
        let sound = classes.len() == architecture.num_classes
            && classes.len() >= 2
            && (8..=MAX_RESOLUTION).contains(&preprocessing.resolution)
            && (preprocessing.resolution..=2 * preprocessing.resolution)
                .contains(&preprocessing.load_size)
            && preprocessing.normalization.is_sound()
            && (0.0..1.0).contains(&architecture.dropout)
            && (1..=12).contains(&architecture.widths.len())
            && architecture.widths.iter().all(|w| (1..=2048).contains(w));
        if !sound {
            bail!(
                "{}'s sections do not fit together ({} class names for {} outputs, input {} px cropped from {} px, normalisation {:?}, dropout {}, conv widths {:?}); retrain the model",
                path.display(),
                classes.len(),
                architecture.num_classes,
                preprocessing.resolution,
                preprocessing.load_size,
                preprocessing.normalization,
                architecture.dropout,
                architecture.widths
            );
        }
        let device = casebook_core::device::compute_device();
        let model = module_from_bytes(architecture.init(&device), file.section(WEIGHTS, path)?)
            .with_context(|| format!("cannot load weights from {}", path.display()))?;
        let seen = match file.sections.get(SEEN) {
            None => Fingerprints::default(),
            Some(bytes) => Fingerprints::from_bytes(bytes).with_context(|| {
                format!(
                    "{}'s {SEEN} section is damaged; retrain the model",
                    path.display()
                )
            })?,
        };
        Ok(Self::new(&model, architecture, classes, preprocessing).with_seen(seen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-class classifier of random weights, 16 px input.
    fn small_classifier() -> Classifier {
        let config = CnnConfig::new(2).with_widths(vec![4, 8]);
        let norm = Normalization {
            mean: [0.4; 3],
            std: [0.2; 3],
        };
        Classifier::new(
            &config.init(&Device::flex()),
            config,
            vec!["day".into(), "night".into()],
            Preprocessing::new(16, norm),
        )
    }

    /// Loads an edited model file and, where it loads, predicts a picture:
    /// false when that panicked.
    fn refused_or_works(edited: &casebook_core::model_file::ModelFile) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let picture = dir.path().join("p.png");
        image::RgbImage::from_pixel(40, 30, image::Rgb([90, 120, 200]))
            .save(&picture)
            .unwrap();
        std::panic::catch_unwind(|| {
            match Classifier::from_bytes(&edited.to_bytes(), Path::new("edited")) {
                Ok(model) => model.predict_files(std::slice::from_ref(&picture)).len(),
                Err(_) => 0,
            }
        })
        .is_ok()
    }

    /// Every hostile edit of any header value is refused with an error or
    /// loads as a model that predicts: never a panic.
    #[test]
    fn every_edited_header_value_is_refused_or_works() {
        let file = small_classifier().to_file(serde_json::json!({})).unwrap();
        let edits = casebook_core::model_file::header_edits(&file);
        assert!(edits.len() > 30, "{} edits", edits.len());
        for (what, edited) in edits {
            assert!(refused_or_works(&edited), "{what}: panicked");
        }
    }

    /// The same for edits drawn at random (issue 16).
    #[test]
    fn any_drawn_header_edit_is_refused_or_works() {
        let file = small_classifier().to_file(serde_json::json!({})).unwrap();
        proptest::proptest!(|(seed: u64)| {
            let (what, edited) = casebook_core::model_file::header_edit(&file, seed);
            proptest::prop_assert!(refused_or_works(&edited), "{}: panicked", what);
        });
    }

    #[test]
    fn the_images_a_model_learnt_from_round_trip_and_a_damaged_list_is_refused() {
        let seen: Fingerprints = [3, 1, 2].into_iter().collect();
        let file = small_classifier()
            .with_seen(seen.clone())
            .to_file(serde_json::json!({}))
            .unwrap();
        let back = Classifier::from_bytes(&file.to_bytes(), Path::new("m")).unwrap();
        assert_eq!(back.seen, seen);
        let mut damaged = file;
        damaged.sections.insert(SEEN.into(), vec![1, 2, 3]);
        let err = Classifier::from_bytes(&damaged.to_bytes(), Path::new("m")).unwrap_err();
        assert!(format!("{err:#}").contains("damaged"), "{err:#}");
    }

    #[test]
    fn model_file_round_trip_predicts_the_same() {
        let original = small_classifier();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.casebook");
        original
            .save(&path, serde_json::json!({"note": "test"}))
            .unwrap();
        let loaded = Classifier::load(&path).unwrap();
        assert_eq!(
            (
                loaded.classes().to_vec(),
                loaded.preprocessing,
                loaded.architecture.clone()
            ),
            (
                original.classes().to_vec(),
                original.preprocessing,
                original.architecture.clone()
            )
        );
        let images: Vec<RgbImage> = (0..3)
            .map(|i| {
                RgbImage::from_fn(18, 18, |x, y| {
                    image::Rgb([(x * 9) as u8, (y * 9) as u8, i * 80])
                })
            })
            .collect();
        let (a, b) = (
            original.probabilities(&images),
            loaded.probabilities(&images),
        );
        for (pa, pb) in a.iter().flatten().zip(b.iter().flatten()) {
            assert!((pa - pb).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn a_model_for_another_task_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.casebook");
        let meta = casebook_core::model_file::ModelMeta {
            task: "trigger-word".into(),
            casebook_version: casebook_core::VERSION.into(),
            classes: vec![],
            preprocessing: serde_json::Value::Null,
            architecture: serde_json::Value::Null,
            training: serde_json::Value::Null,
        };
        ModelFile {
            meta,
            sections: Default::default(),
        }
        .save(&path)
        .unwrap();
        let err = Classifier::load(&path).unwrap_err().to_string();
        assert!(err.contains("trigger-word") && err.contains(TASK), "{err}");
    }

    /// Issue 16: a crafted header (the checksum recomputed) panicked, aborted
    /// on allocation or predicted NaN. Every edit is refused with an error.
    #[test]
    fn crafted_headers_are_refused() {
        let classifier = small_classifier();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.casebook");
        classifier.save(&path, serde_json::json!({})).unwrap();
        let good = ModelFile::load(&path).unwrap();
        type Edit = fn(&mut casebook_core::model_file::ModelMeta);
        let edits: [(&str, Edit); 12] = [
            ("dropout 7.5", |m| m.architecture["dropout"] = 7.5.into()),
            ("dropout -1", |m| m.architecture["dropout"] = (-1.0).into()),
            ("resolution 0", |m| m.preprocessing["resolution"] = 0.into()),
            ("resolution 1e5", |m| {
                m.preprocessing["resolution"] = 100_000.into();
                m.preprocessing["load_size"] = 100_000.into();
            }),
            ("load_size 1e5", |m| {
                m.preprocessing["load_size"] = 100_000.into()
            }),
            ("load_size 4", |m| m.preprocessing["load_size"] = 4.into()),
            ("one class", |m| m.classes = vec!["day".into()]),
            ("three classes", |m| m.classes.push("dusk".into())),
            ("std 0", |m| {
                m.preprocessing["normalization"]["std"] = serde_json::json!([0.0, 0.2, 0.2])
            }),
            ("mean 5", |m| {
                m.preprocessing["normalization"]["mean"] = serde_json::json!([5.0, 0.4, 0.4])
            }),
            ("no layers", |m| {
                m.architecture["widths"] = serde_json::json!([])
            }),
            ("wide layer", |m| {
                m.architecture["widths"] = serde_json::json!([4, 100_000])
            }),
        ];
        for (name, edit) in edits {
            let mut file = good.clone();
            edit(&mut file.meta);
            file.save(&path).unwrap();
            let result = std::panic::catch_unwind(|| Classifier::load(&path));
            match result {
                Ok(Err(_)) => {}
                Ok(Ok(_)) => panic!("{name}: loaded"),
                Err(_) => panic!("{name}: panicked"),
            }
        }
        good.save(&path).unwrap();
        assert!(Classifier::load(&path).is_ok());
    }
}
