#!/usr/bin/env python3
"""casebook's fast style network (Johnson et al., 2016; `casebook style
apply` and `style train-fast`) in PyTorch on the CPU, for
bench/style_fast.sh: the same transform network, loss network, losses and
optimiser, timed per picture and per training step.

    style_fast_torch.py apply --size 512 --width 16 [--runs 5]
    style_fast_torch.py train --size 256 --width 16 [--batch-size 4] [--steps 6]

Prints one JSON object: `apply` gives milliseconds_per_picture (median of
--runs passes after one warm-up, batch 1, torch.no_grad()); `train` gives
seconds_per_step (median of the steps after the first 2); both give
peak_rss_mb (this process's peak resident memory, torch itself included).

What casebook does, and this script repeats:
- transform network: ConvLayer = reflection padding k//2, a convolution
  without padding (with bias), InstanceNorm2d(affine, eps 1e-5) except at
  the output. 9x9 3->w +ReLU; 3x3 stride 2 w->2w +ReLU; 3x3 stride 2
  2w->4w +ReLU; --residual-blocks blocks x + IN(conv(relu(IN(conv(x)))))
  at 4w; nearest x2 upsampling, 3x3 4w->2w +ReLU; nearest x2, 3x3 2w->w
  +ReLU; 9x9 w->3, sigmoid. `apply` times what casebook's per-picture
  milliseconds cover: 8-bit RGB to a [0, 1] tensor, the pass, and back.
- loss network: the built-in random VGG (channels 32, 64, 128, 256, 256;
  blocks of 2, 2, 4, 4, 4 3x3 convs pad 1 with ReLU, 2x2 average pooling
  between blocks, ImageNet mean/std normalisation), frozen, run only as
  deep as the layers asked for: the input batch to conv2_2 (content
  target, no grad), the output to conv4_3.
- content loss = mean((F - P)^2) / mean(P^2) at conv2_2; style loss =
  sum over conv1_2, conv2_2, conv3_3, conv4_3 of mean((G - A)^2) /
  mean(A^2) / 4, G = F F^T / (c h w) per picture, A the style picture's
  Gram; tv = mean squared vertical + horizontal differences of the output;
  total = 1 content + 30 style + 1 tv; the four losses are read back every
  step (casebook logs them). Adam (lr 1e-3, eps 1e-5 as burn's default) on
  the transform network only.

Weights and pictures are random (torch's default initialisation, He-normal
for the loss network, uniform pixels, a square style picture): how long a
convolution takes does not depend on the values it multiplies, so the
losses are not comparable with casebook's, only the times are. The style
Grams are made once, before the timed steps (their shapes do not depend
on the style picture's). A training step also draws its random batch,
where casebook reads, crops and mirrors its training pictures.

Threads: torch.set_num_threads($BENCH_THREADS, default 2).
"""

import argparse
import json
import os
import resource
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F

BLOCKS = [2, 2, 4, 4, 4]
VGG_WIDTHS = [32, 64, 128, 256, 256]
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
CONTENT_LAYER = 3  # conv2_2
STYLE_LAYERS = [1, 3, 6, 10]  # conv1_2, conv2_2, conv3_3, conv4_3


class ConvLayer(nn.Module):
    def __init__(self, c_in, c_out, kernel, stride=1, normalised=True):
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride)
        self.norm = nn.InstanceNorm2d(c_out, affine=True, eps=1e-5) if normalised else nn.Identity()

    def forward(self, x):
        return self.norm(self.conv(self.pad(x)))


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.first = ConvLayer(channels, channels, 3)
        self.second = ConvLayer(channels, channels, 3)

    def forward(self, x):
        return x + self.second(F.relu(self.first(x)))


class TransformNet(nn.Module):
    def __init__(self, width, residual_blocks):
        super().__init__()
        w = width
        self.input = ConvLayer(3, w, 9)
        self.down = nn.ModuleList([ConvLayer(w, 2 * w, 3, 2), ConvLayer(2 * w, 4 * w, 3, 2)])
        self.residual = nn.Sequential(*(ResidualBlock(4 * w) for _ in range(residual_blocks)))
        self.up = nn.ModuleList([ConvLayer(4 * w, 2 * w, 3), ConvLayer(2 * w, w, 3)])
        self.output = ConvLayer(w, 3, 9, normalised=False)

    def forward(self, x):
        x = F.relu(self.input(x))
        for layer in self.down:
            x = F.relu(layer(x))
        x = self.residual(x)
        for layer in self.up:
            x = F.relu(layer(F.interpolate(x, scale_factor=2, mode="nearest")))
        return torch.sigmoid(self.output(x))


class LossNet:
    """The built-in random VGG, frozen."""

    def __init__(self):
        self.convs, c_in = [], 3
        for convs, width in zip(BLOCKS, VGG_WIDTHS):
            for _ in range(convs):
                w = torch.randn(width, c_in, 3, 3) * (2.0 / (c_in * 9)) ** 0.5
                self.convs.append((w, torch.zeros(width)))
                c_in = width
        self.mean = torch.tensor(MEAN).reshape(1, 3, 1, 1)
        self.std = torch.tensor(STD).reshape(1, 3, 1, 1)

    def activations(self, x, wanted):
        deepest = max(wanted)
        x = (x - self.mean) / self.std
        found, layer = {}, 0
        for convs in BLOCKS:
            for _ in range(convs):
                w, b = self.convs[layer]
                x = F.relu(F.conv2d(x, w, b, padding=1))
                found[layer] = x
                if layer == deepest:
                    return [found[i] for i in wanted]
                layer += 1
            x = F.avg_pool2d(x, 2, 2)
        return [found[i] for i in wanted]


def gram(f):
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def mse(a, b):
    return ((a - b) ** 2).mean()


def total_variation(x):
    down = x[:, :, 1:, :] - x[:, :, :-1, :]
    right = x[:, :, :, 1:] - x[:, :, :, :-1]
    return (down * down).mean() + (right * right).mean()


def apply(args):
    net = TransformNet(args.width, args.residual_blocks).eval()
    times = []
    with torch.no_grad():
        for _ in range(args.runs + 1):
            picture = torch.randint(0, 256, (args.size, args.size, 3), dtype=torch.uint8)
            t = time.perf_counter()
            x = picture.permute(2, 0, 1)[None].float() / 255
            y = net(x)
            drawn = (y[0].permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8)
            times.append(time.perf_counter() - t)
    return {"drawn": list(drawn.shape),
            "milliseconds_per_picture": 1000 * statistics.median(times[1:]),
            "milliseconds": [round(1000 * t, 1) for t in times]}


def train(args):
    net = TransformNet(args.width, args.residual_blocks)
    loss_net = LossNet()
    style = torch.rand(1, 3, args.size, args.size)
    with torch.no_grad():
        grams = [gram(f) for f in loss_net.activations(style, STYLE_LAYERS)]
        gram_scales = [max(float((g ** 2).mean()), 1e-12) for g in grams]
    adam = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-5)
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        batch = torch.rand(args.batch_size, 3, args.size, args.size)
        adam.zero_grad(set_to_none=True)
        output = net(batch)
        with torch.no_grad():
            target = loss_net.activations(batch, [CONTENT_LAYER])[0]
            content_scale = max(float((target ** 2).mean()), 1e-12)
        features = loss_net.activations(output, [CONTENT_LAYER] + STYLE_LAYERS)
        content = mse(features[0], target) / content_scale
        style_loss = sum(mse(gram(f), g.expand(f.shape[0], -1, -1)) / (s * len(STYLE_LAYERS))
                         for f, g, s in zip(features[1:], grams, gram_scales))
        tv = total_variation(output)
        total = content + 30 * style_loss + tv
        losses = [v.item() for v in (content, style_loss, tv, total)]
        total.backward()
        adam.step()
        times.append(time.perf_counter() - t)
    return {"batch_size": args.batch_size, "steps": args.steps,
            "seconds_per_step": statistics.median(times[2:]),
            "step_seconds": [round(t, 3) for t in times],
            "last_losses": dict(zip(["content", "style", "tv", "total"], losses))}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["apply", "train"])
    p.add_argument("--size", type=int, default=256, help="side of the square pictures")
    p.add_argument("--width", type=int, default=16, help="transform network channels at full resolution")
    p.add_argument("--residual-blocks", type=int, default=5)
    p.add_argument("--runs", type=int, default=5, help="apply: timed passes after the warm-up")
    p.add_argument("--batch-size", type=int, default=4, help="train: pictures per step")
    p.add_argument("--steps", type=int, default=6, help="train: steps, the first 2 not counted")
    args = p.parse_args()
    if args.mode == "train" and args.steps < 3:
        p.error("--steps must be at least 3 (the first 2 are not counted)")
    threads = int(os.environ.get("BENCH_THREADS", "2"))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    result = apply(args) if args.mode == "apply" else train(args)
    print(json.dumps({
        "mode": args.mode,
        "size": args.size,
        "width": args.width,
        "residual_blocks": args.residual_blocks,
        "threads": threads,
        "torch": torch.__version__,
        **result,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
