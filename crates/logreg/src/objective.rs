//! The training objective and its gradient, written out by hand.
//!
//! Logistic regression's gradient has a closed form, `Xᵀ(p − y)/n + λW/n`, so
//! computing it directly is cheaper than building an autodiff graph for every
//! L-BFGS evaluation; the tests check it against finite differences.
//!
//! Objective (scikit-learn's, divided by `n·C` with `l2 = 1/C`):
//! `mean_i Σ_j w_ij · loss(z_ij, y_ij) + l2/(2n) · ‖W‖²`, bias not penalised,
//! where loss is binary cross-entropy per output (binary, multilabel) or
//! softmax cross-entropy per row (multiclass).

use burn::tensor::activation::{relu, sigmoid, softmax};
use burn::tensor::Tensor;

use crate::data::Mode;

/// A full-batch problem on one device.
#[derive(Debug, Clone)]
pub struct Problem {
    pub x: Tensor<2>,
    pub y: Tensor<2>,
    /// Per-row (`[n, 1]`) or per-entry (`[n, k]`) loss weights.
    pub weights: Tensor<2>,
    pub mode: Mode,
    pub l2: f64,
}

impl Problem {
    pub fn rows(&self) -> usize {
        self.x.dims()[0]
    }

    /// Objective value and its gradient with respect to `W` (`[d, k]`) and `b` (`[k]`).
    pub fn loss_and_grad(&self, w: &Tensor<2>, b: &Tensor<1>) -> (f64, Tensor<2>, Tensor<1>) {
        let n = self.rows() as f64;
        let k = w.dims()[1];
        let z = self.x.clone().matmul(w.clone()) + b.clone().reshape([1, k]);
        let (per_row, p) = match self.mode {
            Mode::Multiclass => {
                // logsumexp(z) − z·y, stable by subtracting the row maximum.
                let max = z.clone().max_dim(1);
                let lse = (z.clone() - max.clone()).exp().sum_dim(1).log() + max;
                let loss = lse - (z.clone() * self.y.clone()).sum_dim(1);
                (loss * self.weights.clone(), softmax(z, 1))
            }
            Mode::Binary | Mode::Multilabel => {
                // softplus(z) − y·z, with softplus(z) = relu(z) + log1p(exp(−|z|)).
                let softplus = relu(z.clone()) + z.clone().abs().neg().exp().log1p();
                let loss = softplus - self.y.clone() * z.clone();
                (loss * self.weights.clone(), sigmoid(z))
            }
        };
        let penalty = self.l2 / (2.0 * n) * w.clone().powi_scalar(2).sum().into_scalar::<f64>();
        let loss = per_row.sum().into_scalar::<f64>() / n + penalty;
        let g = (p - self.y.clone()) * self.weights.clone() / n;
        let grad_w = self.x.clone().transpose().matmul(g.clone()) + w.clone() * (self.l2 / n);
        let grad_b = g.sum_dim(0).reshape([k]);
        (loss, grad_w, grad_b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn tensor2(v: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, shape), device)
    }

    fn problem(mode: Mode, k: usize) -> (Problem, Tensor<2>, Tensor<1>) {
        let device = Device::flex();
        let (n, d) = (7, 3);
        let x: Vec<f32> = (0..n * d)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let y: Vec<f32> = match mode {
            Mode::Multiclass => (0..n)
                .flat_map(|i| (0..k).map(move |j| f32::from(u8::from(i % k == j))))
                .collect(),
            _ => (0..n * k)
                .map(|i| f32::from(u8::from(i * 5 % 3 == 0)))
                .collect(),
        };
        let weights: Vec<f32> = (0..n).map(|i| 0.5 + (i % 3) as f32 * 0.4).collect();
        let w: Vec<f32> = (0..d * k)
            .map(|i| ((i * 7 % 5) as f32 - 2.0) / 4.0)
            .collect();
        let b: Vec<f32> = (0..k).map(|i| i as f32 * 0.3 - 0.2).collect();
        let p = Problem {
            x: tensor2(x, [n, d], &device),
            y: tensor2(y, [n, k], &device),
            weights: tensor2(weights, [n, 1], &device),
            mode,
            l2: 0.7,
        };
        (
            p,
            tensor2(w, [d, k], &device),
            Tensor::from_data(TensorData::new(b, [k]), &device),
        )
    }

    /// Central finite differences of the objective against the analytic gradient.
    fn check(mode: Mode, k: usize) {
        let (p, w, b) = problem(mode, k);
        let (_, gw, gb) = p.loss_and_grad(&w, &b);
        let analytic: Vec<f32> = [
            casebook_core::tensor::values(gw),
            casebook_core::tensor::values(gb),
        ]
        .concat();
        let wv = casebook_core::tensor::values(w.clone());
        let bv = casebook_core::tensor::values(b.clone());
        let device = Device::flex();
        let eps = 1e-2f32;
        for i in 0..wv.len() + bv.len() {
            let eval = |delta: f32| {
                let (mut wv, mut bv) = (wv.clone(), bv.clone());
                if i < wv.len() {
                    wv[i] += delta
                } else {
                    bv[i - wv.len()] += delta
                }
                let w = tensor2(wv, w.dims(), &device);
                let b = Tensor::from_data(TensorData::new(bv, [k]), &device);
                p.loss_and_grad(&w, &b).0
            };
            let numeric = (eval(eps) - eval(-eps)) / (2.0 * eps as f64);
            let a = analytic[i] as f64;
            assert!(
                (numeric - a).abs() <= 2e-3 + 1e-2 * a.abs(),
                "{mode:?} param {i}: numeric {numeric} vs analytic {a}"
            );
        }
    }

    #[test]
    fn binary_gradient_matches_finite_differences() {
        check(Mode::Binary, 1);
    }

    #[test]
    fn multilabel_gradient_matches_finite_differences() {
        check(Mode::Multilabel, 3);
    }

    #[test]
    fn multiclass_gradient_matches_finite_differences() {
        check(Mode::Multiclass, 4);
    }

    #[test]
    fn loss_matches_hand_computation() {
        // One row, z = 0: binary loss is ln 2 whatever the label.
        let device = Device::flex();
        let p = Problem {
            x: tensor2(vec![1.0], [1, 1], &device),
            y: tensor2(vec![1.0], [1, 1], &device),
            weights: tensor2(vec![1.0], [1, 1], &device),
            mode: Mode::Binary,
            l2: 0.0,
        };
        let (loss, _, _) = p.loss_and_grad(
            &tensor2(vec![0.0], [1, 1], &device),
            &Tensor::zeros([1], &device),
        );
        assert!((loss - std::f64::consts::LN_2).abs() < 1e-6);
    }
}
