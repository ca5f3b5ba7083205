#!/usr/bin/env bash
# Rebuilds the built-in fast AdaIN model, crates/style/models/adain-fast.casebook
# (`apply-adain --model builtin-fast`): an encoder distilled from the built-in VGG-19
# (`style distil`: half VGG-19's channels to conv4_1, a quarter of its work) and a decoder
# trained on it, and compares it with the built-in model (VGG-19's own encoder): the
# README's numbers. Same pictures as scripts/style/adain_builtin.sh (adain_data.py); the
# style statistics of the decoder's pictures are measured by VGG-19 (a decoder judged by
# the distilled encoder alone drew vertical stripes at low losses).
#
# Development time only (needs Pillow and the repository snapshots that adain_data.py
# names). From the repository root:
#
#     bash scripts/style/adain_fast_builtin.sh [WORK] [DISTIL_STEPS] [STEPS]
#
# On 2 cores a distillation step (8 pictures at 128 px) takes about 0.65 s and a decoder
# step (4 pairs) about 0.55 s. A killed run continues with `--resume WORK/runs/distil`
# (style distil) or `--resume WORK/runs/adain-fast` (style train-adain), and the rest of
# the script by hand. (The committed model's distillation was a 3000-step run stopped at
# its checkpoint of step 2000: the same weights.)
set -euo pipefail
work=${1:-$(mktemp -d)}
distil_steps=${2:-2000}
steps=${3:-2000}
python3 scripts/style/adain_data.py "$work/data"
cargo build --release --quiet -p casebook-cli
cargo build --release --quiet -p casebook-style --example adain_builtin_record
casebook=$PWD/target/release/casebook
judge=$PWD/target/release/examples/adain_judge
assets=$PWD/crates/style/assets
content=$PWD/crates/faces/tests/fixtures/images
repo=$PWD
# Relative paths, so the models' headers name no machine's folders.
cd "$work"
"$casebook" style distil --images data --size 128 --batch-size 8 --steps "$distil_steps" \
    --sample-every 250 --seed 1 --run distil --runs-dir runs
"$casebook" style train-adain --images data/content --styles data/styles \
    --features runs/distil/model.casebook --style-features builtin --size 128 --steps "$steps" \
    --sample-every 250 --style-weight 1 --seed 1 --run adain-fast --runs-dir runs
"$repo/target/release/examples/adain_builtin_record" runs/adain-fast/model.casebook \
    "$repo/crates/style/models/adain-fast.casebook" runs/distil/model.casebook
# The judge is built after the model is written: it holds the built-in models.
(cd "$repo" && cargo build --release --quiet -p casebook-style --example adain_judge)
"$judge" 256 builtin,builtin-fast \
    "$content/astronaut.png,$content/grace_hopper.png,$content/cameraman.png" \
    "$assets/starry_night.jpg,$assets/the_scream.jpg,$assets/great_wave.jpg"
