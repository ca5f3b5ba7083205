//! Training a face encoder with the triplet loss. So far: the loss and its
//! online triplet mining; the training loop (`casebook face train`) follows.

pub mod triplet;
