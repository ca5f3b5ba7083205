//! The approximate nearest-neighbour index of a large gallery: an HNSW graph
//! (Malkov & Yashunin) from the `instant-distance` crate.
//!
//! Exact search costs one distance per enrolled vector (≈100 ms per query at
//! 10^6 vectors); HNSW visits a few thousand. `bench/faces_index.rs`
//! measures its recall@1 against exact search and its latency at 10^4, 10^5
//! and 10^6 vectors.
//!
//! Storage: the graph holds its points (the vectors), and the gallery file
//! already stores every vector in its `vectors` section, so the `index`
//! section keeps the graph only: the crate's serde layout
//! ([`GraphLayout`], written with `postcard`) with an empty point list. At
//! load the vectors are put back and every neighbour id is checked, because
//! the crate indexes with them unchecked and a crafted file must not panic.
//! The crate version is pinned (`=0.6.1`) since this mirrors its layout; the
//! round-trip tests fail if it changes.

use anyhow::{ensure, Context, Result};
use instant_distance::{Builder, Hnsw, Point, PointId, Search};
use serde::{Deserialize, Serialize};
use serde_big_array::BigArray;

use super::squared_distance;

/// Links per node above layer 0 (`M` in the paper; fixed by the crate).
const M: usize = 32;
const NO_NEIGHBOUR: u32 = u32::MAX;

/// Candidates kept while inserting (`efConstruction`).
pub const EF_CONSTRUCTION: usize = 64;
/// Candidates kept while searching (`ef`): the recall/latency trade-off that
/// the benchmark measures.
pub const EF_SEARCH: usize = 200;

/// One vector as a point of the graph; distances are squared (the graph only
/// compares them, and the square root would cost time at every step).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row(pub Vec<f32>);

impl Point for Row {
    fn distance(&self, other: &Self) -> f32 {
        squared_distance(&self.0, &other.0)
    }
}

/// The serde layout of `instant_distance::Hnsw<Row>` 0.6.1, field by field.
#[derive(Serialize, Deserialize)]
struct GraphLayout {
    ef_search: usize,
    points: Vec<Row>,
    zero: Vec<ZeroNode>,
    layers: Vec<Vec<[u32; M]>>,
}

#[derive(Serialize, Deserialize)]
struct ZeroNode(#[serde(with = "BigArray")] [u32; 2 * M]);

pub struct Index {
    graph: Hnsw<Row>,
    len: usize,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Index {{ hnsw over {} rows }}", self.len)
    }
}

/// A neighbour found by the index: a gallery row and its squared distance.
pub struct Neighbour {
    pub row: usize,
    pub squared_distance: f32,
}

impl Index {
    /// Builds the graph over `rows`. The graph orders its points itself:
    /// the second value maps each input row to its place in the graph, and
    /// [`Index::row`] reads them back in that order.
    pub fn build(rows: Vec<Row>, seed: u64) -> (Self, Vec<usize>) {
        let len = rows.len();
        let (graph, ids) = Builder::default()
            .ef_construction(EF_CONSTRUCTION)
            // The crate's neighbour-selection heuristic re-prunes every
            // neighbour list a new node joins: 10× slower builds (122 s vs 12 s
            // for 10^4 vectors here) for no recall gained on face vectors.
            .select_heuristic(None)
            .ef_search(EF_SEARCH)
            .seed(seed)
            .build_hnsw(rows);
        let order = ids.iter().map(|id| id.into_inner() as usize).collect();
        (Self { graph, len }, order)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The vector at graph position `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.graph[PointId::from(i as u32)].0
    }

    /// The `EF_SEARCH` nearest rows found, nearest first.
    pub fn search(&self, query: &[f32]) -> Vec<Neighbour> {
        let mut search = Search::default();
        self.graph
            .search(&Row(query.to_vec()), &mut search)
            .map(|item| Neighbour {
                row: item.pid.into_inner() as usize,
                squared_distance: item.distance,
            })
            .collect()
    }

    /// Every vector, in graph order (the gallery's row order).
    pub fn into_rows(self) -> Vec<Row> {
        self.graph.iter().map(|(_, row)| row.clone()).collect()
    }

    /// The graph without its points (see the module note).
    pub fn graph_bytes(&self) -> Result<Vec<u8>> {
        let mut layout: GraphLayout = postcard::from_bytes(&postcard::to_stdvec(&self.graph)?)?;
        layout.points.clear();
        Ok(postcard::to_stdvec(&layout)?)
    }

    /// Rebuilds the index from [`Index::graph_bytes`] and the rows in graph
    /// order, checking that every link points at a node that exists.
    pub fn from_graph_bytes(bytes: &[u8], rows: Vec<Row>) -> Result<Self> {
        let mut layout: GraphLayout =
            postcard::from_bytes(bytes).context("the index section is unreadable")?;
        ensure!(layout.points.is_empty(), "the index section holds points");
        let n = rows.len();
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
        layout.points = rows;
        let graph = postcard::from_bytes(&postcard::to_stdvec(&layout)?)?;
        Ok(Self { graph, len: n })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_rows(n: usize, d: usize, seed: u64) -> Vec<Row> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| Row((0..d).map(|_| rng.gen_range(-1.0..1.0)).collect()))
            .collect()
    }

    fn exact_nearest(rows: &[Row], query: &[f32]) -> usize {
        (0..rows.len())
            .min_by(|&a, &b| {
                squared_distance(&rows[a].0, query).total_cmp(&squared_distance(&rows[b].0, query))
            })
            .unwrap()
    }

    #[test]
    fn finds_the_exact_nearest_on_a_small_set_and_keeps_every_row() {
        let rows = random_rows(2000, 16, 1);
        let (index, order) = Index::build(rows.clone(), 7);
        for (input, &at) in order.iter().enumerate() {
            assert_eq!(index.row(at), rows[input].0.as_slice());
        }
        let queries = random_rows(100, 16, 2);
        let hits = queries
            .iter()
            .filter(|q| {
                let found = index.search(&q.0);
                order[exact_nearest(&rows, &q.0)] == found[0].row
            })
            .count();
        assert!(hits >= 97, "recall@1 {hits}/100 on 2000 points");
    }

    #[test]
    fn graph_round_trips_and_crafted_links_are_refused() {
        let rows = random_rows(300, 8, 3);
        let (index, _) = Index::build(rows, 5);
        let bytes = index.graph_bytes().unwrap();
        let again = Index::from_graph_bytes(&bytes, index.into_rows()).unwrap();
        let query = [0.1f32; 8];
        let q = again.search(&query);
        assert_eq!(q.len(), EF_SEARCH);
        assert!(q
            .windows(2)
            .all(|w| w[0].squared_distance <= w[1].squared_distance));

        let rows = again.into_rows();
        // Too few vectors for the graph.
        assert!(Index::from_graph_bytes(&bytes, rows[..299].to_vec()).is_err());
        // A link to a node that does not exist.
        let mut layout: GraphLayout = postcard::from_bytes(&bytes).unwrap();
        layout.zero[5].0[0] = 300;
        let crafted = postcard::to_stdvec(&layout).unwrap();
        let err = Index::from_graph_bytes(&crafted, rows.clone()).unwrap_err();
        assert!(err.to_string().contains("past the vectors"), "{err}");
        // Truncated bytes.
        assert!(Index::from_graph_bytes(&bytes[..bytes.len() / 2], rows).is_err());
    }
}
