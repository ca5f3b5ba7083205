//! The approximate nearest-neighbour index of a large gallery: an HNSW graph
//! (Malkov & Yashunin) from the `instant-distance` crate.
//!
//! Exact search costs one distance per enrolled vector (≈0.5 s per query at
//! 10^6 vectors); HNSW visits a few thousand. `benches/gallery_index.rs`
//! measures its recall@1 against exact search and its latency at 10^4, 10^5
//! and 10^6 vectors.
//!
//! At that size a search is bound by memory latency, not arithmetic: each
//! visited vector is a random read. So the graph walks compact codes, one
//! byte per component (scalar quantisation with one scale per gallery,
//! stored inline: 128 bytes, two cache lines, no pointer to chase), and the
//! gallery re-ranks the candidates it returns with the exact f32 vectors.
//! Codes have [`CODE_LEN`] components; a gallery of longer vectors is not
//! indexed (exact search).
//!
//! Storage: the gallery file stores every f32 vector once, in its `vectors`
//! section, and the codes follow from them, so the `index` section keeps
//! the graph only: the crate's serde layout ([`GraphLayout`], written with
//! `postcard`) with an empty point list. At load the codes are put back and
//! every neighbour id is checked, because the crate indexes with them
//! unchecked and a crafted file must not panic. The crate version is pinned
//! (`=0.6.1`) since this mirrors its layout; the round-trip tests fail if it
//! changes.

use std::cell::RefCell;

use anyhow::{ensure, Context, Result};
use instant_distance::{Builder, Hnsw, Point, Search};
use serde::{Deserialize, Serialize};
use serde_big_array::BigArray;

/// Links per node above layer 0 (`M` in the paper; fixed by the crate).
const M: usize = 32;
const NO_NEIGHBOUR: u32 = u32::MAX;

/// Components of a code: vectors up to this length can be indexed.
pub const CODE_LEN: usize = 128;
/// Largest code value: ±127 keeps the difference of two codes within i16.
const CODE_MAX: f32 = 127.0;

/// Candidates kept while inserting (`efConstruction`).
pub const EF_CONSTRUCTION: usize = 100;
/// Candidates kept while searching (`ef`): the recall/latency trade-off that
/// the benchmark measures.
pub const EF_SEARCH: usize = 256;

/// A vector quantised to one signed byte per component (zero-padded to
/// [`CODE_LEN`]; padding adds nothing to a distance).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Code(#[serde(with = "BigArray")] [i8; CODE_LEN]);

impl Point for Code {
    fn distance(&self, other: &Self) -> f32 {
        code_distance(&self.0, &other.0) as f32
    }
}

/// Squared distance of two codes, in code units. Integer arithmetic is
/// exact, so every build gives the same graph walk.
fn code_distance(a: &[i8; CODE_LEN], b: &[i8; CODE_LEN]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked on the line above).
        return unsafe { code_distance_avx2(a, b) };
    }
    code_distance_portable(a, b)
}

/// The same loop compiled for AVX2: 16 differences per multiply-add.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn code_distance_avx2(a: &[i8; CODE_LEN], b: &[i8; CODE_LEN]) -> i32 {
    code_distance_portable(a, b)
}

#[inline(always)]
fn code_distance_portable(a: &[i8; CODE_LEN], b: &[i8; CODE_LEN]) -> i32 {
    // Differences fit i16 (codes are within ±127), and products of i16
    // summed in pairs into i32 is one instruction (pmaddwd).
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = x as i16 - y as i16;
            (d as i32) * (d as i32)
        })
        .sum()
}

/// The scale from vectors to codes: the largest component maps to ±127.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Quantiser {
    scale: f32,
}

impl Quantiser {
    fn fit(flat: &[f32]) -> Self {
        let largest = flat.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        Self {
            scale: if largest > 0.0 {
                CODE_MAX / largest
            } else {
                1.0
            },
        }
    }

    /// A query beyond the gallery's range saturates, as it should: it is far
    /// from everyone along that component.
    fn code(&self, vector: &[f32]) -> Code {
        let mut code = [0i8; CODE_LEN];
        for (c, v) in code.iter_mut().zip(vector) {
            *c = (v * self.scale).round().clamp(-CODE_MAX, CODE_MAX) as i8;
        }
        Code(code)
    }

    fn codes(&self, flat: &[f32], dimension: usize) -> Vec<Code> {
        flat.chunks_exact(dimension).map(|v| self.code(v)).collect()
    }
}

/// The serde layout of `instant_distance::Hnsw<Code>` 0.6.1, field by field.
#[derive(Serialize, Deserialize)]
struct GraphLayout {
    ef_search: usize,
    points: Vec<Code>,
    zero: Vec<ZeroNode>,
    layers: Vec<Vec<[u32; M]>>,
}

#[derive(Serialize, Deserialize)]
struct ZeroNode(#[serde(with = "BigArray")] [u32; 2 * M]);

pub struct Index {
    graph: Hnsw<Code>,
    len: usize,
    breadth: usize,
    quantiser: Quantiser,
    dimension: usize,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Index {{ hnsw over {} codes of {} }}",
            self.len(),
            self.dimension
        )
    }
}

/// Gives every node at least one incoming link on layer 0 where the graph
/// left it without any.
///
/// With simple neighbour selection each node keeps its nearest 2·M
/// neighbours, and a node that is nobody's near neighbour (every neighbour
/// of it has 64 closer ones) can be reached by no search: about 1 % of the
/// nodes at 10^5 face-like vectors, a miss that no search breadth repairs.
/// Such a node is linked from its nearest neighbour that has a free slot, or
/// whose farthest link leads to a node with another incoming link.
fn link_orphans(layout: &mut GraphLayout) {
    let mut incoming = incoming_links(layout);
    for orphan in 0..layout.zero.len() {
        if incoming[orphan] > 0 {
            continue;
        }
        let neighbours = layout.zero[orphan].0;
        for &near in neighbours.iter().filter(|&&n| n != NO_NEIGHBOUR) {
            let links = &mut layout.zero[near as usize].0;
            let farthest = links[2 * M - 1];
            if farthest == NO_NEIGHBOUR || incoming[farthest as usize] > 1 {
                if farthest != NO_NEIGHBOUR {
                    incoming[farthest as usize] -= 1;
                }
                let slot = links
                    .iter()
                    .position(|&l| l == NO_NEIGHBOUR)
                    .unwrap_or(2 * M - 1);
                links[slot] = orphan as u32;
                incoming[orphan] += 1;
                break;
            }
        }
    }
}

/// How many layer-0 links lead to each node.
fn incoming_links(layout: &GraphLayout) -> Vec<u32> {
    let mut incoming = vec![0u32; layout.zero.len()];
    for node in &layout.zero {
        for &to in node.0.iter().filter(|&&to| to != NO_NEIGHBOUR) {
            incoming[to as usize] += 1;
        }
    }
    incoming
}

/// The graph's serde layout, through `postcard` (the crate exposes no other
/// way to read or change its links).
fn layout_of(graph: &Hnsw<Code>) -> GraphLayout {
    postcard::from_bytes(&postcard::to_stdvec(graph).expect("a graph serialises"))
        .expect("a graph reads back as its own layout")
}

fn graph_of(layout: &GraphLayout) -> Hnsw<Code> {
    postcard::from_bytes(&postcard::to_stdvec(layout).expect("a layout serialises"))
        .expect("a layout reads back as a graph")
}

thread_local! {
    /// Search state (its visited set has one byte per node: 1 MB at 10^6),
    /// reused across the queries of a thread rather than allocated per query.
    static SEARCH: RefCell<Search> = RefCell::new(Search::default());
}

impl Index {
    /// Whether vectors of this length can be indexed.
    pub fn fits(dimension: usize) -> bool {
        (1..=CODE_LEN).contains(&dimension)
    }

    /// Builds the graph over the row-major `flat` table. The graph orders
    /// its points itself: the second value maps each input row to its place
    /// in the graph, and the gallery keeps its rows in that order.
    pub fn build(flat: &[f32], dimension: usize, seed: u64) -> (Self, Vec<usize>) {
        assert!(
            Self::fits(dimension),
            "{dimension}-d vectors cannot be indexed"
        );
        let quantiser = Quantiser::fit(flat);
        let (graph, ids) = Builder::default()
            .ef_construction(EF_CONSTRUCTION)
            // The crate's neighbour-selection heuristic re-prunes every
            // neighbour list a new node joins: 10× slower builds (122 s vs 12 s
            // for 10^4 vectors here) for no recall gained on face vectors.
            .select_heuristic(None)
            .ef_search(EF_SEARCH)
            .seed(seed)
            .build_hnsw(quantiser.codes(flat, dimension));
        let order = ids.iter().map(|id| id.into_inner() as usize).collect();
        let mut layout = layout_of(&graph);
        drop(graph);
        link_orphans(&mut layout);
        let graph = graph_of(&layout);
        (
            Self {
                graph,
                len: flat.len() / dimension,
                breadth: EF_SEARCH,
                quantiser,
                dimension,
            },
            order,
        )
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows (graph positions) of the `EF_SEARCH` candidates found,
    /// nearest first by code distance: the caller re-ranks them exactly.
    pub fn search(&self, query: &[f32]) -> Vec<usize> {
        let code = self.quantiser.code(query);
        SEARCH.with_borrow_mut(|search| {
            self.graph
                .search(&code, search)
                .map(|item| item.pid.into_inner() as usize)
                .collect()
        })
    }

    /// Candidates a search keeps (`ef`): more finds the nearest more often
    /// and costs proportionally more time. Stored with the graph.
    pub fn search_breadth(&self) -> usize {
        self.breadth
    }

    pub fn set_search_breadth(&mut self, ef: usize) -> Result<()> {
        ensure!(ef >= 1, "a search must keep at least one candidate");
        // The crate sets `ef` only when building; its serde layout holds it.
        let mut layout = layout_of(&self.graph);
        layout.ef_search = ef;
        self.graph = graph_of(&layout);
        self.breadth = ef;
        Ok(())
    }

    /// The graph without its points (see the module note).
    pub fn graph_bytes(&self) -> Result<Vec<u8>> {
        let mut layout = layout_of(&self.graph);
        layout.points.clear();
        Ok(postcard::to_stdvec(&layout)?)
    }

    /// Rebuilds the index from [`Index::graph_bytes`] and the row-major
    /// vectors in graph order, checking that every link points at a node
    /// that exists.
    pub fn from_graph_bytes(bytes: &[u8], flat: &[f32], dimension: usize) -> Result<Self> {
        ensure!(
            Self::fits(dimension),
            "{dimension}-d vectors are never indexed"
        );
        let mut layout: GraphLayout =
            postcard::from_bytes(bytes).context("the index section is unreadable")?;
        ensure!(layout.points.is_empty(), "the index section holds points");
        let n = flat.len() / dimension;
        ensure!(
            layout.zero.len() == n && n < NO_NEIGHBOUR as usize,
            "the index has {} nodes for {n} vectors",
            layout.zero.len()
        );
        ensure!(layout.ef_search >= 1, "the index searches no candidates");
        let links_fit = |links: &[u32], nodes: usize| {
            links
                .iter()
                .all(|&id| id == NO_NEIGHBOUR || (id as usize) < nodes)
        };
        ensure!(
            layout.zero.iter().all(|node| links_fit(&node.0, n)),
            "an index link points past the vectors"
        );
        // Search enters at node 0 of the top layer and carries what it finds
        // down, so layers shrink upwards and each holds node 0.
        let mut below = n;
        for layer in &layout.layers {
            ensure!(
                !layer.is_empty() && layer.len() <= below,
                "the index layers do not nest"
            );
            ensure!(
                layer.iter().all(|node| links_fit(node, layer.len())),
                "an index link points past its layer"
            );
            below = layer.len();
        }
        let quantiser = Quantiser::fit(flat);
        let breadth = layout.ef_search;
        layout.points = quantiser.codes(flat, dimension);
        let graph = graph_of(&layout);
        Ok(Self {
            graph,
            len: n,
            breadth,
            quantiser,
            dimension,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gallery::squared_distance;
    use rand::{Rng, SeedableRng};

    fn random_flat(n: usize, d: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n * d).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    fn exact_nearest(flat: &[f32], d: usize, query: &[f32]) -> usize {
        let rows: Vec<&[f32]> = flat.chunks_exact(d).collect();
        (0..rows.len())
            .min_by(|&a, &b| {
                squared_distance(rows[a], query).total_cmp(&squared_distance(rows[b], query))
            })
            .unwrap()
    }

    #[test]
    fn codes_keep_distances_and_saturate_outside_the_range() {
        let flat = [0.5, -0.25, 0.0, 1.0];
        let q = Quantiser::fit(&flat);
        let (a, b) = (q.code(&flat[..2]), q.code(&flat[2..]));
        assert_eq!(&a.0[..3], &[64, -32, 0]);
        assert_eq!(&b.0[..2], &[0, 127]);
        // (0.5² + 1.25²) · 127² in code units, up to rounding.
        let exact = squared_distance(&flat[..2], &flat[2..]) * q.scale * q.scale;
        assert!((a.distance(&b) - exact).abs() / exact < 0.01);
        assert_eq!(q.code(&[-9.0, 9.0]).0[..2], [-127, 127]);
        let (lo, hi) = (Code([-127; CODE_LEN]), Code([127; CODE_LEN]));
        assert_eq!(code_distance(&lo.0, &hi.0), 254 * 254 * CODE_LEN as i32);
        assert_eq!(
            code_distance_portable(&a.0, &b.0),
            code_distance(&a.0, &b.0)
        );
    }

    #[test]
    fn finds_the_exact_nearest_among_its_candidates_and_keeps_every_row() {
        let d = 16;
        let flat = random_flat(2000, d, 1);
        let (index, order) = Index::build(&flat, d, 7);
        assert_eq!(index.len(), 2000);
        let mut seen = order.clone();
        seen.sort_unstable();
        assert!(seen.iter().enumerate().all(|(i, &at)| i == at));
        let queries = random_flat(100, d, 2);
        let hits = queries
            .chunks_exact(d)
            .filter(|q| {
                let found = index.search(q);
                found.contains(&order[exact_nearest(&flat, d, q)])
            })
            .count();
        assert!(
            hits >= 98,
            "the nearest row is a candidate for {hits}/100 queries"
        );
    }

    #[test]
    fn a_node_without_incoming_links_gets_one_and_nobody_loses_their_last() {
        // Node i < 69 links to the next 64 nodes round a ring of 69, so each
        // of them has 64 incoming links; node 69 links to nodes 0..64 and
        // nobody links to it.
        let ring = 69;
        let zero = (0..=ring)
            .map(|i| {
                let links: Vec<u32> = (1..=2 * M as u32)
                    .map(|k| if i == ring { k - 1 } else { (i + k) % ring })
                    .collect();
                ZeroNode(links.try_into().unwrap())
            })
            .collect();
        let mut layout = GraphLayout {
            ef_search: 10,
            points: Vec::new(),
            zero,
            layers: Vec::new(),
        };
        assert_eq!(incoming_links(&layout)[69], 0);
        assert!(incoming_links(&layout)[..69].iter().all(|&k| k >= 64));
        link_orphans(&mut layout);
        let incoming = incoming_links(&layout);
        assert!(incoming.iter().all(|&k| k > 0), "{incoming:?}");
        // It replaced the farthest link of its nearest neighbour, node 0.
        assert_eq!(layout.zero[0].0[2 * M - 1], 69);
    }

    #[test]
    fn graph_round_trips_and_crafted_links_are_refused() {
        let d = 8;
        let flat = random_flat(300, d, 3);
        let (index, order) = Index::build(&flat, d, 5);
        let mut in_graph_order = vec![0.0; flat.len()];
        for (i, &at) in order.iter().enumerate() {
            in_graph_order[at * d..(at + 1) * d].copy_from_slice(&flat[i * d..(i + 1) * d]);
        }
        let bytes = index.graph_bytes().unwrap();
        let again = Index::from_graph_bytes(&bytes, &in_graph_order, d).unwrap();
        let query = [0.1f32; 8];
        assert_eq!(again.search(&query), index.search(&query));
        assert_eq!(again.search(&query).len(), EF_SEARCH);
        let mut narrow = again;
        narrow.set_search_breadth(10).unwrap();
        // A narrower search returns fewer candidates, all real rows. (Which
        // nearest it finds can differ: the graph is built in parallel and a
        // breadth of 10 need not reach the same node; recall is tested above.)
        let found = narrow.search(&query);
        assert_eq!(found.len(), 10);
        assert!(found.iter().all(|&row| row < 300), "{found:?}");
        let narrow_bytes = narrow.graph_bytes().unwrap();
        let again = Index::from_graph_bytes(&narrow_bytes, &in_graph_order, d).unwrap();
        assert_eq!(again.search_breadth(), 10);

        // Too few vectors for the graph.
        assert!(Index::from_graph_bytes(&bytes, &in_graph_order[..299 * d], d).is_err());
        // Vectors too long for codes.
        assert!(Index::from_graph_bytes(&bytes, &in_graph_order, CODE_LEN + 1).is_err());
        // A link to a node that does not exist.
        let mut layout: GraphLayout = postcard::from_bytes(&bytes).unwrap();
        layout.zero[5].0[0] = 300;
        let crafted = postcard::to_stdvec(&layout).unwrap();
        let err = Index::from_graph_bytes(&crafted, &in_graph_order, d).unwrap_err();
        assert!(err.to_string().contains("past the vectors"), "{err}");
        // Truncated bytes.
        assert!(Index::from_graph_bytes(&bytes[..bytes.len() / 2], &in_graph_order, d).is_err());
    }
}
