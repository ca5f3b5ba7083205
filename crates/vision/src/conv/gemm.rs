//! Convolution as im2col + GEMM on NCHW data, all three passes.
//!
//! The output of a batch, seen as a matrix `[c_out][batch · pixels]`, is
//! `W [c_out][taps] · cols [taps][batch · pixels]`, where `cols` holds, for
//! every tap `(ci, ky, kx)` and output pixel, the input that tap sees
//! (im2col). The passes work on tiles of that matrix's columns so the
//! unfolded input stays within [`TILE_BYTES`]: whole pictures together
//! when they are small (a batch of 8×8 maps makes one GEMM wide enough to
//! keep the kernel busy), runs of output rows of one picture when it is
//! large. Per tile:
//!
//! * forward: `out = W · cols + bias`;
//! * input gradient: `dcols = Wᵀ · G`, then each tap's column is added
//!   back where it was read from (col2im, parallel over input planes);
//! * weight gradient: `dW += G · colsᵀ`.
//!
//! burn's flex backend also convolves by im2col + GEMM, but through NHWC
//! copies of the input and output, and its input gradient is a transposed
//! convolution; working on NCHW tiles skips those copies. The GEMM is the
//! `gemm` crate (flex's own, AVX-512 kernels where the CPU has them),
//! parallel inside each call, except in the weights' gradient, whose GEMM
//! is small: there each thread takes a run of tiles. Every sum is added in
//! a fixed order, so the results do not depend on scheduling.

use super::Shape;
use rayon::prelude::*;

/// Bytes of unfolded input one tile of the forward pass or the input's
/// gradient may hold.
const TILE_BYTES: usize = 4 << 20;
/// The same for the weights' gradient, whose GEMM (`c_out × taps`, summed
/// over the tile's pixels) runs 1.3–2.5× faster on tiles that stay in the
/// L2 cache (timed at 64 KB to 16 MB on the cases' layers).
const WEIGHT_GRADIENT_TILE_BYTES: usize = 256 << 10;

/// A run of columns of the `[c_out][batch · pixels]` matrix: whole
/// pictures, or output rows of one picture.
#[derive(Debug, Clone, Copy)]
struct Tile {
    first_picture: usize,
    pictures: usize,
    first_row: usize,
    rows: usize,
}

impl Tile {
    fn columns(&self, s: &Shape) -> usize {
        self.pictures * self.rows * s.w_out
    }
}

/// The tiles covering a batch, in order, each unfolding to at most
/// `budget` bytes (or one output row), and at least `at_least` of them
/// where the batch has that many pictures.
fn tiles(s: &Shape, budget: usize, at_least: usize) -> Vec<Tile> {
    let row_bytes = s.c_in * s.kh * s.kw * s.w_out * 4;
    let rows_per_tile = (budget / row_bytes).max(1);
    if rows_per_tile >= s.h_out {
        let per_tile = (rows_per_tile / s.h_out)
            .min(s.batch.div_ceil(at_least))
            .max(1);
        (0..s.batch)
            .step_by(per_tile)
            .map(|first| Tile {
                first_picture: first,
                pictures: per_tile.min(s.batch - first),
                first_row: 0,
                rows: s.h_out,
            })
            .collect()
    } else {
        (0..s.batch)
            .flat_map(|b| {
                (0..s.h_out).step_by(rows_per_tile).map(move |first| Tile {
                    first_picture: b,
                    pictures: 1,
                    first_row: first,
                    rows: rows_per_tile.min(s.h_out - first),
                })
            })
            .collect()
    }
}

#[cfg(test)]
pub(super) fn tile_count(s: &Shape) -> usize {
    tiles(s, TILE_BYTES, 1).len()
}

/// `dst = lhs · rhs`, or `dst += lhs · rhs` when `accumulate`, for f32
/// matrices `lhs` (m × k), `rhs` (k × n) and `dst` (m × n), each a slice
/// with its [row stride, column stride]. Parallel inside when `parallel`.
pub(super) fn gemm(
    [m, k, n]: [usize; 3],
    lhs: (&[f32], [usize; 2]),
    rhs: (&[f32], [usize; 2]),
    dst: (&mut [f32], [usize; 2]),
    accumulate: bool,
    parallel: bool,
) {
    let ((lhs, [lrs, lcs]), (rhs, [rrs, rcs]), (dst, [drs, dcs])) = (lhs, rhs, dst);
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        k == 0 || lhs.len() > last(m, k, lrs, lcs),
        "lhs is too short"
    );
    assert!(
        k == 0 || rhs.len() > last(k, n, rrs, rcs),
        "rhs is too short"
    );
    assert!(dst.len() > last(m, n, drs, dcs), "dst is too short");
    let threads = rayon::current_num_threads();
    let parallelism = if parallel && threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts keep every element the strides reach inside its
    // slice; `dst` is borrowed mutably, so it overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dcs as isize,
            drs as isize,
            accumulate,
            lhs.as_ptr(),
            lcs as isize,
            lrs as isize,
            rhs.as_ptr(),
            rcs as isize,
            rrs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// The tile's input unfolded into `cols` (`taps × columns`, row-major):
/// row `(ci·kh + ky)·kw + kx` holds, for each of the tile's output pixels
/// (picture by picture, row by row), the input that tap sees, zero in the
/// padding. In parallel over the taps when `parallel`.
fn unfold(input: &[f32], s: &Shape, tile: Tile, cols: &mut [f32], parallel: bool) {
    let columns = tile.columns(s);
    let picture = s.c_in * s.h * s.w;
    let span = tile.rows * s.w_out;
    let fill = |(tap, row): (usize, &mut [f32])| {
        for (i, dst) in row.chunks_exact_mut(span).enumerate() {
            let b = tile.first_picture + i;
            let picture = &input[b * picture..][..picture];
            unfold_tap(picture, s, tap, tile.first_row, dst);
        }
    };
    if parallel {
        cols.par_chunks_exact_mut(columns)
            .enumerate()
            .for_each(fill);
    } else {
        cols.chunks_exact_mut(columns).enumerate().for_each(fill);
    }
}

/// One tap's inputs for output rows `first_row..` of one picture (as many
/// rows as `dst` holds).
fn unfold_tap(picture: &[f32], s: &Shape, tap: usize, first_row: usize, dst: &mut [f32]) {
    let (ci, ky, kx) = (tap / (s.kh * s.kw), tap / s.kw % s.kh, tap % s.kw);
    let plane = &picture[ci * s.h * s.w..][..s.h * s.w];
    let (xs, first) = source_columns(kx, s);
    for (i, out) in dst.chunks_exact_mut(s.w_out).enumerate() {
        match source_row(first_row + i, ky, s) {
            Some(iy) => {
                let src = &plane[iy * s.w..][..s.w];
                out[..xs.start].fill(0.0);
                out[xs.end..].fill(0.0);
                if s.stride[1] == 1 {
                    out[xs.clone()].copy_from_slice(&src[first..first + xs.len()]);
                } else {
                    for (o, ix) in out[xs.clone()]
                        .iter_mut()
                        .zip((first..).step_by(s.stride[1]))
                    {
                        *o = src[ix];
                    }
                }
            }
            None => out.fill(0.0),
        }
    }
}

/// The opposite of [`unfold_tap`]: one tap's column values for output rows
/// `first_row..` added to the input positions they were read from.
fn fold_tap(src: &[f32], s: &Shape, tap: usize, first_row: usize, plane: &mut [f32]) {
    let (ky, kx) = (tap / s.kw % s.kh, tap % s.kw);
    let (xs, first) = source_columns(kx, s);
    for (i, values) in src.chunks_exact(s.w_out).enumerate() {
        if let Some(iy) = source_row(first_row + i, ky, s) {
            let row = &mut plane[iy * s.w..][..s.w];
            let values = &values[xs.clone()];
            if s.stride[1] == 1 {
                // Slices of equal length, so the loop is vectorised.
                let targets = &mut row[first..first + values.len()];
                targets.iter_mut().zip(values).for_each(|(t, v)| *t += v);
            } else {
                let targets = row[first..].iter_mut().step_by(s.stride[1]);
                targets.zip(values).for_each(|(t, v)| *t += v);
            }
        }
    }
}

/// The input row that output row `oy` reads through kernel row `ky`, if it
/// is not padding.
fn source_row(oy: usize, ky: usize, s: &Shape) -> Option<usize> {
    (oy * s.stride[0] + ky * s.dilation[0])
        .checked_sub(s.top)
        .filter(|&iy| iy < s.h)
}

/// The output columns whose tap `kx` falls inside the input, and the input
/// column the first of them reads (the rest follow at the stride).
fn source_columns(kx: usize, s: &Shape) -> (std::ops::Range<usize>, usize) {
    let (sx, shift) = (s.stride[1], kx * s.dilation[1]);
    // Output column ox reads padded column ox·sx + shift, input column
    // ox·sx + shift − left.
    let start = s.left.saturating_sub(shift).div_ceil(sx);
    let end = (s.w + s.left)
        .checked_sub(shift)
        .map_or(0, |limit| limit.div_ceil(sx))
        .min(s.w_out);
    let start = start.min(end);
    (start..end, (start * sx + shift).saturating_sub(s.left))
}

/// An NCHW tensor's values for a tile as a `[channels][columns]` matrix:
/// a view into the tensor when the tile is within one picture, else a
/// gathered copy.
enum TileMatrix<'a> {
    View(&'a [f32], [usize; 2]),
    Copy(Vec<f32>),
}

impl TileMatrix<'_> {
    fn of<'a>(values: &'a [f32], channels: usize, s: &Shape, tile: Tile) -> TileMatrix<'a> {
        let pixels = s.h_out * s.w_out;
        let picture = channels * pixels;
        let span = tile.rows * s.w_out;
        if tile.pictures == 1 {
            let start = tile.first_picture * picture + tile.first_row * s.w_out;
            return TileMatrix::View(&values[start..], [pixels, 1]);
        }
        let columns = tile.columns(s);
        let mut out = vec![0f32; channels * columns];
        out.par_chunks_exact_mut(columns)
            .enumerate()
            .for_each(|(c, row)| {
                for (i, dst) in row.chunks_exact_mut(span).enumerate() {
                    let b = tile.first_picture + i;
                    dst.copy_from_slice(&values[b * picture + c * pixels..][..span]);
                }
            });
        TileMatrix::Copy(out)
    }

    fn matrix(&self, columns: usize) -> (&[f32], [usize; 2]) {
        match self {
            TileMatrix::View(values, strides) => (values, *strides),
            TileMatrix::Copy(values) => (values, [columns, 1]),
        }
    }
}

/// The forward pass, `[batch, c_out, h_out, w_out]`.
pub(super) fn forward(input: &[f32], weight: &[f32], bias: &[f32], s: &Shape) -> Vec<f32> {
    let taps = s.c_in * s.kh * s.kw;
    let pixels = s.h_out * s.w_out;
    assert_eq!(input.len(), s.batch * s.c_in * s.h * s.w, "input size");
    assert_eq!(weight.len(), s.c_out * taps, "weight size");
    assert_eq!(bias.len(), s.c_out, "bias size");
    let mut out = vec![0f32; s.batch * s.c_out * pixels];
    let mut cols = Vec::new();
    for tile in tiles(s, TILE_BYTES, 1) {
        let columns = tile.columns(s);
        cols.resize(taps * columns, 0.0);
        unfold(input, s, tile, &mut cols, true);
        let product = [s.c_out, taps, columns];
        let (weight, cols) = ((weight, [taps, 1]), (&cols[..], [columns, 1]));
        let span = tile.rows * s.w_out;
        if tile.pictures == 1 {
            let start = tile.first_picture * s.c_out * pixels + tile.first_row * s.w_out;
            gemm(
                product,
                weight,
                cols,
                (&mut out[start..], [pixels, 1]),
                false,
                true,
            );
            let planes = out[tile.first_picture * s.c_out * pixels..].chunks_mut(pixels);
            for (plane, &b) in planes.zip(bias) {
                let outputs = &mut plane[tile.first_row * s.w_out..][..span];
                outputs.iter_mut().for_each(|v| *v += b);
            }
        } else {
            let mut product_values = vec![0f32; s.c_out * columns];
            gemm(
                product,
                weight,
                cols,
                (&mut product_values, [columns, 1]),
                false,
                true,
            );
            let first = tile.first_picture * s.c_out * pixels;
            out[first..][..tile.pictures * s.c_out * pixels]
                .par_chunks_exact_mut(pixels)
                .enumerate()
                .for_each(|(plane, dst)| {
                    let (i, co) = (plane / s.c_out, plane % s.c_out);
                    let src = &product_values[co * columns + i * span..][..span];
                    for (d, v) in dst.iter_mut().zip(src) {
                        *d = v + bias[co];
                    }
                });
        }
    }
    out
}

/// The input's gradient, `[batch, c_in, h, w]`, from the output's.
pub(super) fn input_gradient(weight: &[f32], grad: &[f32], s: &Shape) -> Vec<f32> {
    let taps_per_channel = s.kh * s.kw;
    let taps = s.c_in * taps_per_channel;
    let plane = s.h * s.w;
    assert_eq!(weight.len(), s.c_out * taps, "weight size");
    assert_eq!(
        grad.len(),
        s.batch * s.c_out * s.h_out * s.w_out,
        "gradient size"
    );
    let mut dx = vec![0f32; s.batch * s.c_in * plane];
    let mut dcols = Vec::new();
    for tile in tiles(s, TILE_BYTES, 1) {
        let columns = tile.columns(s);
        dcols.resize(taps * columns, 0.0);
        let g = TileMatrix::of(grad, s.c_out, s, tile);
        gemm(
            [taps, s.c_out, columns],
            (weight, [1, taps]),
            g.matrix(columns),
            (&mut dcols, [columns, 1]),
            false,
            true,
        );
        let span = tile.rows * s.w_out;
        let first = tile.first_picture * s.c_in * plane;
        dx[first..][..tile.pictures * s.c_in * plane]
            .par_chunks_exact_mut(plane)
            .enumerate()
            .for_each(|(i, dst)| {
                let (picture, ci) = (i / s.c_in, i % s.c_in);
                for tap in ci * taps_per_channel..(ci + 1) * taps_per_channel {
                    let src = &dcols[tap * columns + picture * span..][..span];
                    fold_tap(src, s, tap, tile.first_row, dst);
                }
            });
    }
    dx
}

/// The weights' gradient, `[c_out, c_in, kh, kw]`, from the output's.
/// Its GEMM is `c_out × taps`, often too small to share out inside, so
/// with a tile per thread or more the tiles are split into one run per
/// thread, each summing into its own `dW`; the runs are then added in
/// order, so the result does not depend on scheduling.
pub(super) fn weight_gradient(input: &[f32], grad: &[f32], s: &Shape) -> Vec<f32> {
    let taps = s.c_in * s.kh * s.kw;
    assert_eq!(input.len(), s.batch * s.c_in * s.h * s.w, "input size");
    assert_eq!(
        grad.len(),
        s.batch * s.c_out * s.h_out * s.w_out,
        "gradient size"
    );
    let threads = rayon::current_num_threads().max(1);
    let tiles = tiles(s, WEIGHT_GRADIENT_TILE_BYTES, threads);
    let run = |tiles: &[Tile], parallel: bool| {
        let mut dw = vec![0f32; s.c_out * taps];
        let mut cols = Vec::new();
        for (n, &tile) in tiles.iter().enumerate() {
            let columns = tile.columns(s);
            cols.resize(taps * columns, 0.0);
            unfold(input, s, tile, &mut cols, parallel);
            let g = TileMatrix::of(grad, s.c_out, s, tile);
            gemm(
                [s.c_out, columns, taps],
                g.matrix(columns),
                (&cols, [1, columns]),
                (&mut dw, [taps, 1]),
                n > 0,
                parallel,
            );
        }
        dw
    };
    if tiles.len() < threads {
        return run(&tiles, true);
    }
    let runs: Vec<Vec<f32>> = tiles
        .par_chunks(tiles.len().div_ceil(threads))
        .map(|tiles| run(tiles, false))
        .collect();
    let mut runs = runs.into_iter();
    let mut dw = runs.next().expect("one run at least");
    for run in runs {
        dw.iter_mut().zip(&run).for_each(|(x, y)| *x += y);
    }
    dw
}
