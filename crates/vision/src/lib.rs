//! Vision pieces that the image cases (day/night, faces, style transfer)
//! share, written once:
//!
//! - [`folder`]: datasets laid out as one sub-folder per label — a class
//!   (`day/`, `night/`) or an identity (`alice/`, `bob/`) — scanned, split and
//!   decoded, with every left-out file listed and explained;
//! - [`batch`]: images to normalised `[batch, 3, h, w]` tensors, with
//!   training-time augmentation (random crop, flip, colour jitter);
//! - [`layers`]: network building blocks (conv 3×3 → batch norm → ReLU);
//! - [`conv`], [`norm`], [`pool`] and [`pad`]: 2-D convolution, batch
//!   norm, max and average pooling and reflection padding on the CPU,
//!   faster than burn's flex ops, with burn's as the fallback elsewhere.
//!
//! Splits by identity (all photos of one person on one side) are
//! `casebook_core::split::group_split`.

pub mod batch;
pub mod colour;
pub mod conv;
mod flex;
pub mod folder;
pub mod layers;
pub mod norm;
pub mod pad;
pub mod picture;
pub mod pool;

pub use batch::{load_size, to_tensor, Augment, Normalization, MAX_RESOLUTION};
pub use folder::{
    decode_rgb, image_files, load_items, load_square, png_bytes, read_rgb, square, ImageSet,
    ScannedDataset, Skipped,
};
