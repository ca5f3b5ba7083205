//! The built-in model files as untrusted input: damage and inconsistent
//! headers are errors naming the file, never panics or wrong answers.

use std::path::{Path, PathBuf};

use casebook_core::model_file::{ModelFile, SavedModel};
use casebook_faces::model::detector::Detector;
use casebook_faces::model::encoder::FaceEncoder;

fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

/// Writes `file` after `edit` and returns the load error's text.
fn load_error<M: SavedModel>(name: &str, edit: impl FnOnce(&mut ModelFile)) -> String {
    let mut file = ModelFile::load(&model(name)).unwrap();
    edit(&mut file);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.casebook");
    file.save(&path).unwrap();
    match M::load(&path) {
        Ok(_) => panic!("{name} loaded after the edit"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn damaged_bytes_are_refused() {
    for name in [
        "encoder-dlib-resnet.casebook",
        "detector-dlib-mmod.casebook",
    ] {
        let mut bytes = std::fs::read(model(name)).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let err = if name.starts_with("encoder") {
            format!("{:#}", FaceEncoder::load(&path).unwrap_err())
        } else {
            format!("{:#}", Detector::load(&path).map(|_| ()).unwrap_err())
        };
        assert!(err.contains("damaged"), "{name}: {err}");
        std::fs::write(&path, &bytes[..middle]).unwrap();
        assert!(FaceEncoder::load(&path).is_err() && Detector::load(&path).is_err());
    }
}

#[test]
fn headers_that_do_not_fit_the_weights_are_refused() {
    let err = load_error::<FaceEncoder>("encoder-dlib-resnet.casebook", |f| {
        f.meta.architecture["stages"][0]["filters"] = 48.into();
    });
    assert!(err.contains("do not fit"), "{err}");
    let err = load_error::<FaceEncoder>("encoder-dlib-resnet.casebook", |f| {
        f.meta.architecture["embedding"] = 0.into();
    });
    assert!(err.contains("damaged"), "{err}");
    let err = load_error::<FaceEncoder>("encoder-dlib-resnet.casebook", |f| {
        f.meta.training = serde_json::json!({});
    });
    assert!(err.contains("no verification threshold"), "{err}");
    let err = load_error::<Detector>("detector-dlib-mmod.casebook", |f| {
        f.meta.preprocessing["window"] = serde_json::json!([0, 80]);
    });
    assert!(err.contains("damaged"), "{err}");
    let err = load_error::<Detector>("detector-dlib-mmod.casebook", |f| {
        f.meta.task = "face-encoder".into();
    });
    assert!(err.contains("face-encoder"), "{err}");
}
