//! Faces: detection (dlib's MMOD CNN), 5-point landmarks and alignment,
//! a 128-d encoder (dlib's ResNet, or one trained here with triplet loss),
//! and on top of the vectors: verification, recognition and clustering.

pub mod align;
pub mod cluster;
pub mod data;
pub mod dlib;
pub mod eval;
pub mod gallery;
pub mod geometry;
pub mod import;
pub mod infer;
pub mod model;
pub mod pyramid;
pub mod train;
