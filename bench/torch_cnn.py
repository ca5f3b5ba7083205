"""The casebook default CNN in PyTorch, timed like crates/image/benches/cnn.rs.

Same layers (conv3x3-BN-ReLU blocks 16,32,64,64 with 2x2 max-pool between
them, global average pool, dropout 0.2, linear), same batch (32 x 3 x 64 x 64),
Adam at 2e-3, same thread count. Prints median milliseconds as JSON.
"""
import json
import os
import statistics
import sys
import time

import torch
from torch import nn

threads = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
torch.set_num_threads(threads)
torch.manual_seed(0)


def block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


widths = [16, 32, 64, 64]
layers, cin = [], 3
for i, w in enumerate(widths):
    layers += block(cin, w)
    if i < len(widths) - 1:
        layers.append(nn.MaxPool2d(2))
    cin = w
model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(cin, 2))
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
loss_fn = nn.CrossEntropyLoss()
x = torch.randn(32, 3, 64, 64)
y = torch.arange(32) % 2


def timed(fn, warmup=5, runs=30):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def train_step():
    model.train()
    opt.zero_grad()
    loss_fn(model(x), y).backward()
    opt.step()


xp = torch.randn(64, 3, 64, 64)


def predict():
    model.eval()
    with torch.no_grad():
        torch.softmax(model(xp), 1)


step_ms = timed(train_step)
predict_ms = timed(predict)
json.dump({"torch": torch.__version__, "threads": threads, "train_step_ms": step_ms,
           "predict_64_ms": predict_ms, "predict_images_per_s": 64000 / predict_ms}, sys.stdout)
print()
