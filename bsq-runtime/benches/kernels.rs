//! Host benchmarks of the fast kernels: `cargo bench -p bsq-runtime`.
//!
//! * conv 16×16×16 → 32, 3×3, stride 1, pad 1 (1,179,648 MACs) and dense 256 → 64 (16,384 MACs) at every
//!   weight width 1..=8, plus the reference kernels at 4 bits for scale;
//! * the decode cost of the packed layout (two's-complement fields, what the crate uses) against a
//!   sign-magnitude alternative with the same field width, decoding 4096 weights per iteration.
//!
//! After criterion's own lines, a summary table gives **ns per MAC** (and ns per decoded weight), computed
//! from the median of each group's samples. Measurement times are short on purpose (the whole run takes
//! about two minutes); set `BSQ_BENCH_SECS` to measure longer.

use bsq_runtime::pack::{max_magnitude, pack, packed_len};
use bsq_runtime::{Conv2dShape, OutputStage, PackedWeights, Requant, reference, scratch_len};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// (label, ns per unit) collected for the summary.
static SUMMARY: Mutex<Vec<(String, f64)>> = Mutex::new(Vec::new());

fn secs() -> f64 {
    std::env::var("BSQ_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0)
}

/// A deterministic pseudo-random sequence (SplitMix64, the project's one generator), so that every run
/// measures the same data.
struct Rng(rand_xoshiro::SplitMix64);
impl Rng {
    fn new(seed: u64) -> Self {
        use rand_xoshiro::rand_core::SeedableRng;
        Self(rand_xoshiro::SplitMix64::seed_from_u64(seed))
    }
    fn next(&mut self) -> u64 {
        use rand_xoshiro::rand_core::RngCore;
        self.0.next_u64()
    }
    fn weights(&mut self, bits: u8, n: usize) -> Vec<i32> {
        let m = max_magnitude(bits);
        (0..n).map(|_| if m == 0 { 0 } else { (self.next() % (2 * m as u64 + 1)) as i32 - m }).collect()
    }
    fn bytes(&mut self, n: usize, max: u8) -> Vec<u8> {
        (0..n).map(|_| (self.next() % (max as u64 + 1)) as u8).collect()
    }
}

/// Median time of one call of `f`, measured outside criterion (for the ns/MAC summary).
fn median_ns(mut f: impl FnMut()) -> f64 {
    let budget = Duration::from_secs_f64(0.2 * secs());
    let start = Instant::now();
    let mut samples = Vec::new();
    while start.elapsed() < budget || samples.len() < 5 {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_nanos() as f64);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

fn record(label: String, ns_per_unit: f64) {
    SUMMARY.lock().unwrap().push((label, ns_per_unit));
}

fn conv(c: &mut Criterion) {
    let shape = Conv2dShape {
        in_h: 16,
        in_w: 16,
        in_c: 16,
        out_c: 32,
        k_h: 3,
        k_w: 3,
        stride_h: 1,
        stride_w: 1,
        pad_top: 1,
        pad_left: 1,
        pad_bottom: 1,
        pad_right: 1,
    };
    let (in_len, out_len, row_len) = shape.lens().unwrap();
    let macs = (out_len * row_len) as f64; // every output: row_len MACs (padding MACs counted, as CMSIS does)
    let mut rng = Rng::new(0x5eed);
    let input = rng.bytes(in_len, 15); // 4-bit activations
    let rq: Vec<Requant> = (0..32).map(|i| Requant::new(1_300_000_000 + i * 1000, -9).unwrap()).collect();
    let bias: Vec<i32> = (0..32).map(|i| i * 37 - 500).collect();
    let stage = OutputStage::for_bits(&bias, &rq, 4, false);
    let mut g = c.benchmark_group("conv16x16x16to32_3x3");
    g.measurement_time(Duration::from_secs_f64(secs())).warm_up_time(Duration::from_millis(300)).sample_size(20);
    g.throughput(Throughput::Elements(macs as u64));
    for bits in 1..=8u8 {
        let vals = rng.weights(bits, 32 * row_len);
        let mut packed = vec![0u8; packed_len(bits, 32, row_len).unwrap()];
        pack(bits, row_len, &vals, &mut packed).unwrap();
        let w = PackedWeights::new(bits, 32, row_len, &packed).unwrap();
        let mut scratch = vec![0i16; scratch_len(row_len)];
        let mut out = vec![0u8; out_len];
        let mut run = || {
            bsq_runtime::conv2d(&shape, black_box(&input), &w, &stage, &mut scratch, &mut out).unwrap();
            black_box(&out);
        };
        g.bench_function(BenchmarkId::new("fast", format!("w{bits}")), |b| b.iter(&mut run));
        record(format!("conv fast    w{bits}  ns/MAC"), median_ns(&mut run) / macs);
        if bits == 4 {
            let mut run_ref = || {
                reference::conv2d(&shape, black_box(&input), &w, &stage, &mut out).unwrap();
                black_box(&out);
            };
            g.bench_function(BenchmarkId::new("reference", format!("w{bits}")), |b| b.iter(&mut run_ref));
            record(format!("conv reference w{bits} ns/MAC"), median_ns(&mut run_ref) / macs);
        }
    }
    g.finish();
}

fn dense(c: &mut Criterion) {
    let (n_in, n_out) = (256usize, 64usize);
    let macs = (n_in * n_out) as f64;
    let mut rng = Rng::new(0xd15e);
    let input = rng.bytes(n_in, 15);
    let rq = [Requant::new(1_400_000_000, -8).unwrap()];
    let stage = OutputStage::for_bits(&[], &rq, 4, false);
    let mut g = c.benchmark_group("dense256to64");
    g.measurement_time(Duration::from_secs_f64(secs())).warm_up_time(Duration::from_millis(300)).sample_size(20);
    g.throughput(Throughput::Elements(macs as u64));
    for bits in 1..=8u8 {
        let vals = rng.weights(bits, n_in * n_out);
        let mut packed = vec![0u8; packed_len(bits, n_out, n_in).unwrap()];
        pack(bits, n_in, &vals, &mut packed).unwrap();
        let w = PackedWeights::new(bits, n_out, n_in, &packed).unwrap();
        let mut scratch = vec![0i16; scratch_len(n_in)];
        let mut out = vec![0u8; n_out];
        let mut run = || {
            bsq_runtime::dense(black_box(&input), &w, &stage, &mut scratch, &mut out).unwrap();
            black_box(&out);
        };
        g.bench_function(BenchmarkId::new("fast", format!("w{bits}")), |b| b.iter(&mut run));
        record(format!("dense fast   w{bits}  ns/MAC"), median_ns(&mut run) / macs);
        if bits == 4 {
            let mut run_ref = || {
                reference::dense(black_box(&input), &w, &stage, &mut out).unwrap();
                black_box(&out);
            };
            g.bench_function(BenchmarkId::new("reference", format!("w{bits}")), |b| b.iter(&mut run_ref));
            record(format!("dense reference w{bits} ns/MAC"), median_ns(&mut run_ref) / macs);
        }
    }
    g.finish();
}

// ---- Layout decode comparison -------------------------------------------------------------------------
//
// Both decoders read the same field width (n+1 bits), LSB-first, in groups of 8 fields = W bytes with
// constant positions (exactly the structure of the crate's decoder); they differ only in how a field
// becomes a signed value:
// * two's complement: one sign-extending shift pair (`sbfx` on Cortex-M3/M4);
// * sign-magnitude (sign bit on top of n magnitude bits): extract the magnitude, extract the sign, negate
//   conditionally.

#[inline(always)]
fn raw<const W: usize>(g: &[u8; W], k: usize) -> u32 {
    let bit = k * W;
    let (byte, sh) = (bit / 8, bit % 8);
    let lo = g[byte] as u32;
    let x = if sh + W > 8 { lo | ((g[byte + 1] as u32) << 8) } else { lo };
    x >> sh
}

#[inline(always)]
fn twos<const W: usize>(g: &[u8; W], k: usize) -> i32 {
    ((raw(g, k) << (32 - W)) as i32) >> (32 - W)
}

#[inline(always)]
fn signmag<const W: usize>(g: &[u8; W], k: usize) -> i32 {
    let r = raw(g, k);
    let mag = (r & ((1 << (W - 1)) - 1)) as i32;
    if r & (1 << (W - 1)) != 0 { -mag } else { mag }
}

#[inline(never)]
fn decode_all<const W: usize>(bytes: &[u8], out: &mut [i16], f: impl Fn(&[u8; W], usize) -> i32) {
    for (g, o) in bytes.chunks_exact(W).zip(out.chunks_exact_mut(8)) {
        let g: &[u8; W] = g.try_into().unwrap();
        for (k, d) in o.iter_mut().enumerate() {
            *d = f(g, k) as i16;
        }
    }
}

fn layout_w<const W: usize>(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let n = 4096usize;
    let mut rng = Rng::new(W as u64 * 7919);
    let bytes = rng.bytes(n * W / 8, 255);
    let mut out = vec![0i16; n];
    let mut run_twos = || decode_all::<W>(black_box(&bytes), &mut out, twos::<W>);
    g.bench_function(BenchmarkId::new("twos_complement", format!("field{W}")), |b| b.iter(&mut run_twos));
    record(format!("decode two's complement  {W}-bit fields ns/weight"), median_ns(&mut run_twos) / n as f64);
    let mut run_sm = || decode_all::<W>(black_box(&bytes), &mut out, signmag::<W>);
    g.bench_function(BenchmarkId::new("sign_magnitude", format!("field{W}")), |b| b.iter(&mut run_sm));
    record(format!("decode sign-magnitude    {W}-bit fields ns/weight"), median_ns(&mut run_sm) / n as f64);
}

fn layout(c: &mut Criterion) {
    let mut g = c.benchmark_group("layout_decode_4096");
    g.measurement_time(Duration::from_secs_f64(0.5 * secs())).warm_up_time(Duration::from_millis(200)).sample_size(20);
    g.throughput(Throughput::Elements(4096));
    layout_w::<2>(&mut g);
    layout_w::<4>(&mut g);
    layout_w::<5>(&mut g);
    layout_w::<9>(&mut g);
    g.finish();
}

fn summary(_: &mut Criterion) {
    println!("\n==== bsq-runtime summary (median, this machine) ====");
    for (label, v) in SUMMARY.lock().unwrap().iter() {
        println!("{label:<48} {v:8.3}");
    }
}

criterion_group!(benches, conv, dense, layout, summary);
criterion_main!(benches);
