# Helpers shared by the bench scripts (`source bench/common.sh` after
# `cd`-ing to the repository root).

# torch_python MODULE...: the first of $TORCH_PYTHON, .venv/bin/python and
# python3 that imports torch and every MODULE; prints nothing when none does.
torch_python() {
  local modules
  modules=$(IFS=,; echo "torch${*:+,$*}")
  for candidate in ${TORCH_PYTHON:-} .venv/bin/python python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c "import $modules" 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
}

# criterion_ms DIR: the median of a criterion benchmark, in milliseconds,
# from target/criterion/DIR/new/estimates.json.
criterion_ms() {
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['median']['point_estimate']/1e6)" \
    "target/criterion/$1/new/estimates.json"
}

# skip_torch MODULE...: says why the PyTorch part was skipped.
skip_torch() {
  echo "PyTorch part skipped: no python that imports torch${*:+ and $*} (set TORCH_PYTHON, or"
  echo "  python3 -m venv .venv && .venv/bin/pip install torch${*:+ $*})"
}
