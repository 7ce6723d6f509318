//! Fast 2-D convolution.
//!
//! Strategy (designed for Cortex-M, where every load and multiply is an instruction):
//!
//! * the packed rows of **two output channels** are decoded once, interleaved, into the `i16` scratch
//!   (`w[2k]`, `w[2k+1]`), and stay there while every output pixel of those two channels is computed;
//! * output pixels whose window lies entirely inside the input are computed **two at a time**; the inner
//!   loop then reads one pair of weights and two activations and does four multiply-adds (weights reused
//!   across pixels, activations across channels);
//! * when the partial sums of a window row provably fit in 15 bits (low-bit weights and/or activations:
//!   `2^n · max(input) · k_w·in_c < 2^15`), the **packed path** holds both channels' weights in one 32-bit
//!   word and does two MACs per 32-bit multiply-add, four interior pixels at a time (see below);
//! * padding is handled outside the inner loop: for each output row the valid window rows `i0..i1` are
//!   computed once, and for a border pixel the valid columns `j0..j1`; the inner loop is always one
//!   contiguous run of `(j1−j0)·in_c` activations (HWC) against the same run of weights
//!   (`[kh][kw][in_c]`);
//! * the bias, requantization and clamp of a channel are hoisted out of the pixel loops.
//!
//! Accumulation is wrapping `i32`, as in the reference; since wrapping addition is associative and
//! commutative, the different summation order gives the same bits.

use super::decode::{Decoders, decoders};
use super::{Finish, scratch_len};
use crate::dsp::{dot2_pairs, dot2_row, dot4_run};
use crate::reference::{check_bits, check_conv, check_scratch};
use crate::{Conv2dShape, Error, OutputStage, PackedWeights};
use core::hint::black_box;

/// Geometry of one convolution, validated.
#[derive(Clone, Copy)]
struct Geo {
    in_h: usize,
    in_w: usize,
    in_c: usize,
    out_c: usize,
    k_h: usize,
    k_w: usize,
    sh: usize,
    sw: usize,
    pad_top: usize,
    pad_left: usize,
    oh: usize,
    ow: usize,
    /// First output column whose window does not touch the left padding.
    xa: usize,
    /// One past the last output column whose window does not touch the right padding.
    xb: usize,
}

/// Fast 2-D convolution; contract of [`crate::reference::conv2d`]. `scratch` must hold at least
/// [`scratch_len`]`(shape.row_len())` elements ([`Error::Length`] otherwise).
///
/// On cores with the DSP extension (`cfg(bsq_dsp)`, see the crate's build script) this is
/// [`conv2d_dsp`]; elsewhere the portable kernel described in the module documentation.
pub fn conv2d(
    shape: &Conv2dShape,
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    output: &mut [u8],
) -> Result<(), Error> {
    conv2d_with::<AUTO>(shape, input, weights, stage, scratch, output, cfg!(bsq_dsp), decoders(weights.bits()))
}

/// The kernel paths of the convolution (see [`conv_path`]).
pub mod path {
    /// The portable kernel (no DSP instructions).
    pub const PORTABLE: u8 = 0;
    /// The DSP kernel for `in_c` a multiple of 4.
    pub const DSP: u8 = 1;
    /// The gathered-window DSP kernel (first layers: `in_c` not a multiple of 4), with
    /// [`conv_scratch_len`](super::conv_scratch_len) of scratch.
    pub const GATHERED: u8 = 2;
    /// The pointwise DSP kernel (1×1, stride 1, `in_c` a multiple of 4, at least 4 output channels: a
    /// matrix product), with [`conv_scratch_len`](super::conv_scratch_len) of scratch.
    pub const POINTWISE: u8 = 3;
}

/// Run-time choice of the path (the generic [`conv2d`]).
const AUTO: u8 = u8::MAX;

/// The path [`conv2d`] takes for `shape` on this target when given [`conv_scratch_len`] of scratch: generated
/// code passes it to [`conv2d_bits`] as a constant, so that a firmware links the paths its layers take and
/// no others.
pub const fn conv_path(shape: &Conv2dShape) -> u8 {
    if !cfg!(bsq_dsp) {
        path::PORTABLE
    } else if pointwise_len(shape) > 0 {
        path::POINTWISE
    } else if shape.in_c.is_multiple_of(4) {
        path::DSP
    } else if gathered_len(shape) > 0 {
        path::GATHERED
    } else {
        path::PORTABLE
    }
}

/// [`conv2d`] for `BITS`-bit weights only (0..=8) on the kernel path `PATH` ([`conv_path`]): the same bytes,
/// but only this width's weight decoder and this path are linked into the firmware. Generated model code
/// calls it, so a model's firmware carries the code of the widths and paths it uses and no others.
///
/// Errors besides those of [`conv2d`]: [`Error::Shape`] if `weights` have another width or `PATH` does not
/// fit the shape ([`path::DSP`] needs `in_c` a multiple of 4, [`path::GATHERED`] a shape that
/// [`conv_scratch_len`] gives the gathered scratch, [`path::POINTWISE`] a 1×1, stride-1 shape with `in_c` a
/// multiple of 4 up to [`POINTWISE_MAX_IN`] and at least 4 output channels); [`Error::Length`] if a [`path::GATHERED`] or
/// [`path::POINTWISE`] scratch is shorter than [`conv_scratch_len`].
pub fn conv2d_bits<const BITS: u8, const PATH: u8>(
    shape: &Conv2dShape,
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    output: &mut [u8],
) -> Result<(), Error> {
    check_bits(weights, BITS)?;
    conv2d_with::<PATH>(shape, input, weights, stage, scratch, output, cfg!(bsq_dsp), decoders(BITS))
}

/// The DSP-instruction convolution; contract of [`crate::reference::conv2d`], same scratch as [`conv2d`].
/// When `in_c` is a multiple of 4 (every window row, and every clipped border run, is then whole groups of
/// 4 input channels) the decoded weights of two channels are reordered for `SMLAD`, and each pixel's
/// window is one assembly loop (module `dsp`): per group of 4 activations one word load, two `UXTB16`,
/// one `LDM` of 4 weight words and 4 `SMLAD`s (8 multiply-accumulates). Other layers take the portable
/// path. On cores without the DSP extension it runs with portable models of the
/// instructions (same bytes, slower): that is how the host tests check it.
pub fn conv2d_dsp(
    shape: &Conv2dShape,
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    output: &mut [u8],
) -> Result<(), Error> {
    conv2d_with::<AUTO>(shape, input, weights, stage, scratch, output, true, decoders(weights.bits()))
}

/// The checks, then the path `P` (or, for [`AUTO`], the one `dsp` and the scratch allow).
#[allow(clippy::too_many_arguments)]
fn conv2d_with<const P: u8>(
    shape: &Conv2dShape,
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    output: &mut [u8],
    dsp: bool,
    dec: Decoders,
) -> Result<(), Error> {
    let (in_len, out_len, row_len) = shape.lens()?;
    let (oh, ow) = shape.out_hw()?;
    check_conv((in_len, out_len, row_len), shape.out_c, input, weights, stage, output)?;
    check_scratch("conv scratch", scratch_len(row_len), scratch.len())?;
    // Interior columns: x·sw ≥ pad_left and x·sw − pad_left + k_w ≤ in_w.
    // (`out_hw` refused a zero stride; `max(1)` keeps a division-by-zero panic path out of the firmware.)
    let sw = shape.stride_w.max(1);
    let xa = shape.pad_left.div_ceil(sw).min(ow);
    let xb = if shape.in_w + shape.pad_left >= shape.k_w {
        ((shape.in_w + shape.pad_left - shape.k_w) / sw + 1).min(ow)
    } else {
        0
    };
    let g = Geo {
        in_h: shape.in_h,
        in_w: shape.in_w,
        in_c: shape.in_c,
        out_c: shape.out_c,
        k_h: shape.k_h,
        k_w: shape.k_w,
        // With a single output row (column) the stride is never applied; 1 keeps every step product
        // (`sw·in_c`, …) in range even for a stride of 2^63. Otherwise stride < padded input, so they fit.
        sh: if oh == 1 { 1 } else { shape.stride_h },
        sw: if ow == 1 { 1 } else { shape.stride_w },
        pad_top: shape.pad_top,
        pad_left: shape.pad_left,
        oh,
        ow,
        xa,
        xb: xb.max(xa),
    };
    let gw = gathered_len(shape);
    let pl = pointwise_len(shape);
    let path = match P {
        AUTO if dsp && pl > 0 && scratch.len() >= pl => path::POINTWISE,
        AUTO if dsp && g.in_c.is_multiple_of(4) => path::DSP,
        AUTO if dsp && gw > 0 && scratch.len() >= gw => path::GATHERED,
        AUTO => path::PORTABLE,
        p => p,
    };
    match path {
        path::DSP if g.in_c.is_multiple_of(4) => conv_dsp(&g, row_len, weights, dec, stage, scratch, input, output),
        path::GATHERED if gw > 0 => {
            if scratch.len() < gw {
                return Err(Error::Length { what: "conv scratch", expected: gw, got: scratch.len() });
            }
            gathered(&g, row_len, weights, dec, stage, scratch, input, output);
        }
        path::POINTWISE if pl > 0 => {
            if scratch.len() < pl {
                return Err(Error::Length { what: "conv scratch", expected: pl, got: scratch.len() });
            }
            pointwise(&g, row_len, weights, dec, stage, scratch, input, output);
        }
        path::PORTABLE => conv_portable(&g, row_len, weights, dec, stage, scratch, input, output),
        _ => return Err(Error::Shape { what: "kernel path does not fit the shape" }),
    }
    Ok(())
}

/// The DSP path (`in_c % 4 == 0`): two channels at a time through [`channels_dsp2`], an odd last channel
/// through the DSP single-channel loops.
#[allow(clippy::too_many_arguments)]
// Out of line (also `conv_portable`, `gathered`): the generic and the per-path entry points share one copy.
#[inline(never)]
fn conv_dsp(
    g: &Geo,
    row_len: usize,
    weights: &PackedWeights<'_>,
    dec: Decoders,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    input: &[u8],
    output: &mut [u8],
) {
    let mut o = 0;
    while o < g.out_c {
        let two = o + 1 < g.out_c;
        let fin = [Finish::new(stage, o), if two { Finish::new(stage, o + 1) } else { Finish::ZERO }];
        // The weights start on a 4-byte boundary (the assembly loop loads them with `ldm`): `scratch_len`
        // leaves room for the one-element shift. Past the last channel, row `o + 1` decodes as zeros.
        let off = (scratch.as_ptr() as usize / 2) % 2;
        let Some(ws) = scratch.get_mut(off..off + 2 * row_len) else { return };
        (dec.pair)(weights, o, ws);
        to_dsp_pairs(ws);
        channels_dsp2(g, ws, input, fin, o, two, output);
        o += 2;
    }
}

/// The portable path: two channels at a time, packed (SWAR) where the sums allow it, plain otherwise.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn conv_portable(
    g: &Geo,
    row_len: usize,
    weights: &PackedWeights<'_>,
    dec: Decoders,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    input: &[u8],
    output: &mut [u8],
) {
    // Largest activation: bounds the partial sums of the packed (SWAR) path below.
    let run_full = g.k_w * g.in_c;
    let x_max = if g.out_c >= 2 && run_full >= MIN_SWAR_RUN { input.iter().copied().max().unwrap_or(0) } else { 0 };
    let mut o = 0;
    while o + 2 <= g.out_c {
        let fin = [Finish::new(stage, o), Finish::new(stage, o + 1)];
        let Some(ws) = scratch.get_mut(..2 * row_len) else { return };
        (dec.pair)(weights, o, ws);
        if run_full >= MIN_SWAR_RUN && swar_chunk(weights.bits(), x_max as u32) >= run_full {
            to_swar_pairs(ws);
            channels::<2, true>(g, ws, input, fin, o, output);
        } else {
            channels::<2, false>(g, ws, input, fin, o, output);
        }
        o += 2;
    }
    if o < g.out_c {
        let Some(ws) = scratch.get_mut(..row_len) else { return };
        (dec.one)(weights, o, ws);
        channels::<1, false>(g, ws, input, [Finish::new(stage, o)], o, output);
    }
}

// The packed ("SWAR") path for two channels. With the pair of weights `(w0, w1)` of one window element
// held as the 32-bit word `P = w0 + 2^16·w1`, one 32-bit multiply-add `S += P·x` accumulates
// `S0 + 2^16·S1 (mod 2^32)` where `S0 = Σ w0·x`, `S1 = Σ w1·x`: two MACs per multiply. Both are recovered
// exactly when |S0|, |S1| ≤ 2^15 − 1 (`S0` = the low half sign-extended, `S1 = (S − S0) >> 16`), which
// holds when at most `chunk = (2^15 − 1) / (max|w| · max x)` products are summed before unpacking; the
// path is taken only when a whole window row fits (`chunk ≥ k_w · in_c`), and unpacks once per window
// row. The sums are then the exact integers of the plain path, so the bytes are identical.
//
// Loaded with one `ldr` (the interleaved `i16` pair, little-endian), the word is
// `(w0 mod 2^16) + 2^16·w1' = w0 + 2^16·([w0 < 0] + w1')`, so the high element is stored as
// `w1' = w1 − [w0 < 0]` (`to_swar_pairs`).
//
// It applies to low-bit weights and/or low-bit activations (e.g. 1-bit weights with 8-bit activations, up
// to 5-bit weights with 4-bit activations, for 3×3×16 windows). Cutting longer rows into chunks to widen
// it was measured slower than the plain path on Cortex-M4 (LLVM's code for the chunked loops was worse
// than the unpacking saved), and so were short rows.

/// Shortest window row for which the packed path pays (measured on Cortex-M4, QEMU: with 5-element rows
/// it cost 8.8 instructions per MAC against 7.1 for the plain path; with 48-element rows it costs 2.27
/// against 3.11).
const MIN_SWAR_RUN: usize = 16;

/// The longest run of products the packed path may sum for `bits`-bit weights (|w| ≤ 2^bits, which also
/// covers the pattern −2^bits) and activations ≤ `x_max` (`usize::MAX` when all products are 0).
fn swar_chunk(bits: u8, x_max: u32) -> usize {
    match (1u32 << bits.min(8)) * x_max {
        0 => usize::MAX,
        bound => (i16::MAX as u32 / bound) as usize,
    }
}

/// Rewrites interleaved pairs `(w0, w1)` as `(w0, w1 − [w0 < 0])` (see above; |w1| ≤ 256, no overflow).
fn to_swar_pairs(ws: &mut [i16]) {
    for p in ws.chunks_exact_mut(2) {
        p[1] = p[1].wrapping_sub((p[0] < 0) as i16);
    }
}

/// Adds the two sums packed in `s` (see above) to `lo` and `hi`.
#[inline(always)]
fn unpack_add(s: u32, lo: &mut i32, hi: &mut i32) {
    let s0 = s as i16 as i32;
    *lo = lo.wrapping_add(s0);
    *hi = hi.wrapping_add((s.wrapping_sub(s0 as u32) as i32) >> 16);
}

/// All output pixels of the `C` channels `o..o+C` (`C` = 1 or 2), weights decoded in `ws`
/// (interleaved when `C = 2`).
#[inline(always)]
fn channels<const C: usize, const SWAR: bool>(
    g: &Geo,
    ws: &[i16],
    input: &[u8],
    fin: [Finish; C],
    o: usize,
    output: &mut [u8],
) {
    let run_full = g.k_w * g.in_c;
    let pix_step = g.sw * g.in_c;
    let row_stride = g.in_w * g.in_c;
    for y in 0..g.oh {
        // Valid window rows i0..i1 for this output row (the vertical padding, hoisted).
        let top = y * g.sh;
        let i0 = g.pad_top.saturating_sub(top);
        let i1 = g.k_h.min((g.in_h + g.pad_top).saturating_sub(top));
        let out_row = y * g.ow;
        let mut x = 0;
        while x < g.ow {
            // acc[2·c + p]: channel o+c, pixel x+p.
            let mut acc = [0i32; 4];
            if C == 2 && SWAR && x >= g.xa && x + 4 <= g.xb {
                // Four interior pixels, packed path: 8 MACs per 4 multiply-adds.
                let mut base = ((top + i0 - g.pad_top) * g.in_w + x * g.sw - g.pad_left) * g.in_c;
                let mut acc4 = [0i32; 8];
                for i in i0..i1 {
                    let (Some(a), Some(w)) = (
                        input.get(base..base + 3 * pix_step + run_full),
                        ws.get(2 * i * run_full..2 * (i + 1) * run_full),
                    ) else {
                        break;
                    };
                    base += row_stride;
                    swar_2x4(w, a, pix_step, run_full, &mut acc4);
                }
                for p in 0..4 {
                    for c in 0..C {
                        put(output, (out_row + x + p) * g.out_c + o + c, fin[c].apply(acc4[4 * c + p]));
                    }
                }
                x += 4;
            } else if x >= g.xa && x + 2 <= g.xb {
                // Two interior pixels: full window columns, activations of pixel x+1 at `pix_step`.
                let mut base = ((top + i0 - g.pad_top) * g.in_w + x * g.sw - g.pad_left) * g.in_c;
                for i in i0..i1 {
                    // Both pixels' windows in one slice: pixel x at 0, pixel x+1 at `pix_step`.
                    let (Some(a0), Some(a1), Some(w)) = (
                        input.get(base..base + run_full),
                        input.get(base + pix_step..base + pix_step + run_full),
                        ws.get(C * i * run_full..C * (i + 1) * run_full),
                    ) else {
                        break;
                    };
                    base += row_stride;
                    if C == 2 && SWAR {
                        swar_2x2(w, a0, a1, &mut acc);
                    } else if C == 2 {
                        dot_2x2(w, a0, a1, &mut acc);
                    } else {
                        dot_1x2(w, a0, a1, &mut acc);
                    }
                }
                for c in 0..C {
                    put(output, (out_row + x) * g.out_c + o + c, fin[c].apply(acc[2 * c]));
                    put(output, (out_row + x + 1) * g.out_c + o + c, fin[c].apply(acc[2 * c + 1]));
                }
                x += 2;
            } else {
                // One pixel, window columns j0..j1 clipped to the input.
                let left = x * g.sw;
                let j0 = g.pad_left.saturating_sub(left);
                let j1 = g.k_w.min((g.in_w + g.pad_left).saturating_sub(left));
                if j0 < j1 {
                    let run = (j1 - j0) * g.in_c;
                    for i in i0..i1 {
                        let iy = top + i - g.pad_top;
                        let base = (iy * g.in_w + left + j0 - g.pad_left) * g.in_c;
                        let Some(a0) = input.get(base..base + run) else { break };
                        let wstart = C * ((i * g.k_w + j0) * g.in_c);
                        let Some(w) = ws.get(wstart..wstart + C * run) else { break };
                        if C == 2 && SWAR {
                            swar_2x1(w, a0, &mut acc);
                        } else if C == 2 {
                            dot_2x1(w, a0, &mut acc);
                        } else {
                            dot_1x1(w, a0, &mut acc);
                        }
                    }
                }
                for c in 0..C {
                    put(output, (out_row + x) * g.out_c + o + c, fin[c].apply(acc[2 * c]));
                }
                x += 1;
            }
        }
    }
}

// Inner products. Range argument for the plain products: |w| ≤ 256 and a ≤ 255, so every product fits in
// i32; the sums wrap (explicitly), exactly as the reference's.
//
// Each loop body ends with `black_box(())`, which emits no instruction. It keeps LLVM from unrolling these
// loops on Cortex-M (its ARM cost model does not unroll loops that contain a call, and the empty barrier
// counts as one): unrolled ×4, the loads of four iterations are scheduled first and the 13 usable registers
// spill (measured in the thumbv7em assembly: 4.4 instructions per multiply-accumulate unrolled, 2.5 as
// written: 3 loads with write-back + 1 load, 4 `smlabb`, `subs`, `bne` per 4 MACs).

/// Two channels (interleaved weights) × two pixels.
#[inline(always)]
fn dot_2x2(w: &[i16], a0: &[u8], a1: &[u8], acc: &mut [i32; 4]) {
    let [mut t00, mut t01, mut t10, mut t11] = *acc;
    for ((w, &x0), &x1) in w.chunks_exact(2).zip(a0).zip(a1) {
        let (w0, w1) = (w[0] as i32, w[1] as i32);
        let (x0, x1) = (x0 as i32, x1 as i32);
        t00 = t00.wrapping_add(w0 * x0);
        t01 = t01.wrapping_add(w0 * x1);
        t10 = t10.wrapping_add(w1 * x0);
        t11 = t11.wrapping_add(w1 * x1);
        black_box(());
    }
    *acc = [t00, t01, t10, t11];
}

/// Two channels (packed pairs, see [`to_swar_pairs`]) × two pixels: two MACs per multiply-add. The caller
/// guarantees that the run is no longer than the exact chunk length.
#[inline(always)]
fn swar_2x2(w: &[i16], a0: &[u8], a1: &[u8], acc: &mut [i32; 4]) {
    let (mut s0, mut s1) = (0u32, 0u32);
    for ((w, &x0), &x1) in w.chunks_exact(2).zip(a0).zip(a1) {
        // One 32-bit load of the pair: w[0] + 2^16·w[1] (mod 2^32), w[1] adjusted.
        let p = (w[0] as u16 as u32) | ((w[1] as u16 as u32) << 16);
        s0 = s0.wrapping_add(p.wrapping_mul(x0 as u32));
        s1 = s1.wrapping_add(p.wrapping_mul(x1 as u32));
        black_box(());
    }
    let [t00, t01, t10, t11] = acc;
    unpack_add(s0, t00, t10);
    unpack_add(s1, t01, t11);
}

/// Two channels (packed pairs) × four pixels: pixel `p`'s window at `a[p·step..][..run]`. `acc[4·c + p]`.
/// Out of line: inlined into the pixel loops, its five pointers no longer fit in registers.
#[inline(never)]
fn swar_2x4(w: &[i16], a: &[u8], step: usize, run: usize, acc: &mut [i32; 8]) {
    let (Some(a0), Some(a1), Some(a2), Some(a3)) =
        (a.get(..run), a.get(step..step + run), a.get(2 * step..2 * step + run), a.get(3 * step..3 * step + run))
    else {
        return;
    };
    let (mut s0, mut s1, mut s2, mut s3) = (0u32, 0u32, 0u32, 0u32);
    for ((((w, &x0), &x1), &x2), &x3) in w.chunks_exact(2).zip(a0).zip(a1).zip(a2).zip(a3) {
        let p = (w[0] as u16 as u32) | ((w[1] as u16 as u32) << 16);
        s0 = s0.wrapping_add(p.wrapping_mul(x0 as u32));
        s1 = s1.wrapping_add(p.wrapping_mul(x1 as u32));
        s2 = s2.wrapping_add(p.wrapping_mul(x2 as u32));
        s3 = s3.wrapping_add(p.wrapping_mul(x3 as u32));
        black_box(());
    }
    let [t00, t01, t02, t03, t10, t11, t12, t13] = acc;
    unpack_add(s0, t00, t10);
    unpack_add(s1, t01, t11);
    unpack_add(s2, t02, t12);
    unpack_add(s3, t03, t13);
}

/// Two channels (packed pairs) × one pixel.
#[inline(always)]
fn swar_2x1(w: &[i16], a0: &[u8], acc: &mut [i32; 4]) {
    let mut s0 = 0u32;
    for (w, &x0) in w.chunks_exact(2).zip(a0) {
        let p = (w[0] as u16 as u32) | ((w[1] as u16 as u32) << 16);
        s0 = s0.wrapping_add(p.wrapping_mul(x0 as u32));
        black_box(());
    }
    let [t00, _, t10, _] = acc;
    unpack_add(s0, t00, t10);
}

/// Two channels (interleaved weights) × one pixel.
#[inline(always)]
fn dot_2x1(w: &[i16], a0: &[u8], acc: &mut [i32; 4]) {
    let (mut t00, mut t10) = (acc[0], acc[2]);
    for (w, &x0) in w.chunks_exact(2).zip(a0) {
        let x0 = x0 as i32;
        t00 = t00.wrapping_add(w[0] as i32 * x0);
        t10 = t10.wrapping_add(w[1] as i32 * x0);
        black_box(());
    }
    (acc[0], acc[2]) = (t00, t10);
}

/// One channel × two pixels.
#[inline(always)]
fn dot_1x2(w: &[i16], a0: &[u8], a1: &[u8], acc: &mut [i32; 4]) {
    let (mut t00, mut t01) = (acc[0], acc[1]);
    for ((&w, &x0), &x1) in w.iter().zip(a0).zip(a1) {
        let w = w as i32;
        t00 = t00.wrapping_add(w * x0 as i32);
        t01 = t01.wrapping_add(w * x1 as i32);
        black_box(());
    }
    (acc[0], acc[1]) = (t00, t01);
}

/// One channel × one pixel.
#[inline(always)]
fn dot_1x1(w: &[i16], a0: &[u8], acc: &mut [i32; 4]) {
    let mut t = acc[0];
    for (&w, &x0) in w.iter().zip(a0) {
        t = t.wrapping_add(w as i32 * x0 as i32);
        black_box(());
    }
    acc[0] = t;
}

/// All output pixels of the channels `o`, `o+1` (only `o` unless `two`: an odd last channel, computed
/// against zero weights for the missing one) on the DSP path (`in_c % 4 == 0`), weights in the DSP layout
/// in `ws`: one pixel at a time, each valid window row (clipped at the borders, which keeps whole
/// groups of 4 channels) one call of the assembly loop [`crate::dsp`].
fn channels_dsp2(g: &Geo, ws: &[i16], input: &[u8], fin: [Finish; 2], o: usize, two: bool, output: &mut [u8]) {
    // The sums of one run of interior pixels (`dot2_row` overwrites them): zeroed once per call.
    let mut sums = [0i32; 2 * ROW_RUN];
    let (wg, _) = ws.as_chunks::<8>();
    let gpc = g.in_c / 4;
    for y in 0..g.oh {
        let top = y * g.sh;
        let i0 = g.pad_top.saturating_sub(top);
        let i1 = g.k_h.min((g.in_h + g.pad_top).saturating_sub(top));
        // The interior columns xa..xb (whole window rows) in runs of up to ROW_RUN pixels, one assembly
        // loop each; the border columns one by one below.
        // (`i0 < i1` for every output row of a valid shape: padding is smaller than the kernel; otherwise the
        // sums stay 0, as in the reference.)
        let gpr = g.k_w * gpc;
        {
            let mut x = g.xa;
            while x < g.xb {
                let n = (g.xb - x).min(ROW_RUN);
                let base = ((top + i0 - g.pad_top) * g.in_w + x * g.sw - g.pad_left) * g.in_c;
                if let (true, Some(a), Some(w), Some(t)) =
                    (i0 < i1, input.get(base..), wg.get(i0 * gpr..i1 * gpr), sums.get_mut(..2 * n))
                {
                    dot2_row(w, a, i1 - i0, gpr, gpr, g.in_w * g.in_c, g.sw * g.in_c, t);
                } else {
                    sums.fill(0);
                }
                for (q, s) in sums.chunks_exact(2).take(n).enumerate() {
                    let px = (y * g.ow + x + q) * g.out_c + o;
                    put(output, px, fin[0].apply(s[0]));
                    if two {
                        put(output, px + 1, fin[1].apply(s[1]));
                    }
                }
                x += n;
            }
        }
        // Border columns (their windows are clipped at the left or right, so j0 > 0 or j1 < k_w).
        for x in (0..g.xa).chain(g.xb.max(g.xa)..g.ow) {
            let left = x * g.sw;
            let j0 = g.pad_left.saturating_sub(left);
            let j1 = g.k_w.min((g.in_w + g.pad_left).saturating_sub(left));
            let mut acc = [0i32; 2];
            if j0 < j1 && i0 < i1 {
                // The clipped window: rows of (j1 − j0)·in_c/4 groups, weights `gpr` groups apart.
                let base = ((top + i0 - g.pad_top) * g.in_w + left + j0 - g.pad_left) * g.in_c;
                let g0 = (i0 * g.k_w + j0) * gpc;
                if let (Some(a), Some(w)) = (input.get(base..), wg.get(g0..)) {
                    dot2_row(w, a, i1 - i0, (j1 - j0) * gpc, gpr, g.in_w * g.in_c, 0, &mut acc);
                }
            }
            let px = (y * g.ow + x) * g.out_c + o;
            put(output, px, fin[0].apply(acc[0]));
            if two {
                put(output, px + 1, fin[1].apply(acc[1]));
            }
        }
    }
}

// The gathered-window path (DSP cores, `in_c` not a multiple of 4: first layers such as 5×5×1 or 3×3×3).
// Window rows are then too short and misaligned for the per-row loop, so each output pixel's whole window
// (`row_len` bytes, zero-padded to whole groups of 4, zeros where it hangs over the padding) is gathered
// once into a stack buffer, and every channel pair's weights — all decoded once into the scratch, each
// pair padded to the same whole groups — runs against it in one assembly loop ([`crate::dsp`]).

/// Largest gathered window, bytes (the stack buffer).
const GATHER_MAX: usize = 256;
/// Largest scratch the gathered path may ask for, `i16` elements (16 KiB).
const GATHER_MAX_SCRATCH: usize = 8192;

/// Scratch (`i16` elements) that lets [`conv2d`] take the gathered-window path for `shape` on DSP cores,
/// or 0 when that path does not apply (`in_c` a multiple of 4, a window above 256 elements, more than 32
/// output channels, or more than 8192 elements of decoded weights).
const fn gathered_len(shape: &Conv2dShape) -> usize {
    if shape.in_c.is_multiple_of(4) {
        return 0;
    }
    let row_len = shape.k_h.saturating_mul(shape.k_w).saturating_mul(shape.in_c);
    let groups = row_len.div_ceil(4);
    if groups > GATHER_MAX / 4 {
        return 0;
    }
    let need = shape.out_c.div_ceil(2).saturating_mul(8 * groups).saturating_add(2);
    if need > GATHER_MAX_SCRATCH || shape.out_c > FIN_CACHE { 0 } else { need }
}

/// Scratch (`i16` elements) for [`conv2d`] on `shape`: [`scratch_len`]`(row_len)`, or more where the
/// gathered-window path applies (first layers with 1 or 3 input channels on DSP cores: every channel's
/// decoded weights at once, at most 8192 elements; 1×1 layers on the pointwise path: `5·in_c + 2`).
/// [`conv2d`] works with [`scratch_len`] and takes the faster path when the scratch is this large;
/// generated code allocates this.
pub const fn conv_scratch_len(shape: &Conv2dShape) -> usize {
    let row_len = shape.k_h.saturating_mul(shape.k_w).saturating_mul(shape.in_c);
    let base = scratch_len(row_len);
    let gw = gathered_len(shape);
    let pl = pointwise_len(shape);
    let big = if gw > pl { gw } else { pl };
    if big > base { big } else { base }
}

// The pointwise path (DSP cores; 1×1, stride 1, no padding, `in_c` a multiple of 4, `out_c ≥ 4`): a matrix
// product `[pixels × in_c] · [in_c × out_c]`, the pixels contiguous in HWC. Four output channels at a time:
// their rows decoded once into the scratch in the order `SMLAD` wants (per group of 4 input channels
// `c0: w0 w2 w1 w3, c1: …, c2: …, c3: …`), then every pixel against them in one assembly loop
// ([`dot4_run`]): the two `UXTB16` of each activation word are shared by the four channels. When `out_c`
// is not a multiple of 4 the last block overlaps the one before it (those channels are computed twice,
// same bytes).

/// Output channels per block of the pointwise path.
const POINT_LANES: usize = 4;
/// Largest `in_c` of the pointwise path: its scratch (`5·in_c + 2` elements) stays at most 1,284 bytes.
/// Wider 1×1 layers take [`path::DSP`], whose scratch is one row: they sit at the end of a network, on few
/// pixels, where the pointwise path gains little, and on a 64 KiB part the difference decides whether a
/// model fits (MobileNetV1 0.25 with a 256-channel 1×1 on the lm3s6965evb budget).
pub const POINTWISE_MAX_IN: usize = 128;
/// Pixels per call of [`dot4_run`] (their sums on the stack: 256 bytes).
const POINT_RUN: usize = 16;

/// Scratch (`i16` elements) the pointwise path needs for `shape` (the decoded rows of a block of 4
/// channels, one row being decoded and room to align the block to 4 bytes: `5·in_c + 2`), or 0 when the
/// path does not apply (not 1×1, a stride other than 1, padding, `in_c` not a multiple of 4 or above
/// [`POINTWISE_MAX_IN`], fewer than 4 output channels). The same on every target.
const fn pointwise_len(shape: &Conv2dShape) -> usize {
    let fits = shape.k_h == 1
        && shape.k_w == 1
        && shape.stride_h == 1
        && shape.stride_w == 1
        && shape.pad_top == 0
        && shape.pad_left == 0
        && shape.pad_bottom == 0
        && shape.pad_right == 0
        && shape.in_c > 0
        && shape.in_c.is_multiple_of(4)
        && shape.in_c <= POINTWISE_MAX_IN
        && shape.out_c >= POINT_LANES;
    if fits { shape.in_c.saturating_mul(POINT_LANES + 1).saturating_add(2) } else { 0 }
}

/// All outputs on the pointwise path (see above); `scratch` holds at least [`pointwise_len`], `row_len =
/// in_c`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn pointwise(
    g: &Geo,
    row_len: usize,
    weights: &PackedWeights<'_>,
    dec: Decoders,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    input: &[u8],
    output: &mut [u8],
) {
    let groups = row_len / 4;
    let off = (scratch.as_ptr() as usize / 2) % 2;
    let Some(block) = scratch.get_mut(off..off + (POINT_LANES + 1) * row_len) else { return };
    let Some((ws, tmp)) = block.split_at_mut_checked(POINT_LANES * row_len) else { return };
    let pixels = g.oh * g.ow;
    let last = g.out_c.saturating_sub(POINT_LANES);
    let mut sums = [0i32; POINT_LANES * POINT_RUN];
    let mut o = 0;
    while o < g.out_c {
        let b = o.min(last);
        for k in 0..POINT_LANES {
            (dec.one)(weights, b + k, tmp);
            to_dsp_quad(tmp, ws, k);
        }
        let (wq, _) = ws.as_chunks::<16>();
        let mut q0 = 0;
        while q0 < pixels {
            let n = (pixels - q0).min(POINT_RUN);
            let at = q0 * row_len;
            if let (Some(a), Some(t)) = (input.get(at..), sums.get_mut(..POINT_LANES * n)) {
                dot4_run(wq, a, groups, t);
            }
            for k in 0..POINT_LANES {
                let f = Finish::new(stage, b + k);
                for (q, s) in sums.chunks_exact(POINT_LANES).take(n).enumerate() {
                    put(output, (q0 + q) * g.out_c + b + k, f.apply(s.get(k).copied().unwrap_or(0)));
                }
            }
            q0 += n;
        }
        o += POINT_LANES;
    }
}

/// Channel `k` of a pointwise block: its decoded row `row` (whole groups of 4) into `ws` in the layout of
/// [`dot4_run`] (per group 16 elements, channel `k` at `4k`, as `w0 w2 w1 w3`). Once per channel: out of
/// line and not unrolled.
#[inline(never)]
fn to_dsp_quad(row: &[i16], ws: &mut [i16], k: usize) {
    let (src, _) = row.as_chunks::<4>();
    let (dst, _) = ws.as_chunks_mut::<16>();
    for (d, s) in dst.iter_mut().zip(src) {
        if let Some(d) = d.get_mut(4 * k..4 * k + 4) {
            d.copy_from_slice(&[s[0], s[2], s[1], s[3]]);
        }
        black_box(());
    }
}

/// All outputs on the gathered-window path (see above); `scratch` holds at least [`gathered_len`].
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn gathered(
    g: &Geo,
    row_len: usize,
    weights: &PackedWeights<'_>,
    dec: Decoders,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    input: &[u8],
    output: &mut [u8],
) {
    let groups = row_len.div_ceil(4);
    let pairs = g.out_c.div_ceil(2);
    // Never 0 (`row_len ≥ 1`); tested so that `chunks_exact_mut` links no zero-size panic where LLVM cannot
    // prove it (a firmware with two gathered layers of different shapes passes `row_len` at run time).
    let chunk = 8 * groups;
    if chunk == 0 {
        return;
    }
    let off = (scratch.as_ptr() as usize / 2) % 2;
    let Some(ws) = scratch.get_mut(off..off + pairs * chunk) else { return };
    for (p, region) in ws.chunks_exact_mut(chunk).enumerate() {
        region.fill(0);
        // Row 2p + 1 past the last channel decodes as zeros.
        if let Some(r) = region.get_mut(..2 * row_len) {
            (dec.pair)(weights, 2 * p, r);
        }
        to_dsp_pairs(region);
    }
    let (wg, _) = ws.as_chunks::<8>();
    let mut win = [0u8; GATHER_MAX];
    // The output stages, loaded once (`gathered_len` admits at most `FIN_CACHE` channels).
    let mut fins = [Finish::ZERO; FIN_CACHE];
    for (c, f) in fins.iter_mut().enumerate().take(g.out_c) {
        *f = Finish::new(stage, c);
        black_box(());
    }
    let fins = fins.get(..g.out_c).unwrap_or(&[]);
    // The sums of one pixel, all channels (and a zero for the padding channel of an odd count).
    let mut sums = [0i32; FIN_CACHE + 1];
    let run_full = g.k_w * g.in_c;
    let row_stride = g.in_w * g.in_c;
    for y in 0..g.oh {
        let top = y * g.sh;
        let rows_ok = top >= g.pad_top && top + g.k_h <= g.pad_top + g.in_h;
        for x in 0..g.ow {
            let left = x * g.sw;
            let j0 = g.pad_left.saturating_sub(left);
            let j1 = g.k_w.min((g.in_w + g.pad_left).saturating_sub(left));
            if rows_ok && j0 == 0 && j1 == g.k_w {
                // Interior: k_h whole rows, nothing to zero.
                let src = ((top - g.pad_top) * g.in_w + left - g.pad_left) * g.in_c;
                if !(run_full <= 8 && gather_short_rows(&mut win, input, src, g.k_h, run_full, row_stride)) {
                    for i in 0..g.k_h {
                        let (at, s) = (i * run_full, src + i * row_stride);
                        if let (Some(s), Some(d)) = (input.get(s..s + run_full), win.get_mut(at..at + run_full)) {
                            copy_bytes(d, s);
                        }
                    }
                }
            } else {
                for i in 0..g.k_h {
                    let Some(dst) = win.get_mut(i * run_full..(i + 1) * run_full) else { break };
                    let iy = (top + i).wrapping_sub(g.pad_top);
                    if top + i < g.pad_top || iy >= g.in_h || j0 >= j1 {
                        dst.fill(0);
                        continue;
                    }
                    let (a, b) = (j0 * g.in_c, j1 * g.in_c);
                    let src = (iy * g.in_w + left + j0 - g.pad_left) * g.in_c;
                    for (k, d) in dst.iter_mut().enumerate() {
                        *d = if k >= a && k < b { input.get(src + k - a).copied().unwrap_or(0) } else { 0 };
                    }
                }
            }
            let (wx, _) = win.get(..4 * groups).unwrap_or(&[]).as_chunks::<4>();
            if let (Some(w), Some(t)) = (wg.get(..pairs * groups), sums.get_mut(..2 * pairs)) {
                dot2_pairs(w, wx, t);
            }
            let px = (y * g.ow + x) * g.out_c;
            let Some(outs) = output.get_mut(px..px + g.out_c) else { return };
            for ((o, f), &t) in outs.iter_mut().zip(fins).zip(sums.iter()) {
                *o = f.apply(t);
            }
        }
    }
}

/// `output[i] = v` where `i` is inside (every index the kernels compute is; the check keeps a panic path out
/// of the firmware).
#[inline(always)]
fn put(output: &mut [u8], i: usize, v: u8) {
    if let Some(o) = output.get_mut(i) {
        *o = v;
    }
}

/// Copies `rows` window rows of `run ≤ 8` bytes (row `i` from `input[src + i·stride..]`) to `win[i·run..]`,
/// 8 bytes each (two word copies): a row runs over into the next one, which is copied after it, or into the
/// padding of the last group, whose weights are 0. False (and possibly a partial copy) when a row's 8
/// bytes are not all inside `input` or `win`: the caller then copies exactly. Out of line: in the pixel
/// loop LLVM spills around it (27 instructions per row measured, 9 here).
#[inline(never)]
fn gather_short_rows(
    win: &mut [u8; GATHER_MAX],
    input: &[u8],
    src: usize,
    rows: usize,
    run: usize,
    stride: usize,
) -> bool {
    let (mut src, mut at) = (src, 0);
    for _ in 0..rows {
        let (Some(s), Some(d)) = (input.get(src..src + 8), win.get_mut(at..at + 8)) else { return false };
        d.copy_from_slice(s);
        src += stride;
        at += run;
    }
    true
}

/// Interior pixels per call of the row loop ([`dot2_row`]; its sums on the stack: 256 bytes).
const ROW_RUN: usize = 32;

/// Output stages the gathered path keeps loaded (on the stack, 24 bytes each).
const FIN_CACHE: usize = 32;

/// Copies `src` into `dst` (the shorter length) a word at a time: the runs are a few bytes long, and
/// `copy_from_slice` would call `memcpy` for each.
#[inline(always)]
fn copy_bytes(dst: &mut [u8], src: &[u8]) {
    let n = dst.len().min(src.len());
    let (d4, dt) = dst.split_at_mut(n).0.as_chunks_mut::<4>();
    let (s4, st) = src.split_at(n).0.as_chunks::<4>();
    for (d, s) in d4.iter_mut().zip(s4) {
        *d = *s;
        black_box(());
    }
    for (d, s) in dt.iter_mut().zip(st) {
        *d = *s;
        black_box(());
    }
}

// The DSP path. With `in_c % 4 == 0`, every run of the inner loops starts at a multiple of 4 window
// elements and is whole groups of 4, so the weights are stored per group of 4 in the order `SMLAD` wants
// them against `UXTB16` of 4 activation bytes `x0 x1 x2 x3` (`(x0, x2)` and `(x1, x3)` as halfwords):
// one channel's group as `w0 w2 w1 w3` (`to_dsp_single`), two channels' as `a0 a2 a1 a3 b0 b2 b1 b3`
// (`to_dsp_pairs`, from the interleaved `a0 b0 a1 b1 …`). Products are exact (|w| ≤ 256, x ≤ 255) and
// the sums wrap, as in the reference.

/// Interleaved pairs → per group of 4 window elements `a0 a2 a1 a3 b0 b2 b1 b3` (see above).
/// Once per channel pair, so kept small: out of line and not unrolled (shared by both DSP paths).
#[inline(never)]
fn to_dsp_pairs(ws: &mut [i16]) {
    for g in ws.chunks_exact_mut(8) {
        let [a0, b0, a1, b1, a2, b2, a3, b3] = [g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]];
        g.copy_from_slice(&[a0, a2, a1, a3, b0, b2, b1, b3]);
        black_box(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Packed sums against plain sums at the exactness limit: every product at ±max, the longest run
    /// `swar_chunk` allows.
    #[test]
    fn swar_exact_at_the_limit() {
        for bits in 1..=8u8 {
            for x_max in [1u8, 3, 15, 255] {
                let run = swar_chunk(bits, x_max as u32).min(4000);
                if run == 0 {
                    continue;
                }
                let lo = -(1i16 << bits);
                let hi = (1i16 << bits) - 1;
                for (w0, w1) in [(lo, lo), (lo, hi), (hi, lo), (hi, hi), (lo, 0), (0, lo), (-1, 1)] {
                    let plain: Vec<i16> = (0..run).flat_map(|_| [w0, w1]).collect();
                    let mut packed = plain.clone();
                    to_swar_pairs(&mut packed);
                    let a = vec![x_max; run];
                    let mut want = [0i32; 4];
                    dot_2x2(&plain, &a, &a, &mut want);
                    let mut got = [0i32; 4];
                    swar_2x2(&packed, &a, &a, &mut got);
                    assert_eq!(got, want, "bits {bits} x_max {x_max} run {run} w ({w0}, {w1})");
                    let mut got1 = [0i32; 4];
                    swar_2x1(&packed, &a, &mut got1);
                    assert_eq!((got1[0], got1[2]), (want[0], want[2]));
                }
            }
        }
    }

    proptest! {
        /// Random pairs and activations within the bound: packed = plain.
        #[test]
        fn swar_equals_plain(
            bits in 1u8..=8, x_max in 1u8..=255, seed in proptest::collection::vec(any::<(i16, i16, u8, u8)>(), 1..300),
        ) {
            let run = swar_chunk(bits, x_max as u32).min(seed.len());
            prop_assume!(run > 0);
            let m = 1i32 << bits;
            let clamp = |w: i16| ((w as i32).rem_euclid(2 * m) - m) as i16; // in [-2^bits, 2^bits - 1]
            let plain: Vec<i16> = seed[..run].iter().flat_map(|&(a, b, _, _)| [clamp(a), clamp(b)]).collect();
            let a0: Vec<u8> = seed[..run].iter().map(|s| (s.2 as u16 % (x_max as u16 + 1)) as u8).collect();
            let a1: Vec<u8> = seed[..run].iter().map(|s| (s.3 as u16 % (x_max as u16 + 1)) as u8).collect();
            let mut packed = plain.clone();
            to_swar_pairs(&mut packed);
            let (mut want, mut got) = ([1i32, -2, 3, -4], [1i32, -2, 3, -4]);
            dot_2x2(&plain, &a0, &a1, &mut want);
            swar_2x2(&packed, &a0, &a1, &mut got);
            prop_assert_eq!(got, want);
        }
    }
}
