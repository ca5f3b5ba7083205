//! A narrow encoder distilled from a feature network: VGG-19's shape up to
//! conv4_1 with fewer channels, trained so that a 1×1 convolution of its
//! activations at conv1_1, conv2_1, conv3_1 and conv4_1 gives the teacher's
//! (the feature-matching half of Wang et al., "Collaborative Distillation
//! for Ultra-Resolution Universal Style Transfer", CVPR 2020). AdaIN's
//! encoder is most of its work; half the channels is a quarter of it.
//! The 1×1 convolutions serve training only: the file keeps the encoder.

use std::path::Path;

use anyhow::Result;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};
use casebook_core::checkpoint::{module_from_bytes, module_to_bytes};
use casebook_core::model_file::{ModelFile, SavedModel, WEIGHTS};
use casebook_vision::layers::he_normal;
use rand::SeedableRng;

use super::adain::{encoder_depth, style_layer_indices, AdaInArch};
use super::vgg::{InputNorm, Vgg};
use crate::loss::relative_content_loss;

/// The task of distilled-encoder files.
pub const TASK: &str = "style-encoder";

/// The student and the 1×1 convolutions that map its activations to the
/// teacher's: what distillation trains.
#[derive(Module, Debug)]
pub struct Distiller {
    pub student: Vgg,
    projections: Vec<Conv2d>,
}

impl Distiller {
    /// A He-normal student of `arch` (torchvision's input normalisation)
    /// and projections to a teacher of `teacher_widths` (its widths at
    /// [`style_layer_indices`]), drawn from `seed`.
    pub fn new(arch: AdaInArch, teacher_widths: &[usize], seed: u64, device: &Device) -> Self {
        let student =
            Vgg::random(arch.vgg_widths(), seed, arch.pool, device).truncated(encoder_depth());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed.wrapping_add(1));
        let projections = arch
            .widths
            .iter()
            .zip(teacher_widths)
            .map(|(&from, &to)| {
                let mut conv = Conv2dConfig::new([from, to], [1, 1]).init(device);
                he_normal(&mut conv, &mut rng);
                conv
            })
            .collect();
        Self {
            student,
            projections,
        }
    }

    /// Per matched layer, the relative squared error of the projected
    /// student activations against the teacher's (`teacher`, in the order
    /// of [`style_layer_indices`]).
    pub fn losses(&self, pictures: Tensor<4>, teacher: &[Tensor<4>]) -> Vec<Tensor<1>> {
        let student = self.student.activations(pictures, &style_layer_indices());
        student
            .into_iter()
            .zip(&self.projections)
            .zip(teacher)
            .map(|((s, projection), t)| relative_content_loss(projection.forward(s), t.clone()))
            .collect()
    }
}

/// A distilled encoder as saved: usable wherever `--features FILE` is, for
/// layers up to conv4_1. It pools as it was distilled.
#[derive(Debug)]
pub struct DistilledEncoder {
    pub vgg: Vgg,
    /// The training record stored in the file (teacher, data, losses).
    pub record: serde_json::Value,
}

impl SavedModel for DistilledEncoder {
    const TASK: &'static str = TASK;

    fn to_file(&self, training: serde_json::Value) -> Result<ModelFile> {
        Ok(ModelFile::new(
            TASK,
            Vec::new(),
            &self.vgg.norm(),
            &AdaInArch::of(&self.vgg),
            training,
        )?
        .with_section(WEIGHTS, module_to_bytes(&self.vgg)?))
    }

    fn from_file(file: &ModelFile, path: &Path) -> Result<Self> {
        let arch: AdaInArch = file.architecture(path)?;
        arch.check()
            .map_err(|e| e.context(format!("{} is damaged", path.display())))?;
        let norm: InputNorm = file.preprocessing(path)?;
        norm.check()
            .map_err(|e| e.context(format!("{} is damaged", path.display())))?;
        let device = casebook_core::device::compute_device();
        let vgg =
            Vgg::zeros(arch.vgg_widths(), arch.pool, norm, &device).truncated(encoder_depth());
        Ok(Self {
            vgg: module_from_bytes(vgg, file.section(WEIGHTS, path)?)?,
            record: file.meta.training.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Pool;

    fn tiny() -> DistilledEncoder {
        let device = casebook_core::device::compute_device();
        let arch = AdaInArch {
            widths: [2, 3, 4, 5],
            pool: Pool::Max,
        };
        DistilledEncoder {
            vgg: Distiller::new(arch, &[4, 5, 6, 7], 3, &device).student,
            record: serde_json::json!({}),
        }
    }

    #[test]
    fn files_round_trip_and_edited_headers_are_refused_or_load() {
        let encoder = tiny();
        let file = encoder.to_file(serde_json::json!({"steps": 1})).unwrap();
        let back = DistilledEncoder::from_bytes(&file.to_bytes(), Path::new("e")).unwrap();
        assert_eq!(back.vgg.widths(), encoder.vgg.widths());
        assert_eq!(back.vgg.norm(), InputNorm::TORCHVISION);
        assert_eq!(back.vgg.pool(), Pool::Max);
        let device = casebook_core::device::compute_device();
        let x = Tensor::<4>::ones([1, 3, 16, 16], &device) * 0.3;
        let layers = style_layer_indices();
        let a = encoder.vgg.activations(x.clone(), &layers);
        let b = back.vgg.activations(x, &layers);
        for (a, b) in a.into_iter().zip(b) {
            assert_eq!(a.into_data(), b.into_data());
        }
        for (what, edited) in casebook_core::model_file::header_edits(&file) {
            let loaded = std::panic::catch_unwind(|| {
                let _ = DistilledEncoder::from_bytes(&edited.to_bytes(), Path::new("e"));
            });
            assert!(loaded.is_ok(), "{what}: panicked");
        }
    }
}
