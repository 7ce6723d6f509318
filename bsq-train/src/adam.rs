//! Adam with Burn's defaults, one pass over each parameter on the CPU backend.
//!
//! Burn's `Adam` updates a parameter through about a dozen element-wise tensor operations (the two
//! moments, the square, the root, the bias corrections, the division, the learning rate, the
//! subtraction), each a pass over the parameter and most with a fresh buffer. BSQ trains two bit planes
//! per weight bit, so a ResNet-20 step moves 4.3 million parameters: the optimizer took 21–24 ms of a
//! step against PyTorch's 15–18 ms, and a fifth of LeNet's (`BSQ_PROFILE=1 step_bench`). [`FusedAdam`]
//! does the same arithmetic in one pass, in place, and keeps Burn's state record (`AdamState`), so
//! checkpoints written with either load in both. Other backends (wgpu, cuda) get Burn's `Adam`, and so
//! does the CPU with `BSQ_CPU_OPS=off` (as for the other CPU ops of [`crate::cpu_ops`]).

use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use crate::cpu_ops::{on_cpu, routes_here};

/// Burn's `AdamConfig::new()` (β₁ 0.9, β₂ 0.999, ε 1e-5, no weight decay, no AMSGrad), fused on the CPU.
#[derive(Clone)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// Burn's own, for tensors on other backends.
    burn: Adam,
}

impl FusedAdam {
    /// With Burn's default settings.
    pub fn new() -> Self {
        FusedAdam { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-5, burn: AdamConfig::new().build() }
    }

    /// The module optimizer (what `AdamConfig::new().init()` gives for Burn's).
    pub fn init() -> ModuleOptimizer {
        ModuleOptimizer::from(Self::new())
    }
}

impl Default for FusedAdam {
    fn default() -> Self {
        Self::new()
    }
}

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// The values of an `f32` tensor ([`on_cpu`]) as an owned vector: Flex moves a buffer that the tensor
/// holds alone, and copies a shared one.
fn owned<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("an f32 tensor (checked by on_cpu)")
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let moments_here = state.as_ref().is_none_or(|s| on_cpu(&s.momentum.moment_1) && on_cpu(&s.momentum.moment_2));
        if !(routes_here(&tensor) && on_cpu(&grad) && moments_here) {
            return self.burn.step(lr, tensor, grad, state);
        }
        let (shape, device) = (tensor.shape(), tensor.device());
        let n = shape.num_elements();
        let (time, m1, m2) = match state {
            Some(s) => (s.momentum.time + 1, owned(s.momentum.moment_1), owned(s.momentum.moment_2)),
            // A first step is the update from zero moments: `0·β + x = x` exactly.
            None => (1, vec![0.0; n], vec![0.0; n]),
        };
        let (mut p, g, mut m1, mut m2) = (owned(tensor), owned(grad), m1, m2);
        // Burn's arithmetic, in its order.
        let (b1, b2) = (self.beta_1, self.beta_2);
        let (f1, f2) = (1.0 - b1, 1.0 - b2);
        let t = time as i32;
        let bc2 = (1.0 - b2.powi(t)).sqrt();
        let combined = bc2 / (1.0 - b1.powi(t));
        let eps = self.epsilon * bc2;
        let lr = lr as f32;
        p.par_chunks_mut(CHUNK)
            .zip(m1.par_chunks_mut(CHUNK))
            .zip(m2.par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((p, m1), m2), g)| {
                for (((p, m1), m2), &g) in p.iter_mut().zip(m1).zip(m2).zip(g) {
                    *m1 = *m1 * b1 + g * f1;
                    *m2 = *m2 * b2 + g * g * f2;
                    *p -= *m1 * combined / (m2.sqrt() + eps) * lr;
                }
            });
        let tensor = |v: Vec<f32>| Tensor::<D>::from_data(TensorData::new(v, shape.clone()), &device);
        let state = AdamState::new(AdaptiveMomentumState::new(time, tensor(m1), tensor(m2)));
        (tensor(p), Some(state))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{Module, Param};
    use burn::optim::GradientsParams;

    #[derive(Module, Debug)]
    struct Two {
        a: Param<Tensor<2>>,
        b: Param<Tensor<1>>,
    }

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().iter::<f32>().collect()
    }

    /// Ten steps of both optimizers on the same parameters and gradients (over several parallel chunks):
    /// the parameters agree within 1e-6 of their scale, and each optimizer's saved state resumes the other.
    #[test]
    fn fused_adam_follows_burns_adam() {
        let dev = Device::flex().autodiff();
        let mut rng = crate::data::Rng::new(5);
        let mut random = |n: usize| -> Vec<f32> {
            (0..n).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0).collect()
        };
        let (rows, cols) = (3, CHUNK + 77);
        let a0 = random(rows * cols);
        let b0 = random(5);
        let grads: Vec<(Vec<f32>, Vec<f32>)> = (0..10).map(|_| (random(rows * cols), random(5))).collect();
        let model = || Two {
            a: Param::from_tensor(Tensor::from_data(TensorData::new(a0.clone(), [rows, cols]), &dev)),
            b: Param::from_tensor(Tensor::from_data(TensorData::new(b0.clone(), [5]), &dev)),
        };
        let run = |mut optim: ModuleOptimizer, steps: std::ops::Range<usize>, mut m: Two| {
            for i in steps {
                let (ga, gb) = &grads[i];
                let ra = Tensor::<2>::from_data(TensorData::new(ga.clone(), [rows, cols]), &dev);
                let rb = Tensor::<1>::from_data(TensorData::new(gb.clone(), [5]), &dev);
                // Loss whose gradients are the random tensors: Σ a·ra + Σ b·rb.
                let loss = (m.a.val() * ra).sum() + (m.b.val() * rb).sum();
                let g = GradientsParams::from_grads(loss.backward(), &m);
                m = optim.step(1e-2 * (1.0 + i as f64), m, g);
            }
            (m, optim)
        };
        let (ours, ours_optim) = run(FusedAdam::init(), 0..10, model());
        let (burns, burns_optim) = run(AdamConfig::new().init(), 0..10, model());
        let (x, y) = (values(ours.a.val()), values(burns.a.val()));
        let scale = y.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in x.iter().zip(&y).enumerate() {
            assert!((x - y).abs() <= 1e-6 * scale, "a[{i}]: {x} vs {y}");
        }
        assert_ne!(x, a0, "it trained");
        // Five steps with one, the state saved and loaded into the other, five more: as ten with either.
        let dir = std::env::temp_dir().join(format!("bsq-fused-adam-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (first, second) in [(true, false), (false, true)] {
            let make = |fused: bool| if fused { FusedAdam::init() } else { AdamConfig::new().init() };
            let (half, optim) = run(make(first), 0..5, model());
            let path = dir.join("optim.bpk");
            optim.save(&path).unwrap();
            let resumed = make(second).load(&path).unwrap();
            let (done, _) = run(resumed, 5..10, half);
            let z = values(done.a.val());
            for (i, (z, y)) in z.iter().zip(&y).enumerate() {
                assert!((z - y).abs() <= 1e-6 * scale, "resumed ({first}, {second}) a[{i}]: {z} vs {y}");
            }
        }
        let _ = (ours_optim, burns_optim);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
