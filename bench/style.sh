#!/usr/bin/env bash
# Style transfer speed, casebook against PyTorch on the CPU, in one run:
# `casebook style transfer` (Gatys et al., Adam on the pixels, VGG-19 up to
# conv5_1, average pooling) and the same algorithm in PyTorch
# (bench/style_torch.py), same pictures, sizes, iterations and threads.
#
#   bench/style.sh
#
# The VGG-19 both sides load is target/bench/vgg19_random.safetensors, made
# here on first use: full-width VGG-19 (64, 128, 256, 512, 512 channels,
# torchvision's keys) with RANDOM He-normal weights. It is for timing only:
# how long a convolution takes does not depend on the values it multiplies,
# so no download of the real weights is needed (the pictures it makes are
# not meant to be looked at; the built-in VGG-19 has the same shapes). The
# random network (`--features random`, narrower) is timed too; it has no
# PyTorch peer.
#
# Seconds per iteration: casebook runs with 2 and with N iterations and the
# difference of their wall times / (N - 2) removes start-up, weight loading
# and the style/content targets; PyTorch times each iteration in-process
# (median after 2 warm-ups). Peak RSS: /usr/bin/time %M of the N-iteration
# casebook run; PyTorch's own ru_maxrss (torch's libraries included).
#
# Environment: BENCH_SIZES (default "256 512"), BENCH_ITERATIONS (default 6),
# BENCH_THREADS (default 2; RAYON_NUM_THREADS for casebook, torch threads),
# BENCH_POOL (avg|max, default avg), BENCH_CONTENT / BENCH_STYLE (pictures),
# CASEBOOK (a casebook binary to use instead of building one), TORCH_PYTHON
# (a python with torch, safetensors, numpy and pillow; default .venv/bin/python,
# else python3). The PyTorch part is skipped, with a message, when torch
# cannot be imported.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${BENCH_THREADS:-2}
iterations=${BENCH_ITERATIONS:-6}
sizes=${BENCH_SIZES:-256 512}
pool=${BENCH_POOL:-avg}
content=${BENCH_CONTENT:-crates/faces/tests/fixtures/images/astronaut.png}
style=${BENCH_STYLE:-crates/style/assets/starry_night.jpg}
weights=target/bench/vgg19_random.safetensors
export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
if [ ! -f "$style" ]; then
  echo "style picture $style not found (set BENCH_STYLE); using a repository picture instead"
  style=crates/faces/tests/fixtures/images/grace_hopper.png
fi
[ "$iterations" -ge 3 ] || { echo "BENCH_ITERATIONS must be at least 3 (2 are subtracted as start-up)"; exit 1; }

if [ -z "${CASEBOOK:-}" ]; then
  cargo build --release -q -p casebook-cli
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A copy, so that a rebuild during the run cannot swap the binary.
cp "${CASEBOOK:-target/release/casebook}" "$work/casebook"

source bench/common.sh
python=$(torch_python safetensors numpy)

if [ ! -f "$weights" ]; then
  echo "== making $weights: VGG-19 with RANDOM He-normal weights, for timing only (speed does not depend on the values)"
  "${python:-python3}" bench/style_torch.py --make-weights "$weights"
fi

# casebook FEATURES SIZE ITERATIONS: prints "wall_seconds peak_rss_kb style_first style_last".
casebook() {
  local start end
  start=$(date +%s%N)
  /usr/bin/time -f '%M' -o "$work/rss" "$work/casebook" style transfer --quiet "$content" "$style" \
    --out "$work/out.png" --size "$2" --iterations "$3" --features "$1" --pool "$pool" --optimizer adam >"$work/stdout"
  end=$(date +%s%N)
  echo "  $(cat "$work/stdout")" >&2
  local losses
  losses=$(sed -n 's/.*style loss \([0-9.eE+-]*\) → \([0-9.eE+-]*\),.*/\1 \2/p' "$work/stdout")
  echo "$(( (end - start) / 1000000 )) $(tail -1 "$work/rss") ${losses:-nan nan}"
}

echo "== casebook ($work/casebook copied from ${CASEBOOK:-target/release/casebook}; RAYON_NUM_THREADS=$threads, nproc $(nproc))"
echo "   content $content, style $style, pool $pool, $iterations iterations (and 2, subtracted)"
results=$work/results
: >"$results"
for size in $sizes; do
  for features in "$weights" random; do
    echo "-- size $size, features $features" >&2
    out=$(casebook "$features" "$size" 2)
    read -r t2 _ <<<"$out"
    out=$(casebook "$features" "$size" "$iterations")
    read -r tn rss first last <<<"$out"
    echo "casebook $size $features $t2 $tn $rss $first $last" >>"$results"
  done
done

echo "== PyTorch (${python:-none}, $threads threads)"
if [ -n "$python" ]; then
  for size in $sizes; do
    echo "-- size $size" >&2
    json=$(BENCH_THREADS=$threads "$python" bench/style_torch.py --weights "$weights" --content "$content" \
      --style "$style" --size "$size" --iterations "$iterations" --pool "$pool")
    echo "  $json"
    echo "torch $size $json" >>"$results"
  done
else
  skip_torch safetensors numpy pillow
fi

echo "== casebook vs PyTorch ($threads threads each, $iterations iterations, pool $pool)"
python3 - "$results" "$iterations" "$weights" <<'PY'
import json, sys
path, n, weights = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cb, torch = {}, {}
sizes = []
for line in open(path):
    kind, size, rest = line.rstrip("\n").split(" ", 2)
    size = int(size)
    if size not in sizes:
        sizes.append(size)
    if kind == "casebook":
        features, t2, tn, rss, first, last = rest.split(" ")
        cb[size, features] = {"per_iter": (int(tn) - int(t2)) / 1000 / (n - 2), "rss_mb": int(rss) / 1024,
                              "total": int(tn) / 1000, "first": first, "last": last}
    else:
        torch[size] = json.loads(rest)
for size in sizes:
    c, t = cb[size, weights], torch.get(size)
    if t:
        print(f"size {size}: casebook {c['per_iter']:.2f} s/iter, PyTorch {t['seconds_per_iteration']:.2f} s/iter "
              f"-> casebook/PyTorch = {c['per_iter'] / t['seconds_per_iteration']:.2f}×; "
              f"peak RSS casebook {c['rss_mb']:.0f} MB, PyTorch {t['peak_rss_mb']:.0f} MB")
        print(f"  (VGG-19, random weights; style loss first → last: casebook {c['first']} → {c['last']}, "
              f"PyTorch {t['style_loss_first']:.4f} → {t['style_loss_last']:.4f})")
    else:
        print(f"size {size}: casebook {c['per_iter']:.2f} s/iter (PyTorch skipped); peak RSS casebook {c['rss_mb']:.0f} MB")
    b = cb[size, "random"]
    print(f"size {size}, random network: casebook {b['per_iter']:.2f} s/iter (no PyTorch peer); "
          f"peak RSS {b['rss_mb']:.0f} MB")
PY
