//! Pictures the style tests train and draw on.

use std::path::Path;

use image::{Rgb, RgbImage};

/// Smooth scenes: a vertical gradient in a colour of its own with a bright
/// disc somewhere.
pub fn scene(i: u32, w: u32, h: u32) -> RgbImage {
    let (cx, cy) = ((7 + 13 * i) % w, (5 + 11 * i) % h);
    RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as i32 - cx as i32, y as i32 - cy as i32);
        if dx * dx + dy * dy < (w * h / 30) as i32 {
            Rgb([250, 240, 200])
        } else {
            let v = (255 * y / h) as u8;
            // Colours wrap round past 255 (as release builds computed them).
            let tint = |base: u8, step: u32| base.wrapping_add((i * step) as u8);
            Rgb([tint(v / 2, 20), tint(100, 10), 255 - v])
        }
    })
}

/// Diagonal stripes in two colours: a strong, simple style.
pub fn stripes(size: u32) -> RgbImage {
    RgbImage::from_fn(size, size, |x, y| {
        if ((x + y) / 3).is_multiple_of(2) {
            Rgb([230, 200, 40])
        } else {
            Rgb([20, 40, 160])
        }
    })
}

/// `pictures/` (scenes and a text file), `stripes.png`, and `styles/`
/// (stripes and checks).
pub fn write_data(dir: &Path) {
    std::fs::create_dir_all(dir.join("pictures")).unwrap();
    for i in 0..8 {
        scene(i, 48, 40)
            .save(dir.join(format!("pictures/scene_{i}.png")))
            .unwrap();
    }
    std::fs::write(dir.join("pictures/notes.txt"), "not a picture").unwrap();
    stripes(48).save(dir.join("stripes.png")).unwrap();
    std::fs::create_dir_all(dir.join("styles")).unwrap();
    stripes(48).save(dir.join("styles/stripes.png")).unwrap();
    checks(48).save(dir.join("styles/checks.png")).unwrap();
}

/// Red and green squares of 4 pixels: a second style.
pub fn checks(size: u32) -> RgbImage {
    RgbImage::from_fn(size, size, |x, y| {
        if (x / 4 + y / 4).is_multiple_of(2) {
            Rgb([200, 30, 30])
        } else {
            Rgb([30, 180, 60])
        }
    })
}
