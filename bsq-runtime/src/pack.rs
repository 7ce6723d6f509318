//! The packed-weight layout: one implementation of packing (used on the host by codegen) and of reading
//! (used on the device by the kernels).
//!
//! Layout (format version [`crate::FORMAT_VERSION`], described for decoder writers in `docs/packing.md`):
//!
//! * A layer with `n`-bit weights (`n` in `1..=8`) stores each integer weight `k ∈ [-(2^n-1), 2^n-1]` as an
//!   `(n+1)`-bit **two's-complement** field (the pattern `-2^n` is never written).
//! * The weights are grouped in **rows**, one per output channel, in the order given by the layer
//!   (convolution: `[kh][kw][cin]`; dense: `[in]`). Rows are stored one after another; **each row starts on
//!   a byte boundary**, so a row takes `ceil(row_len·(n+1)/8)` bytes ([`row_bytes`]).
//! * Within a row, fields are concatenated into a little-endian bit stream: field `i` occupies bits
//!   `i·(n+1) .. (i+1)·(n+1)` of the row, where bit `b` of the stream is bit `b % 8` of byte `b / 8`
//!   (LSB first). Padding bits at the end of a row are zero.
//! * A 0-bit layer stores no bytes at all; every weight reads as 0.

use crate::Error;

/// Largest weight bit width.
pub const MAX_BITS: u8 = 8;

/// Largest magnitude representable by `bits`-bit weights: `2^bits - 1` (0 for `bits == 0`).
pub const fn max_magnitude(bits: u8) -> i32 {
    if bits == 0 { 0 } else { (1i32 << bits) - 1 }
}

/// Bytes one packed row of `row_len` weights takes at `bits` bits (0 for 0-bit layers).
///
/// Returns `None` if the size overflows `usize` or `bits > 8`.
pub const fn row_bytes(bits: u8, row_len: usize) -> Option<usize> {
    if bits > MAX_BITS {
        return None;
    }
    if bits == 0 {
        return Some(0);
    }
    match row_len.checked_mul(bits as usize + 1) {
        Some(b) => Some(b.div_ceil(8)),
        None => None,
    }
}

/// Total packed bytes of a layer with `rows` rows of `row_len` weights at `bits` bits.
pub const fn packed_len(bits: u8, rows: usize, row_len: usize) -> Option<usize> {
    match row_bytes(bits, row_len) {
        Some(r) => r.checked_mul(rows),
        None => None,
    }
}

/// Packs integer weights (`rows · row_len` values, row-major) at `bits` bits into `out`, which must be exactly
/// [`packed_len`] bytes long. Checks every value's range first and writes nothing on error.
pub fn pack(bits: u8, row_len: usize, values: &[i32], out: &mut [u8]) -> Result<(), Error> {
    if bits > MAX_BITS {
        return Err(Error::InvalidBits { bits });
    }
    let m = max_magnitude(bits);
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| v.unsigned_abs() > m as u32) {
        return Err(Error::WeightOutOfRange { index, value, bits });
    }
    if row_len == 0 {
        if !values.is_empty() {
            return Err(Error::Shape { what: "row_len is 0 but values are given" });
        }
        return if out.is_empty() {
            Ok(())
        } else {
            Err(Error::Length { what: "packed weights", expected: 0, got: out.len() })
        };
    }
    if !values.len().is_multiple_of(row_len) {
        return Err(Error::Length {
            what: "weights (not a whole number of rows)",
            expected: values.len().next_multiple_of(row_len),
            got: values.len(),
        });
    }
    let rows = values.len() / row_len;
    let expected = packed_len(bits, rows, row_len).ok_or(Error::Shape { what: "packed size overflows usize" })?;
    if out.len() != expected {
        return Err(Error::Length { what: "packed weights", expected, got: out.len() });
    }
    if bits == 0 {
        return Ok(());
    }
    out.fill(0);
    let w = bits as usize + 1;
    let rb = expected / rows.max(1);
    let mask = (1u32 << w) - 1;
    for (r, row) in values.chunks_exact(row_len).enumerate() {
        let dst = &mut out[r * rb..(r + 1) * rb];
        for (i, &v) in row.iter().enumerate() {
            let field = (v as u32) & mask;
            let bit = i * w;
            let mut pos = bit;
            let mut remaining = w;
            let mut f = field;
            while remaining > 0 {
                let byte = pos / 8;
                let off = pos % 8;
                let take = (8 - off).min(remaining);
                dst[byte] |= ((f & ((1 << take) - 1)) << off) as u8;
                f >>= take;
                pos += take;
                remaining -= take;
            }
        }
    }
    Ok(())
}

/// A borrowed, validated view of one layer's packed weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedWeights<'a> {
    bits: u8,
    rows: usize,
    row_len: usize,
    row_bytes: usize,
    data: &'a [u8],
}

impl<'a> PackedWeights<'a> {
    /// Wraps packed bytes, checking that `data` is exactly [`packed_len`]`(bits, rows, row_len)` long.
    pub const fn new(bits: u8, rows: usize, row_len: usize, data: &'a [u8]) -> Result<Self, Error> {
        if bits > MAX_BITS {
            return Err(Error::InvalidBits { bits });
        }
        let row_bytes = match row_bytes(bits, row_len) {
            Some(r) => r,
            None => return Err(Error::Shape { what: "packed size overflows usize" }),
        };
        let expected = match row_bytes.checked_mul(rows) {
            Some(e) => e,
            None => return Err(Error::Shape { what: "packed size overflows usize" }),
        };
        if data.len() != expected {
            return Err(Error::Length { what: "packed weights", expected, got: data.len() });
        }
        Ok(Self { bits, rows, row_len, row_bytes, data })
    }

    /// Weight bit width `n` (magnitude bits; a field takes `n+1` bits).
    pub const fn bits(&self) -> u8 {
        self.bits
    }
    /// Number of rows (output channels).
    pub const fn rows(&self) -> usize {
        self.rows
    }
    /// Weights per row.
    pub const fn row_len(&self) -> usize {
        self.row_len
    }
    /// The packed bytes.
    pub const fn data(&self) -> &'a [u8] {
        self.data
    }
    /// The packed bytes of row `r` (empty for 0-bit layers). `r` must be `< rows()`.
    pub fn row_data(&self, r: usize) -> &'a [u8] {
        let start = r * self.row_bytes;
        self.data.get(start..start + self.row_bytes).unwrap_or(&[])
    }

    /// Reads weight `i` of row `r` (the simple, random-access decoder used by the reference kernels).
    /// Out-of-range indices read as 0.
    pub fn get(&self, r: usize, i: usize) -> i32 {
        if self.bits == 0 || r >= self.rows || i >= self.row_len {
            return 0;
        }
        let w = self.bits as usize + 1;
        let row = self.row_data(r);
        let mut field: u32 = 0;
        for b in 0..w {
            let bit = i * w + b;
            let v = (row[bit / 8] >> (bit % 8)) & 1;
            field |= (v as u32) << b;
        }
        // Sign-extend the (n+1)-bit field.
        ((field << (32 - w)) as i32) >> (32 - w)
    }
}
