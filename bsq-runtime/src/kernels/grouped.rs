//! Fast grouped 2-D convolution, depthwise included (contract: [`crate::reference::grouped_conv2d`]).
//!
//! Two paths, chosen by the shape ([`grouped_path`]); the depthwise one uses DSP instructions on cores that
//! have them (`UXTB16` + `SMLABB`/`SMLATT`, `dot_lanes_dsp`):
//!
//! * **Depthwise** (`in_c / groups = 1` and `out_c / groups = 1`, i.e. `groups = in_c = out_c`, at least
//!   [`DEPTHWISE_LANES`] channels): the rows of [`DEPTHWISE_LANES`] adjacent channels are decoded once and interleaved in the
//!   scratch (`w[e·DEPTHWISE_LANES + k]` for window element `e`, lane `k`) and kept there while every output pixel of
//!   those channels is computed. Per output pixel and valid window element the [`DEPTHWISE_LANES`] activations are
//!   adjacent bytes of one HWC pixel, so the inner loop reads one pixel's `DEPTHWISE_LANES` bytes and `DEPTHWISE_LANES` weights
//!   and does `DEPTHWISE_LANES` multiply-adds, with the pixel stride `in_c` as its only pointer step. The last block
//!   of channels overlaps the one before it when `in_c` is not a multiple of [`DEPTHWISE_LANES`] (its channels are
//!   computed twice, with the same bytes).
//! * **General** (every other grouped shape: several input channels per group, a channel multiplier
//!   `out_c / groups > 1`, fewer than [`DEPTHWISE_LANES`] channels): one output channel at a time, its row decoded
//!   once into the scratch; per output pixel and valid window element the group's `in_c / groups`
//!   contiguous input channels against the row's matching run of weights.
//!
//! In both paths the padding is clipped outside the inner loop (valid window rows per output row, valid
//! columns per pixel), the output stage of a channel is loaded once ([`Finish`]), and accumulation is
//! wrapping `i32` like the reference (the summation order differs; wrapping addition is associative and
//! commutative, so the bytes are the same). No `unsafe`, no heap, no panic path: slices are taken with
//! `get`, chunk sizes are at least 1.

use super::Finish;
use super::decode::{Decoders, decoders};
use crate::dsp::{load_le32, pair_word, smlabb, smlatt, uxtb16, uxtb16_ror8};
use crate::reference::{check_bits, check_conv, check_scratch};
use crate::{Error, GroupedConv2dShape, OutputStage, PackedWeights};
use core::hint::black_box;

/// Channels the depthwise path computes together (one block).
pub const DEPTHWISE_LANES: usize = 4;

/// The paths of the grouped convolution (see [`grouped_path`]).
pub mod grouped_paths {
    /// One output channel at a time, the group's input channels contiguous per window element.
    pub const GENERAL: u8 = 0;
    /// Depthwise, [`DEPTHWISE_LANES`](super::DEPTHWISE_LANES) adjacent channels per block.
    pub const DEPTHWISE: u8 = 1;
    /// Depthwise on cores with the DSP extension: the same blocks, each window element's 4 channels one
    /// word load, two `UXTB16` and 4 `SMLABB`/`SMLATT`.
    pub const DEPTHWISE_DSP: u8 = 2;
}

/// The path [`grouped_conv2d`] takes for `shape` on this target (depthwise shapes take
/// [`grouped_paths::DEPTHWISE_DSP`] on cores with the DSP extension, [`grouped_paths::DEPTHWISE`] elsewhere;
/// both need the same scratch).
pub const fn grouped_path(shape: &GroupedConv2dShape) -> u8 {
    if shape.group_in() == 1 && shape.group_out() == 1 && shape.in_c >= DEPTHWISE_LANES {
        if cfg!(bsq_dsp) { grouped_paths::DEPTHWISE_DSP } else { grouped_paths::DEPTHWISE }
    } else {
        grouped_paths::GENERAL
    }
}

/// Scratch (`i16` elements) [`grouped_conv2d`] needs for `shape`: `(DEPTHWISE_LANES + 1) · k_h·k_w` on the depthwise
/// path (the interleaved rows of a block and one row being decoded), `row_len` otherwise. Saturates
/// instead of overflowing.
pub const fn grouped_scratch_len(shape: &GroupedConv2dShape) -> usize {
    let row = shape.row_len();
    if grouped_path(shape) == grouped_paths::GENERAL { row } else { row.saturating_mul(DEPTHWISE_LANES + 1) }
}

/// Fast grouped (and depthwise) convolution; contract of [`crate::reference::grouped_conv2d`]. `scratch`
/// must hold at least [`grouped_scratch_len`]`(shape)` elements ([`Error::Length`] otherwise).
pub fn grouped_conv2d(
    shape: &GroupedConv2dShape,
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    output: &mut [u8],
) -> Result<(), Error> {
    grouped_with::<{ cfg!(bsq_dsp) }>(shape, input, weights, stage, scratch, output, decoders(weights.bits()))
}

/// The DSP-instruction grouped convolution: [`grouped_conv2d`] with the depthwise DSP path
/// ([`grouped_paths::DEPTHWISE_DSP`]) for depthwise shapes on every target. On cores without the DSP
/// extension it runs with portable models of the instructions (same bytes, slower): that is how the host
/// tests check it.
pub fn grouped_conv2d_dsp(
    shape: &GroupedConv2dShape,
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    output: &mut [u8],
) -> Result<(), Error> {
    grouped_with::<true>(shape, input, weights, stage, scratch, output, decoders(weights.bits()))
}

/// [`grouped_conv2d`] for `BITS`-bit weights only (0..=8): the same bytes, but only this width's weight
/// decoder is linked. Generated model code calls it. [`Error::Shape`] if `weights` have another width.
pub fn grouped_conv2d_bits<const BITS: u8>(
    shape: &GroupedConv2dShape,
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    output: &mut [u8],
) -> Result<(), Error> {
    check_bits(weights, BITS)?;
    grouped_with::<{ cfg!(bsq_dsp) }>(shape, input, weights, stage, scratch, output, decoders(BITS))
}

/// Geometry of one grouped convolution, validated.
#[derive(Clone, Copy)]
struct Geo {
    in_h: usize,
    in_w: usize,
    in_c: usize,
    out_c: usize,
    g_in: usize,
    g_out: usize,
    k_h: usize,
    k_w: usize,
    sh: usize,
    sw: usize,
    pad_top: usize,
    pad_left: usize,
    oh: usize,
    ow: usize,
}

impl Geo {
    /// Output row `y`: the first input row of its window (in padded coordinates) and the valid window
    /// rows `i0..i1`.
    #[inline(always)]
    fn rows(&self, y: usize) -> (usize, usize, usize) {
        let top = y * self.sh;
        (top, self.pad_top.saturating_sub(top), self.k_h.min((self.in_h + self.pad_top).saturating_sub(top)))
    }

    /// Output column `x`: the first input column (padded coordinates) and the valid window columns `j0..j1`.
    #[inline(always)]
    fn cols(&self, x: usize) -> (usize, usize, usize) {
        let left = x * self.sw;
        (left, self.pad_left.saturating_sub(left), self.k_w.min((self.in_w + self.pad_left).saturating_sub(left)))
    }

    /// Index of the first byte of input pixel (`iy`, `ix`) (unpadded coordinates).
    #[inline(always)]
    fn pixel(&self, iy: usize, ix: usize) -> usize {
        (iy * self.in_w + ix) * self.in_c
    }
}

/// The checks, then the path (the DSP depthwise path for depthwise shapes when `DSP`).
fn grouped_with<const DSP: bool>(
    shape: &GroupedConv2dShape,
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    output: &mut [u8],
    dec: Decoders,
) -> Result<(), Error> {
    let (in_len, out_len, row_len) = shape.lens()?;
    let (oh, ow) = shape.out_hw()?;
    check_conv((in_len, out_len, row_len), shape.out_c, input, weights, stage, output)?;
    check_scratch("conv scratch", grouped_scratch_len(shape), scratch.len())?;
    let g = Geo {
        in_h: shape.in_h,
        in_w: shape.in_w,
        in_c: shape.in_c,
        out_c: shape.out_c,
        g_in: shape.group_in(),
        g_out: shape.group_out(),
        k_h: shape.k_h,
        k_w: shape.k_w,
        sh: shape.stride_h,
        sw: shape.stride_w,
        pad_top: shape.pad_top,
        pad_left: shape.pad_left,
        oh,
        ow,
    };
    if grouped_path(shape) == grouped_paths::GENERAL {
        general(&g, row_len, weights, dec, stage, scratch, input, output);
    } else if DSP {
        depthwise::<true>(&g, row_len, weights, dec, stage, scratch, input, output);
    } else {
        depthwise::<false>(&g, row_len, weights, dec, stage, scratch, input, output);
    }
    Ok(())
}

/// The depthwise path (see the module documentation); `row_len = k_h·k_w`, `out_c = in_c ≥ DEPTHWISE_LANES`.
/// `DSP`: the lanes stored as `c0 c2 c1 c3` per window element, for [`dot_lanes_dsp`].
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn depthwise<const DSP: bool>(
    g: &Geo,
    row_len: usize,
    weights: &PackedWeights<'_>,
    dec: Decoders,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    input: &[u8],
    output: &mut [u8],
) {
    // `checked`: no slice-index panic path, even where LLVM cannot relate the two products.
    let Some(block) = scratch.get_mut(..(DEPTHWISE_LANES + 1) * row_len) else { return };
    let Some((ws, tmp)) = block.split_at_mut_checked(DEPTHWISE_LANES * row_len) else { return };
    let last = g.out_c.saturating_sub(DEPTHWISE_LANES);
    let mut o = 0;
    while o < g.out_c {
        let b = o.min(last);
        for k in 0..DEPTHWISE_LANES {
            (dec.one)(weights, b + k, tmp);
            // DSP: lanes 0, 2 in the first word, 1, 3 in the second (the halves of `UXTB16`).
            let lane = if DSP { [0, 2, 1, 3][k] } else { k };
            for (d, &v) in ws.iter_mut().skip(lane).step_by(DEPTHWISE_LANES).zip(tmp.iter()) {
                *d = v;
            }
        }
        let fin =
            [Finish::new(stage, b), Finish::new(stage, b + 1), Finish::new(stage, b + 2), Finish::new(stage, b + 3)];
        depthwise_block::<DSP>(g, ws, input, fin, b, output);
        o += DEPTHWISE_LANES;
    }
}

/// Every output pixel of the channels `b..b + DEPTHWISE_LANES` (interleaved weights in `ws`).
#[inline(always)]
fn depthwise_block<const DSP: bool>(
    g: &Geo,
    ws: &[i16],
    input: &[u8],
    fin: [Finish; DEPTHWISE_LANES],
    b: usize,
    output: &mut [u8],
) {
    let ic = g.in_c.max(1);
    // Interior pixels (the whole window inside the input): the window elements' byte offsets from the
    // window's first pixel, computed once, so that the window is one slice and one loop (no per-row
    // clipping and slicing: measured 55 instructions per window row on Cortex-M4).
    let n = g.k_h * g.k_w;
    let mut offs = [0usize; WINDOW_MAX];
    for i in 0..g.k_h {
        for j in 0..g.k_w {
            if let Some(o) = offs.get_mut(i * g.k_w + j) {
                *o = (i * g.in_w + j) * g.in_c;
            }
            black_box(());
        }
    }
    let offs = if n <= WINDOW_MAX { offs.get(..n).unwrap_or(&[]) } else { &[] };
    let span = offs.last().map_or(0, |&o| o + DEPTHWISE_LANES);
    for y in 0..g.oh {
        let (top, i0, i1) = g.rows(y);
        let rows_in = i0 == 0 && i1 == g.k_h && !offs.is_empty();
        for x in 0..g.ow {
            let (left, j0, j1) = g.cols(x);
            let mut acc = [0i32; DEPTHWISE_LANES];
            if rows_in && j0 == 0 && j1 == g.k_w {
                let base = g.pixel(top - g.pad_top, left - g.pad_left) + b;
                if let Some(win) = input.get(base..base + span) {
                    acc = if DSP { window_dsp(ws, win, offs) } else { window(ws, win, offs) };
                }
            } else if j0 < j1 {
                for i in i0..i1 {
                    let start = g.pixel(top + i - g.pad_top, left + j0 - g.pad_left);
                    let (Some(a), Some(w)) = (
                        input.get(start..start + (j1 - j0) * g.in_c),
                        ws.get((i * g.k_w + j0) * DEPTHWISE_LANES..(i * g.k_w + j1) * DEPTHWISE_LANES),
                    ) else {
                        break;
                    };
                    if DSP {
                        dot_lanes_dsp(w, a, ic, b, &mut acc);
                    } else {
                        dot_lanes(w, a, ic, b, &mut acc);
                    }
                }
            }
            let at = (y * g.ow + x) * g.out_c + b;
            if let Some(out) = output.get_mut(at..at + DEPTHWISE_LANES) {
                for ((d, f), &v) in out.iter_mut().zip(&fin).zip(&acc) {
                    *d = f.apply(v);
                }
            }
        }
    }
}

/// Largest window (elements) of the depthwise interior-pixel loop (5×5); larger windows take the clipped
/// loop for every pixel.
const WINDOW_MAX: usize = 25;

/// One interior pixel's 4 sums: lane `k` is `Σ_e w[e·DEPTHWISE_LANES + k] · win[offs[e] + k]`.
#[inline(always)]
fn window(ws: &[i16], win: &[u8], offs: &[usize]) -> [i32; DEPTHWISE_LANES] {
    let [mut t0, mut t1, mut t2, mut t3] = [0i32; DEPTHWISE_LANES];
    let (w, _) = ws.as_chunks::<DEPTHWISE_LANES>();
    for (w, &o) in w.iter().zip(offs) {
        let Some(x) = win.get(o..).and_then(<[u8]>::first_chunk::<DEPTHWISE_LANES>) else { break };
        t0 = t0.wrapping_add(w[0] as i32 * x[0] as i32);
        t1 = t1.wrapping_add(w[1] as i32 * x[1] as i32);
        t2 = t2.wrapping_add(w[2] as i32 * x[2] as i32);
        t3 = t3.wrapping_add(w[3] as i32 * x[3] as i32);
        black_box(());
    }
    [t0, t1, t2, t3]
}

/// [`window`] with DSP instructions (weights `c0 c2 c1 c3` per element, as [`dot_lanes_dsp`]).
#[inline(always)]
fn window_dsp(ws: &[i16], win: &[u8], offs: &[usize]) -> [i32; DEPTHWISE_LANES] {
    let [mut t0, mut t1, mut t2, mut t3] = [0i32; DEPTHWISE_LANES];
    let (w, _) = ws.as_chunks::<4>();
    for (w, &o) in w.iter().zip(offs) {
        let Some(x) = win.get(o..).and_then(<[u8]>::first_chunk::<4>) else { break };
        let x = load_le32(x);
        let (e, od) = (uxtb16(x), uxtb16_ror8(x));
        let (w, _) = w.as_chunks::<2>();
        let (w02, w13) = (pair_word(&w[0]), pair_word(&w[1]));
        t0 = smlabb(e, w02, t0);
        t2 = smlatt(e, w02, t2);
        t1 = smlabb(od, w13, t1);
        t3 = smlatt(od, w13, t3);
        black_box(());
    }
    [t0, t1, t2, t3]
}

/// `acc[k] += Σ_e w[e·DEPTHWISE_LANES + k] · a[e·ic + b + k]` over the window elements `e` of one clipped window row.
#[inline(always)]
fn dot_lanes(w: &[i16], a: &[u8], ic: usize, b: usize, acc: &mut [i32; DEPTHWISE_LANES]) {
    let [mut t0, mut t1, mut t2, mut t3] = *acc;
    for (w, px) in w.chunks_exact(DEPTHWISE_LANES).zip(a.chunks_exact(ic)) {
        let Some(x) = px.get(b..).and_then(<[u8]>::first_chunk::<DEPTHWISE_LANES>) else { break };
        // |w| ≤ 256 and x ≤ 255: every product fits in i32; the sums wrap explicitly, like the reference's.
        t0 = t0.wrapping_add(w[0] as i32 * x[0] as i32);
        t1 = t1.wrapping_add(w[1] as i32 * x[1] as i32);
        t2 = t2.wrapping_add(w[2] as i32 * x[2] as i32);
        t3 = t3.wrapping_add(w[3] as i32 * x[3] as i32);
        black_box(());
    }
    *acc = [t0, t1, t2, t3];
}

/// [`dot_lanes`] with DSP instructions, weights per window element as `c0 c2 c1 c3`: the 4 activation
/// bytes one word load, their even and odd bytes as halfwords (`UXTB16`, `UXTB16 … ROR #8`), one
/// `SMLABB`/`SMLATT` per channel against the two weight words.
#[inline(always)]
fn dot_lanes_dsp(w: &[i16], a: &[u8], ic: usize, b: usize, acc: &mut [i32; DEPTHWISE_LANES]) {
    let [mut t0, mut t1, mut t2, mut t3] = *acc;
    let (w, _) = w.as_chunks::<4>();
    for (w, px) in w.iter().zip(a.chunks_exact(ic)) {
        let Some(x) = px.get(b..).and_then(<[u8]>::first_chunk::<4>) else { break };
        let x = load_le32(x);
        let (e, o) = (uxtb16(x), uxtb16_ror8(x));
        let (w, _) = w.as_chunks::<2>();
        let (w02, w13) = (pair_word(&w[0]), pair_word(&w[1]));
        t0 = smlabb(e, w02, t0);
        t2 = smlatt(e, w02, t2);
        t1 = smlabb(o, w13, t1);
        t3 = smlatt(o, w13, t3);
        black_box(());
    }
    *acc = [t0, t1, t2, t3];
}

/// The general path: one output channel at a time (see the module documentation).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn general(
    g: &Geo,
    row_len: usize,
    weights: &PackedWeights<'_>,
    dec: Decoders,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    input: &[u8],
    output: &mut [u8],
) {
    let Some(ws) = scratch.get_mut(..row_len) else { return };
    let ic = g.in_c.max(1);
    let gi = g.g_in.max(1);
    for o in 0..g.out_c {
        (dec.one)(weights, o, ws);
        let fin = Finish::new(stage, o);
        // The group's first input channel (`g_out.max(1)`: no division-by-zero path; it is ≥ 1 here).
        let first = (o / g.g_out.max(1)) * g.g_in;
        for y in 0..g.oh {
            let (top, i0, i1) = g.rows(y);
            for x in 0..g.ow {
                let (left, j0, j1) = g.cols(x);
                let mut acc = 0i32;
                if j0 < j1 {
                    for i in i0..i1 {
                        let start = g.pixel(top + i - g.pad_top, left + j0 - g.pad_left);
                        let (Some(a), Some(w)) = (
                            input.get(start..start + (j1 - j0) * g.in_c),
                            ws.get((i * g.k_w + j0) * g.g_in..(i * g.k_w + j1) * g.g_in),
                        ) else {
                            break;
                        };
                        for (wc, px) in w.chunks_exact(gi).zip(a.chunks_exact(ic)) {
                            let Some(xs) = px.get(first..first + g.g_in) else { break };
                            for (&wv, &xv) in wc.iter().zip(xs) {
                                acc = acc.wrapping_add(wv as i32 * xv as i32);
                                black_box(());
                            }
                        }
                    }
                }
                if let Some(d) = output.get_mut((y * g.ow + x) * g.out_c + o) {
                    *d = fin.apply(acc);
                }
            }
        }
    }
}
