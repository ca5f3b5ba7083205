//! The face encoder: dlib's ResNet (`dlib_face_recognition_resnet_model_v1`)
//! as a burn module. A 150×150 aligned chip goes in, a 128-d vector comes out;
//! two photos of one person land closer than 0.6 (dlib's threshold) apart.
//!
//! dlib's network, from `dnn_face_recognition_ex.cpp`, input to output:
//! conv 7×7/2 (32) → affine → relu → max pool 3×3/2, then residual stages
//! 32×3, 64×4, 128×3, 256×3, 256×1 (every stage but the first opens with a
//! stride-2 block whose shortcut is a 2×2/2 average pool), global average
//! pool, and a 128-unit fully connected layer without bias. Stride-2
//! convolutions have no padding, so a block's output can be one row and
//! column smaller than its shortcut, and a wider block meets a narrower
//! shortcut; dlib's `add_prev` then sums into the larger shape, treating
//! missing entries as zero. [`Residual::forward`] does the same.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{bail, Result};
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use casebook_core::checkpoint::{module_from_bytes, module_to_bytes};
use casebook_core::device::compute_device;
use casebook_core::model_file::{ModelFile, SavedModel, WEIGHTS};
use casebook_vision::pool::{avg_pool2x2, max_pool2d};

use super::{ConvAffine, LayerQueue};
use crate::dlib::dnn::{Input, Layer, Loss, Net, Pool};

/// The shape of an encoder; dlib's is [`EncoderArch::dlib`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderArch {
    /// Side of the square input chip in pixels.
    pub input_size: usize,
    pub stem_filters: usize,
    /// Residual stages in forward order.
    pub stages: Vec<Stage>,
    /// Length of the output vector.
    pub embedding: usize,
    /// Whether vectors are scaled to unit length (FaceNet's L2 layer). This
    /// fixes the scale the triplet margin is measured on: without it a
    /// network trained from scratch can meet the margin by growing all its
    /// vectors, and its distances and thresholds drift from run to run.
    /// dlib's encoder does not normalise.
    #[serde(default)]
    pub normalize: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub filters: usize,
    pub blocks: usize,
    /// Whether the stage's first block halves the resolution.
    pub downsample: bool,
}

impl EncoderArch {
    pub fn dlib() -> Self {
        let stage = |filters, blocks, downsample| Stage {
            filters,
            blocks,
            downsample,
        };
        Self {
            input_size: 150,
            stem_filters: 32,
            stages: vec![
                stage(32, 3, false),
                stage(64, 4, true),
                stage(128, 3, true),
                stage(256, 3, true),
                stage(256, 1, true),
            ],
            embedding: 128,
            normalize: false,
        }
    }

    /// (channels in, filters, stride) of every residual block in order.
    fn blocks(&self) -> Vec<(usize, usize, usize)> {
        let mut channels = self.stem_filters;
        let mut blocks = Vec::new();
        for stage in &self.stages {
            for i in 0..stage.blocks {
                let stride = if i == 0 && stage.downsample { 2 } else { 1 };
                blocks.push((channels, stage.filters, stride));
                channels = stage.filters;
            }
        }
        blocks
    }

    fn output_channels(&self) -> usize {
        self.stages.last().map_or(self.stem_filters, |s| s.filters)
    }
}

#[derive(Module, Debug)]
pub struct Residual {
    first: ConvAffine,
    second: ConvAffine,
    downsample: bool,
}

impl Residual {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let block = self.second.forward(self.first.forward_relu(x.clone()));
        let shortcut = if self.downsample { avg_pool2x2(x) } else { x };
        relu(add_zero_extended(block, shortcut))
    }

    fn folded(&self) -> Self {
        Self {
            first: self.first.folded(),
            second: self.second.folded(),
            downsample: self.downsample,
        }
    }
}

/// `a + b` where each is first zero-extended to the larger size in every
/// dimension (dlib's `add_prev` on tensors of different shapes).
fn add_zero_extended(a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    let (da, db) = (a.dims(), b.dims());
    if da == db {
        return a + b;
    }
    let dims: [usize; 4] = std::array::from_fn(|i| da[i].max(db[i]));
    let extend = |t: Tensor<4>, d: [usize; 4]| {
        if d == dims {
            t
        } else {
            Tensor::zeros(dims, &t.device()).slice_assign([0..d[0], 0..d[1], 0..d[2], 0..d[3]], t)
        }
    };
    extend(a, da) + extend(b, db)
}

#[derive(Module, Debug)]
pub struct Encoder {
    stem: ConvAffine,
    blocks: Vec<Residual>,
    head: Linear,
    normalize: bool,
}

impl Encoder {
    /// A freshly initialised encoder (affine layers start as the identity).
    pub fn new(arch: &EncoderArch, device: &Device) -> Self {
        Self {
            stem: ConvAffine::new([3, arch.stem_filters], 7, 2, device),
            blocks: arch
                .blocks()
                .into_iter()
                .map(|(c, f, stride)| Residual {
                    first: ConvAffine::new([c, f], 3, stride, device),
                    second: ConvAffine::new([f, f], 3, 1, device),
                    downsample: stride == 2,
                })
                .collect(),
            head: LinearConfig::new(arch.output_channels(), arch.embedding)
                .with_bias(false)
                .init(device),
            normalize: arch.normalize,
        }
    }

    /// dlib's network from a parsed `.dat` file, with its per-channel input
    /// means. Every layer is checked against [`EncoderArch::dlib`].
    pub fn from_dlib(net: &Net, device: &Device) -> anyhow::Result<(Self, [f32; 3])> {
        let arch = EncoderArch::dlib();
        let mean = match (&net.loss, &net.input) {
            (
                Loss::Metric { .. },
                Input::RgbSized {
                    mean,
                    rows: 150,
                    cols: 150,
                },
            ) => *mean,
            _ => anyhow::bail!(
                "not dlib's face encoder: expected a metric loss over 150×150 RGB input"
            ),
        };
        let mut layers = LayerQueue::new(&net.layers);
        let stem = layers.conv_affine([3, arch.stem_filters], 7, 2, device)?;
        layers.fixed(Layer::Relu, "relu")?;
        layers.fixed(
            Layer::MaxPool(Pool {
                kernel: [3, 3],
                stride: [2, 2],
                padding: [0, 0],
            }),
            "a 3×3/2 max pool",
        )?;
        let mut blocks = Vec::new();
        for (c, f, stride) in arch.blocks() {
            let first = layers.conv_affine([c, f], 3, stride, device)?;
            layers.fixed(Layer::Relu, "relu")?;
            let second = layers.conv_affine([f, f], 3, 1, device)?;
            if stride == 2 {
                layers.fixed(
                    Layer::AvgPool(Pool {
                        kernel: [2, 2],
                        stride: [2, 2],
                        padding: [0, 0],
                    }),
                    "a 2×2/2 average pool",
                )?;
            }
            layers.fixed(Layer::AddPrev, "add_prev")?;
            layers.fixed(Layer::Relu, "relu")?;
            blocks.push(Residual {
                first,
                second,
                downsample: stride == 2,
            });
        }
        layers.fixed(
            Layer::AvgPool(Pool {
                kernel: [0, 0],
                stride: [1, 1],
                padding: [0, 0],
            }),
            "a global average pool",
        )?;
        let weights = layers.fc(arch.output_channels(), arch.embedding)?;
        layers.finish()?;
        // Wrappers beyond the computing layers: a tag per block, and a tag and
        // a skip more per downsampling block.
        let downs = blocks.iter().filter(|b| b.downsample).count();
        anyhow::ensure!(
            net.wrappers == net.layers.len() + blocks.len() + 2 * downs,
            "the network's residual wiring is not dlib's face encoder's"
        );
        let mut head = LinearConfig::new(arch.output_channels(), arch.embedding)
            .with_bias(false)
            .init(device);
        head.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(weights.to_vec(), [arch.output_channels(), arch.embedding]),
            device,
        ));
        Ok((
            Self {
                stem,
                blocks,
                head,
                normalize: false,
            },
            mean,
        ))
    }

    /// This encoder for inference: every affine folded into its convolution
    /// ([`ConvAffine::folded`]).
    pub fn folded(&self) -> Self {
        Self {
            stem: self.stem.folded(),
            blocks: self.blocks.iter().map(Residual::folded).collect(),
            head: self.head.clone(),
            normalize: self.normalize,
        }
    }

    /// `[batch, 3, size, size]` normalised chips → `[batch, embedding]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.stem.forward_relu(x);
        let mut x = max_pool2d(x, [3, 3], [2, 2]);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let [batch, channels, _, _] = x.dims();
        let vectors = self
            .head
            .forward(x.mean_dim(3).mean_dim(2).reshape([batch, channels]));
        if self.normalize {
            let norms = vectors
                .clone()
                .powi_scalar(2)
                .sum_dim(1)
                .sqrt()
                .clamp_min(1e-12);
            vectors / norms
        } else {
            vectors
        }
    }
}

/// The distance under which two faces count as one person, and where that
/// number came from (a measurement, or dlib's published value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    pub distance: f32,
    pub source: String,
}

/// How chips become the encoder's input: (pixel − mean) / 256 per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChipInput {
    pub mean: [f32; 3],
}

/// An encoder with everything needed to use it: its shape, its input
/// normalisation and its verification threshold.
#[derive(Debug)]
pub struct FaceEncoder {
    pub arch: EncoderArch,
    /// The network as trained and saved. Inference runs a folded copy made
    /// from it on first use ([`FaceEncoder::inference_net`]), so a new
    /// network means a new `FaceEncoder`, not a changed `net`.
    pub net: Encoder,
    pub input: ChipInput,
    pub threshold: Threshold,
    /// SHA-256 (first 16 hex digits) of the weights: which encoder this is.
    pub id: String,
    /// The model file's training record (provenance, recipe, scores), kept
    /// so a re-saved encoder (a new threshold, say) keeps its history.
    pub record: serde_json::Value,
    /// `net` folded for inference ([`Encoder::folded`]), made on first use.
    inference: OnceLock<Encoder>,
}

pub const TASK: &str = "face-encoder";
/// The key of the threshold in a model file's training record.
const THRESHOLD_KEY: &str = "verification_threshold";

impl FaceEncoder {
    pub fn new(
        arch: EncoderArch,
        net: Encoder,
        input: ChipInput,
        threshold: Threshold,
        id: String,
        record: serde_json::Value,
    ) -> Self {
        Self {
            arch,
            net,
            input,
            threshold,
            id,
            record,
            inference: OnceLock::new(),
        }
    }

    /// dlib's ResNet from its `.dat` bytes, with dlib's published 0.6 threshold.
    pub fn from_dlib(bytes: &[u8]) -> Result<Self> {
        let net = crate::dlib::dnn::parse(bytes)?;
        let (encoder, mean) = Encoder::from_dlib(&net, &compute_device())?;
        let id = weights_id(&module_to_bytes(&encoder)?);
        let threshold = Threshold {
            distance: 0.6,
            source: "dlib's published threshold for this network, 99.38% on LFW".into(),
        };
        Ok(Self::new(
            EncoderArch::dlib(),
            encoder,
            ChipInput { mean },
            threshold,
            id,
            serde_json::json!({}),
        ))
    }

    /// The network as inference runs it: `net` with its affines folded,
    /// made once. (`net` is what is saved and trained.)
    pub fn inference_net(&self) -> &Encoder {
        self.inference.get_or_init(|| self.net.folded())
    }
}

impl FaceEncoder {
    /// What a gallery records of the encoder that filled it.
    pub fn identity(&self) -> crate::gallery::EncoderIdentity {
        crate::gallery::EncoderIdentity {
            id: self.id.clone(),
            dimension: self.arch.embedding,
        }
    }
}

fn weights_id(weights: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(weights))[..16].to_string()
}

impl SavedModel for FaceEncoder {
    const TASK: &'static str = TASK;

    fn to_file(&self, mut training: serde_json::Value) -> Result<ModelFile> {
        if let Some(record) = training.as_object_mut() {
            record.insert(THRESHOLD_KEY.into(), serde_json::to_value(&self.threshold)?);
        } else {
            training = serde_json::json!({ THRESHOLD_KEY: self.threshold });
        }
        Ok(
            ModelFile::new(TASK, Vec::new(), &self.input, &self.arch, training)?
                .with_section(WEIGHTS, module_to_bytes(&self.net)?),
        )
    }

    fn from_file(file: &ModelFile, path: &Path) -> Result<Self> {
        let arch: EncoderArch = file.architecture(path)?;
        let input: ChipInput = file.preprocessing(path)?;
        let threshold: Threshold = file
            .meta
            .training
            .get(THRESHOLD_KEY)
            .and_then(|t| Threshold::deserialize(t).ok())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has no verification threshold; run `casebook face eval` on it",
                    path.display()
                )
            })?;
        let sound = (32..=1024).contains(&arch.input_size)
            && (1..=1024).contains(&arch.stem_filters)
            && (1..=8).contains(&arch.stages.len())
            && arch
                .stages
                .iter()
                .all(|s| (1..=2048).contains(&s.filters) && (1..=64).contains(&s.blocks))
            && (1..=4096).contains(&arch.embedding)
            && threshold.distance.is_finite()
            && threshold.distance > 0.0
            && input.mean.iter().all(|m| m.is_finite());
        if !sound {
            bail!(
                "{}'s encoder description is damaged (architecture {arch:?}, threshold {})",
                path.display(),
                threshold.distance
            );
        }
        let weights = file.section(WEIGHTS, path)?;
        let net = module_from_bytes(Encoder::new(&arch, &compute_device()), weights)?;
        Ok(Self::new(
            arch,
            net,
            input,
            threshold,
            weights_id(weights),
            file.meta.training.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_encoders_give_unit_vectors_and_others_do_not() {
        let device = compute_device();
        let mut arch = crate::train::scratch_arch();
        let side = arch.input_size;
        let x = Tensor::<4>::random(
            [3, 3, side, side],
            burn::tensor::Distribution::Uniform(-0.5, 0.5),
            &device,
        );
        let norms = |arch: &EncoderArch| -> Vec<f32> {
            let out = Encoder::new(arch, &device).forward(x.clone());
            casebook_core::tensor::values(out.powi_scalar(2).sum_dim(1).sqrt())
        };
        assert!(arch.normalize);
        for n in norms(&arch) {
            assert!((n - 1.0).abs() < 1e-5, "norm {n}");
        }
        arch.normalize = false;
        assert!(norms(&arch).iter().all(|n| (n - 1.0).abs() > 1e-3));
    }
}
