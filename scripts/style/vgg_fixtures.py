#!/usr/bin/env python3
"""Generate tiny VGG test fixtures for the `style` crate.

What it writes (into crates/style/tests/fixtures/, relative to the repo root):

  vgg_tiny.pth             state_dict of a *narrow* VGG-19 in torchvision's key
                           layout (`features.<i>.weight/bias` for the 16 convs at
                           torchvision's vgg19 indices, plus
                           `classifier.0.weight/bias`), saved with torch.save
                           (default zip format).
  vgg_tiny_legacy.pth      the same state dict, saved with
                           _use_new_zipfile_serialization=False (legacy pickle
                           stream format).
  vgg_tiny.safetensors     the same state dict via safetensors.torch.save_file
                           (identical key names).
  vgg16_tiny.pth           a narrow VGG-16-layout state dict (13 convs at
                           torchvision's vgg16 indices); a VGG-19 loader must
                           refuse it.
  vgg_tiny_expected.json   reference forward pass of the VGG-19 net on a fixed
                           input, for both max pooling (as torchvision) and avg
                           pooling (every MaxPool2d replaced by AvgPool2d(2,2)):
                           activations after the ReLU of conv1_1 (features.1),
                           conv3_1 (features.11) and conv4_2 (features.22).

The network is exactly torchvision.models.vgg19().features in structure
(Conv2d 3x3 padding 1, ReLU(inplace=True), MaxPool2d(2, 2)), but with channel
widths [4, 5, 6, 7, 8] per block instead of [64, 128, 256, 512, 512]; input has
3 channels. torchvision is not needed. Weights ~ N(0, 0.3), biases ~ N(0, 0.1),
drawn with torch.manual_seed(0) in parameter order; everything is float32.

Input: shape [1, 3, 20, 24], value at flat (row-major c,h,w) index i is
((i*37) % 101)/100, then normalised per channel as torchvision does:
(x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225].

How to run (from the repository root; needs torch, safetensors, numpy):

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch safetensors numpy
    /tmp/torchenv/bin/python scripts/style/vgg_fixtures.py

The committed files were made with torch 2.15.0 (+cu132 wheel, run on CPU),
safetensors 0.8.0, numpy 2.4.6, Python 3.11.7.

Re-running reproduces vgg_tiny.pth, vgg16_tiny.pth, vgg_tiny.safetensors and
vgg_tiny_expected.json byte for byte. vgg_tiny_legacy.pth is NOT byte-stable:
the legacy format names each storage by its memory address (e.g.
'94753571826880'), so its bytes change on every run although its tensors do
not. Format notes for loader authors:
  * zip .pth: entries live under '<file stem>/' (here 'vgg_tiny/data.pkl',
    'vgg_tiny/data/0', ...), not under a fixed 'archive/' prefix; entries are
    stored uncompressed; storage keys are '0', '1', ...
  * legacy .pth: five concatenated things: pickle(magic number), pickle(1001),
    pickle(sys_info), pickle(state dict, persistent ids
    ('storage', FloatStorage, key, 'cpu', numel, None)), pickle(list of
    storage keys), then per key in that list (sorted as strings, which is not
    the order they appear in the state dict): u64 little-endian element count
    followed by the raw little-endian float32 data.
"""

import copy
import json
import os
import sys

import torch
import torch.nn as nn

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(REPO_ROOT, "crates", "style", "tests", "fixtures")

WIDTHS = [4, 5, 6, 7, 8]  # torchvision: [64, 128, 256, 512, 512]
VGG19_CONVS_PER_BLOCK = [2, 2, 4, 4, 4]
VGG16_CONVS_PER_BLOCK = [2, 2, 3, 3, 3]

# torchvision feature indices of the convs (for checking the layout).
VGG19_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
VGG16_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]

INPUT_SHAPE = [1, 3, 20, 24]
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]

# name -> index of the ReLU right after that conv in vgg19 `features`
TAPS = {"conv1_1": 1, "conv3_1": 11, "conv4_2": 22}


def make_features(convs_per_block):
    layers = []
    in_ch = 3
    for width, n in zip(WIDTHS, convs_per_block):
        for _ in range(n):
            layers.append(nn.Conv2d(in_ch, width, kernel_size=3, padding=1))
            layers.append(nn.ReLU(inplace=True))
            in_ch = width
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class TinyVGG(nn.Module):
    def __init__(self, convs_per_block):
        super().__init__()
        self.features = make_features(convs_per_block)
        self.classifier = nn.Sequential(nn.Linear(WIDTHS[-1], 3))


def randomise(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            std = 0.1 if name.endswith("bias") else 0.3
            p.copy_(torch.randn(p.shape, dtype=torch.float32) * std)


def conv_indices(model):
    return [i for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d)]


def make_input():
    n = 1
    for d in INPUT_SHAPE:
        n *= d
    i = torch.arange(n, dtype=torch.int64)
    x = ((i * 37) % 101).to(torch.float32) / 100.0
    return x.reshape(INPUT_SHAPE)


def normalise(x):
    mean = torch.tensor(MEAN, dtype=torch.float32).reshape(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32).reshape(1, 3, 1, 1)
    return (x - mean) / std


def run_taps(features, x):
    out = {}
    wanted = {v: k for k, v in TAPS.items()}
    last = max(wanted)
    with torch.no_grad():
        for idx, layer in enumerate(features):
            x = layer(x)
            if idx in wanted:
                t = x.detach().clone().contiguous()
                out[wanted[idx]] = {
                    "shape": list(t.shape),
                    # 9 significant digits round-trip float32 exactly.
                    "values": [float("%.9g" % v) for v in t.flatten().tolist()],
                }
            if idx == last:
                break
    return out


def with_avg_pool(features):
    f = copy.deepcopy(features)
    for idx, m in enumerate(f):
        if isinstance(m, nn.MaxPool2d):
            f[idx] = nn.AvgPool2d(kernel_size=2, stride=2)
    return f


def state_dict_of(model):
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def main():
    from safetensors.torch import save_file

    torch.manual_seed(0)
    os.makedirs(OUT_DIR, exist_ok=True)

    vgg19 = TinyVGG(VGG19_CONVS_PER_BLOCK)
    randomise(vgg19)
    vgg19.eval()
    assert conv_indices(vgg19) == VGG19_CONV_INDICES, conv_indices(vgg19)
    assert len(vgg19.features) == 37

    vgg16 = TinyVGG(VGG16_CONVS_PER_BLOCK)
    randomise(vgg16)
    assert conv_indices(vgg16) == VGG16_CONV_INDICES, conv_indices(vgg16)
    assert len(vgg16.features) == 31

    sd19 = state_dict_of(vgg19)
    torch.save(sd19, os.path.join(OUT_DIR, "vgg_tiny.pth"))
    torch.save(sd19, os.path.join(OUT_DIR, "vgg_tiny_legacy.pth"),
               _use_new_zipfile_serialization=False)
    save_file(sd19, os.path.join(OUT_DIR, "vgg_tiny.safetensors"))
    torch.save(state_dict_of(vgg16), os.path.join(OUT_DIR, "vgg16_tiny.pth"))

    x = normalise(make_input())
    expected = {
        "input_shape": INPUT_SHAPE,
        "input_formula": "((i*37) % 101)/100",
        "normalise": {"mean": MEAN, "std": STD},
        "max": run_taps(vgg19.features, x),
        "avg": run_taps(with_avg_pool(vgg19.features), x),
        "torch_version": torch.__version__,
    }
    with open(os.path.join(OUT_DIR, "vgg_tiny_expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")

    for name in ["vgg_tiny.pth", "vgg_tiny_legacy.pth", "vgg_tiny.safetensors",
                 "vgg16_tiny.pth", "vgg_tiny_expected.json"]:
        p = os.path.join(OUT_DIR, name)
        print(f"{os.path.getsize(p):8d}  {os.path.relpath(p, REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
