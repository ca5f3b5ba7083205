//! The landmark predictor and the face chips against dlib 20.0.1
//! (`fixtures/dlib_reference.json`, written by `scripts/faces/dlib_reference.py`
//! from the images in `fixtures/images/`): the converted predictor's points,
//! the chip details and the chips cut from dlib's landmarks must all equal
//! dlib's exactly. The predictor comes from the committed model file, so
//! these tests need no dlib file.

use std::path::{Path, PathBuf};

use casebook_core::model_file::{ModelFile, SavedModel};
use casebook_faces::align::{extract_image_chip, face_chip_details, Point, CHIP_PADDING};
use casebook_faces::model::landmarks::{LandmarkPredictor, Rect, CASCADE};
use image::RgbImage;
use serde_json::{json, Value};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn model_path() -> PathBuf {
    crate_dir().join("models/landmarks-dlib-5pt.casebook")
}

fn fixture(name: &str) -> PathBuf {
    crate_dir().join("tests/fixtures").join(name)
}

fn reference() -> Value {
    serde_json::from_slice(&std::fs::read(fixture("dlib_reference.json")).unwrap()).unwrap()
}

fn predictor() -> LandmarkPredictor {
    LandmarkPredictor::load(&model_path()).unwrap()
}

/// A fixture image as the reference script gave it to dlib: RGB, grey as R = G = B.
fn rgb(path: &Path) -> RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn rect(v: &Value) -> Rect {
    let n: Vec<i64> = numbers(v).into_iter().map(|x| x as i64).collect();
    Rect {
        left: n[0],
        top: n[1],
        right: n[2],
        bottom: n[3],
    }
}

fn points(v: &Value) -> [Point; 5] {
    let all: Vec<Point> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Point {
            x: p[0].as_i64().unwrap(),
            y: p[1].as_i64().unwrap(),
        })
        .collect();
    all.try_into().unwrap()
}

/// (image file, face or probe name, box, dlib's landmarks) for every case.
fn landmark_cases(reference: &Value) -> Vec<(String, String, Rect, [Point; 5])> {
    let mut cases = Vec::new();
    for im in reference["images"].as_array().unwrap() {
        let file = im["file"].as_str().unwrap().to_string();
        for (i, face) in im["faces"].as_array().unwrap().iter().enumerate() {
            cases.push((
                file.clone(),
                format!("face {i}"),
                rect(&face["rect"]),
                points(&face["landmarks"]),
            ));
        }
        for probe in im["shape_probes"].as_array().unwrap() {
            cases.push((
                file.clone(),
                probe["name"].as_str().unwrap().to_string(),
                rect(&probe["rect"]),
                points(&probe["landmarks"]),
            ));
        }
    }
    cases
}

#[test]
fn landmarks_equal_dlibs_for_every_face_and_probe() {
    let reference = reference();
    let predictor = predictor();
    let cases = landmark_cases(&reference);
    assert_eq!(cases.len(), 22, "15 faces and 7 probes in the fixture");
    let mut wrong = Vec::new();
    for (file, name, rect, expected) in &cases {
        let image = rgb(&fixture(&format!("images/{file}")));
        let found = predictor.predict(&image, *rect);
        if found != *expected {
            wrong.push(format!("{file} {name}: {found:?} != dlib {expected:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

/// Every face's chip rectangle and angle, in file order, parsed exactly:
/// serde_json (without its `float_roundtrip` feature) can land a 17-digit
/// decimal one ulp off, and these are compared bit for bit.
fn exact_chip_details() -> Vec<(Vec<f64>, f64)> {
    fn after<'a>(s: &'a str, key: &str, end: char) -> &'a str {
        let start = s.find(key).unwrap() + key.len();
        &s[start..start + s[start..].find(end).unwrap()]
    }
    let text = std::fs::read_to_string(fixture("dlib_reference.json")).unwrap();
    text.split("\"chip_details\": {")
        .skip(1)
        .map(|chunk| {
            let rect = after(chunk, "\"rect\": [", ']')
                .split(',')
                .map(|x| x.trim().parse().unwrap())
                .collect();
            (
                rect,
                after(chunk, "\"angle\": ", ',').trim().parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn chip_details_and_chips_equal_dlibs_pixel_for_pixel() {
    let reference = reference();
    let mut exact = exact_chip_details().into_iter();
    let mut pyramid_chips = 0;
    let mut faces = 0;
    for im in reference["images"].as_array().unwrap() {
        let image = rgb(&fixture(&format!(
            "images/{}",
            im["file"].as_str().unwrap()
        )));
        for face in im["faces"].as_array().unwrap() {
            faces += 1;
            let name = face["chip_file"].as_str().unwrap();
            let details = face_chip_details(&points(&face["landmarks"]), 150, CHIP_PADDING);
            let (rect, angle) = exact.next().unwrap();
            let r = details.rect;
            assert_eq!(
                vec![r.left, r.top, r.right, r.bottom],
                rect,
                "{name}: chip rectangle"
            );
            assert_eq!(details.angle, angle, "{name}: chip angle");
            assert_eq!((details.rows, details.cols), (150, 150));

            let chip = extract_image_chip(&image, &details);
            let dlib = rgb(&fixture(name));
            assert_eq!(chip.dimensions(), dlib.dimensions(), "{name}");
            let diffs: Vec<u8> = chip
                .as_raw()
                .iter()
                .zip(dlib.as_raw())
                .map(|(a, b)| a.abs_diff(*b))
                .filter(|&d| d > 0)
                .collect();
            assert!(
                diffs.is_empty(),
                "{name}: {} of {} channel values differ, by up to {}",
                diffs.len(),
                chip.as_raw().len(),
                diffs.iter().max().unwrap()
            );
            if face["chip_pyramid_level"].as_i64().unwrap() >= 0 {
                pyramid_chips += 1;
            }
        }
    }
    assert_eq!(faces, 15);
    assert!(
        pyramid_chips >= 1,
        "the fixture has a chip cut from a pyramid level"
    );
}

#[test]
fn the_model_file_records_its_source_and_round_trips() {
    let reference = reference();
    let file = ModelFile::load(&model_path()).unwrap();
    let from = &file.meta.training["converted_from"];
    assert_eq!(
        from["sha256"],
        reference["models"]["shape_predictor"]["sha256"]
    );
    assert_eq!(from["file"], "shape_predictor_5_face_landmarks.dat");
    assert_eq!(file.meta.training["origin"]["licence"], "CC0-1.0");

    let predictor = predictor();
    let again =
        LandmarkPredictor::from_file(&predictor.to_file(json!({})).unwrap(), Path::new("again"))
            .unwrap();
    assert_eq!(again, predictor);
}

#[test]
fn damaged_model_files_are_errors_not_panics() {
    let path = model_path();
    let bytes = std::fs::read(&path).unwrap();
    let name = Path::new("damaged.casebook");
    for cut in [0, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            LandmarkPredictor::from_bytes(&bytes[..cut], name).is_err(),
            "cut at {cut}"
        );
    }
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x40;
    assert!(LandmarkPredictor::from_bytes(&flipped, name).is_err());

    // Files whose checksum is right but whose contents do not fit together.
    let good = ModelFile::load(&path).unwrap();
    let shape = predictor().shape();
    let split_at = 4 * (2 * shape.parts + 3 * shape.feature_pixels);
    type Damage = Box<dyn Fn(&mut ModelFile)>;
    let damages: Vec<(&str, Damage)> = vec![
        (
            "section cut short",
            Box::new(|f| f.sections.get_mut(CASCADE).unwrap().truncate(1000)),
        ),
        (
            "section missing",
            Box::new(|f| drop(f.sections.remove(CASCADE))),
        ),
        (
            "six parts",
            Box::new(|f| f.meta.architecture["parts"] = json!(6)),
        ),
        (
            "one more level",
            Box::new(move |f| f.meta.architecture["levels"] = json!(shape.levels + 1)),
        ),
        (
            "depth that overflows",
            Box::new(|f| f.meta.architecture["tree_depth"] = json!(64)),
        ),
        (
            "huge sizes",
            Box::new(|f| f.meta.architecture["trees_per_level"] = json!(u64::MAX)),
        ),
        (
            "a billion empty levels",
            Box::new(|f| {
                f.meta.architecture["levels"] = json!(1u64 << 30);
                f.meta.architecture["feature_pixels"] = json!(0);
                f.meta.architecture["trees_per_level"] = json!(0);
                f.sections.get_mut(CASCADE).unwrap().truncate(40);
            }),
        ),
        (
            "not a cascade",
            Box::new(|f| f.meta.architecture = json!("dlib")),
        ),
        (
            "split outside the pixels",
            Box::new(move |f| {
                f.sections.get_mut(CASCADE).unwrap()[split_at..split_at + 4]
                    .copy_from_slice(&u32::MAX.to_le_bytes())
            }),
        ),
        (
            "anchor outside the parts",
            Box::new(move |f| {
                f.sections.get_mut(CASCADE).unwrap()[40..44].copy_from_slice(&7u32.to_le_bytes())
            }),
        ),
        (
            "a NaN leaf",
            Box::new(|f| {
                let s = f.sections.get_mut(CASCADE).unwrap();
                let end = s.len();
                s[end - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
            }),
        ),
    ];
    for (what, damage) in damages {
        let mut file = good.clone();
        damage(&mut file);
        let reread = ModelFile::from_bytes(&file.to_bytes(), name).unwrap();
        let err = LandmarkPredictor::from_file(&reread, name)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("damaged.casebook"), "{what}: {err}");
    }
}
