#!/usr/bin/env bash
# ResNet inference at 150x150, casebook against PyTorch on the CPU in one run:
# the built-in face encoder (dlib's ResNet, `embed_batch_1` / `embed_batch_32`
# of crates/faces/benches/faces.rs, criterion) and the same network in
# PyTorch (bench/resnet_torch.py), batches of 1 and 32, same threads.
#
#   bench/resnet.sh
#
# The two alternate for BENCH_ROUNDS rounds (default 3), each round giving
# its own ratio, and the median ratio is the result: on a shared machine a
# burst of other work lands on one side of a single comparison (one run
# gave 1.14x and the next 0.91x).
#
# BENCH_THREADS (default nproc); TORCH_PYTHON (a python with torch; default
# .venv/bin/python, else python3). The PyTorch part is skipped, with a
# message, when torch cannot be imported.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
threads=${BENCH_THREADS:-$(nproc)}
rounds=${BENCH_ROUNDS:-3}
export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
python=$(torch_python)
cargo bench -p casebook-faces --bench faces --no-run
results=()
for round in $(seq "$rounds"); do
  echo "== round $round: casebook ($threads threads)"
  cargo bench -p casebook-faces --bench faces -- --noplot embed_batch 2>&1 | grep -E "^faces/|time:"
  b1=$(criterion_ms faces/embed_batch_1)
  b32=$(criterion_ms faces/embed_batch_32)
  if [ -z "$python" ]; then
    echo "casebook: batch 1 $b1 ms, batch 32 $b32 ms"
    skip_torch
    exit 0
  fi
  echo "== round $round: PyTorch ($python)"
  torch_json=$(BENCH_THREADS=$threads "$python" bench/resnet_torch.py)
  echo "$torch_json"
  results+=("$b1 $b32 $torch_json")
done
python3 - "${results[@]}" <<'PY'
import json, statistics, sys
rounds = []
for arg in sys.argv[1:]:
    b1, b32, t = arg.split(" ", 2)
    t = json.loads(t)
    rounds.append((float(b1), t["batch_1_ms"], float(b32), t["batch_32_ms"]))
for batch, ours, theirs in ((1, 0, 1), (32, 2, 3)):
    ratios = [r[ours] / r[theirs] for r in rounds]
    each = ", ".join(f"{r[ours]:.1f}/{r[theirs]:.1f}" for r in rounds)
    print(f"ResNet 150x150 batch {batch}: casebook/PyTorch ms per round {each} "
          f"-> casebook/PyTorch = {statistics.median(ratios):.2f}x (median of {len(ratios)}; "
          f"{min(ratios):.2f}-{max(ratios):.2f}x)")
PY
