//! Times one BSQ training step (forward, cross-entropy + α·R, backward, Adam step, bit clamp) at batch 64,
//! for comparison with the same step in PyTorch, `bsq-train/bench/torch_step.py` (`bsq-train/bench/compare.sh`
//! runs both).
//!
//! `cargo run --release -p bsq-train --example step_bench -- [lenet|resnet20] [steps]`; with `BSQ_PROFILE=1`
//! also the median time of each part of the step (forward + loss, backward, optimizer, clamp).
//!
//! `BSQ_DEVICE=wgpu|cuda` runs it on a GPU backend (built with `--features wgpu|cuda`; the names are
//! `bsq train --device`'s). The loss read before backward waits for the GPU, so each step's time includes the
//! previous step's queued work and the median is the GPU's steady step time.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use bsq_train::bsq::{MAX_BITS, QWeight};
use bsq_train::graph::Graph;
use bsq_train::model::{Ctx, QModel, map_q};
use bsq_train::training::regularizer;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Int, Tensor};

fn bench<M: QModel>(model: M, shape: [usize; 4], steps: usize, device: &Device) -> Vec<f64> {
    let mut model = map_q(model, &mut |_, q: QWeight, _| q.to_bsq(MAX_BITS));
    // The trainer's Adam (Burn's arithmetic and defaults, one pass per parameter on the CPU).
    let mut optim = bsq_train::adam::FusedAdam::init();
    let ce = CrossEntropyLossConfig::new().init(device);
    let x = Tensor::<4>::random(shape, Distribution::Uniform(0.0, 1.0), device);
    let y =
        Tensor::<1, Int>::from_data(burn::tensor::TensorData::new((0..64i64).map(|i| i % 10).collect(), [64]), device);
    let mut times = Vec::new();
    // Per step: [whole, forward + loss read, backward, optimizer step, clamp].
    let mut parts: Vec<[f64; 4]> = Vec::new();
    for _ in 0..steps {
        let t = Instant::now();
        // Quantized training as in the BSQ phase: PACT activations and every signed 8-bit point (scale 0.05).
        let logits = model.forward(x.clone(), &mut Ctx::train_quantized(&[0.05; 16]));
        let r = regularizer(&mut model, 1).expect("bsq layers");
        let loss = ce.forward(logits, y.clone()) + r * 1e-4;
        let _ = bsq_train::bsq::to_vec(loss.clone().inner());
        let t1 = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let t2 = Instant::now();
        model = optim.step(1e-3, model, grads);
        let t3 = Instant::now();
        model = model.clamp_params();
        let t4 = Instant::now();
        times.push((t4 - t).as_secs_f64() * 1e3);
        parts.push([t1 - t, t2 - t1, t3 - t2, t4 - t3].map(|d| d.as_secs_f64() * 1e3));
    }
    if std::env::var_os("BSQ_PROFILE").is_some() {
        let warm = &parts[3.min(parts.len())..];
        let med = |i: usize| {
            let mut v: Vec<f64> = warm.iter().map(|p| p[i]).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        eprintln!(
            "median ms: forward+loss {:.1} | backward {:.1} | optimizer {:.1} | clamp {:.1}",
            med(0),
            med(1),
            med(2),
            med(3)
        );
    }
    times
}

fn main() {
    bsq_train::allocator::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("lenet");
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(30);
    let name = std::env::var("BSQ_DEVICE").unwrap_or_else(|_| "flex".into());
    let device = match bsq_train::training::device_for(&name) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("step_bench: {e}");
            std::process::exit(2);
        }
    };
    let times = match which {
        "resnet20" => {
            let m = Graph::builtin("resnet20", [32, 32, 3], 10, 4, 0, &device).expect("built-in");
            bench(m, [64, 3, 32, 32], steps, &device)
        }
        _ => bench(
            Graph::builtin("lenet", [28, 28, 1], 10, 4, 0, &device).expect("built-in"),
            [64, 1, 28, 28],
            steps,
            &device,
        ),
    };
    let mut warm = times[3.min(times.len())..].to_vec();
    warm.sort_by(|a, b| a.total_cmp(b));
    let median = warm.get(warm.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "burn-{name} model={which} steps={steps} median_ms={median:.2} min_ms={:.2} first_ms={:.1}",
        warm.first().copied().unwrap_or(f64::NAN),
        times[0]
    );
}
