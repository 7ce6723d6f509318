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
mod grouped;

pub use crate::reference::{AddInput, add, argmax, avg_pool, div_round, global_avg_pool, max_pool};
pub use conv::{conv_path, conv_scratch_len, conv2d, conv2d_bits, conv2d_dsp, path};
pub use dense::{dense, dense_bits, dense_dsp};
pub use grouped::{
    DEPTHWISE_LANES, grouped_conv2d, grouped_conv2d_bits, grouped_path, grouped_paths, grouped_scratch_len,
};

use crate::requant::{MAX_SHIFT, MIN_SHIFT, saturating_rounding_doubling_high_mul, store};
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
    /// `acc` outside `lo..=hi` saturates when shifted left by `left`.
    lo: i32,
    hi: i32,
    bias: i32,
    right: u32,
    /// `2^right − 1` and half of it: the rounding of `rounding_divide_by_pot`, precomputed.
    mask: i32,
    half: i32,
    min: i32,
    max: i32,
}

impl Finish {
    /// A placeholder, overwritten before use.
    pub(crate) const ZERO: Self =
        Self { mult: 0, left: 0, lo: i32::MIN, hi: i32::MAX, bias: 0, right: 0, mask: 0, half: 0, min: 0, max: 0 };

    #[inline(always)]
    pub(crate) fn new(stage: &OutputStage<'_>, c: usize) -> Self {
        let rq: Requant = stage.requant_for(c);
        let shift = rq.shift.clamp(MIN_SHIFT, MAX_SHIFT) as i32;
        let left = shift.max(0) as u32;
        let right = (-shift).max(0) as u32;
        let mask = ((1u64 << right) - 1) as i32;
        Self {
            mult: rq.multiplier,
            left,
            lo: i32::MIN >> left,
            hi: i32::MAX >> left,
            bias: stage.bias_for(c),
            right,
            mask,
            half: mask >> 1,
            min: stage.min,
            max: stage.max,
        }
    }

    /// Accumulator → output byte: `saturating_shl`, the bias, [`saturating_rounding_doubling_high_mul`],
    /// `rounding_divide_by_pot` and the clamp, with the per-channel constants precomputed (the unit test
    /// `finish_equals_the_output_stage` checks it against [`OutputStage::finish`]).
    #[inline(always)]
    pub(crate) fn apply(&self, acc: i32) -> u8 {
        // Most layers shift right only (`left` = 0): one test instead of the saturating shift.
        let xs = if self.left == 0 {
            acc
        } else if acc > self.hi {
            i32::MAX
        } else if acc < self.lo {
            i32::MIN
        } else {
            acc << self.left
        };
        let h = saturating_rounding_doubling_high_mul(xs.saturating_add(self.bias), self.mult);
        let y = (h >> self.right) + ((h & self.mask) > self.half + (h < 0) as i32) as i32;
        // `max` then `min` (not `clamp`, which panics on an empty range; `OutputStage::check` refuses those).
        store(y.max(self.min).min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20000, ..ProptestConfig::default() })]

        /// The precomputed output stage = the documented one, for any accumulator, multiplier, shift and bias.
        #[test]
        fn finish_equals_the_output_stage(
            acc in prop_oneof![any::<i32>(), -5000i32..5000, Just(i32::MIN), Just(i32::MAX)],
            mult in prop_oneof![any::<i32>(), Just(i32::MIN)],
            shift in MIN_SHIFT..=MAX_SHIFT,
            bias in prop_oneof![any::<i32>(), -1000i32..1000],
            signed in any::<bool>(),
            bits in 1u8..=8,
        ) {
            let rq = [Requant { multiplier: mult, shift }];
            let b = [bias];
            let stage = OutputStage::for_bits(&b, &rq, bits, signed);
            prop_assert_eq!(Finish::new(&stage, 0).apply(acc), stage.finish(0, acc));
        }
    }
}
