#!/usr/bin/env python3
"""dlib's own face verification on a pairs file, scored like `casebook face eval`.

    python scripts/faces/dlib_verify.py DATA PAIRS MODELS [--upsample 1] [--out result.json]
        [--cache dlib_faces.json] [--casebook BIN] [--casebook-run RUN_DIR]

DATA is a folder in LFW layout (one sub-folder per person); PAIRS a pairs file
as `casebook face eval` writes it into its run folder (pairs.txt: a
"folds per-fold" header, then per fold its same pairs `person a b` and its
different pairs `person1 a person2 b`; LFW's own numbered pairs.txt works too).
MODELS is the folder of face_recognition_models 0.3.0 (PyPI, CC0) holding
mmod_human_face_detector.dat, shape_predictor_5_face_landmarks.dat and
dlib_face_recognition_resnet_model_v1.dat (or set DLIB_MODELS).

The pipeline is casebook's: dlib.cnn_face_detection_model_v1 (MMOD) at
--upsample (default 1); the largest face (by box area, then detector score,
then detection order); shape_predictor (5 points); dlib.get_face_chip(img,
shape, size=150, padding=0.25); face_recognition_model_v1.compute_face_descriptor
on that chip (no jitter); Euclidean distance.  Images are decoded with Pillow
and converted to RGB.  A pair with a photo without a face is left out (as
casebook does).

Scoring is casebook's (crates/faces/src/eval.rs): for each fold the threshold
that classifies the other folds best (same <=> distance <= threshold, halfway
between neighbouring distances), its accuracy on the fold; mean and population
std over folds; ROC AUC over all pairs (score = -distance); and the accuracy at
the fixed threshold 0.6 (dlib's published one; --threshold to change).

--casebook BIN also runs casebook on the same images and pairs, one after the
other (never both at once): `BIN face detect --json --crops` on every image of
the pairs (faces per image; box, landmarks and 150x150 chip of the main face
compared with dlib's) and `BIN face verify --json` on every pair (its distance
compared with dlib's: verdicts at the fixed threshold, max |difference|), and
scores casebook's distances with the same protocol.  --casebook-run RUN_DIR adds
the figures from that `face eval` run's metrics.json for comparison.

--cache keeps dlib's per-image results (JSON) so an interrupted run resumes;
--out writes everything (per image, per pair, summaries) as JSON.  Needs the
`dlib` module (pip install dlib-bin==20.0.1), numpy and pillow.  dlib-bin has
no BLAS: about 7 s per 400x400 image at upsample 1 on one core.
"""
import argparse
import hashlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import dlib
import numpy as np
from PIL import Image

MODEL_FILES = {
    "detector": "mmod_human_face_detector.dat",
    "shape_predictor": "shape_predictor_5_face_landmarks.dat",
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
}


def f32(x):
    return float(f"{float(x):.9g}")


# ---------------------------------------------------------------- pairs

def read_pairs(path, data):
    """[(a, b, same, fold)], folds -- the format casebook's read_pairs accepts."""
    lines = [l for l in open(path, encoding="utf-8").read().splitlines() if l.strip()]
    header = [int(t) for t in lines[0].split() if t.isdigit()]
    if len(header) != 2 or header[0] < 2 or header[1] < 1:
        sys.exit(f"{path} line 1: expected \"folds pairs-per-fold\"")
    folds, per_fold = header

    def file(person, token):
        if token.isdigit():
            stem = f"{person}_{int(token):04d}"
            jpg = os.path.join(person, stem + ".jpg")
            return jpg if os.path.exists(os.path.join(data, jpg)) else os.path.join(person, stem + ".png")
        return os.path.join(person, token)

    pairs = []
    for i, line in enumerate(lines[1:]):
        f = line.split()
        fold = i // (2 * per_fold)
        if len(f) == 3:
            pairs.append((file(f[0], f[1]), file(f[0], f[2]), True, fold))
        elif len(f) == 4:
            pairs.append((file(f[0], f[1]), file(f[2], f[3]), False, fold))
        else:
            sys.exit(f"{path} line {i + 2}: expected `person a b` or `person1 a person2 b`")
    if len(pairs) != 2 * folds * per_fold:
        sys.exit(f"{path} holds {len(pairs)} pairs, but its header promises {folds} folds of 2x{per_fold}")
    return pairs, folds


# ---------------------------------------------------------------- scoring (as eval.rs)

def best_threshold(scored):
    s = sorted(scored, key=lambda x: x[0])
    total_different = sum(1 for _, same in s if not same)
    best, best_correct = (s[0][0] - 1e-3 if s else 0.0), total_different
    correct = total_different
    for i, (d, same) in enumerate(s):
        correct += 1 if same else -1
        last_of_tie = i + 1 == len(s) or s[i + 1][0] != d
        if last_of_tie and correct > best_correct:
            best_correct = correct
            best = (d + s[i + 1][0]) / 2 if i + 1 < len(s) else d + 1e-3
    return best, best_correct / max(1, len(s))


def auc(scored):
    """P(distance of a same pair < distance of a different pair), ties half."""
    same = sorted(d for d, s in scored if s)
    diff = sorted(d for d, s in scored if not s)
    if not same or not diff:
        return float("nan")
    total = 0.0
    for d in same:
        lo = sum(1 for x in diff if x < d)  # small sets: clarity over speed
        eq = sum(1 for x in diff if x == d)
        total += len(diff) - lo - eq + 0.5 * eq
    return total / (len(same) * len(diff))


def score(scored, folds, fixed):
    """scored: [(distance, same, fold)] -> the protocol's figures."""
    results = []
    for k in range(folds):
        train = [(d, s) for d, s, f in scored if f != k]
        test = [(d, s) for d, s, f in scored if f == k]
        if not train or not test:
            continue
        t, _ = best_threshold(train)
        results.append({"fold": k, "threshold": t, "pairs": len(test),
                        "accuracy": sum((d <= t) == s for d, s in test) / len(test)})
    accs = [r["accuracy"] for r in results]
    mean = sum(accs) / len(accs)
    std = math.sqrt(sum((a - mean) ** 2 for a in accs) / len(accs))
    flat = [(d, s) for d, s, _ in scored]
    t_all, acc_all = best_threshold(flat)
    same_d = [d for d, s in flat if s]
    diff_d = [d for d, s in flat if not s]
    return {
        "pairs": len(flat), "same_pairs": len(same_d), "different_pairs": len(diff_d),
        "mean_accuracy": mean, "std_accuracy": std, "folds": results,
        "auc": auc(flat),
        "threshold_all_pairs": t_all, "threshold_all_pairs_accuracy": acc_all,
        "fixed_threshold": fixed,
        "accuracy_at_fixed": sum((d <= fixed) == s for d, s in flat) / len(flat),
        "same_distance": [min(same_d), float(np.median(same_d)), max(same_d)],
        "different_distance": [min(diff_d), float(np.median(diff_d)), max(diff_d)],
    }


# ---------------------------------------------------------------- dlib

def rgb(path):
    return np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8))


def main_face(dets):
    """Largest box, then highest score, then first (casebook's infer::main_face)."""
    if not dets:
        return None
    return min(range(len(dets)), key=lambda i: (-dets[i].rect.area(), -dets[i].confidence, i))


def rect_list(r):
    return [r.left(), r.top(), r.right(), r.bottom()]


def analyse(models, path, upsample):
    detector, predictor, facerec = models
    img = rgb(path)
    dets = detector(img, upsample)
    rec = {"size": [img.shape[1], img.shape[0]], "faces": len(dets),
           "detections": [{"rect": rect_list(d.rect), "confidence": f32(d.confidence)} for d in dets]}
    i = main_face(dets)
    if i is None:
        return rec
    shape = predictor(img, dets[i].rect)
    chip = np.ascontiguousarray(dlib.get_face_chip(img, shape, size=150, padding=0.25))
    desc = facerec.compute_face_descriptor(chip, num_jitters=0)
    rec.update({
        "main": i,
        "landmarks": [[shape.part(k).x, shape.part(k).y] for k in range(shape.num_parts)],
        "chip_sha256": hashlib.sha256(chip.tobytes()).hexdigest(),
        "descriptor": [f32(v) for v in desc],
    })
    return rec


def dist(a, b):
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def all_pairs(images, fixed):
    """Every unordered pair of images with a face (same = same person folder), no folds."""
    keys = sorted(k for k, v in images.items() if "descriptor" in v)
    vec = np.array([images[k]["descriptor"] for k in keys], dtype=np.float64)
    person = [os.path.dirname(os.path.normpath(k)) for k in keys]
    d = np.sqrt(((vec[:, None, :] - vec[None, :, :]) ** 2).sum(-1))
    iu = np.triu_indices(len(keys), 1)
    dist_all = d[iu]
    same = np.array([person[i] == person[j] for i, j in zip(*iu)])
    s, o = dist_all[same], np.sort(dist_all[~same])
    # AUC by ranks (ties half)
    lo = np.searchsorted(o, s, side="left")
    hi = np.searchsorted(o, s, side="right")
    auc_v = float(((len(o) - hi) + 0.5 * (hi - lo)).sum() / (len(s) * len(o)))
    # TAR at FAR <= 1e-3: the largest threshold t with (#different <= t) <= 1e-3 * #different
    k = int(math.floor(1e-3 * len(o)))
    t = o[k] if k < len(o) else np.inf  # accept d < o[k]: at most k false accepts
    flat = list(zip(dist_all.tolist(), same.tolist()))
    t_all, acc_all = best_threshold(flat)
    i_same, i_diff = int(np.argmax(np.where(same, dist_all, -1))), int(np.argmin(np.where(~same, dist_all, np.inf)))
    pair = lambda n: [keys[iu[0][n]], keys[iu[1][n]], float(dist_all[n])]
    return {
        "images": len(keys), "same_pairs": int(same.sum()), "different_pairs": int((~same).sum()),
        "auc": auc_v, "fixed_threshold": fixed,
        "accuracy_at_fixed": float(((dist_all <= fixed) == same).mean()),
        "tar_at_fixed": float((s <= fixed).mean()), "far_at_fixed": float((o <= fixed).mean()),
        "tar_at_far_1e-3": float((s < t).mean()),
        "threshold_all_pairs": t_all, "threshold_all_pairs_accuracy": acc_all,
        "farthest_same": pair(i_same), "closest_different": pair(i_diff),
    }


# ---------------------------------------------------------------- casebook

def casebook_detect(binary, data, files, upsample):
    out = {f: [] for f in files}
    with tempfile.TemporaryDirectory() as crops:
        r = subprocess.run([binary, "face", "detect", "--json", "--quiet", "--upsample", str(upsample),
                            "--crops", crops, *files], cwd=data, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"casebook face detect failed: {r.stderr.strip()}")
        for line in r.stdout.splitlines():
            if line.startswith("{"):
                face = json.loads(line)
                stem = os.path.splitext(os.path.basename(face["file"]))[0]
                chip_path = os.path.join(crops, f"{stem}_{face['face']}.png")
                if os.path.exists(chip_path):
                    face["chip_sha256"] = hashlib.sha256(rgb(chip_path).tobytes()).hexdigest()
                out.setdefault(os.path.normpath(face["file"]), []).append(face)
    return out


def casebook_main(faces):
    if not faces:
        return None
    area = lambda f: (f["box"][2] - f["box"][0] + 1) * (f["box"][3] - f["box"][1] + 1)
    return min(range(len(faces)), key=lambda i: (-area(faces[i]), -faces[i]["score"], i))


def casebook_verify(binary, data, a, b, upsample):
    r = subprocess.run([binary, "face", "verify", "--json", "--quiet", "--upsample", str(upsample), a, b],
                       cwd=data, capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line).get("distance")
    return None


# ---------------------------------------------------------------- main

def fmt(s):
    return (f"{100 * s['mean_accuracy']:.2f} % ± {100 * s['std_accuracy']:.2f} ({len(s['folds'])}-fold), AUC {s['auc']:.5f}, "
            f"{100 * s['accuracy_at_fixed']:.2f} % at {s['fixed_threshold']}, best threshold over all pairs "
            f"{s['threshold_all_pairs']:.3f} ({100 * s['threshold_all_pairs_accuracy']:.2f} %); "
            f"{s['same_pairs']} same / {s['different_pairs']} different pairs")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("data")
    ap.add_argument("pairs")
    ap.add_argument("models", nargs="?", default=os.environ.get("DLIB_MODELS"))
    ap.add_argument("--upsample", type=int, default=1)
    ap.add_argument("--threshold", type=float, default=0.6)
    ap.add_argument("--cache", help="JSON file keeping dlib's per-image results (resume)")
    ap.add_argument("--out", help="write all results here (JSON)")
    ap.add_argument("--casebook", metavar="BIN", help="also run this casebook binary and compare")
    ap.add_argument("--casebook-run", metavar="RUN_DIR", help="a `face eval` run folder to quote")
    ap.add_argument("--all-pairs", action="store_true",
                    help="also score every pair of the pairs file's images with dlib's vectors (no folds)")
    args = ap.parse_args()
    if not args.models:
        sys.exit("dlib_verify.py: give the models folder (or set DLIB_MODELS)")

    pairs, folds = read_pairs(args.pairs, args.data)
    files = sorted({p for a, b, _, _ in pairs for p in (a, b)})
    paths = {k: os.path.join(args.models, v) for k, v in MODEL_FILES.items()}
    models = (dlib.cnn_face_detection_model_v1(paths["detector"]), dlib.shape_predictor(paths["shape_predictor"]),
              dlib.face_recognition_model_v1(paths["recognition"]))
    settings = {"upsample": args.upsample, "dlib": dlib.__version__}
    cache = {}
    if args.cache and os.path.exists(args.cache):
        stored = json.load(open(args.cache))
        if stored.get("settings") == settings:
            cache = stored["images"]
    t0 = time.time()
    todo = [f for f in files if f not in cache]
    for n, f in enumerate(todo):
        cache[f] = analyse(models, os.path.join(args.data, f), args.upsample)
        if args.cache and (n % 10 == 9 or n + 1 == len(todo)):
            tmp = args.cache + ".tmp"
            json.dump({"settings": settings, "images": cache}, open(tmp, "w"))
            os.replace(tmp, args.cache)
        print(f"\rdlib: {n + 1}/{len(todo)} images ({time.time() - t0:.0f} s)", end="", file=sys.stderr, flush=True)
    if todo:
        print(file=sys.stderr)
    dlib_seconds = time.time() - t0
    images = {f: cache[f] for f in files}

    result = {"settings": {**settings, "pairs_file": os.path.abspath(args.pairs), "data": os.path.abspath(args.data),
                           "models": {k: hashlib.sha256(open(p, "rb").read()).hexdigest() for k, p in paths.items()},
                           "threshold": args.threshold},
              "images": images, "dlib_seconds_this_run": dlib_seconds}
    no_face = [f for f in files if images[f]["faces"] == 0]
    several = [f for f in files if images[f]["faces"] > 1]
    dl = {}
    for a, b, same, fold in pairs:
        if "descriptor" in images[a] and "descriptor" in images[b]:
            dl[(a, b)] = dist(images[a]["descriptor"], images[b]["descriptor"])
    scored = [(dl[(a, b)], same, fold) for a, b, same, fold in pairs if (a, b) in dl]
    result["dlib"] = score(scored, folds, args.threshold)
    result["dlib"].update({"images": len(files), "no_face": no_face, "several_faces": several,
                           "dropped_pairs": len(pairs) - len(scored)})
    print(f"images {len(files)}, pairs {len(pairs)} in {folds} folds")
    print(f"dlib {dlib.__version__}: no face in {len(no_face)} images {no_face}; several faces in {len(several)} {several}; "
          f"{len(pairs) - len(scored)} pairs left out")
    print("dlib:     " + fmt(result["dlib"]))

    if args.all_pairs:
        result["dlib_all_pairs"] = all_pairs(images, args.threshold)
        a = result["dlib_all_pairs"]
        print(f"dlib, every pair of these images: {a['same_pairs']} same / {a['different_pairs']} different; AUC "
              f"{a['auc']:.5f}; at {args.threshold}: {100 * a['accuracy_at_fixed']:.2f} % right, TAR "
              f"{100 * a['tar_at_fixed']:.2f} %, FAR {100 * a['far_at_fixed']:.3f} %; TAR at FAR=1e-3 "
              f"{100 * a['tar_at_far_1e-3']:.2f} %; closest different pair {a['closest_different']}; "
              f"farthest same pair {a['farthest_same']}")

    if args.casebook:
        t1 = time.time()
        cb_faces = casebook_detect(args.casebook, args.data, files, args.upsample)
        t_detect = time.time() - t1
        cmp_images = {"faces_count_differs": [], "box_differs": [], "landmarks_differ": [], "chip_differs": []}
        for f in files:
            cf, df = cb_faces.get(os.path.normpath(f), []), images[f]
            if len(cf) != df["faces"]:
                cmp_images["faces_count_differs"].append([f, len(cf), df["faces"]])
                continue
            i = casebook_main(cf)
            if i is None:
                continue
            if cf[i]["box"] != df["detections"][df["main"]]["rect"]:
                cmp_images["box_differs"].append([f, cf[i]["box"], df["detections"][df["main"]]["rect"]])
            if cf[i]["landmarks"] != df["landmarks"]:
                cmp_images["landmarks_differ"].append([f, cf[i]["landmarks"], df["landmarks"]])
            if cf[i].get("chip_sha256") != df["chip_sha256"]:
                cmp_images["chip_differs"].append(f)
        cb_no_face = [f for f in files if not cb_faces.get(os.path.normpath(f))]
        cb_several = [f for f in files if len(cb_faces.get(os.path.normpath(f), [])) > 1]
        t2 = time.time()
        cb = {}
        for n, (a, b, same, fold) in enumerate(pairs):
            cb[(a, b)] = casebook_verify(args.casebook, args.data, a, b, args.upsample)
            print(f"\rcasebook verify: {n + 1}/{len(pairs)} pairs ({time.time() - t2:.0f} s)", end="",
                  file=sys.stderr, flush=True)
        print(file=sys.stderr)
        t_verify = time.time() - t2
        cb_scored = [(cb[(a, b)], same, fold) for a, b, same, fold in pairs if cb[(a, b)] is not None]
        result["casebook"] = score(cb_scored, folds, args.threshold)
        result["casebook"].update({"no_face": cb_no_face, "several_faces": cb_several,
                                   "dropped_pairs": len(pairs) - len(cb_scored),
                                   "detect_seconds": t_detect, "verify_seconds": t_verify})
        both = [(a, b, same) for a, b, same, _ in pairs if (a, b) in dl and cb[(a, b)] is not None]
        diffs = sorted(((abs(dl[(a, b)] - cb[(a, b)]), a, b) for a, b, _ in both), reverse=True)
        verdicts = [[a, b, dl[(a, b)], cb[(a, b)]] for a, b, _ in both
                    if (dl[(a, b)] <= args.threshold) != (cb[(a, b)] <= args.threshold)]
        only_one = [[a, b] for a, b, _, _ in pairs if ((a, b) in dl) != (cb[(a, b)] is not None)]
        result["agreement"] = {
            "images": cmp_images, "pairs_compared": len(both),
            "pairs_scored_by_only_one": only_one,
            "max_abs_distance_difference": diffs[0][0] if diffs else None,
            "worst_pairs": [list(d) for d in diffs[:5]],
            "pairs_over_1e-4": sum(1 for d in diffs if d[0] > 1e-4),
            "verdicts_differ_at_fixed": verdicts,
        }
        result["pairs"] = [{"a": a, "b": b, "same": same, "fold": fold, "dlib": dl.get((a, b)),
                            "casebook": cb[(a, b)]} for a, b, same, fold in pairs]
        print(f"casebook: no face in {len(cb_no_face)} images {cb_no_face}; several faces in {len(cb_several)} "
              f"{cb_several}; {len(pairs) - len(cb_scored)} pairs left out")
        print("casebook: " + fmt(result["casebook"]) + "  (its own distances via `face verify`)")
        print(f"agreement: images with a different face count {len(cmp_images['faces_count_differs'])}, main-face box "
              f"differs {len(cmp_images['box_differs'])}, landmarks differ {len(cmp_images['landmarks_differ'])}, "
              f"150x150 chip differs {len(cmp_images['chip_differs'])}; over {len(both)} pairs max |distance "
              f"difference| {result['agreement']['max_abs_distance_difference']:.3g} "
              f"({diffs[0][1]} vs {diffs[0][2]}), pairs over 1e-4: {result['agreement']['pairs_over_1e-4']}, "
              f"verdicts differing at {args.threshold}: {len(verdicts)}")
        print(f"time: dlib {dlib_seconds:.0f} s for {len(todo)} new images; casebook detect {t_detect:.0f} s, "
              f"verify {t_verify:.0f} s for {len(pairs)} pairs")
    else:
        result["pairs"] = [{"a": a, "b": b, "same": same, "fold": fold, "dlib": dl.get((a, b))}
                           for a, b, same, fold in pairs]

    if args.casebook_run:
        m = json.load(open(os.path.join(args.casebook_run, "metrics.json")))
        result["casebook_eval_run"] = {k: m.get(k) for k in ("mean_accuracy", "std_accuracy", "auc", "threshold",
                                                               "threshold_accuracy", "same_pairs", "different_pairs")}
        r = result["casebook_eval_run"]
        print(f"casebook face eval ({args.casebook_run}): {100 * r['mean_accuracy']:.2f} % ± "
              f"{100 * r['std_accuracy']:.2f}, AUC {r['auc']:.5f}, best threshold {r['threshold']:.3f} "
              f"({100 * r['threshold_accuracy']:.2f} %); {r['same_pairs']} same / {r['different_pairs']} different pairs")

    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
