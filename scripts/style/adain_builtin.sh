#!/usr/bin/env bash
# Rebuilds the built-in AdaIN model, crates/style/models/adain.casebook: a decoder
# trained on the built-in VGG-19's conv4_1 features, from the pictures that
# scripts/style/adain_data.py makes (eight public-domain paintings, licensed
# photographs; its sources.tsv says where each came from).
#
# Development time only (needs Pillow and the repository snapshots that
# adain_data.py names). From the repository root:
#
#     bash scripts/style/adain_builtin.sh [WORK] [STEPS]
#
# On 2 cores a step takes about 0.9 s. The committed model stopped at the step its
# header's "steps" says (a checkpoint of a 3000-step run, taken when the session's
# time ran short). A killed run continues with
#     casebook style train-adain --resume WORK/runs/adain-builtin
# and then this script's last two lines run by hand.
set -euo pipefail
work=${1:-$(mktemp -d)}
steps=${2:-3000}
python3 scripts/style/adain_data.py "$work/data"
cargo build --release --quiet -p casebook-cli
target/release/casebook style train-adain --images "$work/data/content" --styles "$work/data/styles" \
    --size 128 --steps "$steps" --sample-every 250 --style-weight 1 --seed 1 --run adain-builtin \
    --runs-dir "$work/runs"
cargo run --release --quiet -p casebook-style --example adain_builtin_record -- \
    "$work/runs/adain-builtin/model.casebook" crates/style/models/adain.casebook
