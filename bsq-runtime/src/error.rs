use core::fmt;

/// Why a kernel or the packer refused its arguments. Never a panic: every shape and length is checked
/// before any arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A weight bit width outside `0..=8`.
    InvalidBits {
        /// The width given.
        bits: u8,
    },
    /// An integer weight outside `[-(2^n-1), 2^n-1]` for its width `n`.
    WeightOutOfRange {
        /// Index of the weight in the flat input.
        index: usize,
        /// The value.
        value: i32,
        /// The width.
        bits: u8,
    },
    /// A slice whose length does not match the shape.
    Length {
        /// Which argument.
        what: &'static str,
        /// Length the shape requires.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A shape that is empty, overflows `usize`, or produces no output.
    Shape {
        /// What is wrong with it.
        what: &'static str,
    },
    /// A requantization shift outside `-31..=30`, or an activation clamp range that is empty or outside
    /// the output type.
    Requant {
        /// What is wrong.
        what: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::InvalidBits { bits } => write!(f, "weight bit width {bits} is outside 0..=8"),
            Error::WeightOutOfRange { index, value, bits } => write!(
                f,
                "weight {index} = {value} is outside [-{m}, {m}] for {bits}-bit weights",
                m = (1i32 << bits) - 1
            ),
            Error::Length { what, expected, got } => {
                write!(f, "{what}: expected length {expected}, got {got}")
            }
            Error::Shape { what } => write!(f, "invalid shape: {what}"),
            Error::Requant { what } => write!(f, "invalid requantization: {what}"),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(feature = "defmt")]
impl defmt::Format for Error {
    fn format(&self, f: defmt::Formatter) {
        match *self {
            Error::InvalidBits { bits } => defmt::write!(f, "weight bit width {} is outside 0..=8", bits),
            Error::WeightOutOfRange { index, value, bits } => {
                defmt::write!(f, "weight {} = {} out of range for {} bits", index, value, bits)
            }
            Error::Length { what, expected, got } => {
                defmt::write!(f, "{}: expected length {}, got {}", what, expected, got)
            }
            Error::Shape { what } => defmt::write!(f, "invalid shape: {}", what),
            Error::Requant { what } => defmt::write!(f, "invalid requantization: {}", what),
        }
    }
}
