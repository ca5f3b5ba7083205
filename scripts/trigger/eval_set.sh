#!/usr/bin/env bash
# The trigger word's realistic evaluation set (issue 12), kept apart from training:
#
#   scripts/trigger/eval_set.sh OUT [POOL]
#
# Needs espeak-ng, flite, and the non-free libttspico-utils and rhvoice-english (unless POOL, a
# `make-voices --set all` folder, is given); sox is not needed. Writes, all with labels.csv for `casebook trigger eval`:
#   OUT/real/speech      28 min of a person's recorded speech (Allison Smith's Asterisk prompts),
#                        word-free, one file
#   OUT/real/music       five pieces of recorded music on hold, word-free
#   OUT/clips-music      300 clips of 10 s: held-out voices saying the word (alone and inside
#                        phrases) and other words, over the recorded music, babble or noise
#   OUT/clips-speech     150 clips of 10 s over the recorded speech
#   OUT/stream           six word-free hours, each one file: held-out voices saying confusable
#                        words and sentences ("deactivated", "proactive", ...) over music, babble
#                        or noise
#   OUT/speakers/NAME/clips  60 clips of 10 s over the music for each held-out speaker alone, for the
#                        false-reject rate of each voice
# Held out of training: the voices marked held_out in the pool (espeak-ng's Scottish and West
# Midlands English; slt, a recorded woman's voice, in flite and RHVoice) and the sentences only
# they say; the recordings of real_audio.py.
# Training uses other recordings (training_audio.py). Deterministic: the same OUT for a SEED.
#
# Then: casebook trigger eval MODEL OUT/clips-music OUT/clips-speech OUT/stream OUT/real/speech \
#         OUT/real/music --target-fa-per-hour 0.5
#       for s in OUT/speakers/*; do casebook trigger eval MODEL $s/clips; done
set -euo pipefail
out=${1:?usage: eval_set.sh OUT [POOL]}
here=$(cd "$(dirname "$0")" && pwd)
casebook=${CASEBOOK:-$here/../../target/release/casebook}
pool=${2:-$out/pool}
# Another SEED mixes other clips from the same voices and recordings: a set to choose the
# threshold on (`eval --calibrate`), apart from the one that reports it.
seed=${SEED:-2026}
mkdir -p "$out"
[ -f "$pool/voices.csv" ] || "$casebook" trigger make-voices --set all --out-dir "$pool"
python3 "$here/real_audio.py" "$out/real"
synth() { "$casebook" trigger synth --voices "$pool" --test-voices --seed "$seed" "$@"; }
synth --backgrounds "$out/real/music" --count 300 --out-dir "$out/clips-music"
synth --backgrounds "$out/real/speech" --count 150 --out-dir "$out/clips-speech"
synth --backgrounds "$out/real/music" --count 6 --seconds 3600 --max-positives 0 \
  --max-negatives 600 --out-dir "$out/stream"
# A speaker is a TTS program's voice (espeak-ng's accent, all its variants together).
python3 - "$pool" "$out/speakers" <<'PY'
import csv, os, shutil, sys
pool, speakers = sys.argv[1:]
shutil.rmtree(speakers, ignore_errors=True)
for row in csv.DictReader(open(os.path.join(pool, "voices.csv"))):
    if row["held_out"] == "true":
        engine, voice = row["voice"].split(":")[:2]
        folder = os.path.join(speakers, f"{engine}-{voice.split('+')[0]}",
                              "positives" if row["positive"] == "true" else "negatives")
        os.makedirs(folder, exist_ok=True)
        shutil.copy(os.path.join(pool, row["file"]), folder)
PY
for speaker in "$out"/speakers/*; do
  "$casebook" trigger synth --positives "$speaker/positives" --negatives "$speaker/negatives" \
    --backgrounds "$out/real/music" --count 60 --seed "$seed" --out-dir "$speaker/clips"
done
