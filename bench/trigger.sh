#!/usr/bin/env bash
# The trigger-word benchmarks: burn training step (default network, batch 8 x
# 10 s) and streaming detection (60 s of audio, one thread) with criterion,
# then the same training step in PyTorch (skipped when torch is missing), and
# peak memory of both. TORCH_PYTHON: a python with torch (default
# .venv/bin/python, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
threads=${BENCH_THREADS:-$(nproc)}
echo "== burn ($threads threads available)"
cargo bench -p casebook-trigger --bench trigger -- --noplot
step=$(criterion_ms trigger/train_step_b8_default)
for preset in small default; do
  ms=$(criterion_ms "trigger/stream_60s_$preset")
  python3 -c "import sys; ms=float(sys.argv[2]); print(f'streaming ({sys.argv[1]} network): 60 s of audio in {ms:.1f} ms on one thread -> {60000/ms:.0f}x real time')" "$preset" "$ms"
done
cargo build --release -q -p casebook-cli
rss=$( { /usr/bin/time -f '%M' ./target/release/casebook trigger train --steps 3 --eval-every 3 --val-clips 2 \
  --runs-dir "$(mktemp -d)" --quiet >/dev/null; } 2>&1 | tail -1)
printf 'burn:    train step %.0f ms; peak RSS of a 3-step default-preset training run %.0f MB\n' "$step" "$((rss / 1024))"
python=$(torch_python)
echo "== PyTorch (${python:-none})"
if [ -n "$python" ]; then
  torch_json=$(BENCH_THREADS=$threads "$python" bench/torch_trigger.py)
  echo "$torch_json"
  python3 - "$step" "$torch_json" <<'PY'
import json, sys
step, t = float(sys.argv[1]), json.loads(sys.argv[2])
print(f"train step: burn {step:.0f} ms vs PyTorch {t['train_step_ms']:.0f} ms -> burn/PyTorch = {step / t['train_step_ms']:.2f}x")
PY
else
  skip_torch
fi
