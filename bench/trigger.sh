#!/usr/bin/env bash
# The trigger-word benchmarks: burn training step (default network, batch 8 x
# 10 s) and streaming detection (60 s of audio, one thread) with criterion,
# then the same training step in PyTorch (skipped when torch is missing), and
# peak memory of both.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${BENCH_THREADS:-$(nproc)}
echo "== burn ($threads threads available)"
cargo bench -p casebook-trigger --bench trigger -- --noplot
est() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['median']['point_estimate']/1e6)" "$1"; }
step=$(est target/criterion/trigger/train_step_b8_default/new/estimates.json)
for preset in small default; do
  ms=$(est target/criterion/trigger/stream_60s_$preset/new/estimates.json)
  python3 -c "import sys; ms=float(sys.argv[2]); print(f'streaming ({sys.argv[1]} network): 60 s of audio in {ms:.1f} ms on one thread -> {60000/ms:.0f}x real time')" "$preset" "$ms"
done
cargo build --release -q -p casebook-cli
rss=$( { /usr/bin/time -f '%M' ./target/release/casebook trigger train --steps 3 --eval-every 3 --val-clips 2 \
  --runs-dir "$(mktemp -d)" --quiet >/dev/null; } 2>&1 | tail -1)
printf 'burn:    train step %.0f ms; peak RSS of a 3-step default-preset training run %.0f MB\n' "$step" "$((rss / 1024))"
echo "== PyTorch"
if python3 -c "import torch" 2>/dev/null; then
  torch_json=$(BENCH_THREADS=$threads python3 bench/torch_trigger.py)
  echo "$torch_json"
  python3 - "$step" "$torch_json" <<'PY'
import json, sys
step, t = float(sys.argv[1]), json.loads(sys.argv[2])
print(f"train step: burn {step:.0f} ms vs PyTorch {t['train_step_ms']:.0f} ms -> burn/PyTorch = {step / t['train_step_ms']:.2f}x")
PY
else
  echo "PyTorch part skipped: python3 cannot import torch (pip install torch to compare)"
fi
