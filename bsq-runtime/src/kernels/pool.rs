//! Pooling ([`max_pool`], [`avg_pool`], [`global_avg_pool`]): the contracts of
//! [`crate::reference::max_pool`] and [`crate::reference::avg_pool`], written for flash rather than speed
//! (pooling is a sliver of a network's work): loops not unrolled (an empty `black_box(())` in the window
//! loop), every index through `get` (no panic path). Two loop nests per pool: an unpadded shape takes the
//! plain window loops, a padded one the loops that skip the window positions outside the input (and count
//! the others for the average). Generated code calls [`max_pool_with`] / [`avg_pool_with`] with `PADDED`
//! known at compile time, so a firmware links only the loop nests its pools use.

use core::hint::black_box;

use crate::reference::{check_len, div_round};
use crate::requant::load;
use crate::{Error, PoolShape};

/// Whether a pooling shape has any padding (the `PADDED` of [`max_pool_with`] / [`avg_pool_with`]).
pub const fn pool_padded(shape: &PoolShape) -> bool {
    (shape.pad_top | shape.pad_left | shape.pad_bottom | shape.pad_right) != 0
}

/// The shape's lengths checked against the slices; `(out_h, out_w)`. `padded`: the shape may have padding
/// ([`PoolShape::lens`]); else it is known to have none (the same results with fewer checks).
#[inline(always)]
fn check(shape: &PoolShape, padded: bool, input: &[u8], output: &[u8]) -> Result<(usize, usize), Error> {
    let (in_len, out_len, oh, ow) = if padded { shape.lens()? } else { shape.lens_unpadded()? };
    check_len("pool input", in_len, input.len())?;
    check_len("pool output", out_len, output.len())?;
    Ok((oh, ow))
}

/// The input row (or column) of window position `i` at output position `pos`, if it is inside the input.
#[inline(always)]
fn cell(pos: usize, stride: usize, i: usize, pad: usize, n: usize) -> Option<usize> {
    // Wrapping: a position in the top or left padding becomes a huge value, outside like any other.
    Some((pos * stride + i).wrapping_sub(pad)).filter(|&v| v < n)
}

/// An unpadded shape (the caller checked): the plain window loops.
fn max_plain(shape: &PoolShape, signed: bool, input: &[u8], output: &mut [u8]) -> Result<(), Error> {
    let (oh, ow) = check(shape, false, input, output)?;
    for y in 0..oh {
        for x in 0..ow {
            for c in 0..shape.c {
                let mut best = i32::MIN;
                for i in 0..shape.k_h {
                    for j in 0..shape.k_w {
                        let k = ((y * shape.stride_h + i) * shape.in_w + x * shape.stride_w + j) * shape.c + c;
                        best = best.max(load(input.get(k).copied().unwrap_or(0), signed));
                        black_box(());
                    }
                }
                if let Some(o) = output.get_mut((y * ow + x) * shape.c + c) {
                    *o = best as u8;
                }
            }
        }
    }
    Ok(())
}

fn max_padded(shape: &PoolShape, signed: bool, input: &[u8], output: &mut [u8]) -> Result<(), Error> {
    let (oh, ow) = check(shape, true, input, output)?;
    for y in 0..oh {
        for x in 0..ow {
            for c in 0..shape.c {
                let mut best = i32::MIN;
                for i in 0..shape.k_h {
                    let iy = cell(y, shape.stride_h, i, shape.pad_top, shape.in_h);
                    for j in 0..shape.k_w {
                        let ix = cell(x, shape.stride_w, j, shape.pad_left, shape.in_w);
                        if let (Some(iy), Some(ix)) = (iy, ix) {
                            let k = (iy * shape.in_w + ix) * shape.c + c;
                            best = best.max(load(input.get(k).copied().unwrap_or(0), signed));
                        }
                        black_box(());
                    }
                }
                if let Some(o) = output.get_mut((y * ow + x) * shape.c + c) {
                    *o = best as u8;
                }
            }
        }
    }
    Ok(())
}

/// An unpadded shape (the caller checked): the plain window loops, `n = k_h·k_w`.
fn avg_plain(shape: &PoolShape, signed: bool, input: &[u8], output: &mut [u8]) -> Result<(), Error> {
    let (oh, ow) = check(shape, false, input, output)?;
    let n = (shape.k_h * shape.k_w) as i32;
    for y in 0..oh {
        for x in 0..ow {
            for c in 0..shape.c {
                let mut sum = 0i32;
                for i in 0..shape.k_h {
                    for j in 0..shape.k_w {
                        let k = ((y * shape.stride_h + i) * shape.in_w + x * shape.stride_w + j) * shape.c + c;
                        sum += load(input.get(k).copied().unwrap_or(0), signed);
                    }
                }
                if let Some(o) = output.get_mut((y * ow + x) * shape.c + c) {
                    *o = div_round(sum, n) as u8;
                }
            }
        }
    }
    Ok(())
}

fn avg_padded(shape: &PoolShape, signed: bool, input: &[u8], output: &mut [u8]) -> Result<(), Error> {
    let (oh, ow) = check(shape, true, input, output)?;
    for y in 0..oh {
        for x in 0..ow {
            for c in 0..shape.c {
                // `n ≥ 1`: each padding is smaller than the kernel (checked), so every window has an input cell.
                let (mut sum, mut n) = (0i32, 0i32);
                for i in 0..shape.k_h {
                    let iy = cell(y, shape.stride_h, i, shape.pad_top, shape.in_h);
                    for j in 0..shape.k_w {
                        let ix = cell(x, shape.stride_w, j, shape.pad_left, shape.in_w);
                        if let (Some(iy), Some(ix)) = (iy, ix) {
                            let k = (iy * shape.in_w + ix) * shape.c + c;
                            sum += load(input.get(k).copied().unwrap_or(0), signed);
                            n += 1;
                        }
                        black_box(());
                    }
                }
                if let Some(o) = output.get_mut((y * ow + x) * shape.c + c) {
                    *o = div_round(sum, n) as u8;
                }
            }
        }
    }
    Ok(())
}

/// Max pooling; contract and errors of [`crate::reference::max_pool`]: the largest value among the input
/// cells of each window (padded cells ignored), compared as signed if `signed`. Links both loop nests; see
/// [`max_pool_with`].
pub fn max_pool(shape: &PoolShape, signed: bool, input: &[u8], output: &mut [u8]) -> Result<(), Error> {
    if pool_padded(shape) { max_padded(shape, signed, input, output) } else { max_plain(shape, signed, input, output) }
}

/// [`max_pool`] for shapes with (`PADDED = true`) or without padding only, so that a firmware links one loop
/// nest. A shape whose padding does not match `PADDED` is refused (`Error::Shape`, "padding differs from
/// the kernel's").
pub fn max_pool_with<const PADDED: bool>(
    shape: &PoolShape,
    signed: bool,
    input: &[u8],
    output: &mut [u8],
) -> Result<(), Error> {
    match (PADDED, pool_padded(shape)) {
        (true, true) => max_padded(shape, signed, input, output),
        (false, false) => max_plain(shape, signed, input, output),
        _ => Err(Error::Shape { what: "padding differs from the kernel's" }),
    }
}

/// Average pooling; contract and errors of [`crate::reference::avg_pool`]: `round(Σ / n)` over the `n ≥ 1`
/// input cells of each window (padded cells neither summed nor counted), ties away from zero
/// ([`div_round`]), the sum in `i32` (windows have at most 2^23 elements). Links both loop nests; see
/// [`avg_pool_with`].
pub fn avg_pool(shape: &PoolShape, signed: bool, input: &[u8], output: &mut [u8]) -> Result<(), Error> {
    if pool_padded(shape) { avg_padded(shape, signed, input, output) } else { avg_plain(shape, signed, input, output) }
}

/// [`avg_pool`] for shapes with (`PADDED = true`) or without padding only (as [`max_pool_with`]).
pub fn avg_pool_with<const PADDED: bool>(
    shape: &PoolShape,
    signed: bool,
    input: &[u8],
    output: &mut [u8],
) -> Result<(), Error> {
    match (PADDED, pool_padded(shape)) {
        (true, true) => avg_padded(shape, signed, input, output),
        (false, false) => avg_plain(shape, signed, input, output),
        _ => Err(Error::Shape { what: "padding differs from the kernel's" }),
    }
}

/// Global average pooling: HWC `h×w×c` → `c`, `round(Σ / (h·w))`, ties away from zero (the unpadded average
/// with the whole image as the window).
pub fn global_avg_pool(
    h: usize,
    w: usize,
    c: usize,
    signed: bool,
    input: &[u8],
    output: &mut [u8],
) -> Result<(), Error> {
    avg_plain(&PoolShape::unpadded(h, w, c, h, w, 1, 1), signed, input, output)
}
