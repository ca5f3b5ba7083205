//! Images to tensors: crop (random for training, centre otherwise), flip,
//! colour jitter, normalise per channel, lay out as `[batch, 3, h, w]`.

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Images are loaded this much larger than the network input so training can
/// take random crops (fastai-style "resize then random crop").
/// The largest network input side casebook trains or loads: a 1024² batch of
/// 64 is already 800 MB of input alone.
pub const MAX_RESOLUTION: u32 = 1024;

pub fn load_size(resolution: u32) -> u32 {
    resolution + resolution / 8
}

/// Per-channel mean and standard deviation of the training images (0..1 scale).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalization {
    /// Whether these statistics could come from [`Normalization::fit`] (a
    /// model file is untrusted: a zero std turns every input into NaN).
    pub fn is_sound(&self) -> bool {
        self.mean.iter().all(|m| (0.0..=1.0).contains(m))
            && self.std.iter().all(|s| (1e-4..=1.0).contains(s))
    }

    pub fn fit(images: &[RgbImage]) -> Self {
        let mut sum = [0f64; 3];
        let mut sq = [0f64; 3];
        let mut n = 0f64;
        for img in images {
            for p in img.pixels() {
                for c in 0..3 {
                    let v = p.0[c] as f64 / 255.0;
                    sum[c] += v;
                    sq[c] += v * v;
                }
                n += 1.0;
            }
        }
        let n = n.max(1.0);
        let mean = sum.map(|s| (s / n) as f32);
        let std = [0, 1, 2].map(|c| (sq[c] / n - (sum[c] / n).powi(2)).max(1e-6).sqrt() as f32);
        Self { mean, std }
    }
}

/// Training-time augmentation: random crop, horizontal flip, colour jitter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    pub flip: bool,
    /// Brightness and contrast are scaled by a factor in 1 ± jitter. Kept
    /// small by default: overall brightness is evidence for day versus night.
    pub jitter: f32,
}

impl Default for Augment {
    fn default() -> Self {
        Self {
            flip: true,
            jitter: 0.1,
        }
    }
}

/// Builds a batch tensor from images of side `load_size(resolution)`.
/// With `augment`, crops and jitter are random (drawn from `rng`); without,
/// the centre crop is used, as at evaluation and prediction time.
pub fn to_tensor(
    images: &[&RgbImage],
    resolution: u32,
    norm: &Normalization,
    augment: Option<(&Augment, &mut dyn rand::RngCore)>,
    device: &Device,
) -> Tensor<4> {
    let r = resolution as usize;
    let mut data = vec![0f32; images.len() * 3 * r * r];
    let mut augment = augment;
    for (b, img) in images.iter().enumerate() {
        let (w, h) = img.dimensions();
        let (max_x, max_y) = (w.saturating_sub(resolution), h.saturating_sub(resolution));
        let (ox, oy, flip, gain, contrast) = match augment.as_mut() {
            Some((aug, rng)) => (
                rng.gen_range(0..=max_x),
                rng.gen_range(0..=max_y),
                aug.flip && rng.gen_bool(0.5),
                1.0 + rng.gen_range(-aug.jitter..=aug.jitter),
                1.0 + rng.gen_range(-aug.jitter..=aug.jitter),
            ),
            None => (max_x / 2, max_y / 2, false, 1.0, 1.0),
        };
        let base = b * 3 * r * r;
        for y in 0..r {
            for x in 0..r {
                let sx = if flip { r - 1 - x } else { x };
                let p = img.get_pixel(
                    (ox as usize + sx).min(w as usize - 1) as u32,
                    (oy as usize + y).min(h as usize - 1) as u32,
                );
                for c in 0..3 {
                    let v = p.0[c] as f32 / 255.0;
                    let v = ((v - 0.5) * contrast + 0.5) * gain;
                    data[base + c * r * r + y * r + x] = (v - norm.mean[c]) / norm.std[c];
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(data, [images.len(), 3, r, r]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_crop_and_normalisation() {
        let device = Device::flex();
        let mut img = RgbImage::from_pixel(9, 9, image::Rgb([0, 0, 0]));
        img.put_pixel(4, 4, image::Rgb([255, 255, 255]));
        let norm = Normalization {
            mean: [0.5; 3],
            std: [0.5; 3],
        };
        let t = to_tensor(&[&img], 8, &norm, None, &device);
        assert_eq!(t.dims(), [1, 3, 8, 8]);
        let v = casebook_core::tensor::values(t);
        // Offset (0, 0) for a 9 -> 8 centre crop, so pixel (4, 4) stays at (4, 4).
        assert_eq!(v[4 * 8 + 4], 1.0);
        assert_eq!(v[0], -1.0);
    }

    #[test]
    fn normalization_fits_mean_and_std() {
        let a = RgbImage::from_pixel(2, 2, image::Rgb([0, 0, 0]));
        let b = RgbImage::from_pixel(2, 2, image::Rgb([255, 255, 255]));
        let n = Normalization::fit(&[a, b]);
        assert!((n.mean[0] - 0.5).abs() < 1e-6 && (n.std[0] - 0.5).abs() < 1e-6);
    }
}
