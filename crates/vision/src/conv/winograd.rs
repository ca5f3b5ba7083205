//! Winograd's minimal filtering F(4×4, 3×3) (Lavin & Gray, "Fast
//! Algorithms for Convolutional Neural Networks", 2016) for 3×3
//! convolutions with stride 1 and no dilation: the forward pass and the
//! input's gradient.
//!
//! The output is cut into 4×4 tiles; each reads a 6×6 tile of the input.
//! With the input tile `d`, the kernel `g` and the constant matrices `Bᵀ`
//! (6×6), `G` (6×3) and `Aᵀ` (4×6) below, one output tile is
//! `Aᵀ [Σ_ci (G g Gᵀ) ⊙ (Bᵀ d B)] A`: the 36 points of the transformed
//! tiles are independent, so each is one GEMM of the transformed weights
//! (`c_out × c_in`) by the transformed input tiles (`c_in × tiles`). That
//! is 36 multiplications per 16 outputs and input channel where im2col +
//! GEMM does 144: wide 3×3 layers (VGG, ResNet, the day/night CNN) run on
//! a quarter of the multiply-adds, plus the transforms.
//!
//! * forward: `Y = Aᵀ [U ⊙ V] A` with `U = G g Gᵀ`, `V = Bᵀ d B`;
//! * input gradient: a forward pass of the output's gradient with the
//!   kernels flipped and their channels swapped ([`super::transposed`]).
//! * inference may ask the forward pass to pad by reflection (the input
//!   transform reads mirrored rows and columns) and to apply a ReLU (the
//!   output transform does as it writes): [`super::Fusion`]. Each saves a
//!   pass over the whole activation (AdaIN's decoder: 32 × 512² floats).
//!
//! The weights' gradient has the same form read the other way,
//! `dW = Gᵀ [Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)] G`. Written and tested, it was
//! slower than the GEMM's on the cases' layers (day/night block 4, a
//! training pass: 7.1 against 5.7 ms), but with transforms 2–3× slower
//! than these: worth trying again.
//!
//! The transforms' coefficients (up to 8, and 1/24) cost some rounding:
//! results agree with a direct sum to within ~1e-5 of the
//! outputs' scale (tested against burn's convolution). Tiles are taken in
//! runs of whole tile rows whose transformed values fit in
//! [`CHUNK_BYTES`], or more where the weights are large (see
//! [`Tiling::new`]); the 36 GEMMs of a run go to the threads one each,
//! so every sum is added in a fixed order.
//!
//! The transforms work on 8 tiles at once, one per lane of an AVX2
//! vector, and are written out in full (macros [`three`] and [`six`], not
//! closures or zero-filled arrays): each took ~3× longer as generic code
//! that the compiler did not inline into the AVX2 functions.

use super::gemm::gemm;
use super::Shape;
use rayon::prelude::*;
use std::cell::Cell;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::thread::LocalKey;

/// Outputs per tile side.
const M: usize = 4;
/// Inputs per tile side (`M + 3 − 1`).
const ALPHA: usize = 6;
/// Points of a transformed tile: one GEMM each.
const POINTS: usize = ALPHA * ALPHA;
/// Tiles (or kernels) transformed together, one per SIMD lane.
const LANES: usize = 8;
/// Bytes of transformed tiles (input and output side) one run holds, where
/// the weights allow. Runs go to one thread each; 512 KB (half a tile row
/// at 512² and 32 channels) measured no faster than this on the AdaIN
/// layers, nor 4 MB slower (`bench/conv.sh adain`).
const CHUNK_BYTES: usize = 2 << 20;

type Lanes = [f32; LANES];

/// The distance between two points' values, for `len` values each: `len`
/// rounded up to whole cache lines, and an odd number of lines, so the 36
/// streams of a transform fall in 36 different sets of the L1 cache. When
/// the distance was a multiple of 4 KB (as `c_out × tiles` often is), the
/// 36 loads of the output transform all fell in one set of an 8-way cache
/// and evicted each other (AdaIN's 32 → 64 layer at 256²: 9.2–9.5 → 7.4–8.3
/// ms over three alternations; others within the noise).
fn spread(len: usize) -> usize {
    16 * (len.div_ceil(16) | 1)
}

/// Whether this module computes `s`'s convolution: 3×3 kernels, stride 1,
/// no dilation, padding below 3 (so the input's gradient is a convolution
/// of the same kind).
pub(super) fn serves(s: &Shape) -> bool {
    s.kh == 3 && s.kw == 3 && s.transposable()
}

/// Lane-wise `f(lane)`: 8 tiles (or kernels) at once.
#[inline(always)]
fn lanes(f: impl Fn(usize) -> f32) -> Lanes {
    // A plain loop rather than `array::from_fn`, which is not always
    // inlined, and then copies every array through memory.
    let mut o = [0f32; LANES];
    for (l, o) in o.iter_mut().enumerate() {
        *o = f(l);
    }
    o
}

/// `[e, e, …]` with `e` an expression in `$i`, for `$i` = 0, 1, …: written
/// out, so there is no closure to inline (one that is not inlined runs
/// without AVX2) and no zero-filled array to overwrite.
macro_rules! three {
    ($i:ident => $e:expr) => {
        [
            {
                let $i = 0;
                $e
            },
            {
                let $i = 1;
                $e
            },
            {
                let $i = 2;
                $e
            },
        ]
    };
}
macro_rules! six {
    ($i:ident => $e:expr) => {
        [
            {
                let $i = 0;
                $e
            },
            {
                let $i = 1;
                $e
            },
            {
                let $i = 2;
                $e
            },
            {
                let $i = 3;
                $e
            },
            {
                let $i = 4;
                $e
            },
            {
                let $i = 5;
                $e
            },
        ]
    };
}

/// `Bᵀ x` for a column of 6 input values.
#[inline(always)]
fn bt(x: [Lanes; ALPHA]) -> [Lanes; ALPHA] {
    let [x0, x1, x2, x3, x4, x5] = x;
    [
        lanes(|l| 4.0 * x0[l] - 5.0 * x2[l] + x4[l]),
        lanes(|l| -4.0 * (x1[l] + x2[l]) + x3[l] + x4[l]),
        lanes(|l| 4.0 * (x1[l] - x2[l]) - x3[l] + x4[l]),
        lanes(|l| 2.0 * (x3[l] - x1[l]) - x2[l] + x4[l]),
        lanes(|l| 2.0 * (x1[l] - x3[l]) - x2[l] + x4[l]),
        lanes(|l| 4.0 * x1[l] - 5.0 * x3[l] + x5[l]),
    ]
}

/// `Aᵀ x`: 6 transformed values back to 4 outputs.
#[inline(always)]
fn at(x: [Lanes; ALPHA]) -> [Lanes; M] {
    let [x0, x1, x2, x3, x4, x5] = x;
    let p12 = lanes(|l| x1[l] + x2[l]);
    let m12 = lanes(|l| x1[l] - x2[l]);
    let p34 = lanes(|l| x3[l] + x4[l]);
    let m34 = lanes(|l| x3[l] - x4[l]);
    [
        lanes(|l| x0[l] + p12[l] + p34[l]),
        lanes(|l| m12[l] + 2.0 * m34[l]),
        lanes(|l| p12[l] + 4.0 * p34[l]),
        lanes(|l| m12[l] + 8.0 * m34[l] + x5[l]),
    ]
}

/// `G x`: 3 kernel taps to 6 transformed values.
#[inline(always)]
fn g(x: [Lanes; 3]) -> [Lanes; ALPHA] {
    let [g0, g1, g2] = x;
    let outer = lanes(|l| g0[l] + g2[l]);
    let outer4 = lanes(|l| g0[l] + 4.0 * g2[l]);
    [
        lanes(|l| g0[l] / 4.0),
        lanes(|l| -(outer[l] + g1[l]) / 6.0),
        lanes(|l| -(outer[l] - g1[l]) / 6.0),
        lanes(|l| (outer4[l] + 2.0 * g1[l]) / 24.0),
        lanes(|l| (outer4[l] - 2.0 * g1[l]) / 24.0),
        g2,
    ]
}

/// Defines `fn $name(args)`, which runs `$body(args)` compiled for AVX2
/// and FMA where the CPU has them, so the lane-wise arithmetic of the
/// transforms becomes one 8-lane instruction each (`$body` must be
/// `#[inline(always)]`).
macro_rules! simd_fn {
    ($name:ident => $body:ident($($arg:ident: $ty:ty),* $(,)?)) => {
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if super::has_fma() {
                    // SAFETY: the CPU has AVX2 and FMA (checked by `has_fma`).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

/// The tiling of one convolution's output.
#[derive(Debug, Clone, Copy)]
struct Tiling {
    /// Tiles across a row and down a picture.
    across: usize,
    down: usize,
    /// Tile rows (of the whole batch) per run.
    rows_per_run: usize,
}

impl Tiling {
    fn new(s: &Shape) -> Self {
        let across = s.w_out.div_ceil(M);
        let down = s.h_out.div_ceil(M);
        let row_bytes = POINTS * (s.c_in + s.c_out) * across * 4;
        // Each run's GEMMs read all the transformed weights (`c_out × c_in`
        // per point) and its tiles' values (`c_in + c_out` per tile and
        // point): enough tiles that the weights are a small part of that.
        let min_tiles = 4 * s.c_in * s.c_out / (s.c_in + s.c_out);
        let rows_per_run = (CHUNK_BYTES / row_bytes)
            .max(min_tiles.div_ceil(across))
            .clamp(1, s.batch * down);
        Self {
            across,
            down,
            rows_per_run,
        }
    }

    /// The runs of tile rows, as ranges of `0..batch · down`.
    fn runs(&self, s: &Shape) -> impl Iterator<Item = Range<usize>> {
        let (rows, per_run) = (s.batch * self.down, self.rows_per_run);
        (0..rows)
            .step_by(per_run)
            .map(move |first| first..(first + per_run).min(rows))
    }

    /// Length of one phase of a row (see [`Phases`]): whole lane groups
    /// of tiles, and the next tile's first columns.
    fn phase_len(&self) -> usize {
        self.across.div_ceil(LANES) * LANES + 1
    }
}

/// Rows of a plane split into the 4 phases of their columns: phase `p`
/// of row `i` holds columns `p, p + 4, p + 8, …`, so tile `x`'s column `j`
/// is at `[i][j % 4][x + j / 4]` and 8 tiles' values load as one vector.
/// Columns in the padding are zero: they are zeroed once, here, and never
/// written, as every row of a convolution has its values in the same
/// columns.
struct Phases {
    values: Vec<f32>,
    len: usize,
    /// Rows, and the columns that [`Phases::fill_row`] writes: another
    /// convolution of the same rows and columns can reuse these phases.
    shape: Columns,
}

thread_local! {
    /// Each thread's last phases, reused by its next channel or layer of
    /// the same shape (they were zeroed anew per channel: 4k times a layer).
    static PHASES: Cell<Option<Phases>> = const { Cell::new(None) };
    /// Each thread's transformed tiles and products, grown to the largest
    /// run it has met, so runs and layers neither allocate nor zero them.
    static TILES: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    static PRODUCTS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `work` with this thread's buffer `key`, taken out and put back:
/// a thread that takes up another run while it waits inside this one
/// (rayon steals work in its joins) finds the buffer gone and works in a
/// new one.
fn with_buffer<T, R>(key: &'static LocalKey<Cell<T>>, work: impl FnOnce(&mut T) -> R) -> R
where
    T: Default,
{
    let mut buffer = key.take();
    let result = work(&mut buffer);
    key.set(buffer);
    result
}

/// The first `len` values of `buffer`, grown to hold them if it must:
/// never shrunk, so a buffer reused for smaller layers is not zeroed anew
/// when they grow back (its values are written before they are read).
fn at_least(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

/// The columns of a row of [`Phases`] that its input fills: the input's
/// `width` values from column `offset` on, and with reflection padding
/// (`reflect`) the `offset` columns before them and `after` columns after
/// them, mirrored (without repeating the edge). The others stay zero.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Columns {
    rows: usize,
    offset: usize,
    width: usize,
    after: usize,
    reflect: bool,
}

impl Columns {
    fn of(s: &Shape, rows: usize) -> Self {
        Self {
            rows,
            offset: s.left,
            width: s.w,
            after: s.right,
            reflect: s.reflect,
        }
    }
}

impl Phases {
    /// Zeroed phases for `columns.rows` rows of `t`'s tiling.
    fn new(t: &Tiling, columns: Columns) -> Self {
        let len = t.phase_len();
        Self {
            values: vec![0f32; columns.rows * M * len],
            len,
            shape: columns,
        }
    }

    /// Runs `work` with this thread's phases when they have this shape,
    /// else with new ones (see [`Phases::new`]).
    fn with(t: &Tiling, columns: Columns, work: impl FnOnce(&mut Self)) {
        with_buffer(&PHASES, |kept| {
            let fits = kept
                .as_ref()
                .is_some_and(|p| p.len == t.phase_len() && p.shape == columns);
            if !fits {
                *kept = Some(Self::new(t, columns));
            }
            work(kept.as_mut().expect("phases made above"));
        });
    }

    /// Fills row `i` from `line` (zeros where `None`), whose value `x` is
    /// column `x + offset`, and which is `width` long; with reflection, the
    /// columns around it too.
    #[inline(always)]
    fn fill_row(&mut self, i: usize, line: Option<&[f32]>) {
        let Columns {
            offset,
            width,
            after,
            reflect,
            ..
        } = self.shape;
        let row = &mut self.values[i * M * self.len..][..M * self.len];
        let end = (offset + width).min(M * self.len);
        let (p0, rest) = row.split_at_mut(self.len);
        let (p1, rest) = rest.split_at_mut(self.len);
        let (p2, p3) = rest.split_at_mut(self.len);
        let phases = [p0, p1, p2, p3];
        let Some(line) = line else {
            let written = if reflect {
                0..(end + after).min(M * self.len)
            } else {
                offset..end
            };
            for column in written {
                phases[column % M][column / M] = 0.0;
            }
            return;
        };
        if reflect {
            for k in 1..=offset {
                phases[(offset - k) % M][(offset - k) / M] = line[k];
            }
            for k in (0..after).filter(|k| end + k < M * self.len) {
                phases[(end + k) % M][(end + k) / M] = line[width - 2 - k];
            }
        }
        // Whole groups of 4 columns inside the line, one per phase: a
        // pattern the compiler turns into vector shuffles; the columns
        // before and after them one by one.
        let (first, last) = (offset.div_ceil(M), end / M);
        for column in (offset..first * M).chain(last.max(first) * M..end) {
            phases[column % M][column / M] = line[column - offset];
        }
        let [p0, p1, p2, p3] = phases;
        for q in first..last {
            let quad = &line[q * M - offset..][..M];
            p0[q] = quad[0];
            p1[q] = quad[1];
            p2[q] = quad[2];
            p3[q] = quad[3];
        }
    }

    /// Column `j` (below 6) of tiles `first..first + 8` in row `i`.
    #[inline(always)]
    fn load(&self, i: usize, j: usize, first: usize) -> Lanes {
        let at = (i * M + j % M) * self.len + first + j / M;
        self.values[at..at + LANES].try_into().expect("8 lanes")
    }
}

/// Stores the `valid` first lanes of each point of a transformed tile
/// group at `first` in `[point][tiles]`.
#[inline(always)]
fn store_points(points: &[Lanes], dst: &mut [f32], tiles: usize, first: usize, valid: usize) {
    for (point, value) in points.iter().enumerate() {
        let at = point * tiles + first;
        if valid == LANES {
            // A fixed length: one vector store, not a call to `memcpy`.
            let lanes: &mut Lanes = (&mut dst[at..at + LANES]).try_into().expect("8 lanes");
            *lanes = *value;
        } else {
            dst[at..at + valid].copy_from_slice(&value[..valid]);
        }
    }
}

/// The input row that row `padded` of the padded input shows (`None`: a
/// zero row).
#[inline(always)]
fn source_row(padded: usize, s: &Shape) -> Option<usize> {
    let y = padded.wrapping_sub(s.top);
    if y < s.h {
        Some(y)
    } else if !s.reflect {
        None
    } else if padded < s.top {
        Some(s.top - padded)
    } else {
        // Below the input: mirrored while inside the padding, else zeros
        // (rows only tiles past the output's last row read).
        let below = y - s.h;
        (below < s.bottom).then(|| s.h - 2 - below)
    }
}

/// `Bᵀ d B` for every input channel and tile of a run of tile rows, into
/// `v` laid out `[c_in][point][tile]`.
fn transform_input(input: &[f32], s: &Shape, t: &Tiling, run: Range<usize>, v: &mut Vec<f32>) {
    let stride = spread(run.len() * t.across);
    v.resize(s.c_in * POINTS * stride, 0.0);
    let picture = s.c_in * s.h * s.w;
    let columns = Columns::of(s, t.rows_per_run.min(t.down) * M + ALPHA - M);
    v.par_chunks_exact_mut(POINTS * stride)
        .enumerate()
        .for_each(|(c, v)| {
            Phases::with(t, columns, |phases| {
                let planes = &input[c * s.h * s.w..];
                input_channel(planes, picture, s, t, run.clone(), phases, v);
            });
        });
}

simd_fn!(input_channel => input_channel_body(
    planes: &[f32], picture: usize, s: &Shape, t: &Tiling, run: Range<usize>,
    phases: &mut Phases, v: &mut [f32],
));

/// [`transform_input`] for one channel, whose plane in picture `b` starts
/// at `planes[b · picture]`.
#[inline(always)]
fn input_channel_body(
    planes: &[f32],
    picture: usize,
    s: &Shape,
    t: &Tiling,
    run: Range<usize>,
    phases: &mut Phases,
    v: &mut [f32],
) {
    let stride = spread(run.len() * t.across);
    // The run's tile rows picture by picture: each input row is split into
    // phases once, though tiles overlap by 2 rows.
    let mut row = run.start;
    while row < run.end {
        let (b, first_ty) = (row / t.down, row % t.down);
        let rows = ((b + 1) * t.down).min(run.end) - row;
        let plane = &planes[b * picture..][..s.h * s.w];
        // Input rows first_ty·4 − top on, zero outside the picture (or
        // mirrored into it, with reflection padding).
        for i in 0..rows * M + ALPHA - M {
            let line = source_row(first_ty * M + i, s).map(|y| &plane[y * s.w..][..s.w]);
            phases.fill_row(i, line);
        }
        for k in 0..rows {
            for group in (0..t.across).step_by(LANES) {
                let valid = LANES.min(t.across - group);
                let first = (row - run.start + k) * t.across + group;
                // `Bᵀ d` column by column, then `(Bᵀ d) B` row by row.
                let columns = six!(j => bt(six!(i => phases.load(k * M + i, j, group))));
                for i in 0..ALPHA {
                    let row = bt(six!(j => columns[j][i]));
                    store_points(&row, &mut v[i * ALPHA * stride..], stride, first, valid);
                }
            }
        }
        row += rows;
    }
}

/// `G g Gᵀ` for every kernel, laid out `[c_out][point][c_in]`.
fn transform_weights(weight: &[f32], s: &Shape) -> Vec<f32> {
    let mut u = vec![0f32; s.c_out * POINTS * s.c_in];
    u.par_chunks_exact_mut(POINTS * s.c_in)
        .zip(weight.par_chunks_exact(s.c_in * 9))
        .for_each(|(u, weight)| output_channel_weights(weight, u));
    u
}

simd_fn!(output_channel_weights => output_channel_weights_body(weight: &[f32], u: &mut [f32]));

/// [`transform_weights`] for one output channel's kernels.
#[inline(always)]
fn output_channel_weights_body(weight: &[f32], u: &mut [f32]) {
    let c_in = weight.len() / 9;
    for first in (0..c_in).step_by(LANES) {
        let valid = LANES.min(c_in - first);
        let taps = |i: usize, j: usize| {
            lanes(|l| {
                if l < valid {
                    weight[(first + l) * 9 + i * 3 + j]
                } else {
                    0.0
                }
            })
        };
        let columns = three!(j => g(three!(i => taps(i, j))));
        for i in 0..ALPHA {
            let row = g(three!(j => columns[j][i]));
            store_points(&row, &mut u[i * ALPHA * c_in..], c_in, first, valid);
        }
    }
}

/// The forward pass, `[batch, c_out, h_out, w_out]` (no bias when `bias`
/// is `None`), through a ReLU when `relu`.
///
/// Runs go to the threads whole: a run's tiles are transformed, multiplied
/// and transformed back by the core whose cache holds them, and the
/// threads meet once per layer rather than three times per run (the AdaIN
/// encoder's 32 → 32 layer at 512² has 128 runs: 32.6 → 19.3 ms,
/// `bench/conv.sh adain`). The loops within a run are parallel too, for
/// layers with fewer runs than threads; a thread busy with its own run
/// takes its pieces itself. Every GEMM still runs on one thread, so sums
/// are added in a fixed order.
pub(super) fn forward(
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    s: &Shape,
    relu: bool,
) -> Vec<f32> {
    assert!(serves(s), "not a 3×3 stride-1 convolution");
    assert_eq!(input.len(), s.batch * s.c_in * s.h * s.w, "input size");
    assert_eq!(weight.len(), s.c_out * s.c_in * 9, "weight size");
    assert!(bias.is_none_or(|b| b.len() == s.c_out), "bias size");
    let t = Tiling::new(s);
    let u = transform_weights(weight, s);
    // Not zeroed first: every value is written once below (a zeroed
    // output cost a pass over up to 32 MB per layer).
    let len = s.batch * s.c_out * s.h_out * s.w_out;
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let runs: Vec<Range<usize>> = t.runs(s).collect();
    let shares = run_shares(&mut out.spare_capacity_mut()[..len], s, &t, &runs);
    runs.into_par_iter().zip(shares).for_each(|(run, shares)| {
        with_buffer(&TILES, |v| {
            with_buffer(&PRODUCTS, |products| {
                let buffers = RunBuffers { v, products };
                let finish = Finish { bias, relu };
                forward_run(input, &u, finish, s, &t, run, shares, buffers);
            })
        })
    });
    // SAFETY: the shares cover every output plane whole (`run_shares`),
    // and `output_plane` writes every row and column of its share.
    unsafe { out.set_len(len) };
    out
}

/// What the output transform adds: the bias, and a ReLU.
#[derive(Clone, Copy)]
struct Finish<'a> {
    bias: Option<&'a [f32]>,
    relu: bool,
}

/// A thread's working space for its runs: the transformed tiles and their
/// products with the transformed weights.
struct RunBuffers<'a> {
    v: &'a mut Vec<f32>,
    products: &'a mut Vec<f32>,
}

/// One run of [`forward`]: its tiles transformed, multiplied by the
/// transformed weights `u`, and transformed back into its shares of the
/// output planes.
#[allow(clippy::too_many_arguments)]
fn forward_run(
    input: &[f32],
    u: &[f32],
    finish: Finish,
    s: &Shape,
    t: &Tiling,
    run: Range<usize>,
    shares: Vec<PlaneShare>,
    RunBuffers { v, products }: RunBuffers,
) {
    let tiles = run.len() * t.across;
    transform_input(input, s, t, run.clone(), v);
    // The output transform always loads a group's 8 lanes whole (one
    // vector, no branch per lane); past a row's last tile they read the
    // next row's, or this padding, and their results are dropped.
    let (v_stride, product_stride) = (spread(tiles), spread(s.c_out * tiles));
    let products = at_least(products, POINTS * product_stride + LANES);
    // One GEMM per point: `[c_out][tiles] = U · V`.
    products
        .par_chunks_exact_mut(product_stride)
        .enumerate()
        .for_each(|(point, dst)| {
            gemm(
                [s.c_out, s.c_in, tiles],
                (&u[point * s.c_in..], [POINTS * s.c_in, 1]),
                (&v[point * v_stride..], [POINTS * v_stride, 1]),
                (&mut dst[..s.c_out * tiles], [tiles, 1]),
                false,
                false,
            );
        });
    // `Aᵀ [·] A` per output plane of the run's pictures.
    shares.into_par_iter().for_each(|share| {
        let bias = finish.bias.map_or(0.0, |bias| bias[share.channel]);
        output_plane(&*products, s, t, run.clone(), share, bias, finish.relu);
    });
}

/// The output rows of one plane that one run writes: its channel, the
/// run's tile rows that fall in the plane's picture, and those rows of the
/// plane (from the first tile row's first output row on).
struct PlaneShare<'a> {
    channel: usize,
    rows: Range<usize>,
    dst: &'a mut [MaybeUninit<f32>],
}

/// `out` cut into each run's shares of the output planes, run by run: the
/// runs cover disjoint tile rows, so their shares are disjoint slices.
fn run_shares<'a>(
    out: &'a mut [MaybeUninit<f32>],
    s: &Shape,
    t: &Tiling,
    runs: &[Range<usize>],
) -> Vec<Vec<PlaneShare<'a>>> {
    let mut shares: Vec<Vec<PlaneShare>> = runs.iter().map(|_| Vec::new()).collect();
    for (p, mut plane) in out.chunks_exact_mut(s.h_out * s.w_out).enumerate() {
        let (b, channel) = (p / s.c_out, p % s.c_out);
        let picture = b * t.down..(b + 1) * t.down;
        for (r, run) in runs.iter().enumerate() {
            let rows = run.start.max(picture.start)..run.end.min(picture.end);
            if rows.is_empty() {
                continue;
            }
            let last_row = ((rows.end - picture.start) * M).min(s.h_out);
            let first_row = (rows.start - picture.start) * M;
            let (dst, rest) = plane.split_at_mut((last_row - first_row) * s.w_out);
            plane = rest;
            shares[r].push(PlaneShare { channel, rows, dst });
        }
    }
    shares
}

simd_fn!(output_plane => output_plane_body(
    products: &[f32], s: &Shape, t: &Tiling, run: Range<usize>, share: PlaneShare,
    added: f32, relu: bool,
));

/// `Aᵀ [·] A` plus `added` (the bias), through a ReLU when `relu`, for one
/// plane's share of a run, from the run's products (`[point][c_out][tile]`).
#[inline(always)]
fn output_plane_body(
    products: &[f32],
    s: &Shape,
    t: &Tiling,
    run: Range<usize>,
    share: PlaneShare,
    added: f32,
    relu: bool,
) {
    let finish = |x: f32| if relu { super::relu(x) } else { x };
    let tiles = run.len() * t.across;
    let product_stride = spread(s.c_out * tiles);
    let (co, dst) = (share.channel, share.dst);
    let first_ty = share.rows.start % t.down;
    for row in share.rows {
        let ty = row % t.down;
        for group in (0..t.across).step_by(LANES) {
            let valid = LANES.min(t.across - group);
            let first = co * tiles + (row - run.start) * t.across + group;
            let points = |i: usize, j: usize| (i * ALPHA + j) * product_stride + first;
            let load =
                |at: usize| -> Lanes { products[at..at + LANES].try_into().expect("8 lanes") };
            let columns = six!(j => at(six!(i => load(points(i, j)))));
            // `i` picks the same row of all six columns.
            #[allow(clippy::needless_range_loop)]
            for i in 0..M {
                let oy = ty * M + i;
                if oy >= s.h_out {
                    break;
                }
                let line = at(six!(j => columns[j][i]));
                let x0 = group * M;
                let y = oy - first_ty * M;
                let dst = &mut dst[y * s.w_out + x0..(y + 1) * s.w_out];
                // Tile `l`'s 4 outputs are columns 4l..4l + 4: a 4 × 8
                // transpose, with a fixed length when the group is whole.
                if let Some(whole) = dst.first_chunk_mut::<{ LANES * M }>() {
                    for (l, tile) in whole.chunks_exact_mut(M).enumerate() {
                        for (j, d) in tile.iter_mut().enumerate() {
                            d.write(finish(line[j][l] + added));
                        }
                    }
                } else {
                    for (x, d) in dst.iter_mut().take(valid * M).enumerate() {
                        d.write(finish(line[x % M][x / M] + added));
                    }
                }
            }
        }
    }
}

/// The input's gradient, `[batch, c_in, h, w]`, from the output's: the
/// forward pass of the transposed convolution.
pub(super) fn input_gradient(weight: &[f32], grad: &[f32], s: &Shape) -> Vec<f32> {
    let (flipped, transposed) = super::transposed(weight, s);
    forward(grad, &flipped, None, &transposed, false)
}
