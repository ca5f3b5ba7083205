//! Converts dlib's 5-point `shape_predictor` file into the casebook model
//! file the crate compiles in, recording where it came from:
//!
//! ```text
//! cargo run --release -p casebook-faces --example convert_landmarks -- \
//!     path/to/shape_predictor_5_face_landmarks.dat crates/faces/models/landmarks-dlib-5pt.casebook
//! ```
//!
//! The `.dat` is the one in the PyPI package face-recognition-models 0.3.0
//! (CC0-1.0). Every number of dlib's cascade is a `float` or an index, so the
//! casebook file holds them exactly.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use casebook_core::model_file::SavedModel;
use casebook_faces::model::landmarks::LandmarkPredictor;
use serde_json::json;
use sha2::{Digest, Sha256};

fn main() -> Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [source, out] = args.as_slice() else {
        bail!("usage: convert_landmarks SHAPE_PREDICTOR.dat OUT.casebook");
    };
    let bytes =
        std::fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
    let predictor = LandmarkPredictor::from_dlib(&bytes)?;
    let record = json!({
        "converted_from": {
            "file": source.file_name().map(|n| n.to_string_lossy().into_owned()),
            "sha256": format!("{:x}", Sha256::digest(&bytes)),
            "bytes": bytes.len(),
        },
        "origin": {
            "author": "Davis E. King (dlib)",
            "licence": "CC0-1.0",
            "package": "face-recognition-models 0.3.0 (PyPI)",
            "recipe": "trained by dlib's author; see http://dlib.net",
        },
        "converted_by": format!(
            "casebook {}: converted by casebook from dlib's shape_predictor format (examples/convert_landmarks.rs)",
            casebook_core::VERSION
        ),
    });
    predictor.save(out, record)?;
    println!("wrote {} ({:?})", out.display(), predictor.shape());
    Ok(())
}
