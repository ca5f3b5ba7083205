//! The triplet loss with online mining inside a P×K batch (P people, K
//! photos each): `max(‖f(A)−f(P)‖² − ‖f(A)−f(N)‖² + α, 0)`, averaged over the
//! mined triplets. The margin α must be positive: at α = 0 mapping every face
//! to one point already scores zero, so nothing would push people apart.
//!
//! Triplets are chosen on the batch's distances (detached), then the loss is
//! taken on exactly those entries of the distance matrix, so gradients flow
//! through the embeddings of the chosen anchors, positives and negatives.

use burn::tensor::{Int, Tensor, TensorData};
use casebook_core::choice::Choice;
use serde::{Deserialize, Serialize};

/// How a batch's triplets are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mining {
    /// FaceNet's: every anchor–positive pair, with the nearest negative that
    /// is farther than the positive (hard, but not so hard it is noise).
    SemiHard,
    /// Per anchor, its farthest positive and nearest negative (Hermans et
    /// al., "In defense of the triplet loss", 2017).
    BatchHard,
}

impl Choice for Mining {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (Self::SemiHard, "semi-hard", "every anchor-positive pair with the nearest negative farther than the positive (FaceNet)"),
        (Self::BatchHard, "batch-hard", "per anchor, the farthest positive and the nearest negative"),
    ];
}

/// A batch's loss, how many triplets were mined, and the share of all the
/// batch's valid triplets that still violate the margin (FaceNet's "active"
/// triplets: it falls as the encoder learns).
pub struct TripletLoss {
    pub loss: Tensor<1>,
    pub triplets: usize,
    pub active: f64,
}

/// The share of all (anchor, positive, negative) triplets of the batch with
/// d(a,p) − d(a,n) + margin > 0.
fn active_share(d: &[f32], labels: &[usize], margin: f32) -> f64 {
    let n = labels.len();
    let (mut active, mut total) = (0usize, 0usize);
    for a in 0..n {
        for p in (0..n).filter(|&p| p != a && labels[p] == labels[a]) {
            for neg in (0..n).filter(|&j| labels[j] != labels[a]) {
                total += 1;
                if d[a * n + p] - d[a * n + neg] + margin > 0.0 {
                    active += 1;
                }
            }
        }
    }
    active as f64 / total.max(1) as f64
}

/// Squared Euclidean distances between all rows of `[batch, dim]`: `[batch, batch]`.
pub fn pairwise_squared_distances(embeddings: Tensor<2>) -> Tensor<2> {
    let norms = (embeddings.clone() * embeddings.clone()).sum_dim(1);
    let gram = embeddings.clone().matmul(embeddings.transpose());
    (norms.clone() + norms.transpose() - gram * 2.0).clamp_min(0.0)
}

/// Chooses (anchor, positive, negative) index triples from the distances
/// `d` (row-major, `n × n`) of a batch with the given person `labels`.
pub fn mine(
    d: &[f32],
    labels: &[usize],
    margin: f32,
    mining: Mining,
) -> Vec<(usize, usize, usize)> {
    let n = labels.len();
    let at = |i: usize, j: usize| d[i * n + j];
    let negatives = |a: usize| (0..n).filter(move |&j| labels[j] != labels[a]);
    let mut triplets = Vec::new();
    for a in 0..n {
        let positives: Vec<usize> = (0..n)
            .filter(|&j| j != a && labels[j] == labels[a])
            .collect();
        if positives.is_empty() || negatives(a).next().is_none() {
            continue;
        }
        match mining {
            Mining::SemiHard => {
                for &p in &positives {
                    let d_ap = at(a, p);
                    // The nearest negative beyond the positive; where every
                    // negative is nearer than the positive, the farthest of
                    // them (the least hard), as TensorFlow's semi-hard loss does.
                    let beyond = negatives(a)
                        .filter(|&j| at(a, j) > d_ap)
                        .min_by(|&x, &y| at(a, x).total_cmp(&at(a, y)));
                    let neg = beyond
                        .or_else(|| negatives(a).max_by(|&x, &y| at(a, x).total_cmp(&at(a, y))));
                    if let Some(neg) = neg {
                        if at(a, neg) < d_ap + margin || beyond.is_none() {
                            triplets.push((a, p, neg));
                        }
                    }
                }
            }
            Mining::BatchHard => {
                let p = positives
                    .iter()
                    .copied()
                    .max_by(|&x, &y| at(a, x).total_cmp(&at(a, y)))
                    .expect("positives is not empty");
                let neg = negatives(a)
                    .min_by(|&x, &y| at(a, x).total_cmp(&at(a, y)))
                    .expect("a negative exists");
                triplets.push((a, p, neg));
            }
        }
    }
    triplets
}

/// The mined triplet loss of a batch of embeddings `[batch, dim]`.
/// Triplets already satisfied by more than the margin add nothing, so the
/// loss is the mean over mined triplets (zero when none were mined).
pub fn triplet_loss(
    embeddings: Tensor<2>,
    labels: &[usize],
    margin: f32,
    mining: Mining,
) -> TripletLoss {
    let n = labels.len();
    let device = embeddings.device();
    let distances = pairwise_squared_distances(embeddings);
    let values = casebook_core::tensor::values(distances.clone().detach());
    let triplets = mine(&values, labels, margin, mining);
    if triplets.is_empty() {
        return TripletLoss {
            loss: (distances.sum() * 0.0).reshape([1]),
            triplets: 0,
            active: 0.0,
        };
    }
    let active = active_share(&values, labels, margin);
    let index = |pick: fn(&(usize, usize, usize)) -> usize| {
        let idx: Vec<i64> = triplets
            .iter()
            .map(|t| (t.0 * n + pick(t)) as i64)
            .collect();
        Tensor::<1, Int>::from_data(TensorData::new(idx, [triplets.len()]), &device)
    };
    let flat = distances.reshape([n * n]);
    let d_ap = flat.clone().select(0, index(|t| t.1));
    let d_an = flat.select(0, index(|t| t.2));
    let loss = (d_ap - d_an + margin).clamp_min(0.0).mean();
    TripletLoss {
        loss,
        triplets: triplets.len(),
        active,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn embeddings(rows: &[[f32; 2]], device: &Device) -> Tensor<2> {
        let data: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(data, [rows.len(), 2]), device)
    }

    #[test]
    fn distances_are_squared_euclidean() {
        let d = casebook_core::tensor::values(pairwise_squared_distances(embeddings(
            &[[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]],
            &Device::flex(),
        )));
        let want = [0.0, 25.0, 1.0, 25.0, 0.0, 20.0, 1.0, 20.0, 0.0];
        assert!(
            d.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-4),
            "{d:?}"
        );
    }

    #[test]
    fn mining_picks_the_intended_negatives() {
        // Person 0 at x = 0 and 1; person 1 at x = 1.5 and 5 (1-d, squared distances).
        let x = [0.0f32, 1.0, 1.5, 5.0];
        let labels = [0, 0, 1, 1];
        let d: Vec<f32> = x
            .iter()
            .flat_map(|a| x.iter().map(move |b| (a - b) * (a - b)))
            .collect();
        // Anchor 0, positive 1 (d = 1): negatives at 2.25 and 25; 2.25 is beyond the
        // positive and within the margin 2 → semi-hard.
        let semi = mine(&d, &labels, 2.0, Mining::SemiHard);
        assert!(semi.contains(&(0, 1, 2)), "{semi:?}");
        // Anchor 1, positive 0 (d = 1): nearest negative 0.25 is nearer than the positive;
        // beyond it is 16 (outside the margin): satisfied, not mined.
        assert!(!semi.iter().any(|t| t.0 == 1));
        let hard = mine(&d, &labels, 2.0, Mining::BatchHard);
        assert_eq!(hard, [(0, 1, 2), (1, 0, 2), (2, 3, 1), (3, 2, 1)]);
        // Of the 8 triplets, those with d(a,p) − d(a,n) + 2 > 0: (0,1,2) 1−2.25+2, (1,0,2) 1−0.25+2,
        // (1,0,3) 1−16+2 no, (0,1,3) no, (2,3,1) 12.25−0.25+2, (2,3,0) 12.25−2.25+2,
        // (3,2,1) 12.25−16+2 no, (3,2,0) no.
        assert_eq!(active_share(&d, &labels, 2.0), 4.0 / 8.0);
    }

    #[test]
    fn loss_value_and_gradient_match_the_formula_and_finite_differences() {
        let device = Device::flex().autodiff();
        let rows = [
            [0.1f32, 0.3],
            [0.4, -0.2],
            [0.35, 0.1],
            [0.9, 0.8],
            [-0.5, 0.2],
            [0.2, 0.25],
        ];
        let labels = [0, 0, 0, 1, 1, 1];
        let margin = 0.2;
        let loss_of = |rows: &[[f32; 2]]| {
            let x = embeddings(rows, &Device::flex());
            casebook_core::tensor::values(triplet_loss(x, &labels, margin, Mining::BatchHard).loss)
                [0]
        };
        // By hand: batch-hard triplets on these points.
        let d = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2);
        let mut by_hand = 0.0;
        for a in 0..6 {
            let dp = (0..6)
                .filter(|&j| j != a && labels[j] == labels[a])
                .map(|j| d(rows[a], rows[j]))
                .fold(f32::MIN, f32::max);
            let dn = (0..6)
                .filter(|&j| labels[j] != labels[a])
                .map(|j| d(rows[a], rows[j]))
                .fold(f32::MAX, f32::min);
            by_hand += (dp - dn + margin).max(0.0) / 6.0;
        }
        assert!(
            (loss_of(&rows) - by_hand).abs() < 1e-5,
            "{} vs {by_hand}",
            loss_of(&rows)
        );

        let x = embeddings(&rows, &device).require_grad();
        let grads = triplet_loss(x.clone(), &labels, margin, Mining::BatchHard)
            .loss
            .backward();
        let analytic = casebook_core::tensor::values(x.grad(&grads).unwrap());
        let h = 1e-3;
        for i in 0..6 {
            for j in 0..2 {
                let (mut up, mut down) = (rows, rows);
                up[i][j] += h;
                down[i][j] -= h;
                let numeric = (loss_of(&up) - loss_of(&down)) / (2.0 * h);
                assert!(
                    (numeric - analytic[i * 2 + j]).abs() < 2e-3,
                    "d/dx[{i}][{j}]: {numeric} vs {}",
                    analytic[i * 2 + j]
                );
            }
        }
    }

    #[test]
    fn a_batch_without_positives_or_negatives_mines_nothing() {
        let device = Device::flex();
        let one_each = triplet_loss(
            embeddings(&[[0.0, 0.0], [1.0, 1.0]], &device),
            &[0, 1],
            0.2,
            Mining::SemiHard,
        );
        assert_eq!((one_each.triplets, one_each.active), (0, 0.0));
        let one_person = triplet_loss(
            embeddings(&[[0.0, 0.0], [1.0, 1.0]], &device),
            &[0, 0],
            0.2,
            Mining::BatchHard,
        );
        assert_eq!(one_person.triplets, 0);
        assert_eq!(casebook_core::tensor::values(one_person.loss), [0.0]);
    }
}
