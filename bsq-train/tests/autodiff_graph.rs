//! An op on a parameter whose result never reaches the loss stays in Burn's autodiff graph for good (the
//! parameter's live node keeps its graph from being cleaned), and the clean-up after every backward then
//! walks a graph that grows with every step: long runs slowed from 91 to 135 s per epoch within four epochs
//! (bsq-train/bench/README.md, "In a real run"). Burn numbers every autodiff node from one process-wide
//! counter; this file holds a single test, so that no other test creates nodes while it counts.

use bsq_train::bsq::QWeight;
use burn::backend::autodiff::NodeId;
use burn::tensor::{Device, Tensor, TensorData};

/// Nodes created by `f` (the counter's step between two fresh ids, less one).
fn nodes_created<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = NodeId::new().value;
    let out = f();
    (NodeId::new().value - before - 1, out)
}

#[test]
fn a_float_layers_weight_records_no_op() {
    let dev = Device::flex().autodiff();
    // The counter works: one op on a tensor that takes a gradient is one node.
    let t = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), &dev).require_grad();
    let (n, y) = nodes_created(|| t.clone() * 2.0);
    assert_eq!(n, 1, "a scalar product is one node");
    assert_eq!(bsq_train::bsq::to_vec(y.inner()), [2.0, 4.0]);
    // The weight of a float layer is its parameter: no op on the scale (or anything else) is recorded.
    let q = QWeight::float(vec![0.5, -0.25, 0.125], &dev);
    let (n, w) = nodes_created(|| q.weight());
    assert_eq!(n, 0, "weight() of a float layer recorded {n} autodiff op(s)");
    assert_eq!(bsq_train::bsq::to_vec(w.inner()), [0.5, -0.25, 0.125]);
}
