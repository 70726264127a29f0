"""PyTorch's images/s for the training step bench/train_throughput.ts times as `resnet50`.

The same step: torchvision ResNet-50 (random init) with its fc replaced by a linear 2048 -> 512
head, L2-normalised; the multi-similarity loss with its miner (alpha 2, beta 50, base 0.5,
epsilon 0.1; dml's defaults); Adam at lr 1e-4; batch B of B/2 classes x 2 images, 224 x 224
random images already on the device. fp32 weights and activations; PyTorch's default lets cuDNN
convolutions use TF32 on Ampere and later, so both settings are timed (WebGPU shaders are fp32).

    python3 bench/gpu/torch_resnet50.py [--batch 32 64] [--steps 20] [--warmup 5] [--device cuda]

Prints one line per (batch, TF32 setting): images/s as the median over timed steps.
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision


def multi_similarity(e: torch.Tensor, y: torch.Tensor, alpha=2.0, beta=50.0, base=0.5, eps=0.1) -> torch.Tensor:
    """Wang et al. 2019 with the MS miner, mean over anchors (dml's plugins/losses multi-similarity)."""
    s = e @ e.t()
    same = y[:, None] == y[None, :]
    eye = torch.eye(len(y), dtype=torch.bool, device=e.device)
    pos = same & ~eye
    neg = ~same
    inf = torch.tensor(float("inf"), device=e.device)
    # Miner: negatives harder than the hardest positive - eps, positives harder than the easiest negative + eps.
    min_pos = torch.where(pos, s, inf).min(1, keepdim=True).values
    max_neg = torch.where(neg, s, -inf).max(1, keepdim=True).values
    keep_neg = neg & (s + eps > min_pos)
    keep_pos = pos & (s - eps < max_neg)
    pos_term = torch.log1p((torch.exp(-alpha * (s - base)) * keep_pos).sum(1)) / alpha
    neg_term = torch.log1p((torch.exp(beta * (s - base)) * keep_neg).sum(1)) / beta
    return (pos_term + neg_term).mean()


def images_per_sec(batch: int, steps: int, warmup: int, device: str, tf32: bool) -> float:
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.manual_seed(0)
    net = torchvision.models.resnet50()
    net.fc = torch.nn.Linear(2048, 512)
    net = net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, 224, 224, device=device)
    y = torch.arange(batch, device=device) // 2

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    times = []
    for i in range(warmup + steps):
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = multi_similarity(F.normalize(net(x), dim=1), y)
        loss.backward()
        opt.step()
        loss.item()  # the trainer reads its loss back too
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, nargs="+", default=[32, 64])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args()
    name = torch.cuda.get_device_name() if a.device.startswith("cuda") else "cpu"
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {name}")
    for b in a.batch:
        for tf32 in (False, True):
            ips = images_per_sec(b, a.steps, a.warmup, a.device, tf32)
            print(f"resnet50 B = {b}, fp32, TF32 {'on (PyTorch default for convs)' if tf32 else 'off'}: "
                  f"{ips:.1f} images/s (median of {a.steps} steps after {a.warmup} warm-up)")


if __name__ == "__main__":
    main()
