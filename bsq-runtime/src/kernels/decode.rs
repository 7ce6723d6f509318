//! Sequential decoders of packed rows (the fast counterpart of [`PackedWeights::get`]).
//!
//! A row of `(n+1)`-bit fields is read in **groups of 8 fields**, which take exactly `W = n+1` bytes: inside
//! a group, field `k` starts at the constant bit `k·W`, so with `W` a const generic every byte index, shift
//! and mask is a compile-time constant and a field costs a byte (or halfword) load and one signed bit-field
//! extract (`sbfx` on Cortex-M3/M4). Widths whose fields align with bytes (`W = 2, 4, 8`) never straddle a
//! byte. The last `row_len % 8` fields are decoded from a zero-padded copy of the row's tail.

use crate::PackedWeights;

/// Field `k` (`k < 8`) of a group of 8 `W`-bit fields, sign-extended.
#[inline(always)]
pub(crate) fn field<const W: usize>(g: &[u8; W], k: usize) -> i32 {
    let bit = k * W;
    let byte = bit / 8;
    let sh = bit % 8;
    let lo = g[byte] as u32;
    let x = if sh + W > 8 { lo | ((g[byte + 1] as u32) << 8) } else { lo };
    ((x << (32 - W - sh)) as i32) >> (32 - W)
}

/// The 8 fields of one group.
#[inline(always)]
pub(crate) fn group<const W: usize>(g: &[u8; W]) -> [i32; 8] {
    [field(g, 0), field(g, 1), field(g, 2), field(g, 3), field(g, 4), field(g, 5), field(g, 6), field(g, 7)]
}

/// The tail of a row (the bytes after the last whole group, fewer than `W`), zero-padded to a group.
#[inline(always)]
pub(crate) fn tail_group<const W: usize>(rest: &[u8]) -> [u8; W] {
    let mut g = [0u8; W];
    for (d, s) in g.iter_mut().zip(rest) {
        *d = *s;
    }
    g
}

/// Decodes one row of `W`-bit fields (`out.len() / S` fields) into the elements `k·S + O` of `out`
/// (`S = 1`: contiguous; `S = 2`: interleaved with another row). A short `row` reads as zero bits.
#[inline(always)]
fn decode_w<const W: usize, const S: usize, const O: usize>(row: &[u8], out: &mut [i16]) {
    let n = out.len() / S;
    let full = n / 8;
    let (head, rest) = row.split_at((full * W).min(row.len()));
    let mut outs = out.chunks_exact_mut(8 * S);
    for (g, o) in head.chunks_exact(W).zip(&mut outs) {
        let g: &[u8; W] = g.try_into().unwrap_or(&[0; W]);
        let v = group(g);
        for k in 0..8 {
            o[k * S + O] = v[k] as i16;
        }
    }
    let left = n - full * 8;
    if left > 0 {
        let v = group(&tail_group::<W>(rest));
        let o = outs.into_remainder();
        for (k, &val) in v.iter().enumerate().take(left) {
            if let Some(d) = o.get_mut(k * S + O) {
                *d = val as i16;
            }
        }
    }
}

#[inline(always)]
fn decode_s<const S: usize, const O: usize>(bits: u8, row: &[u8], out: &mut [i16]) {
    match bits {
        1 => decode_w::<2, S, O>(row, out),
        2 => decode_w::<3, S, O>(row, out),
        3 => decode_w::<4, S, O>(row, out),
        4 => decode_w::<5, S, O>(row, out),
        5 => decode_w::<6, S, O>(row, out),
        6 => decode_w::<7, S, O>(row, out),
        7 => decode_w::<8, S, O>(row, out),
        8 => decode_w::<9, S, O>(row, out),
        _ => {
            for (k, d) in out.iter_mut().enumerate() {
                if k % S == O {
                    *d = 0;
                }
            }
        }
    }
}

/// Decodes row `r` of `w` into `out[..w.row_len()]` (`out` must be at least that long).
pub(crate) fn decode_row(w: &PackedWeights<'_>, r: usize, out: &mut [i16]) {
    let n = w.row_len();
    decode_s::<1, 0>(w.bits(), w.row_data(r), &mut out[..n]);
}

/// Decodes rows `r` and `r+1` of `w` interleaved into `out[..2·w.row_len()]`: `out[2k]` is weight `k` of
/// row `r`, `out[2k+1]` weight `k` of row `r+1`.
pub(crate) fn decode_row_pair(w: &PackedWeights<'_>, r: usize, out: &mut [i16]) {
    let n = w.row_len();
    let out = &mut out[..2 * n];
    decode_s::<2, 0>(w.bits(), w.row_data(r), out);
    decode_s::<2, 1>(w.bits(), w.row_data(r + 1), out);
}
