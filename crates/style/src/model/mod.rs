//! Feature networks: what "content" and "style" are measured with.
//!
//! Both kinds have VGG-19's shape (Simonyan & Zisserman): five blocks of
//! 3×3 convolutions with ReLU (2, 2, 4, 4, 4 of them), a 2×2 pooling after
//! each block. Layers are named as in the paper and in neural-style:
//! `conv3_1` is the first convolution (after its ReLU) of block 3.
//!
//! - [`FeatureNet::from_file`]: VGG-19 weights the user has, in PyTorch
//!   (`.pth`, torchvision's `features.N.weight` layout) or safetensors with
//!   the same keys, loaded through burn's store.
//! - [`FeatureNet::builtin`]: the same shape, narrower, with seeded random
//!   weights. Random multi-layer networks keep a great deal of texture
//!   information in their Gram matrices (Ustyuzhaninov et al., ICLR 2017;
//!   He et al., 2016), and this needs nothing downloaded. The weights come
//!   from this crate's own seeded generator, so every build and machine has
//!   the same network.

pub mod adain;
pub mod transform;
pub mod vgg;

use std::path::Path;

use anyhow::Result;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use vgg::{layer_index, Pool, Vgg, LAYER_NAMES};

/// The content layer of Gatys et al.
pub const CONTENT_LAYER: &str = "conv4_2";
/// The style layers of Gatys et al., weighted equally.
pub const STYLE_LAYERS: [&str; 5] = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"];

/// Channels of the built-in network's five blocks (VGG-19 has 64, 128,
/// 256, 512, 512: the narrower net runs ~6× faster and random features do
/// not gain much from width past this).
pub const BUILTIN_WIDTHS: [usize; 5] = [32, 64, 128, 256, 256];
/// Seed of the built-in network's weights.
const BUILTIN_SEED: u64 = 0x0053_5459_4c45;

/// Where a feature network came from (recorded with results).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Source {
    /// The built-in random network.
    Builtin,
    /// VGG-19 weights from this file.
    File(String),
}

/// A VGG-shaped network with its input normalisation.
#[derive(Debug)]
pub struct FeatureNet {
    pub vgg: Vgg,
    pub source: Source,
}

impl FeatureNet {
    /// The built-in random network, with the pooling asked for.
    pub fn builtin(pool: Pool, device: &Device) -> Self {
        Self {
            vgg: Vgg::random(BUILTIN_WIDTHS, BUILTIN_SEED, pool, device),
            source: Source::Builtin,
        }
    }

    /// VGG-19 from a `.pth` or safetensors file (see [`vgg::load`]).
    pub fn from_file(path: &Path, pool: Pool, device: &Device) -> Result<Self> {
        Ok(Self {
            vgg: vgg::load(path, pool, device)?,
            source: Source::File(path.display().to_string()),
        })
    }

    /// The built-in network (`None`) or VGG-19 from a file.
    pub fn load(file: Option<&Path>, pool: Pool, device: &Device) -> Result<Self> {
        match file {
            None => Ok(Self::builtin(pool, device)),
            Some(path) => Self::from_file(path, pool, device),
        }
    }

    /// The same network with its weights outside autodiff: losses are taken
    /// through it, it is never trained.
    pub fn frozen(self) -> Self {
        Self {
            vgg: self.vgg.no_grad(),
            source: self.source,
        }
    }

    /// Activations (after ReLU) at `layers` for pictures `[batch, 3, h, w]`
    /// with values in [0, 1], in the order asked.
    pub fn activations(&self, pictures: Tensor<4>, layers: &[usize]) -> Vec<Tensor<4>> {
        self.vgg.activations(pictures, layers)
    }
}

/// A picture as a `[1, 3, h, w]` tensor, its sides padded with their edge
/// values to a multiple of `multiple` (what a network that halves and
/// doubles its resolution needs to give the size back); crop the result
/// to the picture's size.
pub fn padded_picture(picture: &image::RgbImage, multiple: usize, device: &Device) -> Tensor<4> {
    let extra = |side: u32| (multiple - side as usize % multiple) % multiple;
    let (right, bottom) = (extra(picture.width()), extra(picture.height()));
    let x = casebook_vision::picture::picture_tensor(picture, device);
    if right > 0 || bottom > 0 {
        x.pad((0, right, 0, bottom), burn::tensor::ops::PadMode::Edge)
    } else {
        x
    }
}

/// Refuses a picture whose pass through a one-pass network (fast style,
/// AdaIN) would not fit in the memory that is free: about four activations
/// of `channels` at full resolution are alive at once (measured peak RSS
/// agrees within a factor of ~1.5).
pub fn check_pass_memory(picture: &image::RgbImage, channels: usize) -> Result<()> {
    let pixels = picture.width() as u64 * picture.height() as u64;
    let needed = 4 * 4 * channels.max(3) as u64 * pixels;
    if let Some(available) = casebook_core::device::available_memory() {
        anyhow::ensure!(
            needed < available,
            "{}×{} needs about {:.1} GB and {:.1} GB is free; pass a smaller --size",
            picture.width(),
            picture.height(),
            needed as f64 / 1e9,
            available as f64 / 1e9
        );
    }
    Ok(())
}
