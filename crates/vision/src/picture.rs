//! Pictures of any size as tensors and back: `[batch, 3, h, w]` with RGB
//! values in [0, 1], the form that generated pictures (style transfer) are
//! optimised and produced in.

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

/// One picture as a `[1, 3, h, w]` tensor with values in [0, 1].
pub fn picture_tensor(picture: &RgbImage, device: &Device) -> Tensor<4> {
    pictures_tensor(std::slice::from_ref(picture), device)
}

/// Pictures of one size as a `[batch, 3, h, w]` tensor with values in [0, 1].
pub fn pictures_tensor(pictures: &[RgbImage], device: &Device) -> Tensor<4> {
    let (w, h) = pictures.first().map_or((0, 0), |p| p.dimensions());
    assert!(
        pictures.iter().all(|p| p.dimensions() == (w, h)),
        "pictures in one tensor have one size"
    );
    let plane = (w * h) as usize;
    let mut data = vec![0f32; pictures.len() * 3 * plane];
    for (picture, out) in pictures.iter().zip(data.chunks_mut(3 * plane)) {
        for (i, pixel) in picture.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = pixel[c] as f32 / 255.0;
            }
        }
    }
    Tensor::from_data(
        TensorData::new(data, [pictures.len(), 3, h as usize, w as usize]),
        device,
    )
}

/// The pictures of a `[batch, 3, h, w]` tensor, values clamped to [0, 1]
/// and rounded to 8 bits.
pub fn tensor_pictures(pictures: Tensor<4>) -> Vec<RgbImage> {
    let [batch, channels, h, w] = pictures.dims();
    assert_eq!(channels, 3, "pictures have 3 channels");
    let values = casebook_core::tensor::values(pictures);
    let plane = h * w;
    (0..batch)
        .map(|b| {
            let base = b * 3 * plane;
            RgbImage::from_fn(w as u32, h as u32, |x, y| {
                let i = y as usize * w + x as usize;
                image::Rgb(std::array::from_fn(|c| {
                    (values[base + c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8
                }))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_round_trips_through_a_tensor() {
        let picture = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 50, y as u8 * 80, 7]));
        let t = picture_tensor(&picture, &Device::flex());
        assert_eq!(t.dims(), [1, 3, 3, 5]);
        assert_eq!(tensor_pictures(t)[0], picture);
    }
}
