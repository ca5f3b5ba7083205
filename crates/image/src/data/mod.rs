//! Data for the image case: the built-in scene generator. Folder datasets,
//! decoding and tensor batches are shared with the other image cases in
//! `casebook_vision`.

pub mod generate;
