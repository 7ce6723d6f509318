//! Text lines to the host: semihosting stdout (feature `semihosting`) or defmt (feature `defmt`).
//!
//! A [`Line`] buffers a line and writes it in as few semihosting calls as possible (each call is a trap
//! the emulator handles). Use the [`line!`](crate::line) macro.

use core::fmt;

const CAP: usize = 160;

/// One output line under construction; written out by [`Line::end`] (and in pieces if it is long).
pub struct Line {
    buf: [u8; CAP],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Line {
    /// An empty line.
    pub const fn new() -> Self {
        Self { buf: [0; CAP], len: 0 }
    }

    /// Appends raw bytes (ASCII expected).
    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.len == CAP {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
    }

    /// Appends `bytes` as lowercase hex, two digits per byte, no separators.
    pub fn push_hex(&mut self, bytes: &[u8]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for &b in bytes {
            self.push(&[DIGITS[(b >> 4) as usize], DIGITS[(b & 15) as usize]]);
        }
    }

    /// Ends the line (`\n`) and writes it out.
    pub fn end(mut self) {
        self.push(b"\n");
        self.flush();
    }

    fn flush(&mut self) {
        sink(&self.buf[..self.len]);
        self.len = 0;
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

#[cfg(feature = "semihosting")]
fn sink(bytes: &[u8]) {
    use semihosting::io::Write as _;
    if let Ok(mut out) = semihosting::io::stdout() {
        let _ = out.write_all(bytes);
    }
}

// The defmt transport: RTT, read by the probe.
#[cfg(feature = "defmt")]
use defmt_rtt as _;

#[cfg(feature = "defmt")]
fn sink(bytes: &[u8]) {
    // defmt frames are lines already: drop the trailing newline; a long line arrives in several frames.
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if let Ok(s) = core::str::from_utf8(bytes) {
        defmt::println!("{=str}", s);
    }
}

#[cfg(not(any(feature = "semihosting", feature = "defmt")))]
fn sink(_bytes: &[u8]) {}

/// Writes one formatted line: `bsq_board::line!("BSQ done models={}", n)`.
#[macro_export]
macro_rules! line {
    ($($arg:tt)*) => {{
        let mut l = $crate::log::Line::new();
        let _ = core::fmt::Write::write_fmt(&mut l, format_args!($($arg)*));
        l.end();
    }};
}
