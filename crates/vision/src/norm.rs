//! Batch normalisation in training for `[batch, channels, h, w]` on the
//! CPU: a backend extension (`cpu_batch_norm_train`) on flex with its own
//! backward pass.
//!
//! burn's generic `batch_norm_train` computes the per-channel statistics by
//! transposing the activations (`swap_dims(0, 1)`) and reducing, twice
//! forward and twice backward, plus a dozen element-wise passes; on flex
//! those transposes were the largest single cost of the day/night training
//! step (18 % of it). In NCHW each (picture, channel) plane is contiguous,
//! so here the statistics are sums over planes: two passes forward (the
//! statistics in f64, then the output) and two backward. Results agree
//! with burn's to float rounding (tested, with the running statistics).
//! Other devices, dtypes and inference use burn's `BatchNorm::forward`.
//!
//! Instance normalisation (the style networks) is batch normalisation of
//! each picture alone, so [`instance_norm`] runs on the same kernel; burn's
//! goes through its generic group norm, ~7 % of a fast-style pass at
//! 512 px (`perf`).

use crate::flex::{f32_values, flex_tensor};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    backend_extension, Autodiff, AutodiffBackend, Backend, Dispatch, DispatchDevice, Flex,
    TensorMetadata,
};
use burn::module::Param;
use burn::nn::{BatchNorm, InstanceNorm};
use burn::tensor::{DType, Tensor};
use rayon::prelude::*;

/// `norm.forward(x)`, by this module's kernels when `x` is an f32 flex
/// tensor on an autodiff device and the layer trains (the running
/// statistics are updated as burn does).
pub fn batch_norm(norm: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let on_flex = matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    );
    let training = device.is_autodiff() && norm.training.is_enabled();
    if !(on_flex && training && x.dtype() == DType::F32) {
        return norm.forward(x);
    }
    let (output, mean, variance) = <Dispatch as CpuBatchNormBackend>::cpu_batch_norm_train(
        x.into_dispatch(),
        norm.gamma.val().into_dispatch(),
        norm.beta.val().into_dispatch(),
        norm.epsilon,
    );
    let running = |state: Tensor<1>, batch: Tensor<1>| {
        state
            .mul_scalar(1.0 - norm.momentum)
            .add(batch.detach().mul_scalar(norm.momentum))
            .detach()
    };
    let mean = Tensor::<1>::from_dispatch(mean);
    let variance = Tensor::<1>::from_dispatch(variance);
    norm.running_mean.update(running(
        norm.running_mean.value_sync().to_device(&device),
        mean,
    ));
    norm.running_var.update(running(
        norm.running_var.value_sync().to_device(&device),
        variance,
    ));
    Tensor::from_dispatch(output)
}

/// `norm.forward(x)` for `x` `[batch, channels, h, w]`: on flex f32 tensors
/// (trained or not) by this module's kernel, with every picture's channel
/// as a channel of one picture, `[1, batch · channels, h, w]`, and the
/// layer's scale and shift repeated per picture.
pub fn instance_norm(norm: &InstanceNorm, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let on_flex = matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    );
    if !(on_flex && x.dtype() == DType::F32) {
        return norm.forward(x);
    }
    let [batch, channels, h, w] = x.dims();
    let per_plane = |param: &Option<Param<Tensor<1>>>, otherwise: f32| match param {
        Some(param) => param.val().repeat_dim(0, batch),
        None => Tensor::full([batch * channels], otherwise, &device),
    };
    let (output, _, _) = <Dispatch as CpuBatchNormBackend>::cpu_batch_norm_train(
        x.reshape([1, batch * channels, h, w]).into_dispatch(),
        per_plane(&norm.gamma, 1.0).into_dispatch(),
        per_plane(&norm.beta, 0.0).into_dispatch(),
        norm.epsilon,
    );
    Tensor::<4>::from_dispatch(output).reshape([batch, channels, h, w])
}

#[backend_extension(Flex, Autodiff)]
pub trait CpuBatchNormBackend: Backend {
    /// Batch norm with the batch's own statistics of `x` `[b, c, h, w]`:
    /// the output, and the per-channel mean and (biased) variance.
    fn cpu_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Sizes: `planes` (b·c) contiguous planes of `plane` values, channel
/// `i % channels` each.
#[derive(Debug, Clone, Copy)]
struct Layout {
    channels: usize,
    plane: usize,
    /// Values per channel: batch × plane.
    count: usize,
}

impl Layout {
    fn of(t: &FloatTensor<Flex>) -> Self {
        let [batch, channels, h, w] = t.shape().dims();
        Self {
            channels,
            plane: h * w,
            count: batch * h * w,
        }
    }
}

/// Per-channel sums of `f(channel, a[i], b[i])` over all planes (`a` and
/// `b` have the same layout): each plane summed in 8 f32 lanes over exact
/// chunks (independent chains without bounds checks, which the compiler
/// vectorises), the planes' sums added in f64 and in plane order.
fn channel_sums(
    layout: Layout,
    a: &[f32],
    b: &[f32],
    f: impl Fn(usize, f32, f32) -> f32 + Sync,
) -> Vec<f64> {
    assert_eq!(a.len(), b.len(), "channel_sums: two layouts");
    let planes = a.len() / layout.plane;
    let plane_sum = |p: usize| {
        let c = p % layout.channels;
        let values = p * layout.plane..(p + 1) * layout.plane;
        let (a, b) = (&a[values.clone()], &b[values]);
        let (a, b) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail: f64 = (a.remainder().iter().zip(b.remainder()))
            .map(|(&x, &y)| f(c, x, y) as f64)
            .sum();
        let mut lanes = [0f32; 8];
        for (x, y) in a.zip(b) {
            let (x, y): (&[f32; 8], &[f32; 8]) = (x.try_into().unwrap(), y.try_into().unwrap());
            for (l, lane) in lanes.iter_mut().enumerate() {
                *lane += f(c, x[l], y[l]);
            }
        }
        lanes.iter().map(|&v| v as f64).sum::<f64>() + tail
    };
    (0..layout.channels)
        .into_par_iter()
        .map(|c| (c..planes).step_by(layout.channels).map(plane_sum).sum())
        .collect()
}

/// The per-channel mean and biased variance (two passes).
fn statistics(x: &[f32], layout: Layout) -> (Vec<f32>, Vec<f32>) {
    let n = layout.count as f64;
    let sums = channel_sums(layout, x, x, |_, v, _| v);
    let mean: Vec<f32> = sums.iter().map(|s| (s / n) as f32).collect();
    let squares = channel_sums(layout, x, x, |c, v, _| (v - mean[c]) * (v - mean[c]));
    (mean, squares.iter().map(|s| (s / n) as f32).collect())
}

fn inverse_std(variance: &[f32], epsilon: f64) -> Vec<f32> {
    variance
        .iter()
        .map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32)
        .collect()
}

impl CpuBatchNormBackend for Flex {
    fn cpu_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (shape, layout) = (x.shape().dims::<4>(), Layout::of(&x));
        let [x, gamma, beta] = [&x, &gamma, &beta].map(f32_values);
        let (x, gamma, beta) = (&*x, &*gamma, &*beta);
        let (mean, variance) = statistics(x, layout);
        let inv_std = inverse_std(&variance, epsilon);
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(layout.plane)
            .zip(x.par_chunks(layout.plane))
            .enumerate()
            .for_each(|(p, (out, x))| {
                let c = p % layout.channels;
                let scale = inv_std[c] * gamma[c];
                let shift = beta[c] - mean[c] * scale;
                for (o, v) in out.iter_mut().zip(x) {
                    *o = v * scale + shift;
                }
            });
        let channel = |v: Vec<f32>| flex_tensor(v, &[layout.channels]);
        (flex_tensor(out, &shape), channel(mean), channel(variance))
    }
}

/// The gradients of [`CpuBatchNormBackend::cpu_batch_norm_train`]'s output
/// with respect to `x`, `gamma` and `beta`, given the output's gradient and
/// the forward's statistics: with `x̂ = (x − mean)·inv_std`, `dβ = Σ g`,
/// `dγ = Σ g·x̂` and `dx = γ·inv_std·(g − dβ/n − x̂·dγ/n)`.
fn backward(
    x: &[f32],
    gamma: &[f32],
    grad: &[f32],
    (mean, inv_std): (&[f32], &[f32]),
    layout: Layout,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let beta_grad = channel_sums(layout, grad, grad, |_, g, _| g);
    let gamma_grad = channel_sums(layout, grad, x, |c, g, v| g * ((v - mean[c]) * inv_std[c]));
    let n = layout.count as f64;
    let mut x_grad = vec![0f32; x.len()];
    x_grad
        .par_chunks_mut(layout.plane)
        .enumerate()
        .for_each(|(p, out)| {
            let c = p % layout.channels;
            let scale = gamma[c] * inv_std[c];
            let mean_grad = (beta_grad[c] / n) as f32;
            let mean_projection = (gamma_grad[c] / n) as f32;
            let (g, x) = (&grad[p * layout.plane..], &x[p * layout.plane..]);
            for ((o, &g), &x) in out.iter_mut().zip(g).zip(x) {
                let normalized = (x - mean[c]) * inv_std[c];
                *o = scale * (g - mean_grad - normalized * mean_projection);
            }
        });
    let to_f32 = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect();
    (x_grad, to_f32(gamma_grad), to_f32(beta_grad))
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    /// The input, gamma, and the batch's mean and inverse standard
    /// deviation per channel.
    type State = (FloatTensor<Flex>, FloatTensor<Flex>, Vec<f32>, Vec<f32>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, gamma, mean, inv_std) = ops.state;
        let (shape, layout) = (x.shape().dims::<4>(), Layout::of(&x));
        let [x, gamma, grad] = [&x, &gamma, &grad].map(f32_values);
        let (x_grad, gamma_grad, beta_grad) =
            backward(&x, &gamma, &grad, (&mean, &inv_std), layout);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex_tensor(x_grad, &shape));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, flex_tensor(gamma_grad, &[layout.channels]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, flex_tensor(beta_grad, &[layout.channels]));
        }
    }
}

impl<C: CheckpointStrategy> CpuBatchNormBackend for Autodiff<Flex, C> {
    fn cpu_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (x, x_node) = x.into_parts();
        let (gamma, gamma_node) = gamma.into_parts();
        let (beta, beta_node) = beta.into_parts();
        let (out, mean, variance) =
            Flex::cpu_batch_norm_train(x.clone(), gamma.clone(), beta, epsilon);
        let out = match BatchNormBackward
            .prepare::<C>([x_node, gamma_node, beta_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let statistics = [&mean, &variance].map(|t| f32_values(t).into_owned());
                let [mean, variance] = statistics;
                let inv_std = inverse_std(&variance, epsilon);
                prep.finish((x, gamma, mean, inv_std), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        (out, Self::from_inner(mean), Self::from_inner(variance))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::{BatchNormConfig, InstanceNormConfig};
    use burn::tensor::{Device, Distribution};

    fn vec_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    /// Normal values from a ChaCha stream of `seed`: every run checks the
    /// same data. (burn's generator is shared with the tests running beside
    /// these, so its draws differ from run to run; one draw, three values
    /// per channel of which two nearly equal, put an input gradient 5e-4
    /// apart from burn's and failed CI once.)
    fn normal<const D: usize>(
        shape: [usize; D],
        (mean, std): (f32, f32),
        seed: u64,
        device: &Device,
    ) -> Tensor<D> {
        use rand::SeedableRng;
        use rand_distr::Distribution as _;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let normal = rand_distr::Normal::new(mean, std).unwrap();
        let values: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| normal.sample(&mut rng))
            .collect();
        Tensor::from_data(burn::tensor::TensorData::new(values, shape), device)
    }

    fn assert_close(ours: Vec<f32>, burns: Vec<f32>, what: &str) {
        assert_eq!(ours.len(), burns.len(), "{what}: sizes");
        let scale = burns.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in ours.iter().zip(&burns).enumerate() {
            assert!(
                (x - y).abs() <= 2e-5 * scale + 1e-5,
                "{what}: [{i}] ours {x} vs burn {y}"
            );
        }
    }

    /// Runs `ours` and `burns` on `x`, checks their outputs and input
    /// gradients (against a random probe) agree, and returns both gradients
    /// for the layers' parameters.
    fn compare_with_burn(
        x: Tensor<4>,
        ours: impl FnOnce(Tensor<4>) -> Tensor<4>,
        burns: impl FnOnce(Tensor<4>) -> Tensor<4>,
        what: &str,
    ) -> (burn::tensor::Gradients, burn::tensor::Gradients) {
        let probe = normal(x.dims(), (0.0, 1.0), 99, &x.device());
        let (x_ours, x_burn) = (x.clone().require_grad(), x.require_grad());
        let (y_ours, y_burn) = (ours(x_ours.clone()), burns(x_burn.clone()));
        assert_close(
            vec_of(y_ours.clone()),
            vec_of(y_burn.clone()),
            &format!("{what}: output"),
        );
        let g_ours = (y_ours * probe.clone()).sum().backward();
        let g_burn = (y_burn * probe).sum().backward();
        assert_close(
            vec_of(x_ours.grad(&g_ours).unwrap()),
            vec_of(x_burn.grad(&g_burn).unwrap()),
            &format!("{what}: input gradient"),
        );
        (g_ours, g_burn)
    }

    #[test]
    fn training_forward_gradients_and_running_statistics_agree_with_burn() {
        let device = Device::flex().autodiff();
        for (case, shape) in [[2, 3, 5, 7], [1, 4, 1, 3], [5, 1, 3, 2], [3, 6, 8, 8]]
            .into_iter()
            .enumerate()
        {
            let channels = shape[1];
            let seed = 10 * case as u64;
            let (gamma, beta) = (
                normal([channels], (0.5, 1.0), seed + 1, &device),
                normal([channels], (0.5, 1.0), seed + 2, &device),
            );
            // Two layers with the same non-trivial parameters.
            let layer = || {
                let mut norm = BatchNormConfig::new(channels).init(&device);
                norm.gamma = Param::from_tensor(gamma.clone());
                norm.beta = Param::from_tensor(beta.clone());
                norm
            };
            let (ours, burns) = (layer(), layer());
            let x = normal(shape, (1.0, 2.0), seed + 3, &device);
            let what = format!("case {case} {shape:?}");
            let (g_ours, g_burn) =
                compare_with_burn(x, |x| batch_norm(&ours, x), |x| burns.forward(x), &what);
            for (name, a, b) in [
                ("gamma", &ours.gamma, &burns.gamma),
                ("beta", &ours.beta, &burns.beta),
            ] {
                assert_close(
                    vec_of(a.grad(&g_ours).unwrap()),
                    vec_of(b.grad(&g_burn).unwrap()),
                    &format!("{what}: {name} gradient"),
                );
            }
            assert_close(
                vec_of(ours.running_mean.value_sync()),
                vec_of(burns.running_mean.value_sync()),
                &format!("{what}: running mean"),
            );
            assert_close(
                vec_of(ours.running_var.value_sync()),
                vec_of(burns.running_var.value_sync()),
                &format!("{what}: running variance"),
            );
        }
    }

    /// Output and the input's, scale's and shift's gradients agree with
    /// burn's `InstanceNorm`, with and without autodiff, affine or not.
    #[test]
    fn instance_norm_agrees_with_burn() {
        for (case, (shape, affine)) in [
            ([2, 3, 5, 7], true),
            ([3, 2, 4, 4], false),
            ([1, 4, 9, 2], true),
        ]
        .into_iter()
        .enumerate()
        {
            let seed = 10 * case as u64;
            let device = Device::flex().autodiff();
            let channels = shape[1];
            let mut layer = InstanceNormConfig::new(channels)
                .with_affine(affine)
                .init(&device);
            if affine {
                let random =
                    |seed| Param::from_tensor(normal([channels], (0.5, 1.0), seed, &device));
                (layer.gamma, layer.beta) = (Some(random(seed + 1)), Some(random(seed + 2)));
            }
            let x = normal(shape, (1.0, 2.0), seed + 3, &device);
            let what = format!("{shape:?}, affine {affine}");
            let (g_ours, g_burn) = compare_with_burn(
                x.clone(),
                |x| instance_norm(&layer, x),
                |x| layer.forward(x),
                &what,
            );
            if let (Some(gamma), Some(beta)) = (&layer.gamma, &layer.beta) {
                for (name, param) in [("gamma", gamma), ("beta", beta)] {
                    assert_close(
                        vec_of(param.grad(&g_ours).unwrap()),
                        vec_of(param.grad(&g_burn).unwrap()),
                        &format!("{what}: {name} gradient"),
                    );
                }
            }
            // The same layer on a plain device (a model's `valid()` copy).
            let plain = layer.valid();
            let x = x.inner();
            assert_close(
                vec_of(instance_norm(&plain, x.clone())),
                vec_of(plain.forward(x)),
                &format!("{what}: plain device"),
            );
        }
    }

    #[test]
    fn inference_and_plain_devices_use_burns_forward() {
        let device = Device::flex();
        let norm = BatchNormConfig::new(3).init(&device);
        let x = Tensor::<4>::random([2, 3, 4, 4], Distribution::Default, &device);
        assert_eq!(
            vec_of(batch_norm(&norm, x.clone())),
            vec_of(norm.forward(x))
        );
    }
}
