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

/// The smallest encodings: an int is a control byte and at least one byte; a
/// float is two ints.
const MIN_INT: usize = 2;
const MIN_FLOAT: usize = 2 * MIN_INT;

/// Reads a whole `shape_predictor` file.
pub fn read(bytes: &[u8]) -> Result<ShapePredictorData, DlibError> {
    let mut r = Counted {
        r: Reader::new(bytes),
        len: bytes.len(),
    };
    r.r.expect_version(&[1], "shape_predictor")?;
    let initial_shape = r.float_column()?;
    if initial_shape.is_empty() || initial_shape.len() % 2 != 0 {
        return Err(r.r.unexpected(format!(
            "an initial shape of {} numbers (needs an even count)",
            initial_shape.len()
        )));
    }

    let levels = r.count("the cascade levels", MIN_INT)?;
    let mut forests = Vec::with_capacity(levels);
    for _ in 0..levels {
        let trees = r.count("the trees of a level", 2 * MIN_INT)?;
        let mut forest = Vec::with_capacity(trees);
        for _ in 0..trees {
            forest.push(r.tree(initial_shape.len())?);
        }
        forests.push(forest);
    }

    let parts = initial_shape.len() / 2;
    let anchor_idx = r.levels("the anchors of a level", MIN_INT, |r| match r.index()? {
        i if (i as usize) < parts => Ok(i),
        i => Err(r
            .r
            .unexpected(format!("anchor {i} for a shape of {parts} parts"))),
    })?;
    let deltas = r.levels("the deltas of a level", 2 * MIN_FLOAT, |r| {
        Ok([r.float()?, r.float()?])
    })?;
    if !r.r.at_end() {
        return Err(r.r.unexpected("bytes after the shape predictor"));
    }

    if anchor_idx.len() != levels || deltas.len() != levels {
        return Err(r.r.unexpected(format!(
            "{levels} cascade levels but feature pixels for {} (anchors) and {} (deltas)",
            anchor_idx.len(),
            deltas.len()
        )));
    }
    for (level, forest) in forests.iter().enumerate() {
        let pixels = deltas[level].len();
        if anchor_idx[level].len() != pixels {
            return Err(r.r.unexpected(format!(
                "level {level} has {} anchors and {pixels} deltas",
                anchor_idx[level].len()
            )));
        }
        let outside = forest
            .iter()
            .flat_map(|t| &t.splits)
            .find(|s| s.idx1 as usize >= pixels || s.idx2 as usize >= pixels);
        if let Some(s) = outside {
            return Err(r.r.unexpected(format!(
                "level {level} splits on pixels {} and {} of {pixels}",
                s.idx1, s.idx2
            )));
        }
    }
    Ok(ShapePredictorData {
        initial_shape,
        forests,
        anchor_idx,
        deltas,
    })
}

/// A reader that checks every count against the bytes left.
struct Counted<'a> {
    r: Reader<'a>,
    len: usize,
}

impl Counted<'_> {
    /// A count of elements that take at least `each` bytes apiece.
    fn count(&mut self, what: &'static str, each: usize) -> Result<usize, DlibError> {
        let at = self.r.position();
        let n = self.r.count(what)?;
        self.fits(n, each, at, what)
    }

    fn fits(
        &self,
        n: usize,
        each: usize,
        at: usize,
        what: &'static str,
    ) -> Result<usize, DlibError> {
        let left = self.len - self.r.position();
        match n.checked_mul(each) {
            Some(need) if need <= left => Ok(n),
            _ => Err(DlibError::Truncated { at, what }),
        }
    }

    /// A `std::vector` (one per cascade level) of `std::vector`s of items.
    fn levels<T>(
        &mut self,
        what: &'static str,
        each: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, DlibError>,
    ) -> Result<Vec<Vec<T>>, DlibError> {
        let levels = self.count("the cascade levels", MIN_INT)?;
        (0..levels)
            .map(|_| {
                let n = self.count(what, each)?;
                (0..n).map(|_| item(self)).collect()
            })
            .collect()
    }

    /// A `regression_tree` whose leaves are shape updates of `shape_len` numbers.
    fn tree(&mut self, shape_len: usize) -> Result<RegressionTree, DlibError> {
        let n = self.count("the splits of a tree", 2 * MIN_INT + MIN_FLOAT)?;
        let splits = (0..n)
            .map(|_| {
                Ok(Split {
                    idx1: self.index()?,
                    idx2: self.index()?,
                    thresh: self.float()?,
                })
            })
            .collect::<Result<Vec<_>, DlibError>>()?;
        let leaves = self.count("the leaves of a tree", 2 * MIN_INT)?;
        if leaves != splits.len() + 1 {
            return Err(self.r.unexpected(format!(
                "a tree with {} splits and {leaves} leaves",
                splits.len()
            )));
        }
        let leaves = (0..leaves)
            .map(|_| {
                let leaf = self.float_column()?;
                if leaf.len() != shape_len {
                    return Err(self.r.unexpected(format!(
                        "a leaf of {} numbers for a shape of {shape_len}",
                        leaf.len()
                    )));
                }
                Ok(leaf)
            })
            .collect::<Result<Vec<_>, DlibError>>()?;
        Ok(RegressionTree { splits, leaves })
    }

    /// A `matrix<float,0,1>`: rows and columns (negated by newer dlib), then the values.
    fn float_column(&mut self) -> Result<Vec<f32>, DlibError> {
        let at = self.r.position();
        let rows = self.r.int()?.unsigned_abs();
        let cols = self.r.int()?.unsigned_abs();
        if cols != 1 {
            return Err(DlibError::Unexpected {
                at,
                problem: format!("a {rows}×{cols} matrix where a column was expected"),
            });
        }
        let rows = usize::try_from(rows).map_err(|_| DlibError::Truncated {
            at,
            what: "a matrix",
        })?;
        let rows = self.fits(rows, MIN_FLOAT, at, "a matrix")?;
        (0..rows).map(|_| self.float()).collect()
    }

    /// A `float`: finite and within f32 range.
    fn float(&mut self) -> Result<f32, DlibError> {
        let at = self.r.position();
        let value = self.r.float()?;
        if value.is_finite() && value.abs() <= f32::MAX as f64 {
            Ok(value as f32)
        } else {
            Err(DlibError::Unexpected {
                at,
                problem: format!("the number {value} in a shape predictor"),
            })
        }
    }

    /// An `unsigned long` index that fits in u32.
    fn index(&mut self) -> Result<u32, DlibError> {
        let at = self.r.position();
        let value = self.r.int()?;
        u32::try_from(value).map_err(|_| DlibError::Unexpected {
            at,
            problem: format!("index {value}"),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// dlib's `pack_int`.
    fn int(out: &mut Vec<u8>, v: i64) {
        let magnitude = v.unsigned_abs().to_le_bytes();
        let len = magnitude.iter().rposition(|&b| b != 0).map_or(1, |i| i + 1);
        out.push(len as u8 | if v < 0 { 0x80 } else { 0 });
        out.extend_from_slice(&magnitude[..len]);
    }

    /// A float as dlib's `float_details`: integer mantissa, then exponent.
    fn float(out: &mut Vec<u8>, v: f32) {
        let (biased, fraction) = ((v.to_bits() >> 23) & 0xff, (v.to_bits() & 0x7f_ffff) as i64);
        let (mantissa, exponent) = if biased == 0 {
            (fraction, -149)
        } else {
            (fraction | 0x80_0000, biased as i64 - 150)
        };
        int(out, if v < 0.0 { -mantissa } else { mantissa });
        int(out, exponent);
    }

    fn column(out: &mut Vec<u8>, values: &[f32]) {
        int(out, -(values.len() as i64));
        int(out, -1);
        values.iter().for_each(|&v| float(out, v));
    }

    /// `data` in dlib's `shape_predictor` format (`serialize`).
    pub(crate) fn write(data: &ShapePredictorData) -> Vec<u8> {
        let mut out = Vec::new();
        int(&mut out, 1);
        column(&mut out, &data.initial_shape);
        int(&mut out, data.forests.len() as i64);
        for forest in &data.forests {
            int(&mut out, forest.len() as i64);
            for t in forest {
                int(&mut out, t.splits.len() as i64);
                for s in &t.splits {
                    int(&mut out, s.idx1 as i64);
                    int(&mut out, s.idx2 as i64);
                    float(&mut out, s.thresh);
                }
                int(&mut out, t.leaves.len() as i64);
                t.leaves.iter().for_each(|l| column(&mut out, l));
            }
        }
        int(&mut out, data.anchor_idx.len() as i64);
        for level in &data.anchor_idx {
            int(&mut out, level.len() as i64);
            level.iter().for_each(|&a| int(&mut out, a as i64));
        }
        int(&mut out, data.deltas.len() as i64);
        for level in &data.deltas {
            int(&mut out, level.len() as i64);
            for d in level {
                float(&mut out, d[0]);
                float(&mut out, d[1]);
            }
        }
        out
    }

    /// A one-level, five-part predictor: two depth-1 trees over three feature
    /// pixels (at part 0, at part 4, and one unit left of part 0). Tree 0
    /// moves every x by +0.1 when grey(pixel 0) − grey(pixel 1) > 10, else by
    /// −0.1; tree 1 moves every y by +0.05 when grey(pixel 2) − grey(pixel 1)
    /// > −5, else by −0.05.
    pub(crate) fn example() -> ShapePredictorData {
        let shift = |dx: f32, dy: f32| {
            (0..10)
                .map(|i| if i % 2 == 0 { dx } else { dy })
                .collect::<Vec<f32>>()
        };
        let tree = |idx1, thresh, left: Vec<f32>, right: Vec<f32>| RegressionTree {
            splits: vec![Split {
                idx1,
                idx2: 1,
                thresh,
            }],
            leaves: vec![left, right],
        };
        ShapePredictorData {
            initial_shape: vec![0.2, 0.2, 0.4, 0.2, 0.6, 0.2, 0.8, 0.2, 0.5, 0.6],
            forests: vec![vec![
                tree(0, 10.0, shift(0.1, 0.0), shift(-0.1, 0.0)),
                tree(2, -5.0, shift(0.0, 0.05), shift(0.0, -0.05)),
            ]],
            anchor_idx: vec![vec![0, 4, 0]],
            deltas: vec![vec![[0.0, 0.0], [0.0, 0.0], [-1.0, 0.0]]],
        }
    }

    #[test]
    fn reads_what_dlib_writes() {
        let data = example();
        assert_eq!(read(&write(&data)).unwrap(), data);
        assert_eq!(data.parts(), 5);
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let bytes = write(&example());
        for cut in 0..bytes.len() {
            assert!(read(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(read(&longer).is_err());
        for i in 0..bytes.len() {
            for flip in [0x01, 0x0f, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[i] ^= flip;
                let _ = read(&damaged);
            }
        }
        // A shape of 2^62 floats in a file of a few bytes.
        let mut huge = Vec::new();
        int(&mut huge, 1);
        int(&mut huge, -(1 << 62));
        int(&mut huge, -1);
        assert!(matches!(read(&huge), Err(DlibError::Truncated { .. })));
    }

    #[test]
    fn parts_that_do_not_fit_together_are_errors() {
        type Damage = fn(&mut ShapePredictorData);
        let damages: [(Damage, &str); 6] = [
            (|d| d.initial_shape.truncate(9), "even count"),
            (
                |d| d.forests[0][0].leaves[1].truncate(9),
                "a leaf of 9 numbers",
            ),
            (
                |d| d.forests[0][1].leaves.push(vec![0.0; 10]),
                "1 splits and 3 leaves",
            ),
            (
                |d| d.forests[0][0].splits[0].idx1 = 3,
                "splits on pixels 3 and 1 of 3",
            ),
            (|d| d.anchor_idx[0][1] = 5, "anchor 5"),
            (|d| d.deltas[0].truncate(2), "3 anchors and 2 deltas"),
        ];
        for (damage, expected) in damages {
            let mut data = example();
            damage(&mut data);
            let err = read(&write(&data)).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
