//! Reference kernels: the simplest code that states each kernel's contract. The fast kernels at the crate
//! root must give byte-identical outputs (checked by property tests over random shapes and every width).
//!
//! Common contract:
//! * inputs of convolution and dense layers are unsigned activation bytes (zero point 0);
//! * products `weight · activation` are summed in an `i32` accumulator with wrapping addition (codegen proves
//!   that no accumulator of a generated model can overflow, so wrapping never happens there);
//! * the accumulator goes through the [`OutputStage`] (bias, requantization, clamp);
//! * every length is checked first; on error nothing is written.

use crate::requant::load;
use crate::{Conv2dShape, Error, OutputStage, PackedWeights, PadShape, PoolShape, Requant};

pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), Error> {
    if expected == got { Ok(()) } else { Err(Error::Length { what, expected, got }) }
}

pub(crate) fn check_weights(w: &PackedWeights<'_>, rows: usize, row_len: usize) -> Result<(), Error> {
    check_len("weight rows", rows, w.rows())?;
    check_len("weight row length", row_len, w.row_len())
}

/// The slice checks of every convolution (plain or grouped, reference or fast), in this order: input,
/// output, weights, output stage. `lens` = `(input, output, row)` lengths of the shape.
#[inline(always)] // as if written at each call (the optimizer keeps the facts it proves)
pub(crate) fn check_conv(
    lens: (usize, usize, usize),
    out_c: usize,
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    output: &[u8],
) -> Result<(), Error> {
    let (in_len, out_len, row_len) = lens;
    check_len("conv input", in_len, input.len())?;
    check_len("conv output", out_len, output.len())?;
    check_weights(weights, out_c, row_len)?;
    stage.check(out_c)
}

/// A scratch of at least `need` elements (the fast kernels), else [`Error::Length`] naming `what`.
#[inline(always)] // as if written at each call (the optimizer keeps the facts it proves)
pub(crate) fn check_scratch(what: &'static str, need: usize, got: usize) -> Result<(), Error> {
    if got < need { Err(Error::Length { what, expected: need, got }) } else { Ok(()) }
}

/// The weights of a per-width kernel (`*_bits::<BITS>`) have its width, else [`Error::Shape`].
#[inline(always)] // as if written at each call (the optimizer keeps the facts it proves)
pub(crate) fn check_bits(weights: &PackedWeights<'_>, bits: u8) -> Result<(), Error> {
    if weights.bits() == bits { Ok(()) } else { Err(Error::Shape { what: "weight width differs from the kernel's" }) }
}

/// 2-D convolution, HWC input and output, `[out_c][k_h][k_w][in_c]` weights.
///
/// `out[y][x][o] = stage(Σ_{i,j,c} w[o][i][j][c] · in[y·s_h + i − pad_top][x·s_w + j − pad_left][c])`,
/// positions outside the input read as 0.
pub fn conv2d(
    shape: &Conv2dShape,
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    output: &mut [u8],
) -> Result<(), Error> {
    let (in_len, out_len, row_len) = shape.lens()?;
    let (oh, ow) = shape.out_hw()?;
    check_conv((in_len, out_len, row_len), shape.out_c, input, weights, stage, output)?;
    for y in 0..oh {
        for x in 0..ow {
            for o in 0..shape.out_c {
                let mut acc: i32 = 0;
                for i in 0..shape.k_h {
                    for j in 0..shape.k_w {
                        let iy = (y * shape.stride_h + i) as isize - shape.pad_top as isize;
                        let ix = (x * shape.stride_w + j) as isize - shape.pad_left as isize;
                        if iy < 0 || ix < 0 || iy >= shape.in_h as isize || ix >= shape.in_w as isize {
                            continue;
                        }
                        for c in 0..shape.in_c {
                            let a = input[(iy as usize * shape.in_w + ix as usize) * shape.in_c + c] as i32;
                            let w = weights.get(o, (i * shape.k_w + j) * shape.in_c + c);
                            acc = acc.wrapping_add(w.wrapping_mul(a));
                        }
                    }
                }
                output[(y * ow + x) * shape.out_c + o] = stage.finish(o, acc);
            }
        }
    }
    Ok(())
}

/// Fully connected layer: `out[o] = stage(Σ_i w[o][i] · in[i])`.
pub fn dense(
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    output: &mut [u8],
) -> Result<(), Error> {
    check_len("dense input", weights.row_len(), input.len())?;
    check_len("dense output", weights.rows(), output.len())?;
    stage.check(output.len())?;
    for (o, out) in output.iter_mut().enumerate() {
        let mut acc: i32 = 0;
        for (i, &a) in input.iter().enumerate() {
            acc = acc.wrapping_add(weights.get(o, i).wrapping_mul(a as i32));
        }
        *out = stage.finish(o, acc);
    }
    Ok(())
}

/// The input cell `(y·s_h − pad_top + i, x·s_w − pad_left + j)` of window element `(i, j)` of output
/// `(y, x)`, if it is inside the input (padded cells are not).
fn pool_cell(shape: &PoolShape, y: usize, x: usize, i: usize, j: usize) -> Option<(usize, usize)> {
    let iy = (y * shape.stride_h + i).checked_sub(shape.pad_top).filter(|&v| v < shape.in_h)?;
    let ix = (x * shape.stride_w + j).checked_sub(shape.pad_left).filter(|&v| v < shape.in_w)?;
    Some((iy, ix))
}

/// Max pooling: the largest value among the input cells of each window (padded cells are ignored),
/// compared as signed if `signed`. Input and output share scale and type.
pub fn max_pool(shape: &PoolShape, signed: bool, input: &[u8], output: &mut [u8]) -> Result<(), Error> {
    let (in_len, out_len, oh, ow) = shape.lens()?;
    check_len("pool input", in_len, input.len())?;
    check_len("pool output", out_len, output.len())?;
    for y in 0..oh {
        for x in 0..ow {
            for c in 0..shape.c {
                let mut best = i32::MIN;
                for i in 0..shape.k_h {
                    for j in 0..shape.k_w {
                        if let Some((iy, ix)) = pool_cell(shape, y, x, i, j) {
                            best = best.max(load(input[(iy * shape.in_w + ix) * shape.c + c], signed));
                        }
                    }
                }
                output[(y * ow + x) * shape.c + c] = best as u8;
            }
        }
    }
    Ok(())
}

/// `round(sum / n)`, ties away from zero (`n > 0`).
#[inline(always)]
pub fn div_round(sum: i32, n: i32) -> i32 {
    // `checked_div`: `n = 0` (which no caller passes) gives 0 instead of a panic path.
    let q = |s: i32| (s + n / 2).checked_div(n).unwrap_or(0);
    if sum >= 0 { q(sum) } else { -q(-sum) }
}

/// Average pooling: `round(Σ / n)` over the `n ≥ 1` input cells of each window (padded cells are neither
/// summed nor counted), ties away from zero ([`div_round`]). Input and output share scale and type.
pub fn avg_pool(shape: &PoolShape, signed: bool, input: &[u8], output: &mut [u8]) -> Result<(), Error> {
    let (in_len, out_len, oh, ow) = shape.lens()?;
    check_len("pool input", in_len, input.len())?;
    check_len("pool output", out_len, output.len())?;
    for y in 0..oh {
        for x in 0..ow {
            for c in 0..shape.c {
                let (mut sum, mut n) = (0i32, 0i32);
                for i in 0..shape.k_h {
                    for j in 0..shape.k_w {
                        if let Some((iy, ix)) = pool_cell(shape, y, x, i, j) {
                            sum += load(input[(iy * shape.in_w + ix) * shape.c + c], signed);
                            n += 1;
                        }
                    }
                }
                output[(y * ow + x) * shape.c + c] = div_round(sum, n) as u8;
            }
        }
    }
    Ok(())
}

/// Global average pooling: HWC `h×w×c` → `c`, `round(Σ / (h·w))`, ties away from zero.
pub fn global_avg_pool(
    h: usize,
    w: usize,
    c: usize,
    signed: bool,
    input: &[u8],
    output: &mut [u8],
) -> Result<(), Error> {
    avg_pool(&PoolShape::unpadded(h, w, c, h, w, 1, 1), signed, input, output)
}

/// One input of a residual [`add`]: bytes, their signedness and the requantization that brings them to the
/// common intermediate scale.
#[derive(Debug, Clone, Copy)]
pub struct AddInput<'a> {
    /// Activation bytes.
    pub data: &'a [u8],
    /// Whether the bytes are signed.
    pub signed: bool,
    /// Rescale to the intermediate scale (`s_in / s_mid`).
    pub requant: Requant,
}

/// Residual add: `out[i] = stage(a.requant(a[i]) + b.requant(b[i]))`, where `stage` (one requantization, no
/// bias) rescales from the intermediate scale to the output scale and clamps. Both inputs are thus rescaled
/// to the output scale; the intermediate scale (chosen by codegen, finer than the output's) keeps precision.
pub fn add(a: AddInput<'_>, b: AddInput<'_>, stage: &OutputStage<'_>, output: &mut [u8]) -> Result<(), Error> {
    check_len("add input b", a.data.len(), b.data.len())?;
    check_len("add output", a.data.len(), output.len())?;
    stage.check(1)?;
    for ((out, &x), &y) in output.iter_mut().zip(a.data).zip(b.data) {
        let va = a.requant.apply(load(x, a.signed));
        let vb = b.requant.apply(load(y, b.signed));
        *out = stage.finish(0, va.wrapping_add(vb));
    }
    Ok(())
}

/// One input of a channel [`concat`]: an HWC tensor of `pixels × channels` bytes and their signedness.
#[derive(Debug, Clone, Copy)]
pub struct ConcatInput<'a> {
    /// Activation bytes, `[pixels][channels]`.
    pub data: &'a [u8],
    /// Channels of this input (`≥ 1`).
    pub channels: usize,
    /// Whether the bytes are signed.
    pub signed: bool,
}

/// Channel concat of `n ≥ 1` HWC tensors of `pixels` pixels each (every input has the output's height
/// and width): output channels `off_i .. off_i + C_i` of every pixel are input `i`'s channels, in input
/// order (`off_i = C_0 + … + C_{i−1}`, `C = Σ C_i` output channels), each element requantized on its own:
///
/// `out[p][off_i + c] = stage.finish(i, load(x_i[p][c]))` — input `i`'s byte as a value (signed or not),
/// rescaled by `stage.requant[i]` (or `stage.requant[0]` for every input; the factor is `s_in_i / s_out`,
/// the output stage's double rounding of [`crate::requant`]: saturating left shift, rounding doubling high
/// multiply with ties toward +∞, rounding right shift with ties away from zero), then clamped to
/// `[stage.min, stage.max]` and stored (two's complement when `stage.signed`).
///
/// An input already at the output's quantization has the identity requantization (multiplier `2^30`,
/// shift 1, exact for every byte) and only the clamp remains (a copy when the clamp keeps every byte).
/// Nothing can overflow: a saturated left shift happens only for values the clamp saturates anyway.
///
/// Errors: [`Error::Shape`] for no inputs, an input of 0 channels or a size overflowing `usize`;
/// [`Error::Length`] for an input or output of the wrong length, a bias (a concat has none) or a
/// requantization count other than 1 or `n`; [`Error::Requant`] for a bad clamp range or shift. On error
/// nothing is written.
pub fn concat(
    inputs: &[ConcatInput<'_>],
    pixels: usize,
    stage: &OutputStage<'_>,
    output: &mut [u8],
) -> Result<(), Error> {
    let total = check_concat(inputs, pixels, stage, output.len())?;
    for p in 0..pixels {
        let mut off = 0;
        for (i, x) in inputs.iter().enumerate() {
            for c in 0..x.channels {
                output[p * total + off + c] = stage.finish(i, load(x.data[p * x.channels + c], x.signed));
            }
            off += x.channels;
        }
    }
    Ok(())
}

/// The checks of [`concat`] (reference and fast), in this order: inputs, stage, output length. Returns
/// the output channels.
pub(crate) fn check_concat(
    inputs: &[ConcatInput<'_>],
    pixels: usize,
    stage: &OutputStage<'_>,
    output_len: usize,
) -> Result<usize, Error> {
    if inputs.is_empty() {
        return Err(Error::Shape { what: "concat of no inputs" });
    }
    let mut total: usize = 0;
    for x in inputs {
        if x.channels == 0 {
            return Err(Error::Shape { what: "concat input with 0 channels" });
        }
        let len = pixels.checked_mul(x.channels).ok_or(Error::Shape { what: "concat input size overflows" })?;
        check_len("concat input", len, x.data.len())?;
        total = total.checked_add(x.channels).ok_or(Error::Shape { what: "concat channels overflow" })?;
    }
    check_len("concat bias", 0, stage.bias.len())?;
    stage.check(inputs.len())?;
    let len = pixels.checked_mul(total).ok_or(Error::Shape { what: "concat output size overflows" })?;
    check_len("concat output", len, output_len)?;
    Ok(total)
}

/// Padding step: `out[y][x][c] = in[y − pad_top][x − pad_left][c]` where that position is inside the
/// input, `value` elsewhere (the border), for the `(H + pad_top + pad_bottom) × (W + pad_left + pad_right)
/// × C` output of [`PadShape`]. Bytes are copied unchanged (signedness does not matter).
pub fn pad(shape: &PadShape, value: u8, input: &[u8], output: &mut [u8]) -> Result<(), Error> {
    let (in_len, out_len) = shape.lens()?;
    let (oh, ow) = shape.out_hw()?;
    check_len("pad input", in_len, input.len())?;
    check_len("pad output", out_len, output.len())?;
    for y in 0..oh {
        for x in 0..ow {
            for c in 0..shape.c {
                let iy = y as isize - shape.pad_top as isize;
                let ix = x as isize - shape.pad_left as isize;
                let inside = iy >= 0 && ix >= 0 && iy < shape.in_h as isize && ix < shape.in_w as isize;
                output[(y * ow + x) * shape.c + c] =
                    if inside { input[(iy as usize * shape.in_w + ix as usize) * shape.c + c] } else { value };
            }
        }
    }
    Ok(())
}

/// Index of the largest value (first one on ties), compared as signed if `signed`.
pub fn argmax(data: &[u8], signed: bool) -> Result<usize, Error> {
    if data.is_empty() {
        return Err(Error::Shape { what: "argmax of an empty tensor" });
    }
    let (mut best, mut top) = (0, load(data[0], signed));
    for (i, &v) in data.iter().enumerate().skip(1) {
        if load(v, signed) > top {
            (best, top) = (i, load(v, signed));
        }
    }
    Ok(best)
}

/// Grouped 2-D convolution (depthwise when `groups = in_c`), HWC input and output,
/// `[out_c][k_h][k_w][in_c/groups]` weights.
///
/// With `G_in = in_c/groups`, `G_out = out_c/groups` and `g = o / G_out` (the group of output channel `o`):
/// `out[y][x][o] = stage(Σ_{i,j,c<G_in} w[o][i][j][c] · in[y·s_h + i − pad_top][x·s_w + j − pad_left][g·G_in + c])`,
/// positions outside the input read as 0. With `groups = 1` this is [`conv2d`].
pub fn grouped_conv2d(
    shape: &crate::GroupedConv2dShape,
    input: &[u8],
    weights: &PackedWeights<'_>,
    stage: &OutputStage<'_>,
    output: &mut [u8],
) -> Result<(), Error> {
    let (in_len, out_len, row_len) = shape.lens()?;
    let (oh, ow) = shape.out_hw()?;
    check_conv((in_len, out_len, row_len), shape.out_c, input, weights, stage, output)?;
    let (g_in, g_out) = (shape.group_in(), shape.group_out());
    for y in 0..oh {
        for x in 0..ow {
            for o in 0..shape.out_c {
                let first = (o / g_out) * g_in;
                let mut acc: i32 = 0;
                for i in 0..shape.k_h {
                    for j in 0..shape.k_w {
                        let iy = (y * shape.stride_h + i) as isize - shape.pad_top as isize;
                        let ix = (x * shape.stride_w + j) as isize - shape.pad_left as isize;
                        if iy < 0 || ix < 0 || iy >= shape.in_h as isize || ix >= shape.in_w as isize {
                            continue;
                        }
                        for c in 0..g_in {
                            let a = input[(iy as usize * shape.in_w + ix as usize) * shape.in_c + first + c] as i32;
                            let w = weights.get(o, (i * shape.k_w + j) * g_in + c);
                            acc = acc.wrapping_add(w.wrapping_mul(a));
                        }
                    }
                }
                output[(y * ow + x) * shape.out_c + o] = stage.finish(o, acc);
            }
        }
    }
    Ok(())
}
