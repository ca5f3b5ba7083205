//! Data for the image case: the built-in scene generator, class-per-folder
//! datasets, and turning images into normalised, augmented tensor batches.

pub mod batch;
pub mod dataset;
pub mod generate;

pub use batch::{Augment, Normalization};
pub use dataset::{load_items, load_square, ImageSet, ScannedDataset, Skipped};
