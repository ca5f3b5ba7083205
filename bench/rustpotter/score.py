#!/usr/bin/env python3
"""Scores detections the way `casebook trigger eval` does.

    score.py DETECTIONS.csv FOLDER... [--hit-window S]

DETECTIONS.csv: folder,file,time_s,score (as `rustpotter-bench detect`
writes it, at a low threshold). Each FOLDER has WAV files and labels.csv
(file,start_s,end_s: one row per trigger word). For every threshold t in
0.30, 0.31, ..., 0.99, 0.991, ..., 0.999 the detections scoring >= t are
matched in time order: a detection is a hit for the first unused word with
start <= time <= end + hit window (1.0 s), else a false accept; a word
without a hit is missed. Hours are those of all WAVs of all folders.
"""
import csv
import os
import struct
import sys
import wave
from collections import defaultdict


def f32(x):
    """x rounded to single precision, as rustpotter compares scores."""
    return struct.unpack("f", struct.pack("f", x))[0]


def load_folders(folders):
    """(seconds of audio, {(folder, file): [(start, end), ...]} for every WAV)."""
    seconds, words = 0.0, {}
    for folder in folders:
        folder = os.path.normpath(folder)
        names = sorted(n for n in os.listdir(folder) if n.endswith(".wav"))
        for name in names:
            with wave.open(os.path.join(folder, name)) as w:
                seconds += w.getnframes() / w.getframerate()
            words[(folder, name)] = []
        with open(os.path.join(folder, "labels.csv"), newline="") as f:
            for row in csv.DictReader(f):
                words[(folder, row["file"])].append((float(row["start_s"]), float(row["end_s"])))
    for spans in words.values():
        spans.sort()
    return seconds, words


def load_detections(path, files):
    """{(folder, file): [(time, score), ...]} in time order; only files of `files`."""
    detections = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (os.path.normpath(row["folder"]), row["file"])
            if key in files:
                detections[key].append((float(row["time_s"]), f32(float(row["score"]))))
    for d in detections.values():
        d.sort()
    return detections


def operating_point(words, detections, threshold, hit_window):
    """(missed, false accepts, latencies after word ends) at `threshold`."""
    missed, false_accepts, latencies = 0, 0, []
    t = f32(threshold)
    for key, spans in words.items():
        used = [False] * len(spans)
        for time, score in detections.get(key, []):
            if score < t:
                continue
            hit = next(
                (i for i, (start, end) in enumerate(spans)
                 if not used[i] and start <= time <= end + hit_window),
                None,
            )
            if hit is None:
                false_accepts += 1
            else:
                used[hit] = True
                latencies.append(time - spans[hit][1])
        missed += used.count(False)
    return missed, false_accepts, latencies


def main(argv):
    hit_window = 1.0
    if "--hit-window" in argv:
        i = argv.index("--hit-window")
        hit_window = float(argv[i + 1])
        del argv[i:i + 2]
    if len(argv) < 2:
        sys.exit(__doc__)
    seconds, words = load_folders(argv[1:])
    detections = load_detections(argv[0], words)
    hours = seconds / 3600
    total = sum(len(s) for s in words.values())
    print(f"{total} words, {hours:.3f} h of audio in {len(words)} files; hit window {hit_window} s")
    print(f"{'threshold':>9} {'FRR %':>6} {'missed':>6} {'FA/h':>7} {'FA':>5} {'latency s':>9}")
    thresholds = [i / 100 for i in range(30, 100)] + [i / 1000 for i in range(991, 1000)]
    points = []
    for t in thresholds:
        missed, fa, latencies = operating_point(words, detections, t, hit_window)
        frr, fa_h = missed / max(total, 1), fa / hours
        points.append((t, frr, fa_h))
        latency = f"{sum(latencies) / len(latencies):9.2f}" if latencies else f"{'-':>9}"
        print(f"{t:9.3f} {100 * frr:6.1f} {missed:6d} {fa_h:7.2f} {fa:5d} {latency}")
    for target in (0.5, 1.0):
        meeting = next((p for p in points if p[2] <= target), None)
        if meeting is None:
            print(f"FA/h <= {target}: no threshold up to 0.999 reaches it")
        else:
            t, frr, fa_h = meeting
            print(f"FA/h <= {target}: threshold {t:.3f}, FRR {100 * frr:.1f} %, {fa_h:.2f} FA/h")


if __name__ == "__main__":
    main(sys.argv[1:])
