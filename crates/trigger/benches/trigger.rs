//! Speed of the trigger-word model: one training step of the default (lecture)
//! network on batch 8 × 10 s, as `bench/torch_trigger.py` measures PyTorch;
//! and streaming detection over 60 s of audio on one thread, whose real-time
//! factor is 60 s / the measured time.

use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::log_sigmoid;
use burn::tensor::{Distribution, Tensor};
use casebook_trigger::data::features::{FeatureConfig, MODEL_SPECTROGRAM};
use casebook_trigger::infer::{device, TriggerModel};
use casebook_trigger::model::Preset;
use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};

fn train_step(c: &mut Criterion) {
    let device = device().autodiff();
    device.seed(1);
    let config = Preset::Default.config(MODEL_SPECTROGRAM.bins());
    let mut net = config.init(&device);
    let mut optimizer = AdamConfig::new().init();
    let x = Tensor::<3>::random([8, 5511, 101], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<2>::random([8, 1375], Distribution::Bernoulli(0.07), &device);
    let mut group = c.benchmark_group("trigger");
    group.sample_size(10);
    group.bench_function("train_step_b8_default", |b| {
        b.iter(|| {
            let logits = net.forward(x.clone());
            let loss = (y.clone() * log_sigmoid(logits.clone())
                + (y.clone().neg() + 1.0) * log_sigmoid(logits.neg()))
            .mean()
            .neg();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optimizer.step(1e-3, net.clone(), grads);
        })
    });
    group.finish();
}

fn streaming(c: &mut Criterion) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let audio: Vec<f32> = (0..60 * 16_000).map(|_| rng.gen_range(-0.1..0.1)).collect();
    let features = FeatureConfig::fit(MODEL_SPECTROGRAM, &[&audio[..16_000]]);
    let mut group = c.benchmark_group("trigger");
    group.sample_size(10);
    for preset in [Preset::Small, Preset::Default] {
        let config = preset.config(MODEL_SPECTROGRAM.bins());
        let net = config.init(&device());
        let model = TriggerModel::new(&net, config, features.clone(), "activate".into());
        let name = format!("stream_60s_{preset:?}").to_lowercase();
        group.bench_function(&name, |b| {
            b.iter(|| {
                let mut stream = model.stream();
                audio
                    .chunks(1600)
                    .map(|chunk| stream.push(chunk).len())
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = {
        casebook_core::memory::reuse_freed_memory();
        Criterion::default()
    };
    targets = train_step, streaming
}
criterion_main!(benches);
