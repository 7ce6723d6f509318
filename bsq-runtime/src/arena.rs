//! Borrowing disjoint tensors out of one activation arena, and constant tensors. Used by generated model
//! code (and by codegen's host executor) to run a static memory plan without `unsafe`.

use crate::Error;

/// Splits `arena` into a shared view of `input` and a mutable view of `output` (byte ranges `start..end`).
/// The ranges must lie inside the arena and not overlap.
pub fn split_in_out(
    arena: &mut [u8],
    input: (usize, usize),
    output: (usize, usize),
) -> Result<(&[u8], &mut [u8]), Error> {
    check_range(arena.len(), input)?;
    check_range(arena.len(), output)?;
    if input.0 < output.1 && output.0 < input.1 && input.0 != input.1 && output.0 != output.1 {
        return Err(Error::Shape { what: "arena ranges overlap" });
    }
    if input.1 <= output.0 {
        let (lo, hi) = arena.split_at_mut(output.0);
        Ok((&lo[input.0..input.1], &mut hi[..output.1 - output.0]))
    } else {
        let (lo, hi) = arena.split_at_mut(input.0);
        Ok((&hi[..input.1 - input.0], &mut lo[output.0..output.1]))
    }
}

/// Like [`split_in_out`] with two inputs (which may overlap each other, e.g. `x + x`).
#[allow(clippy::type_complexity)]
pub fn split_in2_out(
    arena: &mut [u8],
    a: (usize, usize),
    b: (usize, usize),
    output: (usize, usize),
) -> Result<(&[u8], &[u8], &mut [u8]), Error> {
    check_range(arena.len(), a)?;
    check_range(arena.len(), b)?;
    check_range(arena.len(), output)?;
    for r in [a, b] {
        if r.0 < output.1 && output.0 < r.1 && r.0 != r.1 && output.0 != output.1 {
            return Err(Error::Shape { what: "arena ranges overlap" });
        }
    }
    let (before, rest) = arena.split_at_mut(output.0);
    let (out, after) = rest.split_at_mut(output.1 - output.0);
    // A range lies entirely before or entirely after the output (checked above).
    let pick = |r: (usize, usize)| -> (usize, usize, bool) {
        if r.1 <= output.0 { (r.0, r.1, true) } else { (r.0 - output.1, r.1 - output.1, false) }
    };
    let (a0, a1, a_before) = pick(a);
    let (b0, b1, b_before) = pick(b);
    let (before, after): (&[u8], &[u8]) = (before, after);
    let a_slice = if a_before { &before[a0..a1] } else { &after[a0..a1] };
    let b_slice = if b_before { &before[b0..b1] } else { &after[b0..b1] };
    Ok((a_slice, b_slice, out))
}

/// Like [`split_in_out`] with `N` inputs (which may overlap each other, none the output): shared views of
/// every input range, in order, and a mutable view of `output`. For a channel concat.
#[allow(clippy::type_complexity)]
pub fn split_ins_out<const N: usize>(
    arena: &mut [u8],
    inputs: [(usize, usize); N],
    output: (usize, usize),
) -> Result<([&[u8]; N], &mut [u8]), Error> {
    check_range(arena.len(), output)?;
    for r in inputs {
        check_range(arena.len(), r)?;
        if r.0 < output.1 && output.0 < r.1 && r.0 != r.1 && output.0 != output.1 {
            return Err(Error::Shape { what: "arena ranges overlap" });
        }
    }
    // Checked splits (the ranges were checked above; said again so that no panic path is linked).
    let bad = Error::Shape { what: "arena ranges overlap" };
    let (before, rest) = arena.split_at_mut_checked(output.0).ok_or(bad)?;
    let (out, after) = rest.split_at_mut_checked(output.1.saturating_sub(output.0)).ok_or(bad)?;
    let (before, after): (&[u8], &[u8]) = (before, after);
    let mut views: [&[u8]; N] = [&[]; N];
    for (v, r) in views.iter_mut().zip(inputs) {
        // A range lies entirely before or entirely after the output (checked above).
        let view = if r.1 <= output.0 {
            before.get(r.0..r.1)
        } else {
            r.0.checked_sub(output.1).and_then(|s| after.get(s..s + (r.1 - r.0)))
        };
        *v = view.ok_or(bad)?;
    }
    Ok((views, out))
}

fn check_range(len: usize, r: (usize, usize)) -> Result<(), Error> {
    if r.0 > r.1 || r.1 > len {
        return Err(Error::Length { what: "arena range end", expected: len, got: r.1 });
    }
    Ok(())
}

/// Fills an HWC tensor with one constant byte per channel (`output.len()` must be a multiple of
/// `values.len()`): what a 0-bit layer (all weights zero) still computes — its requantized bias.
pub fn fill_channels(values: &[u8], output: &mut [u8]) -> Result<(), Error> {
    if values.is_empty() || !output.len().is_multiple_of(values.len()) {
        return Err(Error::Length {
            what: "constant tensor (not a whole number of pixels)",
            expected: output.len().next_multiple_of(values.len().max(1)),
            got: output.len(),
        });
    }
    for px in output.chunks_exact_mut(values.len()) {
        px.copy_from_slice(values);
    }
    Ok(())
}
