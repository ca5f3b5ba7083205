//! Pictures in and out: loading at a working size, writing atomically,
//! and keeping the content's colours.

use std::path::Path;

use anyhow::{bail, ensure, Result};
use image::imageops::FilterType;
use image::RgbImage;

/// Vincent van Gogh's *The Starry Night* (1889, public domain), 384×240:
/// the style the demo uses (sources in `assets/SOURCES.md`).
pub const STARRY_NIGHT: &[u8] = include_bytes!("../assets/starry_night.jpg");

/// The built-in painting, decoded.
pub fn starry_night() -> RgbImage {
    image::load_from_memory(STARRY_NIGHT)
        .expect("the built-in painting decodes")
        .to_rgb8()
}

/// Pictures smaller than this on either side have too few pixels for the
/// network's four poolings (a 16-pixel side is 1 pixel at block 5).
pub const MIN_SIDE: u32 = 16;

/// Reads a picture and scales it so its longer side is `size` pixels
/// (aspect ratio kept).
pub fn load_picture(path: &Path, size: u32) -> Result<RgbImage> {
    Ok(resize_longer_side(&load_picture_as_is(path)?, size))
}

/// Reads a picture at its own size (at least [`MIN_SIDE`] a side).
pub fn load_picture_as_is(path: &Path) -> Result<RgbImage> {
    let picture = casebook_vision::read_rgb(path)
        .map_err(|why| anyhow::anyhow!("cannot read {} as an image: {why}", path.display()))?;
    checked_side(picture, &path.display().to_string())
}

/// Decodes a picture file's bytes (`what` names it in errors) at its own
/// size (at least [`MIN_SIDE`] a side).
pub fn picture_from_bytes(bytes: &[u8], what: &str) -> Result<RgbImage> {
    let picture = casebook_vision::decode_rgb(bytes)
        .map_err(|why| anyhow::anyhow!("cannot read {what} as an image: {why}"))?;
    checked_side(picture, what)
}

fn checked_side(picture: RgbImage, what: &str) -> Result<RgbImage> {
    let (w, h) = picture.dimensions();
    ensure!(
        w.min(h) >= MIN_SIDE,
        "{what} is {w}×{h} pixels; style transfer needs at least {MIN_SIDE} on each side"
    );
    Ok(picture)
}

/// Scales so the longer side is `size`, keeping the aspect ratio (each side
/// at least [`MIN_SIDE`]).
pub fn resize_longer_side(picture: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = picture.dimensions();
    let scale = size as f64 / w.max(h) as f64;
    let side = |s: u32| ((s as f64 * scale).round() as u32).max(MIN_SIDE);
    if (side(w), side(h)) == (w, h) {
        return picture.clone();
    }
    image::imageops::resize(picture, side(w), side(h), FilterType::CatmullRom)
}

/// Writes a picture atomically; the format follows the extension (PNG or
/// JPEG).
pub fn save_picture(path: &Path, picture: &RgbImage) -> Result<()> {
    let format = check_picture_path(path)?;
    let mut bytes = Vec::new();
    picture.write_to(&mut std::io::Cursor::new(&mut bytes), format)?;
    casebook_core::fsx::write_atomic(path, &bytes)
}

/// The picture format a path's extension asks for (.png, .jpg, .jpeg).
pub fn check_picture_path(path: &Path) -> Result<image::ImageFormat> {
    Ok(
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("png") => image::ImageFormat::Png,
            Some("jpg" | "jpeg") => image::ImageFormat::Jpeg,
            _ => bail!(
                "cannot tell the picture format of {}; name it .png or .jpg",
                path.display()
            ),
        },
    )
}

/// The result's luminance with the content's colour (chroma): the
/// luminance-only variant of Gatys et al., "Preserving Color in Neural
/// Artistic Style Transfer" (2016), done after the transfer in YCbCr
/// (BT.601). The content is resized to the result's size if they differ.
pub fn preserve_colours(result: &RgbImage, content: &RgbImage) -> RgbImage {
    let content = if content.dimensions() == result.dimensions() {
        content.clone()
    } else {
        image::imageops::resize(
            content,
            result.width(),
            result.height(),
            FilterType::CatmullRom,
        )
    };
    RgbImage::from_fn(result.width(), result.height(), |x, y| {
        let (luma, _, _) = ycbcr(result.get_pixel(x, y));
        let (_, cb, cr) = ycbcr(content.get_pixel(x, y));
        rgb(luma, cb, cr)
    })
}

fn ycbcr(p: &image::Rgb<u8>) -> (f32, f32, f32) {
    let [r, g, b] = p.0.map(f32::from);
    (
        0.299 * r + 0.587 * g + 0.114 * b,
        -0.168_736 * r - 0.331_264 * g + 0.5 * b,
        0.5 * r - 0.418_688 * g - 0.081_312 * b,
    )
}

fn rgb(y: f32, cb: f32, cr: f32) -> image::Rgb<u8> {
    let channel = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    image::Rgb([
        channel(y + 1.402 * cr),
        channel(y - 0.344_136 * cb - 0.714_136 * cr),
        channel(y + 1.772 * cb),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_comes_from_the_content_and_brightness_from_the_result() {
        let result = RgbImage::from_pixel(4, 4, image::Rgb([200, 200, 200]));
        let content = RgbImage::from_pixel(8, 8, image::Rgb([90, 30, 30]));
        let kept = preserve_colours(&result, &content);
        assert_eq!(kept.dimensions(), (4, 4));
        let p = kept.get_pixel(1, 1);
        assert!(p[0] > p[1] + 50 && p[1] == p[2], "reddish: {p:?}");
        let (luma, _, _) = ycbcr(p);
        assert!((luma - 200.0).abs() < 1.5, "bright as the result: {luma}");
        // Grey in, the same grey out.
        let grey = image::Rgb([120, 120, 120]);
        let (y, cb, cr) = ycbcr(&grey);
        assert_eq!(rgb(y, cb, cr), grey);
    }

    #[test]
    fn the_built_in_painting_decodes() {
        assert_eq!(starry_night().dimensions(), (384, 240));
    }

    #[test]
    fn the_longer_side_gets_the_size_and_the_aspect_is_kept() {
        let wide = RgbImage::new(400, 100);
        assert_eq!(resize_longer_side(&wide, 200).dimensions(), (200, 50));
        assert_eq!(resize_longer_side(&wide, 32).dimensions(), (32, MIN_SIDE));
    }
}
