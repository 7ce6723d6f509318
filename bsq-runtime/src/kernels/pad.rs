//! The padding step ([`pad`]): contract of [`crate::reference::pad`], written as whole rows (a constant
//! run for the border rows and the left and right columns, one copy per input row) instead of one
//! position test per byte.

use crate::reference::check_len;
use crate::{Error, PadShape};

/// Fast padding step; contract and errors of [`crate::reference::pad`]: the input in the middle of the
/// output, every other byte `value`.
///
/// Every split is checked (`split_at_mut_checked`) and every copy a zip of two slices, so no index or
/// length can fail: no panic path (the lengths were checked before, so the checked splits always succeed).
pub fn pad(shape: &PadShape, value: u8, input: &[u8], output: &mut [u8]) -> Result<(), Error> {
    let (in_len, out_len) = shape.lens()?;
    let (_, ow) = shape.out_hw()?;
    check_len("pad input", in_len, input.len())?;
    check_len("pad output", out_len, output.len())?;
    // Lengths in bytes: an output row, an input row, the left and right border of a row, the top border.
    // (No overflow: each is at most `out_len`, which `lens` computed with checked arithmetic.)
    let row_out = ow * shape.c;
    let row_in = shape.in_w * shape.c;
    let left = shape.pad_left * shape.c;
    let top = shape.pad_top * row_out;
    let Some((top_rows, mut rest)) = output.split_at_mut_checked(top) else { return Ok(()) };
    top_rows.fill(value);
    let mut src = input;
    for _ in 0..shape.in_h {
        let Some((row, tail)) = core::mem::take(&mut rest).split_at_mut_checked(row_out) else { break };
        let Some((src_row, src_tail)) = src.split_at_checked(row_in) else { break };
        let Some((border_left, inner)) = row.split_at_mut_checked(left) else { break };
        let Some((middle, border_right)) = inner.split_at_mut_checked(row_in) else { break };
        border_left.fill(value);
        for (d, &s) in middle.iter_mut().zip(src_row) {
            *d = s;
        }
        border_right.fill(value);
        (rest, src) = (tail, src_tail);
    }
    // The bottom rows.
    rest.fill(value);
    Ok(())
}
