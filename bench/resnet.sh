#!/usr/bin/env bash
# ResNet inference at 150x150, casebook against PyTorch on the CPU in one run:
# the built-in face encoder (dlib's ResNet, `embed_batch_1` / `embed_batch_32`
# of crates/faces/benches/faces.rs, criterion) and the same network in
# PyTorch (bench/resnet_torch.py), batches of 1 and 32, same threads.
#
#   bench/resnet.sh
#
# BENCH_THREADS (default nproc); TORCH_PYTHON (a python with torch; default
# .venv/bin/python, else python3). The PyTorch part is skipped, with a
# message, when torch cannot be imported.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
threads=${BENCH_THREADS:-$(nproc)}
export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
python=$(torch_python)
echo "== casebook ($threads threads)"
cargo bench -p casebook-faces --bench faces -- --noplot embed_batch
b1=$(criterion_ms faces/embed_batch_1)
b32=$(criterion_ms faces/embed_batch_32)
echo "== PyTorch (${python:-none})"
if [ -n "$python" ]; then
  torch_json=$(BENCH_THREADS=$threads "$python" bench/resnet_torch.py)
  echo "$torch_json"
  python3 - "$b1" "$b32" "$torch_json" <<'PY'
import json, sys
b1, b32, t = float(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
print(f"ResNet 150x150 batch 1: casebook {b1:.1f} ms vs PyTorch {t['batch_1_ms']:.1f} ms -> casebook/PyTorch = {b1 / t['batch_1_ms']:.2f}x")
print(f"ResNet 150x150 batch 32: casebook {b32:.1f} ms vs PyTorch {t['batch_32_ms']:.1f} ms -> casebook/PyTorch = {b32 / t['batch_32_ms']:.2f}x")
PY
else
  skip_torch
fi
