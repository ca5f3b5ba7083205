"""The layers of bench/conv_layers.txt in PyTorch on the CPU, timed like
crates/vision/benches/conv.rs: the same shapes and passes, best of
CONV_BENCH_RUNS runs (default 15) after 3 warm-ups, BENCH_THREADS threads.
Prints one JSON object per layer: {"name", "torch_ms"}.
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1)))
runs = int(os.environ.get("CONV_BENCH_RUNS", "15"))
here = os.path.dirname(os.path.abspath(__file__))
only = sys.argv[1] if len(sys.argv) > 1 else None


def time_layer(batch, c_in, c_out, side, kernel, stride, padding, pass_):
    x = torch.randn(batch, c_in, side, side)
    w = torch.randn(c_out, c_in, kernel, kernel)
    b = torch.randn(c_out)
    if pass_ == "input":
        x.requires_grad_()
    elif pass_ == "train":
        w.requires_grad_()
        if c_in != 3:
            x.requires_grad_()
    probe = torch.randn_like(F.conv2d(x.detach(), w.detach(), b, stride, padding))

    def once():
        if pass_ == "infer":
            with torch.no_grad():
                F.conv2d(x, w, b, stride, padding)
        else:
            x.grad = w.grad = None
            (F.conv2d(x, w, b, stride, padding) * probe).sum().backward()

    for _ in range(3):
        once()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        once()
        samples.append((time.perf_counter() - start) * 1e3)
    return min(samples)


with open(os.path.join(here, "conv_layers.txt")) as layers:
    for line in layers:
        if not line.strip() or line.startswith("#"):
            continue
        name, *numbers, pass_ = line.split()
        if only and only not in name:
            continue
        ms = time_layer(*map(int, numbers), pass_)
        print(json.dumps({"name": name, "torch_ms": round(ms, 3)}), flush=True)
