//! Forward + backward time of the CPU training ops against Burn's (one ResNet-20 layer shape each).
//!
//! `cargo run --release -p bsq-train --example op_bench [REPS]`
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bsq_train::cpu_ops;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    bsq_train::allocator::keep_freed_memory();
    let reps: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let dev = Device::flex().autodiff();
    let mut seed = 1u64;
    let mut rnd = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    };
    let only_pact = std::env::var_os("ONLY_PACT").is_some();
    for &(n, c, hw, o, s) in if only_pact {
        &[][..]
    } else {
        &[(64, 16, 32, 16, 1), (64, 32, 16, 32, 1), (64, 64, 8, 64, 1), (64, 16, 32, 32, 2)][..]
    } {
        let xv = rnd(n * c * hw * hw);
        let wv = rnd(o * c * 9);
        for ours in [false, true] {
            let mut fwd = vec![];
            let mut bwd = vec![];
            for _ in 0..reps {
                let x = Tensor::<4>::from_data(TensorData::new(xv.clone(), [n, c, hw, hw]), &dev).require_grad();
                let w = Tensor::<4>::from_data(TensorData::new(wv.clone(), [o, c, 3, 3]), &dev).require_grad();
                let opt = ConvOptions::new([s, s], [1, 1], [1, 1], 1);
                let t = Instant::now();
                let y = if ours {
                    cpu_ops::conv2d(x.clone(), w.clone(), None, opt)
                } else {
                    burn::tensor::module::conv2d(x.clone(), w.clone(), None, opt)
                };
                let r = Tensor::<4>::from_data(TensorData::new(rnd(y.dims().iter().product()), y.dims()), &dev);
                let l = (y * r).sum();
                let _ = l.clone().into_data();
                fwd.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let g = l.backward();
                let _ = x.grad(&g).unwrap().into_data();
                let _ = w.grad(&g).unwrap().into_data();
                bwd.push(t.elapsed().as_secs_f64() * 1e3);
            }
            println!(
                "conv n{n} c{c} {hw}x{hw} o{o} s{s} {}: fwd {:.2} ms bwd {:.2} ms",
                if ours { "ours" } else { "burn" },
                median(fwd),
                median(bwd)
            );
        }
    }
    let (n, c, hw) = (64, 16, 32);
    let yv = rnd(n * c * hw * hw);
    for ours in [false, true] {
        let mut fwd = vec![];
        let mut bwd = vec![];
        for _ in 0..reps {
            let y = Tensor::<4>::from_data(TensorData::new(yv.clone(), [n, c, hw, hw]), &dev).require_grad();
            let clip = Tensor::<1>::from_data(TensorData::new(vec![0.8f32], [1]), &dev).require_grad();
            let t = Instant::now();
            let q = if ours {
                cpu_ops::pact(y.clone(), clip.clone(), 15.0)
            } else {
                let r = burn::tensor::activation::relu(y.clone());
                cpu_ops::pact_formula(r, clip.clone(), 15.0)
            };
            let r = Tensor::<4>::from_data(TensorData::new(rnd(n * c * hw * hw), [n, c, hw, hw]), &dev);
            let l = (q * r).sum();
            let _ = l.clone().into_data();
            fwd.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let g = l.backward();
            let _ = y.grad(&g).unwrap().into_data();
            bwd.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "pact n{n} c{c} {hw}x{hw} {}: fwd {:.2} ms bwd {:.2} ms",
            if ours { "ours" } else { "burn" },
            median(fwd),
            median(bwd)
        );
    }
}
