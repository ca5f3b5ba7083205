#!/usr/bin/env python3
"""DET curves of several `casebook trigger eval` runs in one SVG (no plotting library needed).

    python3 scripts/trigger/det_plot.py OUT.svg "label=runs/NAME/metrics.json" ...

x: false accepts per hour (log scale, 0.1-1000; zero is drawn at 0.1), y: false-reject rate (%).
"""
import json
import math
import sys

W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 400, 60, 20, 30, 50
X_MIN, X_MAX, Y_MAX = 0.1, 1000.0, 100.0
COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]


def x_of(fa):
    fa = min(max(fa, X_MIN), X_MAX)
    return LEFT + (math.log10(fa) - math.log10(X_MIN)) / (math.log10(X_MAX) - math.log10(X_MIN)) * (W - LEFT - RIGHT)


def y_of(frr):
    return TOP + (1 - frr / Y_MAX) * (H - TOP - BOTTOM)


def main():
    out, runs = sys.argv[1], sys.argv[2:]
    if not runs:
        sys.exit(__doc__)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
             f'<rect width="{W}" height="{H}" fill="white"/>']
    for fa in (0.1, 0.5, 1, 10, 100, 1000):
        x = x_of(fa)
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{H - BOTTOM}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{fa:g}</text>')
    for frr in range(0, 101, 20):
        y = y_of(frr)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{frr}</text>')
    parts.append(f'<text x="{(W + LEFT) / 2}" y="{H - 12}" text-anchor="middle">false accepts per hour (log)</text>')
    parts.append(f'<text transform="translate(16 {(H - BOTTOM + TOP) / 2}) rotate(-90)" text-anchor="middle">false-reject rate (%)</text>')
    parts.append(f'<line x1="{x_of(0.5):.1f}" y1="{TOP}" x2="{x_of(0.5):.1f}" y2="{H - BOTTOM}" stroke="#888" stroke-dasharray="4 3"/>')
    for i, spec in enumerate(runs):
        label, path = spec.split("=", 1)
        curve = json.load(open(path))["det_curve"]
        points = sorted((p["false_accepts_per_hour"], 100 * p["false_reject_rate"]) for p in curve)
        colour = COLOURS[i % len(COLOURS)]
        line = " ".join(f"{x_of(fa):.1f},{y_of(frr):.1f}" for fa, frr in points)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        y = TOP + 8 + 16 * i
        parts.append(f'<line x1="{W - RIGHT - 250}" y1="{y}" x2="{W - RIGHT - 230}" y2="{y}" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{W - RIGHT - 225}" y="{y + 4}">{label}</text>')
    parts.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
