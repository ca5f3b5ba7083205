//! The built-in models against dlib itself: reference outputs of dlib 20.0.1
//! (scripts/faces/dlib_reference.py) on the committed, licensed test images.

use casebook_faces::infer::{load_detector, load_encoder, BUILTIN};
use serde_json::Value;

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/dlib_reference.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn image(name: &str) -> image::RgbImage {
    image::open(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .to_rgb8()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn detector_finds_dlibs_boxes_with_dlibs_scores() {
    let detector = load_detector(BUILTIN).unwrap();
    let (mut compared, mut worst_score) = (0, 0f32);
    for entry in fixture()["images"].as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        let picture = image(&format!("images/{file}"));
        for upsample in [0, 1] {
            let want = entry["detections"][upsample.to_string()]
                .as_array()
                .unwrap();
            let got = detector.detect(&picture, upsample);
            assert_eq!(
                got.len(),
                want.len(),
                "{file} upsample {upsample}: {got:?} vs {want:?}"
            );
            for (g, w) in got.iter().zip(want) {
                let r = &g.rect;
                let want_rect: Vec<i64> = w["rect"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap())
                    .collect();
                // Boxes within 1 px (they agree exactly on every fixture image so far).
                let off = [r.left, r.top, r.right, r.bottom]
                    .iter()
                    .zip(&want_rect)
                    .map(|(a, b)| (a - b).abs())
                    .max()
                    .unwrap();
                assert!(
                    off <= 1,
                    "{file} upsample {upsample}: {r:?} vs {want_rect:?}"
                );
                let score = w["confidence"].as_f64().unwrap() as f32;
                assert!(
                    (g.score - score).abs() < 1e-4,
                    "{file}: score {} vs {score}",
                    g.score
                );
                worst_score = worst_score.max((g.score - score).abs());
                compared += 1;
            }
        }
    }
    assert!(compared >= 20, "only {compared} detections compared");
    eprintln!("{compared} detections, boxes equal, scores within {worst_score:.2e} of dlib's");
}

#[test]
fn encoder_gives_dlibs_vectors_for_dlibs_chips() {
    let encoder = load_encoder(BUILTIN).unwrap();
    let mut chips = Vec::new();
    let mut want = Vec::new();
    for entry in fixture()["images"].as_array().unwrap() {
        for face in entry["faces"].as_array().unwrap() {
            chips.push(image(face["chip_file"].as_str().unwrap()));
            want.push(floats(&face["descriptor_from_chip"]));
        }
    }
    let got = encoder.embed(&chips).unwrap();
    let worst = got
        .iter()
        .flatten()
        .zip(want.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst <= 1e-4, "max difference from dlib {worst}");
    eprintln!("{} vectors within {worst:.2e} of dlib's", got.len());
    assert_eq!(got.len(), 15);
}

#[test]
fn the_whole_pipeline_gives_dlibs_vectors_from_photos() {
    // Photo → detector → 5 landmarks → aligned chip → encoder, against
    // dlib's compute_face_descriptor(image, shape) on dlib's own detections.
    let pipeline = casebook_faces::infer::FacePipeline::load(BUILTIN).unwrap();
    let (mut worst, mut faces) = (0f32, 0);
    for entry in fixture()["images"].as_array().unwrap() {
        let picture = image(&format!("images/{}", entry["file"].as_str().unwrap()));
        let upsample = entry["faces_from_upsample"].as_u64().unwrap() as usize;
        let found = pipeline.find(&picture, upsample);
        let want = entry["faces"].as_array().unwrap();
        assert_eq!(found.len(), want.len());
        let vectors = pipeline.encode(&found).unwrap();
        for ((face, vector), w) in found.iter().zip(&vectors).zip(want) {
            let marks: Vec<i64> = face.landmarks.iter().flat_map(|p| [p.x, p.y]).collect();
            let want_marks: Vec<i64> = w["landmarks"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|p| p.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()))
                .collect();
            assert_eq!(marks, want_marks);
            let d = vector
                .iter()
                .zip(floats(&w["descriptor_full"]))
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            worst = worst.max(d);
            faces += 1;
        }
    }
    assert!(worst <= 1e-4, "max difference from dlib {worst}");
    eprintln!("{faces} faces: landmarks equal, vectors within {worst:.2e} of dlib's");
}
