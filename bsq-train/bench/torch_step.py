#!/usr/bin/env python3
"""One BSQ training step in PyTorch, op for op the step that `bsq-train/examples/step_bench.rs` times.

Usage:
    python torch_step.py {lenet|resnet20} STEPS THREADS

Prints one line with the fields of the Rust example:
    torch VERSION model=M threads=T steps=S median_ms=X min_ms=Y first_ms=Z

Environment:
    BSQ_PLAIN=1   float baseline of the same architecture: plain float weights (no bit planes), ReLU without
                  activation quantization, cross-entropy only (no regularizer), no clamp. The line then says
                  `model=M-plain`. It separates framework overhead from the cost of the bit-plane parameterization.
    BSQ_COUNTS=1  also print, on stderr, the quantized weights per layer and the trainable bit-plane elements.
    BSQ_PROFILE=1 also print, on stderr, the median time of each part of the step (as step_bench does).
    BSQ_DEVICE=cuda  run on the GPU (default cpu); every timed part then ends with torch.cuda.synchronize(), so
                  the times are the GPU's, not the launch queue's. The line then says `device=cuda`.

The step (batch 64, the same for both frameworks):
    forward with 8-bit bit planes, 4-bit PACT activations and the signed 8-bit points (ResNet conv2 and
    downsample outputs, the logits) at a fixed scale of 0.05 (`Ctx::train_quantized(&[0.05; 16])`),
    loss = cross-entropy + 1e-4 * R, R = sum over counted layers of numel*8 * B_GL (step_bench passes
    p_total = 1 to `regularizer`), a scalar read of the loss, backward, Adam (lr 1e-3, Burn's defaults:
    betas 0.9/0.999, eps 1e-5), then bit planes clamped to [0, 2] and PACT clips to >= 1e-3
    (`QModel::clamp_params`).

Mirrors bsq-train/src/bsq.rs (`QWeight` in `Bsq(8)` mode, `group_lasso`, `scale_store` = 16, `decompose`,
`split_planes`) and bsq-train/src/model.rs (`Act`, `QConv`, `QDense`, `LeNet`, `ResNet20`).
"""

import math
import os
import sys
import time
import warnings

# PyTorch warns on import when NumPy is absent; this script does not use NumPy.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    sys.exit("torch_step.py: PyTorch is not installed (pip install torch)")

BITS = 8  # MAX_BITS: the initial decomposition
LEVELS = float((1 << BITS) - 1)  # 2^n - 1
SCALE_PARAM = 1.0 / 16.0  # the scale parameter stores s / SCALE_PARAM
GL_EPS = 1e-8  # epsilon inside the group-Lasso square roots
ACT_BITS = 4
ACT_LEVELS = float((1 << ACT_BITS) - 1)
ACT_CLIP0 = 4.0  # initial PACT clip
ALPHA = 1e-4  # weight of R in step_bench's loss
P_TOTAL = 1  # step_bench calls `regularizer(&mut model, 1)`
LR = 1e-3
ADAM_EPS = 1e-5  # Burn's AdamConfig default (PyTorch's is 1e-8)
BATCH = 64
CLASSES = 10
WARMUP = 3  # steps left out of median / min, like the Rust example
SIGNED_SCALE = 0.05  # scale of every signed 8-bit point in step_bench


def signed(y, quant):
    """`Ctx::signed` in quantized training: ste_round(y/s) clamped to [-128, 127], times s."""
    if not quant:
        return y
    return ste_round(y / SIGNED_SCALE).clamp(-128.0, 127.0) * SIGNED_SCALE


def round_half_away(x):
    """Rounds half away from zero (like `f32::round` and bsq.rs `round_half_away`)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def ste_round(x):
    """The value of round_half_away, the gradient of the identity (bsq.rs `ste_round`)."""
    return x + (round_half_away(x) - x).detach()


class QWeight(nn.Module):
    """The weight of one quantized layer, flattened in [out, in, kh, kw] (Burn's and PyTorch's) order.

    BSQ mode: planes Wp, Wn of shape [numel, 8] (bit axis last, MSB first), a trainable scale stored as
    s / SCALE_PARAM; w_c = sum_i (Wp_i - Wn_i) 2^(7-i)/255, w = s ste_round(clamp(w_c, -1, 1) 255)/255.
    Plain mode: the float tensor itself.
    """

    def __init__(self, values, bsq, counted=True):
        super().__init__()
        self.numel = values.numel()
        self.bsq = bsq
        self.counted = counted  # takes part in R (ResNet downsample convs do not)
        if not bsq:
            self.w = nn.Parameter(values.clone())
            return
        # Initial decomposition (bsq.rs `decompose` + `split_planes`): S = max|W|, k = round(W 255 / S),
        # |k| split into 8 binary planes, MSB first, in Wp for k >= 0 and in Wn for k < 0.
        s = values.abs().max()
        assert s > 0
        k = round_half_away(values * LEVELS / s).to(torch.int64)
        m = k.abs()
        shifts = torch.arange(BITS - 1, -1, -1, dtype=torch.int64)  # 7 .. 0
        planes = ((m.unsqueeze(1) >> shifts) & 1).to(torch.float32)  # [numel, 8]
        pos = (k >= 0).to(torch.float32).unsqueeze(1)
        self.wp = nn.Parameter(planes * pos)
        self.wn = nn.Parameter(planes * (1.0 - pos))
        self.s = nn.Parameter(torch.tensor([s.item() / SCALE_PARAM], dtype=torch.float32))
        coef = torch.tensor([(1 << (BITS - 1 - i)) / LEVELS for i in range(BITS)], dtype=torch.float32)
        self.register_buffer("coef", coef.reshape(BITS, 1))

    def weight(self):
        """The effective weight [numel] (bsq.rs `QWeight::weight`)."""
        if not self.bsq:
            return self.w
        s = self.s * SCALE_PARAM
        diff = self.wp - self.wn
        wc = (diff @ self.coef).reshape(self.numel)
        return ste_round(wc.clamp(-1.0, 1.0) * LEVELS) * (s / LEVELS)

    def group_lasso(self):
        """B_GL = sum_b sqrt(eps + sum (Wp_b^2 + Wn_b^2)) (bsq.rs `QWeight::group_lasso`)."""
        g = (self.wp * self.wp + self.wn * self.wn).sum(0) + GL_EPS
        return g.sqrt().sum()

    def clamp_bits(self):
        self.wp.clamp_(0.0, 2.0)
        self.wn.clamp_(0.0, 2.0)


class Act(nn.Module):
    """ReLU, then (quantized mode) PACT: y - relu(y - c), ste_round(y / scale) scale, scale = c / 15."""

    def __init__(self, quant):
        super().__init__()
        self.quant = quant
        if quant:
            self.clip = nn.Parameter(torch.tensor([ACT_CLIP0], dtype=torch.float32))

    def forward(self, y):
        y = F.relu(y)
        if not self.quant:
            return y
        c = self.clip
        y = y - F.relu(y - c)
        scale = c / ACT_LEVELS
        return ste_round(y / scale) * scale

    def scale(self):
        return self.clip / ACT_LEVELS

    def clamp_clip(self):
        self.clip.clamp_(min=1e-3)


def he_uniform(n, fan_in):
    b = math.sqrt(6.0 / fan_in)
    return torch.empty(n).uniform_(-b, b)


class QConv(nn.Module):
    """Quantized conv (weight [out, in, k, k]) + float bias (LeNet) or BatchNorm (ResNet) (model.rs `QConv`)."""

    def __init__(self, i, o, k, stride, pad, bias, bn, bsq, counted=True):
        super().__init__()
        self.cfg = (i, o, k, stride, pad)
        self.w = QWeight(he_uniform(o * i * k * k, i * k * k), bsq, counted)
        self.bias = nn.Parameter(torch.zeros(o)) if bias else None
        # Burn's BatchNormConfig defaults: epsilon 1e-5, momentum 0.1; training mode (batch statistics).
        self.bn = nn.BatchNorm2d(o, eps=1e-5, momentum=0.1) if bn else None

    def forward(self, x):
        i, o, k, s, p = self.cfg
        w = self.w.weight().reshape(o, i, k, k)
        y = F.conv2d(x, w, self.bias, stride=s, padding=p)
        return self.bn(y) if self.bn is not None else y


class QDense(nn.Module):
    """Quantized dense layer, weight [out][in], bias quantized as its own weight (model.rs `QDense`)."""

    def __init__(self, i, o, bsq):
        super().__init__()
        self.cfg = (i, o)
        b = math.sqrt(1.0 / i)
        bias = torch.empty(o).uniform_(-b, b)
        self.w = QWeight(he_uniform(o * i, i), bsq)
        self.b = QWeight(bias, bsq)

    def forward(self, x):
        i, o = self.cfg
        w = self.w.weight().reshape(o, i)
        return x.matmul(w.t()) + self.b.weight().unsqueeze(0)


def flatten_hwc(x):
    b, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(b, h * w * c)


class LeNet(nn.Module):
    """conv5x5 1->16 +bias, act, maxpool2, conv5x5 16->32 +bias, act, maxpool2, HWC flatten,
    dense 512->128, act, dense 128->10."""

    input_shape = (1, 28, 28)

    def __init__(self, bsq):
        super().__init__()
        self.bsq = bsq
        self.conv1 = QConv(1, 16, 5, 1, 0, bias=True, bn=False, bsq=bsq)
        self.act1 = Act(bsq)
        self.conv2 = QConv(16, 32, 5, 1, 0, bias=True, bn=False, bsq=bsq)
        self.act2 = Act(bsq)
        self.fc1 = QDense(4 * 4 * 32, 128, bsq)
        self.act3 = Act(bsq)
        self.fc2 = QDense(128, CLASSES, bsq)

    def forward(self, x):
        x = F.max_pool2d(self.act1(self.conv1(x)), 2, 2)
        x = F.max_pool2d(self.act2(self.conv2(x)), 2, 2)
        x = self.act3(self.fc1(flatten_hwc(x)))
        return signed(self.fc2(x), self.bsq)

    def qweights(self):
        return [("conv1", self.conv1.w), ("conv2", self.conv2.w), ("fc1", self.fc1.w),
                ("fc1.bias", self.fc1.b), ("fc2", self.fc2.w), ("fc2.bias", self.fc2.b)]

    def acts(self):
        return [self.act1, self.act2, self.act3]


class Block(nn.Module):
    """conv3x3+BN, act, conv3x3+BN; shortcut identity or 1x1 strided conv+BN (outside R); add, act."""

    def __init__(self, i, o, stride, bsq):
        super().__init__()
        self.bsq = bsq
        self.conv1 = QConv(i, o, 3, stride, 1, bias=False, bn=True, bsq=bsq)
        self.act1 = Act(bsq)
        self.conv2 = QConv(o, o, 3, 1, 1, bias=False, bn=True, bsq=bsq)
        self.down = (QConv(i, o, 1, stride, 0, bias=False, bn=True, bsq=bsq, counted=False)
                     if stride != 1 or i != o else None)
        self.act_out = Act(bsq)

    def forward(self, x):
        y = self.act1(self.conv1(x))
        y = signed(self.conv2(y), self.bsq)
        sc = signed(self.down(x), self.bsq) if self.down is not None else x
        return self.act_out(y + sc)


class ResNet20(nn.Module):
    """stem conv3x3 3->16 +BN, act, 3 stages x 3 blocks (16, 32, 64), global average pool, dense 64->10."""

    input_shape = (3, 32, 32)

    def __init__(self, bsq):
        super().__init__()
        self.bsq = bsq
        self.stem = QConv(3, 16, 3, 1, 1, bias=False, bn=True, bsq=bsq)
        self.act = Act(bsq)
        blocks = []
        i = 16
        for stage, o in enumerate([16, 32, 64]):
            for b in range(3):
                blocks.append(Block(i, o, 2 if stage > 0 and b == 0 else 1, bsq))
                i = o
        self.blocks = nn.ModuleList(blocks)
        self.fc = QDense(64, CLASSES, bsq)

    def forward(self, x):
        x = self.act(self.stem(x))
        for b in self.blocks:
            x = b(x)
        bsz, c, h, w = x.shape
        m = x.reshape(bsz, c, h * w).mean(2).reshape(bsz, c)
        if self.bsq:
            # round(mean(q)) at the last activation's scale, straight through to the float mean.
            s = self.blocks[-1].act_out.scale()
            q = round_half_away(x / s).detach()
            mq = q.reshape(bsz, c, h * w).sum(2).reshape(bsz, c) / float(h * w)
            mq = round_half_away(mq) * s.unsqueeze(0)
            m = m + (mq - m).detach()
        return signed(self.fc(m), self.bsq)

    def qweights(self):
        out = [("stem", self.stem.w)]
        for n, b in enumerate(self.blocks):
            name = f"layer{n // 3 + 1}.{n % 3}"
            out += [(f"{name}.conv1", b.conv1.w), (f"{name}.conv2", b.conv2.w)]
            if b.down is not None:
                out.append((f"{name}.downsample", b.down.w))
        return out + [("fc", self.fc.w), ("fc.bias", self.fc.b)]

    def acts(self):
        out = [self.act]
        for b in self.blocks:
            out += [b.act1, b.act_out]
        return out


def regularizer(model):
    """R = sum over counted layers of (numel * 8 / P_TOTAL) * B_GL (training.rs `regularizer`)."""
    r = None
    for _, q in model.qweights():
        if not q.counted:
            continue
        t = q.group_lasso() * (q.numel * BITS / P_TOTAL)
        r = t if r is None else r + t
    return r


def print_counts(model, name):
    counted = total = planes = 0
    print(f"# {name}: quantized weights (numel), counted in R, trainable bit-plane elements (Wp + Wn)",
          file=sys.stderr)
    for n, q in model.qweights():
        p = q.wp.numel() + q.wn.numel() if q.bsq else 0
        print(f"#   {n:<20} {q.numel:>7} {'yes' if q.counted else 'no ':<4} {p:>9}", file=sys.stderr)
        total += q.numel
        counted += q.numel if q.counted else 0
        planes += p
    trainable = sum(p.numel() for p in model.parameters())
    print(f"# {name}: counted {counted}, all quantized {total}, bit-plane elements {planes}, "
          f"all trainable parameters {trainable}", file=sys.stderr)


def fmt(v, digits):
    return "NaN" if math.isnan(v) else f"{v:.{digits}f}"


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("lenet", "resnet20"):
        sys.exit("usage: python torch_step.py {lenet|resnet20} STEPS THREADS")
    which, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    plain = os.environ.get("BSQ_PLAIN", "") not in ("", "0")
    bsq = not plain
    dev = torch.device(os.environ.get("BSQ_DEVICE", "cpu") or "cpu")
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    model = (LeNet if which == "lenet" else ResNet20)(bsq).to(dev)
    model.train()

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    if os.environ.get("BSQ_COUNTS", "") not in ("", "0"):
        print_counts(model, which + ("-plain" if plain else ""))
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=ADAM_EPS)
    x = torch.rand(BATCH, *model.input_shape).to(dev)
    y = (torch.arange(BATCH, dtype=torch.int64) % CLASSES).to(dev)
    qws = [q for _, q in model.qweights() if q.bsq]
    acts = [a for a in model.acts() if a.quant]

    times = []
    parts = []  # per step: forward + loss read, backward, optimizer, clamp (ms)
    first_loss = None
    for _ in range(steps):
        t = time.perf_counter()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        if bsq:
            loss = loss + regularizer(model) * ALPHA
        value = loss.item()  # the scalar read the Rust side does before backward
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sync()
        t2 = time.perf_counter()
        opt.step()
        sync()
        t3 = time.perf_counter()
        if bsq:
            with torch.no_grad():
                for q in qws:
                    q.clamp_bits()
                for a in acts:
                    a.clamp_clip()
        sync()
        t4 = time.perf_counter()
        times.append((t4 - t) * 1e3)
        parts.append([(t1 - t) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (t4 - t3) * 1e3])
        if first_loss is None:
            first_loss = value
            if not math.isfinite(value):
                sys.exit(f"torch_step.py: loss after the first step is not finite ({value})")
    if os.environ.get("BSQ_COUNTS", "") not in ("", "0") and first_loss is not None:
        print(f"# first loss {first_loss:.6f}, last loss {value:.6f}", file=sys.stderr)

    if os.environ.get("BSQ_PROFILE", "") not in ("", "0") and len(parts) > WARMUP:
        med = [sorted(p[i] for p in parts[WARMUP:])[(len(parts) - WARMUP) // 2] for i in range(4)]
        print("median ms: forward+loss {:.1f} | backward {:.1f} | optimizer {:.1f} | clamp {:.1f}".format(*med),
              file=sys.stderr)
    warm = sorted(times[min(WARMUP, len(times)):])
    median = warm[len(warm) // 2] if warm else float("nan")
    mn = warm[0] if warm else float("nan")
    first = times[0] if times else float("nan")
    version = torch.__version__.split("+")[0]
    label = which + ("-plain" if plain else "")
    where = "" if dev.type == "cpu" else f" device={dev.type}"
    print(f"torch {version} model={label}{where} threads={threads} steps={steps} "
          f"median_ms={fmt(median, 2)} min_ms={fmt(mn, 2)} first_ms={fmt(first, 1)}")


if __name__ == "__main__":
    main()
