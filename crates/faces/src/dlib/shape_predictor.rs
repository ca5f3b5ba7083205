//! Reading dlib's `shape_predictor` (regression-tree cascade) files
//! (`dlib/image_processing/shape_predictor.h`, `serialize`/`deserialize`).
//!
//! The file is, in dlib's primitive encoding (see the parent module):
//!
//! ```text
//! version                         int, 1
//! initial_shape                   matrix<float,0,1>: -rows, -1, then the floats
//! forests                         vector (cascade levels) of vector (trees) of
//!   regression_tree                 splits: vector of split_feature {idx1, idx2: int; thresh: float}
//!                                   leaf_values: vector of matrix<float,0,1>
//! anchor_idx                      vector (levels) of vector of int
//! deltas                          vector (levels) of vector of vector<float,2> {x, y}
//! ```
//!
//! A shape is `(x0, y0, x1, y1, …)` in the face box's unit square. Every
//! count is checked against the bytes left before anything is allocated, and
//! the parts are checked against each other (leaf sizes against the shape,
//! split indices against the level's feature pixels, anchors against the
//! parts), so a loaded predictor can run without further checks.

use super::{DlibError, Reader};

/// One split of a regression tree (dlib's `impl::split_feature`): go to the
/// left child when `pixel[idx1] − pixel[idx2] > thresh`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    pub idx1: u32,
    pub idx2: u32,
    pub thresh: f32,
}

/// dlib's `impl::regression_tree`: a complete binary tree stored breadth
/// first (node i has children 2i+1 and 2i+2); `leaves.len() == splits.len() + 1`
/// and each leaf is a shape update as long as the initial shape.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionTree {
    pub splits: Vec<Split>,
    pub leaves: Vec<Vec<f32>>,
}

/// Everything in a `shape_predictor` file.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapePredictorData {
    /// The mean shape the cascade starts from, `(x0, y0, x1, y1, …)`.
    pub initial_shape: Vec<f32>,
    /// Per cascade level, its trees.
    pub forests: Vec<Vec<RegressionTree>>,
    /// Per cascade level, per feature pixel: the part it is anchored to.
    pub anchor_idx: Vec<Vec<u32>>,
    /// Per cascade level, per feature pixel: its offset from the anchor part
    /// in the initial shape's coordinates.
    pub deltas: Vec<Vec<[f32; 2]>>,
}

impl ShapePredictorData {
    /// Number of landmarks.
    pub fn parts(&self) -> usize {
        self.initial_shape.len() / 2
    }
}

/// The smallest encodings: an int is a control byte and one or more bytes; a
/// float is two ints.
const MIN_INT: usize = 2;
const MIN_FLOAT: usize = 2 * MIN_INT;

/// Reads a whole `shape_predictor` file.
pub fn read(bytes: &[u8]) -> Result<ShapePredictorData, DlibError> {
    let mut r = Reader::new(bytes);
    let left = |r: &Reader| bytes.len() - r.position();
    // A count whose elements take at least `each` bytes must fit in what is left.
    let count = |r: &mut Reader, what: &'static str, each: usize| -> Result<usize, DlibError> {
        let start = r.position();
        let n = r.count(what)?;
        if n.checked_mul(each).is_none_or(|need| need > left(r)) {
            return Err(DlibError::Truncated { at: start, what });
        }
        Ok(n)
    };

    r.expect_version(&[1], "shape_predictor")?;
    let initial_shape = float_column(&mut r, &count)?;
    if initial_shape.is_empty() || initial_shape.len() % 2 != 0 {
        return Err(r.unexpected(format!("an initial shape of {} numbers (needs an even count)", initial_shape.len())));
    }

    let levels = count(&mut r, "the cascade levels", MIN_INT)?;
    let mut forests = Vec::with_capacity(levels);
    for _ in 0..levels {
        let trees = count(&mut r, "the trees of a level", 2 * MIN_INT)?;
        let mut forest = Vec::with_capacity(trees);
        for _ in 0..trees {
            let splits = count(&mut r, "the splits of a tree", 2 * MIN_INT + MIN_FLOAT)?;
            let splits = (0..splits)
                .map(|_| Ok(Split { idx1: index(&mut r)?, idx2: index(&mut r)?, thresh: float(&mut r)? }))
                .collect::<Result<Vec<_>, DlibError>>()?;
            let leaves = count(&mut r, "the leaves of a tree", 2 * MIN_INT)?;
            if leaves != splits.len() + 1 {
                return Err(r.unexpected(format!("a tree with {} splits and {leaves} leaves", splits.len())));
            }
            let leaves = (0..leaves)
                .map(|_| {
                    let leaf = float_column(&mut r, &count)?;
                    if leaf.len() != initial_shape.len() {
                        return Err(r.unexpected(format!("a leaf of {} numbers for a shape of {}", leaf.len(), initial_shape.len())));
                    }
                    Ok(leaf)
                })
                .collect::<Result<Vec<_>, DlibError>>()?;
            forest.push(RegressionTree { splits, leaves });
        }
        forests.push(forest);
    }

    let parts = initial_shape.len() / 2;
    let anchor_levels = count(&mut r, "the anchor levels", MIN_INT)?;
    let anchor_idx = (0..anchor_levels)
        .map(|_| {
            let n = count(&mut r, "the anchors of a level", MIN_INT)?;
            (0..n)
                .map(|_| match index(&mut r)? {
                    i if (i as usize) < parts => Ok(i),
                    i => Err(r.unexpected(format!("anchor {i} for a shape of {parts} parts"))),
                })
                .collect::<Result<Vec<_>, DlibError>>()
        })
        .collect::<Result<Vec<_>, DlibError>>()?;
    let delta_levels = count(&mut r, "the delta levels", MIN_INT)?;
    let deltas = (0..delta_levels)
        .map(|_| {
            let n = count(&mut r, "the deltas of a level", 2 * MIN_FLOAT)?;
            (0..n).map(|_| Ok([float(&mut r)?, float(&mut r)?])).collect::<Result<Vec<_>, DlibError>>()
        })
        .collect::<Result<Vec<_>, DlibError>>()?;
    if !r.at_end() {
        return Err(r.unexpected("bytes after the shape predictor"));
    }

    if anchor_idx.len() != levels || deltas.len() != levels {
        return Err(r.unexpected(format!(
            "{levels} cascade levels but feature pixels for {} (anchors) and {} (deltas)",
            anchor_idx.len(),
            deltas.len()
        )));
    }
    for (level, forest) in forests.iter().enumerate() {
        let pixels = deltas[level].len();
        if anchor_idx[level].len() != pixels {
            return Err(r.unexpected(format!("level {level} has {} anchors and {pixels} deltas", anchor_idx[level].len())));
        }
        let outside = forest.iter().flat_map(|t| &t.splits).find(|s| s.idx1 as usize >= pixels || s.idx2 as usize >= pixels);
        if let Some(s) = outside {
            return Err(r.unexpected(format!("level {level} splits on pixels {} and {} of {pixels}", s.idx1, s.idx2)));
        }
    }
    Ok(ShapePredictorData { initial_shape, forests, anchor_idx, deltas })
}

/// A `matrix<float,0,1>` (rows, columns stored negated by newer dlib).
fn float_column(
    r: &mut Reader,
    count: &impl Fn(&mut Reader, &'static str, usize) -> Result<usize, DlibError>,
) -> Result<Vec<f32>, DlibError> {
    let rows = r.int()?.unsigned_abs();
    let cols = r.int()?.unsigned_abs();
    if cols != 1 {
        return Err(r.unexpected(format!("a column vector with {cols} columns")));
    }
    // `rows` was read already; check it the same way as any count.
    let mut rows_bytes = Vec::new();
    let _ = &mut rows_bytes;
    let rows = usize::try_from(rows).map_err(|_| r.unexpected("a matrix too large"))?;
    if rows.checked_mul(MIN_FLOAT).is_none_or(|need| need > r.remaining_hint()) {
        return Err(DlibError::Truncated { at: r.position(), what: "a matrix" });
    }
    let _ = count;
    (0..rows).map(|_| float(r)).collect()
}

/// A float that must be finite and within f32 range (dlib stores `float`s).
fn float(r: &mut Reader) -> Result<f32, DlibError> {
    let start = r.position();
    let value = r.float()?;
    if value.is_finite() && value.abs() <= f32::MAX as f64 {
        Ok(value as f32)
    } else {
        Err(DlibError::Unexpected { at: start, problem: format!("the number {value} in a shape predictor") })
    }
}

/// An `unsigned long` index that fits in u32.
fn index(r: &mut Reader) -> Result<u32, DlibError> {
    let start = r.position();
    let value = r.int()?;
    u32::try_from(value).map_err(|_| DlibError::Unexpected { at: start, problem: format!("index {value}") })
}
