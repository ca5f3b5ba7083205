#!/usr/bin/env bash
# One command, two frameworks: the casebook CNN training step and prediction
# throughput in burn (criterion), then the same model in PyTorch on the CPU
# with the same thread count (skipped with a message when torch is missing;
# TORCH_PYTHON names a python with torch, default .venv/bin/python, else
# python3).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
threads=${BENCH_THREADS:-$(nproc)}
echo "== burn ($threads threads available)"
cargo bench -p casebook-image --bench cnn -- --noplot
burn_step=$(criterion_ms train_step_b32_64x64)
burn_predict=$(criterion_ms predict/predict_64_images_64x64)
printf 'burn:    train step %.1f ms, predict 64 images %.1f ms\n' "$burn_step" "$burn_predict"
python=$(torch_python)
echo "== PyTorch (${python:-none})"
if [ -n "$python" ]; then
  torch_json=$(BENCH_THREADS=$threads "$python" bench/torch_cnn.py)
  echo "$torch_json"
  python3 - "$burn_step" "$burn_predict" "$torch_json" <<'PY'
import json, sys
burn_step, burn_predict, t = float(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
print(f"train step: burn {burn_step:.1f} ms vs PyTorch {t['train_step_ms']:.1f} ms -> burn/PyTorch = {burn_step / t['train_step_ms']:.2f}x")
print(f"predict 64: burn {burn_predict:.1f} ms vs PyTorch {t['predict_64_ms']:.1f} ms -> burn/PyTorch = {burn_predict / t['predict_64_ms']:.2f}x")
PY
else
  skip_torch
fi
