//! Reflection padding on the CPU: a backend extension (`cpu_reflect_pad`)
//! on flex with its own backward pass.
//!
//! The style networks pad every convolution's input by reflection (no dark
//! borders). burn's flex pads one row at a time, and two `cat`s of flipped
//! slices (this crate's first version) copy the whole tensor twice on one
//! thread: 8–9 % of a fast-style pass at 512 px (`perf`). Here each plane
//! is written once, its rows in parallel over planes, and the gradient is
//! gathered back the same way.

use crate::flex::{f32_values, flex_tensor, one_input, InputGradient};
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    backend_extension, Autodiff, Backend, Dispatch, DispatchDevice, Flex, TensorMetadata,
};
use burn::tensor::ops::PadMode;
use burn::tensor::{DType, Tensor};
use rayon::prelude::*;

/// Pads `[batch, c, h, w]` by `p` on every side with reflected values
/// (without repeating the edge), as `pad(…, PadMode::Reflect)` does. Needs
/// `p < h` and `p < w`.
pub fn reflect_pad(x: Tensor<4>, p: usize) -> Tensor<4> {
    if p == 0 {
        return x;
    }
    let [_, _, h, w] = x.dims();
    assert!(
        p < h && p < w,
        "reflection padding {p} needs sides longer than it ({h}×{w})"
    );
    let on_flex = matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_));
    if on_flex && x.dtype() == DType::F32 {
        Tensor::from_dispatch(<Dispatch as CpuPadBackend>::cpu_reflect_pad(
            x.into_dispatch(),
            p,
        ))
    } else {
        x.pad((p, p, p, p), PadMode::Reflect)
    }
}

#[backend_extension(Flex, Autodiff)]
pub trait CpuPadBackend: Backend {
    /// Reflection padding of `x` `[b, c, h, w]` by `p < min(h, w)`.
    fn cpu_reflect_pad(x: FloatTensor<Self>, p: usize) -> FloatTensor<Self>;
}

/// The sizes of one padding.
#[derive(Debug, Clone, Copy)]
struct Padding {
    input: [usize; 4],
    p: usize,
}

impl Padding {
    fn padded_dims(&self) -> [usize; 4] {
        let [b, c, h, w] = self.input;
        [b, c, h + 2 * self.p, w + 2 * self.p]
    }

    /// The input row (or column) that padded row `i` of a side `n` long
    /// shows.
    fn source(&self, i: usize, n: usize) -> usize {
        let i = i as isize - self.p as isize;
        let n = n as isize;
        (if i < 0 {
            -i
        } else if i >= n {
            2 * (n - 1) - i
        } else {
            i
        }) as usize
    }
}

fn forward(x: &[f32], d: &Padding) -> Vec<f32> {
    let [_, _, h, w] = d.input;
    let [b, c, hp, wp] = d.padded_dims();
    let p = d.p;
    let mut out = vec![0f32; b * c * hp * wp];
    out.par_chunks_mut(hp * wp)
        .zip(x.par_chunks(h * w))
        .for_each(|(out, plane)| {
            for (y, row) in out.chunks_exact_mut(wp).enumerate() {
                let line = &plane[d.source(y, h) * w..][..w];
                row[p..p + w].copy_from_slice(line);
                for i in 0..p {
                    row[p - 1 - i] = line[i + 1];
                    row[p + w + i] = line[w - 2 - i];
                }
            }
        });
    out
}

/// The input's gradient: each padded value's gradient added to the value it
/// shows.
fn backward(grad: &[f32], d: &Padding) -> Vec<f32> {
    let [b, c, h, w] = d.input;
    let [_, _, hp, wp] = d.padded_dims();
    let p = d.p;
    let mut dx = vec![0f32; b * c * h * w];
    dx.par_chunks_mut(h * w)
        .zip(grad.par_chunks(hp * wp))
        .for_each(|(dx, grad)| {
            for (y, row) in grad.chunks_exact(wp).enumerate() {
                let line = &mut dx[d.source(y, h) * w..][..w];
                line.iter_mut()
                    .zip(&row[p..p + w])
                    .for_each(|(d, g)| *d += g);
                for i in 0..p {
                    line[i + 1] += row[p - 1 - i];
                    line[w - 2 - i] += row[p + w + i];
                }
            }
        });
    dx
}

impl CpuPadBackend for Flex {
    fn cpu_reflect_pad(x: FloatTensor<Self>, p: usize) -> FloatTensor<Self> {
        let d = Padding {
            input: x.shape().dims(),
            p,
        };
        flex_tensor(forward(&f32_values(&x), &d), &d.padded_dims())
    }
}

#[derive(Debug)]
struct ReflectPadGradient;

impl InputGradient for ReflectPadGradient {
    /// The sizes.
    type State = Padding;

    fn input_gradient(grad: &[f32], d: Self::State) -> (Vec<f32>, [usize; 4]) {
        (backward(grad, &d), d.input)
    }
}

impl<C: CheckpointStrategy> CpuPadBackend for Autodiff<Flex, C> {
    fn cpu_reflect_pad(x: FloatTensor<Self>, p: usize) -> FloatTensor<Self> {
        one_input::<_, C>(ReflectPadGradient, x, |x| {
            let d = Padding {
                input: x.shape().dims(),
                p,
            };
            (Flex::cpu_reflect_pad(x, p), d)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    /// Values and gradients (against a random probe, so every position's
    /// weight differs) equal burn's `PadMode::Reflect`, for paddings up to
    /// one less than a side.
    #[test]
    fn reflect_pad_matches_burns_padding_and_its_gradient() {
        let device = Device::flex().autodiff();
        for (shape, p) in [([2, 3, 7, 5], 2), ([1, 1, 5, 9], 4), ([1, 2, 3, 3], 1)] {
            let x: Tensor<4> = Tensor::random(shape, Distribution::Default, &device).require_grad();
            let ours = reflect_pad(x.clone(), p);
            let burns = x.clone().pad((p, p, p, p), PadMode::Reflect);
            assert_eq!(ours.to_data(), burns.to_data(), "{shape:?} by {p}");
            let probe = Tensor::<4>::random(ours.dims(), Distribution::Default, &device);
            let g_ours = x.grad(&(ours * probe.clone()).sum().backward()).unwrap();
            let g_burns = x.grad(&(burns * probe).sum().backward()).unwrap();
            let (a, b) = (g_ours.into_data(), g_burns.into_data());
            a.assert_approx_eq::<f32>(&b, burn::tensor::Tolerance::absolute(1e-6));
        }
    }
}
