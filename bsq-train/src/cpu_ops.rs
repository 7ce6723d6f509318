//! Training operations of our own for the CPU backend (Flex), where Burn's generic ones cost the most.
//!
//! * [`conv2d`]: per group of images, im2col and one matrix product on Flex's `gemm` (`W·patches`) written
//!   straight into the NCHW output, where Flex's own convolution copies to and from NHWC. Gradients: the
//!   weight's is `(patches·dYᵀ)ᵀ` (the order in which `gemm` reads the patch matrix without packing it);
//!   the input's, at stride 1 with "same" padding, is the same forward convolution of `dY` with the
//!   flipped, transposed kernel, and otherwise `col2im(Wᵀ·dY)`. Burn computes the input gradient as a
//!   transposed convolution, which Flex runs as a direct loop (15 % of a ResNet-20 step in the profile of
//!   bsq-train/bench/README.md).
//! * [`bsq_weight`] and [`group_lasso`]: a BSQ layer's weight from its bit planes and the planes' group
//!   Lasso, one pass each way, where the formulas take a matrix product and several element-wise
//!   operations with their backward steps.
//! * [`pact`]: the PACT activation quantizer `s·round(min(relu(y), c)/s)`, `s = c/(2^a−1)`, with its
//!   straight-through gradient, as one pass forward and one backward instead of the eight element-wise
//!   tensor operations (and their recorded backward steps) the formula takes.
//! * [`signed8`]: the signed 8-bit points, likewise.
//! * [`batch_norm`]: training-mode BatchNorm, statistics and normalization in two passes each way, where
//!   Burn's default composes it from reductions, broadcasts and layout copies.
//!
//! They are a Burn *backend extension* (`#[backend_extension]`): the dispatch `Tensor` reaches our code
//! with Flex's own tensors, and the autodiff form registers our backward step. Other backends (wgpu,
//! cuda) keep Burn's operations: the public functions here route by device, and `BSQ_CPU_OPS=off` keeps
//! Burn's everywhere. PACT and the signed points give the tensor formulas' values bit for bit; the
//! convolution and BatchNorm agree up to float summation order (the tests: within 1e-5 relative). Sums
//! are added in a fixed order, so every result is the same on any number of threads.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Shape, Tensor, TensorData};
use rayon::prelude::*;
use std::sync::Mutex;

/// The operations, implemented on Flex and on Flex under autodiff.
#[backend_extension(Flex, Autodiff)]
pub trait CpuOps: Backend {
    /// A 2-D convolution without bias (`x: [N, C, H, W]`, `weight: [O, C, KH, KW]`), ungrouped, undilated,
    /// symmetrically padded: what [`conv2d`] sends here.
    fn bsq_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self>;
    /// The PACT quantizer of `y` (any shape) with clip `clip: [1]` and `levels = 2^a − 1`.
    fn bsq_pact(y: FloatTensor<Self>, clip: FloatTensor<Self>, levels: f32) -> FloatTensor<Self>;
    /// The signed 8-bit quantizer of `y` (any shape) at step `scale`.
    fn bsq_signed8(y: FloatTensor<Self>, scale: f32) -> FloatTensor<Self>;
    /// The weight `[numel]` of a layer in BSQ mode from its bit planes `wp`, `wn: [numel, n]` and its scale
    /// parameter `s: [1]` (`scale_store·s`): what [`bsq_weight`] sends here.
    fn bsq_planes(
        wp: FloatTensor<Self>,
        wn: FloatTensor<Self>,
        s: FloatTensor<Self>,
        bits: u8,
        scale_store: f32,
    ) -> FloatTensor<Self>;
    /// `Σ_b sqrt(ε + Σ_i wp[i,b]² + wn[i,b]²)` of bit planes `[numel, n]`, as `[1]`.
    fn bsq_group_lasso(wp: FloatTensor<Self>, wn: FloatTensor<Self>, eps: f32) -> FloatTensor<Self>;
    /// Batch normalization of `x: [N, C, ...]` with the batch's own statistics: the output, and the
    /// per-channel mean and biased variance `[C]` (which take no gradient).
    fn bsq_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl CpuOps for Flex {
    fn bsq_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        conv2d_forward(x, weight, &options)
    }

    fn bsq_pact(y: FloatTensor<Self>, clip: FloatTensor<Self>, levels: f32) -> FloatTensor<Self> {
        pact_forward(&contiguous(y), scalar(&clip), levels)
    }

    fn bsq_signed8(y: FloatTensor<Self>, scale: f32) -> FloatTensor<Self> {
        signed8_forward(&contiguous(y), scale)
    }

    fn bsq_planes(
        wp: FloatTensor<Self>,
        wn: FloatTensor<Self>,
        s: FloatTensor<Self>,
        bits: u8,
        scale_store: f32,
    ) -> FloatTensor<Self> {
        let (wp, wn) = (contiguous(wp), contiguous(wn));
        let (w, _) = planes_forward(values(&wp), values(&wn), bits, planes_step(&s, bits, scale_store));
        tensor(w, &[wp.shape()[0]])
    }

    fn bsq_group_lasso(wp: FloatTensor<Self>, wn: FloatTensor<Self>, eps: f32) -> FloatTensor<Self> {
        let (wp, wn) = (contiguous(wp), contiguous(wn));
        let norms = plane_norms(&wp, &wn, eps);
        tensor(vec![norms.iter().sum()], &[1])
    }

    fn bsq_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let bn = bn_forward(&contiguous(x), &contiguous(gamma), &contiguous(beta), epsilon);
        (bn.out, bn.mean, bn.var)
    }
}

impl<C: CheckpointStrategy> CpuOps for Autodiff<Flex, C> {
    fn bsq_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        /// The backward step: the input and the weight, and the options.
        #[derive(Debug)]
        struct ConvBackward;

        impl Backward<Flex, 2> for ConvBackward {
            type State = (FlexTensor, FlexTensor, ConvOptions<2>);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [node_x, node_w] = ops.parents;
                let grad = grads.consume::<Flex>(&ops.node);
                let (x, w, options) = ops.state;
                let (dx, dw) = conv2d_backward(x, w, grad, &options, node_x.is_some(), node_w.is_some());
                if let (Some(node), Some(dx)) = (node_x, dx) {
                    grads.register::<Flex>(node.id, dx);
                }
                if let (Some(node), Some(dw)) = (node_w, dw) {
                    grads.register::<Flex>(node.id, dw);
                }
            }
        }

        let prep = ConvBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful();
        match prep {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                let w = weight.into_primitive();
                let y = conv2d_forward(x.clone(), w.clone(), &options);
                prep.finish((x, w, options), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(conv2d_forward(x.into_primitive(), weight.into_primitive(), &options))
            }
        }
    }

    fn bsq_pact(y: FloatTensor<Self>, clip: FloatTensor<Self>, levels: f32) -> FloatTensor<Self> {
        /// The backward step: the input, the clip and the levels.
        #[derive(Debug)]
        struct PactBackward;

        impl Backward<Flex, 2> for PactBackward {
            type State = (FlexTensor, f32, f32);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [node_y, node_c] = ops.parents;
                let grad = grads.consume::<Flex>(&ops.node);
                let (y, c, levels) = ops.state;
                let (dy, dc) = pact_backward(&y, &contiguous(grad), c, levels, node_y.is_some(), node_c.is_some());
                if let (Some(node), Some(dy)) = (node_y, dy) {
                    grads.register::<Flex>(node.id, dy);
                }
                if let (Some(node), Some(dc)) = (node_c, dc) {
                    grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(vec![dc], [1])));
                }
            }
        }

        let prep = PactBackward.prepare::<C>([y.node(), clip.node()]).compute_bound().stateful();
        let c = scalar(clip.primitive());
        match prep {
            OpsKind::Tracked(prep) => {
                let y = contiguous(y.into_primitive());
                let out = pact_forward(&y, c, levels);
                prep.finish((y, c, levels), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(pact_forward(&contiguous(y.into_primitive()), c, levels)),
        }
    }

    fn bsq_signed8(y: FloatTensor<Self>, scale: f32) -> FloatTensor<Self> {
        /// The backward step: the input and the scale.
        #[derive(Debug)]
        struct Signed8Backward;

        impl Backward<Flex, 1> for Signed8Backward {
            type State = (FlexTensor, f32);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [node_y] = ops.parents;
                let grad = grads.consume::<Flex>(&ops.node);
                let (y, scale) = ops.state;
                if let Some(node) = node_y {
                    grads.register::<Flex>(node.id, signed8_backward(&y, &contiguous(grad), scale));
                }
            }
        }

        match Signed8Backward.prepare::<C>([y.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = contiguous(y.into_primitive());
                let out = signed8_forward(&y, scale);
                prep.finish((y, scale), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(signed8_forward(&contiguous(y.into_primitive()), scale)),
        }
    }

    fn bsq_planes(
        wp: FloatTensor<Self>,
        wn: FloatTensor<Self>,
        s: FloatTensor<Self>,
        bits: u8,
        scale_store: f32,
    ) -> FloatTensor<Self> {
        /// The backward step: the rounded values `q` (`w = q·step`), the bits, the step and the factor of
        /// the stored scale.
        #[derive(Debug)]
        struct PlanesBackward;

        impl Backward<Flex, 3> for PlanesBackward {
            type State = (Vec<f32>, u8, f32, f32);

            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [node_p, node_n, node_s] = ops.parents;
                let grad = contiguous(grads.consume::<Flex>(&ops.node));
                let (q, bits, step, scale_store) = ops.state;
                let g = values(&grad);
                let shape = [q.len(), bits as usize];
                if node_p.is_some() || node_n.is_some() {
                    let (dp, dn) = planes_backward(g, bits, step, node_n.is_some());
                    if let Some(node) = node_p {
                        grads.register::<Flex>(node.id, tensor(dp, &shape));
                    }
                    if let (Some(node), Some(dn)) = (node_n, dn) {
                        grads.register::<Flex>(node.id, tensor(dn, &shape));
                    }
                }
                if let Some(node) = node_s {
                    // w = q·(s/scale_store/l): ∂/∂s = Σ g·q / l / scale_store.
                    let d_step = ordered_dot(g, &q);
                    let ds = (d_step as f32) / crate::bsq::levels(bits) / scale_store;
                    grads.register::<Flex>(node.id, tensor(vec![ds], &[1]));
                }
            }
        }

        let prep = PlanesBackward.prepare::<C>([wp.node(), wn.node(), s.node()]).compute_bound().stateful();
        let (wp, wn) = (contiguous(wp.into_primitive()), contiguous(wn.into_primitive()));
        let step = planes_step(s.primitive(), bits, scale_store);
        let (w, q) = planes_forward(values(&wp), values(&wn), bits, step);
        let w = tensor(w, &[wp.shape()[0]]);
        match prep {
            OpsKind::Tracked(prep) => prep.finish((q, bits, step, scale_store), w),
            OpsKind::UnTracked(prep) => prep.finish(w),
        }
    }

    fn bsq_group_lasso(wp: FloatTensor<Self>, wn: FloatTensor<Self>, eps: f32) -> FloatTensor<Self> {
        /// The backward step: the planes and each plane's norm.
        #[derive(Debug)]
        struct GroupLassoBackward;

        impl Backward<Flex, 2> for GroupLassoBackward {
            type State = (FlexTensor, FlexTensor, Vec<f32>);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [node_p, node_n] = ops.parents;
                let up = scalar(&grads.consume::<Flex>(&ops.node));
                let (wp, wn, norms) = ops.state;
                // ∂/∂w[i,b] = w[i,b]/norm_b.
                let scale: Vec<f32> = norms.iter().map(|&nb| up / nb).collect();
                for (node, planes) in [(node_p, &wp), (node_n, &wn)] {
                    if let Some(node) = node {
                        let v = values(planes);
                        let d = v.par_iter().enumerate().map(|(i, &w)| w * scale[i % scale.len()]).collect();
                        grads.register::<Flex>(node.id, tensor(d, planes.shape().as_slice()));
                    }
                }
            }
        }

        let prep = GroupLassoBackward.prepare::<C>([wp.node(), wn.node()]).compute_bound().stateful();
        let (wp, wn) = (contiguous(wp.into_primitive()), contiguous(wn.into_primitive()));
        let norms = plane_norms(&wp, &wn, eps);
        let r = tensor(vec![norms.iter().sum()], &[1]);
        match prep {
            OpsKind::Tracked(prep) => prep.finish((wp, wn, norms), r),
            OpsKind::UnTracked(prep) => prep.finish(r),
        }
    }

    fn bsq_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        /// The backward step: the input, `γ`, and the batch mean and `1/σ` per channel.
        #[derive(Debug)]
        struct BnBackward;

        impl Backward<Flex, 3> for BnBackward {
            type State = (FlexTensor, Vec<f32>, Vec<f32>, Vec<f32>);

            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let grad = grads.consume::<Flex>(&ops.node);
                let (x, gamma, mean, inv_std) = ops.state;
                let (dx, dgamma, dbeta) = bn_backward(&x, &contiguous(grad), &gamma, &mean, &inv_std, node_x.is_some());
                let channels = [gamma.len()];
                if let (Some(node), Some(dx)) = (node_x, dx) {
                    grads.register::<Flex>(node.id, dx);
                }
                if let Some(node) = node_gamma {
                    grads.register::<Flex>(node.id, tensor(dgamma, &channels));
                }
                if let Some(node) = node_beta {
                    grads.register::<Flex>(node.id, tensor(dbeta, &channels));
                }
            }
        }

        let prep = BnBackward.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful();
        let x = contiguous(x.into_primitive());
        let g = contiguous(gamma.into_primitive());
        let bn = bn_forward(&x, &g, &contiguous(beta.into_primitive()), epsilon);
        let (mean, var) = (Self::from_inner(bn.mean), Self::from_inner(bn.var));
        let out = match prep {
            OpsKind::Tracked(prep) => prep.finish((x, values(&g).to_vec(), bn.mean_v, bn.inv_std), bn.out),
            OpsKind::UnTracked(prep) => prep.finish(bn.out),
        };
        (out, mean, var)
    }
}

/// Whether `x` (a tensor without autodiff) is an `f32` tensor of the CPU backend, which these
/// operations take.
pub(crate) fn on_cpu<const D: usize>(x: &Tensor<D>) -> bool {
    x.device() == Device::flex() && x.dtype() == DType::F32
}

/// Whether `x` (with or without autodiff) lives on the CPU backend as `f32`, and these operations are not
/// turned off: `BSQ_CPU_OPS=off` in the environment keeps Burn's (to compare speed or values).
pub(crate) fn routes_here<const D: usize>(x: &Tensor<D>) -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let off = *OFF.get_or_init(|| std::env::var("BSQ_CPU_OPS").is_ok_and(|v| v == "off"));
    !off && on_cpu(&x.clone().inner())
}

/// A 2-D convolution, `conv2d(x, weight, bias, options)` of Burn; on the CPU backend, for an ungrouped,
/// undilated convolution, [`CpuOps`]' forward and gradients.
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: ConvOptions<2>) -> Tensor<4> {
    let ([_, _, h, w], [_, _, kh, kw], [ph, pw]) = (x.dims(), weight.dims(), options.padding_begin());
    // Ours takes ungrouped, undilated, symmetrically padded convolutions whose kernel fits the padded
    // image; anything else (and a shape error) is Burn's.
    let fits = h + 2 * ph >= kh && w + 2 * pw >= kw && options.stride.iter().all(|&s| s > 0);
    if !(routes_here(&x) && options.groups == 1 && options.dilation == [1, 1] && !options.is_asymmetric() && fits) {
        return burn::tensor::module::conv2d(x, weight, bias, options);
    }
    let y = Tensor::<4>::from_dispatch(<Dispatch as CpuOps>::bsq_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        options,
    ));
    match bias {
        Some(b) => {
            let o = b.dims()[0];
            y + b.reshape([1, o, 1, 1])
        }
        None => y,
    }
}

/// The PACT quantizer `s·round_half_away(min(relu(y), c)/s)`, `s = c/levels`, with a straight-through
/// rounding: `∂/∂y = [0 < y ≤ c]`, `∂/∂c = (round(u) − u)/levels + [y > c]` with `u = min(relu(y), c)/s`
/// (the gradients of the tensor formula `relu(y) − relu(relu(y) − c)`, rounded and rescaled).
pub fn pact<const D: usize>(y: Tensor<D>, clip: Tensor<1>, levels: f32) -> Tensor<D> {
    if !routes_here(&y) {
        return pact_formula(y, clip, levels);
    }
    Tensor::from_dispatch(<Dispatch as CpuOps>::bsq_pact(y.into_dispatch(), clip.into_dispatch(), levels))
}

/// The signed 8-bit quantizer `s·clamp(round_half_away(y/s), −128, 127)` with a straight-through rounding:
/// `∂/∂y = 1` where the rounded value is inside `[−128, 127]`, 0 where it saturates.
pub fn signed8<const D: usize>(y: Tensor<D>, scale: f32) -> Tensor<D> {
    if !routes_here(&y) {
        return signed8_formula(y, scale);
    }
    Tensor::from_dispatch(<Dispatch as CpuOps>::bsq_signed8(y.into_dispatch(), scale))
}

/// The weight `[numel]` of a BSQ-mode layer: `q·s/l` with `l = 2^n − 1`, `s` = the scale parameter
/// `/ scale_store`, and `q = round_half_away(clamp(l·Σ_b 2^(n−1−b)/l·(wp[·,b] − wn[·,b]), −l, l))` with the
/// official straight-through gradient (the identity, also where the clamp saturates). On the CPU backend
/// one pass each way over the planes, where the formula ([`crate::bsq::planes_formula`]) takes a matrix
/// product and five element-wise operations, each with its backward step.
pub fn bsq_weight(wp: Tensor<2>, wn: Tensor<2>, s: Tensor<1>, bits: u8, scale_store: f32) -> Tensor<1> {
    if !routes_here(&wp) {
        return crate::bsq::planes_formula(wp, wn, s, bits, scale_store);
    }
    Tensor::from_dispatch(<Dispatch as CpuOps>::bsq_planes(
        wp.into_dispatch(),
        wn.into_dispatch(),
        s.into_dispatch(),
        bits,
        scale_store,
    ))
}

/// The group Lasso of bit planes `[numel, n]`, `Σ_b sqrt(eps + Σ_i wp[i,b]² + wn[i,b]²)` (`[1]`): on the CPU
/// backend one pass each way (the plane sums in `f64`, in a fixed order).
pub fn group_lasso(wp: Tensor<2>, wn: Tensor<2>, eps: f32) -> Tensor<1> {
    if !routes_here(&wp) {
        return crate::bsq::group_lasso_formula(wp, wn, eps);
    }
    Tensor::from_dispatch(<Dispatch as CpuOps>::bsq_group_lasso(wp.into_dispatch(), wn.into_dispatch(), eps))
}

/// [`signed8`] as tensor operations (other backends, and the reference of the tests).
fn signed8_formula<const D: usize>(y: Tensor<D>, scale: f32) -> Tensor<D> {
    crate::bsq::ste_round(y / scale).clamp(-128.0, 127.0) * scale
}

/// `bn.forward(x)` of Burn's `BatchNorm` for `x: [N, C, H, W]`. Training on the CPU backend (an autodiff
/// device and a layer not frozen) normalizes with the batch statistics in one op of ours, two passes each
/// way; the running statistics are updated as Burn's layer does (momentum, biased variance).
pub fn batch_norm(bn: &burn::nn::BatchNorm, x: Tensor<4>) -> Tensor<4> {
    if !(routes_here(&x) && x.device().is_autodiff() && bn.training.is_enabled()) {
        return bn.forward(x);
    }
    let device = x.device();
    let (out, mean, var) = <Dispatch as CpuOps>::bsq_batch_norm_train(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
    );
    let (mean, var) = (Tensor::<1>::from_dispatch(mean).inner(), Tensor::<1>::from_dispatch(var).inner());
    // The running statistics are computed without autodiff: on an autodiff device even untracked ops are
    // registered in Burn's graph, and its clean-up after every backward walks what accumulates there.
    let m = bn.momentum;
    let running = |r: Tensor<1>, batch: Tensor<1>| {
        Tensor::from_inner(r.to_device(&device).inner().mul_scalar(1.0 - m).add(batch.mul_scalar(m)))
    };
    bn.running_mean.update(running(bn.running_mean.value_sync(), mean));
    bn.running_var.update(running(bn.running_var.value_sync(), var));
    Tensor::from_dispatch(out)
}

/// [`pact`] as tensor operations (other backends, and the reference of the tests and of
/// `examples/op_bench`).
pub fn pact_formula<const D: usize>(y: Tensor<D>, clip: Tensor<1>, levels: f32) -> Tensor<D> {
    let y = burn::tensor::activation::relu(y);
    let c = clip.unsqueeze::<D>();
    let y = y.clone() - burn::tensor::activation::relu(y - c.clone());
    let scale = c / levels;
    crate::bsq::ste_round(y / scale.clone()) * scale
}

/// `t` with a contiguous `f32` buffer (itself when it has one).
fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() { t } else { t.to_contiguous() }
}

/// The values of a contiguous `f32` tensor.
fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor (made so by `contiguous`)")
}

/// The one value of a `[1]` tensor.
fn scalar(t: &FlexTensor) -> f32 {
    values(&contiguous(t.clone()))[0]
}

/// A tensor of `shape` holding `v`.
fn tensor(v: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape.to_vec()))
}

/// Elements per parallel task of the element-wise passes.
const CHUNK: usize = 1 << 14;

fn pact_forward(y: &FlexTensor, c: f32, levels: f32) -> FlexTensor {
    let s = c / levels;
    let v = values(y);
    let mut out = vec![0f32; v.len()];
    out.par_chunks_mut(CHUNK).zip(v.par_chunks(CHUNK)).for_each(|(o, v)| {
        for (o, &y) in o.iter_mut().zip(v) {
            let m = y.max(0.0).min(c);
            *o = crate::bsq::round_half_away_f32(m / s) * s;
        }
    });
    tensor(out, y.shape().as_slice())
}

/// The gradients of `y` and of the clip, each when wanted. Branch-free, so that the loops vectorize: below
/// zero `u = 0` and the clip term is 0; above `c`, `u = c/s` and `[y > c]` adds the gradient.
fn pact_backward(
    y: &FlexTensor,
    g: &FlexTensor,
    c: f32,
    levels: f32,
    want_dy: bool,
    want_dc: bool,
) -> (Option<FlexTensor>, Option<f32>) {
    let (s, inv_levels) = (c / levels, 1.0 / levels);
    let (v, g_v) = (values(y), values(g));
    // Σ g·((round(u) − u)/levels + [y > c]) over one chunk, in 8 lanes.
    let clip_part = |v: &[f32], g: &[f32]| -> f64 {
        let mut lanes = [0f32; 8];
        let (vc, gc) = (v.chunks_exact(8), g.chunks_exact(8));
        let (vr, gr) = (vc.remainder(), gc.remainder());
        let term = |y: f32, g: f32| {
            let u = y.max(0.0).min(c) / s;
            let above = if y > c { 1.0 } else { 0.0 };
            g * ((crate::bsq::round_half_away_f32(u) - u) * inv_levels + above)
        };
        for (v, g) in vc.zip(gc) {
            for i in 0..8 {
                lanes[i] += term(v[i], g[i]);
            }
        }
        let tail: f32 = vr.iter().zip(gr).map(|(&y, &g)| term(y, g)).sum();
        lanes.iter().map(|&l| l as f64).sum::<f64>() + tail as f64
    };
    // Chunk sums added in chunk order: the same bits however the chunks were spread over threads.
    let dc = want_dc.then(|| {
        let parts: Vec<f64> = v.par_chunks(CHUNK).zip(g_v.par_chunks(CHUNK)).map(|(v, g)| clip_part(v, g)).collect();
        parts.iter().sum::<f64>() as f32
    });
    let dy = want_dy.then(|| {
        let mut dy = vec![0f32; v.len()];
        dy.par_chunks_mut(CHUNK).zip(v.par_chunks(CHUNK).zip(g_v.par_chunks(CHUNK))).for_each(|(d, (v, g))| {
            for ((d, &y), &g) in d.iter_mut().zip(v).zip(g) {
                // `&`, not `&&`: one select instead of a branch that random signs mispredict.
                *d = if (y > 0.0) & (y <= c) { g } else { 0.0 };
            }
        });
        tensor(dy, y.shape().as_slice())
    });
    (dy, dc)
}

fn signed8_forward(y: &FlexTensor, scale: f32) -> FlexTensor {
    let v = values(y);
    let mut out = vec![0f32; v.len()];
    out.par_chunks_mut(CHUNK).zip(v.par_chunks(CHUNK)).for_each(|(o, v)| {
        for (o, &y) in o.iter_mut().zip(v) {
            // `+ 0.0` turns the −0 of a small negative `y` into the +0 of the straight-through formula
            // (`x + (round(x) − x)`), so that both give the same bits.
            *o = (crate::bsq::round_half_away_f32(y / scale) + 0.0).clamp(-128.0, 127.0) * scale;
        }
    });
    tensor(out, y.shape().as_slice())
}

fn signed8_backward(y: &FlexTensor, g: &FlexTensor, scale: f32) -> FlexTensor {
    let (v, g_v) = (values(y), values(g));
    let mut dy = vec![0f32; v.len()];
    dy.par_chunks_mut(CHUNK).zip(v.par_chunks(CHUNK).zip(g_v.par_chunks(CHUNK))).for_each(|(d, (v, g))| {
        for ((d, &y), &g) in d.iter_mut().zip(v).zip(g) {
            let r = crate::bsq::round_half_away_f32(y / scale);
            *d = if (-128.0..=127.0).contains(&r) { g } else { 0.0 };
        }
    });
    tensor(dy, y.shape().as_slice())
}

/// One integer step of a BSQ weight, `s/l`: the scale parameter `/ scale_store / (2^n − 1)`, in the
/// formula's order.
fn planes_step(s: &FlexTensor, bits: u8, scale_store: f32) -> f32 {
    scalar(s) / scale_store / crate::bsq::levels(bits)
}

/// The weights `q·step` and the rounded values `q` of [`bsq_weight`] from planes `[numel, n]` (the
/// formula's operations in its order, per element).
fn planes_forward(wp: &[f32], wn: &[f32], bits: u8, step: f32) -> (Vec<f32>, Vec<f32>) {
    let n = bits as usize;
    let l = crate::bsq::levels(bits);
    let coef = crate::bsq::plane_coefs(bits);
    let numel = wp.len() / n.max(1);
    let (mut w, mut q) = (vec![0f32; numel], vec![0f32; numel]);
    w.par_chunks_mut(CHUNK).zip(q.par_chunks_mut(CHUNK)).enumerate().for_each(|(c, (w, q))| {
        let (p, m) = (&wp[c * CHUNK * n..], &wn[c * CHUNK * n..]);
        for (((w, q), p), m) in w.iter_mut().zip(q).zip(p.chunks_exact(n)).zip(m.chunks_exact(n)) {
            let wc = p.iter().zip(m).zip(&coef).fold(0f32, |acc, ((&p, &m), &c)| acc + (p - m) * c);
            let x = wc * l;
            *q = x + (crate::bsq::round_half_away_f32(x.clamp(-l, l)) - x);
            *w = *q * step;
        }
    });
    (w, q)
}

/// The gradients of [`bsq_weight`]'s planes for the weight gradient `g`: `∂/∂wp[i,b] = g_i·step·2^(n−1−b)`
/// (through the straight-through rounding), `∂/∂wn = −∂/∂wp` (when wanted).
fn planes_backward(g: &[f32], bits: u8, step: f32, want_n: bool) -> (Vec<f32>, Option<Vec<f32>>) {
    let n = bits as usize;
    let l = crate::bsq::levels(bits);
    let coef: Vec<f32> = crate::bsq::plane_coefs(bits).iter().map(|c| step * l * c).collect();
    let mut dp = vec![0f32; g.len() * n];
    let mut dn = want_n.then(|| vec![0f32; g.len() * n]);
    let fill = |dp: &mut [f32], g: &[f32]| {
        for (d, &g) in dp.chunks_exact_mut(n).zip(g) {
            for (d, &c) in d.iter_mut().zip(&coef) {
                *d = g * c;
            }
        }
    };
    match dn.as_mut() {
        Some(dn) => dp.par_chunks_mut(CHUNK * n).zip(dn.par_chunks_mut(CHUNK * n)).zip(g.par_chunks(CHUNK)).for_each(
            |((dp, dn), g)| {
                fill(dp, g);
                dn.iter_mut().zip(dp.iter()).for_each(|(n, &p)| *n = -p);
            },
        ),
        None => dp.par_chunks_mut(CHUNK * n).zip(g.par_chunks(CHUNK)).for_each(|(dp, g)| fill(dp, g)),
    }
    (dp, dn)
}

/// `Σ a_i·b_i` in `f64`, chunk sums added in chunk order (the same bits on any number of threads).
fn ordered_dot(a: &[f32], b: &[f32]) -> f64 {
    let parts: Vec<f64> = a
        .par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .map(|(a, b)| a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum::<f64>())
        .collect();
    parts.iter().sum()
}

/// Each bit plane's norm `sqrt(eps + Σ_i wp[i,b]² + wn[i,b]²)` of planes `[numel, n]` (sums in `f64`,
/// added in chunk order).
fn plane_norms(wp: &FlexTensor, wn: &FlexTensor, eps: f32) -> Vec<f32> {
    let n = wp.shape()[1].max(1);
    let (p, m) = (values(wp), values(wn));
    let parts: Vec<Vec<f64>> = p
        .par_chunks(CHUNK * n)
        .zip(m.par_chunks(CHUNK * n))
        .map(|(p, m)| {
            let mut s = vec![0f64; n];
            for (i, (&p, &m)) in p.iter().zip(m).enumerate() {
                s[i % n] += p as f64 * p as f64 + m as f64 * m as f64;
            }
            s
        })
        .collect();
    (0..n).map(|b| ((parts.iter().map(|s| s[b]).sum::<f64>() + eps as f64).sqrt()) as f32).collect()
}

/// A batch normalization's forward results.
struct BnForward {
    out: FlexTensor,
    /// Batch mean and biased variance, as `[C]` tensors.
    mean: FlexTensor,
    var: FlexTensor,
    /// The mean and `1/sqrt(var + ε)` per channel, for the backward step.
    mean_v: Vec<f32>,
    inv_std: Vec<f32>,
}

/// Per-plane sums (one `[H·W]` plane of one image and channel per task), added per channel in image
/// order: the same bits on any number of threads.
fn channel_sums<const K: usize>(
    planes: usize,
    channels: usize,
    f: impl Fn(usize) -> [f64; K] + Sync + Send,
) -> Vec<[f64; K]> {
    let parts: Vec<[f64; K]> = (0..planes).into_par_iter().map(f).collect();
    let mut sums = vec![[0f64; K]; channels];
    for (i, part) in parts.iter().enumerate() {
        for (s, p) in sums[i % channels].iter_mut().zip(part) {
            *s += p;
        }
    }
    sums
}

/// `(x − mean)/sqrt(var + ε)·γ + β` per channel, with the batch statistics of `x: [N, C, ...]`
/// (sums in `f64`).
fn bn_forward(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor, epsilon: f64) -> BnForward {
    let shape = x.shape();
    let (n, c) = (shape[0], shape[1]);
    let hw = shape.num_elements() / (n * c).max(1);
    let xv = values(x);
    let count = (n * hw) as f64;
    let sums = channel_sums::<2>(n * c, c, |i| {
        xv[i * hw..][..hw].iter().fold([0f64; 2], |[s, q], &v| [s + v as f64, q + v as f64 * v as f64])
    });
    let mean: Vec<f32> = sums.iter().map(|[s, _]| (s / count) as f32).collect();
    let var: Vec<f32> = sums.iter().map(|[s, q]| ((q / count) - (s / count) * (s / count)).max(0.0) as f32).collect();
    let inv_std: Vec<f32> = var.iter().map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32).collect();
    let (gv, bv) = (values(gamma), values(beta));
    let mut out = vec![0f32; xv.len()];
    out.par_chunks_mut(hw).zip(xv.par_chunks(hw)).enumerate().for_each(|(i, (o, x))| {
        let ch = i % c;
        let (m, a, b) = (mean[ch], inv_std[ch] * gv[ch], bv[ch]);
        for (o, &x) in o.iter_mut().zip(x) {
            *o = (x - m) * a + b;
        }
    });
    BnForward {
        out: tensor(out, shape.as_slice()),
        mean: tensor(mean.clone(), &[c]),
        var: tensor(var, &[c]),
        mean_v: mean,
        inv_std,
    }
}

/// The gradients of [`bn_forward`] for the output gradient `g`: with `x̂ = (x − mean)/σ` and `M` values per
/// channel, `dβ = Σ g`, `dγ = Σ g·x̂`, `dx = γ/σ·(g − dβ/M − x̂·dγ/M)` (dx only when wanted).
fn bn_backward(
    x: &FlexTensor,
    g: &FlexTensor,
    gamma: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    want_dx: bool,
) -> (Option<FlexTensor>, Vec<f32>, Vec<f32>) {
    let shape = x.shape();
    let (n, c) = (shape[0], shape[1]);
    let hw = shape.num_elements() / (n * c).max(1);
    let (xv, gv) = (values(x), values(g));
    let sums = channel_sums::<2>(n * c, c, |i| {
        let (m, r) = (mean[i % c], inv_std[i % c]);
        xv[i * hw..][..hw]
            .iter()
            .zip(&gv[i * hw..][..hw])
            .fold([0f64; 2], |[b, a], (&x, &g)| [b + g as f64, a + (g * (x - m) * r) as f64])
    });
    let dbeta: Vec<f32> = sums.iter().map(|[b, _]| *b as f32).collect();
    let dgamma: Vec<f32> = sums.iter().map(|[_, a]| *a as f32).collect();
    let dx = want_dx.then(|| {
        let count = (n * hw) as f32;
        let mut dx = vec![0f32; xv.len()];
        dx.par_chunks_mut(hw).zip(xv.par_chunks(hw).zip(gv.par_chunks(hw))).enumerate().for_each(|(i, (d, (x, g)))| {
            let ch = i % c;
            let (m, r, k) = (mean[ch], inv_std[ch], gamma[ch] * inv_std[ch]);
            let (mb, mg) = (dbeta[ch] / count, dgamma[ch] / count);
            for ((d, &x), &g) in d.iter_mut().zip(x).zip(g) {
                *d = k * (g - mb - (x - m) * r * mg);
            }
        });
        tensor(dx, shape.as_slice())
    });
    (dx, dgamma, dbeta)
}

/// The shapes of a convolution (`p` = output pixels per channel).
#[derive(Debug, Clone, Copy)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
    oh: usize,
    ow: usize,
}

impl Geom {
    fn new(x: &Shape, w: &Shape, options: &ConvOptions<2>) -> Self {
        let (n, c, h, wi) = (x[0], x[1], x[2], x[3]);
        let (o, kh, kw) = (w[0], w[2], w[3]);
        let [sh, sw] = options.stride;
        let [ph, pw] = options.padding_begin();
        let oh = (h + 2 * ph - kh) / sh + 1;
        let ow = (wi + 2 * pw - kw) / sw + 1;
        Geom { n, c, h, w: wi, o, kh, kw, sh, sw, ph, pw, oh, ow }
    }

    /// Rows of the patch matrix, `C·KH·KW`.
    fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }

    fn p(&self) -> usize {
        self.oh * self.ow
    }

    /// Images per group: as many as keep one group's patch matrix within [`GROUP_FLOATS`] (at least 1).
    fn group(&self) -> usize {
        (GROUP_FLOATS / (self.k() * self.p()).max(1)).clamp(1, self.n.max(1))
    }

    /// The output columns `ow` whose input column `ow·sw + kj − pw` is inside the image.
    fn cols_in(&self, kj: usize) -> std::ops::Range<usize> {
        let lo = self.pw.saturating_sub(kj).div_ceil(self.sw);
        let hi = (self.w + self.pw).saturating_sub(kj).div_ceil(self.sw).min(self.ow);
        lo.min(hi)..hi
    }

    /// The input row of output row `oy` for kernel row `ki`, when inside the image.
    fn row_in(&self, oy: usize, ki: usize) -> Option<usize> {
        (oy * self.sh + ki).checked_sub(self.ph).filter(|&r| r < self.h)
    }
}

/// The patch matrix of the images `x: [nb, C, H, W]` into `out: [C·KH·KW, nb·OH·OW]` (zeros outside the
/// image), one row per task.
fn im2col(x: &[f32], g: &Geom, nb: usize, out: &mut [f32]) {
    let p = g.p();
    out.par_chunks_mut(nb * p).enumerate().for_each(|(r, row)| im2col_row(x, g, r, row));
}

/// Row `r` (channel, kernel row, kernel column) of [`im2col`] for every image. Not inlined, so that
/// profiles name it (6 % of a 1-thread ResNet-20 step).
#[inline(never)]
fn im2col_row(x: &[f32], g: &Geom, r: usize, row: &mut [f32]) {
    let (p, image) = (g.p(), g.c * g.h * g.w);
    {
        let (ch, ki, kj) = (r / (g.kh * g.kw), (r / g.kw) % g.kh, r % g.kw);
        let cols = g.cols_in(kj);
        let first = (cols.start * g.sw + kj).wrapping_sub(g.pw);
        for (n, row) in row.chunks_exact_mut(p).enumerate() {
            let plane = &x[n * image + ch * g.h * g.w..][..g.h * g.w];
            if g.sh == 1 && g.sw == 1 && g.ow == g.w {
                shifted_plane(plane, g, ki, kj, row);
                continue;
            }
            for (oy, dst) in row.chunks_exact_mut(g.ow).enumerate() {
                let Some(iy) = g.row_in(oy, ki) else {
                    dst.fill(0.0);
                    continue;
                };
                let src = &plane[iy * g.w..][..g.w];
                zero(&mut dst[..cols.start]);
                zero(&mut dst[cols.end..]);
                if cols.is_empty() {
                    continue;
                }
                if g.sw == 1 {
                    copy_short(&mut dst[cols.clone()], &src[first..first + cols.len()]);
                } else {
                    for (d, s) in dst[cols.clone()].iter_mut().zip(src[first..].iter().step_by(g.sw)) {
                        *d = *s;
                    }
                }
            }
        }
    }
}

/// Zeroes `d`: the one or two border pixels of a patch row directly, longer runs with `fill` (a `memset`
/// call, whose overhead is larger than such a store).
#[inline(always)]
fn zero(d: &mut [f32]) {
    match d {
        [] => {}
        [a] => *a = 0.0,
        [a, b] => (*a, *b) = (0.0, 0.0),
        d => d.fill(0.0),
    }
}

/// `dst.copy_from_slice(src)` for the short rows of small images (8–32 floats): in blocks of 8 that the
/// compiler turns into vector moves, where `copy_from_slice` calls `memcpy` for each row.
#[inline(always)]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d, s) in (&mut d).zip(&mut s) {
        let s: &[f32; 8] = s.try_into().expect("a block of 8");
        let d: &mut [f32; 8] = d.try_into().expect("a block of 8");
        *d = *s;
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *s;
    }
}

/// One image's row of [`im2col`] for kernel offset `(ki, kj)` at stride 1 when the output rows are as wide
/// as the input's ("same" padding): there every output pixel `q` reads input pixel `q + shift` for one
/// `shift`, so the rows inside the image are one contiguous copy; the columns that wrapped around to a
/// neighbouring row, and the rows outside the image, are then zeroed. The general path copies each
/// output row on its own (32 floats at a time for 32×32 images).
fn shifted_plane(plane: &[f32], g: &Geom, ki: usize, kj: usize, dst: &mut [f32]) {
    let w = g.w;
    let mut rows = (0..g.oh).filter(|&oy| g.row_in(oy, ki).is_some());
    let (Some(oy0), Some(oy1)) = (rows.clone().next(), rows.next_back().map(|r| r + 1)) else {
        dst.fill(0.0);
        return;
    };
    let shift = (ki * w + kj) as isize - (g.ph * w + g.pw) as isize;
    // Destination pixels whose source lies in the plane (the others are in zeroed columns).
    let d0 = (oy0 * w).max((-shift).max(0) as usize);
    let d1 = (oy1 * w).min((plane.len() as isize - shift).max(0) as usize);
    dst[..d0].fill(0.0);
    dst[d1..].fill(0.0);
    if d0 < d1 {
        let s0 = (d0 as isize + shift) as usize;
        dst[d0..d1].copy_from_slice(&plane[s0..s0 + (d1 - d0)]);
    }
    let cols = g.cols_in(kj);
    if cols.start > 0 || cols.end < g.ow {
        for row in dst[oy0 * w..oy1 * w].chunks_exact_mut(w) {
            zero(&mut row[..cols.start]);
            zero(&mut row[cols.end..]);
        }
    }
}

/// Adds the patch matrix `cols: [C·KH·KW, nb·OH·OW]` of `nb` images back onto `dx: [nb, C, H, W]`, one
/// image per task.
fn col2im(cols: &[f32], g: &Geom, nb: usize, dx: &mut [f32]) {
    let p = g.p();
    dx.par_chunks_mut(g.c * g.h * g.w).enumerate().for_each(|(n, dx)| {
        for (ch, plane) in dx.chunks_exact_mut(g.h * g.w).enumerate() {
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    let r = (ch * g.kh + ki) * g.kw + kj;
                    let row = &cols[r * nb * p + n * p..][..p];
                    let range = g.cols_in(kj);
                    if range.is_empty() {
                        continue;
                    }
                    let first = range.start * g.sw + kj - g.pw;
                    for (oy, src) in row.chunks_exact(g.ow).enumerate() {
                        let Some(iy) = g.row_in(oy, ki) else { continue };
                        let dst = &mut plane[iy * g.w..][..g.w];
                        if g.sw == 1 {
                            for (d, s) in dst[first..first + range.len()].iter_mut().zip(&src[range.clone()]) {
                                *d += *s;
                            }
                        } else {
                            for (d, s) in dst[first..].iter_mut().step_by(g.sw).zip(&src[range.clone()]) {
                                *d += *s;
                            }
                        }
                    }
                }
            }
        }
    });
}

/// Floats of patch matrix per group of images: the group's temporaries (patches, output gradient,
/// products) stay about 1 MB, within a core's L2 cache, which the product reads while im2col's writes are
/// still there; whole-batch ones (tens of MB) would also be fresh pages, zeroed by the kernel at every step.
/// Measured (`examples/op_bench.rs`, `step_bench resnet20`, 2 threads): 2^18 takes the 16-channel 32×32
/// convolutions from 9–10 to 6–7 ms forward and 16–17 to 11–12 ms backward against 2^20, and the fastest
/// ResNet-20 step from 454–462 to 408–442 ms.
const GROUP_FLOATS: usize = 1 << 18;

/// Patch and gradient buffers of earlier groups, kept for reuse: a fresh buffer is zero-filled by the
/// allocator before im2col overwrites all of it (a 16-channel 32×32 layer fills 38 MB of patches per pass).
static SCRATCH: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// Buffers [`SCRATCH`] keeps at most (two threads, two buffers each in the backward pass).
const SCRATCH_KEPT: usize = 8;

/// A buffer of `len` floats whose values are left over from earlier use: the caller overwrites all of it.
fn scratch(len: usize) -> Vec<f32> {
    let reused = SCRATCH.lock().ok().and_then(|mut pool| {
        let i = (0..pool.len()).filter(|&i| pool[i].capacity() >= len).min_by_key(|&i| pool[i].capacity())?;
        Some(pool.swap_remove(i))
    });
    let mut v = reused.unwrap_or_default();
    v.resize(len, 0.0);
    v
}

/// A tensor of `shape` over a [`scratch`] buffer that `fill` writes completely.
fn scratch_tensor(shape: &[usize], fill: impl FnOnce(&mut [f32])) -> FlexTensor {
    let mut v = scratch(shape.iter().product());
    fill(&mut v);
    tensor(v, shape)
}

/// Gives the buffer of `t` back to [`SCRATCH`] (without a copy when `t` holds it alone).
fn recycle(t: FlexTensor) {
    if let Ok(v) = t.into_data().try_into_vec::<f32>()
        && let Ok(mut pool) = SCRATCH.lock()
        && pool.len() < SCRATCH_KEPT
    {
        pool.push(v);
    }
}

/// `conv2d(x, w)` (no bias, groups 1, dilation 1): per group of images `Y = W·patches`, written straight
/// into the NCHW output (Flex's own convolution goes through NHWC copies).
fn conv2d_forward(x: FlexTensor, w: FlexTensor, options: &ConvOptions<2>) -> FlexTensor {
    let x = contiguous(x);
    let g = Geom::new(&x.shape(), &w.shape(), options);
    let (p, image) = (g.p(), g.c * g.h * g.w);
    let nb = g.group();
    let w2 = contiguous(w).reshape(Shape::new([g.o, g.k()]));
    let xv = values(&x);
    let mut y = vec![0f32; g.n * g.o * p];
    y.par_chunks_mut(nb * g.o * p).enumerate().for_each(|(i, y)| {
        let n0 = i * nb;
        let nb = y.len() / (g.o * p);
        let cols = scratch_tensor(&[g.k(), nb * p], |c| im2col(&xv[n0 * image..][..nb * image], &g, nb, c));
        let prod = contiguous(Flex::float_matmul(w2.clone(), cols.clone()));
        recycle(cols);
        let prod = values(&prod);
        for (n, y) in y.chunks_exact_mut(g.o * p).enumerate() {
            for (o, y) in y.chunks_exact_mut(p).enumerate() {
                y.copy_from_slice(&prod[o * nb * p + n * p..][..p]);
            }
        }
    });
    tensor(y, &[g.n, g.o, g.oh, g.ow])
}

/// The gradients of `conv2d(x, w)` (no bias, groups 1, dilation 1) for the output gradient `grad`, each
/// only when wanted. Per group of `nb` images, with `dYg: [O, nb·P]` and `patches: [C·KH·KW, nb·P]`:
/// `dWᵀ += patches·dYgᵀ` and `dx = col2im(Wᵀ·dYg)`, two matrix products on Flex's `gemm`.
fn conv2d_backward(
    x: FlexTensor,
    w: FlexTensor,
    grad: FlexTensor,
    options: &ConvOptions<2>,
    want_dx: bool,
    want_dw: bool,
) -> (Option<FlexTensor>, Option<FlexTensor>) {
    let (x, grad) = (contiguous(x), contiguous(grad));
    let w_shape = w.shape();
    let g = Geom::new(&x.shape(), &w_shape, options);
    let (p, image) = (g.p(), g.c * g.h * g.w);
    let nb = g.group();
    // Stride 1: dx is the convolution of dY with the flipped, transposed kernel at padding `k − 1 − p`,
    // [`conv2d_forward`] again, whose products run over O·KH·KW where Wᵀ·dY's run over O only. It computes
    // every input pixel where `col2im(Wᵀ·dY)` computes every output pixel, so only where the two are about
    // as many ("same" padding): for LeNet's valid 5×5 convolution on 12×12 (8×8 out) it would do 2.25×
    // the arithmetic on a patch matrix 4.5× as large.
    let flipped = want_dx && options.stride == [1, 1] && g.ph < g.kh && g.pw < g.kw && 4 * g.h * g.w <= 5 * g.oh * g.ow;
    let dx_flipped = flipped.then(|| {
        let wv = contiguous(w.clone());
        let wv = values(&wv);
        let mut wf = vec![0f32; wv.len()];
        for (i, v) in wf.iter_mut().enumerate() {
            let (c, o, ki, kj) = (i / (g.o * g.kh * g.kw), (i / (g.kh * g.kw)) % g.o, (i / g.kw) % g.kh, i % g.kw);
            *v = wv[((o * g.c + c) * g.kh + g.kh - 1 - ki) * g.kw + g.kw - 1 - kj];
        }
        let pad = [g.kh - 1 - g.ph, g.kw - 1 - g.pw];
        conv2d_forward(grad.clone(), tensor(wf, &[g.c, g.o, g.kh, g.kw]), &ConvOptions::new([1, 1], pad, [1, 1], 1))
    });
    let want_dx = want_dx && !flipped;
    let w2 = w.reshape(Shape::new([g.o, g.k()]));
    let (xv, dyv) = (values(&x), values(&grad));
    // One group of images from `n0`: its share of dW (when wanted), its dx into `dx` (when given).
    let group = |n0: usize, dx: Option<&mut [f32]>| -> Option<FlexTensor> {
        let nb = nb.min(g.n - n0);
        // dYg[o, n·P + q] = dY[n0 + n, o, q].
        let dyg = scratch_tensor(&[g.o, nb * p], |dyg| {
            for (o, row) in dyg.chunks_exact_mut(nb * p).enumerate() {
                for (n, dst) in row.chunks_exact_mut(p).enumerate() {
                    dst.copy_from_slice(&dyv[((n0 + n) * g.o + o) * p..][..p]);
                }
            }
        });
        let dw = want_dw.then(|| {
            let cols = scratch_tensor(&[g.k(), nb * p], |c| im2col(&xv[n0 * image..][..nb * image], &g, nb, c));
            // As dWᵀ = patches·dYgᵀ: `gemm` then reads the patch matrix in place and packs only dYg, where
            // dYg·patchesᵀ had it copy (pack) the whole patch matrix first. 16→16 at 32×32, `op_bench 10`:
            // backward 10.4–10.6 against 15.9–16.2 ms.
            let dwt = contiguous(Flex::float_matmul(cols.clone(), dyg.clone().transpose(0, 1)));
            recycle(cols);
            dwt
        });
        if let Some(dx) = dx {
            let cols = contiguous(Flex::float_matmul(w2.clone().transpose(0, 1), dyg.clone()));
            col2im(values(&cols), &g, nb, dx);
        }
        recycle(dyg);
        dw
    };
    // The groups run in parallel (each on its own part of dx); their dW parts are summed in group order,
    // so that the sum does not depend on how the work was split between threads.
    let mut dx = want_dx.then(|| vec![0f32; g.n * image]);
    let parts: Vec<Option<FlexTensor>> = match dx.as_mut() {
        Some(dx) => dx.par_chunks_mut(nb * image).enumerate().map(|(i, dx)| group(i * nb, Some(dx))).collect(),
        None => (0..g.n).into_par_iter().step_by(nb).map(|n0| group(n0, None)).collect(),
    };
    // The groups' dWᵀ `[K, O]` summed, then transposed once.
    let mut parts = parts.into_iter().flatten();
    let dw = parts.next().map(|first| {
        parts.fold(values(&first).to_vec(), |mut a, b| {
            a.iter_mut().zip(values(&b)).for_each(|(a, b)| *a += *b);
            a
        })
    });
    let dw = dw.map(|t| {
        let mut dw = vec![0f32; t.len()];
        for (r, row) in t.chunks_exact(g.o).enumerate() {
            for (o, v) in row.iter().enumerate() {
                dw[o * g.k() + r] = *v;
            }
        }
        dw
    });
    let dx = dx.map(|v| tensor(v, &[g.n, g.c, g.h, g.w])).or(dx_flipped);
    (dx, dw.map(|v| tensor(v, w_shape.as_slice())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Rng;

    fn dev() -> Device {
        Device::flex().autodiff()
    }

    fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0).collect()
    }

    fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().iter::<f32>().collect()
    }

    /// `|a − b| ≤ tol·max|b|` element by element.
    fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * scale, "{what}[{i}]: {x} vs {y} (scale {scale})");
        }
    }

    /// Our gradients against Burn's (transposed convolution) on shapes that cover strides 1 and 2,
    /// padding 0..2, non-square kernels and images, and output sizes where the stride does not divide
    /// the padded input, and a batch split into groups; with a bias, and with an input that takes no
    /// gradient.
    #[test]
    fn conv_gradients_match_burns() {
        // (n, c, h, w, o, [kh, kw], [sh, sw], [ph, pw])
        let cases = [
            (2, 3, 7, 6, 4, [3, 3], [1, 1], [1, 1]),
            (2, 3, 8, 8, 5, [3, 3], [2, 2], [1, 1]),
            (3, 4, 9, 7, 2, [1, 1], [2, 2], [0, 0]),
            (1, 2, 6, 9, 3, [5, 3], [2, 1], [2, 1]),
            (2, 5, 5, 5, 6, [3, 3], [1, 1], [0, 0]),
            (2, 2, 10, 8, 3, [3, 2], [3, 2], [2, 0]),
            // Stride 1 with output rows as wide as the input's (`shifted_plane`): 1×1, 5×5 "same", and a
            // kernel wider than the image.
            (2, 3, 5, 5, 2, [1, 1], [1, 1], [0, 0]),
            (1, 2, 4, 6, 3, [5, 5], [1, 1], [2, 2]),
            (2, 3, 6, 2, 3, [3, 5], [1, 1], [1, 2]),
            // Groups of 2 images and a last group of 1 (`GROUP_FLOATS`: 2 patch matrices of 108 × 1024).
            (3, 12, 32, 32, 3, [3, 3], [1, 1], [1, 1]),
        ];
        let (x, w) = (Shape::new([3, 12, 32, 32]), Shape::new([3, 12, 3, 3]));
        assert_eq!(Geom::new(&x, &w, &ConvOptions::new([1, 1], [1, 1], [1, 1], 1)).group(), 2);
        let mut rng = Rng::new(7);
        for (case, &(n, c, h, w, o, k, s, p)) in cases.iter().enumerate() {
            let xv = random(n * c * h * w, &mut rng);
            let wv = random(o * c * k[0] * k[1], &mut rng);
            let bv = random(o, &mut rng);
            let gv = random(n * o * ((h + 2 * p[0] - k[0]) / s[0] + 1) * ((w + 2 * p[1] - k[1]) / s[1] + 1), &mut rng);
            let options = ConvOptions::new(s, p, [1, 1], 1);
            for x_grad in [true, false] {
                let run = |ours: bool| {
                    let x = Tensor::<4>::from_data(TensorData::new(xv.clone(), [n, c, h, w]), &dev());
                    let x = if x_grad { x.require_grad() } else { x };
                    let wt =
                        Tensor::<4>::from_data(TensorData::new(wv.clone(), [o, c, k[0], k[1]]), &dev()).require_grad();
                    let b = Tensor::<1>::from_data(TensorData::new(bv.clone(), [o]), &dev()).require_grad();
                    let y = if ours {
                        conv2d(x.clone(), wt.clone(), Some(b.clone()), options.clone())
                    } else {
                        burn::tensor::module::conv2d(x.clone(), wt.clone(), Some(b.clone()), options.clone())
                    };
                    let gy = Tensor::<4>::from_data(TensorData::new(gv.clone(), y.dims()), &dev());
                    let grads = (y.clone() * gy).sum().backward();
                    let dx = x.grad(&grads).map(host);
                    (host(y), dx, host(wt.grad(&grads).unwrap()), host(b.grad(&grads).unwrap()))
                };
                let (ya, dxa, dwa, dba) = run(true);
                let (yb, dxb, dwb, dbb) = run(false);
                let what = format!("case {case}, x_grad {x_grad}");
                assert_close(&ya, &yb, 1e-6, &format!("{what}: y"));
                assert_eq!(dxa.is_some(), x_grad, "{what}: dx present");
                if let (Some(a), Some(b)) = (dxa, dxb) {
                    assert_close(&a, &b, 1e-5, &format!("{what}: dx"));
                }
                assert_close(&dwa, &dwb, 1e-5, &format!("{what}: dw"));
                assert_close(&dba, &dbb, 1e-5, &format!("{what}: db"));
            }
        }
    }

    /// The gradients through conv, batch norm, the signed point and PACT are the same bits on 1, 2 or 3
    /// threads (sums are added in a fixed order), which the bit-identical resume of a killed training run
    /// relies on.
    #[test]
    fn gradients_do_not_depend_on_the_thread_count() {
        let mut rng = Rng::new(3);
        let (n, c, h, o) = (9, 38, 32, 5);
        let xv = random(n * c * h * h, &mut rng);
        let wv = random(o * c * 9, &mut rng);
        let gv = random(n * o * h * h, &mut rng);
        // Bit planes over three parallel chunks, for the BSQ weight and the group Lasso.
        let numel = 2 * CHUNK + 5;
        let pv: Vec<f32> = random(numel * 3, &mut rng).iter().map(|v| v + 1.0).collect();
        let rv = random(numel, &mut rng);
        let run = || {
            let wp = Tensor::<2>::from_data(TensorData::new(pv.clone(), [numel, 3]), &dev()).require_grad();
            let wn = Tensor::<2>::from_data(TensorData::new(pv.iter().map(|v| 2.0 - v).collect(), [numel, 3]), &dev())
                .require_grad();
            let s = Tensor::<1>::from_data(TensorData::new(vec![0.3f32], [1]), &dev()).require_grad();
            let r = Tensor::<1>::from_data(TensorData::new(rv.clone(), [numel]), &dev());
            let loss =
                (bsq_weight(wp.clone(), wn.clone(), s.clone(), 3, 1.0) * r).sum() + group_lasso(wp.clone(), wn, 1e-8);
            let grads = loss.backward();
            let planes = (
                host(wp.grad(&grads).unwrap()).into_iter().map(f32::to_bits).collect::<Vec<_>>(),
                host(s.grad(&grads).unwrap())[0].to_bits(),
            );
            let x = Tensor::<4>::from_data(TensorData::new(xv.clone(), [n, c, h, h]), &dev()).require_grad();
            let w = Tensor::<4>::from_data(TensorData::new(wv.clone(), [o, c, 3, 3]), &dev()).require_grad();
            let clip = Tensor::<1>::from_data(TensorData::new(vec![0.7f32], [1]), &dev()).require_grad();
            let bn = burn::nn::BatchNormConfig::new(o).init(&dev());
            let y = conv2d(x.clone(), w.clone(), None, ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
            let y = pact(signed8(batch_norm(&bn, y), 0.01), clip.clone(), 7.0);
            let gy = Tensor::<4>::from_data(TensorData::new(gv.clone(), [n, o, h, h]), &dev());
            let grads = (y * gy).sum().backward();
            let bits = |t: Tensor<4>| host(t).into_iter().map(f32::to_bits).collect::<Vec<_>>();
            (
                bits(x.grad(&grads).unwrap()),
                bits(w.grad(&grads).unwrap()),
                host(clip.grad(&grads).unwrap())[0].to_bits(),
                planes,
            )
        };
        let on = |threads: usize| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(run);
        let one = on(1);
        assert_eq!(on(2), one);
        assert_eq!(on(3), one);
    }

    /// The signed 8-bit point against its tensor formula: the same values bit for bit, the same
    /// gradients (1 inside, 0 where the rounded value saturates: 127.5·s rounds to 128), on ties and on
    /// 20,000 seeded values.
    #[test]
    fn signed8_matches_the_tensor_formula() {
        let mut rng = Rng::new(5);
        let s = 0.03f32;
        let mut v: Vec<f32> = random(20_000, &mut rng).into_iter().map(|e| e * 5.0).collect();
        v.extend([127.0 * s, 127.5 * s, 127.49 * s, -128.0 * s, -128.5 * s, -128.49 * s, 0.5 * s, -0.5 * s, 0.0]);
        let gv = random(v.len(), &mut rng);
        let run = |ours: bool| {
            let y = Tensor::<2>::from_data(TensorData::new(v.clone(), [1, v.len()]), &dev()).require_grad();
            let q = if ours { signed8(y.clone(), s) } else { signed8_formula(y.clone(), s) };
            let g = Tensor::<2>::from_data(TensorData::new(gv.clone(), [1, v.len()]), &dev());
            let grads = (q.clone() * g).sum().backward();
            let bits = |t: Tensor<2>| host(t).into_iter().map(f32::to_bits).collect::<Vec<_>>();
            (bits(q), host(y.grad(&grads).unwrap()))
        };
        let (qa, dya) = run(true);
        let (qb, dyb) = run(false);
        if let Some(i) = (0..qa.len()).find(|&i| qa[i] != qb[i]) {
            panic!("value {i}: y {} gives {} against {}", v[i], f32::from_bits(qa[i]), f32::from_bits(qb[i]));
        }
        assert_close(&dya, &dyb, 1e-6, "dy");
        let n = v.len();
        assert_eq!(&dya[n - 9..n - 3], &[gv[n - 9], 0.0, gv[n - 7], gv[n - 6], 0.0, gv[n - 4]], "saturation");
    }

    /// Training-mode batch normalization against Burn's `BatchNorm` (values, the three gradients, the
    /// running statistics after the step) on two layer shapes, within 1e-5 (`f64` sums here, `f32` there).
    #[test]
    fn batch_norm_matches_burns() {
        use burn::nn::BatchNormConfig;
        let mut rng = Rng::new(9);
        for &(n, c, h, w) in &[(4, 3, 5, 6), (8, 16, 8, 8)] {
            let xv: Vec<f32> = random(n * c * h * w, &mut rng).into_iter().map(|e| e * 3.0 + 0.5).collect();
            let gv = random(n * c * h * w, &mut rng);
            let gamma = random(c, &mut rng);
            let beta = random(c, &mut rng);
            let run = |ours: bool| {
                let mut bn = BatchNormConfig::new(c).init(&dev());
                bn.gamma =
                    burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(gamma.clone(), [c]), &dev()));
                bn.beta =
                    burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(beta.clone(), [c]), &dev()));
                let x = Tensor::<4>::from_data(TensorData::new(xv.clone(), [n, c, h, w]), &dev()).require_grad();
                let y = if ours { batch_norm(&bn, x.clone()) } else { bn.forward(x.clone()) };
                let g = Tensor::<4>::from_data(TensorData::new(gv.clone(), [n, c, h, w]), &dev());
                let grads = (y.clone() * g).sum().backward();
                (
                    host(y),
                    host(x.grad(&grads).unwrap()),
                    host(bn.gamma.val().grad(&grads).unwrap()),
                    host(bn.beta.val().grad(&grads).unwrap()),
                    host(bn.running_mean.value()),
                    host(bn.running_var.value()),
                )
            };
            let a = run(true);
            let b = run(false);
            let what = format!("[{n}, {c}, {h}, {w}]");
            assert_close(&a.0, &b.0, 1e-5, &format!("{what} y"));
            assert_close(&a.1, &b.1, 1e-5, &format!("{what} dx"));
            assert_close(&a.2, &b.2, 1e-5, &format!("{what} dgamma"));
            assert_close(&a.3, &b.3, 1e-5, &format!("{what} dbeta"));
            assert_close(&a.4, &b.4, 1e-6, &format!("{what} running mean"));
            assert_close(&a.5, &b.5, 1e-5, &format!("{what} running var"));
        }
    }

    /// Hand-computed PACT values and gradients, `c = 3`, 3 levels (`s = 1`): below zero, inside, the
    /// ties `0.5` and `1.5` (away from zero), `c` itself and above `c`.
    #[test]
    fn pact_values_and_gradients_by_hand() {
        let y = Tensor::<1>::from_data(TensorData::new(vec![-1.0f32, 0.0, 0.5, 1.25, 1.5, 3.0, 4.0], [7]), &dev())
            .require_grad();
        let c = Tensor::<1>::from_data(TensorData::new(vec![3.0f32], [1]), &dev()).require_grad();
        let g = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0], [7]), &dev());
        let q = pact(y.clone(), c.clone(), 3.0);
        assert_eq!(host(q.clone()), vec![0.0, 0.0, 1.0, 1.0, 2.0, 3.0, 3.0]);
        let grads = (q * g.clone()).sum().backward();
        assert_eq!(host(y.grad(&grads).unwrap()), vec![0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]);
        // (round(u) − u)/3 for 0.5, 1.25, 1.5, 3.0: 0.5/3 − 0.25/3 + 0.5/3 + 0; above c: 2.
        let dc = host(c.grad(&grads).unwrap())[0];
        assert!((dc - (0.75 / 3.0 + 2.0)).abs() < 1e-6, "dc = {dc}");
        // A fixed clip (calibrated, or ReLU6's) takes no gradient; y's is the same.
        let fixed = Tensor::<1>::from_data(TensorData::new(vec![3.0f32], [1]), &dev());
        let grads = (pact(y.clone(), fixed.clone(), 3.0) * g).sum().backward();
        assert_eq!(host(y.grad(&grads).unwrap()), vec![0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]);
        assert!(fixed.grad(&grads).is_none());
    }

    /// The fused BSQ weight and group Lasso against their tensor formulas, for 1 to 8 bits, over more
    /// than one parallel chunk, with planes that push some weights past the clamp: the weights agree
    /// within 1e-6 (an element whose value lands within rounding of a half step may round the other way:
    /// at most 1 in 10,000, by one step), the planes' gradients within 1e-5, the scale's within 1e-4.
    #[test]
    fn bsq_weight_and_group_lasso_match_the_tensor_formulas() {
        let mut rng = Rng::new(11);
        let numel = CHUNK + 1234;
        for (bits, scale_store) in [(1u8, 16.0f32), (2, 1.0), (3, 16.0), (5, 1.0), (8, 16.0)] {
            let n = bits as usize;
            let pv: Vec<f32> = random(numel * n, &mut rng).iter().map(|v| v + 1.0).collect();
            let mv: Vec<f32> = random(numel * n, &mut rng).iter().map(|v| (v + 1.0) * 0.7).collect();
            let rv = random(numel, &mut rng);
            let s0 = 0.37 * scale_store;
            let run = |fused: bool| {
                let wp = Tensor::<2>::from_data(TensorData::new(pv.clone(), [numel, n]), &dev()).require_grad();
                let wn = Tensor::<2>::from_data(TensorData::new(mv.clone(), [numel, n]), &dev()).require_grad();
                let s = Tensor::<1>::from_data(TensorData::new(vec![s0], [1]), &dev()).require_grad();
                let (w, gl) = if fused {
                    (
                        bsq_weight(wp.clone(), wn.clone(), s.clone(), bits, scale_store),
                        group_lasso(wp.clone(), wn.clone(), 1e-8),
                    )
                } else {
                    (
                        crate::bsq::planes_formula(wp.clone(), wn.clone(), s.clone(), bits, scale_store),
                        crate::bsq::group_lasso_formula(wp.clone(), wn.clone(), 1e-8),
                    )
                };
                let r = Tensor::<1>::from_data(TensorData::new(rv.clone(), [numel]), &dev());
                let loss = (w.clone() * r).sum() + gl.clone() * 0.01;
                let grads = loss.backward();
                let grad = |t: &Tensor<2>| host(t.grad(&grads).unwrap());
                (host(w), host(gl), grad(&wp), grad(&wn), host(s.grad(&grads).unwrap()))
            };
            let (wa, ga, pa, na, sa) = run(true);
            let (wb, gb, pb, nb, sb) = run(false);
            let step = 0.37 / crate::bsq::levels(bits);
            let mut other_way = 0;
            for (i, (x, y)) in wa.iter().zip(&wb).enumerate() {
                if (x - y).abs() > 1e-6 {
                    assert!(((x - y).abs() - step).abs() < 1e-5, "{bits} bits, weight {i}: {x} vs {y}");
                    other_way += 1;
                }
            }
            assert!(other_way * 10_000 <= numel, "{bits} bits: {other_way} weights rounded differently");
            assert!(wb.iter().any(|w| (w.abs() - 0.37).abs() < 1e-6), "{bits} bits: no weight at the clamp");
            assert_close(&ga, &gb, 1e-5, "group lasso");
            assert_close(&pa, &pb, 1e-5, "wp gradient");
            assert_close(&na, &nb, 1e-5, "wn gradient");
            assert_close(&sa, &sb, 1e-4, "scale gradient");
        }
    }

    /// The fused PACT against its tensor formula: the same values bit for bit, gradients within 1e-5.
    #[test]
    fn pact_matches_the_tensor_formula() {
        let mut rng = Rng::new(11);
        let (c, levels) = (2.5f32, 15.0f32);
        let s = c / levels;
        let mut v: Vec<f32> = random(40_000, &mut rng).into_iter().map(|e| e * 4.0).collect();
        v.extend((0..=16).map(|k| (k as f32 + 0.5) * s)); // ties
        v.extend([0.0, c, -0.0, c * 1.0001]);
        let gv = random(v.len(), &mut rng);
        let run = |ours: bool| {
            let y = Tensor::<2>::from_data(TensorData::new(v.clone(), [1, v.len()]), &dev()).require_grad();
            let cl = Tensor::<1>::from_data(TensorData::new(vec![c], [1]), &dev()).require_grad();
            let q =
                if ours { pact(y.clone(), cl.clone(), levels) } else { pact_formula(y.clone(), cl.clone(), levels) };
            let g = Tensor::<2>::from_data(TensorData::new(gv.clone(), [1, v.len()]), &dev());
            let grads = (q.clone() * g).sum().backward();
            (host(q), host(y.grad(&grads).unwrap()), host(cl.grad(&grads).unwrap()))
        };
        let (qa, dya, dca) = run(true);
        let (qb, dyb, dcb) = run(false);
        assert_eq!(
            qa.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            qb.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_close(&dya, &dyb, 1e-5, "dy");
        assert_close(&dca, &dcb, 1e-4, "dc");
    }
}
