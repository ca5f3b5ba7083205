//! Max pooling on the CPU without padding or dilation, and 2×2 average
//! pooling: backend extensions (`cpu_max_pool2d`, `cpu_avg_pool2x2`) on
//! flex with their own backward passes.
//!
//! burn's flex max pooling is written for 3-D pooling with padding and
//! dilation and keeps an i64 index per output for the backward pass; on the
//! day/night CNN's first 2×2 pool (32 × 16 × 64 × 64 activations) it took
//! 8–9 ms forward, and `perf` put burn's pooling at a quarter of the whole
//! training step. Here each (picture, channel) plane is pooled on its own
//! with the window's position of the maximum kept as one byte (under 4 ms
//! for that pool, forward), and the backward pass adds each output's
//! gradient at that position.
//!
//! Ties and NaN follow burn (and PyTorch): the first maximum of a window
//! wins, and a NaN wins over any number, so it propagates. Results and
//! gradients equal burn's exactly (tested). Padding, dilation, ceil mode,
//! other dtypes and devices go to burn's `max_pool2d`.
//!
//! burn's average pooling is the same general scalar loop with a division
//! per output: ~10 % of an AdaIN pass at 512 px (`perf`). VGG's 2×2 windows
//! moved by 2 (the style networks with `--pool avg`, the face encoder) are
//! a sum of four neighbours here, and their gradient a quarter of the
//! output's at each.

use crate::flex::{f32_values, flex_tensor, one_input, InputGradient};
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    backend_extension, Autodiff, Backend, Dispatch, DispatchDevice, Flex, TensorMetadata,
};
use burn::nn::pool::MaxPool2d;
use burn::nn::PaddingConfig2d;
use burn::tensor::module::{avg_pool2d as burn_avg_pool2d, max_pool2d as burn_max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use burn::tensor::{DType, Tensor};
use rayon::prelude::*;

/// `pool.forward(x)`, by this module's kernel where it applies.
pub fn max_pool2d_forward(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let plain = matches!(pool.padding, PaddingConfig2d::Valid)
        && pool.dilation == [1, 1]
        && !pool.ceil_mode;
    if plain {
        max_pool2d(x, pool.kernel_size, pool.stride)
    } else {
        pool.forward(x)
    }
}

/// Max pooling of `x` `[b, c, h, w]` by windows of `kernel` moved by
/// `stride`, without padding; `h` and `w` must be at least the kernel's.
pub fn max_pool2d(x: Tensor<4>, kernel: [usize; 2], stride: [usize; 2]) -> Tensor<4> {
    let on_flex = matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_));
    let window = kernel[0] * kernel[1];
    if on_flex && x.dtype() == DType::F32 && (1..=256).contains(&window) {
        Tensor::from_dispatch(<Dispatch as CpuPoolBackend>::cpu_max_pool2d(
            x.into_dispatch(),
            kernel,
            stride,
        ))
    } else {
        burn_max_pool2d(x, MaxPoolOptions::new(kernel).with_stride(stride))
    }
}

/// Average pooling of `x` `[b, c, h, w]` by 2×2 windows moved by 2, without
/// padding: an odd last row or column is left out, as by burn and PyTorch.
pub fn avg_pool2x2(x: Tensor<4>) -> Tensor<4> {
    let on_flex = matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_));
    let [_, _, h, w] = x.dims();
    if on_flex && x.dtype() == DType::F32 && h >= 2 && w >= 2 {
        Tensor::from_dispatch(<Dispatch as CpuPoolBackend>::cpu_avg_pool2x2(
            x.into_dispatch(),
        ))
    } else {
        burn_avg_pool2d(x, AvgPoolOptions::new([2, 2]).with_stride([2, 2]))
    }
}

#[backend_extension(Flex, Autodiff)]
pub trait CpuPoolBackend: Backend {
    /// Max pooling of `x` `[b, c, h, w]`, no padding or dilation.
    fn cpu_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> FloatTensor<Self>;

    /// Average pooling of `x` `[b, c, h, w]` (both sides at least 2) by 2×2
    /// windows moved by 2.
    fn cpu_avg_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The sizes of one pooling.
#[derive(Debug, Clone, Copy)]
struct Pooling {
    input: [usize; 4],
    kernel: [usize; 2],
    stride: [usize; 2],
    h_out: usize,
    w_out: usize,
}

impl Pooling {
    fn new(input: [usize; 4], kernel: [usize; 2], stride: [usize; 2]) -> Self {
        let [_, _, h, w] = input;
        assert!(
            h >= kernel[0] && w >= kernel[1] && stride[0] > 0 && stride[1] > 0,
            "pooling: a {h}×{w} input is smaller than the {kernel:?} window"
        );
        Self {
            input,
            kernel,
            stride,
            h_out: (h - kernel[0]) / stride[0] + 1,
            w_out: (w - kernel[1]) / stride[1] + 1,
        }
    }

    fn plane_in(&self) -> usize {
        self.input[2] * self.input[3]
    }

    fn plane_out(&self) -> usize {
        self.h_out * self.w_out
    }

    fn output_dims(&self) -> [usize; 4] {
        [self.input[0], self.input[1], self.h_out, self.w_out]
    }

    /// Where each window position (`ky·kw + kx`) reads in the input plane,
    /// relative to the window's corner: no division in the loops.
    fn offsets(&self) -> Vec<usize> {
        let [kh, kw] = self.kernel;
        (0..kh * kw)
            .map(|k| k / kw * self.input[3] + k % kw)
            .collect()
    }

    /// The input position of the corner of output `(oy, ox)`'s window.
    fn corner(&self, oy: usize, ox: usize) -> usize {
        oy * self.stride[0] * self.input[3] + ox * self.stride[1]
    }
}

/// The pooled planes and, per output, the window position of its maximum.
fn forward(x: &[f32], p: &Pooling) -> (Vec<f32>, Vec<u8>) {
    let planes = p.input[0] * p.input[1];
    let mut out = vec![0f32; planes * p.plane_out()];
    let mut argmax = vec![0u8; planes * p.plane_out()];
    let offsets = p.offsets();
    out.par_chunks_mut(p.plane_out())
        .zip(argmax.par_chunks_mut(p.plane_out()))
        .zip(x.par_chunks(p.plane_in()))
        .for_each(|((out, argmax), plane)| {
            if p.kernel == [2, 2] && p.stride == [2, 2] {
                pool_plane_2x2(plane, p, out, argmax);
            } else {
                pool_plane(plane, p, &offsets, out, argmax);
            }
        });
    (out, argmax)
}

/// The pooled planes alone, for inference: without the window positions
/// that only a backward pass needs, the comparisons become selects that
/// vectorise. (On the face encoder's 3×3/2 pool, the branches and
/// position bytes of [`pool_plane`] were a tenth of a batch-32 pass.)
fn forward_values(x: &[f32], p: &Pooling) -> Vec<f32> {
    let planes = p.input[0] * p.input[1];
    let mut out = vec![0f32; planes * p.plane_out()];
    let offsets = p.offsets();
    out.par_chunks_mut(p.plane_out())
        .zip(x.par_chunks(p.plane_in()))
        .for_each(|(out, plane)| {
            if p.kernel == [2, 2] && p.stride == [2, 2] {
                return pool_plane_2x2_values(plane, p, out);
            }
            for (oy, best) in out.chunks_exact_mut(p.w_out).enumerate() {
                let corner = p.corner(oy, 0);
                let first = plane[corner..].iter().step_by(p.stride[1]);
                best.iter_mut().zip(first).for_each(|(b, &v)| *b = v);
                for &offset in &offsets[1..] {
                    let inputs = plane[corner + offset..].iter().step_by(p.stride[1]);
                    for (b, &v) in best.iter_mut().zip(inputs) {
                        *b = if wins(v, *b) { v } else { *b };
                    }
                }
            }
        });
    out
}

/// Whether `v` replaces the window's maximum so far: it is larger, or NaN.
fn wins(v: f32, best: f32) -> bool {
    v > best || v.is_nan()
}

/// One plane, a whole output row at a time, window position by window
/// position: the outputs' comparisons are independent, so they pipeline
/// (one window at a time was a chain of dependent compares).
fn pool_plane(plane: &[f32], p: &Pooling, offsets: &[usize], out: &mut [f32], argmax: &mut [u8]) {
    let rows = out
        .chunks_exact_mut(p.w_out)
        .zip(argmax.chunks_exact_mut(p.w_out));
    for (oy, (best, at)) in rows.enumerate() {
        let corner = p.corner(oy, 0);
        let first = plane[corner..].iter().step_by(p.stride[1]);
        best.iter_mut().zip(first).for_each(|(b, &v)| *b = v);
        at.fill(0);
        for (k, &offset) in offsets.iter().enumerate().skip(1) {
            let inputs = plane[corner + offset..].iter().step_by(p.stride[1]);
            for ((b, a), &v) in best.iter_mut().zip(at.iter_mut()).zip(inputs) {
                if wins(v, *b) {
                    (*b, *a) = (v, k as u8);
                }
            }
        }
    }
}

/// One plane of 2×2, stride-2 windows (every pool of the cases' CNNs),
/// each window's four values kept in registers and compared by selects:
/// on activations a branch on the outcome mispredicts half the time.
fn pool_plane_2x2(plane: &[f32], p: &Pooling, out: &mut [f32], argmax: &mut [u8]) {
    let w = p.input[3];
    let rows = out
        .chunks_exact_mut(p.w_out)
        .zip(argmax.chunks_exact_mut(p.w_out));
    for (oy, (best, at)) in rows.enumerate() {
        let top = plane[2 * oy * w..][..2 * p.w_out].chunks_exact(2);
        let bottom = plane[(2 * oy + 1) * w..][..2 * p.w_out].chunks_exact(2);
        for ((b, a), (t, u)) in best.iter_mut().zip(at.iter_mut()).zip(top.zip(bottom)) {
            let (mut max, mut k) = (t[0], 0u8);
            for (i, v) in [t[1], u[0], u[1]].into_iter().enumerate() {
                let take = wins(v, max);
                max = if take { v } else { max };
                k = if take { i as u8 + 1 } else { k };
            }
            (*b, *a) = (max, k);
        }
    }
}

/// [`pool_plane_2x2`] without the window positions.
fn pool_plane_2x2_values(plane: &[f32], p: &Pooling, out: &mut [f32]) {
    let w = p.input[3];
    for (oy, best) in out.chunks_exact_mut(p.w_out).enumerate() {
        let top = plane[2 * oy * w..][..2 * p.w_out].chunks_exact(2);
        let bottom = plane[(2 * oy + 1) * w..][..2 * p.w_out].chunks_exact(2);
        for (b, (t, u)) in best.iter_mut().zip(top.zip(bottom)) {
            *b = [t[1], u[0], u[1]]
                .into_iter()
                .fold(t[0], |max, v| if wins(v, max) { v } else { max });
        }
    }
}

/// The input's gradient: each output's gradient added where its maximum was.
fn backward(grad: &[f32], argmax: &[u8], p: &Pooling) -> Vec<f32> {
    let mut dx = vec![0f32; p.input[0] * p.input[1] * p.plane_in()];
    let offsets = p.offsets();
    dx.par_chunks_mut(p.plane_in())
        .zip(grad.par_chunks(p.plane_out()))
        .zip(argmax.par_chunks(p.plane_out()))
        .for_each(|((dx, grad), argmax)| {
            for oy in 0..p.h_out {
                for ox in 0..p.w_out {
                    let i = oy * p.w_out + ox;
                    dx[p.corner(oy, ox) + offsets[argmax[i] as usize]] += grad[i];
                }
            }
        });
    dx
}

/// The 2×2, stride-2 averages of every plane.
fn average_forward(x: &[f32], p: &Pooling) -> Vec<f32> {
    let w = p.input[3];
    let mut out = vec![0f32; p.input[0] * p.input[1] * p.plane_out()];
    out.par_chunks_mut(p.plane_out())
        .zip(x.par_chunks(p.plane_in()))
        .for_each(|(out, plane)| {
            for (oy, row) in out.chunks_exact_mut(p.w_out).enumerate() {
                let top = plane[2 * oy * w..][..2 * p.w_out].chunks_exact(2);
                let bottom = plane[(2 * oy + 1) * w..][..2 * p.w_out].chunks_exact(2);
                for ((o, t), b) in row.iter_mut().zip(top).zip(bottom) {
                    // burn's order of the sum, so results are equal.
                    *o = (t[0] + t[1] + b[0] + b[1]) / 4.0;
                }
            }
        });
    out
}

/// The input's gradient of [`average_forward`]: a quarter of each output's
/// gradient at each of its window's four inputs, zero in a left-out odd
/// row or column.
fn average_backward(grad: &[f32], p: &Pooling) -> Vec<f32> {
    let w = p.input[3];
    let mut dx = vec![0f32; p.input[0] * p.input[1] * p.plane_in()];
    dx.par_chunks_mut(p.plane_in())
        .zip(grad.par_chunks(p.plane_out()))
        .for_each(|(dx, grad)| {
            for (oy, row) in grad.chunks_exact(p.w_out).enumerate() {
                for dy in 0..2 {
                    let line = dx[(2 * oy + dy) * w..][..2 * p.w_out].chunks_exact_mut(2);
                    for (pair, g) in line.zip(row) {
                        pair.fill(g / 4.0);
                    }
                }
            }
        });
    dx
}

impl CpuPoolBackend for Flex {
    fn cpu_avg_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let p = Pooling::new(x.shape().dims(), [2, 2], [2, 2]);
        flex_tensor(average_forward(&f32_values(&x), &p), &p.output_dims())
    }

    fn cpu_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> FloatTensor<Self> {
        let p = Pooling::new(x.shape().dims(), kernel, stride);
        flex_tensor(forward_values(&f32_values(&x), &p), &p.output_dims())
    }
}

#[derive(Debug)]
struct MaxPoolGradient;

impl InputGradient for MaxPoolGradient {
    /// The window position of each output's maximum, and the sizes.
    type State = (Vec<u8>, Pooling);

    fn input_gradient(grad: &[f32], (argmax, p): Self::State) -> (Vec<f32>, [usize; 4]) {
        (backward(grad, &argmax, &p), p.input)
    }
}

#[derive(Debug)]
struct AvgPoolGradient;

impl InputGradient for AvgPoolGradient {
    /// The sizes.
    type State = Pooling;

    fn input_gradient(grad: &[f32], p: Self::State) -> (Vec<f32>, [usize; 4]) {
        (average_backward(grad, &p), p.input)
    }
}

impl<C: CheckpointStrategy> CpuPoolBackend for Autodiff<Flex, C> {
    fn cpu_avg_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        one_input::<_, C>(AvgPoolGradient, x, |x| {
            let p = Pooling::new(x.shape().dims(), [2, 2], [2, 2]);
            (Flex::cpu_avg_pool2x2(x), p)
        })
    }

    fn cpu_max_pool2d(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> FloatTensor<Self> {
        one_input::<_, C>(MaxPoolGradient, x, |x| {
            let p = Pooling::new(x.shape().dims(), kernel, stride);
            let (out, argmax) = forward(&f32_values(&x), &p);
            (flex_tensor(out, &p.output_dims()), (argmax, p))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::activation::relu;
    use burn::tensor::{Device, Distribution};

    fn vec_of(t: Tensor<4>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    /// Forward (with and without autodiff) and input gradient equal
    /// burn's bit for bit, on ReLU'd activations (windows of tied zeros:
    /// the first must win) and with a NaN (it must propagate), for the
    /// cases' windows and odd sizes.
    #[test]
    fn forward_and_gradient_equal_burns() {
        let device = Device::flex().autodiff();
        let plain = Device::flex();
        let cases = [
            ([2, 3, 8, 8], [2, 2], [2, 2]),
            ([1, 2, 9, 7], [2, 2], [2, 2]),
            ([2, 2, 11, 10], [3, 3], [2, 2]),
            ([1, 1, 5, 6], [3, 2], [1, 2]),
        ];
        for (dims, kernel, stride) in cases {
            let mut values = vec_of(relu(Tensor::random(
                dims,
                Distribution::Normal(0.0, 1.0),
                &device,
            )));
            values[3] = f32::NAN;
            let x = || {
                Tensor::<4>::from_data(burn::tensor::TensorData::new(values.clone(), dims), &device)
                    .require_grad()
            };
            let (ours_x, burns_x) = (x(), x());
            let ours = max_pool2d(ours_x.clone(), kernel, stride);
            let burns = burn_max_pool2d(
                burns_x.clone(),
                MaxPoolOptions::new(kernel).with_stride(stride),
            );
            assert_eq!(ours.dims(), burns.dims(), "{dims:?} {kernel:?}");
            let probe = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &device);
            let (o, b) = (vec_of(ours.clone()), vec_of(burns.clone()));
            assert!(
                o.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{dims:?}: outputs differ"
            );
            let inference = vec_of(max_pool2d(
                Tensor::from_data(burn::tensor::TensorData::new(values.clone(), dims), &plain),
                kernel,
                stride,
            ));
            assert!(
                inference
                    .iter()
                    .zip(&b)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{dims:?}: inference outputs differ"
            );
            let g_ours = ours_x
                .grad(&(ours * probe.clone()).sum().backward())
                .unwrap();
            let g_burn = burns_x.grad(&(burns * probe).sum().backward()).unwrap();
            let (o, b) = (vec_of(g_ours.inner()), vec_of(g_burn.inner()));
            assert!(
                o.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{dims:?}: gradients differ"
            );
        }
    }

    /// Averages and input gradients equal burn's, on even and odd sides (an
    /// odd last row or column is left out and gets no gradient).
    #[test]
    fn averages_and_gradient_equal_burns() {
        let device = Device::flex().autodiff();
        for dims in [[2, 3, 8, 8], [1, 2, 9, 7], [1, 1, 2, 3]] {
            let values = vec_of(Tensor::random(
                dims,
                Distribution::Normal(0.0, 1.0),
                &device,
            ));
            let x = || {
                Tensor::<4>::from_data(burn::tensor::TensorData::new(values.clone(), dims), &device)
                    .require_grad()
            };
            let (ours_x, burns_x) = (x(), x());
            let ours = avg_pool2x2(ours_x.clone());
            let burns = burn_avg_pool2d(
                burns_x.clone(),
                AvgPoolOptions::new([2, 2]).with_stride([2, 2]),
            );
            assert_eq!(ours.dims(), burns.dims(), "{dims:?}");
            let probe = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &device);
            let close = |a: Vec<f32>, b: Vec<f32>| {
                a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 1e-6)
            };
            assert!(
                close(vec_of(ours.clone()), vec_of(burns.clone())),
                "{dims:?}: outputs differ"
            );
            let g_ours = ours_x
                .grad(&(ours * probe.clone()).sum().backward())
                .unwrap();
            let g_burn = burns_x.grad(&(burns * probe).sum().backward()).unwrap();
            assert!(
                close(vec_of(g_ours.inner()), vec_of(g_burn.inner())),
                "{dims:?}: gradients differ"
            );
        }
    }

    #[test]
    fn padded_pools_go_to_burn() {
        let device = Device::flex();
        let pool = burn::nn::pool::MaxPool2dConfig::new([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init();
        let x = Tensor::<4>::random([1, 1, 4, 4], Distribution::Default, &device);
        assert_eq!(
            max_pool2d_forward(&pool, x.clone()).dims(),
            pool.forward(x).dims()
        );
    }
}
