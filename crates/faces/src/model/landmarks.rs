//! The 5-point landmark predictor: dlib's regression-tree cascade
//! (`shape_predictor::operator()`, `dlib/image_processing/shape_predictor.h`;
//! Kazemi and Sullivan, "One Millisecond Face Alignment with an Ensemble of
//! Regression Trees", 2014).
//!
//! The shape starts as the mean face in the face box's unit square. Each
//! cascade level reads a few hundred grey pixels at positions anchored to
//! the current shape's parts, lets every tree of the level pick a leaf by
//! comparing pixel pairs, and adds the leaves to the shape. The parts are
//! the outer and inner corner of the eye on the image's right, the same for
//! the eye on the image's left, and the bottom of the nose.
//!
//! [`LandmarkPredictor`] reproduces dlib's points exactly (integers, as the
//! Python binding returns them) for an RGB image: a pixel's grey is
//! (r + g + b) / 3 in integer arithmetic, pixels outside the image read 0,
//! and shape coordinates are f32 where dlib's are `float`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use casebook_core::model_file::{ModelFile, SavedModel};
use image::RgbImage;
use serde::{Deserialize, Serialize};

pub use crate::align::Point;
use crate::align::{find_affine_transform, find_similarity_transform, Affine, V};
use crate::dlib::shape_predictor::{self, RegressionTree, ShapePredictorData, Split};
pub use crate::geometry::Rect;

/// The task name written into landmark model files.
pub const TASK: &str = "face-landmarks";

/// The section holding the cascade's numbers (layout in [`CascadeShape`]).
pub const CASCADE: &str = "cascade";

/// Landmarks per face.
pub const PARTS: usize = 5;

/// The sizes of a cascade, as dlib's trainer makes them: every level has
/// the same number of trees and feature pixels, every tree the same depth.
/// It is the model file's `architecture`; the `cascade` section then holds,
/// all little-endian:
///
/// ```text
/// initial shape        f32 × 2·parts            (x0, y0, x1, y1, …)
/// per level:
///   anchors            u32 × feature_pixels     the part each pixel follows
///   deltas             f32 × 2·feature_pixels   (dx, dy) from that part
///   per tree:
///     splits           (u32 idx1, u32 idx2, f32 thresh) × (2^depth − 1), breadth first
///     leaves           f32 × 2^depth · 2·parts  shape updates
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CascadeShape {
    pub parts: usize,
    pub levels: usize,
    pub trees_per_level: usize,
    pub tree_depth: u32,
    pub feature_pixels: usize,
}

impl CascadeShape {
    /// Bytes of the `cascade` section, or None when the sizes overflow.
    fn section_len(&self) -> Option<usize> {
        let leaves = 1usize
            .checked_shl(self.tree_depth)
            .filter(|_| self.tree_depth < usize::BITS)?;
        let shape = self.parts.checked_mul(2)?;
        let tree = (leaves - 1)
            .checked_mul(3)?
            .checked_add(leaves.checked_mul(shape)?)?;
        let level = self
            .feature_pixels
            .checked_mul(3)?
            .checked_add(self.trees_per_level.checked_mul(tree)?)?;
        shape
            .checked_add(self.levels.checked_mul(level)?)?
            .checked_mul(4)
    }
}

/// dlib's 5-point `shape_predictor`, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct LandmarkPredictor {
    data: ShapePredictorData,
    shape: CascadeShape,
}

impl LandmarkPredictor {
    /// A predictor from the bytes of a dlib `shape_predictor` file with five parts.
    pub fn from_dlib(bytes: &[u8]) -> Result<Self> {
        let data =
            shape_predictor::read(bytes).context("not a readable dlib shape_predictor file")?;
        let shape = uniform_shape(&data)?;
        Ok(Self { data, shape })
    }

    /// The sizes of the cascade.
    pub fn shape(&self) -> CascadeShape {
        self.shape
    }

    /// The five landmarks of the face in `rect` (dlib's `sp(img, rect)`),
    /// rounded to pixels as dlib's `point` does (⌊x + 0.5⌋).
    pub fn predict(&self, image: &RgbImage, rect: Rect) -> [Point; PARTS] {
        let to_image = unnormalizing_tform(rect);
        let mut shape = self.data.initial_shape.clone();
        let mut pixels = vec![0f32; self.shape.feature_pixels];
        for (level, forest) in self.data.forests.iter().enumerate() {
            self.feature_pixel_values(image, &to_image, &shape, level, &mut pixels);
            for tree in forest {
                for (s, d) in shape.iter_mut().zip(leaf(tree, &pixels)) {
                    *s += d;
                }
            }
        }
        std::array::from_fn(|i| {
            let p = to_image.apply([shape[2 * i] as f64, shape[2 * i + 1] as f64]);
            Point {
                x: round(p[0]),
                y: round(p[1]),
            }
        })
    }

    /// dlib's `extract_feature_pixel_values`: each feature pixel moves with its
    /// anchor part under the similarity transform from the initial shape to
    /// the current one (applied in f32), then maps into the image.
    fn feature_pixel_values(
        &self,
        image: &RgbImage,
        to_image: &Affine,
        shape: &[f32],
        level: usize,
        out: &mut [f32],
    ) {
        let points = |s: &[f32]| -> Vec<V> {
            s.chunks_exact(2)
                .map(|p| [p[0] as f64, p[1] as f64])
                .collect()
        };
        let m = find_similarity_transform(&points(&self.data.initial_shape), &points(shape))
            .m
            .map(|row| row.map(|v| v as f32));
        let (w, h) = (image.width() as i64, image.height() as i64);
        let anchors = &self.data.anchor_idx[level];
        let deltas = &self.data.deltas[level];
        for ((value, &anchor), d) in out.iter_mut().zip(anchors).zip(deltas) {
            let a = 2 * anchor as usize;
            let x = (m[0][0] * d[0] + m[0][1] * d[1]) + shape[a];
            let y = (m[1][0] * d[0] + m[1][1] * d[1]) + shape[a + 1];
            let p = to_image.apply([x as f64, y as f64]);
            let (px, py) = (round(p[0]), round(p[1]));
            *value = if (0..w).contains(&px) && (0..h).contains(&py) {
                let [r, g, b] = image.get_pixel(px as u32, py as u32).0;
                ((r as u32 + g as u32 + b as u32) / 3) as f32
            } else {
                0.0
            };
        }
    }
}

/// dlib's `regression_tree::operator()`: walk the splits to a leaf.
fn leaf<'a>(tree: &'a RegressionTree, pixels: &[f32]) -> &'a [f32] {
    let mut i = 0;
    while let Some(s) = tree.splits.get(i) {
        i = if pixels[s.idx1 as usize] - pixels[s.idx2 as usize] > s.thresh {
            2 * i + 1
        } else {
            2 * i + 2
        };
    }
    &tree.leaves[i - tree.splits.len()]
}

/// dlib's `unnormalizing_tform`: the affine map taking (0,0), (1,0), (1,1) to
/// the rectangle's top-left, top-right and bottom-right corners (as floats).
fn unnormalizing_tform(rect: Rect) -> Affine {
    let corner = |x: i64, y: i64| [x as f32 as f64, y as f32 as f64];
    find_affine_transform(
        &[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
        &[
            corner(rect.left, rect.top),
            corner(rect.right, rect.top),
            corner(rect.right, rect.bottom),
        ],
    )
}

/// A double to dlib's `long` point coordinate: ⌊x + 0.5⌋.
fn round(x: f64) -> i64 {
    (x + 0.5).floor() as i64
}

/// The cascade's sizes, or why it is not a uniform five-part cascade.
fn uniform_shape(data: &ShapePredictorData) -> Result<CascadeShape> {
    if data.parts() != PARTS {
        bail!(
            "the predictor finds {} landmarks, not {PARTS}",
            data.parts()
        );
    }
    let first = data.forests.first().and_then(|f| f.first());
    let leaves = first.map_or(1, |t| t.leaves.len());
    if !leaves.is_power_of_two() {
        bail!("a tree with {leaves} leaves (dlib's trees are complete)");
    }
    let shape = CascadeShape {
        parts: PARTS,
        levels: data.forests.len(),
        trees_per_level: data.forests.first().map_or(0, Vec::len),
        tree_depth: leaves.trailing_zeros(),
        feature_pixels: data.deltas.first().map_or(0, Vec::len),
    };
    let uniform =
        data.forests.iter().all(|f| {
            f.len() == shape.trees_per_level && f.iter().all(|t| t.leaves.len() == leaves)
        }) && data.deltas.iter().all(|d| d.len() == shape.feature_pixels);
    if shape.levels > 0 && (shape.trees_per_level == 0 || shape.feature_pixels == 0) {
        bail!("a cascade level without trees or feature pixels");
    }
    if !uniform {
        bail!("the cascade's levels differ in trees, depth or feature pixels; casebook keeps uniform cascades as dlib trains them");
    }
    Ok(shape)
}

impl SavedModel for LandmarkPredictor {
    const TASK: &'static str = TASK;

    fn to_file(&self, training: serde_json::Value) -> Result<ModelFile> {
        let d = &self.data;
        let mut out = Vec::with_capacity(self.shape.section_len().unwrap_or(0));
        let f32s = |out: &mut Vec<u8>, values: &[f32]| {
            values
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()))
        };
        f32s(&mut out, &d.initial_shape);
        for level in 0..d.forests.len() {
            d.anchor_idx[level]
                .iter()
                .for_each(|a| out.extend_from_slice(&a.to_le_bytes()));
            d.deltas[level].iter().for_each(|p| f32s(&mut out, p));
            for tree in &d.forests[level] {
                for s in &tree.splits {
                    out.extend_from_slice(&s.idx1.to_le_bytes());
                    out.extend_from_slice(&s.idx2.to_le_bytes());
                    out.extend_from_slice(&s.thresh.to_le_bytes());
                }
                tree.leaves.iter().for_each(|l| f32s(&mut out, l));
            }
        }
        Ok(
            ModelFile::new(TASK, Vec::new(), &(), &self.shape, training)?
                .with_section(CASCADE, out),
        )
    }

    fn from_file(file: &ModelFile, path: &Path) -> Result<Self> {
        let shape: CascadeShape = file.architecture(path)?;
        let bytes = file.section(CASCADE, path)?;
        let damaged = |problem: String| {
            anyhow::anyhow!(
                "{} has a damaged landmark cascade ({problem}); convert the model again",
                path.display()
            )
        };
        if shape.parts != PARTS {
            return Err(damaged(format!(
                "{} parts where the predictor has {PARTS}",
                shape.parts
            )));
        }
        if shape.levels > 0 && (shape.trees_per_level == 0 || shape.feature_pixels == 0) {
            return Err(damaged(
                "cascade levels without trees or feature pixels".into(),
            ));
        }
        match shape.section_len() {
            Some(len) if len == bytes.len() => {}
            expected => {
                return Err(damaged(format!(
                    "{} bytes for a cascade of {shape:?}, which needs {expected:?}",
                    bytes.len()
                )));
            }
        }

        // The length matches the sizes, so the words never run out.
        let mut words = Words(bytes.chunks_exact(4));
        let shape_len = 2 * PARTS;
        let leaves = 1usize << shape.tree_depth;
        let pixels = shape.feature_pixels;
        let mut data = ShapePredictorData {
            initial_shape: words.f32s(shape_len),
            forests: Vec::new(),
            anchor_idx: Vec::new(),
            deltas: Vec::new(),
        };
        for _ in 0..shape.levels {
            data.anchor_idx
                .push((0..pixels).map(|_| words.u32()).collect());
            data.deltas
                .push((0..pixels).map(|_| [words.f32(), words.f32()]).collect());
            let forest = (0..shape.trees_per_level)
                .map(|_| RegressionTree {
                    splits: (0..leaves - 1)
                        .map(|_| Split {
                            idx1: words.u32(),
                            idx2: words.u32(),
                            thresh: words.f32(),
                        })
                        .collect(),
                    leaves: (0..leaves).map(|_| words.f32s(shape_len)).collect(),
                })
                .collect();
            data.forests.push(forest);
        }

        if let Some(a) = data
            .anchor_idx
            .iter()
            .flatten()
            .find(|&&a| a as usize >= PARTS)
        {
            return Err(damaged(format!("a feature pixel anchored to part {a}")));
        }
        let splits = data.forests.iter().flatten().flat_map(|t| &t.splits);
        if let Some(s) = splits
            .clone()
            .find(|s| s.idx1 as usize >= pixels || s.idx2 as usize >= pixels)
        {
            return Err(damaged(format!(
                "a split on pixels {} and {} of {pixels}",
                s.idx1, s.idx2
            )));
        }
        let numbers = data
            .initial_shape
            .iter()
            .chain(data.deltas.iter().flatten().flatten())
            .chain(splits.map(|s| &s.thresh));
        let leaf_values = data
            .forests
            .iter()
            .flatten()
            .flat_map(|t| t.leaves.iter().flatten());
        if numbers.chain(leaf_values).any(|v| !v.is_finite()) {
            return Err(damaged("a number that is not finite".into()));
        }
        Ok(Self { data, shape })
    }
}

/// The little-endian 32-bit words of a `cascade` section, in order.
struct Words<'a>(std::slice::ChunksExact<'a, u8>);

impl Words<'_> {
    fn u32(&mut self) -> u32 {
        self.0
            .next()
            .map_or(0, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
    }

    fn f32(&mut self) -> f32 {
        f32::from_bits(self.u32())
    }

    fn f32s(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
}

#[cfg(test)]
mod tests {
    use image::Rgb;
    use serde_json::json;

    use super::*;
    use crate::dlib::shape_predictor::tests::{example, write};

    fn predictor() -> LandmarkPredictor {
        LandmarkPredictor::from_dlib(&write(&example())).unwrap()
    }

    fn points(xy: [(i64, i64); 5]) -> [Point; 5] {
        xy.map(|(x, y)| Point { x, y })
    }

    #[test]
    fn the_cascade_reads_grey_pixels_and_walks_its_trees() {
        // Feature pixels land on (20, 20) and (50, 60); the third is outside and reads 0.
        let rect = Rect {
            left: 0,
            top: 0,
            right: 100,
            bottom: 100,
        };
        let mut image = RgbImage::new(101, 101);
        image.put_pixel(50, 60, Rgb([10, 10, 11]));
        // Grey 31 − 10 > 10: every x moves +0.1; 0 − 10 ≤ −5: every y moves −0.05.
        image.put_pixel(20, 20, Rgb([30, 31, 32]));
        assert_eq!(
            predictor().predict(&image, rect),
            points([(30, 15), (50, 15), (70, 15), (90, 15), (60, 55)])
        );
        // Grey (20 + 20 + 22) / 3 = 20 in integers, and 20 − 10 is not > 10: x moves −0.1.
        image.put_pixel(20, 20, Rgb([20, 20, 22]));
        assert_eq!(
            predictor().predict(&image, rect),
            points([(10, 15), (30, 15), (50, 15), (70, 15), (40, 55)])
        );
    }

    #[test]
    fn only_five_part_predictors_load() {
        let mut data = example();
        data.initial_shape.truncate(8);
        data.forests[0]
            .iter_mut()
            .flat_map(|t| &mut t.leaves)
            .for_each(|l| l.truncate(8));
        data.anchor_idx[0][1] = 3;
        let err = LandmarkPredictor::from_dlib(&write(&data))
            .unwrap_err()
            .to_string();
        assert!(err.contains("4 landmarks"), "{err}");
    }

    #[test]
    fn a_model_file_holds_the_cascade_exactly() {
        let predictor = predictor();
        let file = predictor.to_file(json!({})).unwrap();
        assert_eq!(
            file.sections[CASCADE].len(),
            predictor.shape().section_len().unwrap()
        );
        let path = Path::new("tiny.casebook");
        let again = LandmarkPredictor::from_bytes(&file.to_bytes(), path).unwrap();
        assert_eq!(again, predictor);
    }
}
