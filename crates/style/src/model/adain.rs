//! Arbitrary style in one pass: adaptive instance normalisation (Huang &
//! Belongie, 2017). A fixed encoder (a feature network up to conv4_1) maps
//! the content and the style picture to features; AdaIN gives the content's
//! features the style's per-channel mean and standard deviation; a trained
//! decoder (the encoder mirrored, nearest-neighbour upsampling in place of
//! pooling) turns them back into a picture. One network serves every style.

use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use casebook_core::checkpoint::{module_from_bytes, module_to_bytes};
use casebook_core::model_file::{ModelFile, SavedModel};
use casebook_core::tensor::device_of;
use casebook_vision::conv::{conv2d_fused, Fusion};
use casebook_vision::layers::he_normal;
use casebook_vision::picture::tensor_pictures;
use image::RgbImage;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::vgg::{InputNorm, Vgg};
use super::{builtin_fingerprint, layer_index, padded_picture, FeatureNet, Pool, Source};

/// The task of AdaIN model files.
pub const TASK: &str = "style-adain";
/// The built-in model (made by `scripts/style/adain_builtin.sh`): a decoder
/// trained on the built-in VGG-19's features.
const BUILTIN: &[u8] = include_bytes!("../../models/adain.casebook");
/// What `--model` calls the built-in fast model.
pub const BUILTIN_FAST_NAME: &str = "builtin-fast";
/// The built-in fast model (made by `scripts/style/adain_fast_builtin.sh`):
/// an encoder distilled from the built-in VGG-19 with half its channels,
/// and a decoder trained on it; a quarter of the work, less of the photo's
/// detail kept.
const BUILTIN_FAST: &[u8] = include_bytes!("../../models/adain-fast.casebook");
const ENCODER: &str = "encoder";
const DECODER: &str = "decoder";
/// Where the encoder ends (Huang & Belongie: relu4_1).
pub const ENCODER_LAYER: &str = "conv4_1";
/// The style layers of the training loss (relu1_1 … relu4_1).
pub const STYLE_LAYERS: [&str; 4] = ["conv1_1", "conv2_1", "conv3_1", "conv4_1"];
/// Sides must be multiples of this (three poolings, three upsamplings);
/// [`AdaIn::apply`] pads to it.
pub const SIDE_MULTIPLE: usize = 8;
/// Keeps standard deviations of flat channels away from zero.
const EPSILON: f64 = 1e-5;

/// Per-picture, per-channel mean and standard deviation of `[b, c, h, w]`,
/// each `[b, c, 1, 1]`.
pub fn mean_std(features: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let [b, c, h, w] = features.dims();
    let flat = features.reshape([b, c, h * w]);
    let mean = flat.clone().mean_dim(2);
    let variance = (flat - mean.clone()).powi_scalar(2).mean_dim(2);
    (
        mean.reshape([b, c, 1, 1]),
        (variance + EPSILON).sqrt().reshape([b, c, 1, 1]),
    )
}

/// The content's features with the style's channel statistics.
pub fn adain(content: Tensor<4>, style: Tensor<4>) -> Tensor<4> {
    let (c_mean, c_std) = mean_std(content.clone());
    let (s_mean, s_std) = mean_std(style);
    (content - c_mean) / c_std * s_std + s_mean
}

/// The encoder's block widths (blocks 1–4) and pooling: what rebuilds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdaInArch {
    pub widths: [usize; 4],
    pub pool: Pool,
}

/// The indices of [`STYLE_LAYERS`], the last of which is the encoder's output.
pub fn style_layer_indices() -> Vec<usize> {
    STYLE_LAYERS
        .iter()
        .map(|l| layer_index(l).expect("style layers are VGG layers"))
        .collect()
}

/// Convolutions up to and with [`ENCODER_LAYER`].
pub(crate) fn encoder_depth() -> usize {
    layer_index(ENCODER_LAYER).expect("the encoder layer is a VGG layer") + 1
}

impl AdaInArch {
    /// The block widths (conv1_1 … conv4_1 open the four blocks) and the
    /// pooling of a network that reaches conv4_1.
    pub(crate) fn of(vgg: &Vgg) -> Self {
        let widths = vgg.widths();
        let [a, b, c, d]: [usize; 4] = style_layer_indices()
            .iter()
            .map(|&l| widths[l])
            .collect::<Vec<_>>()
            .try_into()
            .expect("four style layers");
        Self {
            widths: [a, b, c, d],
            pool: vgg.pool(),
        }
    }

    /// The five block widths a [`Vgg`] is made with (block 5 is never reached).
    pub(crate) fn vgg_widths(&self) -> [usize; 5] {
        let [w1, w2, w3, w4] = self.widths;
        [w1, w2, w3, w4, w4]
    }

    pub(crate) fn check(&self) -> Result<()> {
        if !self.widths.iter().all(|w| (1..=1024).contains(w)) {
            bail!("encoder widths must be 1–1024 (got {:?})", self.widths);
        }
        Ok(())
    }
}

/// A 3×3 convolution with reflection padding.
#[derive(Module, Debug)]
struct DecoderConv {
    conv: Conv2d,
}

impl DecoderConv {
    fn new(channels: [usize; 2], device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new(channels, [3, 3])
                .with_padding(PaddingConfig2d::Valid)
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }

    /// The convolution, and a ReLU after it when `relu`.
    fn forward(&self, x: Tensor<4>, relu: bool) -> Tensor<4> {
        conv2d_fused(&self.conv, x, Fusion { reflect: 1, relu })
    }
}

/// The encoder mirrored: per block its convolutions in reverse, an
/// upsampling where the encoder pooled.
#[derive(Module, Debug)]
pub struct Decoder {
    /// Block 4 back to block 3's width, then blocks 3, 2, 1; each inner
    /// vector runs at one resolution and is followed by an upsampling,
    /// except the last.
    blocks: Vec<Vec<DecoderConv>>,
    /// Where the last convolution gives the encoder's normalised input
    /// ((x − mean) / std) rather than pixels, that normalisation. A new
    /// decoder starts near the right scale so, whatever the encoder's
    /// normalisation: with Caffe's (0–255 less the mean), a decoder drawing
    /// pixels starts ~10⁴ times too bright in the encoder's eyes and did
    /// not learn to draw in 750 steps. Models from before have `None`.
    #[module(skip)]
    normalised_output: Option<InputNorm>,
}

impl Decoder {
    /// He-normal random weights drawn from `seed`, drawing the normalised
    /// input of an encoder with `norm`.
    pub fn new(arch: &AdaInArch, norm: InputNorm, seed: u64, device: &Device) -> Self {
        let mut decoder = Self::zeros(arch, Some(norm), device);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for layer in decoder.blocks.iter_mut().flatten() {
            he_normal(&mut layer.conv, &mut rng);
        }
        decoder
    }

    /// Zero weights, to be loaded (random ones were drawn only to be
    /// overwritten, ~3 % of an `apply-adain`).
    fn zeros(arch: &AdaInArch, normalised_output: Option<InputNorm>, device: &Device) -> Self {
        let [w1, w2, w3, w4] = arch.widths;
        let conv = |c_in, c_out| DecoderConv::new([c_in, c_out], device);
        Self {
            blocks: vec![
                vec![conv(w4, w3)],
                vec![conv(w3, w3), conv(w3, w3), conv(w3, w3), conv(w3, w2)],
                vec![conv(w2, w2), conv(w2, w1)],
                vec![conv(w1, w1), conv(w1, 3)],
            ],
            normalised_output,
        }
    }

    /// Pictures from features at conv4_1: values meant for [0, 1], not
    /// squashed into it (a sigmoid here saturates and stops training);
    /// [`tensor_pictures`] clamps them.
    pub fn forward(&self, features: Tensor<4>) -> Tensor<4> {
        let mut x = features;
        let last = self.blocks.len() - 1;
        for (i, block) in self.blocks.iter().enumerate() {
            for (j, layer) in block.iter().enumerate() {
                // A ReLU after every convolution but the last.
                x = layer.forward(x, !(i == last && j == block.len() - 1));
            }
            if i < last {
                x = interpolate(
                    x,
                    InterpolateOptions::new(InterpolateMode::Nearest).with_scale_factor([2.0, 2.0]),
                );
            }
        }
        match self.normalised_output {
            Some(norm) => norm.to_pixels(x),
            None => x,
        }
    }
}

/// A trained AdaIN model: the fixed encoder and the decoder.
#[derive(Debug)]
pub struct AdaIn {
    pub arch: AdaInArch,
    pub encoder: FeatureNet,
    pub decoder: Decoder,
    /// The training record stored in the model file.
    pub record: serde_json::Value,
}

impl AdaIn {
    /// The model file `path`, or a built-in model where `path` is `builtin`
    /// or [`BUILTIN_FAST_NAME`].
    pub fn open(path: &Path) -> Result<Self> {
        if path == Path::new(BUILTIN_FAST_NAME) {
            Self::from_bytes(BUILTIN_FAST, Path::new("the built-in fast model"))
        } else {
            Self::load_or_builtin(path, BUILTIN)
        }
    }

    /// The encoder of a feature network: its layers up to [`ENCODER_LAYER`].
    pub fn encoder_of(net: FeatureNet) -> (FeatureNet, AdaInArch) {
        let arch = AdaInArch::of(&net.vgg);
        (
            FeatureNet {
                vgg: net.vgg.truncated(encoder_depth()),
                source: net.source,
            },
            arch,
        )
    }

    /// Refuses a picture whose pass would not fit in the memory that is free.
    pub fn check_memory(&self, picture: &RgbImage) -> Result<()> {
        super::check_pass_memory(picture, self.arch.widths[0])
    }

    /// Encoder features at conv4_1.
    pub fn encode(&self, pictures: Tensor<4>) -> Tensor<4> {
        let layer = layer_index(ENCODER_LAYER).expect("the encoder layer is a VGG layer");
        self.encoder.activations(pictures, &[layer]).remove(0)
    }

    /// `content` drawn in the style of `style` (both at their own sizes);
    /// `alpha` in [0, 1] trades content features (0) for stylised ones (1).
    pub fn apply(&self, content: &RgbImage, style: &RgbImage, alpha: f32) -> RgbImage {
        let device = device_of(&self.decoder);
        let (w, h) = (content.width() as usize, content.height() as usize);
        let c = self.encode(padded_picture(content, SIDE_MULTIPLE, &device));
        let s = self.encode(padded_picture(style, SIDE_MULTIPLE, &device));
        let t = adain(c.clone(), s) * alpha as f64 + c * (1.0 - alpha as f64);
        let y = self.decoder.forward(t).slice([0..1, 0..3, 0..h, 0..w]);
        tensor_pictures(y).remove(0)
    }
}

/// What an AdaIN model file's header says of its encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct EncoderRecord {
    /// Which feature network ("Builtin" in files from before VGG-19
    /// shipped: the random one).
    #[serde(rename = "encoder")]
    source: Source,
    /// Its input normalisation (absent before VGG-19 shipped: torchvision's).
    #[serde(default = "torchvision", rename = "input")]
    norm: InputNorm,
    /// Where the encoder is the built-in VGG-19, the file has no copy of
    /// it but this fingerprint of the one it was trained with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    builtin_fingerprint: Option<String>,
    /// Whether the decoder draws the encoder's normalised input (see
    /// [`Decoder`]); absent in older files, which draw pixels.
    #[serde(default)]
    normalised_output: bool,
}

fn torchvision() -> InputNorm {
    InputNorm::TORCHVISION
}

impl SavedModel for AdaIn {
    const TASK: &'static str = TASK;

    /// A model whose encoder is the built-in VGG-19 refers to it (by
    /// fingerprint) instead of holding a 14 MB copy.
    fn to_file(&self, training: serde_json::Value) -> Result<ModelFile> {
        let builtin = self.encoder.source == Source::Builtin;
        let record = EncoderRecord {
            source: self.encoder.source.clone(),
            norm: self.encoder.vgg.norm(),
            builtin_fingerprint: builtin.then(builtin_fingerprint).transpose()?,
            normalised_output: self.decoder.normalised_output.is_some(),
        };
        let file = ModelFile::new(TASK, Vec::new(), &record, &self.arch, training)?
            .with_section(DECODER, module_to_bytes(&self.decoder)?);
        Ok(if builtin {
            file
        } else {
            file.with_section(ENCODER, module_to_bytes(&self.encoder.vgg)?)
        })
    }

    fn from_file(file: &ModelFile, path: &Path) -> Result<Self> {
        let arch: AdaInArch = file.architecture(path)?;
        arch.check()
            .map_err(|e| anyhow::anyhow!("{}'s architecture is damaged: {e}", path.display()))?;
        let record: EncoderRecord = file.preprocessing(path)?;
        record
            .norm
            .check()
            .with_context(|| format!("{}'s input normalisation is damaged", path.display()))?;
        let device = casebook_core::device::compute_device();
        let vgg = match record.builtin_fingerprint {
            Some(fingerprint) => {
                let current = builtin_fingerprint()?;
                ensure!(
                    fingerprint == current,
                    "{} was trained with another built-in VGG-19 (fingerprint {fingerprint}, this casebook's is {current}): train it again with this casebook",
                    path.display()
                );
                let (encoder, builtin_arch) =
                    Self::encoder_of(FeatureNet::builtin(arch.pool, &device)?);
                ensure!(
                    builtin_arch == arch,
                    "{}'s architecture {arch:?} is not the built-in VGG-19's",
                    path.display()
                );
                encoder.vgg
            }
            None => {
                let vgg = Vgg::zeros(arch.vgg_widths(), arch.pool, record.norm, &device)
                    .truncated(encoder_depth());
                module_from_bytes(vgg, file.section(ENCODER, path)?)?
            }
        };
        let output = record.normalised_output.then_some(record.norm);
        let decoder = module_from_bytes(
            Decoder::zeros(&arch, output, &device),
            file.section(DECODER, path)?,
        )?;
        Ok(Self {
            arch,
            encoder: FeatureNet {
                vgg,
                source: record.source,
            },
            decoder,
            record: file.meta.training.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use casebook_core::tensor::values;

    #[test]
    fn adain_gives_the_content_the_style_statistics() {
        let device = Device::flex();
        // Channel 0 of the content: 1, 2, 3, 4 (mean 2.5, std √1.25).
        let content = Tensor::<4>::from_data(
            TensorData::new(vec![1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 2.0, 2.0], [1, 2, 2, 2]),
            &device,
        );
        let style = Tensor::<4>::from_data(
            TensorData::new(
                vec![10.0, 10.0, 14.0, 14.0, -1.0, 1.0, -1.0, 1.0],
                [1, 2, 2, 2],
            ),
            &device,
        );
        let out = adain(content, style.clone());
        let (mean, std) = mean_std(out.clone());
        let (want_mean, want_std) = mean_std(style);
        for (a, b) in values(mean).iter().zip(values(want_mean)) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        for (a, b) in values(std).iter().zip(values(want_std)) {
            assert!((a - b).abs() < 1e-2, "{a} vs {b}");
        }
        // The order within a channel is the content's: 1 < 2 < 3 < 4.
        let v = values(out);
        assert!(v[0] < v[1] && v[1] < v[2] && v[2] < v[3], "{v:?}");
    }

    fn small_model_file() -> casebook_core::model_file::ModelFile {
        let device = casebook_core::device::compute_device();
        let net = FeatureNet {
            vgg: Vgg::random([2, 3, 4, 5, 5], 1, Pool::Average, &device),
            source: Source::Random,
        };
        let (encoder, arch) = AdaIn::encoder_of(net);
        let model = AdaIn {
            arch,
            encoder,
            decoder: Decoder::new(&arch, InputNorm::TORCHVISION, 2, &device),
            record: serde_json::json!({}),
        };
        model.to_file(serde_json::json!({})).unwrap()
    }

    #[test]
    fn a_model_on_the_builtin_vgg19_refers_to_it_and_draws_the_same_after_loading() {
        let device = casebook_core::device::compute_device();
        let (encoder, arch) = AdaIn::encoder_of(FeatureNet::builtin(Pool::Max, &device).unwrap());
        let model = AdaIn {
            arch,
            encoder,
            decoder: Decoder::new(&arch, InputNorm::CAFFE, 2, &device),
            record: serde_json::json!({}),
        };
        let file = model.to_file(serde_json::json!({})).unwrap();
        assert!(
            file.section(ENCODER, Path::new("m")).is_err(),
            "no copy of the encoder"
        );
        let bytes = file.to_bytes();
        assert!(bytes.len() < 15_000_000, "{} bytes", bytes.len());
        let back = AdaIn::from_bytes(&bytes, Path::new("m")).unwrap();
        let picture = RgbImage::from_fn(24, 16, |x, y| {
            image::Rgb([(x * 9) as u8, (y * 13) as u8, 90])
        });
        let style = RgbImage::from_fn(16, 16, |x, _| image::Rgb([200, (x * 15) as u8, 30]));
        assert_eq!(
            model.apply(&picture, &style, 0.7),
            back.apply(&picture, &style, 0.7)
        );

        let mut other = file.clone();
        other.meta.preprocessing["builtin_fingerprint"] = serde_json::json!("00000000");
        let err = AdaIn::from_bytes(&other.to_bytes(), Path::new("m")).unwrap_err();
        assert!(
            format!("{err:#}").contains("trained with another built-in VGG-19"),
            "{err:#}"
        );
    }

    /// Files from before the built-in VGG-19 name no input normalisation
    /// and have decoders that draw pixels: they load as such.
    #[test]
    fn older_files_load_with_torchvisions_normalisation_and_pixel_decoders() {
        let file = small_model_file();
        let new = AdaIn::from_bytes(&file.to_bytes(), Path::new("new")).unwrap();
        assert_eq!(new.decoder.normalised_output, Some(InputNorm::TORCHVISION));
        let mut old = file.clone();
        old.meta.preprocessing = serde_json::json!({ "encoder": "Builtin" });
        let old = AdaIn::from_bytes(&old.to_bytes(), Path::new("old")).unwrap();
        assert_eq!(old.encoder.source, Source::Random);
        assert_eq!(old.encoder.vgg.norm(), InputNorm::TORCHVISION);
        assert_eq!(old.decoder.normalised_output, None);
    }

    /// Loads an edited model file and, where it loads, draws a picture:
    /// false when that panicked.
    fn refused_or_works(edited: &casebook_core::model_file::ModelFile) -> bool {
        let picture = RgbImage::from_pixel(16, 12, image::Rgb([200, 120, 40]));
        std::panic::catch_unwind(|| {
            if let Ok(model) = AdaIn::from_bytes(&edited.to_bytes(), Path::new("edited")) {
                model.apply(&picture, &picture, 0.5);
            }
        })
        .is_ok()
    }

    /// Every hostile edit of any header value is refused with an error or
    /// loads as a model that draws: never a panic.
    #[test]
    fn every_edited_header_value_is_refused_or_works() {
        let file = small_model_file();
        let edits = casebook_core::model_file::header_edits(&file);
        assert!(edits.len() >= 10, "{} edits", edits.len());
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
