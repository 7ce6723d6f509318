//! Single Armv7E-M DSP instructions: the crate's one `unsafe` module (audited: each block is one
//! register-only instruction).
//!
//! With `cfg(bsq_dsp)` (set by the build script for cores that have the DSP extension) each function is one
//! instruction through `core::arch::asm!`; otherwise it is a portable model of that instruction with the same
//! result for every input, so the kernels built on these functions run (slowly) and are tested on the host.
//! The QEMU suites run the real instructions and compare the bytes with the host's.
//!
//! Why `asm!`: the `core::arch::arm` DSP intrinsics (`__smlad`, `__uxtb16`) are unstable, and LLVM does not
//! form `SMLAD` / `UXTB16` from plain Rust.

/// The assembly of one group of 4 window elements × 2 channels (8 multiply-accumulates), shared by the
/// loops below: `ldr` of 4 activation bytes from `pa` (post-increment), `ldm` of the group's 4 weight
/// words from `pw` (post-increment) into r2–r5, the even and odd activation bytes as halfwords
/// (`UXTB16`, `UXTB16 … ROR #8`) and 4 `SMLAD` into the sums `t0` (channel 0: r2, r3) and `t1` (channel 1:
/// r4, r5). Operands `pa`, `pw`, `x`, `e`, `t0`, `t1` and r2–r5 are declared by each loop.
#[cfg(bsq_dsp)]
macro_rules! group {
    () => {
        concat!(
            "ldr {x}, [{pa}], #4\n",
            "ldm {pw}!, {{r2, r3, r4, r5}}\n",
            "uxtb16 {e}, {x}\n",
            "uxtb16 {x}, {x}, ror #8\n",
            "smlad {t0}, {e}, r2, {t0}\n",
            "smlad {t0}, {x}, r3, {t0}\n",
            "smlad {t1}, {e}, r4, {t1}\n",
            "smlad {t1}, {x}, r5, {t1}"
        )
    };
}

/// One group of 4 input channels × 4 output channels (16 multiply-accumulates) of [`dot4_run`]: `ldr` of 4
/// activation bytes from `pa` (post-increment), their even and odd bytes as halfwords in `e` and `x`, then
/// per pair of channels one `ldm` of its 4 weight words from `pw` (post-increment) into r2–r5 and 4 `SMLAD`
/// into the sums `t0`, `t1` (channels 0, 1) and `t2`, `t3` (channels 2, 3).
#[cfg(bsq_dsp)]
macro_rules! quad {
    () => {
        concat!(
            "ldr {x}, [{pa}], #4\n",
            "ldm {pw}!, {{r2, r3, r4, r5}}\n",
            "uxtb16 {e}, {x}\n",
            "uxtb16 {x}, {x}, ror #8\n",
            "smlad {t0}, {e}, r2, {t0}\n",
            "smlad {t0}, {x}, r3, {t0}\n",
            "smlad {t1}, {e}, r4, {t1}\n",
            "smlad {t1}, {x}, r5, {t1}\n",
            "ldm {pw}!, {{r2, r3, r4, r5}}\n",
            "smlad {t2}, {e}, r2, {t2}\n",
            "smlad {t2}, {x}, r3, {t2}\n",
            "smlad {t3}, {e}, r4, {t3}\n",
            "smlad {t3}, {x}, r5, {t3}"
        )
    };
}

/// One-instruction signed 16-bit multiply-accumulates (`SMLAD`, `SMLABB`, `SMLATT`), each a function
/// `fn(x: u32, y: u32, acc: i32) -> i32` with its portable model. The sums wrap modulo 2^32; the
/// instructions set the Q flag on overflow, which nothing in this crate reads.
macro_rules! macs {
    ($($(#[$doc:meta])* $name:ident => $insn:literal, |$x:ident, $y:ident, $acc:ident| $model:expr;)*) => {$(
        $(#[$doc])*
        #[inline(always)]
        pub(crate) fn $name($x: u32, $y: u32, $acc: i32) -> i32 {
            #[cfg(bsq_dsp)]
            {
                let r: i32;
                // SAFETY: one register-only arithmetic instruction: no memory access, no stack, no flags
                // read (it may set Q, which no code in this crate reads or relies on); every input value is
                // valid.
                unsafe {
                    core::arch::asm!(
                        $insn,
                        r = lateout(reg) r, x = in(reg) $x, y = in(reg) $y, a = in(reg) $acc,
                        options(pure, nomem, nostack, preserves_flags)
                    );
                }
                r
            }
            #[cfg(not(bsq_dsp))]
            {
                $model
            }
        }
    )*};
}

/// Signed 16-bit low and high halves of a word.
#[cfg(not(bsq_dsp))]
const fn halves(x: u32) -> (i32, i32) {
    (x as i16 as i32, (x >> 16) as i16 as i32)
}

macs! {
    /// `SMLAD acc, x, y`: `acc + x.lo·y.lo + x.hi·y.hi` (products exact in 32 bits).
    smlad => "smlad {r}, {x}, {y}, {a}",
        |x, y, acc| acc.wrapping_add(halves(x).0 * halves(y).0).wrapping_add(halves(x).1 * halves(y).1);
    /// `SMLABB acc, x, y`: `acc + x.lo·y.lo`.
    smlabb => "smlabb {r}, {x}, {y}, {a}", |x, y, acc| acc.wrapping_add(halves(x).0 * halves(y).0);
    /// `SMLATT acc, x, y`: `acc + x.hi·y.hi`.
    smlatt => "smlatt {r}, {x}, {y}, {a}", |x, y, acc| acc.wrapping_add(halves(x).1 * halves(y).1);
}

/// One-instruction byte-pair extractions (`UXTB16` / `SXTB16`, with and without `ROR #8`), each a
/// function `fn(u32) -> u32` with its portable model.
macro_rules! byte_pairs {
    ($($(#[$doc:meta])* $name:ident => $insn:literal, |$x:ident| $model:expr;)*) => {$(
        $(#[$doc])*
        #[inline(always)]
        pub(crate) fn $name($x: u32) -> u32 {
            #[cfg(bsq_dsp)]
            {
                let r: u32;
                // SAFETY: one register-only instruction (no memory, stack or flags); every input value is
                // valid.
                unsafe {
                    core::arch::asm!(
                        $insn,
                        r = lateout(reg) r, x = in(reg) $x,
                        options(pure, nomem, nostack, preserves_flags)
                    );
                }
                r
            }
            #[cfg(not(bsq_dsp))]
            {
                $model
            }
        }
    )*};
}

byte_pairs! {
    /// `UXTB16 x`: bytes 0 and 2 of `x`, zero-extended into the low and high halfwords.
    uxtb16 => "uxtb16 {r}, {x}", |x| x & 0x00ff_00ff;
    /// `UXTB16 x, ROR #8`: bytes 1 and 3 of `x`, zero-extended into the low and high halfwords.
    uxtb16_ror8 => "uxtb16 {r}, {x}, ror #8", |x| (x >> 8) & 0x00ff_00ff;
    /// `SXTB16 x`: bytes 0 and 2 of `x`, sign-extended into the low and high halfwords.
    sxtb16 => "sxtb16 {r}, {x}",
        |x| (x as u8 as i8 as i16 as u16 as u32) | ((((x >> 16) as u8 as i8 as i16 as u16) as u32) << 16);
    /// `SXTB16 x, ROR #8`: bytes 1 and 3 of `x`, sign-extended into the low and high halfwords.
    sxtb16_ror8 => "sxtb16 {r}, {x}, ror #8", |x| sxtb16(x >> 8);
}

/// Two channels × `out.len() / 2` consecutive output pixels: pixel `q`'s window starts at
/// `a[q·step..]` and is `rows` rows of `run` groups (see [`dot2_groups`]), row `r`'s activations at
/// `r·stride` bytes and its weights at `w[r·wstride..][..run]` (the same weights for every pixel; `run <
/// wstride` for a window clipped at the left or right border). Its two sums go to `out[2q]`, `out[2q+1]`
/// (overwritten, not added to). When some window or the weights would run past their slices, nothing is
/// written (the kernels never ask for that).
///
/// On DSP cores one assembly loop over the pixels, rows and groups: per two groups 18 instructions as in
/// [`dot2_groups`], per row 13 (the counts, an odd group, the two row skips, the end test), per pixel 18
/// (zeroed sums, the window start and weights reloaded, one `strd` of the sums, the pixel count) — the
/// whole interior of an output row of the convolution, or one border pixel.
#[allow(clippy::too_many_arguments)]
#[inline(never)] // Two call sites (interior runs, border pixels): one copy.
pub(crate) fn dot2_row(
    w: &[[i16; 8]],
    a: &[u8],
    rows: usize,
    run: usize,
    wstride: usize,
    stride: usize,
    step: usize,
    out: &mut [i32],
) {
    let pixels = out.len() / 2;
    let row_bytes = run * 4;
    // The last pixel's last row must end inside `a`, the last row's weights inside `w`; multiplications
    // only (no `UDIV` per call).
    let last = pixels
        .checked_sub(1)
        .and_then(|p| p.checked_mul(step))
        .and_then(|s| s.checked_add(rows.checked_sub(1)?.checked_mul(stride)?))
        .and_then(|s| s.checked_add(row_bytes));
    let w_end = rows.checked_sub(1).and_then(|r| r.checked_mul(wstride)).and_then(|s| s.checked_add(run));
    let fits = last.is_some_and(|end| end <= a.len())
        && w_end.is_some_and(|end| end <= w.len())
        && rows > 0
        && run > 0
        && wstride >= run
        && stride >= row_bytes;
    if !fits {
        return;
    }
    #[cfg(bsq_dsp)]
    if (w.as_ptr() as usize).is_multiple_of(4) && (out.as_ptr() as usize).is_multiple_of(4) {
        let pw = w.as_ptr();
        // The current pixel's window start, pairs of groups per row, the row skip, the end of the weights,
        // where the next sums go, the pixel step, the pixels left, the start of the weights, an odd group
        // per row.
        let mut params: [usize; 10] = [
            a.as_ptr() as usize,
            run / 2,
            stride - row_bytes,
            pw.wrapping_add(rows * wstride) as usize,
            out.as_mut_ptr() as usize,
            step,
            pixels,
            pw as usize,
            run % 2,
            (wstride - run) * 16,
        ];
        let p = params.as_mut_ptr();
        // Accesses: for each of the `pixels ≥ 1` pixels and each row `r < rows`, reads the `run` weight groups at
        // `w + r·wstride` (16 bytes each, 4-byte aligned for `ldm`, checked; inside `w` since
        // `(rows − 1)·wstride + run ≤ w.len()`) and the `4·run` bytes at `a + q·step + r·stride` (inside `a`
        // since `(pixels − 1)·step + (rows − 1)·stride + 4·run ≤ a.len()`), all checked above; writes two
        // `i32` per pixel at `out` (4-byte aligned for `strd`; `2·pixels ≤ out.len()`) and the words of
        // `params` (a live local array). Per row: `run / 2` double groups (the loop skipped when 0) and one
        // more group when `run` is odd, so `run ≥ 1` groups, then the skips to the next row; the row loop
        // ends when `pw` reaches `w + rows·wstride` (`rows ≥ 1`; the pointer after the last row, not read),
        // the pixel loop after `pixels`. No stack; the flags and every written register are declared.
        // SAFETY: every access listed above is inside its slice and aligned as `ldm`/`strd` need (checked).
        unsafe {
            core::arch::asm!(
                "5:",
                "ldr {pa}, [{p}]",
                "ldr {pw}, [{p}, #28]",
                "movs {t0}, #0",
                "movs {t1}, #0",
                "2:",
                "ldr {cnt}, [{p}, #4]",
                "cmp {cnt}, #0",
                "beq 3f",
                "1:",
                group!(),
                group!(),
                "subs {cnt}, {cnt}, #1",
                "bne 1b",
                "3:",
                "ldr {x}, [{p}, #32]",
                "cmp {x}, #0",
                "beq 4f",
                group!(),
                "4:",
                "ldr {x}, [{p}, #8]",
                "add {pa}, {pa}, {x}",
                "ldr {x}, [{p}, #36]",
                "add {pw}, {pw}, {x}",
                "ldr {x}, [{p}, #12]",
                "cmp {pw}, {x}",
                "blo 2b",
                "ldr {x}, [{p}, #16]",
                "strd {t0}, {t1}, [{x}], #8",
                "str {x}, [{p}, #16]",
                "ldr {x}, [{p}]",
                "ldr {e}, [{p}, #20]",
                "add {x}, {x}, {e}",
                "str {x}, [{p}]",
                "ldr {x}, [{p}, #24]",
                "subs {x}, {x}, #1",
                "str {x}, [{p}, #24]",
                "bne 5b",
                p = in(reg) p,
                pa = out(reg) _,
                pw = out(reg) _,
                cnt = out(reg) _,
                t0 = out(reg) _,
                t1 = out(reg) _,
                x = out(reg) _,
                e = out(reg) _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                options(nostack)
            );
        }
        let _ = params;
        return;
    }
    for (q, o) in out.chunks_exact_mut(2).enumerate() {
        let mut acc = [0, 0];
        for r in 0..rows {
            let (at, wt) = (q * step + r * stride, r * wstride);
            let (Some(x), Some(wr)) = (a.get(at..at + row_bytes), w.get(wt..wt + run)) else { break };
            acc = dot2_groups(wr, x.as_chunks::<4>().0, acc);
        }
        o[0] = acc[0];
        o[1] = acc[1];
    }
}

/// Every channel pair against one window: for pair `p` (weights `w[p·groups..][..groups]`, the layout of
/// [`dot2_groups`]) writes `Σ` of channel `2p` to `out[2p]` and of channel `2p+1` to `out[2p+1]`, over the
/// groups of `x`, for the `out.len() / 2` pairs; nothing when the weights hold fewer pairs (the kernels
/// never ask for that).
///
/// On DSP cores one assembly loop over the pairs and groups: per two groups 18 instructions as in
/// `dot2_groups`, per pair 14 (reload of the window start and counts, the odd group test, zeroed sums, one
/// `strd` of the two sums, the end test) — the whole per-pixel work of the gathered-window convolution.
#[inline(always)]
pub(crate) fn dot2_pairs(w: &[[i16; 8]], x: &[[u8; 4]], out: &mut [i32]) {
    let groups = x.len();
    // No division (a `UDIV` per pixel): all pairs when the weights hold them, else none.
    let pairs = out.len() / 2;
    let pairs = if pairs.checked_mul(groups).is_some_and(|n| n <= w.len()) { pairs } else { 0 };
    #[cfg(bsq_dsp)]
    if (w.as_ptr() as usize).is_multiple_of(4) && (out.as_ptr() as usize).is_multiple_of(4) && pairs > 0 && groups > 0 {
        let pw = w.as_ptr();
        // Window start, pair count of groups, the odd-group flag, where the next sums go, end of the weights.
        let mut params: [usize; 5] = [
            x.as_ptr() as usize,
            groups / 2,
            groups % 2,
            out.as_mut_ptr() as usize,
            pw.wrapping_add(pairs * groups) as usize,
        ];
        let p = params.as_mut_ptr();
        // Accesses: reads `pairs · groups` weight groups from `pw` (16 bytes each, 4-byte aligned for `ldm`,
        // checked; `pairs · groups ≤ w.len()`), for each pair the `4·groups` bytes of `x`, and `params`;
        // writes two `i32` per pair at `out` (4-byte aligned for `strd`, checked; `2·pairs ≤ out.len()`) and
        // the output pointer in `params` (a live local array). `pairs ≥ 1`; the group loop runs `groups / 2`
        // times (skipped when 0) plus one odd group when `groups` is odd. No stack; the flags and every
        // written register are declared.
        // SAFETY: every access listed above is inside its slice and aligned as `ldm`/`strd` need (checked).
        unsafe {
            core::arch::asm!(
                "4:",
                "ldr {pa}, [{p}]",
                "ldr {cnt}, [{p}, #4]",
                "movs {t0}, #0",
                "movs {t1}, #0",
                "cmp {cnt}, #0",
                "beq 2f",
                "1:",
                group!(),
                group!(),
                "subs {cnt}, {cnt}, #1",
                "bne 1b",
                "2:",
                "ldr {cnt}, [{p}, #8]",
                "cmp {cnt}, #0",
                "beq 3f",
                group!(),
                "3:",
                "ldr {x}, [{p}, #12]",
                "strd {t0}, {t1}, [{x}], #8",
                "str {x}, [{p}, #12]",
                "ldr {x}, [{p}, #16]",
                "cmp {pw}, {x}",
                "blo 4b",
                pw = inout(reg) pw => _,
                p = in(reg) p,
                pa = out(reg) _,
                cnt = out(reg) _,
                t0 = out(reg) _,
                t1 = out(reg) _,
                x = out(reg) _,
                e = out(reg) _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                options(nostack)
            );
        }
        let _ = params;
        return;
    }
    for (p, o) in out.chunks_exact_mut(2).take(pairs).enumerate() {
        let [t0, t1] = dot2_groups(w.get(p * groups..(p + 1) * groups).unwrap_or(&[]), x, [0, 0]);
        o[0] = t0;
        o[1] = t1;
    }
}

/// Four channels × `out.len() / 4` consecutive pixels of a 1×1 convolution (a matrix product): pixel `q`'s
/// activations are the `4·groups` bytes at `a[4·groups·q..]` (the pixels are contiguous in HWC), the
/// weights `w[..groups]` hold per group of 4 input channels the four channels' words in the order of
/// [`dot2_groups`] (`c0: w0 w2 w1 w3, c1: …, c2: …, c3: …`), and channel `k`'s sum goes to `out[4q + k]`
/// (overwritten). When the pixels or the weights would run past their slices, nothing is written (the
/// kernel never asks for that).
///
/// On DSP cores one assembly loop over pixels and groups: per group one `ldr` of 4 activations, two
/// `UXTB16` shared by the four channels, two `ldm` of 4 weight words and 8 `SMLAD` (16 multiply-accumulates
/// in 13 instructions), two groups per iteration (an odd first group entered in the middle), 3 per
/// iteration for the end test, about 15 per pixel (zeroed sums, the weights reloaded, two `strd`).
#[inline(never)] // One copy for every block of channels.
pub(crate) fn dot4_run(w: &[[i16; 16]], a: &[u8], groups: usize, out: &mut [i32]) {
    let pixels = out.len() / 4;
    let bytes = pixels.checked_mul(groups).and_then(|n| n.checked_mul(4));
    let fits = pixels > 0 && groups > 0 && groups <= w.len() && bytes.is_some_and(|n| n <= a.len());
    if !fits {
        return;
    }
    #[cfg(bsq_dsp)]
    if (w.as_ptr() as usize).is_multiple_of(4) && (out.as_ptr() as usize).is_multiple_of(4) {
        let pw = w.as_ptr();
        let pa = a.as_ptr();
        // The weights' start and end, where the sums go, the end of the pixels, an odd group, the pixels'
        // start: copied onto the stack by the assembly (every register is in use inside the loops).
        let params: [usize; 6] = [
            pw as usize,
            pw.wrapping_add(groups) as usize,
            out.as_mut_ptr() as usize,
            pa.wrapping_add(bytes.unwrap_or(0)) as usize,
            groups % 2,
            pa as usize,
        ];
        // Accesses: reads `params` (a live local array); 24 bytes of stack below `sp` (reserved by `sub sp`
        // and released before the end; the stack stays 8-byte aligned); for each of the `pixels ≥ 1`
        // pixels the `groups ≥ 1` weight groups at `w` (32 bytes each, 4-byte aligned for `ldm`, checked;
        // `groups ≤ w.len()`) and its `4·groups` activation bytes, contiguous from `a` (the last pixel ends
        // at `a + 4·groups·pixels ≤ a + a.len()`, checked); writes four `i32` per pixel at `out` (4-byte
        // aligned for `strd`, checked; `4·pixels ≤ out.len()`). The group loop runs `groups` groups exactly
        // (an odd first group entered at `2:`, then pairs until `pw` reaches the end of the weights), the
        // pixel loop until `pa` reaches the end of the pixels (it advances `4·groups` bytes per pixel).
        // The flags and every written register are declared; `sp` is restored.
        // SAFETY: every access listed above is inside its slice (or the reserved stack) and aligned as
        // `ldm`/`strd` need (checked).
        unsafe {
            core::arch::asm!(
                "sub sp, sp, #24",
                "ldr {x}, [{pa}]",
                "str {x}, [sp]",
                "ldr {x}, [{pa}, #4]",
                "str {x}, [sp, #4]",
                "ldr {x}, [{pa}, #8]",
                "str {x}, [sp, #8]",
                "ldr {x}, [{pa}, #12]",
                "str {x}, [sp, #12]",
                "ldr {x}, [{pa}, #16]",
                "str {x}, [sp, #16]",
                "ldr {pa}, [{pa}, #20]",
                "5:",
                "mov {t0}, #0",
                "mov {t1}, #0",
                "mov {t2}, #0",
                "mov {t3}, #0",
                "ldr {pw}, [sp]",
                "ldr {x}, [sp, #16]",
                "cmp {x}, #0",
                "bne 2f",
                "1:",
                quad!(),
                "2:",
                quad!(),
                "ldr {x}, [sp, #4]",
                "cmp {pw}, {x}",
                "bne 1b",
                "ldr {x}, [sp, #8]",
                "strd {t0}, {t1}, [{x}], #8",
                "strd {t2}, {t3}, [{x}], #8",
                "str {x}, [sp, #8]",
                "ldr {x}, [sp, #12]",
                "cmp {pa}, {x}",
                "bne 5b",
                "add sp, sp, #24",
                pa = inout(reg) params.as_ptr() => _,
                pw = out(reg) _,
                x = out(reg) _,
                e = out(reg) _,
                t0 = out(reg) _,
                t1 = out(reg) _,
                t2 = out(reg) _,
                t3 = out(reg) _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
            );
        }
        return;
    }
    let (chunks, _) = out.as_chunks_mut::<4>();
    for (o, x) in chunks.iter_mut().zip(a.chunks_exact(4 * groups)) {
        let (x, _) = x.as_chunks::<4>();
        let pair = |half: usize| {
            let mut t = [0i32; 2];
            for (w, x) in w.iter().zip(x) {
                let (w, _) = w.as_chunks::<8>();
                t = dot2_groups(core::slice::from_ref(&w[half]), core::slice::from_ref(x), t);
            }
            t
        };
        let [t0, t1] = pair(0);
        let [t2, t3] = pair(1);
        *o = [t0, t1, t2, t3];
    }
}

/// Two consecutive `i16` as one word, `w[0]` in the low halfword: one `ldr`. Written as a pointer read
/// because LLVM, after strength-reducing the kernels' loops, no longer merges the two `ldrh` of the safe
/// form `w[0] as u16 | (w[1] as u16) << 16` (measured: 40 instructions per 16 multiply-accumulates in the
/// 2 × 2 convolution loop instead of 20).
#[inline(always)]
pub(crate) fn pair_word(w: &[i16; 2]) -> u32 {
    // SAFETY: `w` is a valid reference to 4 initialized bytes; `read_unaligned` needs no alignment (and
    // Armv7-M `ldr` accepts the 2-byte-aligned address); every bit pattern is a valid `u32`. Reading the
    // bytes in memory order and converting from little-endian gives the same value on every target.
    u32::from_le(unsafe { core::ptr::read_unaligned(w.as_ptr().cast::<u32>()) })
}

/// Two channels × one pixel over whole groups of 4 window elements: for each group `g`, with activation
/// bytes `x = a[g]` and weights `w[g] = [c0: w0 w2 w1 w3, c1: w0 w2 w1 w3]` (the order of
/// [`crate::kernels`]' DSP layout), adds `Σ_k w_c[k]·x[k]` to `acc[c]` (wrapping). Groups past the shorter
/// slice are ignored. The fallback of the assembly loops (a misaligned scratch, which the kernels never
/// pass) and their model on cores without DSP: one-instruction wrappers, no assembly loop of its own.
#[inline(always)]
pub(crate) fn dot2_groups(w: &[[i16; 8]], a: &[[u8; 4]], acc: [i32; 2]) -> [i32; 2] {
    let [mut t0, mut t1] = acc;
    for (w, x) in w.iter().zip(a) {
        let x = u32::from_le_bytes(*x);
        let (e, o) = (uxtb16(x), uxtb16_ror8(x));
        let (w, _) = w.as_chunks::<2>();
        t0 = smlad(e, pair_word(&w[0]), smlad(o, pair_word(&w[1]), t0));
        t1 = smlad(e, pair_word(&w[2]), smlad(o, pair_word(&w[3]), t1));
    }
    [t0, t1]
}

/// Four bytes as a little-endian word, one `ldr` where the core loads unaligned words (Armv7-M and up;
/// byte loads on Armv6-M). Written as a pointer read because LLVM, decoding the 9-bit fields of 8-bit
/// weights two rows at a time, loaded every byte separately and rebuilt each field from two of them
/// (measured: 4–5 instructions per field instead of 1–3).
#[inline(always)]
pub(crate) fn load_le32(b: &[u8; 4]) -> u32 {
    // SAFETY: `b` is a valid reference to 4 initialized bytes; `read_unaligned` needs no alignment; every
    // bit pattern is a valid `u32`; `from_le` makes the value the same on every target.
    u32::from_le(unsafe { core::ptr::read_unaligned(b.as_ptr().cast::<u32>()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The portable models against the instruction definitions, by hand.
    #[test]
    fn instruction_models_by_hand() {
        // 0x0003_fffe = (hi 3, lo -2); 0xff00_0100 = (hi -256, lo 256).
        assert_eq!(smlad(0x0003_fffe, 0xff00_0100, 10), 10 + (-2 * 256) + 3 * -256);
        assert_eq!(smlad(0x8000_8000, 0x8000_8000, i32::MAX), i32::MAX.wrapping_add(1 << 31));
        assert_eq!(uxtb16(0x8182_8384), 0x0082_0084);
        assert_eq!(uxtb16_ror8(0x8182_8384), 0x0081_0083);
        assert_eq!(pair_word(&[-1, 2]), 0x0002_ffff);
        assert_eq!(load_le32(&[1, 2, 3, 0x84]), 0x8403_0201);
        assert_eq!(sxtb16(0x8182_7f84), 0xff82_ff84);
        assert_eq!(sxtb16_ror8(0x8182_7f84), 0xff81_007f);
    }
}
