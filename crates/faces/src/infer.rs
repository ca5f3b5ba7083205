//! Using the face models: the built-in ones compiled into casebook (dlib's,
//! converted; see `models/README.md`), or files named by the user, and the
//! steps from an image to vectors.

use std::path::Path;

use anyhow::Result;
use burn::tensor::{Tensor, TensorData};
use casebook_core::model_file::SavedModel;
use image::RgbImage;

use crate::model::detector::Detector;
use crate::model::encoder::FaceEncoder;

/// The name that selects a built-in model wherever a model path is asked for.
pub const BUILTIN: &str = "builtin";

const BUILTIN_DETECTOR: &[u8] = include_bytes!("../models/detector-dlib-mmod.casebook");
const BUILTIN_ENCODER: &[u8] = include_bytes!("../models/encoder-dlib-resnet.casebook");

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
            let x = Tensor::<4>::from_data(TensorData::new(data, [batch.len(), 3, size, size]), &device);
            let values = casebook_core::tensor::values(self.net.forward(x));
            vectors.extend(values.chunks(self.arch.embedding).map(<[f32]>::to_vec));
        }
        Ok(vectors)
    }
}
