//! Converting dlib's model files into casebook model files, recording where
//! each came from. The built-in models were made this way
//! (`casebook face import-dlib`); users can convert other dlib files of the
//! same networks the same way.

use std::path::Path;

use anyhow::Result;
use casebook_core::model_file::SavedModel;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::dlib::dnn::{self, Loss};
use crate::model::detector::Detector;
use crate::model::encoder::FaceEncoder;
use crate::model::landmarks::LandmarkPredictor;

/// A dlib model, recognised by its content.
pub enum DlibModel {
    Detector(Box<Detector>),
    Encoder(Box<FaceEncoder>),
    Landmarks(Box<LandmarkPredictor>),
}

impl DlibModel {
    /// Reads a dlib `.dat` file's bytes: the MMOD face detector, the ResNet
    /// encoder or a 5-point shape predictor.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let net = match dnn::parse(bytes) {
            Ok(net) => net,
            Err(as_network) => {
                return LandmarkPredictor::from_dlib(bytes)
                    .map(|p| Self::Landmarks(Box::new(p)))
                    .map_err(|as_landmarks| anyhow::anyhow!("neither a dlib network ({as_network}) nor a shape predictor ({as_landmarks:#})"));
            }
        };
        Ok(match net.loss {
            Loss::Mmod(_) => Self::Detector(Box::new(Detector::from_dlib(bytes)?)),
            Loss::Metric { .. } => Self::Encoder(Box::new(FaceEncoder::from_dlib(bytes)?)),
        })
    }

    /// What the model is, in a few words.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Detector(_) => "face detector (dlib MMOD CNN)",
            Self::Encoder(_) => "face encoder (dlib ResNet, 128-d)",
            Self::Landmarks(_) => "5-point face landmarks (dlib shape predictor)",
        }
    }

    /// Saves as a casebook model file whose training record says where the
    /// weights came from: the source file's name and SHA-256, and `origin`
    /// (package, licence, ...) as given.
    pub fn save(
        &self,
        out: &Path,
        source: &Path,
        bytes: &[u8],
        origin: serde_json::Value,
    ) -> Result<()> {
        let record = json!({
            "converted_from": {
                "file": source.file_name().map(|n| n.to_string_lossy().into_owned()),
                "sha256": format!("{:x}", Sha256::digest(bytes)),
                "bytes": bytes.len(),
            },
            "origin": origin,
            "converted_by": format!("casebook {} face import-dlib", casebook_core::VERSION),
        });
        match self {
            Self::Detector(model) => model.save(out, record),
            Self::Encoder(model) => model.save(out, record),
            Self::Landmarks(model) => model.save(out, record),
        }
    }
}
