//! The GRU recurrence over a whole sequence, forward and back-propagation
//! through time, on plain `f32` slices.
//!
//! Why by hand: burn 0.22's `nn::Gru` writes each step into the output with
//! `slice_assign`, whose backward materialises a full-size gradient per step,
//! so training cost grows with the square of the sequence length (1375 steps
//! here). This kernel keeps the recurrence in a tight loop per batch row and
//! does everything that is not sequential as one matrix product over all
//! steps. It is checked against burn's `Gru` and finite differences in
//! `model::gru` tests.
//!
//! Conventions follow PyTorch / burn (`reset_after`), gates packed as
//! `[z | r | n]` along the last axis:
//!
//! ```text
//! xp = x W_ih + b_ih              (computed outside, by burn, for all steps)
//! hh = h_prev W_hh + b_hh
//! z = σ(xp_z + hh_z)   r = σ(xp_r + hh_r)   n = tanh(xp_n + r ⊙ hh_n)
//! h = (1 − z) ⊙ n + z ⊙ h_prev
//! ```

use rayon::prelude::*;

/// Sizes of one call: `xp` is `[batch, steps, 3·hidden]`, `h` is
/// `[batch, steps, hidden]`, `w_hh` is `[hidden, 3·hidden]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GruDims {
    pub batch: usize,
    pub steps: usize,
    pub hidden: usize,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `out = h · W + b` for one row: `h` is `[H]`, `W` is `[H, 3H]` row-major.
fn row_times_matrix(h: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    out.copy_from_slice(b);
    let width = out.len();
    for (k, &hk) in h.iter().enumerate() {
        if hk != 0.0 {
            let row = &w[k * width..(k + 1) * width];
            for (o, &wv) in out.iter_mut().zip(row) {
                *o += hk * wv;
            }
        }
    }
}

/// One GRU step for one sequence, in place: `h` (length H) becomes the next
/// state. `xp` is this step's input projection (3H), `hh` is scratch (3H).
/// The streaming detector calls this directly, so offline and streaming
/// share one definition of the cell.
pub fn step(xp: &[f32], w_hh: &[f32], b_hh: &[f32], h: &mut [f32], hh: &mut [f32]) {
    let hidden = h.len();
    row_times_matrix(h, w_hh, b_hh, hh);
    for j in 0..hidden {
        let z = sigmoid(xp[j] + hh[j]);
        let r = sigmoid(xp[hidden + j] + hh[hidden + j]);
        let n = (xp[2 * hidden + j] + r * hh[2 * hidden + j]).tanh();
        h[j] = (1.0 - z) * n + z * h[j];
    }
}

/// Runs the recurrence from a zero state; returns every step's state
/// `[batch, steps, hidden]`. Batch rows are independent, so they run in
/// parallel for the whole sequence.
pub fn forward(xp: &[f32], w_hh: &[f32], b_hh: &[f32], dims: GruDims) -> Vec<f32> {
    let GruDims {
        batch,
        steps,
        hidden,
    } = dims;
    let gates = 3 * hidden;
    assert_eq!(xp.len(), batch * steps * gates, "xp shape");
    assert_eq!(w_hh.len(), hidden * gates, "w_hh shape");
    let mut out = vec![0.0f32; batch * steps * hidden];
    out.par_chunks_mut(steps * hidden)
        .zip(xp.par_chunks(steps * gates))
        .for_each(|(h_row, xp_row)| {
            let mut h = vec![0.0f32; hidden];
            let mut hh = vec![0.0f32; gates];
            for t in 0..steps {
                step(
                    &xp_row[t * gates..(t + 1) * gates],
                    w_hh,
                    b_hh,
                    &mut h,
                    &mut hh,
                );
                h_row[t * hidden..(t + 1) * hidden].copy_from_slice(&h);
            }
        });
    out
}

/// Gradients of a loss with respect to the recurrence's inputs.
#[derive(Debug, Clone)]
pub struct GruGrads {
    /// `[batch, steps, 3·hidden]`
    pub xp: Vec<f32>,
    /// `[hidden, 3·hidden]`
    pub w_hh: Vec<f32>,
    /// `[3·hidden]`
    pub b_hh: Vec<f32>,
}

/// `C = Aᵀ·B` or `C = A·B` (row-major, C overwritten) through `matrixmultiply`.
#[allow(clippy::too_many_arguments)]
fn gemm(m: usize, k: usize, n: usize, a: &[f32], a_transposed: bool, b: &[f32], c: &mut [f32]) {
    // A is m×k; stored as k×m when transposed.
    let (rsa, csa) = if a_transposed {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    // SAFETY: the slices hold m·k, k·n and m·n elements (asserted), and the
    // strides describe row-major layouts inside them.
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            n as isize,
            1,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Back-propagation through time. `h` is the forward output and `grad_h` the
/// loss gradient with respect to it (both `[batch, steps, hidden]`).
pub fn backward(
    xp: &[f32],
    w_hh: &[f32],
    b_hh: &[f32],
    h: &[f32],
    grad_h: &[f32],
    dims: GruDims,
) -> GruGrads {
    let GruDims {
        batch,
        steps,
        hidden,
    } = dims;
    let gates = 3 * hidden;
    let rows = batch * steps;

    // States entering each step (zero before the first).
    let mut h_prev = vec![0.0f32; rows * hidden];
    for b in 0..batch {
        let base = b * steps * hidden;
        h_prev[base + hidden..base + steps * hidden]
            .copy_from_slice(&h[base..base + (steps - 1) * hidden]);
    }
    // The hidden projection of every step at once: hh = h_prev·W_hh + b_hh.
    let mut hh = vec![0.0f32; rows * gates];
    gemm(rows, hidden, gates, &h_prev, false, w_hh, &mut hh);
    hh.par_chunks_mut(gates)
        .for_each(|row| row.iter_mut().zip(b_hh).for_each(|(v, b)| *v += b));

    // The sequential part: walk each batch row backwards in time, producing
    // the gradients at the gate pre-activations.
    let mut grad_xp = vec![0.0f32; rows * gates];
    let mut grad_hh = vec![0.0f32; rows * gates];
    grad_xp
        .par_chunks_mut(steps * gates)
        .zip(grad_hh.par_chunks_mut(steps * gates))
        .enumerate()
        .for_each(|(b, (gxp, ghh))| {
            let mut carry = vec![0.0f32; hidden]; // ∂L/∂h_t from later steps
            for t in (0..steps).rev() {
                let r_ = (b * steps + t) * hidden;
                let g_ = (b * steps + t) * gates;
                let lg = t * gates;
                for j in 0..hidden {
                    let dh = grad_h[r_ + j] + carry[j];
                    let z = sigmoid(xp[g_ + j] + hh[g_ + j]);
                    let r = sigmoid(xp[g_ + hidden + j] + hh[g_ + hidden + j]);
                    let hn = hh[g_ + 2 * hidden + j];
                    let n = (xp[g_ + 2 * hidden + j] + r * hn).tanh();
                    let hp = h_prev[r_ + j];
                    let dn_pre = dh * (1.0 - z) * (1.0 - n * n);
                    let dz_pre = dh * (hp - n) * z * (1.0 - z);
                    let dr_pre = dn_pre * hn * r * (1.0 - r);
                    gxp[lg + j] = dz_pre;
                    gxp[lg + hidden + j] = dr_pre;
                    gxp[lg + 2 * hidden + j] = dn_pre;
                    ghh[lg + j] = dz_pre;
                    ghh[lg + hidden + j] = dr_pre;
                    ghh[lg + 2 * hidden + j] = dn_pre * r;
                    carry[j] = dh * z;
                }
                // carry += ghh_t · W_hhᵀ
                let g = &ghh[lg..lg + gates];
                for (k, c) in carry.iter_mut().enumerate() {
                    *c += dot(&w_hh[k * gates..(k + 1) * gates], g);
                }
            }
        });

    let mut grad_w = vec![0.0f32; hidden * gates];
    gemm(hidden, rows, gates, &h_prev, true, &grad_hh, &mut grad_w);
    let mut grad_b = vec![0.0f32; gates];
    for row in grad_hh.chunks(gates) {
        grad_b.iter_mut().zip(row).for_each(|(s, v)| *s += v);
    }
    GruGrads {
        xp: grad_xp,
        w_hh: grad_w,
        b_hh: grad_b,
    }
}

/// Dot product with eight independent accumulators, so it vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for i in 0..chunks {
        for l in 0..8 {
            acc[l] += a[i * 8 + l] * b[i * 8 + l];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in chunks * 8..a.len() {
        sum += a[i] * b[i];
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(n: usize, scale: f32, rng: &mut impl Rng) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-scale..scale)).collect()
    }

    /// Loss = Σ h ⊙ c for a fixed random c, so ∂L/∂h = c.
    fn loss(xp: &[f32], w: &[f32], b: &[f32], c: &[f32], dims: GruDims) -> f64 {
        forward(xp, w, b, dims)
            .iter()
            .zip(c)
            .map(|(h, c)| (*h as f64) * (*c as f64))
            .sum()
    }

    #[test]
    fn backward_matches_finite_differences() {
        let dims = GruDims {
            batch: 2,
            steps: 7,
            hidden: 5,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let gates = 3 * dims.hidden;
        let xp = random(dims.batch * dims.steps * gates, 1.0, &mut rng);
        let w = random(dims.hidden * gates, 0.6, &mut rng);
        let b = random(gates, 0.3, &mut rng);
        let c = random(dims.batch * dims.steps * dims.hidden, 1.0, &mut rng);
        let h = forward(&xp, &w, &b, dims);
        let grads = backward(&xp, &w, &b, &h, &c, dims);

        let eps = 1e-3f32;
        let check = |name: &str, analytic: &[f32], perturb: &dyn Fn(usize, f32) -> f64| {
            for (i, &a) in analytic.iter().enumerate() {
                let numeric = (perturb(i, eps) - perturb(i, -eps)) / (2.0 * eps as f64);
                let a = a as f64;
                assert!(
                    (a - numeric).abs() <= 2e-3 * (1.0 + numeric.abs()),
                    "{name}[{i}]: analytic {a} vs numeric {numeric}"
                );
            }
        };
        check("xp", &grads.xp, &|i, e| {
            let mut v = xp.clone();
            v[i] += e;
            loss(&v, &w, &b, &c, dims)
        });
        check("w_hh", &grads.w_hh, &|i, e| {
            let mut v = w.clone();
            v[i] += e;
            loss(&xp, &v, &b, &c, dims)
        });
        check("b_hh", &grads.b_hh, &|i, e| {
            let mut v = b.clone();
            v[i] += e;
            loss(&xp, &w, &v, &c, dims)
        });
    }

    #[test]
    fn dot_handles_tails() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let b = vec![2.0f32; 19];
        assert_eq!(dot(&a, &b), 2.0 * (0..19).sum::<i32>() as f32);
    }
}
