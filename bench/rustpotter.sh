#!/usr/bin/env bash
# Peer benchmark: rustpotter 3 (a Rust wake-word library), its neural "wakeword
# model" trained on casebook's training voices and backgrounds and scored on
# casebook's trigger-word evaluation set with casebook's rule (a hit: a
# detection within start..end + 1 s of a word; false accepts per hour of all
# audio). Trains a large model (1000 epochs, ~7 min on 2 cores), runs
# rustpotter over the five evaluation folders (8 h of audio) at a low threshold
# (0.3; ~5 min, one thread), then thresholds the detections' scores at
# 0.30 ... 0.999 (rustpotter/score.py). NATIVE_THRESHOLDS="0.9 0.99 0.999":
# also run rustpotter at these thresholds itself, ~6 min each (its own rule
# needs 5 window scores over the threshold, so it differs from thresholding
# the peak scores of the 0.3 run: fewer false accepts, more misses).
#
# Data: POOL (/tmp/tw/pool-all), BACKGROUNDS (/tmp/tw/backgrounds), EVAL
# (/tmp/tw/eval2), made by casebook's own scripts from the repository root:
#   target/release/casebook trigger make-voices --set all --out-dir POOL
#   python3 scripts/trigger/training_audio.py BACKGROUNDS
#   scripts/trigger/eval_set.sh EVAL POOL
# Writes OUT (/tmp/tw/rp): model.rpw, detections*.csv, score.txt.
set -euo pipefail
cd "$(dirname "$0")/rustpotter"
pool=${POOL:-/tmp/tw/pool-all}
backgrounds=${BACKGROUNDS:-/tmp/tw/backgrounds}
eval=${EVAL:-/tmp/tw/eval2}
out=${OUT:-/tmp/tw/rp}
folders=("$eval/clips-music" "$eval/clips-speech" "$eval/stream" "$eval/real/speech" "$eval/real/music")
for f in "$pool/voices.csv" "$backgrounds/labels.csv" "${folders[@]/%//labels.csv}"; do
  if [ ! -f "$f" ]; then
    echo "missing $f: make the data with casebook's scripts (see the header of $0)" >&2
    exit 1
  fi
done
mkdir -p "$out"
# --locked: Cargo.lock pins half 2.4, the last that candle-core 0.2 (rustpotter's) builds with.
cargo build --release --locked -q
bin=target/release/rustpotter-bench
/usr/bin/time -f 'train: %e s wall, %M KB peak RSS' \
  "$bin" train --pool "$pool" --backgrounds "$backgrounds" --out "$out/model.rpw"
# One thread: the network is too small for candle's threaded matrix products to pay.
export RAYON_NUM_THREADS=1
"$bin" detect --model "$out/model.rpw" --out "$out/detections.csv" "${folders[@]}"
python3 score.py "$out/detections.csv" "${folders[@]}" | tee "$out/score.txt"
for t in ${NATIVE_THRESHOLDS:-}; do
  echo "== rustpotter run at threshold $t"
  "$bin" detect --threshold "$t" --model "$out/model.rpw" --out "$out/detections-$t.csv" "${folders[@]}"
  python3 score.py "$out/detections-$t.csv" "${folders[@]}" | awk -v t="$t" 'NR == 2 || ($1 + 0 == t + 0)'
done
