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

/// Shape of a pooling window over one `H×W×C` image (HWC), with optional padding.
///
/// Output `(y, x, c)` covers input rows `y·stride_h − pad_top … y·stride_h − pad_top + k_h − 1` and columns
/// `x·stride_w − pad_left … x·stride_w − pad_left + k_w − 1` of channel `c`; the output is
/// `(in_h + pad_top + pad_bottom − k_h)/stride_h + 1` by `(in_w + pad_left + pad_right − k_w)/stride_w + 1`.
/// Padded cells (outside the input) are **not** part of the window: max pooling ignores them and average
/// pooling divides by the number of input cells in the window. Each padding is smaller than the kernel in its
/// axis, so every window holds at least one input cell. With no padding (all 0, the [`Default`]) this is the
/// plain pooling window.
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
    /// Rows of padding above (not part of any window's value).
    pub pad_top: usize,
    /// Columns of padding on the left.
    pub pad_left: usize,
    /// Rows of padding below.
    pub pad_bottom: usize,
    /// Columns of padding on the right.
    pub pad_right: usize,
}

impl PoolShape {
    /// An unpadded window (all paddings 0).
    pub const fn unpadded(
        in_h: usize,
        in_w: usize,
        c: usize,
        k_h: usize,
        k_w: usize,
        stride_h: usize,
        stride_w: usize,
    ) -> Self {
        Self { in_h, in_w, c, k_h, k_w, stride_h, stride_w, pad_top: 0, pad_left: 0, pad_bottom: 0, pad_right: 0 }
    }

    /// Validates and returns `(input_len, output_len, out_h, out_w)`.
    ///
    /// Errors ([`Error::Shape`]): "zero dimension", "zero stride", "padding not smaller than the kernel",
    /// "overflow" (a padded side), "window larger than input" (larger than the padded input),
    /// "size overflows usize", "window too large" (more than [`MAX_POOL_WINDOW`] elements).
    ///
    /// Always inlined: on a constant shape (generated code) the checks fold away.
    #[inline(always)]
    pub fn lens(&self) -> Result<(usize, usize, usize, usize), Error> {
        if self.in_h == 0 || self.in_w == 0 || self.c == 0 || self.k_h == 0 || self.k_w == 0 {
            return Err(Error::Shape { what: "zero dimension" });
        }
        if self.stride_h == 0 || self.stride_w == 0 {
            return Err(Error::Shape { what: "zero stride" });
        }
        if self.pad_top >= self.k_h
            || self.pad_bottom >= self.k_h
            || self.pad_left >= self.k_w
            || self.pad_right >= self.k_w
        {
            return Err(Error::Shape { what: "padding not smaller than the kernel" });
        }
        let ph = self.in_h.checked_add(self.pad_top).and_then(|v| v.checked_add(self.pad_bottom));
        let pw = self.in_w.checked_add(self.pad_left).and_then(|v| v.checked_add(self.pad_right));
        let (Some(ph), Some(pw)) = (ph, pw) else { return Err(Error::Shape { what: "overflow" }) };
        if self.k_h > ph || self.k_w > pw {
            return Err(Error::Shape { what: "window larger than input" });
        }
        let oh = (ph - self.k_h) / self.stride_h + 1;
        let ow = (pw - self.k_w) / self.stride_w + 1;
        let of = Error::Shape { what: "size overflows usize" };
        let input = self.in_h.checked_mul(self.in_w).and_then(|v| v.checked_mul(self.c)).ok_or(of)?;
        let output = oh.checked_mul(ow).and_then(|v| v.checked_mul(self.c)).ok_or(of)?;
        if self.k_h.checked_mul(self.k_w).is_none_or(|a| a > MAX_POOL_WINDOW) {
            return Err(Error::Shape { what: "window too large" });
        }
        Ok((input, output, oh, ow))
    }

    /// [`Self::lens`] for a shape known to have no padding (the pooling kernels' unpadded loops, reached only
    /// then): the same checks and results without the padding terms, as before pools had padding.
    #[inline(always)]
    pub(crate) fn lens_unpadded(&self) -> Result<(usize, usize, usize, usize), Error> {
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

/// Shape of a grouped 2-D convolution (depthwise when `groups = in_c`) on one `H×W×C` (HWC) `u8` image.
///
/// The channels are split into `groups` equal groups: output channel `o` belongs to group
/// `g = o / (out_c / groups)` and reads only the input channels `g·(in_c/groups) .. (g+1)·(in_c/groups)`.
/// Weights are `[out_c][k_h][k_w][in_c/groups]` (one packed row of [`GroupedConv2dShape::row_len`]
/// weights per output channel); the output is `out_h × out_w × out_c`, HWC, with the geometry of
/// [`Conv2dShape`]. With `groups = 1` it is exactly [`Conv2dShape`]'s convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupedConv2dShape {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels (all groups).
    pub in_c: usize,
    /// Output channels (all groups).
    pub out_c: usize,
    /// Channel groups (≥ 1, dividing `in_c` and `out_c`).
    pub groups: usize,
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

impl GroupedConv2dShape {
    /// The geometry as a [`Conv2dShape`] (all channels; its `row_len` is not this layer's).
    pub const fn geometry(&self) -> Conv2dShape {
        Conv2dShape {
            in_h: self.in_h,
            in_w: self.in_w,
            in_c: self.in_c,
            out_c: self.out_c,
            k_h: self.k_h,
            k_w: self.k_w,
            stride_h: self.stride_h,
            stride_w: self.stride_w,
            pad_top: self.pad_top,
            pad_left: self.pad_left,
            pad_bottom: self.pad_bottom,
            pad_right: self.pad_right,
        }
    }

    /// Input channels per group (`in_c / groups`; 0 if `groups` is 0).
    pub const fn group_in(&self) -> usize {
        match self.in_c.checked_div(self.groups) {
            Some(v) => v,
            None => 0,
        }
    }

    /// Output channels per group (`out_c / groups`; 0 if `groups` is 0).
    pub const fn group_out(&self) -> usize {
        match self.out_c.checked_div(self.groups) {
            Some(v) => v,
            None => 0,
        }
    }

    /// Weights per output channel: `k_h · k_w · in_c / groups` (saturating).
    pub const fn row_len(&self) -> usize {
        self.k_h.saturating_mul(self.k_w).saturating_mul(self.group_in())
    }

    /// Output height and width, or an error if the shape is degenerate, overflows, or its channels are not
    /// divisible by `groups` (`Error::Shape`: "zero groups", "channels not divisible by groups").
    pub const fn out_hw(&self) -> Result<(usize, usize), Error> {
        if self.groups == 0 {
            return Err(Error::Shape { what: "zero groups" });
        }
        if !self.in_c.is_multiple_of(self.groups) || !self.out_c.is_multiple_of(self.groups) {
            return Err(Error::Shape { what: "channels not divisible by groups" });
        }
        self.geometry().out_hw()
    }

    /// Validates the shape and returns `(input_len, output_len, row_len)`, all overflow-checked.
    pub fn lens(&self) -> Result<(usize, usize, usize), Error> {
        self.out_hw()?;
        let (input, output, _) = self.geometry().lens()?;
        let of = Error::Shape { what: "size overflows usize" };
        let row = self.k_h.checked_mul(self.k_w).and_then(|v| v.checked_mul(self.group_in())).ok_or(of)?;
        Ok((input, output, row))
    }
}

/// Shape of a padding step ([`crate::pad`]): an `H×W×C` (HWC) tensor copied into the middle of an
/// `(H + pad_top + pad_bottom) × (W + pad_left + pad_right) × C` tensor whose border is one constant byte.
///
/// Codegen uses it before a convolution whose input has a non-zero zero point: the real value 0 of such an
/// input is the byte `zero_point`, not 0, so its padding must be that byte (the convolution then runs
/// without padding on the padded copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PadShape {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Channels (input = output).
    pub c: usize,
    /// Rows added above.
    pub pad_top: usize,
    /// Columns added on the left.
    pub pad_left: usize,
    /// Rows added below.
    pub pad_bottom: usize,
    /// Columns added on the right.
    pub pad_right: usize,
}

impl PadShape {
    /// Output height and width `(H + pad_top + pad_bottom, W + pad_left + pad_right)`, or an error if a
    /// dimension is zero or a size overflows.
    pub const fn out_hw(&self) -> Result<(usize, usize), Error> {
        if self.in_h == 0 || self.in_w == 0 || self.c == 0 {
            return Err(Error::Shape { what: "zero dimension" });
        }
        let oh = match self.in_h.checked_add(self.pad_top) {
            Some(v) => v.checked_add(self.pad_bottom),
            None => None,
        };
        let ow = match self.in_w.checked_add(self.pad_left) {
            Some(v) => v.checked_add(self.pad_right),
            None => None,
        };
        match (oh, ow) {
            (Some(oh), Some(ow)) => Ok((oh, ow)),
            _ => Err(Error::Shape { what: "overflow" }),
        }
    }

    /// Validates the shape and returns `(input_len, output_len)`, overflow-checked.
    pub fn lens(&self) -> Result<(usize, usize), Error> {
        let (oh, ow) = self.out_hw()?;
        let of = Error::Shape { what: "size overflows usize" };
        let input = self.in_h.checked_mul(self.in_w).and_then(|v| v.checked_mul(self.c)).ok_or(of)?;
        let output = oh.checked_mul(ow).and_then(|v| v.checked_mul(self.c)).ok_or(of)?;
        Ok((input, output))
    }
}
