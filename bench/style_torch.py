#!/usr/bin/env python3
"""`casebook style transfer` (Gatys et al., Adam on the pixels) in PyTorch on
the CPU, for bench/style.sh: the same network, losses, optimiser and
pictures, timed per iteration.

    style_torch.py --weights VGG.safetensors --content C --style S \
        [--size 256] [--iterations 6] [--pool avg|max]
    style_torch.py --make-weights PATH      # random VGG-19 for timing (no torch needed)

Prints one JSON object: size, iterations, seconds_per_iteration (median of
the iterations after 2 warm-ups), peak_rss_mb (this process's peak resident
memory, torch itself included), style_loss_first / style_loss_last (before
the first step and after the last, as casebook reports them), and more.

What casebook does, and this script repeats:
- VGG-19's convolutional part, built by hand (no torchvision): 16 convs
  3x3 pad 1 in blocks of 2, 2, 4, 4, 4, ReLU after each, 2x2 pooling
  (average by default, --pool max) between blocks; weights from a
  safetensors file with torchvision's keys (features.0.weight ...
  features.34.weight and biases), frozen. Input normalised with
  torchvision's ImageNet mean/std; the forward pass stops at conv5_1.
- content: conv4_2 (10th conv); style: conv1_1, conv2_1, conv3_1, conv4_1,
  conv5_1 (convs 1, 3, 5, 9, 13), Gram = F Fᵀ / (c h w).
- content loss = mean((F - P)²) / mean(P²); style loss = Σ_layers
  mean((G - A)²) / mean(A²) / 5; tv = mean squared vertical differences +
  mean squared horizontal differences; total = 1 content + 30 style + 1 tv.
- Adam (lr 0.02, betas 0.9/0.999, eps 1e-5 as burn's default) on the
  pixels in [0, 1], starting from the content picture, clamped to [0, 1]
  after every step.
- pictures scaled so the longer side is --size (bicubic), each on its own
  (the style picture keeps its aspect ratio).

Threads: torch.set_num_threads($BENCH_THREADS, default 2).
Pictures are read with Pillow when it is installed; without it only binary
PPM (P6) files can be read (numpy) and are resized with torch's bicubic.
"""

import argparse
import json
import math
import os
import random
import resource
import statistics
import struct
import sys
import time

# torchvision's features.N indices of the 16 convolutions.
TORCHVISION_INDEX = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
BLOCKS = [2, 2, 4, 4, 4]
VGG19_WIDTHS = [64, 128, 256, 512, 512]
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
CONTENT_LAYER = 9  # conv4_2
STYLE_LAYERS = [0, 2, 4, 8, 12]  # conv1_1, conv2_1, conv3_1, conv4_1, conv5_1
MIN_SIDE = 16


def conv_shapes(widths=VGG19_WIDTHS):
    shapes, c_in = [], 3
    for convs, width in zip(BLOCKS, widths):
        for _ in range(convs):
            shapes.append((c_in, width))
            c_in = width
    return shapes


def make_weights(path, seed=0):
    """A full-width VGG-19 `features` state dict with random He-normal
    weights (std sqrt(2 / fan-in)) and zero biases, written as safetensors
    by hand (float32, little-endian): numpy if it is there, else plain
    Python (slower, ~20M normal draws). RANDOM weights: for timing only,
    the speed of a convolution does not depend on the values it multiplies."""
    try:
        import numpy as np
    except ImportError:
        np = None
    rng = np.random.default_rng(seed) if np is not None else random.Random(seed)
    tensors = []  # (key, shape, bytes)
    for (c_in, c_out), index in zip(conv_shapes(), TORCHVISION_INDEX):
        std = math.sqrt(2.0 / (c_in * 9))
        n = c_out * c_in * 9
        if np is not None:
            w = (rng.standard_normal(n, dtype=np.float32) * np.float32(std)).astype("<f4").tobytes()
            b = np.zeros(c_out, dtype="<f4").tobytes()
        else:
            w = struct.pack(f"<{n}f", *(rng.gauss(0.0, std) for _ in range(n)))
            b = bytes(4 * c_out)
        tensors.append((f"features.{index}.weight", [c_out, c_in, 3, 3], w))
        tensors.append((f"features.{index}.bias", [c_out], b))
    header, offset = {"__metadata__": {"format": "pt", "note": "random He-normal VGG-19, for timing only"}}, 0
    for key, shape, data in tensors:
        header[key] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # data starts 8-byte aligned
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for _, _, data in tensors:
            f.write(data)
    os.replace(tmp, path)


def load_picture(path, size, torch):
    """[1, 3, h, w] float32 in [0, 1], longer side `size` (aspect kept)."""
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        img = Image.open(path).convert("RGB")
        w, h = img.size
        nw, nh = new_size(w, h, size)
        if (nw, nh) != (w, h):
            img = img.resize((nw, nh), Image.BICUBIC)
        import numpy as np
        return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
    x = read_ppm(path, torch)
    h, w = x.shape[2:]
    nw, nh = new_size(w, h, size)
    if (nw, nh) != (w, h):
        x = torch.nn.functional.interpolate(x, size=(nh, nw), mode="bicubic", antialias=True,
                                            align_corners=False).clamp(0, 1)
    return x


def new_size(w, h, size):
    scale = size / max(w, h)
    return max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale))


def read_ppm(path, torch):
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"P6"):
        sys.exit(f"{path}: without Pillow only binary PPM (P6) pictures can be read "
                 f"(pip install pillow, or convert it to .ppm)")
    fields, pos = [], 2
    while len(fields) < 3:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(int(data[pos:end]))
        pos = end
    w, h, maxval = fields
    assert maxval < 256, "16-bit PPM is not supported"
    pixels = np.frombuffer(data, dtype=np.uint8, count=w * h * 3, offset=pos + 1).reshape(h, w, 3)
    return torch.from_numpy(pixels.astype(np.float32) / maxval).permute(2, 0, 1)[None].contiguous()


class Vgg:
    def __init__(self, path, pool, torch):
        from safetensors.torch import load_file
        state = load_file(path)
        self.torch = torch
        self.convs = []
        for index in TORCHVISION_INDEX:
            w = state[f"features.{index}.weight"].float().contiguous()
            b = state[f"features.{index}.bias"].float().contiguous()
            w.requires_grad_(False)
            b.requires_grad_(False)
            self.convs.append((w, b))
        self.pool = pool
        self.mean = torch.tensor(MEAN).reshape(1, 3, 1, 1)
        self.std = torch.tensor(STD).reshape(1, 3, 1, 1)

    def activations(self, x, wanted):
        F = self.torch.nn.functional
        deepest = max(wanted)
        x = (x - self.mean) / self.std
        found, layer = {}, 0
        for convs in BLOCKS:
            for _ in range(convs):
                w, b = self.convs[layer]
                x = F.relu(F.conv2d(x, w, b, padding=1))
                if layer in wanted:
                    found[layer] = x
                if layer == deepest:
                    return [found[i] for i in wanted]
                layer += 1
            x = F.max_pool2d(x, 2, 2) if self.pool == "max" else F.avg_pool2d(x, 2, 2)
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


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--make-weights", metavar="PATH", help="write a random VGG-19 safetensors (timing only) and exit")
    p.add_argument("--weights", help="VGG-19 safetensors with torchvision's keys")
    p.add_argument("--content", default="crates/faces/tests/fixtures/images/astronaut.png")
    p.add_argument("--style", default="/tmp/style/starry_night.jpg")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iterations", type=int, default=6)
    p.add_argument("--pool", choices=["avg", "max"], default="avg")
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--style-weight", type=float, default=30.0)
    p.add_argument("--tv-weight", type=float, default=1.0)
    args = p.parse_args()
    if args.make_weights:
        make_weights(args.make_weights)
        return
    if not args.weights:
        p.error("--weights is required (or --make-weights PATH)")

    import torch
    threads = int(os.environ.get("BENCH_THREADS", "2"))
    torch.set_num_threads(threads)
    started = time.perf_counter()
    net = Vgg(args.weights, args.pool, torch)
    content = load_picture(args.content, args.size, torch)
    style = load_picture(args.style, args.size, torch)
    layers = [CONTENT_LAYER] + STYLE_LAYERS
    with torch.no_grad():
        target = net.activations(content, layers[:1])[0]
        content_scale = max(float((target ** 2).mean()), 1e-12)
        grams = [gram(f) for f in net.activations(style, layers[1:])]
        gram_scales = [max(float((g ** 2).mean()), 1e-12) for g in grams]

    def losses(x):
        feats = net.activations(x, layers)
        c = mse(feats[0], target) / content_scale
        s = sum(mse(gram(f), g) / (scale * len(STYLE_LAYERS)) for f, g, scale in zip(feats[1:], grams, gram_scales))
        tv = total_variation(x)
        return args.content_weight * c + args.style_weight * s + args.tv_weight * tv, c, s

    x = content.clone().requires_grad_(True)
    adam = torch.optim.Adam([x], lr=args.lr, betas=(0.9, 0.999), eps=1e-5)
    times, style_first, content_first = [], None, None
    setup = time.perf_counter() - started
    for _ in range(args.iterations):
        t = time.perf_counter()
        adam.zero_grad(set_to_none=True)
        total, c, s = losses(x)
        if style_first is None:
            style_first, content_first = float(s.detach()), float(c.detach())
        total.backward()
        adam.step()
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
        times.append(time.perf_counter() - t)
    with torch.no_grad():
        _, c_last, s_last = losses(x)
    timed = times[2:] if len(times) > 2 else times
    print(json.dumps({
        "size": args.size,
        "iterations": args.iterations,
        "picture": list(content.shape[2:]),
        "style_picture": list(style.shape[2:]),
        "pool": args.pool,
        "threads": threads,
        "torch": torch.__version__,
        "seconds_per_iteration": statistics.median(timed),
        "iteration_seconds": [round(t, 4) for t in times],
        "setup_seconds": setup,
        "total_seconds": time.perf_counter() - started,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "style_loss_first": style_first,
        "style_loss_last": float(s_last),
        "content_loss_first": content_first,
        "content_loss_last": float(c_last),
    }))


if __name__ == "__main__":
    main()
