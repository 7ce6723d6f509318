//! Sequential decoders of packed rows (the fast counterpart of [`PackedWeights::get`]).
//!
//! A row of `(n+1)`-bit fields is read in **groups of 8 fields**, which take exactly `W = n+1` bytes: inside
//! a group, field `k` starts at the constant bit `k·W`, so with `W` a const generic every shift is a
//! compile-time constant: the group is loaded as (at most) two words and a byte, and most fields cost one
//! signed bit-field extract (`sbfx` on Cortex-M3/M4). The last `row_len % 8` fields are decoded from a
//! zero-padded copy of the row's tail.

use crate::PackedWeights;
use crate::dsp::load_le32;

/// Sign-extends the low `W` bits of `x`.
#[inline(always)]
fn sext<const W: usize>(x: u32) -> i32 {
    ((x << (32 - W)) as i32) >> (32 - W)
}

/// The 8 fields of one group of `W` bytes (`W` = field width in bits, 2..=9), sign-extended.
///
/// The group is read as two little-endian 32-bit words (`lo` = bytes 0..4, `hi` = bytes 4..8, missing bytes
/// zero) plus, for `W = 9`, byte 8. With every bit position constant, a field inside one word is one
/// signed bit-field extract (`sbfx`), a field straddling the words is `lsr` + `orr … lsl` + `sbfx`.
#[inline(always)]
pub(crate) fn group<const W: usize>(g: &[u8; W]) -> [i32; 8] {
    let b = |i: usize| if i < W { g[i] } else { 0 };
    // Whole words with one load each where the group has them (see `load_le32`).
    // A word past the group's end (W < 8) is the group's last 4 bytes shifted down (the missing bytes 0).
    let load = |at: usize| g.get(at..at + 4).and_then(|w| <&[u8; 4]>::try_from(w).ok()).map(load_le32);
    let word = |at: usize| match load(at) {
        Some(w) => w,
        None if W >= 4 && at < W => load(W - 4).map_or(0, |w| w >> (8 * (at + 4 - W))),
        None => u32::from_le_bytes([b(at), b(at + 1), b(at + 2), b(at + 3)]),
    };
    let lo = word(0);
    let hi = word(4);
    let top = b(8) as u32;
    let field = |k: usize| -> i32 {
        let bit = k * W;
        if bit + W <= 32 {
            sext::<W>(lo >> bit)
        } else if bit < 32 {
            sext::<W>((lo >> bit) | (hi << (32 - bit)))
        } else if bit + W <= 64 {
            sext::<W>(hi >> (bit - 32))
        } else {
            // Only W = 9, field 7: bits 63..72.
            sext::<W>((hi >> (bit - 32)) | (top << (64 - bit)))
        }
    };
    [field(0), field(1), field(2), field(3), field(4), field(5), field(6), field(7)]
}

/// The tail of a row (the bytes after the last whole group, fewer than `W`), zero-padded to a group.
#[inline(always)]
pub(crate) fn tail_group<const W: usize>(rest: &[u8]) -> [u8; W] {
    let mut g = [0u8; W];
    for (d, s) in g.iter_mut().zip(rest) {
        *d = *s;
        // A few bytes: without the barrier LLVM calls `memcpy` (and links its 730 bytes) for them.
        core::hint::black_box(());
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

/// A row decoder: row `r` of the weights into `out` (see [`decode_row`] and [`decode_row_pair`]).
pub(crate) type Decoder = fn(&PackedWeights<'_>, usize, &mut [i16]);

/// Decoders of one width: `(one row, two rows interleaved)`.
#[derive(Clone, Copy)]
pub(crate) struct Decoders {
    pub(crate) one: Decoder,
    pub(crate) pair: Decoder,
}

/// The decoders of `bits`-bit weights (0 and out-of-range widths decode as zeros, like `get`). With a
/// constant `bits` (the per-width kernels [`crate::conv2d_bits`]) only that width's decoders are linked.
#[inline(always)]
pub(crate) fn decoders(bits: u8) -> Decoders {
    fn one<const W: usize>(w: &PackedWeights<'_>, r: usize, out: &mut [i16]) {
        let n = w.row_len().min(out.len());
        decode_w::<W, 1, 0>(w.row_data(r), &mut out[..n]);
    }
    fn pair<const W: usize>(w: &PackedWeights<'_>, r: usize, out: &mut [i16]) {
        let n = (2 * w.row_len()).min(out.len());
        let out = &mut out[..n];
        decode_w::<W, 2, 0>(w.row_data(r), out);
        decode_w::<W, 2, 1>(w.row_data(r + 1), out);
    }
    fn zero(_: &PackedWeights<'_>, _: usize, out: &mut [i16]) {
        out.fill(0);
    }
    match bits {
        1 => Decoders { one: one::<2>, pair: pair::<2> },
        2 => Decoders { one: one::<3>, pair: pair::<3> },
        3 => Decoders { one: one::<4>, pair: pair::<4> },
        4 => Decoders { one: one::<5>, pair: pair::<5> },
        5 => Decoders { one: one::<6>, pair: pair::<6> },
        6 => Decoders { one: one::<7>, pair: pair::<7> },
        7 => Decoders { one: one::<8>, pair: pair::<8> },
        8 => Decoders { one: one::<9>, pair: pair::<9> },
        _ => Decoders { one: zero, pair: zero },
    }
}
