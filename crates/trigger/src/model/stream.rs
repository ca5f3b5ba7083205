//! The trigger network's streaming form: its weights as plain arrays (batch
//! norms folded into per-channel affine maps) and both GRU states, advanced a
//! few output steps at a time. Work that is not sequential (the convolution as
//! im2col × weights, the GRU input projections) is one `matrixmultiply` GEMM
//! over all steps of a call; the recurrence is [`gru_kernel::step`], shared
//! with training. Checked against the burn network on whole clips in
//! `infer`'s tests.

use casebook_core::tensor::values;

use super::gru::SequenceGru;
use super::gru_kernel;
use super::{TriggerNet, TriggerNetConfig};

/// The network with its recurrent state, for input that arrives in pieces.
#[derive(Debug, Clone)]
pub struct StreamNet {
    weights: StreamWeights,
    filters: usize,
    h1: Vec<f32>,
    h2: Vec<f32>,
}

impl StreamNet {
    /// The inference-mode network `net` from a zero state.
    pub fn new(net: &TriggerNet, architecture: &TriggerNetConfig) -> Self {
        let weights = StreamWeights::of(net, architecture);
        Self {
            h1: vec![0.0; weights.gru1.hidden],
            h2: vec![0.0; weights.gru2.hidden],
            filters: architecture.filters,
            weights,
        }
    }

    /// Logits of the next `count` output steps from their receptive fields,
    /// `windows` `[count, kernel·bins]` (the frames of each step, in order).
    pub fn forward(&mut self, windows: &[f32], count: usize) -> Vec<f32> {
        let w = &self.weights;
        let mut x = affine_rows(windows, count, &w.conv, &w.conv_bias, self.filters);
        w.conv_norm.apply(&mut x);
        x.iter_mut().for_each(|v| *v = v.max(0.0));
        let mut x = w.gru1.run(&x, count, &mut self.h1);
        w.norm1.apply(&mut x);
        let mut x = w.gru2.run(&x, count, &mut self.h2);
        w.norm2.apply(&mut x);
        x.chunks(w.gru2.hidden)
            .map(|row| row.iter().zip(&w.head).map(|(a, b)| a * b).sum::<f32>() + w.head_bias)
            .collect()
    }
}

/// Inference-mode batch norm as a per-channel affine map.
#[derive(Debug, Clone)]
struct Affine {
    scale: Vec<f32>,
    shift: Vec<f32>,
}

impl Affine {
    fn of(norm: &burn::nn::BatchNorm) -> Self {
        let gamma = values(norm.gamma.val());
        let beta = values(norm.beta.val());
        let mean = values(norm.running_mean.value());
        let var = values(norm.running_var.value());
        let scale: Vec<f32> = gamma
            .iter()
            .zip(&var)
            .map(|(g, v)| g / (v + norm.epsilon as f32).sqrt())
            .collect();
        let shift = beta
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        Self { scale, shift }
    }

    fn apply(&self, rows: &mut [f32]) {
        let n = self.scale.len();
        for row in rows.chunks_mut(n) {
            for ((v, s), b) in row.iter_mut().zip(&self.scale).zip(&self.shift) {
                *v = *v * s + b;
            }
        }
    }
}

#[derive(Debug, Clone)]
struct GruWeights {
    w_ih: Vec<f32>,
    b_ih: Vec<f32>,
    w_hh: Vec<f32>,
    b_hh: Vec<f32>,
    hidden: usize,
}

impl GruWeights {
    fn of(gru: &SequenceGru) -> Self {
        Self {
            w_ih: values(gru.input.weight.val()),
            b_ih: values(gru.input.bias.as_ref().expect("GRU input bias").val()),
            w_hh: values(gru.w_hh.val()),
            b_hh: values(gru.b_hh.val()),
            hidden: gru.hidden(),
        }
    }

    /// Runs `rows` steps of input `x` `[rows, d_in]` from state `h`,
    /// returning the states `[rows, hidden]`.
    fn run(&self, x: &[f32], rows: usize, h: &mut [f32]) -> Vec<f32> {
        let gates = 3 * self.hidden;
        let xp = affine_rows(x, rows, &self.w_ih, &self.b_ih, gates);
        let mut out = vec![0f32; rows * self.hidden];
        let mut scratch = vec![0f32; gates];
        for t in 0..rows {
            gru_kernel::step(
                &xp[t * gates..(t + 1) * gates],
                &self.w_hh,
                &self.b_hh,
                h,
                &mut scratch,
            );
            out[t * self.hidden..(t + 1) * self.hidden].copy_from_slice(h);
        }
        out
    }
}

/// `x·W + b` for `rows` rows of `x` `[rows, k]`, `W` `[k, n]`.
fn affine_rows(x: &[f32], rows: usize, w: &[f32], b: &[f32], n: usize) -> Vec<f32> {
    let k = w.len() / n;
    // sgemm trusts these sizes: a mismatch must stop here, not read past a buffer.
    assert!(
        w.len() == k * n && x.len() == rows * k && b.len() == n,
        "affine_rows: x {} for {rows}×{k}, w {} for {k}×{n}, b {} for {n}",
        x.len(),
        w.len(),
        b.len()
    );
    let mut out: Vec<f32> = b.iter().copied().cycle().take(rows * n).collect();
    if rows > 0 {
        // SAFETY: x holds rows·k, w holds k·n and out rows·n values, row-major.
        unsafe {
            matrixmultiply::sgemm(
                rows,
                k,
                n,
                1.0,
                x.as_ptr(),
                k as isize,
                1,
                w.as_ptr(),
                n as isize,
                1,
                1.0,
                out.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    }
    out
}

/// The network's weights as plain arrays, for the stream.
#[derive(Debug, Clone)]
struct StreamWeights {
    /// `[kernel·bins, filters]`: row `k·bins + f` holds tap `k` of bin `f`.
    conv: Vec<f32>,
    conv_bias: Vec<f32>,
    conv_norm: Affine,
    gru1: GruWeights,
    norm1: Affine,
    gru2: GruWeights,
    norm2: Affine,
    head: Vec<f32>,
    head_bias: f32,
}

impl StreamWeights {
    fn of(net: &TriggerNet, a: &TriggerNetConfig) -> Self {
        let w = values(net.conv.weight.val()); // [filters, bins, kernel]
        let mut conv = vec![0f32; a.kernel * a.bins * a.filters];
        for c in 0..a.filters {
            for f in 0..a.bins {
                for k in 0..a.kernel {
                    conv[(k * a.bins + f) * a.filters + c] = w[(c * a.bins + f) * a.kernel + k];
                }
            }
        }
        Self {
            conv,
            conv_bias: net
                .conv
                .bias
                .as_ref()
                .map(|b| values(b.val()))
                .unwrap_or(vec![0.0; a.filters]),
            conv_norm: Affine::of(&net.conv_norm),
            gru1: GruWeights::of(&net.gru1),
            norm1: Affine::of(&net.norm1),
            gru2: GruWeights::of(&net.gru2),
            norm2: Affine::of(&net.norm2),
            head: values(net.head.weight.val()),
            head_bias: net
                .head
                .bias
                .as_ref()
                .map(|b| values(b.val())[0])
                .unwrap_or(0.0),
        }
    }
}
