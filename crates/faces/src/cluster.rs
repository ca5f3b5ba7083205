//! Clustering face vectors: group a folder's faces by person without knowing
//! who they are (`casebook face cluster DIR [--k K | --auto]`), the way a photo
//! app groups a camera roll, and score a grouping against known identities.
//!
//! Two ways to group:
//! - [`kmeans`] when the number of people is known: scikit-learn's `KMeans`
//!   (greedy k-means++ seeding, Lloyd iterations, several restarts, empty
//!   clusters moved to far points); [`kmeans_auto`] picks the number by the
//!   best mean [`silhouette`].
//! - [`chinese_whispers`] when it is not: dlib's graph clustering as dlib's
//!   Python `chinese_whispers_clustering` runs it. Faces closer than a
//!   threshold (dlib's same-person distance is [`DLIB_THRESHOLD`]) are joined
//!   and the number of people falls out of the graph.
//!
//! Scores against true identities mirror scikit-learn: [`purity`], [`nmi`],
//! [`adjusted_rand_index`].
//!
//! Distances are Euclidean, computed in f64. Costs, for n vectors of d values:
//! a k-means run is O(n·k·d) per Lloyd iteration (at most 300); chinese
//! whispers builds its graph in O(n²·d); [`silhouette`] is O(n²·d);
//! [`kmeans_auto`] holds an n×n f64 distance matrix (72 MB at 3,000 vectors).
//! Meant for up to a few thousand vectors, not for millions.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::ops::RangeInclusive;

use anyhow::{ensure, Result};
use casebook_core::config::{require, require_positive};
use casebook_core::seed;
use rand::Rng;
use serde::Serialize;

/// dlib's distance below which two of its face vectors are the same person.
pub const DLIB_THRESHOLD: f32 = 0.6;
/// dlib's default number of chinese-whispers iterations (each is n random node updates).
pub const DLIB_ITERATIONS: usize = 100;
/// Most Lloyd iterations of one k-means run (scikit-learn's `max_iter`).
const MAX_ITERATIONS: usize = 300;
/// Random sub-streams of this module: `seed::stream(seed, [KMEANS, restart])`.
const KMEANS: u64 = 0x4B4D_4E00;
/// `seed::stream(seed, [WHISPERS])`.
const WHISPERS: u64 = 0x4357_4800;

/// A grouping of vectors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clustering {
    /// The cluster of each vector. Cluster 0 is the largest; clusters of
    /// equal size are numbered in the order of their first member.
    pub labels: Vec<usize>,
    /// The number of clusters: every label is below it, every cluster has a member.
    pub clusters: usize,
    /// k-means only: the sum of squared distances of the vectors to the mean
    /// of their cluster (scikit-learn's `inertia_`).
    pub inertia: Option<f64>,
}

/// k-means, as scikit-learn's `KMeans(n_clusters=k, n_init=restarts)` with
/// Lloyd's algorithm: each restart seeds `k` centres by greedy k-means++ and
/// iterates to convergence (the assignment no longer changes; at most 300
/// iterations); the restart with the lowest inertia wins. A cluster left empty
/// is re-seeded with the vector farthest from its centre. Deterministic given
/// `seed`.
///
/// Fewer than `k` distinct vectors (k > n, duplicates) give fewer clusters:
/// [`Clustering::clusters`] says how many.
pub fn kmeans<V: AsRef<[f32]>>(
    vectors: &[V],
    k: usize,
    restarts: usize,
    seed: u64,
) -> Result<Clustering> {
    require(k >= 1, "k", "must be at least 1")?;
    require(restarts >= 1, "restarts", "must be at least 1")?;
    let points = Points::new(vectors)?;
    Ok(kmeans_points(&points, k, restarts, seed))
}

/// [`kmeans`] for each k in `k_range` (only k in 2..=n-1, where the silhouette
/// is defined), keeping the clustering with the best mean [`silhouette`], as
/// scikit-learn's guide picks a number of clusters. Ties go to the smaller k.
/// Returns it with each scored `(k, silhouette)`.
///
/// The silhouette cannot score a single cluster, so this never answers "one
/// person" unless no k can be scored (fewer than 3 vectors, or all of them
/// identical); then it returns one cluster and no scores. Use
/// [`chinese_whispers`] where one person is a likely answer.
pub fn kmeans_auto<V: AsRef<[f32]>>(
    vectors: &[V],
    k_range: RangeInclusive<usize>,
    restarts: usize,
    seed: u64,
) -> Result<(Clustering, Vec<(usize, f64)>)> {
    let (low, high) = (*k_range.start(), *k_range.end());
    require(
        low <= high && high >= 2,
        "k_range",
        format!("must include a k of at least 2 (got {low}..={high})"),
    )?;
    require(restarts >= 1, "restarts", "must be at least 1")?;
    let points = Points::new(vectors)?;
    let n = points.len();
    let ks = low.max(2)..=high.min(n.saturating_sub(1));
    let mut scores = Vec::new();
    let mut best: Option<(f64, Clustering)> = None;
    if !ks.is_empty() {
        let distances = distance_matrix(&points);
        for k in ks {
            let clustering = kmeans_points(&points, k, restarts, seed);
            if clustering.clusters < 2 {
                continue;
            }
            let score = mean_silhouette(&clustering.labels, clustering.clusters, |i, j| {
                distances[i * n + j]
            });
            scores.push((k, score));
            if best.as_ref().is_none_or(|(top, _)| score > *top) {
                best = Some((score, clustering));
            }
        }
    }
    let clustering = match best {
        Some((_, clustering)) => clustering,
        None => kmeans_points(&points, 1, restarts, seed),
    };
    Ok((clustering, scores))
}

/// Chinese whispers, as dlib's Python `chinese_whispers_clustering(descriptors,
/// threshold)`: an edge of weight 1 joins every two vectors closer than
/// `threshold` (and each vector to itself, as dlib's loop `j = i..n` does);
/// every node starts with its own label; then `iterations · n` times a node
/// drawn at random takes the label with the largest total edge weight among
/// its neighbours (ties: the smallest label, as dlib's `std::map` scan). The
/// number of clusters falls out. dlib uses threshold [`DLIB_THRESHOLD`] and
/// [`DLIB_ITERATIONS`]. Deterministic given `seed` (dlib's own random
/// generator is not reproduced, so labels can differ from dlib's on ambiguous
/// graphs).
pub fn chinese_whispers<V: AsRef<[f32]>>(
    vectors: &[V],
    threshold: f32,
    iterations: usize,
    seed: u64,
) -> Result<Clustering> {
    require_positive(f64::from(threshold), "threshold")?;
    require(iterations >= 1, "iterations", "must be at least 1")?;
    let points = Points::new(vectors)?;
    let n = points.len();
    let threshold = f64::from(threshold);
    let mut neighbours: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    for i in 0..n {
        for j in i + 1..n {
            if squared_distance(points.row(i), points.row(j)).sqrt() < threshold {
                neighbours[i].push(j);
                neighbours[j].push(i);
            }
        }
    }
    let mut labels: Vec<usize> = (0..n).collect();
    let mut rng = seed::stream(seed, &[WHISPERS]);
    let mut weights = vec![0usize; n];
    let mut seen = Vec::new();
    for _ in 0..n.saturating_mul(iterations) {
        let node = rng.gen_range(0..n);
        for &other in &neighbours[node] {
            let label = labels[other];
            if weights[label] == 0 {
                seen.push(label);
            }
            weights[label] += 1;
        }
        let (mut best, mut best_weight) = (labels[node], 0);
        for &label in &seen {
            let weight = std::mem::take(&mut weights[label]);
            if weight > best_weight || (weight == best_weight && label < best) {
                (best, best_weight) = (label, weight);
            }
        }
        seen.clear();
        labels[node] = best;
    }
    let (labels, clusters) = renumber(&labels);
    Ok(Clustering {
        labels,
        clusters,
        inertia: None,
    })
}

/// The mean silhouette coefficient, as scikit-learn's `silhouette_score` with
/// the Euclidean metric: for each vector, `(b - a) / max(a, b)` with `a` its
/// mean distance to the rest of its cluster and `b` its mean distance to the
/// nearest other cluster; a vector alone in its cluster scores 0. `labels` may
/// be any numbers; there must be between 2 and n - 1 clusters.
pub fn silhouette<V: AsRef<[f32]>>(vectors: &[V], labels: &[usize]) -> Result<f64> {
    let points = Points::new(vectors)?;
    let n = points.len();
    ensure!(
        labels.len() == n,
        "{} labels for {n} vectors; give one label per vector",
        labels.len()
    );
    let (labels, clusters) = dense(labels);
    ensure!(
        clusters >= 2 && clusters < n,
        "the silhouette needs at least 2 clusters and fewer clusters than vectors \
         (got {clusters} clusters of {n} vectors)"
    );
    Ok(mean_silhouette(&labels, clusters, |i, j| {
        squared_distance(points.row(i), points.row(j)).sqrt()
    }))
}

/// The share of vectors whose cluster's most common true identity is theirs:
/// scikit-learn's `contingency_matrix(truth, labels).max(axis=0).sum() / n`.
/// 1 when every cluster is one person (also when every vector is its own cluster).
pub fn purity(truth: &[usize], labels: &[usize]) -> Result<f64> {
    let table = Contingency::new(truth, labels)?;
    let mut largest = vec![0u64; table.cols.len()];
    for &(_, col, count) in &table.cells {
        largest[col] = largest[col].max(count);
    }
    Ok(largest.iter().sum::<u64>() as f64 / table.n as f64)
}

/// Normalised mutual information, as scikit-learn's
/// `normalized_mutual_info_score(truth, labels)` (arithmetic-mean
/// normalisation): 1 for the same partition, 0 for independent ones; 1 when
/// both put everything in one group, 0 when only one of them does.
pub fn nmi(truth: &[usize], labels: &[usize]) -> Result<f64> {
    let table = Contingency::new(truth, labels)?;
    let (classes, clusters) = (table.rows.len(), table.cols.len());
    if classes == 1 && clusters == 1 {
        return Ok(1.0);
    }
    if classes == 1 || clusters == 1 {
        return Ok(0.0);
    }
    let n = table.n as f64;
    let ln_n = n.ln();
    let mi: f64 = table
        .cells
        .iter()
        .map(|&(row, col, count)| {
            let share = count as f64 / n;
            let outer = (table.rows[row] * table.cols[col]) as f64;
            let term = share * ((count as f64).ln() - ln_n) + share * (-outer.ln() + ln_n + ln_n);
            if term.abs() < f64::EPSILON {
                0.0
            } else {
                term
            }
        })
        .sum::<f64>()
        .max(0.0);
    if mi == 0.0 {
        return Ok(0.0);
    }
    let entropy = |sizes: &[u64]| -> f64 {
        -sizes
            .iter()
            .map(|&size| size as f64 / n * ((size as f64).ln() - ln_n))
            .sum::<f64>()
    };
    Ok(mi / ((entropy(&table.rows) + entropy(&table.cols)) / 2.0))
}

/// The adjusted Rand index, as scikit-learn's `adjusted_rand_score(truth,
/// labels)`: agreement on which pairs share a group, corrected for chance;
/// 1 for the same partition, about 0 for random ones, negative below chance.
pub fn adjusted_rand_index(truth: &[usize], labels: &[usize]) -> Result<f64> {
    let table = Contingency::new(truth, labels)?;
    let n = i128::from(table.n);
    let cells = || {
        table
            .cells
            .iter()
            .map(|&(r, c, count)| (r, c, i128::from(count)))
    };
    let squares: i128 = cells().map(|(_, _, count)| count * count).sum();
    let together_in_both = squares - n;
    let apart_in_truth: i128 = cells()
        .map(|(_, c, count)| count * i128::from(table.cols[c]))
        .sum::<i128>()
        - squares;
    let apart_in_labels: i128 = cells()
        .map(|(r, _, count)| count * i128::from(table.rows[r]))
        .sum::<i128>()
        - squares;
    let apart_in_both = n * n - apart_in_truth - apart_in_labels - squares;
    let (tp, fp, fn_, tn) = (
        together_in_both,
        apart_in_truth,
        apart_in_labels,
        apart_in_both,
    );
    if fn_ == 0 && fp == 0 {
        return Ok(1.0);
    }
    Ok(
        2.0 * (tp * tn - fn_ * fp) as f64
            / ((tp + fn_) * (fn_ + tn) + (tp + fp) * (fp + tn)) as f64,
    )
}

/// The vectors as one checked, row-major f64 matrix.
struct Points {
    data: Vec<f64>,
    dim: usize,
}

impl Points {
    fn new<V: AsRef<[f32]>>(vectors: &[V]) -> Result<Self> {
        ensure!(!vectors.is_empty(), "no vectors to cluster");
        let dim = vectors[0].as_ref().len();
        ensure!(dim > 0, "the vectors have no values");
        let mut data = Vec::with_capacity(vectors.len() * dim);
        for (i, vector) in vectors.iter().enumerate() {
            let vector = vector.as_ref();
            ensure!(
                vector.len() == dim,
                "vector {i} has {} values but vector 0 has {dim}",
                vector.len()
            );
            ensure!(
                vector.iter().all(|value| value.is_finite()),
                "vector {i} has a value that is not a finite number"
            );
            data.extend(vector.iter().map(|&value| f64::from(value)));
        }
        Ok(Self { data, dim })
    }

    fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// All pairwise distances, row-major n×n.
fn distance_matrix(points: &Points) -> Vec<f64> {
    let n = points.len();
    let mut distances = vec![0.0; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let distance = squared_distance(points.row(i), points.row(j)).sqrt();
            distances[i * n + j] = distance;
            distances[j * n + i] = distance;
        }
    }
    distances
}

/// [`kmeans`] on checked points: the best of `restarts` runs, renumbered.
fn kmeans_points(points: &Points, k: usize, restarts: usize, seed: u64) -> Clustering {
    let run = |restart: usize| {
        let mut rng = seed::stream(seed, &[KMEANS, restart as u64]);
        lloyd(points, kmeans_plus_plus(points, k, &mut rng))
    };
    let (mut labels, mut inertia) = run(0);
    for restart in 1..restarts {
        let (other_labels, other_inertia) = run(restart);
        if other_inertia < inertia {
            (labels, inertia) = (other_labels, other_inertia);
        }
    }
    let (labels, clusters) = renumber(&labels);
    Clustering {
        labels,
        clusters,
        inertia: Some(inertia),
    }
}

/// Greedy k-means++, as scikit-learn's `_kmeans_plusplus`: the first centre is
/// a vector drawn uniformly; each next one is the best of `2 + ⌊ln k⌋`
/// candidates drawn with probability proportional to their squared distance
/// to the nearest centre so far, "best" leaving the lowest total squared
/// distance. Stops early once every vector sits on a centre (fewer distinct
/// vectors than `k`).
fn kmeans_plus_plus(points: &Points, k: usize, rng: &mut impl Rng) -> Vec<Vec<f64>> {
    let n = points.len();
    let trials = 2 + (k as f64).ln() as usize;
    let first = rng.gen_range(0..n);
    let mut centers = vec![points.row(first).to_vec()];
    let mut closest: Vec<f64> = (0..n)
        .map(|i| squared_distance(points.row(i), points.row(first)))
        .collect();
    let mut cumulative = vec![0.0; n];
    let mut trial_closest = vec![0.0; n];
    let mut best_closest = vec![0.0; n];
    while centers.len() < k {
        let mut total = 0.0;
        for (sum, distance) in cumulative.iter_mut().zip(&closest) {
            total += distance;
            *sum = total;
        }
        if total <= 0.0 {
            break;
        }
        let (mut best, mut best_total) = (0, f64::INFINITY);
        for _ in 0..trials {
            let draw = rng.gen::<f64>() * total;
            let candidate = match cumulative.partition_point(|&sum| sum <= draw) {
                i if i < n => i,
                _ => closest.iter().rposition(|&d| d > 0.0).unwrap_or(0),
            };
            let mut candidate_total = 0.0;
            for (i, slot) in trial_closest.iter_mut().enumerate() {
                *slot = squared_distance(points.row(i), points.row(candidate)).min(closest[i]);
                candidate_total += *slot;
            }
            if candidate_total < best_total {
                (best, best_total) = (candidate, candidate_total);
                std::mem::swap(&mut best_closest, &mut trial_closest);
            }
        }
        centers.push(points.row(best).to_vec());
        std::mem::swap(&mut closest, &mut best_closest);
    }
    centers
}

/// Lloyd's iterations from `centers` until the assignment stops changing (at
/// most [`MAX_ITERATIONS`]). A cluster left empty takes the vector farthest
/// from its centre among clusters that keep a member (scikit-learn relocates
/// empty clusters the same way); one that cannot (every vector sits on its
/// centre) is dropped. Returns each vector's cluster and the inertia.
fn lloyd(points: &Points, mut centers: Vec<Vec<f64>>) -> (Vec<usize>, f64) {
    let n = points.len();
    let mut labels = vec![0; n];
    let mut distances = vec![0.0; n];
    let mut previous = vec![usize::MAX; n];
    for _ in 0..MAX_ITERATIONS {
        for i in 0..n {
            let (mut nearest, mut nearest_distance) = (0, f64::INFINITY);
            for (c, center) in centers.iter().enumerate() {
                let distance = squared_distance(points.row(i), center);
                if distance < nearest_distance {
                    (nearest, nearest_distance) = (c, distance);
                }
            }
            labels[i] = nearest;
            distances[i] = nearest_distance;
        }
        fill_empty(points, &mut centers, &mut labels, &distances);
        if labels == previous {
            break;
        }
        centers = means(points, &labels, centers.len());
        previous.clone_from(&labels);
    }
    let inertia = (0..n)
        .map(|i| squared_distance(points.row(i), &centers[labels[i]]))
        .sum();
    (labels, inertia)
}

/// Gives each empty cluster the vector farthest from its centre (ties: the
/// first) out of a cluster with more than one member; drops those that
/// cannot get one and renumbers the rest.
fn fill_empty(
    points: &Points,
    centers: &mut Vec<Vec<f64>>,
    labels: &mut [usize],
    distances: &[f64],
) {
    let mut sizes = vec![0usize; centers.len()];
    for &label in labels.iter() {
        sizes[label] += 1;
    }
    let mut moved = vec![false; labels.len()];
    let mut keep = vec![true; centers.len()];
    for c in 0..centers.len() {
        if sizes[c] > 0 {
            continue;
        }
        let farthest = (0..labels.len())
            .filter(|&i| !moved[i] && sizes[labels[i]] > 1)
            .max_by(|&a, &b| distances[a].total_cmp(&distances[b]).then(b.cmp(&a)));
        match farthest {
            Some(i) if distances[i] > 0.0 => {
                sizes[labels[i]] -= 1;
                labels[i] = c;
                sizes[c] = 1;
                moved[i] = true;
                centers[c] = points.row(i).to_vec();
            }
            _ => keep[c] = false,
        }
    }
    if keep.iter().all(|&kept| kept) {
        return;
    }
    let mut renumbered = vec![0; centers.len()];
    let mut next = 0;
    for (c, &kept) in keep.iter().enumerate() {
        renumbered[c] = next;
        next += usize::from(kept);
    }
    for label in labels.iter_mut() {
        *label = renumbered[*label];
    }
    let mut kept = keep.into_iter();
    centers.retain(|_| kept.next().unwrap_or(false));
}

/// The mean of each of `clusters` non-empty clusters.
fn means(points: &Points, labels: &[usize], clusters: usize) -> Vec<Vec<f64>> {
    let mut sums = vec![vec![0.0; points.dim]; clusters];
    let mut sizes = vec![0usize; clusters];
    for (i, &label) in labels.iter().enumerate() {
        sizes[label] += 1;
        for (sum, value) in sums[label].iter_mut().zip(points.row(i)) {
            *sum += value;
        }
    }
    for (sum, &size) in sums.iter_mut().zip(&sizes) {
        for value in sum.iter_mut() {
            *value /= size as f64;
        }
    }
    sums
}

/// Mean silhouette of `labels` (dense, below `clusters`) under `distance`,
/// as scikit-learn's `silhouette_samples(...).mean()`: singletons score 0, and
/// so does a vector with `a = b = 0`.
fn mean_silhouette(
    labels: &[usize],
    clusters: usize,
    distance: impl Fn(usize, usize) -> f64,
) -> f64 {
    let n = labels.len();
    let mut sizes = vec![0usize; clusters];
    for &label in labels {
        sizes[label] += 1;
    }
    let mut sums = vec![0.0; clusters];
    let mut total = 0.0;
    for i in 0..n {
        let own = labels[i];
        if sizes[own] == 1 {
            continue;
        }
        sums.fill(0.0);
        for (j, &label) in labels.iter().enumerate() {
            if j != i {
                sums[label] += distance(i, j);
            }
        }
        let a = sums[own] / (sizes[own] - 1) as f64;
        let b = (0..clusters)
            .filter(|&c| c != own)
            .map(|c| sums[c] / sizes[c] as f64)
            .fold(f64::INFINITY, f64::min);
        let larger = a.max(b);
        if larger > 0.0 {
            total += (b - a) / larger;
        }
    }
    total / n as f64
}

/// Labels renumbered 0.. by decreasing cluster size (ties: first member
/// first), and how many clusters there are.
fn renumber(labels: &[usize]) -> (Vec<usize>, usize) {
    let mut groups: HashMap<usize, (usize, usize)> = HashMap::new();
    for (i, &label) in labels.iter().enumerate() {
        groups.entry(label).or_insert((0, i)).0 += 1;
    }
    let mut order: Vec<(usize, usize, usize)> = groups
        .into_iter()
        .map(|(label, (size, first))| (label, size, first))
        .collect();
    order.sort_unstable_by_key(|&(_, size, first)| (Reverse(size), first));
    let new: HashMap<usize, usize> = order
        .iter()
        .enumerate()
        .map(|(new, &(label, _, _))| (label, new))
        .collect();
    (labels.iter().map(|label| new[label]).collect(), order.len())
}

/// Any labels renumbered 0.. in order of first appearance, and how many
/// distinct ones there are.
fn dense(labels: &[usize]) -> (Vec<usize>, usize) {
    let mut index = HashMap::new();
    let dense = labels
        .iter()
        .map(|&label| {
            let next = index.len();
            *index.entry(label).or_insert(next)
        })
        .collect();
    (dense, index.len())
}

/// The contingency table of true identities (rows) against clusters
/// (columns): its non-zero cells and both margins.
struct Contingency {
    /// `(row, column, count)`, sorted.
    cells: Vec<(usize, usize, u64)>,
    rows: Vec<u64>,
    cols: Vec<u64>,
    n: u64,
}

impl Contingency {
    fn new(truth: &[usize], labels: &[usize]) -> Result<Self> {
        ensure!(
            truth.len() == labels.len(),
            "{} true identities for {} cluster labels; give one of each per vector",
            truth.len(),
            labels.len()
        );
        ensure!(!truth.is_empty(), "no labels to score");
        let (truth, classes) = dense(truth);
        let (labels, clusters) = dense(labels);
        let mut pairs: Vec<(usize, usize)> = truth.into_iter().zip(labels).collect();
        pairs.sort_unstable();
        let mut cells: Vec<(usize, usize, u64)> = Vec::new();
        let mut rows = vec![0u64; classes];
        let mut cols = vec![0u64; clusters];
        for (row, col) in pairs {
            rows[row] += 1;
            cols[col] += 1;
            match cells.last_mut() {
                Some(cell) if (cell.0, cell.1) == (row, col) => cell.2 += 1,
                _ => cells.push((row, col, 1)),
            }
        }
        let n = rows.iter().sum();
        Ok(Self {
            cells,
            rows,
            cols,
            n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A standard normal draw (Box–Muller).
    fn gaussian(rng: &mut impl Rng) -> f64 {
        let u = 1.0 - rng.gen::<f64>();
        let v: f64 = rng.gen();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Face-like blobs: `sizes[c]` 128-d vectors around centre c, interleaved
    /// (one of each blob in turn). Centres draw N(0, 0.1²) per value, so they
    /// lie about 1.6 apart; vectors spread 0.01 per value, about 0.16 apart:
    /// far inside dlib's 0.6 within a blob, far outside between blobs.
    fn blobs(sizes: &[usize], seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = seed::stream(seed, &[1]);
        let centres: Vec<Vec<f64>> = sizes
            .iter()
            .map(|_| (0..128).map(|_| 0.1 * gaussian(&mut rng)).collect())
            .collect();
        let (mut vectors, mut truth) = (Vec::new(), Vec::new());
        for round in 0..sizes.iter().copied().max().unwrap_or(0) {
            for (c, centre) in centres.iter().enumerate() {
                if round < sizes[c] {
                    vectors.push(
                        centre
                            .iter()
                            .map(|&x| (x + 0.01 * gaussian(&mut rng)) as f32)
                            .collect(),
                    );
                    truth.push(c);
                }
            }
        }
        (vectors, truth)
    }

    fn error<T: std::fmt::Debug>(result: Result<T>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn kmeans_recovers_blobs_with_the_right_k() {
        for data in 0..5 {
            let (vectors, truth) = blobs(&[12, 9, 7, 5, 3], data);
            let clustering = kmeans(&vectors, 5, 4, 42).unwrap();
            // Sizes differ, so renumbering by size gives the blobs' own numbers.
            assert_eq!(clustering.labels, truth, "blobs {data}");
            assert_eq!(clustering.clusters, 5);
            // About n · d · 0.01² when every vector is with its blob.
            let inertia = clustering.inertia.unwrap();
            assert!(
                inertia > 0.0 && inertia < 36.0 * 128.0 * 1e-4 * 1.5,
                "{inertia}"
            );
            assert_eq!(kmeans(&vectors, 5, 4, 42).unwrap(), clustering);
        }
    }

    #[test]
    fn kmeans_gives_fewer_clusters_than_k_when_there_are_fewer_distinct_vectors() {
        let (a, b) = (vec![0.0f32, 0.0], vec![3.0f32, 4.0]);
        let clustering = kmeans(&[a.clone(), b, a], 10, 3, 1).unwrap();
        assert_eq!(clustering.labels, vec![0, 1, 0]);
        assert_eq!((clustering.clusters, clustering.inertia), (2, Some(0.0)));

        let same = vec![vec![0.5f32; 4]; 5];
        let clustering = kmeans(&same, 3, 2, 1).unwrap();
        assert_eq!((clustering.labels, clustering.clusters), (vec![0; 5], 1));
        assert_eq!(clustering.inertia, Some(0.0));

        let one = kmeans(&[vec![1.0f32, 2.0]], 2, 1, 1).unwrap();
        assert_eq!(
            (one.labels, one.clusters, one.inertia),
            (vec![0], 1, Some(0.0))
        );
    }

    #[test]
    fn lloyd_reseeds_an_empty_cluster_from_the_farthest_vector_and_drops_one_it_cannot() {
        let points = Points::new(&[[0.0f32], [1.0], [10.0], [11.0], [12.0]]).unwrap();
        // The centre at 100 wins no vector; 12 is farthest from its centre 0.5.
        let (labels, inertia) = lloyd(&points, vec![vec![0.5], vec![100.0]]);
        assert_eq!(labels, vec![0, 0, 1, 1, 1]);
        assert_eq!(inertia, 2.5);

        let same = Points::new(&[[1.0f32], [1.0], [1.0]]).unwrap();
        let (labels, inertia) = lloyd(&same, vec![vec![1.0], vec![5.0]]);
        assert_eq!((labels, inertia), (vec![0, 0, 0], 0.0));
    }

    #[test]
    fn chinese_whispers_recovers_blobs_and_counts_them() {
        for data in 0..5 {
            let (vectors, truth) = blobs(&[12, 9, 7, 5, 3], data);
            let clustering =
                chinese_whispers(&vectors, DLIB_THRESHOLD, DLIB_ITERATIONS, 42).unwrap();
            assert_eq!(clustering.labels, truth, "blobs {data}");
            assert_eq!((clustering.clusters, clustering.inertia), (5, None));
            let again = chinese_whispers(&vectors, DLIB_THRESHOLD, DLIB_ITERATIONS, 42).unwrap();
            assert_eq!(again, clustering);
        }
    }

    #[test]
    fn chinese_whispers_threshold_extremes_and_degenerate_inputs() {
        let (vectors, _) = blobs(&[4, 3], 3);
        let apart = chinese_whispers(&vectors, 1e-6, 10, 1).unwrap();
        assert_eq!(apart.labels, (0..7).collect::<Vec<_>>());
        assert_eq!(apart.clusters, 7);
        let together = chinese_whispers(&vectors, 100.0, 10, 1).unwrap();
        assert_eq!((together.labels, together.clusters), (vec![0; 7], 1));
        let same = chinese_whispers(&vec![vec![0.25f32; 8]; 6], 0.6, 10, 1).unwrap();
        assert_eq!((same.labels, same.clusters), (vec![0; 6], 1));
        let one = chinese_whispers(&[vec![1.0f32; 8]], 0.6, 10, 1).unwrap();
        assert_eq!((one.labels, one.clusters), (vec![0], 1));
    }

    #[test]
    fn kmeans_auto_picks_the_true_k() {
        let (vectors, truth) = blobs(&[10, 8, 6, 4], 5);
        let (clustering, scores) = kmeans_auto(&vectors, 2..=8, 3, 42).unwrap();
        assert_eq!(clustering.labels, truth);
        assert_eq!(clustering.clusters, 4);
        assert_eq!(
            scores.iter().map(|&(k, _)| k).collect::<Vec<_>>(),
            (2..=8).collect::<Vec<_>>()
        );
        let best = scores
            .iter()
            .copied()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert_eq!(best.0, 4);
        assert!(best.1 > 0.8, "{scores:?}");
        assert!((silhouette(&vectors, &clustering.labels).unwrap() - best.1).abs() < 1e-12);
    }

    #[test]
    fn kmeans_auto_answers_one_cluster_when_no_k_can_be_scored() {
        let two = [vec![0.0f32, 0.0], vec![1.0, 1.0]];
        let (clustering, scores) = kmeans_auto(&two, 2..=5, 2, 1).unwrap();
        assert_eq!(
            (clustering.labels, clustering.clusters, scores),
            (vec![0, 0], 1, vec![])
        );
        let same = vec![vec![0.5f32; 3]; 6];
        let (clustering, scores) = kmeans_auto(&same, 2..=5, 2, 1).unwrap();
        assert_eq!((clustering.clusters, scores), (1, vec![]));
    }

    #[test]
    fn silhouette_matches_scikit_learn() {
        let points: Vec<Vec<f32>> = [
            [0.0, 0.0],
            [0.0, 1.0],
            [1.0, 0.0],
            [5.0, 5.0],
            [5.0, 6.0],
            [6.0, 5.5],
            [10.0, 0.0],
            [2.5, 2.5],
        ]
        .iter()
        .map(|p| p.to_vec())
        .collect();
        // silhouette_score(X, [0,0,0,1,1,1,2,0]) (cluster 2 is a singleton)
        const WITH_SINGLETON: f64 = 0.6242304391078778;
        // silhouette_score(X, [3,3,7,7,3,7,9,9])
        const MIXED: f64 = -0.10638313167214447;
        // silhouette_score(np.ones((4, 2)), [0,0,1,1])
        const COINCIDENT: f64 = 0.0;
        let cases = [
            (points.clone(), vec![0, 0, 0, 1, 1, 1, 2, 0], WITH_SINGLETON),
            (points, vec![3, 3, 7, 7, 3, 7, 9, 9], MIXED),
            (vec![vec![1.0f32; 2]; 4], vec![0, 0, 1, 1], COINCIDENT),
        ];
        for (vectors, labels, expected) in cases {
            let got = silhouette(&vectors, &labels).unwrap();
            assert!(
                (got - expected).abs() < 1e-9,
                "{labels:?}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn external_scores_match_scikit_learn() {
        // (truth t, labels p, [purity, nmi, ari]), computed with scikit-learn 1.9.1:
        // purity = contingency_matrix(t, p).max(axis=0).sum() / len(t),
        // nmi = normalized_mutual_info_score(t, p), ari = adjusted_rand_score(t, p).
        type Case = (&'static [usize], &'static [usize], [f64; 3]);
        let cases: [Case; 6] = [
            (
                &[0, 0, 0, 1, 1, 1],
                &[0, 0, 1, 1, 2, 2],
                [0.8333333333333334, 0.5158037429793889, 0.24242424242424243],
            ),
            (
                &[0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 0],
                &[5, 5, 5, 1, 1, 7, 7, 7, 2, 2, 2, 9],
                [0.75, 0.6366301573370359, 0.3179650238473768],
            ),
            (&[0, 0, 0, 0], &[0, 1, 2, 3], [1.0, 0.0, 0.0]),
            (
                &[0, 1, 2, 3, 3, 1],
                &[4, 4, 4, 4, 4, 4],
                [0.3333333333333333, 0.0, 0.0],
            ),
            (&[0, 0, 1, 1, 2], &[2, 2, 0, 0, 1], [1.0, 1.0, 1.0]),
            (&[3, 3, 3], &[8, 8, 8], [1.0, 1.0, 1.0]),
        ];
        for (truth, labels, expected) in cases {
            let got = [
                purity(truth, labels).unwrap(),
                nmi(truth, labels).unwrap(),
                adjusted_rand_index(truth, labels).unwrap(),
            ];
            for (got, expected) in got.into_iter().zip(expected) {
                assert!(
                    (got - expected).abs() < 1e-9,
                    "{truth:?} {labels:?}: {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn renumbering_orders_by_size_then_first_member() {
        assert_eq!(
            renumber(&[7, 3, 3, 9, 7, 7, 9, 3]),
            (vec![0, 1, 1, 2, 0, 0, 2, 1], 3)
        );
    }

    #[test]
    fn invalid_input_is_an_error_naming_the_problem() {
        let vectors = vec![vec![0.0f32, 1.0], vec![1.0, 0.0], vec![2.0, 2.0]];
        let none: Vec<Vec<f32>> = Vec::new();
        assert_eq!(error(kmeans(&vectors, 0, 1, 1)), "k must be at least 1");
        assert_eq!(
            error(kmeans(&vectors, 2, 0, 1)),
            "restarts must be at least 1"
        );
        assert_eq!(error(kmeans(&none, 2, 1, 1)), "no vectors to cluster");
        assert_eq!(
            error(kmeans(&[vec![0.0f32; 0]], 1, 1, 1)),
            "the vectors have no values"
        );
        assert_eq!(
            error(kmeans(&[vec![0.0f32, 1.0], vec![1.0]], 1, 1, 1)),
            "vector 1 has 1 values but vector 0 has 2"
        );
        assert_eq!(
            error(chinese_whispers(&[vec![f32::NAN]], 0.6, 1, 1)),
            "vector 0 has a value that is not a finite number"
        );
        for threshold in [0.0, -1.0, f32::INFINITY] {
            assert!(error(chinese_whispers(&vectors, threshold, 1, 1))
                .starts_with("threshold must be a positive number"));
        }
        assert_eq!(
            error(chinese_whispers(&vectors, 0.6, 0, 1)),
            "iterations must be at least 1"
        );
        assert_eq!(
            error(chinese_whispers(&none, 0.6, 1, 1)),
            "no vectors to cluster"
        );
        assert_eq!(
            error(kmeans_auto(&vectors, 0..=1, 1, 1)),
            "k_range must include a k of at least 2 (got 0..=1)"
        );
        assert_eq!(
            error(kmeans_auto(&vectors, RangeInclusive::new(5, 3), 1, 1)),
            "k_range must include a k of at least 2 (got 5..=3)"
        );
        assert_eq!(
            error(silhouette(&vectors, &[0, 1])),
            "2 labels for 3 vectors; give one label per vector"
        );
        assert!(error(silhouette(&vectors, &[0, 0, 0])).contains("got 1 clusters of 3 vectors"));
        assert!(error(silhouette(&vectors, &[0, 1, 2])).contains("got 3 clusters of 3 vectors"));
        assert!(error(silhouette(&vectors[..1], &[0])).contains("got 1 clusters of 1 vectors"));
        assert_eq!(error(purity(&[], &[])), "no labels to score");
        for score in [purity, nmi, adjusted_rand_index] {
            assert_eq!(
                error(score(&[0, 1], &[0])),
                "2 true identities for 1 cluster labels; give one of each per vector"
            );
        }
    }
}
