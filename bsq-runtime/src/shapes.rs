use crate::Error;

/// Shape of a 2-D convolution on one `H×W×C` (HWC, row-major) `u8` image.
///
/// Weights are `[out_c][k_h][k_w][in_c]` (one packed row per output channel); the output is
/// `out_h × out_w × out_c`, HWC. Padding reads as activation 0 (the zero point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Conv2dShape {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output channels.
    pub out_c: usize,
    /// Kernel height.
    pub k_h: usize,
    /// Kernel width.
    pub k_w: usize,
    /// Vertical stride (≥ 1).
    pub stride_h: usize,
    /// Horizontal stride (≥ 1).
    pub stride_w: usize,
    /// Zero rows added above.
    pub pad_top: usize,
    /// Zero columns added on the left.
    pub pad_left: usize,
    /// Zero rows added below.
    pub pad_bottom: usize,
    /// Zero columns added on the right.
    pub pad_right: usize,
}

impl Conv2dShape {
    /// Output height and width, or an error if the shape is degenerate or overflows.
    pub const fn out_hw(&self) -> Result<(usize, usize), Error> {
        if self.in_h == 0 || self.in_w == 0 || self.in_c == 0 || self.out_c == 0 || self.k_h == 0 || self.k_w == 0 {
            return Err(Error::Shape { what: "zero dimension" });
        }
        if self.stride_h == 0 || self.stride_w == 0 {
            return Err(Error::Shape { what: "zero stride" });
        }
        let ph = match self.in_h.checked_add(self.pad_top) {
            Some(v) => match v.checked_add(self.pad_bottom) {
                Some(v) => v,
                None => return Err(Error::Shape { what: "overflow" }),
            },
            None => return Err(Error::Shape { what: "overflow" }),
        };
        let pw = match self.in_w.checked_add(self.pad_left) {
            Some(v) => match v.checked_add(self.pad_right) {
                Some(v) => v,
                None => return Err(Error::Shape { what: "overflow" }),
            },
            None => return Err(Error::Shape { what: "overflow" }),
        };
        if ph < self.k_h || pw < self.k_w {
            return Err(Error::Shape { what: "kernel larger than padded input" });
        }
        if self.pad_top >= self.k_h
            || self.pad_bottom >= self.k_h
            || self.pad_left >= self.k_w
            || self.pad_right >= self.k_w
        {
            return Err(Error::Shape { what: "padding not smaller than the kernel" });
        }
        Ok(((ph - self.k_h) / self.stride_h + 1, (pw - self.k_w) / self.stride_w + 1))
    }

    /// Weights per output channel: `k_h · k_w · in_c`.
    pub const fn row_len(&self) -> usize {
        self.k_h * self.k_w * self.in_c
    }

    /// Validates the shape and returns `(input_len, output_len, row_len)`, all overflow-checked.
    pub fn lens(&self) -> Result<(usize, usize, usize), Error> {
        let (oh, ow) = self.out_hw()?;
        let of = Error::Shape { what: "size overflows usize" };
        let input = self.in_h.checked_mul(self.in_w).and_then(|v| v.checked_mul(self.in_c)).ok_or(of)?;
        let output = oh.checked_mul(ow).and_then(|v| v.checked_mul(self.out_c)).ok_or(of)?;
        let row = self.k_h.checked_mul(self.k_w).and_then(|v| v.checked_mul(self.in_c)).ok_or(of)?;
        Ok((input, output, row))
    }
}

/// Largest pooling window (elements): a window's sum of bytes is kept in `i32` (`2^23 · 255 < 2^31`).
pub const MAX_POOL_WINDOW: usize = 1 << 23;

/// Shape of a pooling window over one `H×W×C` image (HWC). No padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolShape {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Channels (input = output).
    pub c: usize,
    /// Window height.
    pub k_h: usize,
    /// Window width.
    pub k_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
}

impl PoolShape {
    /// Validates and returns `(input_len, output_len, out_h, out_w)`.
    pub fn lens(&self) -> Result<(usize, usize, usize, usize), Error> {
        if self.in_h == 0 || self.in_w == 0 || self.c == 0 || self.k_h == 0 || self.k_w == 0 {
            return Err(Error::Shape { what: "zero dimension" });
        }
        if self.stride_h == 0 || self.stride_w == 0 {
            return Err(Error::Shape { what: "zero stride" });
        }
        if self.k_h > self.in_h || self.k_w > self.in_w {
            return Err(Error::Shape { what: "window larger than input" });
        }
        let oh = (self.in_h - self.k_h) / self.stride_h + 1;
        let ow = (self.in_w - self.k_w) / self.stride_w + 1;
        let of = Error::Shape { what: "size overflows usize" };
        let input = self.in_h.checked_mul(self.in_w).and_then(|v| v.checked_mul(self.c)).ok_or(of)?;
        let output = oh.checked_mul(ow).and_then(|v| v.checked_mul(self.c)).ok_or(of)?;
        if self.k_h.checked_mul(self.k_w).is_none_or(|a| a > MAX_POOL_WINDOW) {
            return Err(Error::Shape { what: "window too large" });
        }
        Ok((input, output, oh, ow))
    }
}
