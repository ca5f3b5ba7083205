#!/usr/bin/env python3
"""Record dlib's face-pipeline outputs on the fixture images, for the Rust port's tests.

Purpose
-------
The `faces` crate ports three dlib models to Rust:

* mmod_human_face_detector.dat            (CNN "mmod" face detector)
* shape_predictor_5_face_landmarks.dat     (5-point landmark shape predictor)
* dlib_face_recognition_resnet_model_v1.dat (ResNet, 128-d face descriptor)

(as shipped in the PyPI package face-recognition-models 0.3.0, CC0; the
68-point model is deliberately not used).  This script runs the reference
implementation -- dlib's own Python bindings -- on every PNG in
crates/faces/tests/fixtures/images/ and writes what it saw to
crates/faces/tests/fixtures/dlib_reference.json, plus the aligned 150x150 face
chips to crates/faces/tests/fixtures/chips/<image stem>_<i>.png.  The Rust
tests compare against these files; nothing here runs in CI.

How to run
----------
    python3 -m venv .venv
    .venv/bin/pip install dlib-bin==20.0.1 numpy pillow
    .venv/bin/python scripts/faces/dlib_reference.py MODELS

MODELS is either a folder holding the three .dat files named above, or the
three paths in the order detector, shape predictor, recognition model.
Optional flags: --fixtures DIR (default: crates/faces/tests/fixtures next to
this script's repository root).  The fixture was produced with: CPython 3.11.7,
dlib-bin 20.0.1 (dlib.__version__ == "20.0.1"), numpy 2.4.6, pillow 13.0.0 on
x86-64 Linux, CPU only.  It takes a few minutes on two cores.

How dlib is called (what the Rust side must mirror)
---------------------------------------------------
* Each PNG is decoded with Pillow and converted to RGB (`Image.convert("RGB")`;
  a grayscale PNG becomes R=G=B), giving an HxWx3 uint8 C-contiguous array in
  RGB order.  That array is what every dlib call receives (dlib sees it as
  `numpy_image<rgb_pixel>`).
* detector = dlib.cnn_face_detection_model_v1(path); detector(img, upsample)
  for upsample 0 and 1.
* Faces used for landmarks/chips/descriptors: the upsample-1 detections when
  there are any, else the upsample-0 ones (`faces_from_upsample`).
* shape = dlib.shape_predictor(path)(img, det.rect)
* chip = dlib.get_face_chip(img, shape, size=150, padding=0.25)
  details = dlib.get_face_chip_details(shape, 150, 0.25)
* facerec = dlib.face_recognition_model_v1(path)
  descriptor_from_chip = facerec.compute_face_descriptor(chip_png_as_rgb_array)
  descriptor_full      = facerec.compute_face_descriptor(img, shape)
  both with the default num_jitters=0 (no jitter: one forward pass).

Output schema (dlib_reference.json)
-----------------------------------
All rectangles are [left, top, right, bottom] with dlib's inclusive
convention (width = right - left + 1).  Integer rects are dlib.rectangle,
float rects are dlib.drectangle.  Points are [x, y].  Floats that dlib computes
in float32 (descriptors, detection confidences) are written with 9 significant
digits, which round-trips a float32 exactly; float64 values (chip_details) are
written with Python's repr (round-trips a float64 exactly).

{
  "schema": 1,
  "generator": "scripts/faces/dlib_reference.py",
  "versions": {"dlib": str, "python": str, "numpy": str, "pillow": str},
  "models": {"detector"|"shape_predictor"|"recognition":
              {"file": str, "sha256": str, "bytes": int}},
  "settings": {"upsample": [0, 1], "chip_size": 150, "chip_padding": 0.25,
               "num_jitters": 0, "faces_from": str},
  "images": [{
    "file": "astronaut.png",           # in fixtures/images/
    "width": int, "height": int,
    "png_mode": "RGB" | "L",           # mode stored in the PNG
    "rgb_sha256": str,                 # sha256 of the HxWx3 RGB bytes fed to dlib
    "pyramid_up": {                    # the image the CNN runs on at upsample 1
      "rows": int, "cols": int,        # = 2*H+1, 2*W+2 (dlib's rect_up + lround)
      "sha256": str,                   # of dlib.resize_image(img, rows, cols) bytes
      "detections_match": bool         # detector(up, 0) mapped back == detector(img, 1)
    },
    "detections": {"0": [DET...], "1": [DET...]},
        # DET = {"rect": [l,t,r,b] (int), "confidence": float}, in dlib's order
    "faces_from_upsample": 0 | 1,
    "faces": [{
      "det_index": int,                # index into detections[faces_from_upsample]
      "rect": [l,t,r,b],               # the box given to the shape predictor
      "landmarks": [[x,y] * 5],        # dlib 5-point order (int pixels)
      "chip_details": {"rect": [l,t,r,b] (float), "angle": float (radians),
                       "rows": 150, "cols": 150},
      "chip_pyramid_level": int,       # -1: chip sampled bilinearly from the image
                                       # itself; k>=0: from pyramid_down<2> level k
      "chip_file": "chips/astronaut_0.png",
      "chip_sha256": str,              # of the 150x150x3 RGB bytes
      "descriptor_from_chip": [128 floats],
      "descriptor_full": [128 floats],
      "from_chip_vs_full_max_abs_diff": float,
      "identity": str | null           # who it is, where known (for distance checks)
    }],
    "shape_probes": [{                 # predictor on hand-chosen boxes
      "name": str, "rect": [l,t,r,b] (int), "landmarks": [[x,y] * 5]
    }]
  }],
  "pairs": [{"a": "file#i", "b": "file#i", "same_person": bool,
             "distance": float}],      # Euclidean, descriptor_full, labelled faces
  "summary": {...}                     # counts and same/different distance ranges
}
"""

import argparse
import hashlib
import json
import math
import os
import platform
import re
import sys

import dlib
import numpy as np
import PIL
from PIL import Image

MODEL_FILES = {
    "detector": "mmod_human_face_detector.dat",
    "shape_predictor": "shape_predictor_5_face_landmarks.dat",
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
}
CHIP_SIZE = 150
CHIP_PADDING = 0.25
NUM_JITTERS = 0

# Who is in which single-person image (used only for the distance checks).
IDENTITIES = {
    "astronaut.png": "Eileen Collins",
    "grace_hopper.png": "Grace Hopper",
    "hopper_small.png": "Grace Hopper",
    "edwin_a.png": "Edwin Torres",
    "edwin_b.png": "Edwin Torres",
    "sally_ride.png": "Sally Ride",
    "cameraman.png": "cameraman (skimage camera)",
}

# Hand-chosen boxes for the shape predictor, relative to the first face's box:
# (name, dx, dy, scale) with dx, dy as fractions of the box size.
PROBES = {
    "astronaut.png": [("shift_right_down", 0.10, 0.05, 1.0), ("grow_20pct", 0.0, 0.0, 1.2),
                      ("shrink_20pct_shift_left", -0.08, 0.0, 0.8)],
    "edwin_a.png": [("shift_left_up", -0.10, -0.08, 1.0), ("grow_30pct", 0.0, 0.0, 1.3)],
    "hopper_small.png": [("grow_50pct", 0.0, 0.0, 1.5)],
    # Box hanging over the left/top image border: pixels outside read as 0.
    "sally_ride.png": [("partly_outside", None, None, None)],
}


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def f32(x):
    """9 significant digits: exact for float32 values."""
    return float(f"{float(x):.9g}")


def rect_list(r):
    return [r.left(), r.top(), r.right(), r.bottom()]


def pyramid_up_dims(h, w):
    # dlib pyramid_up: uprect = pyramid_down<2>::rect_up(get_rect(img)), where
    # point_up(p) = (p + (1.25, 0.75)) * 2, then rectangle(drectangle) uses lround.
    def lround(x):
        return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))
    right = lround(((w - 1) + 1.25) * 2)
    bottom = lround(((h - 1) + 0.75) * 2)
    return bottom + 1, right + 1


def rect_down_d(l, t, r, b):
    # pyramid_down<2>::point_down(p) = p/2 - (1.25, 0.75)
    return (l / 2 - 1.25, t / 2 - 0.75, r / 2 - 1.25, b / 2 - 0.75)


def darea(l, t, r, b):
    # dlib::drectangle: width = r - l + 1, height = b - t + 1 (0 if empty)
    if t > b or l > r:
        return 0.0
    return (r - l + 1) * (b - t + 1)


def chip_pyramid_level(cd):
    # Mirrors extract_image_chips(): which pyramid level the chip is sampled from.
    rect = (cd.rect.left(), cd.rect.top(), cd.rect.right(), cd.rect.bottom())
    size = cd.rows * cd.cols
    level = -1
    while darea(*rect_down_d(*rect)) > size:
        level += 1
        rect = rect_down_d(*rect)
    return level


def det_list(dets):
    return [{"rect": rect_list(d.rect), "confidence": f32(d.confidence)} for d in dets]


def landmarks(shape):
    return [[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)]


def probe_rect(name, base, dx, dy, scale, w, h):
    l, t, r, b = base
    bw, bh = r - l + 1, b - t + 1
    if name == "partly_outside":
        # same size as the face box, moved so ~30% hangs over the left and top edges
        nl, nt = -int(round(0.3 * bw)), -int(round(0.3 * bh))
        return [nl, nt, nl + bw - 1, nt + bh - 1]
    cx, cy = (l + r) / 2 + dx * bw, (t + b) / 2 + dy * bh
    nw, nh = bw * scale, bh * scale
    return [int(round(cx - (nw - 1) / 2)), int(round(cy - (nh - 1) / 2)),
            int(round(cx + (nw - 1) / 2)), int(round(cy + (nh - 1) / 2))]


def compact_json(obj):
    text = json.dumps(obj, indent=1, ensure_ascii=False)
    # put arrays of plain numbers (and [[x,y],...] point lists) on one line
    num = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
    flat = re.compile(r"\[\s*(" + num + r"(?:,\s*" + num + r")*)\s*\]")
    text = flat.sub(lambda m: "[" + ",".join(re.split(r",\s*", m.group(1).strip())) + "]", text)
    pts = re.compile(r"\[\s*(\[[^\[\]]*\](?:,\s*\[[^\[\]]*\])*)\s*\]")
    text = pts.sub(lambda m: "[" + ",".join(re.split(r",\s*(?=\[)", m.group(1).strip())) + "]", text)
    return text + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="folder with the three .dat files, or the three paths")
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap.add_argument("--fixtures", default=os.path.join(root, "crates", "faces", "tests", "fixtures"))
    args = ap.parse_args()

    if len(args.models) == 1 and os.path.isdir(args.models[0]):
        paths = {k: os.path.join(args.models[0], v) for k, v in MODEL_FILES.items()}
    elif len(args.models) == 3:
        paths = dict(zip(["detector", "shape_predictor", "recognition"], args.models))
    else:
        ap.error("give a folder or exactly three model paths")

    fx = args.fixtures
    img_dir = os.path.join(fx, "images")
    chip_dir = os.path.join(fx, "chips")
    os.makedirs(chip_dir, exist_ok=True)
    for old in os.listdir(chip_dir):
        if old.endswith(".png"):
            os.remove(os.path.join(chip_dir, old))

    detector = dlib.cnn_face_detection_model_v1(paths["detector"])
    predictor = dlib.shape_predictor(paths["shape_predictor"])
    facerec = dlib.face_recognition_model_v1(paths["recognition"])

    out = {
        "schema": 1,
        "generator": "scripts/faces/dlib_reference.py",
        "versions": {"dlib": dlib.__version__, "python": platform.python_version(),
                     "numpy": np.__version__, "pillow": PIL.__version__},
        "models": {k: {"file": os.path.basename(p), "sha256": sha256_file(p),
                       "bytes": os.path.getsize(p)} for k, p in paths.items()},
        "settings": {"upsample": [0, 1], "chip_size": CHIP_SIZE, "chip_padding": CHIP_PADDING,
                     "num_jitters": NUM_JITTERS,
                     "faces_from": "upsample 1 detections if any, else upsample 0"},
        "images": [],
    }

    labelled = []  # (key, identity, descriptor)
    for fname in sorted(os.listdir(img_dir)):
        if not fname.endswith(".png"):
            continue
        stem = fname[:-4]
        pil = Image.open(os.path.join(img_dir, fname))
        mode = pil.mode
        img = np.ascontiguousarray(np.asarray(pil.convert("RGB"), dtype=np.uint8))
        h, w = img.shape[:2]
        print(f"{fname}: {w}x{h} {mode}", file=sys.stderr, flush=True)

        dets = {up: detector(img, up) for up in (0, 1)}

        up_rows, up_cols = pyramid_up_dims(h, w)
        up_img = np.ascontiguousarray(dlib.resize_image(img, up_rows, up_cols))
        up_dets = detector(up_img, 0)
        mapped = []
        for d in up_dets:
            l, t, r, b = rect_down_d(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom())
            mapped.append([int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))
                           for v in (l, t, r, b)])
        match = (mapped == [rect_list(d.rect) for d in dets[1]] and
                 [f32(d.confidence) for d in up_dets] == [f32(d.confidence) for d in dets[1]])

        rec = {
            "file": fname, "width": w, "height": h, "png_mode": mode,
            "rgb_sha256": sha256_bytes(img.tobytes()),
            "pyramid_up": {"rows": up_rows, "cols": up_cols,
                           "sha256": sha256_bytes(up_img.tobytes()),
                           "detections_match": bool(match)},
            "detections": {str(up): det_list(d) for up, d in dets.items()},
        }
        src_up = 1 if len(dets[1]) > 0 else 0
        rec["faces_from_upsample"] = src_up
        faces = []
        ident = IDENTITIES.get(fname) if len(dets[src_up]) == 1 else None
        for i, d in enumerate(dets[src_up]):
            shape = predictor(img, d.rect)
            chip = np.ascontiguousarray(dlib.get_face_chip(img, shape, size=CHIP_SIZE, padding=CHIP_PADDING))
            cd = dlib.get_face_chip_details(shape, CHIP_SIZE, CHIP_PADDING)
            chip_name = f"{stem}_{i}.png"
            Image.fromarray(chip, "RGB").save(os.path.join(chip_dir, chip_name), optimize=True)
            chip_back = np.ascontiguousarray(np.asarray(Image.open(os.path.join(chip_dir, chip_name)).convert("RGB")))
            assert np.array_equal(chip_back, chip), "PNG round trip changed the chip"
            d_chip = np.array(facerec.compute_face_descriptor(chip_back, num_jitters=NUM_JITTERS))
            d_full = np.array(facerec.compute_face_descriptor(img, shape, num_jitters=NUM_JITTERS))
            assert np.all(d_full.astype(np.float32).astype(np.float64) == d_full)
            faces.append({
                "det_index": i,
                "rect": rect_list(d.rect),
                "landmarks": landmarks(shape),
                "chip_details": {"rect": [cd.rect.left(), cd.rect.top(), cd.rect.right(), cd.rect.bottom()],
                                 "angle": cd.angle, "rows": cd.rows, "cols": cd.cols},
                "chip_pyramid_level": chip_pyramid_level(cd),
                "chip_file": "chips/" + chip_name,
                "chip_sha256": sha256_bytes(chip.tobytes()),
                "descriptor_from_chip": [f32(v) for v in d_chip],
                "descriptor_full": [f32(v) for v in d_full],
                "from_chip_vs_full_max_abs_diff": f32(np.max(np.abs(d_chip - d_full))),
                "identity": ident,
            })
            if ident is not None:
                labelled.append((f"{fname}#{i}", ident, d_full))
        rec["faces"] = faces

        probes = []
        if faces:
            for name, dx, dy, scale in PROBES.get(fname, []):
                r = probe_rect(name, faces[0]["rect"], dx, dy, scale, w, h)
                shape = predictor(img, dlib.rectangle(*r))
                probes.append({"name": name, "rect": r, "landmarks": landmarks(shape)})
        rec["shape_probes"] = probes
        out["images"].append(rec)

    pairs = []
    for i in range(len(labelled)):
        for j in range(i + 1, len(labelled)):
            ka, ia, da = labelled[i]
            kb, ib, db = labelled[j]
            pairs.append({"a": ka, "b": kb, "same_person": ia == ib,
                          "distance": f32(np.linalg.norm(da - db))})
    out["pairs"] = pairs
    same = [p["distance"] for p in pairs if p["same_person"]]
    diff = [p["distance"] for p in pairs if not p["same_person"]]

    # all faces (including unlabelled group members): closest pair of distinct faces
    allf = [(f"{im['file']}#{f['det_index']}", np.array(f["descriptor_full"]))
            for im in out["images"] for f in im["faces"]]
    out["summary"] = {
        "faces_per_image": {im["file"]: len(im["faces"]) for im in out["images"]},
        "no_detection_at_upsample_0": [im["file"] for im in out["images"] if not im["detections"]["0"]],
        "same_person_distance_max": max(same) if same else None,
        "different_person_distance_min": min(diff) if diff else None,
        "threshold_commonly_used": 0.6,
        "all_faces_distinct_pair_min": min(
            ((f32(np.linalg.norm(a[1] - b[1])), a[0], b[0])
             for k, a in enumerate(allf) for b in allf[k + 1:]
             if not (IDENTITIES.get(a[0].split("#")[0]) and
                     IDENTITIES.get(a[0].split("#")[0]) == IDENTITIES.get(b[0].split("#")[0]))),
            default=None),
    }

    path = os.path.join(fx, "dlib_reference.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(compact_json(out))
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
