//! Requantization: from an `i32` accumulator to an output byte.
//!
//! # The rule (pinned by tests; identical on every target)
//!
//! `requantize(x, M, shift)` with a Q31 multiplier `M` (an `i32`, real value `M / 2^31`, may be negative)
//! and `shift ∈ -31..=30` computes TFLM's / CMSIS-NN's "double rounding":
//!
//! 1. `x' = saturate_i32(saturate_i32(x · 2^max(shift,0)) + bias)` (saturating left shift, then the
//!    output stage's bias, which thus carries `max(shift,0)` extra fractional bits; 0 without bias);
//! 2. `h = saturating_rounding_doubling_high_mul(x', M)` = `(x'·M + nudge) / 2^31` truncated toward zero,
//!    with `nudge = 2^30` if `x'·M ≥ 0` else `1 − 2^30`, and `i32::MIN · i32::MIN` saturating to
//!    `i32::MAX`. This rounds `x'·M / 2^31` to nearest with **ties toward +∞**: the negative nudge is one
//!    short of a half, so `2.5 → 3` but `−2.5 → −2` (exactly gemmlowp's, TFLM's and CMSIS-NN's
//!    `arm_nn_doubling_high_mult`);
//! 3. `y = rounding_divide_by_pot(h, max(−shift,0))`: arithmetic right shift rounding to nearest, ties away
//!    from zero.
//!
//! The real factor applied is `M · 2^shift / 2^31`. The output stage then adds nothing (zero point 0) and
//! clamps to `[min, max]`: `[0, 2^a−1]` for an unsigned `a`-bit output (this clamp is the fused ReLU), or
//! `[−2^(a−1), 2^(a−1)−1]` for a signed one, stored as the two's-complement byte.

use crate::Error;

/// One requantization: a Q31 multiplier and a power-of-two shift (positive = left).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Requant {
    /// Q31 multiplier: real value `multiplier / 2^31`, in `(−1, 1)`.
    pub multiplier: i32,
    /// Power-of-two exponent in `-31..=30` (positive shifts left before the multiply).
    pub shift: i8,
}

/// Largest left shift.
pub const MAX_SHIFT: i8 = 30;
/// Largest right shift (as a negative exponent).
pub const MIN_SHIFT: i8 = -31;

impl Requant {
    /// The factor 1 (`0.5 · 2^1`): [`Requant::apply`] returns `x` unchanged for `|x| < 2^30` (the left shift
    /// doubles, the multiply halves exactly). What `quantize_multiplier(1.0)` gives in codegen.
    pub const IDENTITY: Self = Self { multiplier: 1 << 30, shift: 1 };

    /// A requantization, checking the shift range.
    pub const fn new(multiplier: i32, shift: i8) -> Result<Self, Error> {
        if shift < MIN_SHIFT || shift > MAX_SHIFT {
            return Err(Error::Requant { what: "shift outside -31..=30" });
        }
        Ok(Self { multiplier, shift })
    }

    /// Applies the rule in the module documentation. Total: never panics, for any inputs (an out-of-range
    /// shift is clamped to `-31..=30`).
    #[inline(always)]
    pub fn apply(self, x: i32) -> i32 {
        self.apply_biased(x, 0)
    }

    /// The output-stage form: `bias` is added **after** the left shift, so that it has `max(shift, 0)` more
    /// fractional bits than the accumulator (a layer whose accumulator step is coarser than its output
    /// step keeps its bias exact): `x' = saturate(saturate(x·2^max(shift,0)) + bias)`, then steps 2–3.
    #[inline(always)]
    pub fn apply_biased(self, x: i32, bias: i32) -> i32 {
        let shift = self.shift.clamp(MIN_SHIFT, MAX_SHIFT) as i32;
        let left = if shift > 0 { shift } else { 0 };
        let right = if shift < 0 { -shift } else { 0 };
        let xs = saturating_shl(x, left as u32).saturating_add(bias);
        rounding_divide_by_pot(saturating_rounding_doubling_high_mul(xs, self.multiplier), right as u32)
    }
}

/// `x · 2^s`, saturated to the `i32` range (`s ≤ 31`; larger `s` are treated as 31). 32-bit operations only.
#[inline(always)]
pub fn saturating_shl(x: i32, s: u32) -> i32 {
    let s = s.min(31);
    // x·2^s fits iff x lies in [MIN >> s, MAX >> s].
    if x > (i32::MAX >> s) {
        i32::MAX
    } else if x < (i32::MIN >> s) {
        i32::MIN
    } else {
        x << s
    }
}

/// `round(a·b / 2^31)`, ties toward +∞ (see the module documentation), saturating the single overflow case
/// `MIN·MIN`. Only shifts, no 64-bit division.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    // TFLM writes `(ab + nudge) / 2^31` (truncating) with `nudge = 2^30` for `ab ≥ 0` and `1 − 2^30` for
    // `ab < 0`. Both cases equal `floor((ab + 2^30) / 2^31)`: for `ab ≥ 0` the sum is non-negative, and for
    // `ab < 0`, truncating a negative quotient is `ceil((ab + 1 − 2^30) / 2^31)
    // = floor((ab + 1 − 2^30 + 2^31 − 1) / 2^31)`. One multiply-accumulate and a shift (`smlal` on
    // Cortex-M3/M4); checked against the two-case form by the tests.
    ((ab + (1 << 30)) >> 31) as i32
}

/// `round(x / 2^e)`, ties away from zero (`e ≤ 31`).
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, e: u32) -> i32 {
    if e == 0 {
        return x;
    }
    let e = e.min(31);
    let mask = ((1u32 << e) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> e) + (remainder > threshold) as i32
}

/// What happens to an accumulator after the multiply-adds: per-channel bias and requantization, then the
/// clamp (fused activation) and the store.
#[derive(Debug, Clone, Copy)]
pub struct OutputStage<'a> {
    /// Per-output-channel bias, at the accumulator scale divided by `2^max(shift, 0)`: added (saturating)
    /// after the requantization's left shift ([`Requant::apply_biased`]). Empty means no bias.
    pub bias: &'a [i32],
    /// Per-output-channel requantization, or a single entry applied to every channel.
    pub requant: &'a [Requant],
    /// Smallest output value (`0` for unsigned outputs: the fused ReLU).
    pub min: i32,
    /// Largest output value (`2^a − 1` unsigned, `2^(a−1) − 1` signed).
    pub max: i32,
    /// Whether the output bytes are signed (two's complement).
    pub signed: bool,
}

impl<'a> OutputStage<'a> {
    /// An output stage for an `bits`-bit output, unsigned (`[0, 2^bits−1]`) or signed
    /// (`[−2^(bits−1), 2^(bits−1)−1]`).
    pub const fn for_bits(bias: &'a [i32], requant: &'a [Requant], bits: u8, signed: bool) -> Self {
        let (min, max) = if signed {
            (-(1i32 << (bits.saturating_sub(1))), (1i32 << bits.saturating_sub(1)) - 1)
        } else {
            (0, (1i32 << bits) - 1)
        };
        Self { bias, requant, min, max, signed }
    }

    /// Checks the stage against `channels` output channels.
    pub fn check(&self, channels: usize) -> Result<(), Error> {
        if !self.bias.is_empty() && self.bias.len() != channels {
            return Err(Error::Length { what: "bias", expected: channels, got: self.bias.len() });
        }
        if self.requant.len() != channels && self.requant.len() != 1 {
            return Err(Error::Length { what: "requant", expected: channels, got: self.requant.len() });
        }
        let (lo, hi) = if self.signed { (-128, 127) } else { (0, 255) };
        if self.min > self.max || self.min < lo || self.max > hi {
            return Err(Error::Requant { what: "clamp range empty or outside the output byte type" });
        }
        if self.requant.iter().any(|r| r.shift < MIN_SHIFT || r.shift > MAX_SHIFT) {
            return Err(Error::Requant { what: "shift outside -31..=30" });
        }
        Ok(())
    }

    /// The requantization of channel `c`.
    #[inline(always)]
    pub fn requant_for(&self, c: usize) -> Requant {
        if self.requant.len() == 1 { self.requant[0] } else { self.requant.get(c).copied().unwrap_or_default() }
    }

    /// Bias of channel `c` (0 when there is no bias).
    #[inline(always)]
    pub fn bias_for(&self, c: usize) -> i32 {
        self.bias.get(c).copied().unwrap_or(0)
    }

    /// Accumulator of channel `c` → output byte: requantize with the bias ([`Requant::apply_biased`]),
    /// clamp, store.
    #[inline(always)]
    pub fn finish(&self, c: usize, acc: i32) -> u8 {
        let v = self.requant_for(c).apply_biased(acc, self.bias_for(c));
        // `max` then `min`: `clamp` would panic on an empty range (which `check` refuses).
        store(v.max(self.min).min(self.max))
    }
}

/// The byte for a clamped value (two's complement for negatives).
#[inline(always)]
pub const fn store(v: i32) -> u8 {
    v as u8
}

/// The value of an activation byte: `b` if unsigned, `b as i8` if signed.
#[inline(always)]
pub const fn load(b: u8, signed: bool) -> i32 {
    if signed { b as i8 as i32 } else { b as i32 }
}
