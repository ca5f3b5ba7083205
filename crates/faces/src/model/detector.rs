//! The face detector: dlib's MMOD CNN (`mmod_human_face_detector`) as a burn
//! module, with dlib's pre- and post-processing around it.
//!
//! The network (from `dnn_mmod_face_detection_ex.cpp`) is three 5×5 stride-2
//! convolutions (16, 32, 32 filters) that shrink the image 8×, three 5×5
//! convolutions of 45 filters, and a 9×9 convolution to one score map; each
//! but the last is followed by an affine layer and a ReLU. It reads the image
//! and its 5/6-scaled copies tiled into one picture ([`crate::pyramid`]), so
//! one pass finds faces of every size from about 40 px up; every positive
//! score is an 80×80 window at its level, mapped back to the image, then
//! non-max suppression keeps the best of overlapping boxes.

use std::path::Path;

use anyhow::{bail, Result};
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor, TensorData};
use casebook_vision::conv::conv2d_forward;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use casebook_core::checkpoint::{module_from_bytes, module_to_bytes};
use casebook_core::device::compute_device;
use casebook_core::model_file::{ModelFile, SavedModel, WEIGHTS};

use super::{conv, ConvAffine, LayerQueue};
use crate::dlib::dnn::{Input, Layer, Loss, Net};
use crate::geometry::Rect;
use crate::pyramid::{point_down_from_upsampled, pyramid_up, tiled_pyramid};

/// (kernel, stride, channels out) of the network's convolutions in order; the
/// last is the score map. Padding follows dlib's rule (k/2 at stride 1, else 0).
const LAYERS: [(usize, usize, usize); 7] = [
    (5, 2, 16),
    (5, 2, 32),
    (5, 2, 32),
    (5, 1, 45),
    (5, 1, 45),
    (5, 1, 45),
    (9, 1, 1),
];

/// Each pyramid level is this much larger than the next (dlib's `pyramid_down<6>`).
const LEVEL_RATIO: f64 = 6.0 / 5.0;

#[derive(Module, Debug)]
pub struct DetectorNet {
    features: Vec<ConvAffine>,
    scores: Conv2d,
}

impl DetectorNet {
    pub fn new(device: &Device) -> Self {
        let mut channels = 3;
        let mut features = Vec::new();
        for &(kernel, stride, filters) in &LAYERS[..LAYERS.len() - 1] {
            features.push(ConvAffine::new([channels, filters], kernel, stride, device));
            channels = filters;
        }
        let (kernel, stride, filters) = LAYERS[LAYERS.len() - 1];
        Self {
            features,
            scores: conv([channels, filters], kernel, stride, device),
        }
    }

    /// `[batch, 3, h, w]` → `[batch, 1, h', w']` raw scores (> 0 = face).
    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        for layer in &self.features {
            x = layer.forward_relu(x);
        }
        conv2d_forward(&self.scores, x)
    }

    /// This network for inference: every affine folded into its
    /// convolution ([`ConvAffine::folded`]).
    pub fn folded(&self) -> Self {
        Self {
            features: self.features.iter().map(ConvAffine::folded).collect(),
            scores: self.scores.clone(),
        }
    }
}

/// Decoding settings that travel with the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorSettings {
    /// Per-channel pixel means subtracted before the /256 scaling.
    pub mean: [f32; 3],
    /// The detection window in pixels at its pyramid level.
    pub window: [usize; 2],
    /// Non-max suppression: overlap / enclosing-box area above which the lower-scored box goes.
    pub nms_overlap: f64,
    /// Or overlap / either box's area above this.
    pub nms_covered: f64,
    pub pyramid_padding: usize,
    pub pyramid_outer_padding: usize,
}

/// A face box in image pixels (inclusive corners; may extend past the image)
/// and the network's score for it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub rect: Rect,
    pub score: f32,
}

pub struct Detector {
    /// The network as saved.
    pub net: DetectorNet,
    /// `net` folded for inference ([`DetectorNet::folded`]).
    inference: DetectorNet,
    pub settings: DetectorSettings,
    device: Device,
}

pub const TASK: &str = "face-detector";

/// The architecture record: the one network this build knows.
#[derive(Debug, Serialize, Deserialize)]
struct Architecture {
    network: String,
}

const NETWORK: &str = "dlib-mmod-5x5";

impl SavedModel for Detector {
    const TASK: &'static str = TASK;

    fn to_file(&self, training: serde_json::Value) -> Result<ModelFile> {
        let arch = Architecture {
            network: NETWORK.into(),
        };
        Ok(
            ModelFile::new(TASK, Vec::new(), &self.settings, &arch, training)?
                .with_section(WEIGHTS, module_to_bytes(&self.net)?),
        )
    }

    fn from_file(file: &ModelFile, path: &Path) -> Result<Self> {
        let arch: Architecture = file.architecture(path)?;
        let settings: DetectorSettings = file.preprocessing(path)?;
        if arch.network != NETWORK {
            bail!(
                "{} holds a {} detector; this casebook knows {NETWORK}",
                path.display(),
                arch.network
            );
        }
        let s = &settings;
        let sound = s.window.iter().all(|w| (8..=1024).contains(w))
            && s.nms_overlap.is_finite()
            && s.nms_covered.is_finite()
            // Without padding between levels, the tiled pyramid's first
            // column is empty and the layout has no level 0.
            && (1..=1024).contains(&s.pyramid_padding)
            && s.pyramid_outer_padding <= 1024
            && s.mean.iter().all(|m| m.is_finite());
        if !sound {
            bail!("{}'s detector settings are damaged ({s:?})", path.display());
        }
        let device = compute_device();
        let net = module_from_bytes(DetectorNet::new(&device), file.section(WEIGHTS, path)?)?;
        Ok(Self::new(net, settings, &device))
    }
}

impl Detector {
    pub fn new(net: DetectorNet, settings: DetectorSettings, device: &Device) -> Self {
        Self {
            inference: net.folded(),
            net,
            settings,
            device: device.clone(),
        }
    }

    /// dlib's detector from its `.dat` bytes; every layer is checked.
    pub fn from_dlib(bytes: &[u8]) -> Result<Self> {
        Self::from_dlib_net(&crate::dlib::dnn::parse(bytes)?, &compute_device())
    }

    fn from_dlib_net(net: &Net, device: &Device) -> Result<Self> {
        let (
            Loss::Mmod(options),
            Input::RgbPyramid {
                mean,
                padding,
                outer_padding,
            },
        ) = (&net.loss, &net.input)
        else {
            anyhow::bail!("not dlib's MMOD detector: expected an mmod loss over a pyramid input");
        };
        anyhow::ensure!(
            options.windows.len() == 1 && !options.bounding_box_regression,
            "this MMOD detector has {} windows{}; casebook reads one window without box regression",
            options.windows.len(),
            if options.bounding_box_regression {
                " and box regression"
            } else {
                ""
            }
        );
        let mut layers = LayerQueue::new(&net.layers);
        let mut channels = 3;
        let mut features = Vec::new();
        for &(kernel, stride, filters) in &LAYERS[..LAYERS.len() - 1] {
            features.push(layers.conv_affine([channels, filters], kernel, stride, device)?);
            layers.fixed(Layer::Relu, "relu")?;
            channels = filters;
        }
        let (kernel, stride, filters) = LAYERS[LAYERS.len() - 1];
        let scores = layers.conv([channels, filters], kernel, stride, device)?;
        layers.finish()?;
        anyhow::ensure!(
            net.wrappers == net.layers.len(),
            "the detector has tags or skips dlib's does not"
        );
        let (w, h) = options.windows[0];
        let settings = DetectorSettings {
            mean: *mean,
            window: [w, h],
            nms_overlap: options.nms_iou,
            nms_covered: options.nms_covered,
            pyramid_padding: *padding,
            pyramid_outer_padding: *outer_padding,
        };
        Ok(Self::new(
            DetectorNet { features, scores },
            settings,
            device,
        ))
    }

    /// Faces in `image`, best first. `upsample` doubles the image that many
    /// times first (dlib's `upsample_num_times`: finds faces down to ~20 px
    /// at 1, ~10 px at 2, at 4× and 16× the work).
    pub fn detect(&self, image: &RgbImage, upsample: usize) -> Vec<Detection> {
        let mut scaled = image.clone();
        for _ in 0..upsample {
            scaled = pyramid_up(&scaled);
        }
        let mut detections = self.detect_at_scale(&scaled);
        for detection in &mut detections {
            let mut corners = [
                detection.rect.left as f64,
                detection.rect.top as f64,
                detection.rect.right as f64,
                detection.rect.bottom as f64,
            ];
            for _ in 0..upsample {
                let (l, t) = point_down_from_upsampled(corners[0], corners[1]);
                let (r, b) = point_down_from_upsampled(corners[2], corners[3]);
                corners = [l, t, r, b];
            }
            detection.rect = round_rect(corners);
        }
        detections
    }

    fn detect_at_scale(&self, image: &RgbImage) -> Vec<Detection> {
        let s = &self.settings;
        let (planes, levels) =
            tiled_pyramid(image, s.mean, s.pyramid_padding, s.pyramid_outer_padding);
        let Some(first) = planes.first() else {
            return Vec::new();
        };
        let (height, width) = (first.height, first.width);
        // Too small for the network's 8× reduction and its kernels.
        if output_size(height) == 0 || output_size(width) == 0 {
            return Vec::new();
        }
        let data: Vec<f32> = planes.into_iter().flat_map(|p| p.data).collect();
        let input =
            Tensor::<4>::from_data(TensorData::new(data, [1, 3, height, width]), &self.device);
        let output = self.inference.forward(input);
        let [_, _, rows, cols] = output.dims();
        let scores = casebook_core::tensor::values(output);
        let mut candidates = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                let score = scores[r * cols + c];
                if score > 0.0 {
                    let rect =
                        self.window_in_image(output_to_input(c), output_to_input(r), &levels);
                    candidates.push(Detection { rect, score });
                }
            }
        }
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut kept: Vec<Detection> = Vec::new();
        for candidate in candidates {
            if !kept.iter().any(|k| self.overlaps(&k.rect, &candidate.rect)) {
                kept.push(candidate);
            }
        }
        kept
    }

    /// The window centred on a tiled-picture point, mapped from its pyramid
    /// level back to the image (dlib's `tiled_pyramid_to_image`).
    fn window_in_image(&self, x: f64, y: f64, levels: &[Rect]) -> Rect {
        let [w, h] = self.settings.window;
        let (half_w, half_h) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
        let level = nearest_level(levels, x.round() as i64, y.round() as i64);
        let origin = &levels[level];
        let mut corners = [
            x - half_w - origin.left as f64,
            y - half_h - origin.top as f64,
            x + half_w - origin.left as f64,
            y + half_h - origin.top as f64,
        ];
        for _ in 0..level {
            corners = corners.map(|v| v * LEVEL_RATIO + 0.3);
        }
        round_rect(corners)
    }

    /// dlib's `test_box_overlap` as used for non-max suppression.
    fn overlaps(&self, kept: &Rect, candidate: &Rect) -> bool {
        let inner = kept.intersection(candidate).area() as f64;
        if inner == 0.0 {
            return false;
        }
        let outer = kept.union(candidate).area() as f64;
        inner / outer > self.settings.nms_overlap
            || inner / kept.area() as f64 > self.settings.nms_covered
            || inner / candidate.area() as f64 > self.settings.nms_covered
    }
}

/// Rounds corners half away from zero, as dlib's drectangle → rectangle.
fn round_rect([l, t, r, b]: [f64; 4]) -> Rect {
    Rect {
        left: l.round() as i64,
        top: t.round() as i64,
        right: r.round() as i64,
        bottom: b.round() as i64,
    }
}

/// The network's output size along one axis for an input of `n`.
fn output_size(n: usize) -> usize {
    LAYERS.iter().fold(n as i64, |n, &(kernel, stride, _)| {
        let pad = if stride == 1 { kernel / 2 } else { 0 } as i64;
        if n + 2 * pad < kernel as i64 {
            0
        } else {
            (n + 2 * pad - kernel as i64) / stride as i64 + 1
        }
    }) as usize
}

/// Where an output cell's receptive field is centred in the input
/// (dlib's `map_output_to_input` through every convolution): 8i + 14.
fn output_to_input(i: usize) -> f64 {
    LAYERS
        .iter()
        .rev()
        .fold(i as f64, |x, &(kernel, stride, _)| {
            let pad = if stride == 1 { kernel / 2 } else { 0 };
            x * stride as f64 - pad as f64 + (kernel / 2) as f64
        })
}

/// The level whose tile holds the point, or else the nearest tile (dlib's `nearest_rect`).
fn nearest_level(levels: &[Rect], x: i64, y: i64) -> usize {
    if let Some(i) = levels.iter().position(|r| r.contains(x, y)) {
        return i;
    }
    let distance = |r: &Rect| {
        let dx = (x.clamp(r.left, r.right) - x) as f64;
        let dy = (y.clamp(r.top, r.bottom) - y) as f64;
        (dx * dx + dy * dy).sqrt()
    };
    let mut best = 0;
    for (i, r) in levels.iter().enumerate() {
        if distance(r) < distance(&levels[best]) {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_cells_map_to_dlibs_input_points() {
        assert_eq!(output_to_input(0), 14.0);
        assert_eq!(output_to_input(10), 94.0);
        // 1782×662 canvas (a 640×480 image) → 220×80 scores.
        assert_eq!((output_size(1782), output_size(662)), (220, 80));
        assert_eq!(output_size(20), 0);
    }

    #[test]
    fn windows_map_back_through_the_pyramid_as_dlib_does() {
        let device = Device::flex();
        let settings = DetectorSettings {
            mean: [0.0; 3],
            window: [80, 80],
            nms_overlap: 0.3382761351109955,
            nms_covered: 1.0,
            pyramid_padding: 10,
            pyramid_outer_padding: 11,
        };
        let detector = Detector::new(DetectorNet::new(&device), settings, &device);
        let (levels, _, _) = crate::pyramid::tiled_rects(480, 640, 10, 11);
        let at = |c: usize, r: usize| {
            detector.window_in_image(output_to_input(c), output_to_input(r), &levels)
        };
        let rect = |l, t, r, b| Rect {
            left: l,
            top: t,
            right: r,
            bottom: b,
        };
        // Vectors worked through dlib's code for a 640×480 image.
        assert_eq!(at(10, 10), rect(44, 44, 123, 123));
        assert_eq!(at(0, 0), rect(-37, -37, 43, 43));
        assert_eq!(at(20, 70), rect(149, 40, 243, 135));
        assert_eq!(at(70, 200), rect(349, -11, 546, 185));
    }
}
