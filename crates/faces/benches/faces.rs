//! Speed of the ported dlib face models, as `bench/faces_dlib.py` measures
//! dlib itself (`bench/faces.sh` runs both and prints the ratios):
//!
//! * detection of one 640×480 image (group_pif.png, 640×280, pasted on a
//!   mid-grey canvas at y = 100) at upsample 0 and 1, plus the tiled pyramid
//!   alone (the detector's input building; the rest is the network and NMS);
//! * embedding 64 aligned 150×150 chips (the 15 fixture chips repeated),
//!   and batches of 1 and 32 (`bench/resnet.sh` sets those beside PyTorch);
//! * the whole pipeline (find + encode) on edwin_b.png at upsample 1.
//!
//! The 640×480 image is also written as a PNG (to `$FACES_BENCH_IMAGE`, or
//! the temp folder) so the dlib script and the CLI's RSS run see the same pixels.

use casebook_faces::infer::{load_detector, load_encoder, FacePipeline, BUILTIN};
use casebook_faces::pyramid::{pyramid_up, tiled_pyramid};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};
use image::{Rgb, RgbImage};

fn fixture(name: &str) -> RgbImage {
    image::open(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .to_rgb8()
}

/// Ten samples of flat sampling (one-second-scale iterations: criterion's
/// default linear sampling would run 55 of them at least).
fn slow_group(c: &mut Criterion) -> BenchmarkGroup<'_, WallTime> {
    let mut group = c.benchmark_group("faces");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group
}

/// group_pif.png on a 640×480 canvas of (128, 128, 128) at x = 0, y = 100.
fn canvas_640x480() -> RgbImage {
    let group = fixture("images/group_pif.png");
    let mut canvas = RgbImage::from_pixel(640, 480, Rgb([128, 128, 128]));
    image::imageops::replace(&mut canvas, &group, 0, 100);
    canvas
}

fn detection(c: &mut Criterion) {
    let image = canvas_640x480();
    let out = std::env::var_os("FACES_BENCH_IMAGE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("casebook_faces_bench_640x480.png"));
    image.save(&out).unwrap();
    eprintln!("640x480 bench image written to {}", out.display());
    let detector = load_detector(BUILTIN).unwrap();
    let s = detector.settings.clone();
    for upsample in [0, 1] {
        eprintln!(
            "upsample {upsample}: {} faces",
            detector.detect(&image, upsample).len()
        );
    }
    let mut group = slow_group(c);
    group.bench_function("detect_640x480_up0", |b| {
        b.iter(|| detector.detect(&image, 0))
    });
    group.bench_function("detect_640x480_up1", |b| {
        b.iter(|| detector.detect(&image, 1))
    });
    group.bench_function("pyramid_640x480_up0", |b| {
        b.iter(|| tiled_pyramid(&image, s.mean, s.pyramid_padding, s.pyramid_outer_padding))
    });
    group.bench_function("pyramid_640x480_up1", |b| {
        b.iter(|| {
            tiled_pyramid(
                &pyramid_up(&image),
                s.mean,
                s.pyramid_padding,
                s.pyramid_outer_padding,
            )
        })
    });
    group.bench_function("pyramid_up_640x480", |b| b.iter(|| pyramid_up(&image)));
    group.finish();
}

fn embedding(c: &mut Criterion) {
    let dir = format!("{}/tests/fixtures/chips", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    names.sort();
    let chips: Vec<RgbImage> = names
        .iter()
        .map(|p| image::open(p).unwrap().to_rgb8())
        .cycle()
        .take(64)
        .collect();
    let encoder = load_encoder(BUILTIN).unwrap();
    encoder.embed(&chips[..16]).unwrap(); // warm-up
    let mut group = slow_group(c);
    group.bench_function("embed_64_chips", |b| {
        b.iter(|| encoder.embed(&chips).unwrap())
    });
    // One call per batch, as bench/resnet_torch.py times the same network.
    for batch in [1, 32] {
        group.bench_function(format!("embed_batch_{batch}"), |b| {
            b.iter(|| encoder.embed(&chips[..batch]).unwrap())
        });
    }
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let image = fixture("images/edwin_b.png");
    let pipeline = FacePipeline::load(BUILTIN).unwrap();
    eprintln!(
        "edwin_b.png: {} faces at upsample 1",
        pipeline.find(&image, 1).len()
    );
    let mut group = slow_group(c);
    group.bench_function("pipeline_edwin_b_up1", |b| {
        b.iter(|| {
            let faces = pipeline.find(&image, 1);
            pipeline.encode(&faces).unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = {
        casebook_core::memory::reuse_freed_memory();
        Criterion::default()
    };
    targets = detection, embedding, pipeline
}
criterion_main!(benches);
