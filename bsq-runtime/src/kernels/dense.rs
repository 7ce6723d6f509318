//! Fast fully connected layer: each weight is used once, so it is decoded on the fly (no scratch pass):
//! 8 fields (= `W` bytes) at a time with the const-width group decoder, multiplied with 8 activations.

use super::decode::{group, tail_group};
use super::{Finish, scratch_len};
use crate::dsp::{pair_word, smlad, sxtb16, sxtb16_ror8};
use crate::reference::{check_bits, check_len, check_scratch};
use crate::{Error, OutputStage, PackedWeights};

/// Fast fully connected layer; contract of [`crate::reference::dense`]. `scratch` must hold at least
/// [`scratch_len`]`(weights.row_len())` elements ([`Error::Length`] otherwise).
///
/// On cores with the DSP extension (`cfg(bsq_dsp)`) this is [`dense_dsp`]; elsewhere the portable kernel,
/// which does not write `scratch`.
pub fn dense(
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    output: &mut [u8],
) -> Result<(), Error> {
    if cfg!(bsq_dsp) {
        dsp_with(input, weights, stage, scratch, output, weights.bits())
    } else {
        portable_with(input, weights, stage, output, scratch.len(), weights.bits())
    }
}

/// [`dense`] for `BITS`-bit weights only (0..=8): the same bytes, but only this width's kernel is linked
/// into the firmware (generated model code calls it). [`Error::Shape`] if `weights` have another width.
pub fn dense_bits<const BITS: u8>(
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    output: &mut [u8],
) -> Result<(), Error> {
    check_bits(weights, BITS)?;
    if cfg!(bsq_dsp) {
        dsp_with(input, weights, stage, scratch, output, BITS)
    } else {
        portable_with(input, weights, stage, output, scratch.len(), BITS)
    }
}

/// The DSP-instruction fully connected layer; contract of [`crate::reference::dense`], same scratch as
/// [`dense`]. The activations are widened once into the scratch as `i16` (so that two of them are one word
/// load); two rows at a time, each group of 8 weights is decoded with constant shifts, paired into words
/// (`PKHBT`) and multiplied with `SMLAD`: 4 `SMLAD`s per row and group. On cores without the DSP extension it
/// runs with portable models of the instructions (same bytes, slower): that is how the host tests check it.
pub fn dense_dsp(
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    output: &mut [u8],
) -> Result<(), Error> {
    dsp_with(input, weights, stage, scratch, output, weights.bits())
}

/// [`dense_dsp`] with the weight width as an argument (a constant in [`dense_bits`]).
#[inline(always)]
fn dsp_with(
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    output: &mut [u8],
    bits: u8,
) -> Result<(), Error> {
    check_len("dense input", weights.row_len(), input.len())?;
    check_len("dense output", weights.rows(), output.len())?;
    stage.check(output.len())?;
    check_scratch("dense scratch", scratch_len(weights.row_len()), scratch.len())?;
    let xs = &mut scratch[..input.len()];
    if bits == 7 {
        // 8-bit fields: `SXTB16` pairs weights (0, 2) and (1, 3) of each 4, so the activations go in that
        // order within each whole group of 8 (the tail, decoded field by field, stays in order).
        let whole = input.len() / 8 * 8;
        for (d, a) in xs[..whole].as_chunks_mut::<4>().0.iter_mut().zip(input.as_chunks::<4>().0) {
            *d = [a[0] as i16, a[2] as i16, a[1] as i16, a[3] as i16];
            core::hint::black_box(());
        }
        for (d, &a) in xs[whole..].iter_mut().zip(&input[whole..]) {
            *d = a as i16;
            core::hint::black_box(());
        }
    } else {
        for (d, &a) in xs.iter_mut().zip(input) {
            *d = a as i16;
            // Once per layer (not per row): kept a plain loop, LLVM's unrolled version costs a kilobyte.
            core::hint::black_box(());
        }
    }
    let xs = &scratch[..input.len()];
    match bits {
        1 => dense_dsp_w::<2>(xs, weights, stage, output),
        2 => dense_dsp_w::<3>(xs, weights, stage, output),
        3 => dense_dsp_w::<4>(xs, weights, stage, output),
        4 => dense_dsp_w::<5>(xs, weights, stage, output),
        5 => dense_dsp_w::<6>(xs, weights, stage, output),
        6 => dense_dsp_w::<7>(xs, weights, stage, output),
        7 => dense_dsp_w::<8>(xs, weights, stage, output),
        8 => dense_dsp_w::<9>(xs, weights, stage, output),
        _ => {
            for (o, out) in output.iter_mut().enumerate() {
                *out = Finish::new(stage, o).apply(0);
            }
        }
    }
    Ok(())
}

/// `Σ w·x` over one group of 8 decoded weights and the matching 8 widened activations: 4 `SMLAD`s.
#[inline(always)]
fn smlad8(v: &[i32; 8], x: &[[i16; 2]; 4], acc: i32) -> i32 {
    // 16×16 products of the bottom or top halves: `SMLABB` / `SMLABT` (one instruction per MAC after the
    // field extract; measured cheaper than pairing fields with `PKHBT` for `SMLAD`, which LLVM compiled to
    // four instructions per pair).
    let mut acc = acc;
    for (k, xw) in x.iter().enumerate() {
        let xw = pair_word(xw);
        let (lo, hi) = (xw as i16 as i32, (xw >> 16) as i16 as i32);
        acc = acc.wrapping_add((v[2 * k] as i16 as i32) * lo).wrapping_add((v[2 * k + 1] as i16 as i32) * hi);
    }
    acc
}

/// `Σ w·x` over 8 byte-wide fields (7-bit weights) against 8 activations widened in the order
/// `x0 x2 x1 x3 x4 x6 x5 x7`: two word loads, four `SXTB16`, four `SMLAD`.
#[inline(always)]
fn smlad_bytes(g: &[u8], x: &[[i16; 2]; 4], acc: i32) -> i32 {
    let (lo, hi) = match g {
        [a, b, c, d, e, f, h, i, ..] => (u32::from_le_bytes([*a, *b, *c, *d]), u32::from_le_bytes([*e, *f, *h, *i])),
        _ => (0, 0),
    };
    let acc = smlad(sxtb16(lo), pair_word(&x[0]), acc);
    let acc = smlad(sxtb16_ror8(lo), pair_word(&x[1]), acc);
    let acc = smlad(sxtb16(hi), pair_word(&x[2]), acc);
    smlad(sxtb16_ror8(hi), pair_word(&x[3]), acc)
}

/// Rows of `W`-bit fields against the widened activations `xs`, two rows at a time (the activation words
/// loaded once for both). Same range argument as [`dense_w`].
// Out of line (also `dense_w`): the generic and the per-width entry points share one copy.
#[inline(never)]
fn dense_dsp_w<const W: usize>(xs: &[i16], weights: &PackedWeights<'_>, stage: &OutputStage<'_>, output: &mut [u8]) {
    let full = xs.len() / 8;
    let (xg, xt) = xs.split_at(full * 8);
    let (xg, _) = xg.as_chunks::<8>();
    let rows = output.len();
    let mut o = 0;
    while o < rows {
        let two = o + 1 < rows;
        let r0 = weights.row_data(o);
        let r1 = if two { weights.row_data(o + 1) } else { r0 };
        let (h0, t0) = r0.split_at((full * W).min(r0.len()));
        let (h1, t1) = r1.split_at((full * W).min(r1.len()));
        let (mut a0, mut a1) = (0i32, 0i32);
        for ((g0, g1), x) in h0.as_chunks::<W>().0.iter().zip(h1.as_chunks::<W>().0).zip(xg) {
            let (x, _) = x.as_chunks::<2>();
            let x: &[[i16; 2]; 4] = x.try_into().unwrap_or(&[[0; 2]; 4]);
            if W == 8 {
                // Every field is a byte: two words, two `SXTB16` each.
                a0 = smlad_bytes(g0, x, a0);
                a1 = smlad_bytes(g1, x, a1);
            } else {
                a0 = smlad8(&group(g0), x, a0);
                a1 = smlad8(&group(g1), x, a1);
            }
        }
        if !xt.is_empty() {
            let (v0, v1) = (group(&tail_group::<W>(t0)), group(&tail_group::<W>(t1)));
            for (k, &x) in xt.iter().enumerate() {
                a0 = a0.wrapping_add(v0[k & 7] * x as i32);
                a1 = a1.wrapping_add(v1[k & 7] * x as i32);
            }
        }
        if let Some(y) = output.get_mut(o) {
            *y = Finish::new(stage, o).apply(a0);
        }
        if two && let Some(y) = output.get_mut(o + 1) {
            *y = Finish::new(stage, o + 1).apply(a1);
        }
        o += 2;
    }
}

/// The portable fully connected layer (see [`dense`]), for `bits`-bit weights (a constant in
/// [`dense_bits`]); `scratch` elements are counted, not used.
#[inline(always)]
fn portable_with(
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    output: &mut [u8],
    scratch: usize,
    bits: u8,
) -> Result<(), Error> {
    check_len("dense input", weights.row_len(), input.len())?;
    check_len("dense output", weights.rows(), output.len())?;
    stage.check(output.len())?;
    check_scratch("dense scratch", scratch_len(weights.row_len()), scratch)?;
    match bits {
        1 => dense_w::<2>(input, weights, stage, output),
        2 => dense_w::<3>(input, weights, stage, output),
        3 => dense_w::<4>(input, weights, stage, output),
        4 => dense_w::<5>(input, weights, stage, output),
        5 => dense_w::<6>(input, weights, stage, output),
        6 => dense_w::<7>(input, weights, stage, output),
        7 => dense_w::<8>(input, weights, stage, output),
        8 => dense_w::<9>(input, weights, stage, output),
        _ => {
            // 0-bit layer: every accumulator is 0.
            for (o, out) in output.iter_mut().enumerate() {
                *out = Finish::new(stage, o).apply(0);
            }
        }
    }
    Ok(())
}

/// Rows of `W`-bit fields. Range argument: |w| ≤ 256, a ≤ 255, every product fits in i32; sums wrap.
#[inline(never)]
fn dense_w<const W: usize>(input: &[u8], weights: &PackedWeights<'_>, stage: &OutputStage<'_>, output: &mut [u8]) {
    let full = input.len() / 8;
    let (ih, it) = input.split_at(full * 8);
    for (o, out) in output.iter_mut().enumerate() {
        let row = weights.row_data(o);
        let (rh, rt) = row.split_at((full * W).min(row.len()));
        let mut acc = 0i32;
        for (g, a) in rh.chunks_exact(W).zip(ih.chunks_exact(8)) {
            let g: &[u8; W] = g.try_into().unwrap_or(&[0; W]);
            let v = group(g);
            for k in 0..8 {
                acc = acc.wrapping_add(v[k] * a[k] as i32);
            }
        }
        if !it.is_empty() {
            let v = group(&tail_group::<W>(rt));
            for (k, &a) in it.iter().enumerate() {
                acc = acc.wrapping_add(v[k] * a as i32);
            }
        }
        *out = Finish::new(stage, o).apply(acc);
    }
}
