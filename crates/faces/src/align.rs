//! Face alignment: the aligned face chip the encoder reads (`get_face_chip_details` and
//! `extract_image_chip`, `dlib/image_transforms/interpolation.h`).
//!
//! Every computation follows dlib's C++ operation for operation (its own SVD,
//! its order of sums, division where dlib divides and multiplication by a
//! reciprocal where dlib's matrix expressions do), so chips and landmarks come
//! out bit for bit as dlib 20.0.1 makes them from the same input.

use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

use crate::geometry::Rect;

/// dlib's `point`: a pixel position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Point {
    pub x: i64,
    pub y: i64,
}

/// dlib's `drectangle`: real bounds, inclusive like [`Rect`] (width = right − left + 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DRect {
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
}

/// Where a chip comes from (dlib's `chip_details`): `rect` in the image,
/// rotated by `angle` radians about its centre, resampled to `rows`×`cols`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChipDetails {
    pub rect: DRect,
    pub angle: f64,
    pub rows: usize,
    pub cols: usize,
}

/// The padding around the face in dlib's face-encoder chips (`get_face_chip`'s
/// default in the Python binding).
pub const CHIP_PADDING: f64 = 0.25;

/// The 5-point template of `get_face_chip_details`: where dlib's landmarks
/// (outer and inner corner of each eye, then the bottom of the nose) sit in
/// an unpadded unit chip.
const FACE_TEMPLATE: [V; 5] = [
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
];

/// dlib's `get_face_chip_details` for a 5-point shape: the similarity
/// transform taking the padded template (scaled to `size`) onto the
/// landmarks gives the chip's angle, scale and centre.
pub fn face_chip_details(landmarks: &[Point; 5], size: usize, padding: f64) -> ChipDetails {
    // `(padding + p) / (2·padding + 1)` on a dlib vector is a matrix expression:
    // dlib multiplies by the reciprocal.
    let shrink = 1.0 / (2.0 * padding + 1.0);
    let from: Vec<V> = FACE_TEMPLATE
        .iter()
        .map(|p| p.map(|v| (v + padding) * shrink * size as f64))
        .collect();
    let to: Vec<V> = landmarks.iter().map(|p| [p.x as f64, p.y as f64]).collect();
    chip_from_points(&from, &to, size, size)
}

/// dlib's `chip_details(chip_points, img_points, dims)`.
fn chip_from_points(chip_points: &[V], img_points: &[V], rows: usize, cols: usize) -> ChipDetails {
    let tform = find_similarity_transform(chip_points, img_points);
    let p = tform.linear([1.0, 0.0]);
    let scale = (p[0] * p[0] + p[1] * p[1]).sqrt();
    let center = tform.apply([cols as f64 / 2.0, rows as f64 / 2.0]);
    ChipDetails {
        rect: centered_drect(center, cols as f64 * scale, rows as f64 * scale),
        angle: p[1].atan2(p[0]),
        rows,
        cols,
    }
}

/// The aligned face chip as dlib's Python `get_face_chip(img, shape, size)`
/// makes it (padding 0.25; dlib's encoder reads 150×150).
pub fn face_chip(image: &RgbImage, landmarks: &[Point; 5], size: usize) -> RgbImage {
    extract_image_chip(image, &face_chip_details(landmarks, size, CHIP_PADDING))
}

/// dlib's `extract_image_chip` with bilinear interpolation for an RGB image
/// (`extract_image_chips`): when the chip is much smaller than its rectangle,
/// dlib first shrinks the neighbourhood of the rectangle with `pyramid_down<2>`
/// until one more halving would make it smaller than the chip, then samples
/// that level. Pixels that fall outside the source are black.
pub fn extract_image_chip(image: &RgbImage, chip: &ChipDetails) -> RgbImage {
    let size = chip.rows.saturating_mul(chip.cols) as f64;
    if chip.angle == 0.0
        && chip.rows as f64 == chip.rect.height()
        && chip.cols as f64 == chip.rect.width()
    {
        return copy_chip(image, chip.rect.round());
    }

    // How deep a pyramid is needed, and the part of the image it must cover
    // (the rotated rectangle grown by a border that doubles with each level).
    let mut depth = 0;
    let mut grow = 2.0;
    let mut rect = chip.rect.down();
    while rect.area() > size && depth < MAX_PYRAMID_DEPTH {
        rect = rect.down();
        depth += 1;
        grow = grow * 2.0 + 2.0;
    }
    let center = chip.rect.center();
    let rotated = chip.rect.corners().iter().fold(DRect::EMPTY, |r, &p| {
        r.union(DRect::at(rotate_point(center, p, chip.angle)))
    });
    let image_rect = DRect {
        left: 0.0,
        top: 0.0,
        right: image.width() as f64 - 1.0,
        bottom: image.height() as f64 - 1.0,
    };
    let bounds = rotated.grow(grow).intersect(image_rect).round();
    let bounds = if is_empty(&bounds) {
        Rect {
            left: 0,
            top: 0,
            right: -1,
            bottom: -1,
        }
    } else {
        bounds
    };

    let (w, h) = dims(&bounds);
    let crop = image::imageops::crop_imm(
        image,
        bounds.left.max(0) as u32,
        bounds.top.max(0) as u32,
        w,
        h,
    )
    .to_image();
    let mut levels: Vec<RgbImage> = Vec::with_capacity(depth);
    for _ in 0..depth {
        let down = pyramid_down(levels.last().unwrap_or(&crop));
        levels.push(down);
    }

    // The level to sample, and the chip's rectangle in its coordinates.
    let mut level: Option<usize> = None;
    let mut rect = chip.rect.translate(-bounds.left as f64, -bounds.top as f64);
    while rect.down().area() > size && level.is_none_or(|l| l < MAX_PYRAMID_DEPTH) {
        level = Some(level.map_or(0, |l| l + 1));
        rect = rect.down();
    }
    let source = match level {
        None => &crop,
        // dlib indexes past its pyramid only where rounding makes the two
        // depth counts disagree; stay on the deepest level there.
        Some(l) => levels.get(l).or(levels.last()).unwrap_or(&crop),
    };

    let (last_col, last_row) = (chip.cols as f64 - 1.0, chip.rows as f64 - 1.0);
    let center = rect.center();
    let corners = [
        [rect.left, rect.top],
        [rect.right, rect.top],
        [rect.left, rect.bottom],
    ];
    let to = corners.map(|p| rotate_point(center, p, chip.angle));
    let tform = find_affine_transform(&[[0.0, 0.0], [last_col, 0.0], [0.0, last_row]], &to);

    let mut out = RgbImage::new(chip.cols as u32, chip.rows as u32);
    for (c, r, pixel) in out.enumerate_pixels_mut() {
        *pixel = bilinear(source, tform.apply([c as f64, r as f64]));
    }
    out
}

/// Where dlib would halve an infinite rectangle forever, stop: 64 halvings
/// take any finite image down to nothing.
const MAX_PYRAMID_DEPTH: usize = 64;

/// dlib's `basic_extract_image_chip`: a plain copy of `rect`, black outside the image.
fn copy_chip(image: &RgbImage, rect: Rect) -> RgbImage {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let (cols, rows) = dims(&rect);
    RgbImage::from_fn(cols, rows, |c, r| {
        let (x, y) = (rect.left + c as i64, rect.top + r as i64);
        if (0..w).contains(&x) && (0..h).contains(&y) {
            *image.get_pixel(x as u32, y as u32)
        } else {
            Rgb([0, 0, 0])
        }
    })
}

/// dlib's `interpolate_bilinear` for `rgb_pixel`: the four neighbours mixed in
/// double precision and truncated to bytes; black where a neighbour is
/// outside the image.
fn bilinear(image: &RgbImage, p: V) -> Rgb<u8> {
    let left = p[0].floor() as i64;
    let top = p[1].floor() as i64;
    let (right, bottom) = (left + 1, top + 1);
    if !(left >= 0 && top >= 0 && right < image.width() as i64 && bottom < image.height() as i64) {
        return Rgb([0, 0, 0]);
    }
    let lr = p[0] - left as f64;
    let tb = p[1] - top as f64;
    let at = |x: i64, y: i64| image.get_pixel(x as u32, y as u32).0;
    let (tl, tr, bl, br) = (
        at(left, top),
        at(right, top),
        at(left, bottom),
        at(right, bottom),
    );
    Rgb(std::array::from_fn(|i| {
        let mix = |a: u8, b: u8| a as f64 * (1.0 - lr) + b as f64 * lr;
        ((1.0 - tb) * mix(tl[i], tr[i]) + tb * mix(bl[i], br[i])) as u8
    }))
}

/// dlib's `pyramid_down<2>` for RGB images (`pyramid_down_2_1`,
/// `image_pyramid.h`): the separable 5-tap filter [1 4 6 4 1]² / 256 in
/// integer arithmetic, keeping every other row and column, output
/// ((rows − 3)/2)×((cols − 3)/2); images of 8 rows or columns or fewer become empty.
fn pyramid_down(image: &RgbImage) -> RgbImage {
    let (nr, nc) = (image.height() as usize, image.width() as usize);
    if nr <= 8 || nc <= 8 {
        return RgbImage::new(0, 0);
    }
    let (temp_nc, down_nr) = ((nc - 3) / 2, (nr - 3) / 2);
    let px = |r: usize, c: usize| image.get_pixel(c as u32, r as u32).0.map(u32::from);
    // Row filter, every other column.
    let mut temp = vec![[0u32; 3]; nr * temp_nc];
    for r in 0..nr {
        for c in 0..temp_nc {
            let oc = 2 * c;
            let p: [[u32; 3]; 5] = std::array::from_fn(|k| px(r, oc + k));
            temp[r * temp_nc + c] = std::array::from_fn(|i| {
                p[0][i] + p[1][i] * 4 + p[2][i] * 6 + p[3][i] * 4 + p[4][i]
            });
        }
    }
    // Column filter, every other row, starting at row 2.
    RgbImage::from_fn(temp_nc as u32, down_nr as u32, |c, dr| {
        let (c, r) = (c as usize, 2 + 2 * dr as usize);
        let t = |row: usize| temp[row * temp_nc + c];
        let (a, b, m, d, e) = (t(r - 2), t(r - 1), t(r), t(r + 1), t(r + 2));
        Rgb(std::array::from_fn(|i| {
            ((a[i] + b[i] * 4 + m[i] * 6 + d[i] * 4 + e[i]) / 256) as u8
        }))
    })
}

/// dlib's `rectangle::is_empty`.
fn is_empty(r: &Rect) -> bool {
    r.top > r.bottom || r.left > r.right
}

/// Width and height as dlib's `rectangle` gives them (both 0 when empty).
fn dims(r: &Rect) -> (u32, u32) {
    if is_empty(r) {
        (0, 0)
    } else {
        ((r.right - r.left + 1) as u32, (r.bottom - r.top + 1) as u32)
    }
}

/// A 2-vector of doubles (dlib's `dpoint`).
pub(crate) type V = [f64; 2];

/// dlib's `rotate_point`: `p` rotated about `center` by `angle` radians.
fn rotate_point(center: V, p: V, angle: f64) -> V {
    let (sin, cos) = (angle.sin(), angle.cos());
    let (x, y) = (p[0] - center[0], p[1] - center[1]);
    [cos * x - sin * y + center[0], sin * x + cos * y + center[1]]
}

/// dlib's `centered_drect`.
fn centered_drect(p: V, width: f64, height: f64) -> DRect {
    let (width, height) = (width - 1.0, height - 1.0);
    DRect {
        left: p[0] - width / 2.0,
        top: p[1] - height / 2.0,
        right: p[0] + width / 2.0,
        bottom: p[1] + height / 2.0,
    }
}

impl DRect {
    /// dlib's default `drectangle`, empty.
    const EMPTY: DRect = DRect {
        left: 0.0,
        top: 0.0,
        right: -1.0,
        bottom: -1.0,
    };

    fn at(p: V) -> Self {
        DRect {
            left: p[0],
            top: p[1],
            right: p[0],
            bottom: p[1],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.top > self.bottom || self.left > self.right
    }

    pub fn width(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.right - self.left + 1.0
        }
    }

    pub fn height(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.bottom - self.top + 1.0
        }
    }

    fn area(&self) -> f64 {
        self.width() * self.height()
    }

    fn center(&self) -> V {
        [
            (self.left + self.right) / 2.0,
            (self.top + self.bottom) / 2.0,
        ]
    }

    /// Top-left, top-right, bottom-left and bottom-right corners.
    fn corners(&self) -> [V; 4] {
        [
            [self.left, self.top],
            [self.right, self.top],
            [self.left, self.bottom],
            [self.right, self.bottom],
        ]
    }

    /// dlib's `drectangle + drectangle`: the bounding box of both.
    fn union(self, other: DRect) -> DRect {
        if other.is_empty() {
            return self;
        }
        if self.is_empty() {
            return other;
        }
        DRect {
            left: min(self.left, other.left),
            top: min(self.top, other.top),
            right: max(self.right, other.right),
            bottom: max(self.bottom, other.bottom),
        }
    }

    fn intersect(self, other: DRect) -> DRect {
        DRect {
            left: max(self.left, other.left),
            top: max(self.top, other.top),
            right: min(self.right, other.right),
            bottom: min(self.bottom, other.bottom),
        }
    }

    fn grow(self, by: f64) -> DRect {
        DRect {
            left: self.left - by,
            top: self.top - by,
            right: self.right + by,
            bottom: self.bottom + by,
        }
    }

    fn translate(self, dx: f64, dy: f64) -> DRect {
        DRect {
            left: self.left + dx,
            top: self.top + dy,
            right: self.right + dx,
            bottom: self.bottom + dy,
        }
    }

    /// `pyramid_down<2>::rect_down`: both corners through `p/2 − (1.25, 0.75)`.
    fn down(self) -> DRect {
        let point_down = |x: f64, y: f64| DRect::at([x / 2.0 - 1.25, y / 2.0 - 0.75]);
        point_down(self.left, self.top).union(point_down(self.right, self.bottom))
    }

    /// dlib's conversion to `rectangle`: each bound rounded half away from zero (`lround`).
    fn round(self) -> Rect {
        Rect {
            left: self.left.round() as i64,
            top: self.top.round() as i64,
            right: self.right.round() as i64,
            bottom: self.bottom.round() as i64,
        }
    }
}

/// `std::min` / `std::max` (the first argument wins ties and NaNs).
fn min(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

fn max(a: f64, b: f64) -> f64 {
    if a < b {
        b
    } else {
        a
    }
}

/// dlib's `point_transform_affine`: p ↦ m·p + b.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Affine {
    pub m: [[f64; 2]; 2],
    pub b: V,
}

impl Affine {
    pub fn apply(&self, p: V) -> V {
        let q = self.linear(p);
        [q[0] + self.b[0], q[1] + self.b[1]]
    }

    /// m·p alone.
    pub fn linear(&self, p: V) -> V {
        [
            self.m[0][0] * p[0] + self.m[0][1] * p[1],
            self.m[1][0] * p[0] + self.m[1][1] * p[1],
        ]
    }
}

/// dlib's `find_similarity_transform` (`geometry/point_transforms.h`):
/// Umeyama's least-squares rotation, uniform scale and translation taking
/// `from` onto `to` (at least two points each).
pub(crate) fn find_similarity_transform(from: &[V], to: &[V]) -> Affine {
    let n = from.len() as f64;
    let mut mean_from = [0.0; 2];
    let mut mean_to = [0.0; 2];
    for (f, t) in from.iter().zip(to) {
        for i in 0..2 {
            mean_from[i] += f[i];
            mean_to[i] += t[i];
        }
    }
    for i in 0..2 {
        mean_from[i] /= n;
        mean_to[i] /= n;
    }
    let mut sigma_from = 0.0;
    let mut cov = [[0.0; 2]; 2];
    for (f, t) in from.iter().zip(to) {
        let df = [f[0] - mean_from[0], f[1] - mean_from[1]];
        let dt = [t[0] - mean_to[0], t[1] - mean_to[1]];
        sigma_from += df[0] * df[0] + df[1] * df[1];
        for (r, row) in cov.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v += dt[r] * df[c];
            }
        }
    }
    sigma_from /= n;
    // `cov /= n` on a dlib matrix multiplies by the reciprocal.
    let inv_n = 1.0 / n;
    let cov = cov.map(|row| row.map(|v| v * inv_n));

    let (u, d, v) = svd(&Mat::from_rows(&cov));
    let det2 = |m: &Mat| m.at(0, 0) * m.at(1, 1) - m.at(0, 1) * m.at(1, 0);
    let mut s = [[1.0, 0.0], [0.0, 1.0]];
    let det_cov = cov[0][0] * cov[1][1] - cov[0][1] * cov[1][0];
    if det_cov < 0.0 || (det_cov == 0.0 && det2(&u) * det2(&v) < 0.0) {
        if d[1] < d[0] {
            s[1][1] = -1.0;
        } else {
            s[0][0] = -1.0;
        }
    }
    let d = [[d[0], 0.0], [0.0, d[1]]];
    let us: [[f64; 2]; 2] = std::array::from_fn(|r| {
        std::array::from_fn(|k| u.at(r, 0) * s[0][k] + u.at(r, 1) * s[1][k])
    });
    let rot: [[f64; 2]; 2] = std::array::from_fn(|r| {
        std::array::from_fn(|c| us[r][0] * v.at(c, 0) + us[r][1] * v.at(c, 1))
    });
    let ds = |i: usize| d[i][0] * s[0][i] + d[i][1] * s[1][i];
    let c = if sigma_from != 0.0 {
        1.0 / sigma_from * (0.0 + ds(0) + ds(1))
    } else {
        1.0
    };
    // `mean_to − c·r·mean_from`: dlib moves the scalar outside the product.
    let t: V = std::array::from_fn(|i| {
        mean_to[i] - (rot[i][0] * mean_from[0] + rot[i][1] * mean_from[1]) * c
    });
    Affine {
        m: rot.map(|row| row.map(|x| x * c)),
        b: t,
    }
}

/// dlib's `find_affine_transform`: m and b from `Q · pinv(P)`, where P holds
/// the `from` points as columns (x, y, 1) and Q the `to` points.
pub(crate) fn find_affine_transform(from: &[V], to: &[V]) -> Affine {
    let n = from.len();
    let mut p = Mat::zeros(3, n);
    for (i, f) in from.iter().enumerate() {
        p.set(0, i, f[0]);
        p.set(1, i, f[1]);
        p.set(2, i, 1.0);
    }
    let pinv = pinv(&p);
    let m: [[f64; 3]; 2] = std::array::from_fn(|r| {
        std::array::from_fn(|c| {
            let mut sum = to[0][r] * pinv.at(0, c);
            for (k, q) in to.iter().enumerate().skip(1) {
                sum += q[r] * pinv.at(k, c);
            }
            sum
        })
    });
    Affine {
        m: [[m[0][0], m[0][1]], [m[1][0], m[1][1]]],
        b: [m[0][2], m[1][2]],
    }
}

/// A small dense row-major matrix for the SVD.
#[derive(Debug, Clone)]
struct Mat {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Mat {
    fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    fn from_rows<const C: usize>(rows: &[[f64; C]]) -> Self {
        Self {
            rows: rows.len(),
            cols: C,
            data: rows.iter().flatten().copied().collect(),
        }
    }

    fn at(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }

    fn set(&mut self, r: usize, c: usize, v: f64) {
        self.data[r * self.cols + c] = v;
    }

    fn get_mut(&mut self, r: usize, c: usize) -> &mut f64 {
        &mut self.data[r * self.cols + c]
    }
}

/// dlib's `pinv` (`matrix_la.h`): the SVD is taken of `m` when it has no more
/// columns than rows, else of its transpose.
fn pinv(m: &Mat) -> Mat {
    if m.cols > m.rows {
        transpose(&pinv_helper(&transpose(m)))
    } else {
        pinv_helper(m)
    }
}

fn transpose(m: &Mat) -> Mat {
    let mut t = Mat::zeros(m.cols, m.rows);
    for r in 0..m.rows {
        for c in 0..m.cols {
            t.set(c, r, m.at(r, c));
        }
    }
    t
}

/// v · diag(1/w, with w below eps·max(w) taken as 0) · uᵀ.
fn pinv_helper(m: &Mat) -> Mat {
    let (u, w, v) = svd(m);
    let largest = w
        .iter()
        .copied()
        .fold(w[0], |a, b| if b > a { b } else { a });
    let eps = f64::EPSILON * m.rows.max(m.cols) as f64 * largest;
    let inv: Vec<f64> = w
        .iter()
        .map(|&x| if x >= eps || x <= -eps { x } else { 0.0 })
        .map(|x| if x != 0.0 { 1.0 / x } else { 0.0 })
        .collect();
    let mut out = Mat::zeros(v.rows, u.rows);
    for r in 0..v.rows {
        for c in 0..u.rows {
            // Summed in order, as dlib's matrix product does.
            let term = |k: usize| v.at(r, k) * inv[k] * u.at(c, k);
            out.set(r, c, (1..v.cols).fold(term(0), |sum, k| sum + term(k)));
        }
    }
    out
}

/// dlib's `svd3` for an m×n matrix with m ≥ n, which is `svd4(SVD_SKINNY_U, …)`
/// (`matrix_la.h`): the Golub–Reinsch SVD from the Handbook for Automatic
/// Computation, as dlib translated it. Returns u (m×n), the singular values
/// and v (n×n) with a = u·diag(q)·vᵀ.
fn svd(a: &Mat) -> (Mat, Vec<f64>, Mat) {
    let (m, n) = (a.rows, a.cols);
    let eps0 = f64::EPSILON;
    let tol = f64::MIN_POSITIVE / eps0;
    let mut u = a.clone();
    let mut q = vec![0.0; n];
    let mut v = Mat::zeros(n, n);
    let mut e = vec![0.0; n];
    let (mut c, mut f, mut g, mut h, mut s, mut x, mut y, mut z);
    let mut l = 0usize;

    // Householder's reduction to bidiagonal form.
    g = 0.0;
    x = 0.0;
    for i in 0..n {
        e[i] = g;
        s = 0.0;
        l = i + 1;
        for j in i..m {
            s += u.at(j, i) * u.at(j, i);
        }
        if s < tol {
            g = 0.0;
        } else {
            f = u.at(i, i);
            g = if f < 0.0 { s.sqrt() } else { -s.sqrt() };
            h = f * g - s;
            u.set(i, i, f - g);
            for j in l..n {
                s = 0.0;
                for k in i..m {
                    s += u.at(k, i) * u.at(k, j);
                }
                f = s / h;
                for k in i..m {
                    *u.get_mut(k, j) += f * u.at(k, i);
                }
            }
        }
        q[i] = g;
        s = 0.0;
        for j in l..n {
            s += u.at(i, j) * u.at(i, j);
        }
        if s < tol {
            g = 0.0;
        } else {
            f = u.at(i, i + 1);
            g = if f < 0.0 { s.sqrt() } else { -s.sqrt() };
            h = f * g - s;
            u.set(i, i + 1, f - g);
            for (j, ej) in e.iter_mut().enumerate().skip(l) {
                *ej = u.at(i, j) / h;
            }
            for j in l..m {
                s = 0.0;
                for k in l..n {
                    s += u.at(j, k) * u.at(i, k);
                }
                for (k, &ek) in e.iter().enumerate().skip(l) {
                    *u.get_mut(j, k) += s * ek;
                }
            }
        }
        y = q[i].abs() + e[i].abs();
        if y > x {
            x = y;
        }
    }

    // Accumulation of right-hand transformations.
    for i in (0..n).rev() {
        if g != 0.0 {
            h = u.at(i, i + 1) * g;
            for j in l..n {
                v.set(j, i, u.at(i, j) / h);
            }
            for j in l..n {
                s = 0.0;
                for k in l..n {
                    s += u.at(i, k) * v.at(k, j);
                }
                for k in l..n {
                    *v.get_mut(k, j) += s * v.at(k, i);
                }
            }
        }
        for j in l..n {
            v.set(i, j, 0.0);
            v.set(j, i, 0.0);
        }
        v.set(i, i, 1.0);
        g = e[i];
        l = i;
    }

    // Accumulation of left-hand transformations.
    for i in (0..n).rev() {
        l = i + 1;
        g = q[i];
        for j in l..n {
            u.set(i, j, 0.0);
        }
        if g != 0.0 {
            h = u.at(i, i) * g;
            for j in l..n {
                s = 0.0;
                for k in l..m {
                    s += u.at(k, i) * u.at(k, j);
                }
                f = s / h;
                for k in i..m {
                    *u.get_mut(k, j) += f * u.at(k, i);
                }
            }
            for j in i..m {
                *u.get_mut(j, i) /= g;
            }
        } else {
            for j in i..m {
                u.set(j, i, 0.0);
            }
        }
        *u.get_mut(i, i) += 1.0;
    }

    // Diagonalisation of the bidiagonal form.
    let eps = eps0 * x;
    'singular_values: for k in (0..n).rev() {
        let mut iter = 0;
        loop {
            // Test for splitting. e[0] is always 0, so dlib stops at l = 0 at
            // the latest; the explicit check keeps NaNs from reading q[-1].
            l = k;
            let mut cancel = false;
            loop {
                if l == 0 || e[l].abs() <= eps {
                    break;
                }
                if q[l - 1].abs() <= eps {
                    cancel = true;
                    break;
                }
                l -= 1;
            }
            if cancel {
                // Cancellation of e[l].
                c = 0.0;
                s = 1.0;
                let l1 = l - 1;
                for i in l..=k {
                    f = s * e[i];
                    e[i] *= c;
                    if f.abs() <= eps {
                        break;
                    }
                    g = q[i];
                    h = (f * f + g * g).sqrt();
                    q[i] = h;
                    c = g / h;
                    s = -f / h;
                    for j in 0..m {
                        y = u.at(j, l1);
                        z = u.at(j, i);
                        u.set(j, l1, y * c + z * s);
                        u.set(j, i, -y * s + z * c);
                    }
                }
            }
            // Test for convergence.
            z = q[k];
            if l == k {
                break;
            }
            // Shift from the bottom 2×2 minor.
            iter += 1;
            if iter > 300 {
                break 'singular_values;
            }
            x = q[l];
            y = q[k - 1];
            g = e[k - 1];
            h = e[k];
            f = ((y - z) * (y + z) + (g - h) * (g + h)) / (2.0 * h * y);
            g = (f * f + 1.0).sqrt();
            f = ((x - z) * (x + z) + h * (y / (if f < 0.0 { f - g } else { f + g }) - h)) / x;
            // Next QR transformation.
            c = 1.0;
            s = 1.0;
            for i in l + 1..=k {
                g = e[i];
                y = q[i];
                h = s * g;
                g *= c;
                z = (f * f + h * h).sqrt();
                e[i - 1] = z;
                c = f / z;
                s = h / z;
                f = x * c + g * s;
                g = -x * s + g * c;
                h = y * s;
                y *= c;
                for j in 0..n {
                    x = v.at(j, i - 1);
                    z = v.at(j, i);
                    v.set(j, i - 1, x * c + z * s);
                    v.set(j, i, -x * s + z * c);
                }
                z = (f * f + h * h).sqrt();
                q[i - 1] = z;
                if z != 0.0 {
                    c = f / z;
                    s = h / z;
                }
                f = c * g + s * y;
                x = -s * g + c * y;
                for j in 0..m {
                    y = u.at(j, i - 1);
                    z = u.at(j, i);
                    u.set(j, i - 1, y * c + z * s);
                    u.set(j, i, -y * s + z * c);
                }
            }
            e[l] = 0.0;
            e[k] = f;
            q[k] = x;
        }
        // Convergence: make the singular value non-negative.
        if z < 0.0 {
            q[k] = -z;
            for j in 0..n {
                v.set(j, k, -v.at(j, k));
            }
        }
    }
    (u, q, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn find_similarity_transform_recovers_a_rotation_scale_and_shift() {
        let (angle, scale, shift) = (0.5f64, 2.5, [7.0, -3.0]);
        let (sin, cos) = angle.sin_cos();
        let from: Vec<V> = vec![
            [0.0, 0.0],
            [10.0, 0.0],
            [3.0, 8.0],
            [-4.0, 5.0],
            [1.0, -6.0],
        ];
        let to: Vec<V> = from
            .iter()
            .map(|p| {
                [
                    scale * (cos * p[0] - sin * p[1]) + shift[0],
                    scale * (sin * p[0] + cos * p[1]) + shift[1],
                ]
            })
            .collect();
        let t = find_similarity_transform(&from, &to);
        let expected = [[scale * cos, -scale * sin], [scale * sin, scale * cos]];
        let found = [t.m[0][0], t.m[0][1], t.m[1][0], t.m[1][1], t.b[0], t.b[1]];
        let wanted = [
            expected[0][0],
            expected[0][1],
            expected[1][0],
            expected[1][1],
            shift[0],
            shift[1],
        ];
        assert!(found.iter().zip(wanted).all(|(&a, b)| close(a, b)), "{t:?}");
        // A mirror image has no similarity onto it; the best fit is still a rotation.
        let mirrored: Vec<V> = to.iter().map(|p| [-p[0], p[1]]).collect();
        let m = find_similarity_transform(&from, &mirrored).m;
        assert!(m[0][0] * m[1][1] - m[0][1] * m[1][0] > 0.0);
    }

    #[test]
    fn svd_and_affine_fit_reconstruct_their_inputs() {
        let rows = [[2.0, -1.0, 0.5], [0.3, 4.0, 1.0], [1.0, 1.0, 1.0]];
        let (u, q, v) = svd(&Mat::from_rows(&rows));
        for (r, row) in rows.iter().enumerate() {
            for (c, &x) in row.iter().enumerate() {
                assert!(close(
                    (0..3).map(|k| u.at(r, k) * q[k] * v.at(c, k)).sum(),
                    x
                ));
            }
        }
        let from = [[0.0, 0.0], [149.0, 0.0], [0.0, 149.0]];
        let to = [[3.0, 4.0], [100.0, 20.0], [-10.0, 130.0]];
        let t = find_affine_transform(&from, &to);
        for (f, t2) in from.iter().zip(&to) {
            let p = t.apply(*f);
            assert!(close(p[0], t2[0]) && close(p[1], t2[1]), "{p:?} != {t2:?}");
        }
    }

    #[test]
    fn pyramid_down_keeps_flat_images_flat_and_sizes_as_dlib() {
        let flat = RgbImage::from_pixel(12, 10, Rgb([200, 100, 7]));
        let down = pyramid_down(&flat);
        assert_eq!(down.dimensions(), (4, 3));
        assert!(down.pixels().all(|p| *p == Rgb([200, 100, 7])));
        assert_eq!(pyramid_down(&RgbImage::new(8, 100)).dimensions(), (0, 0));
    }

    #[test]
    fn bilinear_mixes_neighbours_truncates_and_is_black_at_the_border() {
        let grey = [[0, 10], [20, 31]];
        let image = RgbImage::from_fn(2, 2, |x, y| Rgb([grey[y as usize][x as usize]; 3]));
        // 0.5·(0.5·0 + 0.5·10) + 0.5·(0.5·20 + 0.5·31) = 15.25.
        assert_eq!(bilinear(&image, [0.5, 0.5]), Rgb([15; 3]));
        assert_eq!(bilinear(&image, [0.0, 0.0]), Rgb([0; 3]));
        // The right neighbour of the last column is outside.
        assert_eq!(bilinear(&image, [1.0, 0.0]), Rgb([0; 3]));
    }

    #[test]
    fn degenerate_chips_end_without_panicking() {
        let image = RgbImage::from_pixel(40, 30, Rgb([1, 2, 3]));
        let (inf, nan) = (f64::INFINITY, f64::NAN);
        let chips = [
            (
                DRect {
                    left: -inf,
                    top: -inf,
                    right: inf,
                    bottom: inf,
                },
                0.3,
                3,
                3,
            ),
            (
                DRect {
                    left: nan,
                    top: nan,
                    right: nan,
                    bottom: nan,
                },
                0.0,
                2,
                5,
            ),
            (
                DRect {
                    left: 10.0,
                    top: 10.0,
                    right: 20.0,
                    bottom: 20.0,
                },
                0.1,
                0,
                0,
            ),
            (
                DRect {
                    left: 500.0,
                    top: 500.0,
                    right: 400.0,
                    bottom: 400.0,
                },
                1.0,
                4,
                4,
            ),
        ];
        for (rect, angle, rows, cols) in chips {
            let out = extract_image_chip(
                &image,
                &ChipDetails {
                    rect,
                    angle,
                    rows,
                    cols,
                },
            );
            assert_eq!(out.dimensions(), (cols as u32, rows as u32));
        }
    }

    #[test]
    fn an_unrotated_chip_of_its_own_size_is_a_copy_with_black_outside() {
        let image = RgbImage::from_fn(5, 4, |x, y| Rgb([x as u8, y as u8, 9]));
        let chip = ChipDetails {
            rect: DRect {
                left: -1.0,
                top: 1.0,
                right: 2.0,
                bottom: 4.0,
            },
            angle: 0.0,
            rows: 4,
            cols: 4,
        };
        let out = extract_image_chip(&image, &chip);
        assert_eq!(out.dimensions(), (4, 4));
        assert_eq!(*out.get_pixel(0, 0), Rgb([0, 0, 0]));
        assert_eq!(*out.get_pixel(1, 0), Rgb([0, 1, 9]));
        assert_eq!(*out.get_pixel(3, 2), Rgb([2, 3, 9]));
        assert_eq!(*out.get_pixel(3, 3), Rgb([0, 0, 0]));
    }
}
