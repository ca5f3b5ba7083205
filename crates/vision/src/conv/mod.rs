//! 2-D convolution on the CPU: kernels that burn's flex backend lacks,
//! registered as a backend extension (`cpu_conv2d`) with its own backward
//! pass for autodiff, and a rule that picks, per layer shape and pass, the
//! fastest of three kernels.
//!
//! * **Direct** (this file), for narrow layers and large pictures. Where
//!   a layer has few channels a GEMM has a handful of rows and the im2col
//!   buffer (input channels × kernel taps × pixels) dominates: burn's runs
//!   a 9×9 convolution from 8 channels to 3 at 512×512 (the last layer of
//!   a fast-style network) at ~2.5 GMAC/s, a tenth of what the same
//!   machine does on large GEMMs. The direct kernel reads the input in
//!   place: for each output row it keeps 4 output channels × 16 pixels of
//!   sums in registers and adds every input channel's kernel taps into
//!   them, so each loaded input vector feeds 4 multiply-adds and nothing
//!   is copied but a padded input. The input's gradient of a stride-1,
//!   undilated convolution is itself such a convolution (of the padded
//!   output gradient with the weights flipped and their channels
//!   swapped), so it runs on the same kernel; the weights' gradient has a
//!   direct kernel of its own (each output-gradient vector feeds up to 8
//!   taps' sums).
//! * **im2col + GEMM** ([`gemm`]), for wide layers and small pictures:
//!   NCHW tiles, all three passes, where burn's version converts to NHWC
//!   and back and takes the input's gradient as a transposed convolution.
//! * **Winograd F(4×4, 3×3)** ([`winograd`]), for the forward pass and
//!   the input's gradient of wide 3×3 stride-1 layers (VGG, ResNet): a
//!   quarter of the GEMM's multiply-adds, at some cost in transforms and
//!   in rounding (up to ~1e-5 of the outputs' scale).
//!
//! burn's own `conv2d` serves grouped convolutions, other dtypes and GPU
//! backends; the bias's gradient is burn's. Every kernel agrees with
//! burn's to float rounding (tested forward and backward on random
//! shapes, and the GEMM's across tile boundaries).
//!
//! The routing ([`forward_path`], [`input_gradient_path`],
//! [`weight_gradient_path`]) was set by timing each pass of the cases'
//! layers on 2 cores (`cargo bench -p casebook-vision --bench conv`,
//! `bench/conv.sh` beside PyTorch); see the constants.

mod gemm;
mod winograd;

use crate::flex::{f32_values, flex_tensor};
use crate::pad::CpuPadBackend;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{ActivationOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    backend_extension, Autodiff, Backend, Dispatch, DispatchDevice, Flex, TensorMetadata,
};
use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor};
use rayon::prelude::*;

/// Output channels whose sums one task keeps in registers.
const CHANNELS: usize = 4;
/// Output pixels per register block (two AVX vectors of 8).
const PIXELS: usize = 16;
/// Input rows one pass over an output row's blocks may read: about what
/// fits in a 32 KB L1 cache at a few hundred pixels a row.
const ROWS_IN_CACHE: usize = 24;

/// `conv.forward(input)`, by the kernels of this module where they apply.
pub fn conv2d_forward(conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = input.dims();
    let options = conv2d_options(conv, h, w);
    conv2d(
        input,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        options,
    )
}

/// `conv`'s options on an input of `h`×`w`.
fn conv2d_options(conv: &Conv2d, h: usize, w: usize) -> ConvOptions<2> {
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Same => [
            same_padding(conv.kernel_size[0], conv.stride[0], h),
            same_padding(conv.kernel_size[1], conv.stride[1], w),
        ],
    };
    ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups)
}

/// The padding before and after that burn's `PaddingConfig2d::Same` gives
/// (it keeps `ceil(size / stride)` outputs and, as burn does, ignores
/// dilation).
fn same_padding(kernel: usize, stride: usize, size: usize) -> (usize, usize) {
    let needed = (size.div_ceil(stride).max(1) - 1) * stride + kernel;
    let total = needed.saturating_sub(size);
    (total / 2, total - total / 2)
}

/// What [`conv2d_fused`] does around a convolution.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Fusion {
    /// Pad the input by this many rows and columns on each side, mirrored
    /// (reflection padding, as style networks pad).
    pub reflect: usize,
    /// Apply a ReLU to the output.
    pub relu: bool,
}

/// `relu(conv.forward(reflect_pad(input)))`, each part as `fusion` asks.
/// Inference on flex does them in one pass where the kernel can
/// (Winograd's transforms read the mirrored rows and apply the ReLU as
/// they write: the decoder of AdaIN pads and rectifies 32-channel
/// pictures of 512² in each of its last layers); elsewhere, and under
/// autodiff, they run one after another. With `reflect`, `conv` must not
/// pad by itself, and the input's sides must be longer than `reflect`.
pub fn conv2d_fused(conv: &Conv2d, input: Tensor<4>, fusion: Fusion) -> Tensor<4> {
    let [_, _, h, w] = input.dims();
    let unpadded = matches!(conv.padding, PaddingConfig2d::Valid)
        || conv.padding == PaddingConfig2d::Explicit(0, 0, 0, 0);
    assert!(
        fusion.reflect == 0 || (unpadded && fusion.reflect < h.min(w)),
        "reflection padding {} with the convolution's own {:?} on {h}×{w}",
        fusion.reflect,
        conv.padding
    );
    let on_flex = matches!(
        input.device().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    );
    if !(on_flex && conv.groups == 1 && input.dtype() == DType::F32) {
        let out = conv2d_forward(conv, crate::pad::reflect_pad(input, fusion.reflect));
        return if fusion.relu {
            burn::tensor::activation::relu(out)
        } else {
            out
        };
    }
    let options = if fusion.reflect > 0 {
        let p = fusion.reflect;
        ConvOptions::new(conv.stride, [p, p], conv.dilation, 1)
    } else {
        conv2d_options(conv, h, w)
    };
    let bias = conv.bias.as_ref().map_or_else(
        || Tensor::zeros([conv.weight.dims()[0]], &conv.weight.device()),
        |b| b.val(),
    );
    Tensor::from_dispatch(<Dispatch as CpuConvBackend>::cpu_conv2d_fused(
        input.into_dispatch(),
        conv.weight.val().into_dispatch(),
        bias.into_dispatch(),
        options,
        fusion,
    ))
}

/// burn's `conv2d` (input `[b, c_in, h, w]`, weight `[c_out, c_in, kh, kw]`).
/// Flex f32 convolutions without groups (plain or autodiff) go through this
/// module's extension, which picks a kernel per pass; the rest go to burn.
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
    if on_flex && options.groups == 1 && input.dtype() == DType::F32 {
        let c_out = weight.dims()[0];
        let bias = bias.unwrap_or_else(|| Tensor::zeros([c_out], &weight.device()));
        Tensor::from_dispatch(<Dispatch as CpuConvBackend>::cpu_conv2d(
            input.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
            options,
        ))
    } else {
        burn::tensor::module::conv2d(input, weight, bias, options)
    }
}

/// Which kernel computes one pass.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    /// This module's direct kernel.
    Direct,
    /// im2col + GEMM ([`gemm`]).
    Gemm,
    /// Winograd's F(4×4, 3×3) ([`winograd`]).
    Winograd,
}

/// Layers up to this many input × output channels run on the direct
/// kernel at any picture size: a GEMM has too few rows or columns there.
const NARROW_LAYER: usize = 16 * 32;
/// On outputs of at least this many pixels the direct kernel also serves
/// layers up to [`MAX_DIRECT_CHANNELS`]; on smaller ones (16×16, 8×8) its
/// 16-pixel blocks are half empty or its rows too short.
const MIN_DIRECT_PIXELS: usize = 32 * 32;
/// Wider layers are faster on the GEMM.
const MAX_DIRECT_CHANNELS: usize = 64 * 64;
/// The weights' gradient of layers with at most this many output channels
/// is faster on the direct kernel: its GEMM has too few rows.
const FEW_OUTPUT_CHANNELS: usize = 4;

/// Timings behind the rules: the layers of `bench/conv_layers.txt` with
/// each kernel forced in turn for every pass (a temporary switch in the
/// bench), best of 5 interleaved rounds, 2 cores, milliseconds for the
/// layer's pass (forward, + input gradient, or + both gradients); burn's
/// own for comparison:
///
/// | layer (batch × c_in × side → c_out, kernel)  | pass  | direct | GEMM  | burn's |
/// |----------------------------------------------|-------|--------|-------|--------|
/// | VGG-19 conv1_2: 1 × 64 × 256 → 64            | input | 88.2   | 97.4  | 118.5  |
/// | VGG-19 conv2_2: 1 × 128 × 128 → 128          | input | 65.1   | 60.7  | 75.2   |
/// | VGG-19 conv4_2: 1 × 512 × 32 → 512           | input | 87.5   | 55.9  | 65.0   |
/// | VGG-19 conv5_1: 1 × 512 × 16 → 512           | input | 29.1   | 15.2  | 21.6   |
/// | day/night block 1: 32 × 3 × 64 → 16          | train | 8.5    | 15.3  | 15.4   |
/// | day/night block 2: 32 × 16 × 32 → 32         | train | 18.4   | 24.2  | 27.1   |
/// | day/night block 4: 32 × 64 × 8 → 64          | train | 21.5   | 6.7   | 7.2    |
/// | fast style, last: 4 × 16 × 256 → 3, 9×9      | train | 77.5   | 794   | 552    |
/// | ResNet stage 1: 32 × 32 × 35 → 32            | infer | 7.4    | 9.4   | 12.3   |
/// | ResNet stage 2: 32 × 64 × 17 → 64            | infer | 9.3    | 5.8   | 8.8    |
/// | ResNet stage 4: 1 × 256 × 3 → 256            | infer | 0.92   | 0.26  | 0.62   |
///
/// These were taken with the weights' GEMM on 16 MB tiles. On 256 KB
/// tiles (now) it alone takes, direct / GEMM, best of 7: 32 × 3 × 64 → 16
/// 5.5 / 2.1, 32 × 16 × 32 → 32 12.0 / 3.3, 32 × 64 × 8 → 64 21.0 / 1.7,
/// 4 × 3 × 256 → 16 (9×9) 48.9 / 43.0, 1 × 64 × 256 → 64 146 / 43.6, and
/// 4 × 16 × 256 → 3 (9×9) 59.3 / 198: hence [`FEW_OUTPUT_CHANNELS`].
fn direct_wins(s: &Shape) -> bool {
    let channels = s.c_in * s.c_out;
    channels <= NARROW_LAYER
        || (s.h_out * s.w_out >= MIN_DIRECT_PIXELS && channels <= MAX_DIRECT_CHANNELS)
}

/// Winograd serves the forward pass and the input's gradient of 3×3
/// layers at least this many channels wide on each side... (With the
/// AVX2 transforms it wins from 16 channels: `bench/conv.sh`, 2 cores,
/// best of 9, ms, direct kernel → Winograd: AdaIN at 512 px 32 → 32
/// 48.8 → 25.4, 32 → 64 at 256² 20.1 → 9.8; fast style's upsampling
/// layers 64 → 32 at 256² 25.0 → 10.3, 32 → 16 at 512² 22.5 → 16.1;
/// ResNet stage 1 32 × 32 × 35² → 32 7.2 → 6.1, at batch 1 0.45 → 0.26;
/// day/night blocks 2–4 11.2 / 9.5 / 5.8 → 11.2 / 9.0 / 5.3. The first,
/// scalar transforms lost below 64 channels.)
const WINOGRAD_CHANNELS: usize = 16;
/// ... on outputs at least this many pixels high and wide (on 3×3 maps a
/// 4×4 tile is mostly padding)...
const WINOGRAD_SIDE: usize = 8;
/// ... with at least this many 4×4 output tiles in the batch: fewer make
/// the GEMMs too narrow (two A/B rounds, ms: ResNet stage 3 at batch 1, 4
/// tiles, 0.48 / 0.42 by Winograd against 0.21 / 0.17; VGG-19 conv5_1,
/// 16 tiles, 26.4 / 16.5 against 15.9 / 15.3).
const WINOGRAD_TILES: usize = 64;

/// Where [`winograd`] is the fastest kernel for the forward pass and the
/// input's gradient: `bench/conv.sh` with every layer forced to each
/// kernel in turn, one run, 2 cores, ms for forward + input gradient
/// (VGG) or forward (ResNet), against PyTorch in the same run:
///
/// | layer                                 | Winograd | before | PyTorch |
/// |---------------------------------------|----------|--------|---------|
/// | VGG-19 conv1_2: 64 × 256² → 64        | 45.5     | 77.0   | 68–78   |
/// | VGG-19 conv2_2: 128 × 128² → 128      | 27.4     | 59.1   | 47–49   |
/// | VGG-19 conv3_2: 256 × 64² → 256       | 26.0     | 59.8   | 44–46   |
/// | VGG-19 conv4_2: 512 × 32² → 512       | 26.3     | 56.2   | 45–53   |
/// | VGG-19 conv5_1: 512 × 16² → 512       | 15.9     | 14.5   | 11–13   |
/// | ResNet stage 2: 32 × 64 × 17² → 64    | 6.1      | 6.4    | 2.9–3.5 |
/// | ResNet stage 3: 32 × 128 × 8² → 128   | 3.8      | 4.3    | 2.3–2.6 |
/// | ResNet stage 4: 32 × 256 × 3² → 256   | 4.2      | 3.0    | 1.1–1.5 |
/// | ResNet stage 1: 32 × 32 × 35² → 32    | 9.9      | 8.2    | 3.3–3.8 |
/// | day/night block 3: 32 × 32 × 16² → 64 | 8.9      | 7.9    | 4.4–5.1 |
///
/// ("before": the direct kernel or the GEMM, as routed without Winograd;
/// measured with the first transforms, which lost on ResNet stage 1 and
/// day/night block 3: see [`WINOGRAD_CHANNELS`] for today's.)
fn winograd_wins(s: &Shape) -> bool {
    winograd::serves(s)
        && s.c_in.min(s.c_out) >= WINOGRAD_CHANNELS
        && s.h_out.min(s.w_out) >= WINOGRAD_SIDE
        && s.batch * s.h_out.div_ceil(4) * s.w_out.div_ceil(4) >= WINOGRAD_TILES
}

fn forward_path(s: &Shape) -> Path {
    if winograd_wins(s) {
        Path::Winograd
    } else if direct_wins(s) {
        Path::Direct
    } else {
        Path::Gemm
    }
}

/// The direct kernel computes the input's gradient where the convolution
/// can be transposed into another (stride 1, no dilation, padding below
/// the kernel size) that it would serve; the GEMM elsewhere.
fn input_gradient_path(s: &Shape) -> Path {
    if winograd_wins(s) {
        Path::Winograd
    } else if s.transposable() && direct_wins(s) {
        Path::Direct
    } else {
        Path::Gemm
    }
}

fn weight_gradient_path(s: &Shape) -> Path {
    if s.c_out <= FEW_OUTPUT_CHANNELS {
        Path::Direct
    } else {
        Path::Gemm
    }
}

#[backend_extension(Flex, Autodiff)]
pub trait CpuConvBackend: Backend {
    /// `conv2d(input, weight, bias, options)` for f32 and `groups == 1`.
    fn cpu_conv2d(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;

    /// [`CpuConvBackend::cpu_conv2d`] with `fusion`'s padding before and
    /// ReLU after, in the same pass where the kernel can (`options` then
    /// carry the reflection padding).
    fn cpu_conv2d_fused(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        fusion: Fusion,
    ) -> FloatTensor<Self>;
}

impl CpuConvBackend for Flex {
    fn cpu_conv2d(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::cpu_conv2d_fused(input, weight, bias, options, Fusion::default())
    }

    fn cpu_conv2d_fused(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        fusion: Fusion,
    ) -> FloatTensor<Self> {
        let mut s = Shape::new(dims4(&input), dims4(&weight), &options);
        let path = forward_path(&s);
        if fusion.reflect > 0 {
            if path != Path::Winograd {
                // Only the Winograd transform reads mirrored rows itself.
                let padded = <Flex as CpuPadBackend>::cpu_reflect_pad(input, fusion.reflect);
                let options = ConvOptions::new(options.stride, [0, 0], options.dilation, 1);
                let fusion = Fusion {
                    reflect: 0,
                    ..fusion
                };
                return Self::cpu_conv2d_fused(padded, weight, bias, options, fusion);
            }
            s.reflect = true;
        }
        let [input, weight, bias] = [&input, &weight, &bias].map(f32_values);
        let mut out = match path {
            Path::Direct => direct_conv(&input, &weight, Some(&bias), &s, fusion.relu),
            Path::Gemm => gemm::forward(&input, &weight, &bias, &s),
            Path::Winograd => winograd::forward(&input, &weight, Some(&bias), &s, fusion.relu),
        };
        if fusion.relu && path == Path::Gemm {
            out.par_iter_mut().for_each(|x| *x = relu(*x));
        }
        flex_tensor(out, &[s.batch, s.c_out, s.h_out, s.w_out])
    }
}

/// ReLU as burn's flex computes it: NaN stays NaN.
#[inline(always)]
fn relu(x: f32) -> f32 {
    if x.is_nan() || x > 0.0 {
        x
    } else {
        0.0
    }
}

fn dims4(t: &FloatTensor<Flex>) -> [usize; 4] {
    t.shape().dims()
}

#[derive(Debug)]
struct CpuConvBackward;

impl Backward<Flex, 3> for CpuConvBackward {
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
        let s = Shape::new(dims4(&input), dims4(&weight), &options);
        if let Some(node) = node_input {
            let [weight, grad] = [&weight, &grad].map(f32_values);
            let dx = match input_gradient_path(&s) {
                Path::Direct => input_gradient_direct(&weight, &grad, &s),
                Path::Gemm => gemm::input_gradient(&weight, &grad, &s),
                Path::Winograd => winograd::input_gradient(&weight, &grad, &s),
            };
            grads.register::<Flex>(node.id, flex_tensor(dx, &[s.batch, s.c_in, s.h, s.w]));
        }
        if let Some(node) = node_weight {
            let [x, g] = [&input, &grad].map(f32_values);
            let dw = match weight_gradient_path(&s) {
                Path::Direct => weight_gradient_direct(&x, &g, &s),
                // No Winograd form: see the `winograd` module.
                Path::Gemm | Path::Winograd => gemm::weight_gradient(&x, &g, &s),
            };
            let dw = flex_tensor(dw, &[s.c_out, s.c_in, s.kh, s.kw]);
            grads.register::<Flex>(node.id, dw);
        }
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, Flex::conv2d_bias_backward(input, bias, grad));
        }
    }
}

impl<C: CheckpointStrategy> CpuConvBackend for Autodiff<Flex, C> {
    /// The three operations one after another, each with its own backward
    /// pass: the fused forward pass is for inference.
    fn cpu_conv2d_fused(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        fusion: Fusion,
    ) -> FloatTensor<Self> {
        let (input, options) = if fusion.reflect > 0 {
            let padded = <Self as CpuPadBackend>::cpu_reflect_pad(input, fusion.reflect);
            (
                padded,
                ConvOptions::new(options.stride, [0, 0], options.dilation, 1),
            )
        } else {
            (input, options)
        };
        let out = Self::cpu_conv2d(input, weight, bias, options);
        if fusion.relu {
            <Self as ActivationOps<Self>>::relu(out)
        } else {
            out
        }
    }

    fn cpu_conv2d(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let (input, input_node) = input.into_parts();
        let (weight, weight_node) = weight.into_parts();
        let (bias, bias_node) = bias.into_parts();
        let out = Flex::cpu_conv2d(input.clone(), weight.clone(), bias.clone(), options.clone());
        match CpuConvBackward
            .prepare::<C>([input_node, weight_node, bias_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((input, weight, bias, options), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

/// The input's gradient of a transposable convolution (see
/// [`input_gradient_path`]) by the direct kernel.
fn input_gradient_direct(weight: &[f32], grad: &[f32], s: &Shape) -> Vec<f32> {
    let (flipped, transposed) = transposed(weight, s);
    direct_conv(grad, &flipped, None, &transposed, false)
}

/// The convolution whose forward pass is the input's gradient of a
/// transposable one: over the output gradient, padded by
/// `k − 1 − padding`, with the weights flipped in space and their
/// channels swapped. Returns those weights and its shape.
fn transposed(weight: &[f32], s: &Shape) -> (Vec<f32>, Shape) {
    let taps = s.kh * s.kw;
    let mut flipped = vec![0f32; weight.len()];
    for co in 0..s.c_out {
        for ci in 0..s.c_in {
            let from = &weight[(co * s.c_in + ci) * taps..][..taps];
            let to = &mut flipped[(ci * s.c_out + co) * taps..][..taps];
            for (t, v) in to.iter_mut().zip(from.iter().rev()) {
                *t = *v;
            }
        }
    }
    let padding = [
        (s.kh - 1 - s.top, s.kh - 1 - s.bottom),
        (s.kw - 1 - s.left, s.kw - 1 - s.right),
    ];
    let shape = Shape::new(
        [s.batch, s.c_out, s.h_out, s.w_out],
        [s.c_in, s.c_out, s.kh, s.kw],
        &ConvOptions::new_with_padding([1, 1], padding, [1, 1], 1),
    );
    (flipped, shape)
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
    bottom: usize,
    left: usize,
    right: usize,
    h_padded: usize,
    h_out: usize,
    w_out: usize,
    /// Output width rounded up to whole register blocks.
    w_blocks: usize,
    /// Length of one row of a stride phase of the padded input: every
    /// block's widest read fits.
    phase_row: usize,
    /// Whether the padding mirrors the input (without repeating the edge)
    /// rather than adding zeros: only [`winograd::forward`] reads it; the
    /// other kernels get an input padded beforehand ([`Fusion`]).
    reflect: bool,
}

impl Shape {
    /// Whether the input's gradient is itself a convolution of the
    /// output's gradient (stride 1, no dilation, padding below the kernel
    /// size): see [`input_gradient_direct`].
    fn transposable(&self) -> bool {
        self.stride == [1, 1]
            && self.dilation == [1, 1]
            && self.top < self.kh
            && self.bottom < self.kh
            && self.left < self.kw
            && self.right < self.kw
    }

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
            bottom,
            left,
            right,
            h_padded,
            h_out,
            w_out,
            w_blocks,
            phase_row,
            reflect: false,
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

/// Bytes of padded input copies the direct kernel keeps at once.
const PHASES_BUDGET: usize = 32 << 20;

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

/// The convolution by the direct kernel, through a ReLU when `relu`.
fn direct_conv(
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    s: &Shape,
    relu: bool,
) -> Vec<f32> {
    assert_eq!(input.len(), s.batch * s.c_in * s.h * s.w, "input size");
    assert_eq!(weight.len(), s.c_out * s.c_in * s.kh * s.kw, "weight size");
    assert!(bias.is_none_or(|b| b.len() == s.c_out), "bias size");
    let packed = packed_weights(weight, s);
    let plane_out = s.h_out * s.w_out;
    // Not zeroed first: every value is written once below.
    let len = s.batch * s.c_out * plane_out;
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let target = Output(out.as_mut_ptr());
    let finish = |x: f32| if relu { self::relu(x) } else { x };
    let groups = s.c_out.div_ceil(CHANNELS);
    let fma = has_fma();
    let picture = s.c_in * s.h * s.w;
    // Pictures go in runs whose padded copies stay within a budget, and the
    // rows of a run's pictures are shared out together: batches of small
    // pictures have too few rows each to keep the threads busy.
    let phased_len = s.stride[1] * s.c_in * s.h_padded * s.phase_row;
    let per_run = (PHASES_BUDGET / (phased_len * 4)).clamp(1, s.batch);
    for first in (0..s.batch).step_by(per_run) {
        let pictures = first..(first + per_run).min(s.batch);
        let phased: Vec<Vec<f32>> = pictures
            .clone()
            .into_par_iter()
            .map(|b| phases(&input[b * picture..][..picture], s))
            .collect();
        // One task per output row: all channel groups of a row read the same
        // input rows, which stay in cache between them.
        let row_len = CHANNELS * (s.w_blocks / PIXELS);
        (0..pictures.len() * s.h_out).into_par_iter().for_each_init(
            || vec![[0f32; PIXELS]; row_len],
            |row, task| {
                let (i, y) = (task / s.h_out, task % s.h_out);
                let (b, phased) = (first + i, &phased[i]);
                for group in 0..groups {
                    let start: [f32; CHANNELS] = std::array::from_fn(|c| {
                        let co = group * CHANNELS + c;
                        bias.and_then(|b| b.get(co)).copied().unwrap_or(0.0)
                    });
                    let weights = &packed[group * s.c_in * s.kh * s.kw * CHANNELS..]
                        [..s.c_in * s.kh * s.kw * CHANNELS];
                    if fma {
                        // SAFETY: the CPU has AVX2 and FMA (checked by `has_fma`).
                        unsafe { output_row_fma(phased, weights, start, y, s, row) }
                    } else {
                        output_row(phased, weights, start, y, s, row);
                    }
                    for c in 0..CHANNELS.min(s.c_out - group * CHANNELS) {
                        let co = group * CHANNELS + c;
                        let base = ((b * s.c_out + co) * s.h_out + y) * s.w_out;
                        let sums =
                            row[c * (s.w_blocks / PIXELS)..][..s.w_blocks / PIXELS].as_flattened();
                        for (x, &value) in sums[..s.w_out].iter().enumerate() {
                            // SAFETY: `base + x` is inside `out` (its
                            // capacity is batch·c_out·h_out·w_out) and only
                            // this task writes row `y` of picture `b`.
                            unsafe { target.write(base + x, finish(value)) };
                        }
                    }
                }
            },
        );
    }
    // SAFETY: the tasks above wrote every output row of every picture, all
    // `c_out` channels and `w_out` columns of each.
    unsafe { out.set_len(len) };
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
fn weight_gradient_direct(input: &[f32], grad: &[f32], s: &Shape) -> Vec<f32> {
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

    fn assert_close(ours: &[f32], burns: &[f32], what: &str) {
        assert_close_within(ours, burns, 1e-5, what)
    }

    /// Every value within `tolerance` times (1 + the largest of burn's).
    fn assert_close_within(ours: &[f32], burns: &[f32], tolerance: f32, what: &str) {
        assert_eq!(ours.len(), burns.len(), "{what}: sizes");
        let scale = burns.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        let worst = ours
            .iter()
            .zip(burns)
            .map(|(x, y)| (x - y).abs())
            .enumerate()
            .fold((0, 0f32), |w, (i, e)| if e > w.1 { (i, e) } else { w });
        assert!(
            worst.1 <= tolerance * (scale + 1.0),
            "{what}: [{}] ours {} vs burn {} (scale {scale})",
            worst.0,
            ours[worst.0],
            burns[worst.0]
        );
    }

    fn vec_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    fn close<const D: usize>(ours: Tensor<D>, burns: Tensor<D>, tolerance: f32, what: &str) {
        assert_eq!(ours.dims(), burns.dims(), "{what}");
        assert_close_within(&vec_of(ours), &vec_of(burns), tolerance, what);
    }

    /// Winograd's transforms round more than a direct sum: its results are
    /// within this much of burn's, relative to their scale (1.15e-5 seen on
    /// the routed 64-channel case). A change of 1e-3 in one transform
    /// coefficient exceeds it several times over (one of 1e-4 does not).
    const WINOGRAD_TOLERANCE: f32 = 3e-5;

    /// A random convolution: kernels 1–9 (sometimes not square), strides
    /// 1–3, dilations 1–2, uneven paddings, odd channel counts, batches 1–3.
    struct Case {
        x: Tensor<4>,
        weight: Tensor<4>,
        bias: Tensor<1>,
        options: ConvOptions<2>,
        what: String,
    }

    fn random_case(rng: &mut impl Rng, device: &Device) -> Case {
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
        let (c_in, c_out) = (rng.gen_range(1..=12), rng.gen_range(1..=11));
        let batch = rng.gen_range(1..=3);
        let h = dilation[0] * (k - 1) + 1 + rng.gen_range(0..20);
        let w = dilation[1] * (kw - 1) + 1 + rng.gen_range(0..40);
        let normal = Distribution::Normal(0.0, 1.0);
        Case {
            x: Tensor::random([batch, c_in, h, w], normal, device),
            weight: Tensor::random([c_out, c_in, k, kw], normal, device),
            bias: Tensor::random([c_out], normal, device),
            options: ConvOptions::new_with_padding(stride, padding, dilation, 1),
            what: format!(
                "{batch}×{c_in}×{h}×{w} by {c_out}×{k}×{kw}, stride {stride:?}, dilation {dilation:?}, padding {padding:?}"
            ),
        }
    }

    /// burn's output and its gradients for the loss `Σ output · probe`,
    /// with the probe (which is then the output's gradient).
    struct Reference {
        output: Vec<f32>,
        probe: Vec<f32>,
        input_grad: Vec<f32>,
        weight_grad: Vec<f32>,
    }

    fn burns(case: &Case) -> Reference {
        let device = Device::flex().autodiff();
        let on = |t: &Tensor<4>| Tensor::<4>::from_data(t.to_data(), &device).require_grad();
        let (x, weight) = (on(&case.x), on(&case.weight));
        let bias = Tensor::<1>::from_data(case.bias.to_data(), &device);
        let y = burn::tensor::module::conv2d(
            x.clone(),
            weight.clone(),
            Some(bias),
            case.options.clone(),
        );
        let probe = Tensor::<4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &device);
        let grads = (y.clone() * probe.clone()).sum().backward();
        Reference {
            output: vec_of(y),
            probe: vec_of(probe),
            input_grad: vec_of(x.grad(&grads).unwrap()),
            weight_grad: vec_of(weight.grad(&grads).unwrap()),
        }
    }

    #[test]
    fn every_kernel_agrees_with_burn_on_random_shapes() {
        let device = Device::flex();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for n in 0..60 {
            let case = random_case(&mut rng, &device);
            let s = Shape::new(case.x.dims(), case.weight.dims(), &case.options);
            let reference = burns(&case);
            let what = format!("case {n}: {}", case.what);
            let (x, weight, bias) = (vec_of(case.x), vec_of(case.weight), vec_of(case.bias));
            let output = direct_conv(&x, &weight, Some(&bias), &s, false);
            assert_close(&output, &reference.output, &format!("{what}: forward"));
            let g = &reference.probe;
            let direct = weight_gradient_direct(&x, g, &s);
            assert_close(
                &direct,
                &reference.weight_grad,
                &format!("{what}: dW direct"),
            );
            let output = gemm::forward(&x, &weight, &bias, &s);
            assert_close(&output, &reference.output, &format!("{what}: forward GEMM"));
            let dx = gemm::input_gradient(&weight, g, &s);
            assert_close(&dx, &reference.input_grad, &format!("{what}: dX GEMM"));
            let gemm = gemm::weight_gradient(&x, g, &s);
            assert_close(&gemm, &reference.weight_grad, &format!("{what}: dW GEMM"));
            if s.transposable() {
                let dx = input_gradient_direct(&weight, g, &s);
                assert_close(&dx, &reference.input_grad, &format!("{what}: dX direct"));
            }
        }
    }

    /// The GEMM kernels on shapes large enough to need several tiles: runs
    /// of rows of one picture (with a stride, so tiles meet mid-kernel),
    /// and more single-picture tiles than threads (so each thread's run
    /// of the weights' gradient sums several).
    #[test]
    fn gemm_kernels_agree_with_burn_across_tiles() {
        let device = Device::flex();
        let normal = Distribution::Normal(0.0, 1.0);
        for (input, c_out, stride) in [([1, 128, 130, 131], 8, 2), ([5, 32, 100, 100], 6, 1)] {
            let case = Case {
                x: Tensor::random(input, normal, &device),
                weight: Tensor::random([c_out, input[1], 3, 3], normal, &device),
                bias: Tensor::random([c_out], normal, &device),
                options: ConvOptions::new([stride; 2], [1, 1], [1, 1], 1),
                what: format!("{input:?} to {c_out}, stride {stride}"),
            };
            let s = Shape::new(case.x.dims(), case.weight.dims(), &case.options);
            assert!(gemm::tile_count(&s) > 1, "{}: one tile", case.what);
            let reference = burns(&case);
            let (x, weight, bias) = (vec_of(case.x), vec_of(case.weight), vec_of(case.bias));
            let g = &reference.probe;
            let what = case.what;
            let output = gemm::forward(&x, &weight, &bias, &s);
            assert_close(&output, &reference.output, &format!("{what}: forward"));
            let dx = gemm::input_gradient(&weight, g, &s);
            assert_close(&dx, &reference.input_grad, &format!("{what}: dX"));
            let dw = gemm::weight_gradient(&x, g, &s);
            assert_close(&dw, &reference.weight_grad, &format!("{what}: dW"));
        }
    }

    /// Winograd's forward pass and input gradient on random 3×3 stride-1 shapes (sizes that leave
    /// partial tiles and partial lane groups, paddings 0–2) and on one
    /// large enough to take several runs of tile rows, within
    /// [`WINOGRAD_TOLERANCE`].
    #[test]
    fn winograd_kernels_agree_with_burn() {
        let device = Device::flex();
        let normal = Distribution::Normal(0.0, 1.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        type Padding = [(usize, usize); 2];
        let mut shapes: Vec<([usize; 4], usize, Padding)> = (0..25)
            .map(|_| {
                let input = [
                    rng.gen_range(1..=3),
                    rng.gen_range(1..=20),
                    rng.gen_range(3..=23),
                    rng.gen_range(3..=45),
                ];
                let c_out = rng.gen_range(1..=17);
                let mut pad = || (rng.gen_range(0..=2), rng.gen_range(0..=2));
                (input, c_out, [pad(), pad()])
            })
            .collect();
        shapes.push(([2, 64, 70, 67], 40, [(1, 1), (1, 1)]));
        for (n, (input, c_out, padding)) in shapes.into_iter().enumerate() {
            let case = Case {
                x: Tensor::random(input, normal, &device),
                weight: Tensor::random([c_out, input[1], 3, 3], normal, &device),
                bias: Tensor::random([c_out], normal, &device),
                options: ConvOptions::new_with_padding([1, 1], padding, [1, 1], 1),
                what: format!("case {n}: {input:?} to {c_out}, padding {padding:?}"),
            };
            let s = Shape::new(case.x.dims(), case.weight.dims(), &case.options);
            assert!(winograd::serves(&s), "{}", case.what);
            let reference = burns(&case);
            let (x, weight, bias) = (vec_of(case.x), vec_of(case.weight), vec_of(case.bias));
            let what = case.what;
            let close = |ours: &[f32], burns: &[f32], pass: &str| {
                assert_close_within(ours, burns, WINOGRAD_TOLERANCE, &format!("{what}: {pass}"))
            };
            close(
                &winograd::forward(&x, &weight, Some(&bias), &s, false),
                &reference.output,
                "forward",
            );
            close(
                &winograd::input_gradient(&weight, &reference.probe, &s),
                &reference.input_grad,
                "dX",
            );
        }
    }

    /// Through the extension and autodiff, on whichever kernels the routing
    /// picks: small random shapes, a large narrow layer (the direct
    /// kernel forward and for the input's gradient) and a wide 3×3 one
    /// (Winograd).
    #[test]
    fn routed_gradients_agree_with_burns_autodiff() {
        let device = Device::flex().autodiff();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut cases: Vec<(Case, f32)> = (0..30)
            .map(|_| (random_case(&mut rng, &device), 1e-5))
            .collect();
        let uniform = Distribution::Default;
        cases.push((
            Case {
                x: Tensor::random([1, 3, 130, 131], uniform, &device),
                weight: Tensor::random([8, 3, 3, 3], uniform, &device),
                bias: Tensor::random([8], uniform, &device),
                options: ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
                what: "1×3×130×131 by 8×3×3".into(),
            },
            1e-5,
        ));
        let winograd = Case {
            x: Tensor::random([3, 64, 17, 18], uniform, &device),
            weight: Tensor::random([64, 64, 3, 3], uniform, &device),
            bias: Tensor::random([64], uniform, &device),
            options: ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
            what: "3×64×17×18 by 64×64×3×3 (Winograd)".into(),
        };
        let s = Shape::new(winograd.x.dims(), winograd.weight.dims(), &winograd.options);
        assert_eq!(forward_path(&s), Path::Winograd);
        assert_eq!(input_gradient_path(&s), Path::Winograd);
        cases.push((winograd, WINOGRAD_TOLERANCE));
        for (n, (case, tolerance)) in cases.into_iter().enumerate() {
            let x = case.x.require_grad();
            let weight = case.weight.require_grad();
            let bias = case.bias.require_grad();
            let probe = |y: Tensor<4>| {
                let r = Tensor::<4>::random(y.dims(), Distribution::Normal(0.0, 1.0), &device);
                (y * r.clone(), r)
            };
            let options = case.options;
            let (ours, r) = probe(conv2d(
                x.clone(),
                weight.clone(),
                Some(bias.clone()),
                options.clone(),
            ));
            let burns = burn::tensor::module::conv2d(
                x.clone(),
                weight.clone(),
                Some(bias.clone()),
                options,
            ) * r;
            close(
                ours.clone(),
                burns.clone(),
                tolerance,
                &format!("case {n}: output"),
            );
            let (g_ours, g_burn) = (ours.sum().backward(), burns.sum().backward());
            let what = format!("case {n}: {}", case.what);
            close(
                x.grad(&g_ours).unwrap(),
                x.grad(&g_burn).unwrap(),
                tolerance,
                &format!("{what}: input"),
            );
            close(
                weight.grad(&g_ours).unwrap(),
                weight.grad(&g_burn).unwrap(),
                tolerance,
                &format!("{what}: weight"),
            );
            close(
                bias.grad(&g_ours).unwrap(),
                bias.grad(&g_burn).unwrap(),
                tolerance,
                &format!("{what}: bias"),
            );
        }
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
            1e-5,
            "grouped",
        );
    }

    /// The Winograd transforms with reflection padding and a ReLU, against
    /// burn's padding, convolution and ReLU one after another: random
    /// shapes with partial tiles and lane groups, paddings 1 and 2.
    #[test]
    fn winograd_pads_by_reflection_and_rectifies_as_burn_does() {
        let device = Device::flex();
        let normal = Distribution::Normal(0.0, 1.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for n in 0..24 {
            let p = rng.gen_range(1..=2);
            let input = [
                rng.gen_range(1..=2),
                rng.gen_range(1..=20),
                rng.gen_range(p + 1..=23),
                rng.gen_range(p + 1..=45),
            ];
            let (c_out, relu) = (rng.gen_range(1..=17), n % 2 == 0);
            let x: Tensor<4> = Tensor::random(input, normal, &device);
            let weight: Tensor<4> = Tensor::random([c_out, input[1], 3, 3], normal, &device);
            let bias: Tensor<1> = Tensor::random([c_out], normal, &device);
            let padded = x
                .clone()
                .pad((p, p, p, p), burn::tensor::ops::PadMode::Reflect);
            let unpadded = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
            let mut expected =
                burn::tensor::module::conv2d(padded, weight.clone(), Some(bias.clone()), unpadded);
            if relu {
                expected = burn::tensor::activation::relu(expected);
            }
            let options = ConvOptions::new([1, 1], [p, p], [1, 1], 1);
            let mut s = Shape::new(input, weight.dims(), &options);
            s.reflect = true;
            let ours =
                winograd::forward(&vec_of(x), &vec_of(weight), Some(&vec_of(bias)), &s, relu);
            let what = format!("case {n}: {input:?} to {c_out}, reflect {p}, relu {relu}");
            assert_close_within(&ours, &vec_of(expected), WINOGRAD_TOLERANCE, &what);
        }
    }

    /// `conv2d_fused` on each kernel the routing picks (Winograd, direct,
    /// a stride-2 GEMM or direct) equals the three operations one after
    /// another, forward on flex and, under autodiff, with the same input
    /// and weight gradients.
    #[test]
    fn fused_convolution_equals_its_parts_forward_and_backward() {
        use burn::nn::conv::Conv2dConfig;
        let normal = Distribution::Normal(0.0, 1.0);
        let layers = [
            ([1, 32, 40, 36], 32, 1), // Winograd
            ([2, 3, 30, 33], 8, 1),   // direct
            ([1, 24, 33, 31], 40, 2), // strided
        ];
        for device in [Device::flex(), Device::flex().autodiff()] {
            for (input, c_out, stride) in layers {
                let conv = Conv2dConfig::new([input[1], c_out], [3, 3])
                    .with_stride([stride, stride])
                    .with_padding(PaddingConfig2d::Valid)
                    .init(&device);
                let mut x: Tensor<4> = Tensor::random(input, normal, &device);
                if device.is_autodiff() {
                    x = x.require_grad();
                }
                let fusion = Fusion {
                    reflect: 1,
                    relu: true,
                };
                let fused = conv2d_fused(&conv, x.clone(), fusion);
                let parts = burn::tensor::activation::relu(conv2d_forward(
                    &conv,
                    crate::pad::reflect_pad(x.clone(), 1),
                ));
                let what = format!("{input:?} to {c_out}, stride {stride}");
                assert_eq!(fused.dims(), parts.dims(), "{what}");
                if !device.is_autodiff() {
                    close(fused, parts, WINOGRAD_TOLERANCE, &what);
                    continue;
                }
                let probe = Tensor::random(fused.dims(), normal, &device);
                let gradients = |y: Tensor<4>| {
                    let grads = (y * probe.clone()).sum().backward();
                    let dx = x.grad(&grads).unwrap();
                    (dx, conv.weight.val().grad(&grads).unwrap())
                };
                let (dx, dw) = gradients(fused);
                let (dx_parts, dw_parts) = gradients(parts);
                close(dx, dx_parts, 0.0, &format!("{what}: dX"));
                close(dw, dw_parts, 0.0, &format!("{what}: dW"));
            }
        }
    }
}
