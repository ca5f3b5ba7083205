//! Each convolution layer of `bench/conv_layers.txt`, timed alone on the
//! flex backend: through [`casebook_vision::conv::conv2d`] (the kernels the
//! cases use) and through burn's own `conv2d`, forward only or forward +
//! backward as the layer's `pass` says. `bench/conv_torch.py` times the
//! same layers in PyTorch and `bench/conv.sh` prints the two side by side.
//!
//! Prints one JSON object per layer: `{"name", "casebook_ms", "burn_ms"}`,
//! each the best of `CONV_BENCH_RUNS` runs (default 15) after 3 warm-ups,
//! the two taken in turn.
//! Backward passes multiply the output by a fixed random tensor and sum,
//! as the PyTorch script does, so the gradient reaching the convolution is
//! a contiguous tensor, as in a network.

use std::time::Instant;

use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use casebook_vision::conv::conv2d;

struct Layer {
    name: String,
    batch: usize,
    c_in: usize,
    c_out: usize,
    side: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    pass: String,
}

fn layers() -> Vec<Layer> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/conv_layers.txt");
    let text = std::fs::read_to_string(path).expect("bench/conv_layers.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = |i: usize| f[i].parse::<usize>().expect("a number");
            Layer {
                name: f[0].to_string(),
                batch: n(1),
                c_in: n(2),
                c_out: n(3),
                side: n(4),
                kernel: n(5),
                stride: n(6),
                padding: n(7),
                pass: f[8].to_string(),
            }
        })
        .collect()
}

type Conv = fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>, ConvOptions<2>) -> Tensor<4>;

/// One pass of `layer` through `conv`, ready to run: inputs, weights and
/// the probe made once.
fn prepare(layer: &Layer, conv: Conv) -> impl Fn() + '_ {
    let device = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    let input: Tensor<4> = Tensor::random(
        [layer.batch, layer.c_in, layer.side, layer.side],
        normal,
        &device,
    );
    let weight: Tensor<4> = Tensor::random(
        [layer.c_out, layer.c_in, layer.kernel, layer.kernel],
        normal,
        &device,
    );
    let bias: Tensor<1> = Tensor::random([layer.c_out], normal, &device);
    let options = ConvOptions::new([layer.stride; 2], [layer.padding; 2], [1, 1], 1);
    let (input, weight) = match layer.pass.as_str() {
        "infer" => (input, weight),
        "input" => (input.require_grad(), weight),
        "train" if layer.c_in == 3 => (input, weight.require_grad()),
        "train" => (input.require_grad(), weight.require_grad()),
        other => panic!("unknown pass {other}"),
    };
    let probe = conv(
        input.clone(),
        weight.clone(),
        Some(bias.clone()),
        options.clone(),
    );
    let probe = Tensor::random(probe.dims(), normal, &device);
    move || {
        let out = conv(
            input.clone(),
            weight.clone(),
            Some(bias.clone()),
            options.clone(),
        );
        if layer.pass == "infer" {
            let _ = out.into_data();
        } else {
            let grads = (out * probe.clone()).sum().backward();
            let g = weight
                .grad(&grads)
                .or_else(|| input.grad(&grads))
                .expect("a gradient");
            let _ = g.into_data();
        }
    }
}

/// Best milliseconds of `runs` passes of each, taken in turn (the machine
/// is shared: alternating lets both see the same load, and the best of
/// several is the least disturbed), after 3 warm-ups each.
fn best_times(passes: &[&dyn Fn()], runs: usize) -> Vec<f64> {
    for pass in passes {
        for _ in 0..3 {
            pass();
        }
    }
    let mut best = vec![f64::MAX; passes.len()];
    for _ in 0..runs {
        for (pass, best) in passes.iter().zip(&mut best) {
            let start = Instant::now();
            pass();
            *best = best.min(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    best
}

fn main() {
    casebook_core::memory::reuse_freed_memory();
    // `cargo bench` passes `--bench`; a further argument filters layers by name.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let runs = std::env::var("CONV_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    for layer in layers() {
        if filter
            .as_ref()
            .is_some_and(|f| !layer.name.contains(f.as_str()))
        {
            continue;
        }
        let (ours, burns) = (prepare(&layer, conv2d), prepare(&layer, burn_conv2d));
        let [ours, burns] = best_times(&[&ours, &burns], runs)[..] else {
            unreachable!("two passes, two times")
        };
        println!(
            "{{\"name\": \"{}\", \"casebook_ms\": {ours:.3}, \"burn_ms\": {burns:.3}}}",
            layer.name
        );
    }
}
