//! One training step of the default CNN (batch 32, 64×64×3, Adam) and
//! prediction throughput, on the default device. `bench/run.sh` runs this
//! beside the same model in PyTorch.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use casebook_image::infer::{Classifier, Preprocessing};
use casebook_image::model::{Cnn, CnnConfig};
use casebook_vision::Normalization;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const BATCH: usize = 32;
const SIDE: usize = 64;

fn train_step(c: &mut Criterion) {
    let device = casebook_core::device::compute_device().autodiff();
    device.seed(0);
    let config = CnnConfig::new(2);
    let mut model: Option<Cnn> = Some(config.init(&device));
    let mut optimizer = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let x: Tensor<4> = Tensor::random(
        [BATCH, 3, SIDE, SIDE],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let labels: Vec<i64> = (0..BATCH as i64).map(|i| i % 2).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [BATCH]), &device);
    c.bench_function("train_step_b32_64x64", |b| {
        b.iter(|| {
            let m = model.take().expect("model");
            let loss = loss_fn.forward(m.forward(x.clone()), y.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            let m = optimizer.step(2e-3, m, grads);
            // Reading a value waits for the step to finish on any backend.
            let _ = m.forward(x.clone().narrow(0, 0, 2)).into_data();
            model = Some(m);
        })
    });
}

fn predict(c: &mut Criterion) {
    let device = casebook_core::device::compute_device();
    let config = CnnConfig::new(2);
    let model = config.init(&device);
    let norm = Normalization {
        mean: [0.5; 3],
        std: [0.25; 3],
    };
    let classifier = Classifier::new(
        &model,
        config,
        vec!["day".into(), "night".into()],
        Preprocessing::new(SIDE as u32, norm),
    );
    let images: Vec<image::RgbImage> = (0..64)
        .map(|i| {
            image::RgbImage::from_fn(72, 72, |x, y| {
                image::Rgb([(x * 3) as u8, (y * 3) as u8, (i * 4) as u8])
            })
        })
        .collect();
    let mut group = c.benchmark_group("predict");
    group.throughput(Throughput::Elements(images.len() as u64));
    group.bench_function("predict_64_images_64x64", |b| {
        b.iter(|| classifier.probabilities(&images))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = {
        casebook_core::memory::reuse_freed_memory();
        Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(10))
    };
    targets = train_step, predict
}
criterion_main!(benches);
