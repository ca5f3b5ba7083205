#!/usr/bin/env bash
# Load test of `casebook serve` on this computer (127.0.0.1 only, bounded in
# requests and seconds): concurrent day/night predictions with the built-in
# model, mixed with bad uploads (single files and folders). Prints requests/s,
# p99 latency, the answers that were not as expected, the server's peak RSS
# before and after, and any temporary file or run folder the server left.
#
#   bash bench/serve_load.sh [REQUESTS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-600}
concurrency=${2:-8}
# Two builds: with --example, cargo would build only the example, leaving an old casebook.
cargo build --release -q -p casebook-cli
cargo build --release -q -p casebook-serve --example load
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TMPDIR="$work/tmp" && mkdir -p "$TMPDIR" && export TMPDIR
target/release/casebook serve --addr "127.0.0.1:$port" --runs-dir "$work/runs" --max-upload-mb 1 >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.2; done
rss() { awk -v k="$1" '$1 == k":" {print $2 / 1024 " MB"}' "/proc/$server/status"; }
echo "server RSS at start: $(rss VmRSS)"
target/release/examples/load "http://127.0.0.1:$port" 60 "$concurrency" >/dev/null   # warm-up
echo "server RSS after a warm-up of 60 requests: $(rss VmRSS)"
target/release/examples/load "http://127.0.0.1:$port" "$requests" "$concurrency"
echo "server RSS after: $(rss VmRSS) (peak $(rss VmHWM))"
target/release/examples/load "http://127.0.0.1:$port" "$requests" "$concurrency" | sed 's/^/again: /'
echo "server RSS after twice as many: $(rss VmRSS) (peak $(rss VmHWM))"
echo "temporary files left: $(find "$TMPDIR" -mindepth 1 | wc -l)"
echo "run folders left by refused folder uploads: $(find "$work/runs" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
