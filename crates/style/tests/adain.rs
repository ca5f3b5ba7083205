//! AdaIN (Huang & Belongie): a decoder trained on a few styles draws
//! unseen content with a style's statistics, deterministically, and alpha
//! blends between content and style.

mod common;

use burn::tensor::Device;
use casebook_core::model_file::SavedModel;
use casebook_core::observe::Silent;
use casebook_core::run::{RunDir, Training};
use casebook_style::model::adain::{mean_std, style_layer_indices, AdaIn};
use casebook_style::model::{FeatureNet, Source};
use casebook_style::train::adain::AdaInTrainConfig;
use casebook_style::train::Schedule;
use casebook_vision::picture::picture_tensor;
use common::{checks, scene, write_data};
use image::RgbImage;

/// How far `picture`'s channel statistics are from `style`'s on the
/// built-in network (relative squared error, summed over the layers).
fn statistics_distance(picture: &RgbImage, style: &RgbImage) -> f32 {
    let device = Device::flex();
    let net = FeatureNet::random(Default::default(), &device);
    let layers = style_layer_indices();
    let a = net.activations(picture_tensor(picture, &device), &layers);
    let b = net.activations(picture_tensor(style, &device), &layers);
    a.into_iter()
        .zip(b)
        .map(|(a, b)| {
            let ((am, asd), (bm, bsd)) = (mean_std(a), mean_std(b));
            let rel = |x: burn::tensor::Tensor<4>, y: burn::tensor::Tensor<4>| {
                let d = (x - y.clone()).powi_scalar(2).sum().into_scalar::<f32>();
                d / y.powi_scalar(2).sum().into_scalar::<f32>()
            };
            rel(am, bm) + rel(asd, bsd)
        })
        .sum()
}

/// At alpha 1 `model` brings `content`'s statistics within `share` of
/// their distance to `style`'s; at alpha 0 (the content's own features)
/// it stays further from the style.
fn assert_draws_toward_style(model: &AdaIn, content: &RgbImage, style: &RgbImage, share: f32) {
    let drawn = model.apply(content, style, 1.0);
    let (before, after) = (
        statistics_distance(content, style),
        statistics_distance(&drawn, style),
    );
    assert!(
        after < share * before,
        "statistics distance {before} → {after}"
    );
    let kept = statistics_distance(&model.apply(content, style, 0.0), style);
    assert!(kept > after, "alpha 0: {kept}, alpha 1: {after}");
}

#[test]
fn a_trained_decoder_draws_unseen_pictures_with_the_style_statistics() {
    let dir = tempfile::tempdir().unwrap();
    write_data(dir.path());
    let config = AdaInTrainConfig {
        images: dir.path().join("pictures"),
        styles: dir.path().join("styles"),
        size: 32,
        batch_size: 2,
        schedule: Schedule {
            steps: 60,
            sample_every: 30,
            // Warm-up takes the first 6 steps at a lower rate.
            learning_rate: 4e-3,
            seed: 4,
        },
        features: Source::Random,
        ..Default::default()
    };
    let run = RunDir::create(dir.path(), Some("adain"), "style-adain").unwrap();
    let outcome = config.train(run, &Silent).unwrap();
    let mean = |name: &str, from: usize, to: usize| {
        outcome.history[from..to]
            .iter()
            .map(|r| r.get(name))
            .sum::<f64>()
            / (to - from) as f64
    };
    assert!(
        mean("total", 50, 60) < 0.5 * mean("total", 0, 10),
        "loss {} → {}",
        mean("total", 0, 10),
        mean("total", 50, 60)
    );

    let model = AdaIn::load(&outcome.run.model_path()).unwrap();
    let (content, style) = (scene(12, 37, 29), checks(40));
    let drawn = model.apply(&content, &style, 1.0);
    assert_eq!(drawn.dimensions(), (37, 29));
    assert_eq!(drawn, model.apply(&content, &style, 1.0));
    // A tiny decoder after 60 steps: clearly closer, not yet close.
    assert_draws_toward_style(&model, &content, &style, 0.75);

    let report = std::fs::read_to_string(outcome.run.report_path()).unwrap();
    assert!(report.contains("step 30") && report.contains("step 60"));
}

/// The model that ships draws a photo-like scene with a painting-like
/// style's statistics, and less so at alpha 0 (measured on the random
/// network, a judge the model was not trained against).
#[test]
fn the_builtin_model_draws_with_the_style_statistics() {
    let model = AdaIn::open(std::path::Path::new("builtin")).unwrap();
    assert_eq!(model.encoder.source, Source::Builtin);
    let starry = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/starry_night.jpg");
    let style = image::open(starry).unwrap().to_rgb8();
    let content = scene(5, 96, 64);
    assert_eq!(model.apply(&content, &style, 1.0).dimensions(), (96, 64));
    assert_draws_toward_style(&model, &content, &style, 0.5);
}

/// The fast model that ships holds its distilled encoder (half VGG-19's
/// channels) and draws with the style's statistics too.
#[test]
fn the_builtin_fast_model_holds_a_narrow_encoder_and_draws_with_the_style_statistics() {
    let model = AdaIn::open(std::path::Path::new("builtin-fast")).unwrap();
    assert_eq!(model.arch.widths, [32, 64, 128, 256]);
    assert!(matches!(model.encoder.source, Source::File(_)));
    let starry = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/starry_night.jpg");
    let style = image::open(starry).unwrap().to_rgb8();
    let content = scene(5, 96, 64);
    assert_eq!(model.apply(&content, &style, 1.0).dimensions(), (96, 64));
    assert_draws_toward_style(&model, &content, &style, 0.5);
}
