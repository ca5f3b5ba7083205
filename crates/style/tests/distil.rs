//! Distilling a feature network into a narrow encoder (`style distil`): the
//! student learns the teacher's activations, also on pictures it never saw;
//! its file serves as `--features FILE` for AdaIN, and what needs layers
//! past conv4_1 is refused with a clear error.

mod common;

use burn::optim::AdamConfig;
use burn::tensor::Device;
use casebook_core::model_file::SavedModel;
use casebook_core::observe::Silent;
use casebook_core::run::{RunDir, Training};
use casebook_style::model::adain::{style_layer_indices, AdaIn, AdaInArch};
use casebook_style::model::distilled::Distiller;
use casebook_style::model::{FeatureNet, Pool, Source, DEEPEST_LAYER};
use casebook_style::train::adain::AdaInTrainConfig;
use casebook_style::train::distil::DistilConfig;
use casebook_style::train::{LoopState, Schedule};
use casebook_vision::picture::pictures_tensor;
use common::{checks, scene, stripes, write_data};

/// The distiller's mean relative error over the matched layers on
/// `pictures`, against the random network as teacher.
fn error_on(distiller: &Distiller, pictures: &[image::RgbImage]) -> f32 {
    let device = Device::flex();
    let teacher = FeatureNet::random(Pool::default(), &device);
    let x = pictures_tensor(pictures, &device);
    let targets = teacher.activations(x.clone(), &style_layer_indices());
    let losses = distiller.losses(x, &targets);
    let n = losses.len() as f32;
    losses
        .into_iter()
        .map(|l| l.into_scalar::<f32>())
        .sum::<f32>()
        / n
}

#[test]
fn a_distilled_encoder_learns_the_teacher_and_serves_as_adains_encoder() {
    let dir = tempfile::tempdir().unwrap();
    write_data(dir.path());
    let arch = AdaInArch {
        widths: [6, 8, 12, 16],
        pool: Pool::default(),
    };
    let config = DistilConfig {
        images: dir.path().to_path_buf(),
        teacher: Source::Random,
        arch,
        size: 32,
        batch_size: 2,
        schedule: Schedule {
            steps: 80,
            sample_every: 40,
            learning_rate: 4e-3,
            seed: 3,
        },
    };
    let run = RunDir::create(dir.path(), Some("distil"), "style-distil").unwrap();
    let outcome = config.train(run, &Silent).unwrap();

    // Pictures never trained on: other scenes, other sizes.
    let unseen = vec![
        scene(20, 40, 40),
        scene(31, 40, 40),
        checks(40),
        stripes(40),
    ];
    let device = Device::flex();
    let teacher_widths: Vec<usize> = {
        let net = FeatureNet::random(Pool::default(), &device);
        style_layer_indices()
            .iter()
            .map(|&l| net.vgg.widths()[l])
            .collect()
    };
    let untrained = Distiller::new(arch, &teacher_widths, 3, &device);
    let (trained, _, _): (Distiller, _, LoopState) = casebook_core::checkpoint::load(
        &outcome.run.checkpoint_dir(),
        Distiller::new(arch, &teacher_widths, 3, &device),
        AdamConfig::new().init(),
    )
    .unwrap();
    let (before, after) = (error_on(&untrained, &unseen), error_on(&trained, &unseen));
    assert!(after < 0.6 * before, "relative error {before} → {after}");

    let path = outcome.run.model_path();
    let net = FeatureNet::from_file(&path, Pool::default(), &device).unwrap();
    assert_eq!(net.vgg.widths(), [6, 6, 8, 8, 12, 12, 12, 12, 16]);
    net.check_reaches("conv4_1").unwrap();
    let err = net.check_reaches(DEEPEST_LAYER).unwrap_err().to_string();
    assert!(err.contains("stops at conv4_1"), "{err}");
    let report = std::fs::read_to_string(outcome.run.report_path()).unwrap();
    assert!(report.contains("conv4_1"), "the report names the layers");

    let adain = AdaInTrainConfig {
        images: dir.path().join("pictures"),
        styles: dir.path().join("styles"),
        features: Source::File(path.display().to_string()),
        size: 32,
        batch_size: 1,
        schedule: Schedule {
            steps: 2,
            sample_every: 2,
            learning_rate: 1e-3,
            seed: 1,
        },
        ..Default::default()
    };
    let run = RunDir::create(dir.path(), Some("adain"), "style-adain").unwrap();
    let model_path = adain.train(run, &Silent).unwrap().run.model_path();
    let model = AdaIn::load(&model_path).unwrap();
    assert_eq!(model.arch, arch);
    let drawn = model.apply(&scene(2, 24, 16), &checks(16), 1.0);
    assert_eq!(drawn.dimensions(), (24, 16));
}
