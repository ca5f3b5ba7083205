#!/usr/bin/env bash
# The face benchmarks, casebook (the Rust port, criterion) against dlib itself
# (dlib-bin, bench/faces_dlib.py) in one run: detection of a 640x480 image at
# upsample 0 and 1, embeddings per second (64 aligned chips), the whole
# pipeline on one photo, and peak memory of a one-image `face detect`.
#
#   bench/faces.sh [MODELS]
#
# MODELS (or $DLIB_MODELS): the folder of dlib's .dat files (PyPI
# face-recognition-models 0.3.0, face_recognition_models/models/). The dlib
# half runs with $DLIB_PYTHON (default .venv/bin/python, else python3), made by
#   python3 -m venv .venv && .venv/bin/pip install dlib-bin==20.0.1 numpy pillow
# and is skipped, with a message, when dlib or the models are missing.
# Both sides get $BENCH_THREADS (default nproc) threads; BENCH_REPEATS sets
# the dlib repeats (default 3: dlib-bin has no BLAS and takes seconds per image).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
threads=${BENCH_THREADS:-$(nproc)}
export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
models=${1:-${DLIB_MODELS:-}}
python=${DLIB_PYTHON:-}
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
work=$(mktemp -d)
export FACES_BENCH_IMAGE=$work/faces_640x480.png

echo "== casebook (nproc $(nproc); RAYON_NUM_THREADS=$RAYON_NUM_THREADS)"
cargo bench -p casebook-faces --bench faces -- --noplot
est() { criterion_ms "faces/$1"; }
cargo build --release -q -p casebook-cli
rss_cpu=$( { /usr/bin/time -f '%M %P' ./target/release/casebook face detect "$FACES_BENCH_IMAGE" --upsample 0 >/dev/null; } 2>&1 | tail -1)
casebook=$(printf '{"detect_up0_ms": %s, "detect_up1_ms": %s, "pyramid_up0_ms": %s, "pyramid_up1_ms": %s, "pyramid_up_ms": %s, "embed_64_ms": %s, "pipeline_ms": %s, "rss_kb": %s, "rss_cpu": "%s"}' \
  "$(est detect_640x480_up0)" "$(est detect_640x480_up1)" "$(est pyramid_640x480_up0)" "$(est pyramid_640x480_up1)" \
  "$(est pyramid_up_640x480)" "$(est embed_64_chips)" "$(est pipeline_edwin_b_up1)" "${rss_cpu%% *}" "${rss_cpu#* }")

echo "== dlib ($python, models: ${models:-none})"
dlib='null'
if [ -n "$models" ] && [ -f "$models/mmod_human_face_detector.dat" ] && "$python" -c "import dlib, numpy, PIL" 2>/dev/null; then
  dlib=$("$python" bench/faces_dlib.py "$models" --image "$FACES_BENCH_IMAGE")
  echo "$dlib"
  dlib_rss_cpu=$( { /usr/bin/time -f '%M %P' "$python" bench/faces_dlib.py "$models" --detect-only "$FACES_BENCH_IMAGE" >/dev/null; } 2>&1 | tail -1)
  dlib=$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); d['rss_kb']=int(sys.argv[2]); d['rss_cpu']=sys.argv[3]; print(json.dumps(d))" \
    "$dlib" "${dlib_rss_cpu%% *}" "${dlib_rss_cpu#* }")
else
  echo "dlib part skipped: needs MODELS (or DLIB_MODELS) with dlib's .dat files and $python importing dlib, numpy, PIL"
  echo "  (python3 -m venv .venv && .venv/bin/pip install dlib-bin==20.0.1 numpy pillow)"
fi

echo "== casebook vs dlib ($threads threads each)"
python3 - "$casebook" "$dlib" <<'PY'
import json, sys
c, d = json.loads(sys.argv[1]), json.loads(sys.argv[2])

def line(name, cb, dl, unit, fmt=".0f"):
    if d is None:
        print(f"{name}: casebook {cb:{fmt}} {unit}")
    else:
        print(f"{name}: casebook {cb:{fmt}} {unit} vs dlib {dl:{fmt}} {unit} -> casebook/dlib = {cb / dl:.2f}x")

g = (lambda k: d[k]) if d else (lambda k: None)
line("detect 640x480, upsample 0", c["detect_up0_ms"], g("detect_up0_ms"), "ms")
line("detect 640x480, upsample 1", c["detect_up1_ms"], g("detect_up1_ms"), "ms")
c_eps = 64000 / c["embed_64_ms"]
if d is None:
    print(f"embeddings/s (64 chips, batch API): casebook {c_eps:.1f} /s")
else:
    print(f"embeddings/s (64 chips, batch API): casebook {c_eps:.1f} /s vs dlib {d['embeddings_per_s']:.1f} /s "
          f"-> casebook/dlib = {d['embeddings_per_s'] / c_eps:.2f}x the time per embedding ({c_eps / d['embeddings_per_s']:.1f}x the throughput)")
line("pipeline edwin_b.png upsample 1 (find + encode)", c["pipeline_ms"], g("pipeline_ms"), "ms")
line("peak RSS, one-image face detect --upsample 0", c["rss_kb"] / 1024, g("rss_kb") and g("rss_kb") / 1024, "MB")
print(f"casebook: tiled pyramid {c['pyramid_up0_ms']:.1f} ms of {c['detect_up0_ms']:.0f} ms at upsample 0 "
      f"({100 * c['pyramid_up0_ms'] / c['detect_up0_ms']:.1f}%), pyramid_up + tiled pyramid {c['pyramid_up1_ms']:.1f} ms "
      f"of {c['detect_up1_ms']:.0f} ms at upsample 1 ({100 * c['pyramid_up1_ms'] / c['detect_up1_ms']:.1f}%; pyramid_up alone "
      f"{c['pyramid_up_ms']:.1f} ms); the rest is the network and NMS")
print(f"CPU use (cores kept busy): casebook face detect {c['rss_cpu']}", end="")
if d:
    print(f"; dlib face detect {d['rss_cpu']}; dlib in-process cpu/wall: detect up0 {d['detect_up0_cpu']:.2f}, "
          f"up1 {d['detect_up1_cpu']:.2f}, embed {d['embed_cpu']:.2f}, pipeline {d['pipeline_cpu']:.2f} "
          f"(dlib {d['dlib']}, BLAS {d['dlib_use_blas']}, faces found up0/up1: {d['faces_up0']}/{d['faces_up1']})")
else:
    print()
PY
