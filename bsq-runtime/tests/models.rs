//! Pools, residual add and argmax against independent models (plain `i64` arithmetic written differently
//! from the kernels), over random shapes and values, signed and unsigned.

use bsq_runtime::reference::AddInput;
use bsq_runtime::{OutputStage, PoolShape, Requant};
use proptest::prelude::*;

fn val(b: u8, signed: bool) -> i64 {
    if signed { b as i8 as i64 } else { b as i64 }
}

/// round(s / n), ties away from zero, via 2·s compared with n (no shared code with `div_round`).
fn round_div(s: i64, n: i64) -> i64 {
    let q = s / n; // truncates toward zero
    let r = s - q * n;
    if 2 * r.abs() >= n { q + s.signum() } else { q }
}

/// Random pool shapes, with a random padding (each side smaller than the kernel) in half of them.
fn pool_case() -> impl Strategy<Value = (PoolShape, bool, Vec<u8>)> {
    (1usize..=7, 1usize..=7, 1usize..=5, 1usize..=4, 1usize..=4, 1usize..=3, 1usize..=3, any::<bool>(), any::<bool>())
        .prop_flat_map(|(h, w, c, kh, kw, sh, sw, signed, padded)| {
            let pads = if padded { (0..kh, 0..kw, 0..kh, 0..kw).boxed() } else { Just((0, 0, 0, 0)).boxed() };
            (Just((h, w, c, kh, kw, sh, sw, signed)), pads)
        })
        .prop_flat_map(|((h, w, c, kh, kw, sh, sw, signed), (pt, pl, pb, pr))| {
            let shape = PoolShape {
                in_h: h.max(kh.saturating_sub(pt + pb)),
                in_w: w.max(kw.saturating_sub(pl + pr)),
                c,
                k_h: kh,
                k_w: kw,
                stride_h: sh,
                stride_w: sw,
                pad_top: pt,
                pad_left: pl,
                pad_bottom: pb,
                pad_right: pr,
            };
            let len = shape.in_h * shape.in_w * c;
            (Just(shape), Just(signed), proptest::collection::vec(any::<u8>(), len))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Pools ≡ the model: a window is its input cells (padded positions are skipped), max over them, average
    /// = their sum / their count.
    #[test]
    fn pools_match_model((shape, signed, input) in pool_case()) {
        let oh = (shape.in_h + shape.pad_top + shape.pad_bottom - shape.k_h) / shape.stride_h + 1;
        let ow = (shape.in_w + shape.pad_left + shape.pad_right - shape.k_w) / shape.stride_w + 1;
        let mut mx = vec![0u8; oh * ow * shape.c];
        let mut av = vec![0u8; oh * ow * shape.c];
        bsq_runtime::max_pool(&shape, signed, &input, &mut mx).unwrap();
        bsq_runtime::avg_pool(&shape, signed, &input, &mut av).unwrap();
        for y in 0..oh {
            for x in 0..ow {
                for c in 0..shape.c {
                    let window: Vec<i64> = (0..shape.k_h)
                        .flat_map(|i| (0..shape.k_w).map(move |j| (i, j)))
                        .filter_map(|(i, j)| {
                            let yy = (y * shape.stride_h + i) as i64 - shape.pad_top as i64;
                            let xx = (x * shape.stride_w + j) as i64 - shape.pad_left as i64;
                            let inside = yy >= 0 && xx >= 0 && yy < shape.in_h as i64 && xx < shape.in_w as i64;
                            inside.then(|| val(input[(yy as usize * shape.in_w + xx as usize) * shape.c + c], signed))
                        })
                        .collect();
                    let o = (y * ow + x) * shape.c + c;
                    prop_assert!(!window.is_empty(), "window {} has no input cell", o);
                    prop_assert_eq!(val(mx[o], signed), *window.iter().max().unwrap(), "max at {}", o);
                    let n = window.len() as i64;
                    prop_assert_eq!(val(av[o], signed), round_div(window.iter().sum(), n), "avg at {}", o);
                }
            }
        }
        // Global average = average pool with the whole image as window.
        let mut g = vec![0u8; shape.c];
        bsq_runtime::global_avg_pool(shape.in_h, shape.in_w, shape.c, signed, &input, &mut g).unwrap();
        for c in 0..shape.c {
            let s: i64 = (0..shape.in_h * shape.in_w).map(|p| val(input[p * shape.c + c], signed)).sum();
            prop_assert_eq!(val(g[c], signed), round_div(s, (shape.in_h * shape.in_w) as i64));
        }
    }

    /// add ≡ requant(a) + requant(b), then the stage, with the requantization computed by an i128 model.
    #[test]
    fn add_matches_model(
        a in proptest::collection::vec(any::<u8>(), 1..40),
        seed in proptest::collection::vec(any::<u8>(), 40),
        sa in any::<bool>(), sb in any::<bool>(), so in any::<bool>(),
        ma in (1i32 << 30)..i32::MAX, xa in -2i8..=6,
        mb in (1i32 << 30)..i32::MAX, xb in -2i8..=6,
        mo in (1i32 << 30)..i32::MAX, xo in -10i8..=0,
        bits in prop_oneof![Just(4u8), Just(8u8)],
    ) {
        let b = &seed[..a.len()];
        let (ra, rb, ro) = (Requant::new(ma, xa).unwrap(), Requant::new(mb, xb).unwrap(), Requant::new(mo, xo).unwrap());
        let rq = [ro];
        let st = OutputStage::for_bits(&[], &rq, bits, so);
        let mut out = vec![0u8; a.len()];
        bsq_runtime::add(AddInput { data: &a, signed: sa, requant: ra }, AddInput { data: b, signed: sb, requant: rb }, &st, &mut out).unwrap();
        for i in 0..a.len() {
            let va = model(val(a[i], sa), ra);
            let vb = model(val(b[i], sb), rb);
            let s = (va + vb) as i32 as i64; // wrapping i32 sum (cannot wrap here: |v| < 2^16)
            let y = model(s, ro).clamp(st.min as i64, st.max as i64);
            prop_assert_eq!(val(out[i], so), y, "element {}", i);
        }
    }

    #[test]
    fn argmax_is_first_maximum(data in proptest::collection::vec(any::<u8>(), 1..50), signed in any::<bool>()) {
        let best = data.iter().map(|&b| val(b, signed)).max().unwrap();
        let first = data.iter().position(|&b| val(b, signed) == best).unwrap();
        prop_assert_eq!(bsq_runtime::argmax(&data, signed), Ok(first));
    }
}

/// The requantization rule in i128 (inputs small enough that no saturation happens).
fn model(x: i64, r: Requant) -> i64 {
    let x = (x as i128) << r.shift.max(0);
    let p = x * r.multiplier as i128;
    let h = (p + if p >= 0 { 1i128 << 30 } else { 1 - (1i128 << 30) }) / (1i128 << 31);
    let e = (-(r.shift as i32)).max(0) as u32;
    if e == 0 {
        return h as i64;
    }
    let d = 1i128 << e;
    let q = (h.abs() + d / 2) / d;
    (if h < 0 { -q } else { q }) as i64
}
