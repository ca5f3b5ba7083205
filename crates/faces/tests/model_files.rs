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

/// A small encoder of the same family as dlib's, as a model file: the
/// committed one is 22 MB, too slow to decode hundreds of times.
fn small_encoder_file() -> ModelFile {
    use casebook_faces::model::encoder::{ChipInput, Encoder, EncoderArch, Stage, Threshold};
    let arch = EncoderArch {
        input_size: 32,
        stem_filters: 4,
        stages: vec![Stage {
            filters: 8,
            blocks: 1,
            downsample: true,
        }],
        embedding: 6,
        normalize: true,
    };
    let threshold = Threshold {
        distance: 0.6,
        source: "a test".into(),
    };
    let encoder = FaceEncoder::new(
        arch.clone(),
        Encoder::new(&arch, &casebook_core::device::compute_device()),
        ChipInput { mean: [120.0; 3] },
        threshold,
        "0123456789abcdef".into(),
        serde_json::json!({}),
    );
    encoder.to_file(serde_json::json!({})).unwrap()
}

/// A gallery of three vectors, as a model file.
fn small_gallery_file(dir: &Path) -> ModelFile {
    use casebook_faces::gallery::{EncoderIdentity, Gallery};
    let mut gallery = Gallery::with_identity(EncoderIdentity {
        id: "0123456789abcdef".into(),
        dimension: 4,
    });
    for (name, v) in [("ada", 0.1), ("bo", 0.5), ("ada", 0.2)] {
        gallery
            .enroll(name, &[v, 1.0 - v, 0.3, 0.0], "a.png")
            .unwrap();
    }
    let path = dir.join("gallery.casebook");
    gallery.save(&path).unwrap();
    ModelFile::load(&path).unwrap()
}

/// Loads an edited face model of any kind and, where it loads, runs it
/// once on a small picture: false when that panicked.
fn refused_or_works(edited: &ModelFile) -> bool {
    use casebook_faces::gallery::Gallery;
    use casebook_faces::geometry::Rect;
    use casebook_faces::model::landmarks::LandmarkPredictor;
    let picture = image::RgbImage::from_fn(48, 40, |x, y| {
        image::Rgb([(x * 5) as u8, (y * 6) as u8, 90])
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.casebook");
    std::panic::catch_unwind(|| {
        let bytes = edited.to_bytes();
        let name = Path::new("edited");
        if let Ok(detector) = Detector::from_bytes(&bytes, name) {
            detector.detect(&picture, 0);
        }
        if let Ok(encoder) = FaceEncoder::from_bytes(&bytes, name) {
            let side = encoder.arch.input_size.min(256) as u32;
            let _ = encoder.embed(&[image::imageops::resize(
                &picture,
                side,
                side,
                image::imageops::FilterType::Nearest,
            )]);
        }
        if let Ok(landmarks) = LandmarkPredictor::from_bytes(&bytes, name) {
            let rect = Rect {
                left: 4,
                top: 4,
                right: 40,
                bottom: 36,
            };
            landmarks.predict(&picture, rect);
        }
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(gallery) = Gallery::load(&path) {
            let _ = gallery.identify(&[0.2, 0.8, 0.3, 0.0], 0.5);
            let _ = gallery.identify_exact(&[0.2, 0.8, 0.3, 0.0], 0.5);
        }
    })
    .is_ok()
}

/// One model file of each face kind: the committed detector and landmark
/// predictor, a small encoder and a gallery (written in `dir`).
fn face_model_files(dir: &Path) -> [ModelFile; 4] {
    [
        ModelFile::load(&model("detector-dlib-mmod.casebook")).unwrap(),
        ModelFile::load(&model("landmarks-dlib-5pt.casebook")).unwrap(),
        small_encoder_file(),
        small_gallery_file(dir),
    ]
}

/// Every kind of face model file: each hostile edit of a header value is
/// refused or loads as a working model, never a panic (issue 16).
#[test]
fn every_edited_header_value_is_refused_or_works() {
    let dir = tempfile::tempdir().unwrap();
    let files = face_model_files(dir.path());
    for file in &files {
        let edits = casebook_core::model_file::header_edits(file);
        assert!(
            edits.len() >= 7,
            "{}: {} edits",
            file.meta.task,
            edits.len()
        );
        for (what, edited) in edits {
            assert!(
                refused_or_works(&edited),
                "{} {what}: panicked",
                file.meta.task
            );
        }
    }
}

/// The same for edits drawn at random.
#[test]
fn any_drawn_header_edit_is_refused_or_works() {
    let dir = tempfile::tempdir().unwrap();
    let files = face_model_files(dir.path());
    let config = proptest::test_runner::Config::with_cases(64);
    proptest::proptest!(config, |(which in 0..files.len(), seed: u64)| {
        let file = &files[which];
        let (what, edited) = casebook_core::model_file::header_edit(file, seed);
        proptest::prop_assert!(refused_or_works(&edited), "{} {}: panicked", file.meta.task, what);
    });
}
