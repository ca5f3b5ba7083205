//! Using the face models: the built-in ones compiled into casebook (dlib's,
//! converted; see `models/README.md`), or files named by the user, and the
//! steps from an image to vectors.

use std::path::Path;

use anyhow::Result;
use burn::tensor::{Tensor, TensorData};
use casebook_core::model_file::SavedModel;
use image::RgbImage;

pub mod enroll;
pub mod group;

use crate::align::{face_chip, Point};
use crate::model::detector::{Detection, Detector};
use crate::model::encoder::FaceEncoder;
use crate::model::landmarks::LandmarkPredictor;

/// The name that selects a built-in model wherever a model path is asked for.
pub const BUILTIN: &str = "builtin";

const BUILTIN_DETECTOR: &[u8] = include_bytes!("../../models/detector-dlib-mmod.casebook");
const BUILTIN_ENCODER: &[u8] = include_bytes!("../../models/encoder-dlib-resnet.casebook");
const BUILTIN_LANDMARKS: &[u8] = include_bytes!("../../models/landmarks-dlib-5pt.casebook");

/// Loads `spec` (a model file, or [`BUILTIN`] for `builtin`'s bytes).
fn load<M: SavedModel>(spec: &str, builtin: &[u8], builtin_name: &str) -> Result<M> {
    if spec == BUILTIN {
        M::from_bytes(builtin, Path::new(builtin_name))
    } else {
        M::load(Path::new(spec))
    }
}

pub fn load_detector(spec: &str) -> Result<Detector> {
    load(spec, BUILTIN_DETECTOR, "builtin detector-dlib-mmod")
}

pub fn load_landmarks(spec: &str) -> Result<LandmarkPredictor> {
    load(spec, BUILTIN_LANDMARKS, "builtin landmarks-dlib-5pt")
}

pub fn load_encoder(spec: &str) -> Result<FaceEncoder> {
    load(spec, BUILTIN_ENCODER, "builtin encoder-dlib-resnet")
}

/// Chips per forward pass: enough to use both cores' caches well, small
/// enough that a folder of faces never holds much memory.
const BATCH: usize = 16;

impl FaceEncoder {
    /// One vector per chip. Chips must be `input_size` square (see [`crate::align`]).
    pub fn embed(&self, chips: &[RgbImage]) -> Result<Vec<Vec<f32>>> {
        let size = self.arch.input_size;
        let mut vectors = Vec::with_capacity(chips.len());
        for batch in chips.chunks(BATCH) {
            let mut data = Vec::with_capacity(batch.len() * 3 * size * size);
            for chip in batch {
                anyhow::ensure!(
                    chip.dimensions() == (size as u32, size as u32),
                    "a {}×{} chip for an encoder of {size}×{size} input",
                    chip.width(),
                    chip.height()
                );
                for (ch, mean) in self.input.mean.iter().enumerate() {
                    data.extend(chip.pixels().map(|p| (p[ch] as f32 - mean) / 256.0));
                }
            }
            let device = casebook_core::device::compute_device();
            let x = Tensor::<4>::from_data(
                TensorData::new(data, [batch.len(), 3, size, size]),
                &device,
            );
            let values = casebook_core::tensor::values(self.inference_net().forward(x));
            vectors.extend(values.chunks(self.arch.embedding).map(<[f32]>::to_vec));
        }
        Ok(vectors)
    }
}

/// Smallest image side the detector can use: below this the network's three
/// stride-2 convolutions leave nothing (and no face would be found anyway).
pub const MIN_IMAGE_SIDE: u32 = 24;

/// Reads an image for face work: any format `image` decodes, as RGB.
pub fn read_image(path: &Path) -> Result<RgbImage> {
    let image = casebook_vision::read_rgb(path)
        .map_err(|why| anyhow::anyhow!("cannot read {} as an image: {why}", path.display()))?;
    anyhow::ensure!(
        image.width() >= MIN_IMAGE_SIDE && image.height() >= MIN_IMAGE_SIDE,
        "{} is {}×{} pixels, too small to find a face in (at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE})",
        path.display(),
        image.width(),
        image.height()
    );
    Ok(image)
}

/// A face found in an image: where, the 5 landmarks, and the aligned chip.
#[derive(Debug, Clone)]
pub struct FoundFace {
    pub detection: Detection,
    pub landmarks: [Point; 5],
    pub chip: RgbImage,
}

/// Detector, landmark predictor and encoder: image in, faces and vectors out.
pub struct FacePipeline {
    pub detector: Detector,
    pub landmarks: LandmarkPredictor,
    pub encoder: FaceEncoder,
}

impl FacePipeline {
    /// The built-in detector and landmarks with the encoder `encoder` (a file or `builtin`).
    pub fn load(encoder: &str) -> Result<Self> {
        Ok(Self {
            detector: load_detector(BUILTIN)?,
            landmarks: load_landmarks(BUILTIN)?,
            encoder: load_encoder(encoder)?,
        })
    }

    /// Every face in `image`, best score first, with landmarks and chips.
    pub fn find(&self, image: &RgbImage, upsample: usize) -> Vec<FoundFace> {
        self.detector
            .detect(image, upsample)
            .into_iter()
            .map(|detection| {
                let landmarks = self.landmarks.predict(image, detection.rect);
                let chip = face_chip(image, &landmarks, self.encoder.arch.input_size);
                FoundFace {
                    detection,
                    landmarks,
                    chip,
                }
            })
            .collect()
    }

    pub fn encode(&self, faces: &[FoundFace]) -> Result<Vec<Vec<f32>>> {
        let chips: Vec<RgbImage> = faces.iter().map(|f| f.chip.clone()).collect();
        self.encoder.embed(&chips)
    }
}

/// The face a one-face command uses when an image holds several: the
/// largest box (the person nearest the camera), ties to the higher score.
pub fn main_face(faces: &[FoundFace]) -> Option<usize> {
    (0..faces.len()).max_by(|&a, &b| {
        let (fa, fb) = (&faces[a].detection, &faces[b].detection);
        fa.rect
            .area()
            .cmp(&fb.rect.area())
            .then(fa.score.total_cmp(&fb.score))
            .then(b.cmp(&a))
    })
}
