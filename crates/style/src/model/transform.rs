//! The feed-forward transform network of Johnson et al. (2016), trained once
//! per style (`style train-fast`) and then applied in one pass
//! (`style apply`): a 9×9 convolution, two stride-2 convolutions, residual
//! blocks at a quarter of the resolution, two nearest-neighbour upsamplings
//! each followed by a convolution, and a 9×9 convolution back to RGB.
//! Instance normalisation after every convolution but the last (Ulyanov et
//! al., 2016: it removes the content picture's contrast, which the style
//! should set) and reflection padding (no dark borders).
//!
//! Johnson's network has 32 channels at full resolution; `width` scales
//! every layer. The default is narrower so that a 512×512 picture takes a
//! fraction of a second on two CPU cores (see `bench/style.sh`).

use std::path::Path;

use anyhow::Result;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, InstanceNorm, InstanceNormConfig, PaddingConfig2d};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use casebook_core::checkpoint::{module_from_bytes, module_to_bytes};
use casebook_core::config::{require, InvalidConfig};
use casebook_core::model_file::{ModelFile, SavedModel};
use casebook_core::tensor::device_of;
use casebook_vision::conv::{conv2d_fused, Fusion};
use casebook_vision::layers::he_normal;
use casebook_vision::norm::instance_norm;
use casebook_vision::picture::tensor_pictures;
use image::RgbImage;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// The task of fast-style model files.
pub const TASK: &str = "style-fast";
const WEIGHTS: &str = "weights";

/// The shape of a transform network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformArch {
    /// Channels at full resolution (Johnson et al.: 32); ×2 and ×4 after
    /// each downsampling.
    pub width: usize,
    /// Residual blocks at a quarter of the resolution (Johnson et al.: 5).
    pub residual_blocks: usize,
}

impl Default for TransformArch {
    fn default() -> Self {
        Self {
            width: 16,
            residual_blocks: 5,
        }
    }
}

impl TransformArch {
    /// Whether the numbers could describe a network (model files are
    /// untrusted input).
    pub fn check(&self) -> Result<(), InvalidConfig> {
        require(
            (1..=256).contains(&self.width),
            "width",
            format!("must be between 1 and 256 channels (got {})", self.width),
        )?;
        require(
            self.residual_blocks <= 32,
            "residual_blocks",
            format!("must be at most 32 (got {})", self.residual_blocks),
        )
    }
}

/// Reflection padding, a convolution and (except at the output) instance
/// normalisation.
#[derive(Module, Debug)]
struct ConvLayer {
    conv: Conv2d,
    norm: Option<InstanceNorm>,
    #[module(skip)]
    pad: usize,
}

impl ConvLayer {
    fn new(
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        normalised: bool,
        device: &Device,
    ) -> Self {
        Self {
            conv: Conv2dConfig::new(channels, [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Valid)
                .with_initializer(Initializer::Zeros)
                .init(device),
            norm: normalised.then(|| InstanceNormConfig::new(channels[1]).init(device)),
            pad: kernel / 2,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let padded = Fusion {
            reflect: self.pad,
            relu: false,
        };
        let x = conv2d_fused(&self.conv, x, padded);
        match &self.norm {
            Some(norm) => instance_norm(norm, x),
            None => x,
        }
    }
}

#[derive(Module, Debug)]
struct ResidualBlock {
    first: ConvLayer,
    second: ConvLayer,
}

impl ResidualBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.second.forward(relu(self.first.forward(x.clone())));
        x + y
    }
}

#[derive(Module, Debug)]
pub struct TransformNet {
    input: ConvLayer,
    down: [ConvLayer; 2],
    residual: Vec<ResidualBlock>,
    up: [ConvLayer; 2],
    output: ConvLayer,
}

/// Sides must be multiples of this to come out at the size they went in
/// (two halvings, two doublings); [`FastStyle::apply`] pads to it.
pub const SIDE_MULTIPLE: usize = 4;

impl TransformNet {
    /// He-normal random weights drawn from `seed`.
    pub fn new(arch: &TransformArch, seed: u64, device: &Device) -> Self {
        let mut net = Self::zeros(arch, device);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let residual = net
            .residual
            .iter_mut()
            .flat_map(|b| [&mut b.first, &mut b.second]);
        for layer in [&mut net.input]
            .into_iter()
            .chain(&mut net.down)
            .chain(residual)
            .chain(&mut net.up)
            .chain([&mut net.output])
        {
            he_normal(&mut layer.conv, &mut rng);
        }
        net
    }

    /// Zero weights, to be loaded: drawing random ones first was a few
    /// per cent of a `style apply`.
    fn zeros(arch: &TransformArch, device: &Device) -> Self {
        let w = arch.width;
        Self {
            input: ConvLayer::new([3, w], 9, 1, true, device),
            down: [
                ConvLayer::new([w, 2 * w], 3, 2, true, device),
                ConvLayer::new([2 * w, 4 * w], 3, 2, true, device),
            ],
            residual: (0..arch.residual_blocks)
                .map(|_| ResidualBlock {
                    first: ConvLayer::new([4 * w, 4 * w], 3, 1, true, device),
                    second: ConvLayer::new([4 * w, 4 * w], 3, 1, true, device),
                })
                .collect(),
            up: [
                ConvLayer::new([4 * w, 2 * w], 3, 1, true, device),
                ConvLayer::new([2 * w, w], 3, 1, true, device),
            ],
            output: ConvLayer::new([w, 3], 9, 1, false, device),
        }
    }

    /// Stylised pictures `[batch, 3, h, w]` in [0, 1] from pictures of the
    /// same shape; `h` and `w` must be multiples of [`SIDE_MULTIPLE`].
    pub fn forward(&self, pictures: Tensor<4>) -> Tensor<4> {
        let mut x = relu(self.input.forward(pictures));
        for layer in &self.down {
            x = relu(layer.forward(x));
        }
        for block in &self.residual {
            x = block.forward(x);
        }
        for layer in &self.up {
            let bigger = interpolate(
                x,
                InterpolateOptions::new(InterpolateMode::Nearest).with_scale_factor([2.0, 2.0]),
            );
            x = relu(layer.forward(bigger));
        }
        sigmoid(self.output.forward(x))
    }
}

/// A trained fast-style model: the network and what made it.
#[derive(Debug)]
pub struct FastStyle {
    pub arch: TransformArch,
    pub net: TransformNet,
    /// The training record stored in the model file (style, steps, losses).
    pub record: serde_json::Value,
}

impl FastStyle {
    /// Refuses a picture whose pass would not fit in the memory that is free.
    pub fn check_memory(&self, picture: &RgbImage) -> Result<()> {
        super::check_pass_memory(picture, self.arch.width)
    }

    /// `picture` in the model's style, at its own size. Sides are padded
    /// (by reflection) to a multiple of [`SIDE_MULTIPLE`] and cropped back.
    pub fn apply(&self, picture: &RgbImage) -> RgbImage {
        let (w, h) = (picture.width() as usize, picture.height() as usize);
        let x = super::padded_picture(picture, SIDE_MULTIPLE, &device_of(&self.net));
        let y = self.net.forward(x).slice([0..1, 0..3, 0..h, 0..w]);
        tensor_pictures(y).remove(0)
    }
}

impl SavedModel for FastStyle {
    const TASK: &'static str = TASK;

    fn to_file(&self, training: serde_json::Value) -> Result<ModelFile> {
        Ok(ModelFile::new(
            TASK,
            Vec::new(),
            &serde_json::json!({}),
            &self.arch,
            training,
        )?
        .with_section(WEIGHTS, module_to_bytes(&self.net)?))
    }

    fn from_file(file: &ModelFile, path: &Path) -> Result<Self> {
        let arch: TransformArch = file.architecture(path)?;
        arch.check()
            .map_err(|e| anyhow::anyhow!("{}'s architecture is damaged: {e}", path.display()))?;
        let device = casebook_core::device::compute_device();
        let net = module_from_bytes(
            TransformNet::zeros(&arch, &device),
            file.section(WEIGHTS, path)?,
        )?;
        Ok(Self {
            arch,
            net,
            record: file.meta.training.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_model_file() -> casebook_core::model_file::ModelFile {
        let arch = TransformArch {
            width: 2,
            residual_blocks: 1,
        };
        let device = casebook_core::device::compute_device();
        let model = FastStyle {
            arch,
            net: TransformNet::new(&arch, 3, &device),
            record: serde_json::json!({}),
        };
        model.to_file(serde_json::json!({})).unwrap()
    }

    /// Loads an edited model file and, where it loads, draws a picture:
    /// false when that panicked.
    fn refused_or_works(edited: &casebook_core::model_file::ModelFile) -> bool {
        let picture = RgbImage::from_pixel(18, 13, image::Rgb([200, 120, 40]));
        std::panic::catch_unwind(|| {
            if let Ok(model) = FastStyle::from_bytes(&edited.to_bytes(), Path::new("edited")) {
                model.apply(&picture);
            }
        })
        .is_ok()
    }

    /// Every hostile edit of any header value is refused with an error or
    /// loads as a network that draws: never a panic.
    #[test]
    fn every_edited_header_value_is_refused_or_works() {
        let file = small_model_file();
        let edits = casebook_core::model_file::header_edits(&file);
        assert!(edits.len() >= 14, "{} edits", edits.len());
        for (what, edited) in edits {
            assert!(refused_or_works(&edited), "{what}: panicked");
        }
    }

    /// The same for edits drawn at random (issue 16).
    #[test]
    fn any_drawn_header_edit_is_refused_or_works() {
        let file = small_model_file();
        proptest::proptest!(|(seed: u64)| {
            let (what, edited) = casebook_core::model_file::header_edit(&file, seed);
            proptest::prop_assert!(refused_or_works(&edited), "{}: panicked", what);
        });
    }
}
