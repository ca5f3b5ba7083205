//! 2-D convolution on the CPU: a direct kernel that burn's flex backend
//! lacks, registered as a backend extension (`direct_conv2d`) with its own
//! backward pass for autodiff.
//!
//! Flex convolves by im2col + GEMM. That is fine for wide layers, but
//! where a layer has few output channels the GEMM has a handful of rows and
//! the im2col buffer (input channels × kernel taps × pixels) dominates: a
//! 9×9 convolution from 8 channels to 3 at 512×512 (the last layer of a
//! fast-style network) runs at ~2.5 GMAC/s, a tenth of what the same
//! machine does on large GEMMs. This kernel reads the input in place: for
//! each output row it keeps 4 output channels × 16 pixels of sums in
//! registers and adds every input channel's kernel taps into them, so each
//! loaded input vector feeds 4 multiply-adds and nothing is copied but a
//! padded input.
//!
//! Backward: the input's gradient of a stride-1, undilated convolution is
//! itself such a convolution (of the padded output gradient with the
//! weights flipped and their channels swapped), so it runs on the same
//! kernel; other strides use burn's. The weights' gradient has its own
//! kernel on the same padded input (each output-gradient vector feeds up
//! to 8 taps' sums); the bias's is burn's. Grouped convolutions and GPU
//! backends use burn's `conv2d` throughout. Results agree with burn's to
//! float rounding (tested forward and backward).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    backend_extension, Autodiff, Backend, Dispatch, DispatchDevice, Flex, TensorMetadata,
};
use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

/// Output channels whose sums one task keeps in registers.
const CHANNELS: usize = 4;
/// Output pixels per register block (two AVX vectors of 8).
const PIXELS: usize = 16;
/// Input rows one pass over an output row's blocks may read: about what
/// fits in a 32 KB L1 cache at a few hundred pixels a row.
const ROWS_IN_CACHE: usize = 24;

/// `conv.forward(input)`, by the direct kernel where it applies.
pub fn conv2d_forward(conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = input.dims();
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Same => [
            same_padding(conv.kernel_size[0], conv.stride[0], h),
            same_padding(conv.kernel_size[1], conv.stride[1], w),
        ],
    };
    let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
    conv2d(
        input,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        options,
    )
}

/// The padding before and after that burn's `PaddingConfig2d::Same` gives
/// (it keeps `ceil(size / stride)` outputs and, as burn does, ignores
/// dilation).
fn same_padding(kernel: usize, stride: usize, size: usize) -> (usize, usize) {
    let needed = (size.div_ceil(stride).max(1) - 1) * stride + kernel;
    let total = needed.saturating_sub(size);
    (total / 2, total - total / 2)
}

/// Pictures with fewer pixels than this stay on burn's im2col + GEMM: the
/// direct kernel works one picture at a time, parallel over its rows, and
/// on batches of small pictures that costs more than it saves (the
/// day/night CNN's training step, 32 pictures of 64×64: 289 ms direct vs
/// 223 ms burn's).
const MIN_DIRECT_PIXELS: usize = 128 * 128;
/// Layers wider than this (input × output channels) stay on burn's GEMM,
/// which is as fast or faster there (256 → 256 channels: 0.8× direct).
const MAX_DIRECT_CHANNELS: usize = 64 * 64;

/// burn's `conv2d` (input `[b, c_in, h, w]`, weight `[c_out, c_in, kh, kw]`),
/// by the direct kernel for flex f32 tensors (plain or autodiff) without
/// groups, on pictures of at least [`MIN_DIRECT_PIXELS`] and layers of at
/// most [`MAX_DIRECT_CHANNELS`].
pub fn conv2d(
    input: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    let on_flex = matches!(
        input.device().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    );
    let [_, c_in, h, w] = input.dims();
    let c_out = weight.dims()[0];
    let direct = on_flex
        && options.groups == 1
        && input.dtype() == DType::F32
        && h * w >= MIN_DIRECT_PIXELS
        && c_in * c_out <= MAX_DIRECT_CHANNELS;
    if direct {
        direct_conv2d(input, weight, bias, options)
    } else {
        burn::tensor::module::conv2d(input, weight, bias, options)
    }
}

/// The direct kernel for a flex f32 convolution without groups.
fn direct_conv2d(
    input: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    let c_out = weight.dims()[0];
    let bias = bias.unwrap_or_else(|| Tensor::zeros([c_out], &weight.device()));
    Tensor::from_dispatch(<Dispatch as DirectConvBackend>::direct_conv2d(
        input.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        options,
    ))
}

#[backend_extension(Flex, Autodiff)]
pub trait DirectConvBackend: Backend {
    /// `conv2d(input, weight, bias, options)` for `groups == 1`.
    fn direct_conv2d(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;
}

impl DirectConvBackend for Flex {
    fn direct_conv2d(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let shape = Shape::new(dims4(&input), dims4(&weight), &options);
        // Read in place: the input can be tens of megabytes.
        let [input, weight, bias] = [input, weight, bias].map(|t| t.into_data().convert::<f32>());
        let out = direct_conv(values(&input), values(&weight), Some(values(&bias)), &shape);
        FloatTensor::<Flex>::from_data(TensorData::new(
            out,
            [shape.batch, shape.c_out, shape.h_out, shape.w_out],
        ))
    }
}

fn dims4(t: &FloatTensor<Flex>) -> [usize; 4] {
    t.shape().dims()
}

#[derive(Debug)]
struct DirectConvBackward;

impl Backward<Flex, 3> for DirectConvBackward {
    /// The input, weight and bias, and the options.
    type State = (
        FloatTensor<Flex>,
        FloatTensor<Flex>,
        FloatTensor<Flex>,
        ConvOptions<2>,
    );

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_input, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (input, weight, bias, options) = ops.state;
        if let Some(node) = node_input {
            let g = input_gradient(input.clone(), weight.clone(), grad.clone(), &options);
            grads.register::<Flex>(node.id, g);
        }
        if let Some(node) = node_weight {
            let s = Shape::new(dims4(&input), dims4(&weight), &options);
            let [x, g] = [input.clone(), grad.clone()].map(|t| t.into_data().convert::<f32>());
            let dw = weight_gradient(values(&x), values(&g), &s);
            grads.register::<Flex>(
                node.id,
                FloatTensor::<Flex>::from_data(TensorData::new(dw, [s.c_out, s.c_in, s.kh, s.kw])),
            );
        }
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, Flex::conv2d_bias_backward(input, bias, grad));
        }
    }
}

/// The gradient with respect to the input. For stride 1 without dilation
/// (and padding below the kernel size) it is the output gradient, padded by
/// `k − 1 − padding`, convolved with the weights flipped in space and with
/// input and output channels swapped: the direct kernel again.
fn input_gradient(
    input: FloatTensor<Flex>,
    weight: FloatTensor<Flex>,
    grad: FloatTensor<Flex>,
    options: &ConvOptions<2>,
) -> FloatTensor<Flex> {
    let [_, _, kh, kw] = dims4(&weight);
    let (begin, end) = (options.padding_begin(), options.padding_end());
    let direct = options.stride == [1, 1]
        && options.dilation == [1, 1]
        && begin[0] < kh
        && end[0] < kh
        && begin[1] < kw
        && end[1] < kw;
    if !direct {
        return Flex::conv2d_x_backward(input, weight, grad, options.clone());
    }
    let flipped = Flex::float_swap_dims(Flex::float_flip(weight, &[2, 3]), 0, 1);
    let c_in = flipped.shape().dims::<4>()[0];
    let zeros = FloatTensor::<Flex>::from_data(TensorData::new(vec![0f32; c_in], [c_in]));
    let padding = [
        (kh - 1 - begin[0], kh - 1 - end[0]),
        (kw - 1 - begin[1], kw - 1 - end[1]),
    ];
    let transposed = ConvOptions::new_with_padding([1, 1], padding, [1, 1], 1);
    Flex::direct_conv2d(grad, flipped, zeros, transposed)
}

impl<C: CheckpointStrategy> DirectConvBackend for Autodiff<Flex, C> {
    fn direct_conv2d(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let (input, input_node) = input.into_parts();
        let (weight, weight_node) = weight.into_parts();
        let (bias, bias_node) = bias.into_parts();
        let out = Flex::direct_conv2d(input.clone(), weight.clone(), bias.clone(), options.clone());
        match DirectConvBackward
            .prepare::<C>([input_node, weight_node, bias_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((input, weight, bias, options), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

fn values(data: &TensorData) -> &[f32] {
    data.as_slice::<f32>().expect("f32 values")
}

/// Sizes of one convolution, with the padded input's.
#[derive(Debug, Clone, Copy)]
struct Shape {
    batch: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    stride: [usize; 2],
    dilation: [usize; 2],
    top: usize,
    left: usize,
    h_padded: usize,
    h_out: usize,
    w_out: usize,
    /// Output width rounded up to whole register blocks.
    w_blocks: usize,
    /// Length of one row of a stride phase of the padded input: every
    /// block's widest read fits.
    phase_row: usize,
}

impl Shape {
    fn new(input: [usize; 4], weight: [usize; 4], options: &ConvOptions<2>) -> Self {
        let [batch, c_in, h, w] = input;
        let [c_out, c_in_w, kh, kw] = weight;
        assert_eq!(c_in, c_in_w, "input and weight channels differ");
        let [(top, bottom), (left, right)] =
            [0, 1].map(|i| (options.padding_begin()[i], options.padding_end()[i]));
        let (stride, dilation) = (options.stride, options.dilation);
        let h_padded = h + top + bottom;
        let w_padded = w + left + right;
        let span = |k: usize, d: usize| d * (k - 1) + 1;
        assert!(
            h_padded >= span(kh, dilation[0]) && w_padded >= span(kw, dilation[1]),
            "the kernel is larger than the padded input"
        );
        let h_out = (h_padded - span(kh, dilation[0])) / stride[0] + 1;
        let w_out = (w_padded - span(kw, dilation[1])) / stride[1] + 1;
        let w_blocks = w_out.div_ceil(PIXELS) * PIXELS;
        let phase_row = w_blocks + dilation[1] * (kw - 1) / stride[1] + 1;
        Self {
            batch,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            stride,
            dilation,
            top,
            left,
            h_padded,
            h_out,
            w_out,
            w_blocks,
            phase_row,
        }
    }
}

/// The padded input of one picture split into stride phases along x:
/// phase `r` holds the padded columns `r, r + sx, r + 2·sx, …`, so a block
/// of outputs reads each tap's inputs contiguously. Laid out
/// `[phase][c_in][h_padded][phase_row]`, zeros outside the input.
fn phases(input: &[f32], s: &Shape) -> Vec<f32> {
    let sx = s.stride[1];
    let plane = s.h_padded * s.phase_row;
    let mut out = vec![0f32; sx * s.c_in * plane];
    out.par_chunks_mut(plane).enumerate().for_each(|(i, dst)| {
        let (r, c) = (i / s.c_in, i % s.c_in);
        // Padded column j·sx + r holds input column j·sx + r − left: the
        // columns j from `first` on, while that stays inside the input.
        let first = s.left.saturating_sub(r).div_ceil(sx);
        for y in 0..s.h {
            let src = &input[(c * s.h + y) * s.w..][..s.w];
            let dst = &mut dst[(y + s.top) * s.phase_row..][..s.phase_row];
            if sx == 1 {
                let from = r + first - s.left;
                let n = (s.w - from).min(s.phase_row - first);
                dst[first..first + n].copy_from_slice(&src[from..from + n]);
                continue;
            }
            for (v, column) in dst[first..]
                .iter_mut()
                .zip((first * sx + r - s.left..s.w).step_by(sx))
            {
                *v = src[column];
            }
        }
    });
    out
}

/// Weights regrouped `[c_out / 4][c_in][kh][kw][4]` (missing output
/// channels zero), so a tap's four weights are adjacent.
fn packed_weights(weight: &[f32], s: &Shape) -> Vec<f32> {
    let groups = s.c_out.div_ceil(CHANNELS);
    let taps = s.c_in * s.kh * s.kw;
    let mut packed = vec![0f32; groups * taps * CHANNELS];
    for co in 0..s.c_out {
        for t in 0..taps {
            packed[((co / CHANNELS) * taps + t) * CHANNELS + co % CHANNELS] = weight[co * taps + t];
        }
    }
    packed
}

/// Where the output goes: tasks write disjoint rows of it.
struct Output(*mut f32);
// SAFETY: every task writes only the rows of its own (picture, channel
// group, output row), so no two threads touch the same element.
unsafe impl Sync for Output {}

impl Output {
    /// # Safety
    /// `at` is inside the output and no other thread writes it.
    unsafe fn write(&self, at: usize, value: f32) {
        unsafe { *self.0.add(at) = value };
    }
}

fn direct_conv(input: &[f32], weight: &[f32], bias: Option<&[f32]>, s: &Shape) -> Vec<f32> {
    assert_eq!(input.len(), s.batch * s.c_in * s.h * s.w, "input size");
    assert_eq!(weight.len(), s.c_out * s.c_in * s.kh * s.kw, "weight size");
    assert!(bias.is_none_or(|b| b.len() == s.c_out), "bias size");
    let packed = packed_weights(weight, s);
    let plane_out = s.h_out * s.w_out;
    let mut out = vec![0f32; s.batch * s.c_out * plane_out];
    let target = Output(out.as_mut_ptr());
    let groups = s.c_out.div_ceil(CHANNELS);
    let fma = has_fma();
    for b in 0..s.batch {
        let phased = phases(&input[b * s.c_in * s.h * s.w..][..s.c_in * s.h * s.w], s);
        // One task per output row: all channel groups of a row read the same
        // input rows, which stay in cache between them.
        (0..s.h_out).into_par_iter().for_each(|y| {
            let mut row = vec![[0f32; PIXELS]; CHANNELS * (s.w_blocks / PIXELS)];
            for group in 0..groups {
                let start: [f32; CHANNELS] = std::array::from_fn(|c| {
                    let co = group * CHANNELS + c;
                    bias.and_then(|b| b.get(co)).copied().unwrap_or(0.0)
                });
                let weights = &packed[group * s.c_in * s.kh * s.kw * CHANNELS..]
                    [..s.c_in * s.kh * s.kw * CHANNELS];
                if fma {
                    // SAFETY: the CPU has AVX2 and FMA (checked by `has_fma`).
                    unsafe { output_row_fma(&phased, weights, start, y, s, &mut row) }
                } else {
                    output_row(&phased, weights, start, y, s, &mut row);
                }
                for c in 0..CHANNELS.min(s.c_out - group * CHANNELS) {
                    let co = group * CHANNELS + c;
                    let base = ((b * s.c_out + co) * s.h_out + y) * s.w_out;
                    let sums =
                        row[c * (s.w_blocks / PIXELS)..][..s.w_blocks / PIXELS].as_flattened();
                    for (x, &value) in sums[..s.w_out].iter().enumerate() {
                        // SAFETY: `base + x` is inside `out` (its length is
                        // batch·c_out·h_out·w_out) and only this task writes
                        // row `y` of picture `b`.
                        unsafe { target.write(base + x, value) };
                    }
                }
            }
        });
    }
    out
}

/// Taps of one kernel row summed together: their sums stay in registers
/// while each loaded output-gradient vector feeds all of them.
const TAPS_AT_ONCE: usize = 8;
/// Lanes of one AVX vector.
const LANES: usize = 8;

/// The weights' gradient `[c_out, c_in, kh, kw]`: for each output channel,
/// input channel and tap, the sum over pictures and output pixels of the
/// output gradient times the input that tap saw. One task per (output
/// channel, input channel); inside, up to 8 taps of a kernel row share
/// every loaded vector of the output gradient.
fn weight_gradient(input: &[f32], grad: &[f32], s: &Shape) -> Vec<f32> {
    assert_eq!(input.len(), s.batch * s.c_in * s.h * s.w, "input size");
    assert_eq!(
        grad.len(),
        s.batch * s.c_out * s.h_out * s.w_out,
        "gradient size"
    );
    let taps = s.kh * s.kw;
    let picture = s.c_in * s.h * s.w;
    let phased: Vec<Vec<f32>> = (0..s.batch)
        .map(|b| phases(&input[b * picture..][..picture], s))
        .collect();
    // Gradient rows padded with zeros to whole register blocks, so the
    // columns past the output add nothing.
    let mut rows = vec![0f32; s.batch * s.c_out * s.h_out * s.w_blocks];
    rows.par_chunks_mut(s.w_blocks)
        .zip(grad.par_chunks(s.w_out))
        .for_each(|(row, g)| row[..s.w_out].copy_from_slice(g));
    let fma = has_fma();
    let mut out = vec![0f32; s.c_out * s.c_in * taps];
    out.par_chunks_mut(taps).enumerate().for_each(|(i, dw)| {
        let (co, ci) = (i / s.c_in, i % s.c_in);
        for (b, phased) in phased.iter().enumerate() {
            let grad = &rows[(b * s.c_out + co) * s.h_out * s.w_blocks..][..s.h_out * s.w_blocks];
            if fma {
                // SAFETY: the CPU has AVX2 and FMA (checked by `has_fma`).
                unsafe { add_weight_gradient_fma(phased, grad, ci, s, dw) }
            } else {
                add_weight_gradient(phased, grad, ci, s, dw, |a, b, c| a * b + c);
            }
        }
    });
    out
}

/// [`add_weight_gradient`] compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn add_weight_gradient_fma(
    phased: &[f32],
    grad: &[f32],
    ci: usize,
    s: &Shape,
    dw: &mut [f32],
) {
    add_weight_gradient(phased, grad, ci, s, dw, f32::mul_add);
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn add_weight_gradient_fma(
    phased: &[f32],
    grad: &[f32],
    ci: usize,
    s: &Shape,
    dw: &mut [f32],
) {
    add_weight_gradient(phased, grad, ci, s, dw, |a, b, c| a * b + c);
}

/// Adds one picture's share of `dw` (the kh × kw taps from input channel
/// `ci` to one output channel, whose padded gradient rows are `grad`).
/// `fma(a, b, c)` is `a·b + c`, fused where the caller is compiled for it.
#[inline(always)]
fn add_weight_gradient(
    phased: &[f32],
    grad: &[f32],
    ci: usize,
    s: &Shape,
    dw: &mut [f32],
    fma: impl Fn(f32, f32, f32) -> f32,
) {
    let plane = s.h_padded * s.phase_row;
    let (sx, dx) = (s.stride[1], s.dilation[1]);
    for ky in 0..s.kh {
        for first in (0..s.kw).step_by(TAPS_AT_ONCE) {
            let taps = first..(first + TAPS_AT_ONCE).min(s.kw);
            let starts: Vec<usize> = taps
                .clone()
                .map(|kx| ((kx * dx) % sx * s.c_in + ci) * plane + (kx * dx) / sx)
                .collect();
            let mut sums = [[0f32; LANES]; TAPS_AT_ONCE];
            for y in 0..s.h_out {
                let iy = y * s.stride[0] + ky * s.dilation[0];
                let g_row = &grad[y * s.w_blocks..][..s.w_blocks];
                for (x0, g) in g_row.chunks_exact(LANES).enumerate() {
                    let g: &[f32; LANES] = g.try_into().expect("a vector");
                    for (sum, start) in sums.iter_mut().zip(&starts) {
                        let at = start + iy * s.phase_row + x0 * LANES;
                        let v: &[f32; LANES] = phased[at..at + LANES].try_into().expect("a vector");
                        for lane in 0..LANES {
                            sum[lane] = fma(g[lane], v[lane], sum[lane]);
                        }
                    }
                }
            }
            for (kx, sum) in taps.zip(sums) {
                dw[ky * s.kw + kx] += sum.iter().sum::<f32>();
            }
        }
    }
}

fn has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`output_row`] with AVX2 and FMA: the 4 × 16 sums live in eight
/// registers for a whole block.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn output_row_fma(
    phased: &[f32],
    weights: &[f32],
    start: [f32; CHANNELS],
    y: usize,
    s: &Shape,
    row: &mut [[f32; PIXELS]],
) {
    use std::arch::x86_64::*;
    let blocks = s.w_blocks / PIXELS;
    let plane = s.h_padded * s.phase_row;
    let (sx, dx) = (s.stride[1], s.dilation[1]);
    let taps = s.kh * s.kw;
    // The furthest any block reads, checked once so the loop can use raw pointers.
    let last_row = (s.h_out - 1) * s.stride[0] + (s.kh - 1) * s.dilation[0];
    assert!(y * s.stride[0] + (s.kh - 1) * s.dilation[0] <= last_row && last_row < s.h_padded);
    assert!(s.w_blocks + dx * (s.kw - 1) / sx <= s.phase_row);
    assert!(phased.len() >= sx * s.c_in * plane && weights.len() >= s.c_in * taps * CHANNELS);
    assert_eq!(row.len(), CHANNELS * blocks);
    let base = phased.as_ptr();
    // Where tap kx reads, relative to its channel's row: its stride phase
    // and the shift within it (divisions kept out of the inner loop).
    let kx_offsets: Vec<usize> = (0..s.kw)
        .map(|kx| ((kx * dx) % sx) * s.c_in * plane + (kx * dx) / sx)
        .collect();
    // Input channels are taken a few at a time, so that the rows one pass
    // over the blocks reads (chunk × kh of them) stay in the L1 cache; the
    // sums go to `row` between chunks.
    let chunk = (ROWS_IN_CACHE / s.kh).max(1);
    for first in (0..s.c_in).step_by(chunk) {
        let channels = first..(first + chunk).min(s.c_in);
        for block in 0..blocks {
            let x0 = block * PIXELS;
            let mut acc = [[_mm256_setzero_ps(); 2]; CHANNELS];
            for (c, pair) in acc.iter_mut().enumerate() {
                *pair = if first == 0 {
                    [_mm256_set1_ps(start[c]); 2]
                } else {
                    let sums = &row[c * blocks + block];
                    [
                        _mm256_loadu_ps(sums.as_ptr()),
                        _mm256_loadu_ps(sums.as_ptr().add(8)),
                    ]
                };
            }
            for ci in channels.clone() {
                for ky in 0..s.kh {
                    let iy = y * s.stride[0] + ky * s.dilation[0];
                    let w_row = weights.as_ptr().add((ci * s.kh + ky) * s.kw * CHANNELS);
                    let row_at = ci * plane + iy * s.phase_row + x0;
                    for (kx, offset) in kx_offsets.iter().enumerate() {
                        // SAFETY: inside `phased` by the asserts above.
                        let p = base.add(row_at + offset);
                        let v0 = _mm256_loadu_ps(p);
                        let v1 = _mm256_loadu_ps(p.add(8));
                        let w = w_row.add(kx * CHANNELS);
                        for (c, pair) in acc.iter_mut().enumerate() {
                            let wc = _mm256_broadcast_ss(&*w.add(c));
                            pair[0] = _mm256_fmadd_ps(wc, v0, pair[0]);
                            pair[1] = _mm256_fmadd_ps(wc, v1, pair[1]);
                        }
                    }
                }
            }
            for (c, pair) in acc.iter().enumerate() {
                let out = &mut row[c * blocks + block];
                _mm256_storeu_ps(out.as_mut_ptr(), pair[0]);
                _mm256_storeu_ps(out.as_mut_ptr().add(8), pair[1]);
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn output_row_fma(
    phased: &[f32],
    weights: &[f32],
    start: [f32; CHANNELS],
    y: usize,
    s: &Shape,
    row: &mut [[f32; PIXELS]],
) {
    output_row(phased, weights, start, y, s, row);
}

/// One output row of one group of 4 channels, in blocks of 16 pixels:
/// `row[c · blocks + block][lane]` (the portable form of the kernel).
fn output_row(
    phased: &[f32],
    weights: &[f32],
    start: [f32; CHANNELS],
    y: usize,
    s: &Shape,
    row: &mut [[f32; PIXELS]],
) {
    let blocks = s.w_blocks / PIXELS;
    let plane = s.h_padded * s.phase_row;
    let (sx, dx) = (s.stride[1], s.dilation[1]);
    for block in 0..blocks {
        let mut sums = [[0f32; PIXELS]; CHANNELS];
        for (c, sum) in sums.iter_mut().enumerate() {
            *sum = [start[c]; PIXELS];
        }
        let x0 = block * PIXELS;
        for ci in 0..s.c_in {
            for ky in 0..s.kh {
                let iy = y * s.stride[0] + ky * s.dilation[0];
                for kx in 0..s.kw {
                    let (phase, shift) = ((kx * dx) % sx, (kx * dx) / sx);
                    let at = (phase * s.c_in + ci) * plane + iy * s.phase_row + x0 + shift;
                    let inputs: &[f32; PIXELS] = phased[at..at + PIXELS]
                        .try_into()
                        .expect("a block of pixels");
                    let tap = ((ci * s.kh + ky) * s.kw + kx) * CHANNELS;
                    let w: &[f32; CHANNELS] = weights[tap..tap + CHANNELS]
                        .try_into()
                        .expect("a tap's weights");
                    for c in 0..CHANNELS {
                        for lane in 0..PIXELS {
                            sums[c][lane] += w[c] * inputs[lane];
                        }
                    }
                }
            }
        }
        for (c, sum) in sums.into_iter().enumerate() {
            row[c * blocks + block] = sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};
    use rand::{Rng, SeedableRng};

    fn close(ours: Tensor<4>, burns: Tensor<4>, what: &str) {
        assert_eq!(ours.dims(), burns.dims(), "{what}");
        let (a, b) = (
            ours.into_data().try_into_vec::<f32>().unwrap(),
            burns.into_data().try_into_vec::<f32>().unwrap(),
        );
        let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-5 * scale + 1e-5,
                "{what}: [{i}] direct {x} vs burn {y}"
            );
        }
    }

    #[test]
    fn the_direct_kernel_agrees_with_burn_on_random_shapes() {
        let device = Device::flex();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for case in 0..60 {
            let (x, weight, bias, options, what) = random_case(&mut rng, &device);
            close(
                direct_conv2d(x.clone(), weight.clone(), bias.clone(), options.clone()),
                burn::tensor::module::conv2d(x, weight, bias, options),
                &format!("case {case}: {what}"),
            );
        }
    }

    /// Random convolution settings: kernels 1–9 (sometimes not square),
    /// strides 1–3, dilations 1–2, uneven paddings, odd channel counts.
    fn random_case(
        rng: &mut impl Rng,
        device: &Device,
    ) -> (
        Tensor<4>,
        Tensor<4>,
        Option<Tensor<1>>,
        ConvOptions<2>,
        String,
    ) {
        let k = [1, 2, 3, 5, 9][rng.gen_range(0..5)];
        let kw = if rng.gen_bool(0.2) { k.max(2) - 1 } else { k };
        let stride = [rng.gen_range(1..=3), rng.gen_range(1..=3)];
        let stride = if rng.gen_bool(0.5) { [1, 1] } else { stride };
        let dilation = if rng.gen_bool(0.7) {
            [1, 1]
        } else {
            [rng.gen_range(1..=2), rng.gen_range(1..=2)]
        };
        let padding = [
            (rng.gen_range(0..=4), rng.gen_range(0..=4)),
            (rng.gen_range(0..=4), rng.gen_range(0..=4)),
        ];
        let (c_in, c_out) = (rng.gen_range(1..=9), rng.gen_range(1..=11));
        let batch = rng.gen_range(1..=3);
        let h = dilation[0] * (k - 1) + 1 + rng.gen_range(0..20);
        let w = dilation[1] * (kw - 1) + 1 + rng.gen_range(0..40);
        let normal = Distribution::Normal(0.0, 1.0);
        let x = Tensor::random([batch, c_in, h, w], normal, device);
        let weight = Tensor::random([c_out, c_in, k, kw], normal, device);
        let bias = rng
            .gen_bool(0.5)
            .then(|| Tensor::<1>::random([c_out], normal, device));
        let options = ConvOptions::new_with_padding(stride, padding, dilation, 1);
        let what = format!(
            "{batch}×{c_in}×{h}×{w} by {c_out}×{k}×{kw}, stride {stride:?}, dilation {dilation:?}, padding {padding:?}"
        );
        (x, weight, bias, options, what)
    }

    #[test]
    fn gradients_agree_with_burns_autodiff_on_random_shapes() {
        let device = Device::flex().autodiff();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for case in 0..40 {
            let (x, weight, bias, options, what) = random_case(&mut rng, &device);
            let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &device));
            let (x, weight, bias) = (x.require_grad(), weight.require_grad(), bias.require_grad());
            // A loss that weighs every output differently.
            let probe = |y: Tensor<4>| {
                let r = Tensor::<4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &device);
                (y * r.clone(), r)
            };
            let (ours, r) = probe(direct_conv2d(
                x.clone(),
                weight.clone(),
                Some(bias.clone()),
                options.clone(),
            ));
            let burns = burn::tensor::module::conv2d(
                x.clone(),
                weight.clone(),
                Some(bias.clone()),
                options.clone(),
            ) * r;
            let (g_ours, g_burn) = (ours.sum().backward(), burns.sum().backward());
            let what = format!("case {case}: {what}");
            close(
                x.grad(&g_ours).unwrap(),
                x.grad(&g_burn).unwrap(),
                &format!("{what}: input"),
            );
            close(
                weight.grad(&g_ours).unwrap(),
                weight.grad(&g_burn).unwrap(),
                &format!("{what}: weight"),
            );
            let (b_ours, b_burn) = (bias.grad(&g_ours).unwrap(), bias.grad(&g_burn).unwrap());
            close(
                b_ours.reshape([1, 1, 1, -1]),
                b_burn.reshape([1, 1, 1, -1]),
                &format!("{what}: bias"),
            );
        }
    }

    #[test]
    fn a_large_narrow_convolution_takes_the_direct_path_and_agrees() {
        let device = Device::flex();
        let x: Tensor<4> = Tensor::random([1, 3, 130, 131], Distribution::Default, &device);
        let weight: Tensor<4> = Tensor::random([8, 3, 3, 3], Distribution::Default, &device);
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        close(
            conv2d(x.clone(), weight.clone(), None, options.clone()),
            burn::tensor::module::conv2d(x, weight, None, options),
            "130×131",
        );
    }

    #[test]
    fn grouped_convolutions_go_to_burn() {
        let device = Device::flex().autodiff();
        let x: Tensor<4> =
            Tensor::random([1, 4, 6, 6], Distribution::Default, &device).require_grad();
        let weight: Tensor<4> = Tensor::random([4, 2, 3, 3], Distribution::Default, &device);
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 2);
        let y = conv2d(x.clone(), weight.clone(), None, options.clone());
        assert!(x.grad(&y.clone().sum().backward()).is_some());
        close(
            y,
            burn::tensor::module::conv2d(x, weight, None, options),
            "grouped",
        );
    }
}
