//! Fast style (Johnson et al.): training learns the style on pictures it
//! never saw, a stopped run resumes exactly, and applying is deterministic
//! at any size.

mod common;

use std::path::Path;

use burn::tensor::Device;
use casebook_core::model_file::SavedModel;
use casebook_core::observe::{Silent, StopAfter, Stopped};
use casebook_core::run::{RunDir, Training};
use casebook_style::loss::StyleGrams;
use casebook_style::model::layer_index;
use casebook_style::model::transform::{FastStyle, TransformArch};
use casebook_style::model::{FeatureNet, Source};
use casebook_style::train::fast::{FastTrainConfig, STYLE_LAYERS};
use casebook_style::train::Schedule;
use casebook_vision::picture::picture_tensor;
use common::{scene, write_data};
use image::RgbImage;

fn config(dir: &Path, steps: usize, sample_every: usize) -> FastTrainConfig {
    FastTrainConfig {
        style: dir.join("stripes.png"),
        images: dir.join("pictures"),
        arch: TransformArch {
            width: 8,
            residual_blocks: 1,
        },
        size: 32,
        batch_size: 2,
        schedule: Schedule {
            steps,
            sample_every,
            learning_rate: 1e-2,
            seed: 3,
        },
        features: Source::Random,
        ..Default::default()
    }
}

/// The relative style loss of `picture` against the style as trained on
/// (`stripes.png` at 32 pixels), on the built-in network at the training
/// layers.
fn style_distance(dir: &Path, picture: &RgbImage) -> f32 {
    let style = casebook_style::data::load_picture(&dir.join("stripes.png"), 32).unwrap();
    let device = Device::flex();
    let net = FeatureNet::random(Default::default(), &device);
    let layers: Vec<usize> = STYLE_LAYERS
        .iter()
        .map(|l| layer_index(l).unwrap())
        .collect();
    let target = StyleGrams::blend(vec![(
        net.activations(picture_tensor(&style, &device), &layers),
        1.0,
    )]);
    target
        .loss(&net.activations(picture_tensor(picture, &device), &layers))
        .into_scalar()
}

#[test]
fn a_trained_network_draws_unseen_pictures_in_the_style_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    write_data(dir.path());
    let run = RunDir::create(dir.path(), Some("fast"), "style-fast").unwrap();
    let outcome = config(dir.path(), 80, 40).train(run, &Silent).unwrap();
    let style = |from: usize, to: usize| {
        outcome.history[from..to]
            .iter()
            .map(|r| r.get("style"))
            .sum::<f64>()
            / (to - from) as f64
    };
    assert!(
        style(70, 80) < 0.5 * style(0, 10),
        "style loss {} → {}: {:?}",
        style(0, 10),
        style(70, 80),
        outcome
            .history
            .iter()
            .map(|r| r.get("style"))
            .collect::<Vec<_>>()
    );

    let model = FastStyle::load(&outcome.run.model_path()).unwrap();
    assert_eq!(model.record["steps"], 80);
    // A picture it never saw, at a size that is no multiple of 4.
    let unseen = scene(11, 37, 29);
    let drawn = model.apply(&unseen);
    assert_eq!(drawn.dimensions(), (37, 29));
    assert_eq!(drawn, model.apply(&unseen));
    let (before, after) = (
        style_distance(dir.path(), &unseen),
        style_distance(dir.path(), &drawn),
    );
    assert!(after < 0.5 * before, "style distance {before} → {after}");

    let report = std::fs::read_to_string(outcome.run.report_path()).unwrap();
    assert!(report.contains("step 40") && report.contains("step 80") && report.contains("<svg"));
}

#[test]
fn a_stopped_run_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    write_data(dir.path());
    let straight = config(dir.path(), 6, 2)
        .train(
            RunDir::create(dir.path(), Some("straight"), "style-fast").unwrap(),
            &Silent,
        )
        .unwrap();

    let stop = StopAfter::new(5);
    let err = config(dir.path(), 6, 2)
        .train(
            RunDir::create(dir.path(), Some("stopped"), "style-fast").unwrap(),
            &stop,
        )
        .unwrap_err();
    let stopped = err.downcast_ref::<Stopped>().expect("a Stopped error");
    assert!(stopped.kept.contains("step 4"), "{stopped}");
    let resumed =
        FastTrainConfig::resume(RunDir::open(&dir.path().join("stopped")).unwrap(), &Silent)
            .unwrap();

    // Losses are f32 computations; the checkpoint keeps them as JSON numbers.
    let losses = |h: &[casebook_core::run::MetricsRecord]| {
        h.iter()
            .map(|r| (r.step, r.get("total") as f32))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&straight.history), losses(&resumed.history));
    let picture = scene(2, 32, 32);
    let apply = |run: &RunDir| FastStyle::load(&run.model_path()).unwrap().apply(&picture);
    assert_eq!(apply(&straight.run), apply(&resumed.run));
}

#[test]
fn bad_training_input_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    write_data(dir.path());
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let cases = [
        (
            FastTrainConfig {
                images: empty,
                ..config(dir.path(), 2, 1)
            },
            "no pictures to train on",
        ),
        (
            FastTrainConfig {
                style: dir.path().join("pictures/notes.txt"),
                ..config(dir.path(), 2, 1)
            },
            "cannot read",
        ),
        (
            FastTrainConfig {
                size: 30,
                ..config(dir.path(), 2, 1)
            },
            "multiple of 4",
        ),
    ];
    for (i, (config, message)) in cases.into_iter().enumerate() {
        let run = RunDir::create(dir.path(), Some(&format!("bad{i}")), "style-fast").unwrap();
        let err = format!("{:#}", config.train(run, &Silent).unwrap_err());
        assert!(err.contains(message), "{err}");
        assert!(!dir.path().join(format!("bad{i}")).exists());
    }
}
