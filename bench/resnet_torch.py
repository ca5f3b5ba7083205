"""dlib's face-encoder ResNet (crates/faces/src/model/encoder.rs) in PyTorch,
timed like the `embed_batch_*` benchmarks of crates/faces/benches/faces.rs:
inference on [batch, 3, 150, 150] for batches 1 and 32, median of
BENCH_RUNS (default 20) after 3 warm-ups, BENCH_THREADS threads.

Same layers: conv 7x7/2 (32) -> affine -> relu -> max pool 3x3/2, residual
stages 32x3, 64x4, 128x3, 256x3, 256x1 (each but the first opens with a
stride-2 block, unpadded, whose shortcut is a 2x2/2 average pool; a
shortcut of another shape is zero-extended, as dlib's add_prev does),
global average pool, 128-unit linear without bias. dlib's batch norm is
folded into a per-channel affine, as in casebook. Random weights: timing
does not depend on them. Prints JSON: {"batch_1_ms", "batch_32_ms"}.
"""
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

torch.set_num_threads(int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1)))
torch.manual_seed(0)
runs = int(os.environ.get("BENCH_RUNS", "20"))


class ConvAffine(nn.Module):
    def __init__(self, c_in, c_out, kernel, stride):
        super().__init__()
        padding = kernel // 2 if stride == 1 else 0
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding)
        self.scale = nn.Parameter(torch.randn(c_out, 1, 1))
        self.shift = nn.Parameter(torch.randn(c_out, 1, 1))

    def forward(self, x):
        return self.conv(x) * self.scale + self.shift


def add_zero_extended(a, b):
    shape = [max(x, y) for x, y in zip(a.shape, b.shape)]

    def extend(t):
        pad = []
        for dim in reversed(range(1, 4)):
            pad += [0, shape[dim] - t.shape[dim]]
        return F.pad(t, pad)

    return extend(a) + extend(b)


class Residual(nn.Module):
    def __init__(self, c_in, filters, stride):
        super().__init__()
        self.first = ConvAffine(c_in, filters, 3, stride)
        self.second = ConvAffine(filters, filters, 3, 1)
        self.downsample = stride == 2

    def forward(self, x):
        block = self.second(F.relu(self.first(x)))
        shortcut = F.avg_pool2d(x, 2, 2) if self.downsample else x
        return F.relu(add_zero_extended(block, shortcut))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = ConvAffine(3, 32, 7, 2)
        blocks, channels = [], 32
        for filters, count, downsample in [(32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True)]:
            for i in range(count):
                blocks.append(Residual(channels, filters, 2 if i == 0 and downsample else 1))
                channels = filters
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(channels, 128, bias=False)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        x = self.blocks(x)
        return self.head(x.mean(dim=(2, 3)))


model = Encoder().eval()


def timed(batch):
    x = torch.randn(batch, 3, 150, 150)
    with torch.no_grad():
        assert model(x).shape == (batch, 128)
        for _ in range(3):
            model(x)
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            model(x)
            samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


print(json.dumps({"batch_1_ms": round(timed(1), 3), "batch_32_ms": round(timed(32), 3)}))
