//! Fast kernels. Same contracts (and bytes) as [`crate::reference`]; they differ only in speed.
//!
//! Convolution and dense layers take a scratch slice of `i16` of at least [`scratch_len`] elements:
//! the convolution decodes the packed rows of two output channels at a time into it (the dense layer
//! decodes on the fly and does not use it, but checks its length the same way, so that one scratch
//! buffer sized by [`scratch_len`] serves both).
//!
//! | kernel | fast version | how |
//! |---|---|---|
//! | [`conv2d`] | yes | paths ([`path`]): DSP (assembly loops over rows of pixels, `SMLAD`), pointwise (1×1: 4 channels per assembly loop), gathered window (first layers), portable (two channels × two pixels over decoded `i16` weights; packed path for low-bit layers) |
//! | [`dense`] | yes | DSP: widened activations, two rows per pass, `SMLABB`/`SMLABT` or `SXTB16`+`SMLAD`; portable: weights decoded on the fly, 8 fields per group, const width |
//! | [`add`] | yes | the rescalings' constants loaded once |
//! | [`concat`] | yes | input by input, the rescaling's constants loaded once; an input at the output's quantization is clamped or copied |
//! | [`pad`] | yes | whole rows: constant runs for the border, one copy per input row |
//! | [`max_pool`], [`avg_pool`], [`global_avg_pool`] | = reference, panic-free | one loop nest for unpadded and one for padded shapes (`*_pool_with::<PADDED>`: a firmware links the ones it uses); not unrolled: flash over speed |
//! | [`argmax`] | = reference | already linear |

mod concat;
mod conv;
mod decode;
mod dense;
mod grouped;
mod pad;
mod pool;

pub use crate::reference::{AddInput, ConcatInput, argmax, div_round};
pub use concat::concat;
pub use conv::{POINTWISE_MAX_IN, conv_path, conv_scratch_len, conv2d, conv2d_bits, conv2d_dsp, path};
pub use dense::{dense, dense_bits, dense_dsp};
pub use grouped::{
    DEPTHWISE_LANES, grouped_conv2d, grouped_conv2d_bits, grouped_conv2d_dsp, grouped_path, grouped_paths,
    grouped_scratch_len,
};
pub use pad::pad;
pub use pool::{avg_pool, avg_pool_with, global_avg_pool, max_pool, max_pool_with, pool_padded};

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

    /// The rescaling of one [`Requant`] alone (no bias, no clamp): [`Requant::apply`] through [`Self::value`].
    #[inline(always)]
    pub(crate) fn scale(rq: Requant) -> Self {
        let stage =
            OutputStage { bias: &[], requant: core::slice::from_ref(&rq), min: i32::MIN, max: i32::MAX, signed: true };
        Self::new(&stage, 0)
    }

    /// Accumulator → requantized value (before the clamp): the steps of [`Self::apply`] without the clamp and
    /// the store; equal to [`Requant::apply_biased`] with this channel's bias.
    #[inline(always)]
    pub(crate) fn value(&self, acc: i32) -> i32 {
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
        (h >> self.right) + ((h & self.mask) > self.half + (h < 0) as i32) as i32
    }

    /// Accumulator → output byte: `saturating_shl`, the bias, [`saturating_rounding_doubling_high_mul`],
    /// `rounding_divide_by_pot` and the clamp, with the per-channel constants precomputed (the unit test
    /// `finish_equals_the_output_stage` checks it against [`OutputStage::finish`]).
    #[inline(always)]
    pub(crate) fn apply(&self, acc: i32) -> u8 {
        // (In `value`: most layers shift right only, `left` = 0, one test instead of the saturating shift.)
        let y = self.value(acc);
        // `max` then `min` (not `clamp`, which panics on an empty range; `OutputStage::check` refuses those).
        store(y.max(self.min).min(self.max))
    }
}

/// Fast residual add; contract of [`crate::reference::add`]: the two input rescalings and the output stage
/// with their constants loaded once instead of per element (measured on Cortex-M4: 109
/// instructions per output before, see docs/runtime.md § Cost).
pub fn add(a: AddInput<'_>, b: AddInput<'_>, stage: &OutputStage<'_>, output: &mut [u8]) -> Result<(), Error> {
    crate::reference::check_len("add input b", a.data.len(), b.data.len())?;
    crate::reference::check_len("add output", a.data.len(), output.len())?;
    stage.check(1)?;
    let (fa, fb, fo) = (Finish::scale(a.requant), Finish::scale(b.requant), Finish::new(stage, 0));
    for ((out, &x), &y) in output.iter_mut().zip(a.data).zip(b.data) {
        let va = fa.value(crate::requant::load(x, a.signed));
        let vb = fb.value(crate::requant::load(y, b.signed));
        *out = fo.apply(va.wrapping_add(vb));
    }
    Ok(())
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
            // The rescaling alone, as the residual add uses it.
            prop_assert_eq!(Finish::scale(rq[0]).value(acc), rq[0].apply(acc));
        }
    }
}
