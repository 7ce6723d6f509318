//! Fast fully connected layer: each weight is used once, so it is decoded on the fly (no scratch pass):
//! 8 fields (= `W` bytes) at a time with the const-width group decoder, multiplied with 8 activations.

use super::decode::{group, tail_group};
use super::{Finish, scratch_len};
use crate::reference::check_len;
use crate::{Error, OutputStage, PackedWeights};

/// Fast fully connected layer; contract of [`crate::reference::dense`]. `scratch` must hold at least
/// [`scratch_len`]`(weights.row_len())` elements ([`Error::Length`] otherwise; this version does not
/// write it).
pub fn dense(
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    scratch: &mut [i16],
    output: &mut [u8],
) -> Result<(), Error> {
    check_len("dense input", weights.row_len(), input.len())?;
    check_len("dense output", weights.rows(), output.len())?;
    stage.check(output.len())?;
    let need = scratch_len(weights.row_len());
    if scratch.len() < need {
        return Err(Error::Length { what: "dense scratch", expected: need, got: scratch.len() });
    }
    match weights.bits() {
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
#[inline(always)]
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
