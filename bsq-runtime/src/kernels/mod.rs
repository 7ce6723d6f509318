//! Fast kernels. Same contracts (and bytes) as [`crate::reference`]; they differ only in speed.
//!
//! Convolution and dense layers take a scratch slice of `i16` of at least [`scratch_len`] elements:
//! the convolution decodes the packed rows of two output channels at a time into it (the dense layer
//! decodes on the fly and does not use it, but checks its length the same way, so that one scratch
//! buffer sized by [`scratch_len`] serves both).
//!
//! | kernel | fast version | how |
//! |---|---|---|
//! | [`conv2d`] | yes | two channels × two pixels per inner loop over decoded `i16` weights; packed path (two MACs per multiply, four pixels) for low-bit layers |
//! | [`dense`] | yes | weights decoded on the fly, 8 fields per group, const width |
//! | [`max_pool`], [`avg_pool`], [`global_avg_pool`], [`add`], [`argmax`] | = reference | already linear |

mod conv;
mod decode;
mod dense;

pub use crate::reference::{AddInput, add, argmax, avg_pool, div_round, global_avg_pool, max_pool};
pub use conv::{conv2d, conv2d_bits, conv2d_dsp};
pub use dense::{dense, dense_bits, dense_dsp};

use crate::requant::{
    MAX_SHIFT, MIN_SHIFT, rounding_divide_by_pot, saturating_rounding_doubling_high_mul, saturating_shl, store,
};
use crate::{Error, OutputStage, PackedWeights, Requant};

/// Scratch (`i16` elements) the fast [`conv2d`] / [`dense`] need for rows of `row_len` weights:
/// `2 · row_len + 2` (two decoded rows, interleaved, plus room to start them on a 4-byte boundary for the
/// DSP kernels' word loads). Saturates instead of overflowing (such a row could not exist in memory anyway).
pub const fn scratch_len(row_len: usize) -> usize {
    row_len.saturating_mul(2).saturating_add(2)
}

/// Decodes row `r` of `weights` into `out[..weights.row_len()]` with the fast sequential decoder (the
/// same values as [`PackedWeights::get`]; `i16` holds every field of every width).
///
/// Errors: [`Error::Shape`] if `r` is not a row, [`Error::Length`] if `out` is shorter than a row.
pub fn decode_row(weights: &PackedWeights<'_>, r: usize, out: &mut [i16]) -> Result<(), Error> {
    if r >= weights.rows() {
        return Err(Error::Shape { what: "row index past the last row" });
    }
    if out.len() < weights.row_len() {
        return Err(Error::Length { what: "decoded row", expected: weights.row_len(), got: out.len() });
    }
    decode::decode_row(weights, r, out);
    Ok(())
}

/// The output stage of one channel with its parameters loaded and split once (hoisted out of the pixel
/// loops): the same arithmetic as [`OutputStage::finish`] / [`Requant::apply_biased`], step by step (the
/// property tests compare the fast kernels, which use this, with the reference ones, which use those).
#[derive(Clone, Copy)]
pub(crate) struct Finish {
    mult: i32,
    left: u32,
    right: u32,
    bias: i32,
    min: i32,
    max: i32,
}

impl Finish {
    #[inline(always)]
    pub(crate) fn new(stage: &OutputStage<'_>, c: usize) -> Self {
        let rq: Requant = stage.requant_for(c);
        let shift = rq.shift.clamp(MIN_SHIFT, MAX_SHIFT) as i32;
        Self {
            mult: rq.multiplier,
            left: shift.max(0) as u32,
            right: (-shift).max(0) as u32,
            bias: stage.bias_for(c),
            min: stage.min,
            max: stage.max,
        }
    }

    /// Accumulator → output byte.
    #[inline(always)]
    pub(crate) fn apply(&self, acc: i32) -> u8 {
        let xs = saturating_shl(acc, self.left).saturating_add(self.bias);
        let y = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(xs, self.mult), self.right);
        store(y.clamp(self.min, self.max))
    }
}
