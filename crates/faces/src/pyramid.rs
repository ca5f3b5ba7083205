//! dlib's image resampling for the detector, in dlib's exact arithmetic:
//! the bilinear `resize_image` of its SSE paths (f32 lanes in groups of
//! four, the leftover columns in f64), `pyramid_up` (the Python API's
//! `upsample_num_times`) and the tiled pyramid the MMOD network reads
//! (`create_tiled_pyramid`, `dlib/image_transforms/image_pyramid.h`).
//! Matching dlib bit for bit here is what makes detector scores agree to
//! 1e-4: `pyramid_up` truncates to u8, which shifts the image by half a
//! grey level on average.

use image::RgbImage;

use crate::geometry::Rect;

/// A single-channel f32 image, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

/// How a resize writes its values: the RGB path truncates to u8, the float
/// path keeps f32 (and computes its leftover columns partly in f32).
#[derive(Clone, Copy, PartialEq)]
enum Output {
    TruncatedBytes,
    Floats,
}

/// dlib's `resize_image(in, out, interpolate_bilinear)`: corner-aligned
/// bilinear from `src` (w×h) into `dst` (w'×h'), one channel.
fn resize_channel(
    src: &[f32],
    w: usize,
    h: usize,
    dst: &mut [f32],
    out_w: usize,
    out_h: usize,
    output: Output,
) {
    if w == 0 || h == 0 || out_w == 0 || out_h == 0 {
        return;
    }
    let x_scale = (w as f64 - 1.0) / (out_w.max(2) - 1) as f64;
    let y_scale = (h as f64 - 1.0) / (out_h.max(2) - 1) as f64;
    let at = |r: usize, c: usize| src[r * w + c];
    let mut y = -y_scale;
    for r in 0..out_h {
        y += y_scale;
        let top = y.floor() as usize;
        let bottom = (top + 1).min(h - 1);
        let tb = y - top as f64;
        let (tb32, inv_tb32) = (tb as f32, (1.0 - tb) as f32);
        let step = (4.0 * x_scale) as f32;
        let x0 = -4.0 * x_scale;
        let mut lanes = [
            x0 as f32,
            (x0 + x_scale) as f32,
            (x0 + 2.0 * x_scale) as f32,
            (x0 + 3.0 * x_scale) as f32,
        ];
        let row = &mut dst[r * out_w..(r + 1) * out_w];
        let mut c = 0;
        loop {
            for lane in &mut lanes {
                *lane += step;
            }
            let left = lanes.map(|x| x as i32); // truncation, as _mm_cvttps_epi32
            if left[3] + 1 >= w as i32 || c + 4 > out_w {
                break;
            }
            for j in 0..4 {
                let (l, rt) = (left[j] as usize, left[j] as usize + 1);
                let lr = lanes[j] - left[j] as f32;
                let inv_lr = 1.0 - lr;
                let v = inv_tb32 * inv_lr * at(top, l)
                    + inv_tb32 * lr * at(top, rt)
                    + tb32 * inv_lr * at(bottom, l)
                    + tb32 * lr * at(bottom, rt);
                row[c + j] = match output {
                    Output::TruncatedBytes => (v as i32) as u8 as f32,
                    Output::Floats => v,
                };
            }
            c += 4;
        }
        let mut x = -x_scale + c as f64 * x_scale;
        for value in &mut row[c..] {
            x += x_scale;
            let left = x.floor() as usize;
            let right = (left + 1).min(w - 1);
            let (tl, tr, bl, br) = (
                at(top, left),
                at(top, right),
                at(bottom, left),
                at(bottom, right),
            );
            *value = match output {
                Output::TruncatedBytes => {
                    let lr = x - left as f64;
                    let v = (1.0 - tb) * ((1.0 - lr) * tl as f64 + lr * tr as f64)
                        + tb * ((1.0 - lr) * bl as f64 + lr * br as f64);
                    v as u8 as f32
                }
                Output::Floats => {
                    let lr = (x - left as f64) as f32;
                    let upper = (1.0 - lr) * tl + lr * tr;
                    let lower = (1.0 - lr) * bl + lr * br;
                    ((1.0 - tb) * upper as f64 + tb * lower as f64) as f32
                }
            };
        }
    }
}

/// dlib's RGB bilinear resize (values truncated to u8).
pub fn resize_rgb(image: &RgbImage, out_w: usize, out_h: usize) -> RgbImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut out = RgbImage::new(out_w as u32, out_h as u32);
    let mut plane = vec![0f32; out_w * out_h];
    for ch in 0..3 {
        let src: Vec<f32> = image.pixels().map(|p| p[ch] as f32).collect();
        resize_channel(&src, w, h, &mut plane, out_w, out_h, Output::TruncatedBytes);
        for (p, v) in out.pixels_mut().zip(&plane) {
            p[ch] = *v as u8;
        }
    }
    out
}

/// dlib's `pyramid_up(img, pyramid_down<2>)`: (2h+1) rows × (2w+2) columns.
pub fn pyramid_up(image: &RgbImage) -> RgbImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    resize_rgb(image, 2 * w + 2, 2 * h + 1)
}

/// Maps a box found in a `pyramid_up` image back to the original image
/// (dlib's `rect_down` for `pyramid_down<2>`): q/2 − (1.25, 0.75).
pub fn point_down_from_upsampled(x: f64, y: f64) -> (f64, f64) {
    (x / 2.0 - 1.25, y / 2.0 - 0.75)
}

/// The layout of dlib's tiled pyramid for an image of `height × width`:
/// one rectangle per level (level 0 = the image), and the canvas size.
/// Levels shrink by 5/6 until one is under 5 rows high. dlib mixes unsigned
/// arithmetic into the column-break test, which wraps for small images; the
/// wrapping here is deliberate, it reproduces dlib's layout.
pub fn tiled_rects(
    height: usize,
    width: usize,
    padding: usize,
    outer_padding: usize,
) -> (Vec<Rect>, usize, usize) {
    if height == 0 || width == 0 {
        return (Vec::new(), 0, 0);
    }
    let mut sizes = vec![(height, width)];
    let (mut h, mut w) = (height, width);
    loop {
        h = ((5.0 / 6.0) * h as f64).floor() as usize;
        w = ((5.0 / 6.0) * w as f64).floor() as usize;
        if h * w == 0 || h < 5 {
            break;
        }
        sizes.push((h, w));
    }
    let pad = padding as i64;
    let total: i64 = sizes.iter().map(|&(h, _)| h as i64 + pad).sum::<i64>() - 2 * pad;
    let (h0, w0) = (height as i64, width as i64);
    let (mut column_height, mut prev_w) = (0i64, 0i64);
    for &(h, w) in &sizes {
        let narrow_enough = (w as u64)
            <= (w0 as u64)
                .wrapping_sub(prev_w as u64)
                .wrapping_sub(pad as u64);
        let tall_enough = (column_height as u64)
            .wrapping_sub(h0 as u64)
            .wrapping_mul(2)
            >= (total as u64).wrapping_sub(h0 as u64);
        if narrow_enough && tall_enough {
            break;
        }
        column_height += h as i64 + pad;
        prev_w = w as i64;
    }
    column_height -= pad;
    let outer = outer_padding as i64;
    let (canvas_h, canvas_w) = (column_height + 2 * outer, w0 + 2 * outer);
    let mut rects = Vec::with_capacity(sizes.len());
    let mut y = outer;
    let mut levels = sizes.iter().map(|&(h, w)| (h as i64, w as i64)).peekable();
    // The first column, left-aligned, going down.
    while y < column_height + outer {
        let Some((h, w)) = levels.next() else { break };
        rects.push(Rect {
            left: outer,
            top: y,
            right: outer + w - 1,
            bottom: y + h - 1,
        });
        y += h + pad;
    }
    y -= pad;
    // The second column, right-aligned, going up until it would touch level 0.
    for (h, w) in levels {
        let rect = Rect {
            left: outer + w0 - w,
            top: y - h,
            right: outer + w0 - 1,
            bottom: y - 1,
        };
        if rect.intersects(&rects[0]) {
            break;
        }
        rects.push(rect);
        y -= h + pad;
    }
    (rects, canvas_h as usize, canvas_w as usize)
}

/// The network input for `image`: the tiled pyramid of (pixel − mean)/256,
/// three planes of `canvas` size, each level resized from the one before.
pub fn tiled_pyramid(
    image: &RgbImage,
    mean: [f32; 3],
    padding: usize,
    outer_padding: usize,
) -> (Vec<Plane>, Vec<Rect>) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let (rects, canvas_h, canvas_w) = tiled_rects(h, w, padding, outer_padding);
    let mut planes = Vec::with_capacity(3);
    for (ch, mean) in mean.iter().enumerate() {
        let mut plane = Plane {
            width: canvas_w,
            height: canvas_h,
            data: vec![0.0; canvas_w * canvas_h],
        };
        if let Some(first) = rects.first() {
            for (x, y, p) in image.enumerate_pixels() {
                let at =
                    (first.top as usize + y as usize) * canvas_w + first.left as usize + x as usize;
                plane.data[at] = (p[ch] as f32 - mean) / 256.0;
            }
        }
        for pair in rects.windows(2) {
            let (from, to) = (pair[0], pair[1]);
            let src = plane.crop(from);
            let mut dst = vec![0f32; to.width() * to.height()];
            resize_channel(
                &src,
                from.width(),
                from.height(),
                &mut dst,
                to.width(),
                to.height(),
                Output::Floats,
            );
            plane.paste(to, &dst);
        }
        planes.push(plane);
    }
    (planes, rects)
}

impl Plane {
    fn crop(&self, rect: Rect) -> Vec<f32> {
        let mut out = Vec::with_capacity(rect.width() * rect.height());
        for y in rect.top as usize..=rect.bottom as usize {
            out.extend_from_slice(
                &self.data
                    [y * self.width + rect.left as usize..=y * self.width + rect.right as usize],
            );
        }
        out
    }

    fn paste(&mut self, rect: Rect, values: &[f32]) {
        for (i, row) in values.chunks(rect.width()).enumerate() {
            let start = (rect.top as usize + i) * self.width + rect.left as usize;
            self.data[start..start + row.len()].copy_from_slice(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(l: i64, t: i64, r: i64, b: i64) -> Rect {
        Rect {
            left: l,
            top: t,
            right: r,
            bottom: b,
        }
    }

    #[test]
    fn tiled_layout_matches_dlibs_for_large_and_tiny_images() {
        // Vectors from dlib's create_tiled_pyramid (padding 10, outer 11).
        let (rects, nr, nc) = tiled_rects(480, 640, 10, 11);
        assert_eq!((nr, nc, rects.len()), (1782, 662, 24));
        assert_eq!(
            rects[..7],
            [
                rect(11, 11, 650, 490),
                rect(11, 501, 543, 900),
                rect(11, 911, 454, 1243),
                rect(11, 1254, 380, 1530),
                rect(11, 1541, 318, 1770),
                rect(395, 1580, 650, 1770),
                rect(438, 1411, 650, 1569)
            ]
        );
        assert_eq!(rects[23], rect(643, 512, 650, 516));
        let (rects, nr, nc) = tiled_rects(100, 100, 10, 11);
        assert_eq!((nr, nc, rects.len()), (418, 122, 15));
        assert_eq!(rects[5], rect(72, 368, 110, 406));
        assert_eq!(rects[14], rect(106, 136, 110, 140));
        let (_, nr, nc) = tiled_rects(64, 48, 10, 11);
        assert_eq!((nr, nc), (324, 70));
        // 20×20 is where dlib's unsigned arithmetic wraps.
        let (rects, nr, nc) = tiled_rects(20, 20, 10, 11);
        assert_eq!((nr, nc), (91, 42));
        assert_eq!(
            rects,
            [
                rect(11, 11, 30, 30),
                rect(11, 41, 26, 56),
                rect(11, 67, 23, 79),
                rect(21, 70, 30, 79),
                rect(23, 52, 30, 59),
                rect(25, 36, 30, 41)
            ]
        );
    }

    #[test]
    fn pyramid_up_doubles_the_image() {
        let image = RgbImage::from_fn(7, 5, |x, y| {
            image::Rgb([(x * 30) as u8, (y * 50) as u8, 200])
        });
        let up = pyramid_up(&image);
        assert_eq!(up.dimensions(), (16, 11));
        assert_eq!(up.get_pixel(0, 0), image.get_pixel(0, 0));
    }
}
