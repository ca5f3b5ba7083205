//! Label-per-folder image datasets: `ROOT/<label>/*.png|jpg`, where a label
//! is a class (`day`, `night`) or an identity (`alice`, `bob`). Scanning lists
//! the files; loading decodes, squares and resizes them, and lists every file
//! it had to leave out with the reason, instead of failing the whole run.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use casebook_core::encoding::LabelEncoder;
use casebook_core::split::{ManifestItem, SplitFractions, SplitManifest};
use image::imageops::FilterType;
use image::RgbImage;

const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// A file that was left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// The files of a class-per-folder dataset.
#[derive(Debug, Clone)]
pub struct ScannedDataset {
    pub root: PathBuf,
    pub classes: Vec<String>,
    /// (path relative to root, class index)
    pub items: Vec<(String, usize)>,
    pub skipped: Vec<Skipped>,
}

impl ScannedDataset {
    /// Lists `root/<class>/<file>`; classes are the sub-folders, sorted.
    pub fn scan(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            let what = if root.exists() {
                "is not a folder"
            } else {
                "does not exist"
            };
            bail!(
                "dataset folder {} {what}; point at a folder with one sub-folder per class (or per person)",
                root.display()
            );
        }
        let class_dirs = visible_entries(root, Path::is_dir)?;
        let mut classes = Vec::new();
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        for dir in &class_dirs {
            let class = dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let files = visible_entries(dir, Path::is_file)?;
            let label = classes.len();
            let mut any = false;
            for file in files {
                if is_image_file(&file) {
                    items.push((
                        format!(
                            "{class}/{}",
                            file.file_name().unwrap_or_default().to_string_lossy()
                        ),
                        label,
                    ));
                    any = true;
                } else {
                    skipped.push(Skipped {
                        path: file,
                        reason: "not a .png/.jpg/.jpeg file".into(),
                    });
                }
            }
            if any {
                classes.push(class);
            }
        }
        if classes.is_empty() {
            bail!("no images found under {}: expected one sub-folder per class holding .png/.jpg files", root.display());
        }
        Ok(Self {
            root: root.to_path_buf(),
            classes,
            items,
            skipped,
        })
    }

    /// Like [`scan`](Self::scan), for training and splitting: at least two
    /// classes are needed. (Evaluation may use a single class folder.)
    pub fn scan_for_training(root: &Path) -> Result<Self> {
        let scan = Self::scan(root)?;
        if scan.classes.len() < 2 {
            bail!(
                "{} holds only one class ('{}'): a classifier needs at least two class folders",
                root.display(),
                scan.classes[0]
            );
        }
        Ok(scan)
    }

    /// A stratified split of the scanned items.
    pub fn split(&self, fractions: SplitFractions, seed: u64) -> SplitManifest {
        SplitManifest::new(&self.items, &self.classes, fractions, seed)
    }
}

/// The entries of `dir` that `keep` accepts, sorted, without hidden ones (`.name`).
/// `image` encoded as PNG.
pub fn png_bytes(image: &RgbImage) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    image.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )?;
    Ok(bytes)
}

/// Whether `path` has an image extension casebook reads.
pub fn is_image_file(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    IMAGE_EXTENSIONS.contains(&ext.as_str())
}

/// The image files named by `inputs`: files as given, folders searched
/// (sub-folders included, hidden entries left out), in sorted order per
/// folder. Non-image files inside folders are listed as skipped; a named
/// path that does not exist is an error.
pub fn image_files(inputs: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<Skipped>)> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut pending: Vec<PathBuf> = inputs.iter().rev().cloned().collect();
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            let mut entries = visible_entries(&path, |p| p.is_dir() || p.is_file())?;
            entries.reverse();
            pending.extend(entries);
        } else if path.is_file() {
            if is_image_file(&path) || inputs.contains(&path) {
                files.push(path);
            } else {
                skipped.push(Skipped {
                    path,
                    reason: "not a .png/.jpg/.jpeg file".into(),
                });
            }
        } else {
            bail!("{} does not exist", path.display());
        }
    }
    Ok((files, skipped))
}

fn visible_entries(dir: &Path, keep: fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            keep(p)
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    Ok(entries)
}

/// Decoded images of one split part, all `size`×`size` RGB.
#[derive(Debug, Clone, Default)]
pub struct ImageSet {
    pub size: u32,
    pub images: Vec<RgbImage>,
    pub labels: Vec<usize>,
    pub paths: Vec<PathBuf>,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.images.len()
    }
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
}

/// Decodes an image file of any format `image` reads, as RGB; the error
/// says why, without the path. A JPEG cut short inside its last scan is
/// refused: `image` decodes it without complaint, grey where the data
/// ended, and it would be trained on or predicted as if whole.
pub fn read_rgb(path: &Path) -> Result<RgbImage, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot open: {e}"))?;
    decode_rgb(&bytes)
}

/// [`read_rgb`] for an image already in memory (an upload).
pub fn decode_rgb(bytes: &[u8]) -> Result<RgbImage, String> {
    let format = image::guess_format(bytes).map_err(|e| format!("not a readable image: {e}"))?;
    if format == image::ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err("a truncated JPEG (its image data ends early)".into());
    }
    if format == image::ImageFormat::Png && !png_palette_is_sound(bytes) {
        return Err("a damaged PNG (its palette is not whole colours)".into());
    }
    Ok(image::load_from_memory_with_format(bytes, format)
        .map_err(|e| format!("not a readable image: {e}"))?
        .to_rgb8())
}

/// Whether a JPEG's last scan (`FF DA`) is followed by its end marker
/// (`FF D9`). Inside scan data every `FF` byte is followed by `00` or a
/// restart marker, so the end marker cannot appear there by chance.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let marker = |code: u8| bytes.windows(2).rposition(|w| w == [0xFF, code]);
    match (marker(0xDA), marker(0xD9)) {
        (Some(scan), Some(end)) => end > scan,
        // No scan at all: the decoder reports what is missing.
        (None, _) => true,
        (Some(_), None) => false,
    }
}

/// Whether a PNG's palette (`PLTE` chunk), if it has one, is whole RGB
/// colours, at most 256, as the PNG specification requires. The `png`
/// crate (0.18.1) panics expanding a palette of 41 bytes (found by fuzzing,
/// fuzz/regressions/image_file/png-palette-41-bytes.png).
fn png_palette_is_sound(bytes: &[u8]) -> bool {
    // After the 8-byte signature: chunks of length (u32, big-endian), type,
    // data and CRC.
    let mut at = 8;
    while let Some(header) = bytes.get(at..at + 8) {
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if &header[4..8] == b"PLTE" {
            return length.is_multiple_of(3) && length <= 3 * 256;
        }
        at = at.saturating_add(12).saturating_add(length);
    }
    true
}

/// Decodes one image and squares it: centre crop to the short side, then
/// resize to `size` (keeps the aspect ratio, as fastai's default crop does).
pub fn load_square(path: &Path, size: u32) -> Result<RgbImage, String> {
    Ok(square(&read_rgb(path)?, size))
}

/// Centre-crops to a square and resizes to `size`.
pub fn square(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let side = w.min(h).max(1);
    let cropped =
        image::imageops::crop_imm(img, (w - side) / 2, (h - side) / 2, side, side).to_image();
    if side == size {
        return cropped;
    }
    image::imageops::resize(&cropped, size, size, FilterType::Triangle)
}

/// Loads the manifest items under `root` at `size`; unreadable files are
/// returned as skipped. `encoder` maps manifest labels to indices.
pub fn load_items(
    root: &Path,
    items: &[ManifestItem],
    encoder: &LabelEncoder,
    size: u32,
    mut on_item: impl FnMut(),
) -> Result<(ImageSet, Vec<Skipped>)> {
    let mut set = ImageSet {
        size,
        ..Default::default()
    };
    let mut skipped = Vec::new();
    for item in items {
        let path = root.join(&item.path);
        let Some(label) = encoder.encode(&item.label) else {
            bail!(
                "split manifest names class '{}' that the dataset does not have",
                item.label
            );
        };
        match load_square(&path, size) {
            Ok(img) => {
                set.images.push(img);
                set.labels.push(label);
                set.paths.push(path);
            }
            Err(reason) => skipped.push(Skipped { path, reason }),
        }
        on_item();
    }
    Ok((set, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, v: u8) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        RgbImage::from_pixel(20, 10, image::Rgb([v, v, v]))
            .save(path)
            .unwrap();
    }

    /// A whole JPEG reads; the same file cut short anywhere in its image
    /// data is refused (`image` alone decodes it, grey where data ended).
    #[test]
    fn truncated_jpegs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let picture = RgbImage::from_fn(48, 40, |x, y| {
            image::Rgb([(x * 5) as u8, (y * 6) as u8, 90])
        });
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(&picture)
            .unwrap();
        let whole = dir.path().join("whole.jpg");
        std::fs::write(&whole, &bytes).unwrap();
        assert_eq!(read_rgb(&whole).unwrap().dimensions(), (48, 40));
        let scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
        for end in [scan + 20, (scan + bytes.len()) / 2, bytes.len() - 1] {
            let cut = dir.path().join(format!("cut{end}.jpg"));
            std::fs::write(&cut, &bytes[..end]).unwrap();
            let why = read_rgb(&cut).unwrap_err();
            assert!(why.contains("truncated"), "cut at {end}: {why}");
        }
    }

    #[test]
    fn scan_lists_classes_items_and_non_images() {
        let dir = tempfile::tempdir().unwrap();
        write_png(&dir.path().join("day/a.png"), 200);
        write_png(&dir.path().join("night/b.png"), 10);
        std::fs::write(dir.path().join("night/notes.txt"), "hi").unwrap();
        let s = ScannedDataset::scan(dir.path()).unwrap();
        assert_eq!(s.classes, vec!["day", "night"]);
        assert_eq!(
            s.items,
            vec![("day/a.png".to_string(), 0), ("night/b.png".to_string(), 1)]
        );
        assert_eq!(s.skipped.len(), 1);
    }

    #[test]
    fn one_class_and_missing_folder_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        write_png(&dir.path().join("day/a.png"), 200);
        assert_eq!(
            ScannedDataset::scan(dir.path()).unwrap().classes,
            vec!["day"]
        );
        let err = ScannedDataset::scan_for_training(dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("only one class"), "{err}");
        let err = ScannedDataset::scan(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn corrupt_files_are_skipped_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        write_png(&dir.path().join("day/a.png"), 200);
        std::fs::write(dir.path().join("day/broken.png"), b"\x89PNG garbage").unwrap();
        let items = vec![
            ManifestItem {
                path: "day/a.png".into(),
                label: "day".into(),
            },
            ManifestItem {
                path: "day/broken.png".into(),
                label: "day".into(),
            },
        ];
        let (set, skipped) =
            load_items(dir.path(), &items, &LabelEncoder::fit(["day"]), 8, || {}).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.images[0].dimensions(), (8, 8));
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].path.ends_with("broken.png"));
    }
}
