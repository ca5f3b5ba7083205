//! Style transfer by optimisation (Gatys et al., 2016): the network stays
//! fixed and the picture's pixels are optimised to minimise
//! `content_weight·J_content + style_weight·J_style + tv_weight·J_tv`.
//!
//! Both feature losses are *relative*: the content loss is divided by the
//! mean square of the content's activations, each style layer's loss by the
//! mean square of its target Gram matrix. A relative error of 1 means "as
//! far off as the target is large", on any feature network, so the default
//! weights carry across VGG-19 and the built-in random network (whose
//! activations have quite different scales).

use anyhow::{ensure, Result};
use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams, LBFGSConfig, LineSearchFn};
use burn::tensor::{Device, Tensor, TensorData};
use casebook_core::choice::Choice;
use casebook_core::config::{require, require_non_negative, require_positive, InvalidConfig};
use casebook_core::observe::Observer;
use casebook_core::tensor::{device_of, values};
use casebook_vision::picture::{picture_tensor, tensor_pictures};
use image::RgbImage;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::data::{preserve_colours, resize_longer_side};
use crate::loss::{relative_content_loss, total_variation, StyleGrams};
use crate::model::{layer_index, FeatureNet, CONTENT_LAYER, STYLE_LAYERS};

/// Where the optimised picture starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// The content picture: converges in fewer iterations.
    Content,
    /// Uniform noise (Gatys et al.): more varied, needs more iterations.
    Noise,
}

impl Choice for Init {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (
            Self::Content,
            "content",
            "start from the content picture (fewer iterations)",
        ),
        (
            Self::Noise,
            "noise",
            "start from uniform noise (Gatys et al.; more iterations)",
        ),
    ];
}

/// How the pixels are optimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Adam,
    /// L-BFGS with a strong-Wolfe line search (neural-style's default);
    /// one iteration may evaluate the network several times.
    Lbfgs,
}

impl Choice for Method {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (
            Self::Adam,
            "adam",
            "Adam on the pixels; one network evaluation per iteration",
        ),
        (
            Self::Lbfgs,
            "lbfgs",
            "L-BFGS with line search (neural-style's default); several evaluations per iteration",
        ),
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferConfig {
    /// Longer side of the result in pixels (the style picture is scaled to
    /// the same longer side).
    pub size: u32,
    pub iterations: usize,
    pub content_weight: f32,
    pub style_weight: f32,
    pub tv_weight: f32,
    pub init: Init,
    pub method: Method,
    /// Step size: for Adam in pixel units (pixels are in [0, 1]); for
    /// L-BFGS a multiplier of its step (1 is the usual choice).
    pub learning_rate: f64,
    /// Keep the content's colours (see [`preserve_colours`]).
    pub preserve_colours: bool,
    pub seed: u64,
}

impl Default for TransferConfig {
    fn default() -> Self {
        Self {
            size: 256,
            iterations: 300,
            content_weight: 1.0,
            style_weight: 30.0,
            tv_weight: 1.0,
            init: Init::Content,
            method: Method::Adam,
            learning_rate: 0.02,
            preserve_colours: false,
            seed: 0,
        }
    }
}

impl TransferConfig {
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        require(
            self.size >= crate::data::MIN_SIDE,
            "size",
            format!("must be at least {} pixels", crate::data::MIN_SIDE),
        )?;
        require(self.iterations >= 1, "iterations", "must be at least 1")?;
        require_positive(self.learning_rate, "learning_rate")?;
        require_non_negative(self.content_weight as f64, "content_weight")?;
        require_non_negative(self.style_weight as f64, "style_weight")?;
        require_non_negative(self.tv_weight as f64, "tv_weight")?;
        Ok(())
    }
}

/// A style picture and its share of the style target.
#[derive(Debug, Clone)]
pub struct StyleInput {
    pub picture: RgbImage,
    pub weight: f32,
}

/// The losses at one iteration (each already relative, before weighting).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Losses {
    pub iteration: usize,
    pub content: f32,
    pub style: f32,
    pub tv: f32,
    pub total: f32,
}

#[derive(Debug, Clone)]
pub struct Transfer {
    pub picture: RgbImage,
    /// Losses before each iteration, and after the last.
    pub history: Vec<Losses>,
    /// Set when the observer asked to stop: the iterations done.
    pub stopped_after: Option<usize>,
}

/// The optimised pixels, as a module so burn's optimisers can step it.
#[derive(Module, Debug)]
struct Canvas {
    pixels: Param<Tensor<4>>,
}

/// The fixed targets: the content's activations and the blended style.
struct Targets {
    content: Tensor<4>,
    style: StyleGrams,
    layers: Vec<usize>,
}

impl Targets {
    fn new(
        net: &FeatureNet,
        content: &RgbImage,
        styles: &[StyleInput],
        device: &Device,
    ) -> Result<Self> {
        let mut layers = vec![layer_index(CONTENT_LAYER)?];
        for name in STYLE_LAYERS {
            layers.push(layer_index(name)?);
        }
        let content = net.activations(picture_tensor(content, device), &layers[..1])[0]
            .clone()
            .detach();
        let style = StyleGrams::blend(
            styles
                .iter()
                .map(|s| {
                    let features =
                        net.activations(picture_tensor(&s.picture, device), &layers[1..]);
                    (features, s.weight)
                })
                .collect(),
        );
        Ok(Self {
            content,
            style,
            layers,
        })
    }

    /// Weighted total (for the gradient) and its parts.
    fn losses(
        &self,
        net: &FeatureNet,
        pixels: Tensor<4>,
        config: &TransferConfig,
    ) -> (Tensor<1>, [f32; 3]) {
        let features = net.activations(pixels.clone(), &self.layers);
        let content = relative_content_loss(features[0].clone(), self.content.clone());
        let style = self.style.loss(&features[1..]);
        let tv = total_variation(pixels);
        let parts = [
            values(content.clone())[0],
            values(style.clone())[0],
            values(tv.clone())[0],
        ];
        let total = content * config.content_weight as f64
            + style * config.style_weight as f64
            + tv * config.tv_weight as f64;
        (total, parts)
    }
}

/// Bytes one transfer iteration needs at `h`×`w`: every activation is kept
/// for the backward pass as the convolution's output and the ReLU's, and
/// the backward pass holds about as much again in gradients (measured peak
/// RSS agrees within a factor of ~1.5).
pub fn estimated_memory(net: &FeatureNet, h: usize, w: usize) -> u64 {
    let deepest = STYLE_LAYERS
        .iter()
        .chain([&CONTENT_LAYER])
        .filter_map(|l| layer_index(l).ok())
        .max()
        .unwrap_or(0);
    4 * 4 * net.vgg.activation_values(h, w, deepest)
}

/// Refuses a size whose transfer would not fit in the memory that is free
/// (estimated for a square picture of that side, the largest it can be).
pub fn check_memory(net: &FeatureNet, size: u32) -> Result<()> {
    if let Some(available) = casebook_core::device::available_memory() {
        let needed = estimated_memory(net, size as usize, size as usize);
        ensure!(
            needed < available,
            "a transfer at size {size} needs up to {:.1} GB and {:.1} GB is free; use a smaller size",
            needed as f64 / 1e9,
            available as f64 / 1e9
        );
    }
    Ok(())
}

/// Draws `content` in the style of `styles` (blended by weight). `net`
/// must live on an autodiff device; `on_frame` sees the picture every time
/// it is called for (`frame_every` iterations, and at the end).
pub fn transfer(
    net: &FeatureNet,
    content: &RgbImage,
    styles: &[StyleInput],
    config: &TransferConfig,
    frame_every: Option<usize>,
    observer: &dyn Observer,
    on_frame: &mut dyn FnMut(usize, &RgbImage) -> Result<()>,
) -> Result<Transfer> {
    config.validate()?;
    ensure!(!styles.is_empty(), "style transfer needs a style picture");
    ensure!(
        styles
            .iter()
            .all(|s| s.weight >= 0.0 && s.weight.is_finite())
            && styles.iter().map(|s| s.weight).sum::<f32>() > 0.0,
        "style weights must be ≥ 0 and not all 0"
    );
    check_memory(net, config.size)?;
    let device = device_of(&net.vgg);
    let content = resize_longer_side(content, config.size);
    let styles: Vec<StyleInput> = styles
        .iter()
        .map(|s| StyleInput {
            picture: resize_longer_side(&s.picture, config.size),
            weight: s.weight,
        })
        .collect();
    let net = FeatureNet {
        vgg: net.vgg.clone(),
        source: net.source.clone(),
    }
    .frozen();
    let targets = Targets::new(&net, &content, &styles, &device)?;
    let start = match config.init {
        Init::Content => picture_tensor(&content, &device),
        Init::Noise => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
            let (w, h) = (content.width() as usize, content.height() as usize);
            let noise: Vec<f32> = (0..3 * h * w).map(|_| rng.gen_range(0.0..1.0)).collect();
            Tensor::from_data(TensorData::new(noise, [1, 3, h, w]), &device)
        }
    };
    let mut canvas = Canvas {
        pixels: Param::from_tensor(start.require_grad()),
    };

    let mut history = Vec::new();
    let mut stopped_after = None;
    let phase = observer.phase("style transfer", config.iterations as u64);
    let frame = |canvas: &Canvas| tensor_pictures(canvas.pixels.val().detach())[0].clone();
    let record = |history: &mut Vec<Losses>, iteration: usize, parts: [f32; 3]| {
        let losses = Losses {
            iteration,
            content: parts[0],
            style: parts[1],
            tv: parts[2],
            total: config.content_weight * parts[0]
                + config.style_weight * parts[1]
                + config.tv_weight * parts[2],
        };
        phase.status(&format!(
            "content {:.4} style {:.4} total {:.4}",
            losses.content, losses.style, losses.total
        ));
        history.push(losses);
    };
    match config.method {
        Method::Adam => {
            let mut adam = AdamConfig::new().init();
            for iteration in 0..config.iterations {
                if observer.should_stop() {
                    stopped_after = Some(iteration);
                    break;
                }
                let (loss, parts) = targets.losses(&net, canvas.pixels.val(), config);
                record(&mut history, iteration, parts);
                let grads = GradientsParams::from_grads(loss.backward(), &canvas);
                canvas = adam.step(config.learning_rate, canvas, grads);
                // Pixels stay displayable: clamp after each step.
                canvas.pixels = canvas
                    .pixels
                    .map(|p| p.clamp(0.0, 1.0).detach().require_grad());
                phase.advance(1);
                if frame_every.is_some_and(|n| (iteration + 1) % n == 0) {
                    on_frame(iteration + 1, &frame(&canvas))?;
                }
            }
        }
        Method::Lbfgs => {
            let mut lbfgs = LBFGSConfig::new()
                .with_max_iter(1)
                .with_history_size(100)
                .with_line_search_fn(LineSearchFn::StrongWolfe)
                .init();
            for iteration in 0..config.iterations {
                if observer.should_stop() {
                    stopped_after = Some(iteration);
                    break;
                }
                let mut parts_now = None;
                let (next, _) = lbfgs.step(config.learning_rate, canvas, |c: Canvas| {
                    let (loss, parts) = targets.losses(&net, c.pixels.val(), config);
                    parts_now.get_or_insert(parts);
                    let value = values(loss.clone())[0] as f64;
                    // L-BFGS works on the plain backend's gradients.
                    let mut grads = GradientsParams::new();
                    let g = c
                        .pixels
                        .val()
                        .grad(&loss.backward())
                        .expect("pixels need a gradient");
                    grads.register(c.pixels.id, g);
                    (value, grads)
                });
                canvas = next;
                record(
                    &mut history,
                    iteration,
                    parts_now.expect("evaluated at least once"),
                );
                phase.advance(1);
                if frame_every.is_some_and(|n| (iteration + 1) % n == 0) {
                    on_frame(iteration + 1, &frame(&canvas))?;
                }
            }
        }
    }
    let (_, parts) = targets.losses(&net, canvas.pixels.val(), config);
    let done = stopped_after.unwrap_or(config.iterations);
    record(&mut history, done, parts);
    drop(phase);
    let mut picture = frame(&canvas);
    if config.preserve_colours {
        picture = preserve_colours(&picture, &content);
    }
    Ok(Transfer {
        picture,
        history,
        stopped_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use casebook_core::observe::Silent;

    /// Diagonal stripes in two colours: a strong, simple style.
    fn stripes(size: u32) -> RgbImage {
        RgbImage::from_fn(size, size, |x, y| {
            if (x + y) / 4 % 2 == 0 {
                image::Rgb([230, 200, 40])
            } else {
                image::Rgb([20, 40, 160])
            }
        })
    }

    /// A smooth scene: a vertical gradient with a bright disc.
    fn scene(size: u32) -> RgbImage {
        RgbImage::from_fn(size, size, |x, y| {
            let (dx, dy) = (x as f32 - size as f32 / 2.0, y as f32 - size as f32 / 3.0);
            if dx * dx + dy * dy < (size * size / 25) as f32 {
                image::Rgb([250, 240, 220])
            } else {
                let v = (255 * y / size) as u8;
                image::Rgb([v / 2, 120, 255 - v])
            }
        })
    }

    fn run(config: &TransferConfig, styles: &[StyleInput]) -> Transfer {
        let net = FeatureNet::random(Default::default(), &Device::flex().autodiff());
        transfer(
            &net,
            &scene(48),
            styles,
            config,
            None,
            &Silent,
            &mut |_, _| Ok(()),
        )
        .unwrap()
    }

    #[test]
    fn two_hundred_iterations_from_noise_cut_the_style_loss_tenfold() {
        let config = TransferConfig {
            size: 48,
            iterations: 200,
            init: Init::Noise,
            ..Default::default()
        };
        let style = [StyleInput {
            picture: stripes(48),
            weight: 1.0,
        }];
        let result = run(&config, &style);
        let (first, last) = (result.history[0], *result.history.last().unwrap());
        assert_eq!(result.history.len(), 201);
        assert!(
            first.style >= 10.0 * last.style,
            "style loss {} → {}",
            first.style,
            last.style
        );
        assert!(last.total < first.total / 5.0, "{first:?} → {last:?}");
        assert_eq!(result.picture.dimensions(), (48, 48));
    }

    #[test]
    fn the_same_seed_gives_the_same_picture_and_blends_weigh_styles() {
        let config = TransferConfig {
            size: 32,
            iterations: 3,
            init: Init::Noise,
            seed: 5,
            ..Default::default()
        };
        let one = [StyleInput {
            picture: stripes(32),
            weight: 1.0,
        }];
        let a = run(&config, &one);
        assert_eq!(a.picture, run(&config, &one).picture);
        // A second style with no share changes nothing.
        let blend = [
            one[0].clone(),
            StyleInput {
                picture: scene(32),
                weight: 0.0,
            },
        ];
        assert_eq!(a.picture, run(&config, &blend).picture);
        assert_ne!(
            a.picture,
            run(
                &TransferConfig {
                    seed: 6,
                    ..config.clone()
                },
                &one
            )
            .picture
        );
    }

    #[test]
    fn memory_grows_with_the_picture_and_a_huge_one_is_refused() {
        let net = FeatureNet::random(Default::default(), &Device::flex());
        let small = estimated_memory(&net, 64, 64);
        assert_eq!(estimated_memory(&net, 128, 128), 4 * small);
        // conv1_1 and conv1_2 at 64×64 alone: 2·32·4096 values.
        assert!(small > 4 * 4 * 2 * 32 * 4096);
        let huge = TransferConfig {
            size: 200_000,
            ..Default::default()
        };
        let picture = RgbImage::new(16, 16);
        let net = FeatureNet::random(Default::default(), &Device::flex().autodiff());
        let style = [StyleInput {
            picture: stripes(32),
            weight: 1.0,
        }];
        let err = transfer(&net, &picture, &style, &huge, None, &Silent, &mut |_, _| {
            Ok(())
        });
        assert!(format!("{:#}", err.unwrap_err()).contains("use a smaller size"));
    }

    #[test]
    fn bad_settings_name_their_field() {
        let config = TransferConfig {
            learning_rate: 0.0,
            ..Default::default()
        };
        assert_eq!(config.validate().unwrap_err().field, "learning_rate");
        let config = TransferConfig {
            tv_weight: f32::NAN,
            ..Default::default()
        };
        assert_eq!(config.validate().unwrap_err().field, "tv_weight");
    }
}
