#!/usr/bin/env bash
# Fast style transfer speed, casebook against PyTorch on the CPU, in one run:
# the transform network of Johnson et al. (2016) that `casebook style
# train-fast` trains and `casebook style apply` runs, and the same network,
# loss network, losses and optimiser in PyTorch (bench/style_fast_torch.py),
# at the same sizes, widths and threads.
#
#   bench/style_fast.sh
#
# Inference: `casebook style apply` on BENCH_RUNS + 1 procedural scenes
# (`casebook data daynight`, square) scaled to each size, with a model of
# each width (5 residual blocks) from a 1-step `style train-fast` at 32×32:
# the weights' values do not change how long a pass takes. apply prints each
# picture's milliseconds (picture to tensor, the pass, and back); the first
# picture is a warm-up, the median of the rest is reported. PyTorch does the
# same with batch 1 under torch.no_grad(). Peak RSS: /usr/bin/time %M of each
# apply run (all its pictures at one size); PyTorch's own ru_maxrss (torch's
# libraries included).
#
# Training: `casebook style train-fast` with the built-in random VGG loss
# network (average pooling), batch 4, width 16, BENCH_STEPS steps at
# BENCH_TRAIN_SIZE; each step's "seconds" in the run's metrics.jsonl
# (reading the batch's pictures, forward, the two loss-network passes,
# backward and Adam), the median of the steps after the first 2. PyTorch
# times the same step in-process on random pictures.
#
# Environment: BENCH_SIZES (default "256 512"), BENCH_WIDTHS (default
# "16 32"), BENCH_RUNS (timed pictures per apply, default 5), BENCH_STEPS
# (default 6), BENCH_TRAIN_SIZE (default 256), BENCH_THREADS (default 2;
# RAYON_NUM_THREADS for casebook, torch threads), BENCH_STYLE (the style
# picture), CASEBOOK (a casebook binary to use instead of building one),
# TORCH_PYTHON (a python with torch; default .venv/bin/python, else
# python3). The PyTorch part is skipped, with a message, when torch cannot
# be imported.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${BENCH_THREADS:-2}
sizes=${BENCH_SIZES:-256 512}
widths=${BENCH_WIDTHS:-16 32}
runs=${BENCH_RUNS:-5}
steps=${BENCH_STEPS:-6}
train_size=${BENCH_TRAIN_SIZE:-256}
train_width=16
batch=4
style=${BENCH_STYLE:-crates/style/assets/starry_night.jpg}
export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
[ "$runs" -ge 1 ] || { echo "BENCH_RUNS must be at least 1"; exit 1; }
[ "$steps" -ge 3 ] || { echo "BENCH_STEPS must be at least 3 (the first 2 are not counted)"; exit 1; }

if [ -z "${CASEBOOK:-}" ]; then
  cargo build --release -q -p casebook-cli
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A copy, so that a rebuild during the run cannot swap the binary.
cp "${CASEBOOK:-target/release/casebook}" "$work/casebook"

source bench/common.sh
python=$(torch_python)

echo "== casebook ($work/casebook copied from ${CASEBOOK:-target/release/casebook}; RAYON_NUM_THREADS=$threads, nproc $(nproc))"
pictures=$work/pictures
"$work/casebook" --quiet data daynight --out-dir "$pictures" --count $((runs + 1)) >/dev/null
results=$work/results
: >"$results"
for width in $widths; do
  "$work/casebook" --quiet style train-fast "$style" --images "$pictures" --size 32 --steps 1 --features random \
    --width "$width" --run "width$width" --runs-dir "$work/runs" >/dev/null
done
for size in $sizes; do
  for width in $widths; do
    echo "-- apply, size $size, width $width"
    /usr/bin/time -f '%M' -o "$work/rss" "$work/casebook" --quiet style apply \
      "$work/runs/width$width/model.casebook" "$pictures" --size "$size" --out-dir "$work/out" >"$work/stdout"
    sed 's/^/  /' "$work/stdout"
    drawn=$(grep -c "($size×$size," "$work/stdout" || true)
    [ "$drawn" -eq $((runs + 1)) ] || { echo "expected $((runs + 1)) pictures of $size×$size"; exit 1; }
    echo "casebook apply $size $width $(tail -1 "$work/rss") $(sed -n 's/.*, \([0-9]*\) ms)$/\1/p' "$work/stdout" | tail -n +2 | xargs)" >>"$results"
  done
done
echo "-- train, size $train_size, batch $batch, width $train_width, $steps steps"
/usr/bin/time -f '%M' -o "$work/rss" "$work/casebook" --quiet style train-fast "$style" --images "$pictures" \
  --size "$train_size" --batch-size "$batch" --steps "$steps" --sample-every "$steps" --width "$train_width" \
  --features random --run train --runs-dir "$work/runs" >/dev/null
seconds=$(sed -n 's/.*"seconds":\([0-9.eE+-]*\).*/\1/p' "$work/runs/train/metrics.jsonl" | xargs)
echo "  step seconds: $seconds"
echo "casebook train $train_size $train_width $(tail -1 "$work/rss") $seconds" >>"$results"

echo "== PyTorch (${python:-none}, $threads threads)"
if [ -n "$python" ]; then
  for size in $sizes; do
    for width in $widths; do
      echo "-- apply, size $size, width $width"
      json=$(BENCH_THREADS=$threads "$python" bench/style_fast_torch.py apply --size "$size" --width "$width" --runs "$runs")
      echo "  $json"
      echo "torch apply $size $width $json" >>"$results"
    done
  done
  echo "-- train, size $train_size, batch $batch, width $train_width, $steps steps"
  json=$(BENCH_THREADS=$threads "$python" bench/style_fast_torch.py train --size "$train_size" --width "$train_width" \
    --batch-size "$batch" --steps "$steps")
  echo "  $json"
  echo "torch train $train_size $train_width $json" >>"$results"
else
  skip_torch
fi

echo "== casebook vs PyTorch ($threads threads each; apply: median of $runs pictures; train: batch $batch, median of steps 3-$steps)"
python3 - "$results" "$batch" <<'PY'
import json, statistics, sys
path, batch = sys.argv[1], sys.argv[2]
cb, torch = {}, {}
for line in open(path):
    kind, mode, size, width, rest = line.rstrip("\n").split(" ", 4)
    key = mode, int(size), int(width)
    if kind == "casebook":
        rss, *times = rest.split(" ")
        cb[key] = {"rss_mb": int(rss) / 1024, "times": [float(t) for t in times]}
    else:
        torch[key] = json.loads(rest)
for (mode, size, width), c in cb.items():
    t = torch.get((mode, size, width))
    if mode == "apply":
        label, unit, digits = f"apply {size}×{size}, width {width}", "ms/picture", 0
        mine, theirs = statistics.median(c["times"]), t and t["milliseconds_per_picture"]
    else:
        label, unit, digits = f"train step {size}×{size}, batch {batch}, width {width}", "s/step", 2
        mine, theirs = statistics.median(c["times"][2:]), t and t["seconds_per_step"]
    line = f"{label}: casebook {mine:.{digits}f} {unit}"
    if t:
        print(f"{line}, PyTorch {theirs:.{digits}f} {unit} -> casebook/PyTorch = {mine / theirs:.2f}×; "
              f"peak RSS casebook {c['rss_mb']:.0f} MB, PyTorch {t['peak_rss_mb']:.0f} MB")
    else:
        print(f"{line} (PyTorch skipped); peak RSS casebook {c['rss_mb']:.0f} MB")
PY
