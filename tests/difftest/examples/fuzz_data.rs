//! The dataset readers' fuzzing command: mutated MNIST IDX image and label files and CIFAR-10 binary batches
//! fed to `bsq_data`'s parsers (the byte-level functions behind `read_idx_images`, `read_idx_labels` and
//! `read_cifar10`), each call under `catch_unwind`. A panic is reported and its input saved to
//! `target/fuzz-data-panics/<i>.bin`; a refusal must name the file. Exit status 1 on any failure.
//!
//! ```text
//! cargo run --release -p bsq-difftest --example fuzz_data -- --iterations 1000000 [--seed S]
//! ```
//!
//! A stable driver like `fuzz.rs` (no nightly toolchain here for `cargo fuzz`): deterministic per seed and
//! iteration, mutations that know the formats (header fields set to 0, 1, the exact size, huge values;
//! truncation and extension by a few bytes or a record; label bytes out of range) plus byte flips.

use std::path::Path;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A valid IDX3 file of `n` images of `r`×`c` pixels, an IDX1 file of `n` labels, a CIFAR batch of `n` records.
fn seeds(rng: &mut ChaCha8Rng) -> [Vec<u8>; 3] {
    let (n, r, c) = (rng.random_range(0..4u32), rng.random_range(1..6u32), rng.random_range(1..6u32));
    let mut idx3 = Vec::new();
    for v in [0x0803u32, n, r, c] {
        idx3.extend_from_slice(&v.to_be_bytes());
    }
    idx3.extend((0..n * r * c).map(|_| rng.random::<u8>()));
    let mut idx1 = Vec::new();
    for v in [0x0801u32, n] {
        idx1.extend_from_slice(&v.to_be_bytes());
    }
    idx1.extend((0..n).map(|_| rng.random_range(0..10u8)));
    let mut cifar = Vec::new();
    for _ in 0..rng.random_range(1..3) {
        cifar.push(rng.random_range(0..10u8));
        cifar.extend((0..3072).map(|_| rng.random::<u8>()));
    }
    [idx3, idx1, cifar]
}

fn mutate(rng: &mut ChaCha8Rng, b: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..=3) {
        match rng.random_range(0..6) {
            // A big-endian header field (IDX: magic, count, rows, cols) set to an edge value.
            0 if b.len() >= 4 => {
                let at = 4 * rng.random_range(0..(b.len() / 4).min(4));
                let v: u32 =
                    [0, 1, 2, 3, 10, 0x0801, 0x0803, u32::MAX, u32::MAX / 2, 1 << 16, 3073][rng.random_range(0..11)];
                b[at..at + 4].copy_from_slice(&v.to_be_bytes());
            }
            1 => {
                let cut = rng.random_range(0..=b.len());
                b.truncate(cut);
            }
            2 => {
                let extra = [1, 3, 4, 3073][rng.random_range(0..4)];
                b.extend((0..extra).map(|_| rng.random::<u8>()));
            }
            3 if !b.is_empty() => {
                let at = rng.random_range(0..b.len());
                b[at] ^= 1 << rng.random_range(0..8);
            }
            // A CIFAR label byte out of range.
            4 if !b.is_empty() => {
                let at = 3073 * rng.random_range(0..=b.len() / 3073);
                if at < b.len() {
                    b[at] = rng.random_range(10..=255);
                }
            }
            _ => b.clear(),
        }
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (iterations, seed) = (get("--iterations", 100_000), get("--seed", 0));
    std::panic::set_hook(Box::new(|_| {}));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-data-panics");
    let t0 = Instant::now();
    let (mut ok, mut refused, mut panics, mut unnamed) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..iterations {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let kind = (i % 3) as usize;
        let mut b = std::mem::take(&mut seeds(&mut rng)[kind]);
        mutate(&mut rng, &mut b);
        let path = Path::new("fuzzed.bin");
        let r = std::panic::catch_unwind(|| match kind {
            0 => bsq_data::parse_idx_images(&b, path).map(|_| ()),
            1 => bsq_data::parse_idx_labels(&b, path).map(|_| ()),
            _ => bsq_data::parse_cifar10_batch(&b, path).map(|_| ()),
        });
        match r {
            Ok(Ok(())) => ok += 1,
            Ok(Err(e)) => {
                refused += 1;
                if !e.to_string().contains("fuzzed.bin") {
                    unnamed += 1;
                    eprintln!("iteration {i}: the error does not name the file: {e}");
                }
            }
            Err(_) => {
                panics += 1;
                let _ = std::fs::create_dir_all(&dir);
                let _ = std::fs::write(dir.join(format!("{i}.bin")), &b);
                eprintln!("iteration {i}: PANIC (input saved to {})", dir.join(format!("{i}.bin")).display());
            }
        }
    }
    let _ = std::panic::take_hook();
    println!(
        "fuzz_data: {iterations} inputs (IDX3 images, IDX1 labels, CIFAR-10 batches; seed {seed}) in {:.1} s: \
         {ok} parsed, {refused} refused naming the file, {unnamed} refused without naming it, {panics} panics",
        t0.elapsed().as_secs_f64()
    );
    if panics + unnamed == 0 { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
}
