"""PyTorch side of `bsq-train/examples/op_bench.rs`: forward + backward of one ResNet-20 conv layer shape
each (and the PACT quantizer), timed the same way (forward = op, product with a random tensor, sum; backward =
`backward()` and reading the gradients).

Usage: python3 bsq-train/bench/torch_ops.py [REPS [THREADS]]
"""
import sys
import time

import torch


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    torch.set_num_threads(threads)
    for n, c, hw, o, s in [(64, 16, 32, 16, 1), (64, 32, 16, 32, 1), (64, 64, 8, 64, 1), (64, 16, 32, 32, 2)]:
        fwd, bwd = [], []
        for _ in range(reps):
            x = torch.rand(n, c, hw, hw).mul(2).sub(1).requires_grad_()
            w = torch.rand(o, c, 3, 3).mul(2).sub(1).requires_grad_()
            t = time.perf_counter()
            y = torch.nn.functional.conv2d(x, w, stride=s, padding=1)
            loss = (y * torch.rand_like(y)).sum()
            loss.item()
            fwd.append(time.perf_counter() - t)
            t = time.perf_counter()
            loss.backward()
            x.grad.sum().item()
            w.grad.sum().item()
            bwd.append(time.perf_counter() - t)
        print(f"conv n{n} c{c} {hw}x{hw} o{o} s{s} torch: fwd {median(fwd) * 1e3:.2f} ms bwd {median(bwd) * 1e3:.2f} ms")
    n, c, hw = 64, 16, 32
    fwd, bwd = [], []
    for _ in range(reps):
        y = torch.rand(n, c, hw, hw).mul(2).sub(1).requires_grad_()
        clip = torch.tensor([0.8], requires_grad=True)
        t = time.perf_counter()
        r = torch.relu(y)
        r = r - torch.relu(r - clip)
        scale = clip / 15.0
        u = r / scale
        q = (u + (torch.sign(u) * torch.floor(u.abs() + 0.5) - u).detach()) * scale
        loss = (q * torch.rand_like(q)).sum()
        loss.item()
        fwd.append(time.perf_counter() - t)
        t = time.perf_counter()
        loss.backward()
        y.grad.sum().item()
        bwd.append(time.perf_counter() - t)
    print(f"pact n{n} c{c} {hw}x{hw} torch: fwd {median(fwd) * 1e3:.2f} ms bwd {median(bwd) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
