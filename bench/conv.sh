#!/usr/bin/env bash
# Every layer of bench/conv_layers.txt alone, in one run: casebook's routed
# convolution and burn's own (crates/vision/benches/conv.rs) beside PyTorch
# (bench/conv_torch.py), same shapes, passes and threads, best of
# CONV_BENCH_RUNS runs each (the least disturbed on a shared machine).
#
#   bench/conv.sh [NAME-FILTER]
#
# BENCH_THREADS (default nproc); TORCH_PYTHON (a python with torch; default
# .venv/bin/python, else python3). Without torch the PyTorch column is empty.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
threads=${BENCH_THREADS:-$(nproc)}
export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads BENCH_THREADS=$threads
python=$(torch_python)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo bench -q -p casebook-vision --bench conv -- "${1:-}" > "$work/casebook.jsonl"
if [ -n "$python" ]; then
  "$python" bench/conv_torch.py ${1:+"$1"} > "$work/torch.jsonl"
else
  skip_torch
  : > "$work/torch.jsonl"
fi
python3 - "$work/casebook.jsonl" "$work/torch.jsonl" "$threads" <<'PY'
import json, sys
ours = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
torch = {d["name"]: d["torch_ms"] for d in map(json.loads, open(sys.argv[2]))}
print(f"ms per pass, best of runs, {sys.argv[3]} threads (pass: see bench/conv_layers.txt)")
print(f"{'layer':22} {'casebook':>9} {'burn':>9} {'PyTorch':>9} {'casebook/PyTorch':>17}")
for d in ours:
    t = torch.get(d["name"])
    ratio = f"{d['casebook_ms'] / t:.2f}x" if t else "-"
    tcol = f"{t:9.2f}" if t else f"{'-':>9}"
    print(f"{d['name']:22} {d['casebook_ms']:9.2f} {d['burn_ms']:9.2f} {tcol} {ratio:>17}")
PY
