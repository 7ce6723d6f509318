//! Fast 2-D convolution.
//!
//! Strategy (designed for Cortex-M, where every load and multiply is an instruction):
//!
//! * the packed rows of **two output channels** are decoded once, interleaved, into the `i16` scratch
//!   (`w[2k]`, `w[2k+1]`), and stay there while every output pixel of those two channels is computed;
//! * output pixels whose window lies entirely inside the input are computed **two at a time**; the inner
//!   loop then reads one pair of weights and two activations and does four multiply-adds (weights reused
//!   across pixels, activations across channels);
//! * padding is handled outside the inner loop: for each output row the valid window rows `i0..i1` are
//!   computed once, and for a border pixel the valid columns `j0..j1`; the inner loop is always one
//!   contiguous run of `(j1−j0)·in_c` activations (HWC) against the same run of weights
//!   (`[kh][kw][in_c]`);
//! * the bias, requantization and clamp of a channel are hoisted out of the pixel loops.
//!
//! Accumulation is wrapping `i32`, as in the reference; since wrapping addition is associative and
//! commutative, the different summation order gives the same bits.

use super::decode::{decode_row, decode_row_pair};
use super::{Finish, scratch_len};
use crate::reference::{check_len, check_weights};
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
pub fn conv2d(
    shape: &Conv2dShape,
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    output: &mut [u8],
) -> Result<(), Error> {
    let (in_len, out_len, row_len) = shape.lens()?;
    let (oh, ow) = shape.out_hw()?;
    check_len("conv input", in_len, input.len())?;
    check_len("conv output", out_len, output.len())?;
    check_weights(weights, shape.out_c, row_len)?;
    stage.check(shape.out_c)?;
    let need = scratch_len(row_len);
    if scratch.len() < need {
        return Err(Error::Length { what: "conv scratch", expected: need, got: scratch.len() });
    }
    // Interior columns: x·sw ≥ pad_left and x·sw − pad_left + k_w ≤ in_w.
    let xa = shape.pad_left.div_ceil(shape.stride_w).min(ow);
    let xb = if shape.in_w + shape.pad_left >= shape.k_w {
        ((shape.in_w + shape.pad_left - shape.k_w) / shape.stride_w + 1).min(ow)
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
        sh: shape.stride_h,
        sw: shape.stride_w,
        pad_top: shape.pad_top,
        pad_left: shape.pad_left,
        oh,
        ow,
        xa,
        xb: xb.max(xa),
    };
    let mut o = 0;
    while o + 2 <= g.out_c {
        let ws = &mut scratch[..2 * row_len];
        decode_row_pair(weights, o, ws);
        channels::<2>(&g, ws, input, [Finish::new(stage, o), Finish::new(stage, o + 1)], o, output);
        o += 2;
    }
    if o < g.out_c {
        let ws = &mut scratch[..row_len];
        decode_row(weights, o, ws);
        channels::<1>(&g, ws, input, [Finish::new(stage, o)], o, output);
    }
    Ok(())
}

/// All output pixels of the `C` channels `o..o+C` (`C` = 1 or 2), weights decoded in `ws`
/// (interleaved when `C = 2`).
#[inline(always)]
fn channels<const C: usize>(g: &Geo, ws: &[i16], input: &[u8], fin: [Finish; C], o: usize, output: &mut [u8]) {
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
            if x >= g.xa && x + 2 <= g.xb {
                // Two interior pixels: full window columns, activations of pixel x+1 at `pix_step`.
                let mut base = ((top + i0 - g.pad_top) * g.in_w + x * g.sw - g.pad_left) * g.in_c;
                for i in i0..i1 {
                    // Both pixels' windows in one slice: pixel x at 0, pixel x+1 at `pix_step`.
                    let a = &input[base..base + pix_step + run_full];
                    let (a0, a1) = (&a[..run_full], &a[pix_step..]);
                    let w = &ws[C * i * run_full..C * (i + 1) * run_full];
                    base += row_stride;
                    if C == 2 {
                        dot_2x2(w, a0, a1, &mut acc);
                    } else {
                        dot_1x2(w, a0, a1, &mut acc);
                    }
                }
                for c in 0..C {
                    output[(out_row + x) * g.out_c + o + c] = fin[c].apply(acc[2 * c]);
                    output[(out_row + x + 1) * g.out_c + o + c] = fin[c].apply(acc[2 * c + 1]);
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
                        let a0 = &input[base..base + run];
                        let wstart = C * ((i * g.k_w + j0) * g.in_c);
                        let w = &ws[wstart..wstart + C * run];
                        if C == 2 {
                            dot_2x1(w, a0, &mut acc);
                        } else {
                            dot_1x1(w, a0, &mut acc);
                        }
                    }
                }
                for c in 0..C {
                    output[(out_row + x) * g.out_c + o + c] = fin[c].apply(acc[2 * c]);
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
