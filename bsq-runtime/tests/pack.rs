//! The packed layout: round trips at every width, the worked example of `docs/packing.md`, and every refusal.

use bsq_runtime::pack::{MAX_BITS, max_magnitude, pack, packed_len, row_bytes};
use bsq_runtime::{Error, PackedWeights};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// pack → get gives back every value, at every width, for any row length and row count.
    #[test]
    fn pack_then_get_round_trips(
        (bits, rows, row_len, values) in (0u8..=8, 1usize..=5, 1usize..=67).prop_flat_map(|(b, r, l)| {
            let m = max_magnitude(b);
            (Just(b), Just(r), Just(l), proptest::collection::vec(-m..=m, r * l))
        })
    ) {
        let mut out = vec![0u8; packed_len(bits, rows, row_len).unwrap()];
        pack(bits, row_len, &values, &mut out).unwrap();
        let w = PackedWeights::new(bits, rows, row_len, &out).unwrap();
        prop_assert_eq!((w.bits(), w.rows(), w.row_len()), (bits, rows, row_len));
        for r in 0..rows {
            for i in 0..row_len {
                prop_assert_eq!(w.get(r, i), values[r * row_len + i], "bits {} row {} index {}", bits, r, i);
            }
            // Each row starts on a byte boundary and its padding bits are zero.
            let rb = row_bytes(bits, row_len).unwrap();
            prop_assert_eq!(w.row_data(r).len(), rb);
            let used = row_len * (bits as usize + 1);
            if bits > 0 && !used.is_multiple_of(8) {
                let last = w.row_data(r)[rb - 1];
                prop_assert_eq!(last >> (used % 8), 0, "padding bits of row {} not zero", r);
            }
        }
    }

    /// A value outside [-(2^n-1), 2^n-1] anywhere is refused, naming its index, and nothing is written.
    #[test]
    fn pack_rejects_out_of_range_and_writes_nothing(
        bits in 0u8..=8, row_len in 1usize..=20, pos in 0usize..40, pick in 0usize..5, big in any::<i32>()
    ) {
        let m = max_magnitude(bits);
        let bad = [m + 1, -m - 1, -(1 << bits), i32::MIN, if big.unsigned_abs() > m as u32 { big } else { i32::MAX }][pick];
        let n = row_len * 2;
        let pos = pos % n;
        let mut values = vec![0i32; n];
        values[pos] = bad;
        let mut out = vec![0xAAu8; packed_len(bits, 2, row_len).unwrap()];
        prop_assert_eq!(pack(bits, row_len, &values, &mut out), Err(Error::WeightOutOfRange { index: pos, value: bad, bits }));
        prop_assert!(out.iter().all(|&b| b == 0xAA), "pack wrote on error");
    }
}

/// The worked example of `docs/packing.md`: 2-bit weights (3-bit fields), two rows of five.
#[test]
fn worked_example_bytes() {
    let values = [1, -1, 3, -3, 0, -2, 2, 0, 0, 1];
    let mut out = [0u8; 4];
    assert_eq!(packed_len(2, 2, 5), Some(4));
    pack(2, 5, &values, &mut out).unwrap();
    // Row 0 fields 001 111 011 101 000 (LSB first): bits 0..16 = 1001 1111 0101 0000 → 0xF9, 0x0A.
    // Row 1 fields 110 010 000 000 001: 0110 1000 0000 1000 → 0x16, 0x10.
    assert_eq!(out, [0xF9, 0x0A, 0x16, 0x10]);
    let w = PackedWeights::new(2, 2, 5, &out).unwrap();
    let back: Vec<i32> = (0..10).map(|k| w.get(k / 5, k % 5)).collect();
    assert_eq!(back, values);
}

/// The 8-bit example of `docs/packing.md`: 9-bit fields 255, −255, −1 → FF 02 FE 07.
#[test]
fn worked_example_nine_bit_fields() {
    let mut out = [0u8; 4];
    pack(8, 3, &[255, -255, -1], &mut out).unwrap();
    assert_eq!(out, [0xFF, 0x02, 0xFE, 0x07]);
}

/// Two's-complement fields of one byte (7-bit weights) are the weights' own `i8` bytes; 8-bit weights take
/// 9 bits, so 8 of them take 9 bytes.
#[test]
fn field_widths_and_sizes() {
    let vals: Vec<i32> = vec![-127, -1, 0, 1, 127];
    let mut out = [0u8; 5];
    pack(7, 5, &vals, &mut out).unwrap();
    assert_eq!(out, [0x81, 0xFF, 0x00, 0x01, 0x7F]);
    assert_eq!(row_bytes(8, 8), Some(9));
    assert_eq!(row_bytes(1, 4), Some(1));
    assert_eq!(row_bytes(1, 5), Some(2));
    assert_eq!(row_bytes(0, 1000), Some(0));
    assert_eq!(row_bytes(9, 1), None);
    assert_eq!(row_bytes(8, usize::MAX), None);
    assert_eq!(packed_len(4, 3, 3), Some(3 * 2));
    assert_eq!(packed_len(8, usize::MAX, 8), None);
    // 0-bit layers: no bytes, every weight reads 0.
    let w = PackedWeights::new(0, 3, 7, &[]).unwrap();
    assert_eq!(w.get(2, 6), 0);
    assert!(w.row_data(1).is_empty());
    let mut none: [u8; 0] = [];
    pack(0, 7, &[0; 21], &mut none).unwrap();
}

#[test]
fn pack_rejects_bad_lengths_and_writes_nothing() {
    let mut out = [0xAAu8; 3];
    // 4-bit weights: 5 bits each, rows of 3 take 2 bytes: two rows need 4 bytes, not 3.
    assert_eq!(
        pack(4, 3, &[1, 2, 3, 4, 5, 6], &mut out),
        Err(Error::Length { what: "packed weights", expected: 4, got: 3 })
    );
    assert_eq!(out, [0xAA; 3]);
    // Not a whole number of rows.
    assert_eq!(
        pack(4, 3, &[1, 2, 3, 4], &mut out),
        Err(Error::Length { what: "weights (not a whole number of rows)", expected: 6, got: 4 })
    );
    assert_eq!(out, [0xAA; 3]);
    // Row length 0 with values, or with a non-empty output.
    assert_eq!(pack(4, 0, &[1], &mut out), Err(Error::Shape { what: "row_len is 0 but values are given" }));
    assert_eq!(pack(4, 0, &[], &mut out), Err(Error::Length { what: "packed weights", expected: 0, got: 3 }));
    assert_eq!(pack(4, 0, &[], &mut []), Ok(()));
    // Widths above 8.
    assert_eq!(pack(MAX_BITS + 1, 1, &[0], &mut out), Err(Error::InvalidBits { bits: 9 }));
    assert_eq!(out, [0xAA; 3]);
}

#[test]
fn packed_weights_new_checks_length_and_width() {
    let data = [0u8; 10];
    assert_eq!(PackedWeights::new(4, 2, 3, &data), Err(Error::Length { what: "packed weights", expected: 4, got: 10 }));
    assert_eq!(PackedWeights::new(4, 5, 3, &data).map(|w| w.data().len()), Ok(10));
    assert_eq!(PackedWeights::new(9, 1, 1, &data), Err(Error::InvalidBits { bits: 9 }));
    assert_eq!(PackedWeights::new(0, 1, 1, &data), Err(Error::Length { what: "packed weights", expected: 0, got: 10 }));
    assert_eq!(PackedWeights::new(8, 2, usize::MAX, &data), Err(Error::Shape { what: "packed size overflows usize" }));
    assert_eq!(PackedWeights::new(1, usize::MAX, 8, &data), Err(Error::Shape { what: "packed size overflows usize" }));
    // Out-of-range reads are 0, never a panic.
    let w = PackedWeights::new(4, 5, 3, &[0xFF; 10]).unwrap();
    assert_eq!(w.get(0, 0), -1);
    assert_eq!(w.get(5, 0), 0);
    assert_eq!(w.get(0, 3), 0);
    assert!(w.row_data(7).is_empty());
}

/// `decode_row` refuses a row index past the end and a short output.
#[test]
fn decode_row_errors() {
    let w = PackedWeights::new(4, 2, 3, &[0; 4]).unwrap();
    let mut out = [0i16; 3];
    assert_eq!(bsq_runtime::decode_row(&w, 2, &mut out), Err(Error::Shape { what: "row index past the last row" }));
    assert_eq!(
        bsq_runtime::decode_row(&w, 0, &mut out[..2]),
        Err(Error::Length { what: "decoded row", expected: 3, got: 2 })
    );
    assert_eq!(bsq_runtime::decode_row(&w, 1, &mut out), Ok(()));
}
