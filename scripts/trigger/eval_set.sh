#!/usr/bin/env bash
# The trigger word's realistic evaluation set (issue 12), kept apart from training:
#
#   scripts/trigger/eval_set.sh OUT [POOL]
#
# Needs espeak-ng and flite (unless POOL, a `make-voices --set full` folder, is given), sox is not
# needed. Writes, all with labels.csv for `casebook trigger eval`:
#   OUT/real/speech      28 min of a person's recorded speech (Allison Smith's Asterisk prompts),
#                        word-free, one file
#   OUT/real/music       five pieces of recorded music on hold, word-free
#   OUT/clips-music      300 clips of 10 s: held-out voices saying the word (alone and inside
#                        phrases) and other words, over the recorded music, babble or noise
#   OUT/clips-speech     150 clips of 10 s over the recorded speech
#   OUT/stream           six word-free hours, each one file: held-out voices saying confusable
#                        words and sentences ("deactivated", "proactive", ...) over music, babble
#                        or noise
# Held out of training: the voices marked held_out in the pool (espeak-ng's Scottish and West
# Midlands English, flite's slt) and the sentences only they say; the recordings of real_audio.py.
# Training uses other recordings (training_audio.py). Deterministic: the same OUT every time.
#
# Then: casebook trigger eval MODEL OUT/clips-music OUT/clips-speech OUT/stream OUT/real/speech \
#         OUT/real/music --target-fa-per-hour 0.5
set -euo pipefail
out=${1:?usage: eval_set.sh OUT [POOL]}
here=$(cd "$(dirname "$0")" && pwd)
casebook=${CASEBOOK:-$here/../../target/release/casebook}
pool=${2:-$out/pool}
mkdir -p "$out"
[ -f "$pool/voices.csv" ] || "$casebook" trigger make-voices --set full --out "$pool"
python3 "$here/real_audio.py" "$out/real"
synth() { "$casebook" trigger synth --voices "$pool" --test-voices --seed 2026 "$@"; }
synth --backgrounds "$out/real/music" --count 300 --out "$out/clips-music"
synth --backgrounds "$out/real/speech" --count 150 --out "$out/clips-speech"
synth --backgrounds "$out/real/music" --count 6 --seconds 3600 --max-positives 0 \
  --max-negatives 600 --out "$out/stream"
