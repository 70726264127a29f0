"""PyTorch's side of bench/torch_side_by_side.ts: the training step of dml's benchmark models.

Models (the same networks as dml's, NCHW here, NHWC there):
  convnet  conv3x3 (no bias) -> BatchNorm -> ReLU per entry of --channels, 2x2 max-pool between
           blocks, the last map flattened in dml's NHWC order, linear head, L2-normalised
           (dml's plugins/backbones/convnet.ts with pool: flatten);
  resnet50 torchvision ResNet-50 (v1.5), fc replaced by a linear 2048 -> --dim head, L2-normalised.
Loss: multi-similarity with the MS miner (dml's defaults); optimizer: Adam (eps 1e-8).

    python3 bench/torch_step.py time --model convnet --side 28 --in-channels 1 --channels 16 32 64 \
        --dim 128 --batch 48 --classes 6 --lr 0.003 --steps 10 --warmup 2
    python3 bench/torch_step.py check --model convnet ... --dir DIR

`time` prints one JSON line: images/s of each timed step; `profile` prints PyTorch's per-op self CPU
time of one step after the warm-up (torch.autograd.profiler), for comparison with bench/profile_step.ts. `check` loads dml's initial weights, batch
and labels from DIR (.npy files written by torch_side_by_side.ts), and prints the loss on them, then
the loss after one Adam step.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu"))
from torch_resnet50 import multi_similarity  # noqa: E402  (the same loss the GPU benchmark times)


class Convnet(torch.nn.Module):
    def __init__(self, in_channels: int, channels: list, side: int, dim: int):
        super().__init__()
        self.convs = torch.nn.ModuleList()
        self.bns = torch.nn.ModuleList()
        c = in_channels
        for out in channels:
            self.convs.append(torch.nn.Conv2d(c, out, 3, padding=1, bias=False))
            self.bns.append(torch.nn.BatchNorm2d(out, eps=1e-5, momentum=0.1))
            c = out
        cells = -(-side // 2 ** (len(channels) - 1))
        self.head = torch.nn.Linear(c * cells * cells, dim)

    def forward(self, x):
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            if i > 0:
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)  # tf's "same" max-pool
            x = F.relu(bn(conv(x)))
        x = x.permute(0, 2, 3, 1).flatten(1)  # dml flattens NHWC
        return F.normalize(self.head(x), dim=1)

    def dml_order(self):
        """Trainable parameters in dml's trainableWeights order."""
        out = []
        for conv, bn in zip(self.convs, self.bns):
            out += [conv.weight, bn.weight, bn.bias]
        return out + [self.head.weight, self.head.bias]


def build(a):
    if a.model == "convnet":
        return Convnet(a.in_channels, a.channels, a.side, a.dim)
    import torchvision

    net = torchvision.models.resnet50()
    net.fc = torch.nn.Linear(2048, a.dim)

    class Normalized(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return F.normalize(self.net(x), dim=1)

    return Normalized()


def as_torch(w: np.ndarray) -> torch.Tensor:
    """dml's layouts to PyTorch's: conv kernels [k, k, in, out] -> [out, in, k, k], dense [in, out] -> [out, in]."""
    t = torch.from_numpy(w)
    if t.dim() == 4:
        return t.permute(3, 2, 0, 1).contiguous()
    if t.dim() == 2:
        return t.t().contiguous()
    return t


def load_dml_weights(net, a):
    with open(os.path.join(a.dir, "weights.json")) as f:
        names = json.load(f)
    arrays = [as_torch(np.load(os.path.join(a.dir, f"w{i}.npy"))) for i in range(len(names))]
    with torch.no_grad():
        if a.model == "convnet":
            params = net.dml_order()
            assert len(params) == len(arrays), (len(params), len(arrays))
            for p, w in zip(params, arrays):
                assert p.shape == w.shape, (p.shape, w.shape)
                p.copy_(w)
        else:
            state = net.net.state_dict()
            for name, w in zip(names, arrays):
                key = {"head.kernel": "fc.weight", "head.bias": "fc.bias"}.get(name, name)
                assert state[key].shape == w.shape, (key, state[key].shape, w.shape)
                state[key].copy_(w)


def step(net, opt, x, y):
    opt.zero_grad(set_to_none=True)
    loss = multi_similarity(net(x), y)
    loss.backward()
    opt.step()
    return loss.item()  # the trainer reads its loss back too


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["time", "check", "profile"])
    p.add_argument("--model", choices=["convnet", "resnet50"], required=True)
    p.add_argument("--side", type=int, default=224)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--channels", type=int, nargs="*", default=[])
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dir")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = build(a).train()
    opt = torch.optim.Adam(net.parameters(), lr=a.lr, eps=1e-8)
    if a.mode == "check":
        load_dml_weights(net, a)
        x = torch.from_numpy(np.load(os.path.join(a.dir, "x.npy"))).permute(0, 3, 1, 2).contiguous()
        y = torch.from_numpy(np.load(os.path.join(a.dir, "y.npy")).astype(np.int64))
        first = step(net, opt, x, y)
        with torch.no_grad():
            second = multi_similarity(net(x), y).item()
        print(json.dumps({"loss": first, "lossAfterStep": second}))
        return
    x = torch.randn(a.batch, a.in_channels, a.side, a.side)
    y = torch.arange(a.batch) % a.classes  # m-per-class: batch/classes images of each class
    if a.mode == "profile":
        for _ in range(a.warmup):
            step(net, opt, x, y)
        with torch.autograd.profiler.profile() as prof:
            t0 = time.perf_counter()
            step(net, opt, x, y)
            wall = time.perf_counter() - t0
        print(f"one step {wall:.3f} s ({a.batch / wall:.1f} images/s, profiler on)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
        return
    rates = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        step(net, opt, x, y)
        if i >= a.warmup:
            rates.append(a.batch / (time.perf_counter() - t0))
    print(json.dumps({"imagesPerSec": rates, "median": statistics.median(rates), "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
