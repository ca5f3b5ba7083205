"""Real recordings to train the trigger word against: speech in other
languages, music and household/game sound effects, from Debian packages.

    python3 scripts/trigger/training_audio.py OUT [--cache DIR]

Needs `sox` (with Ogg Vorbis; Debian package sox) to decode the Ogg files.
Fetches (development time only, `apt-get download`) and writes one folder of
backgrounds for `casebook trigger train --backgrounds OUT`, with SOURCES.csv
(file, package, version, licence, author, the files it was made from) and an
empty labels.csv (the audio is word-free, so `casebook trigger mine` can run
a model over it):

* speech_fr.wav, speech_it.wav, speech_ru.wav — the Asterisk telephone prompts
  of three other speakers (June, fr_CA; Carlo, it_IT; Ivrvoice, ru_RU), each as
  one stream, CC-BY-SA-3.0. The Spanish prompts are left out: their speaker is
  Allison Smith, whose English prompts are the evaluation's real speech
  (`real_audio.py`).
* music_*.wav — the 27 pieces of music of hedgewars-data, GPL-2 (authors in
  the package's Music/credits.txt).
* effects.wav — every sound of hedgewars-data (explosions, water, shouts of its
  voice packs: GFDL-1.3, Droplet* CC-BY-SA-3.0), oxygen-sounds (LGPL-3.0+),
  sound-theme-freedesktop (CC-BY-SA-3.0 / GPL-2+ per file, see its copyright)
  and chromium-bsu-data's WAVs (Artistic / GPL-1+, see its copyright), joined
  with 0.3-2 s of silence between them.

None of these packages is reserved for independent evaluation (the list is in
the developers' guide), and none of it is in the evaluation set that
`eval_set.sh` builds.
"""
import argparse
import glob
import os
import random
import subprocess
import tempfile

from real_audio import folder, read_mono16, sources, unpack, write_wav

RATE = 16000
SPEECH = [
    ("asterisk-core-sounds-fr-wav", "fr_CA_f_June", "fr", "June (fr_CA)"),
    ("asterisk-core-sounds-it-wav", "it_IT_m_Carlo", "it", "Carlo (it_IT)"),
    ("asterisk-core-sounds-ru-wav", "ru_RU_f_IvrvoiceRU", "ru", "Ivrvoice (ru_RU)"),
]
SPEECH_VERSION = "1.6.1-1"
HEDGEWARS = ("hedgewars-data", "1.0.2-6")
EFFECTS = [
    # package, version, glob under the package root, licence
    ("hedgewars-data", "1.0.2-6", "usr/share/games/hedgewars/Data/Sounds/**/*.ogg",
     "GFDL-1.3 (Droplet*: CC-BY-SA-3.0)"),
    ("oxygen-sounds", "4:5.27.5-2", "usr/share/sounds/**/*.ogg", "LGPL-3.0-or-later"),
    ("sound-theme-freedesktop", "0.8-2", "usr/share/sounds/freedesktop/stereo/*.oga",
     "CC-BY-SA-3.0 or GPL-2+ (per file, see the package's copyright)"),
    ("chromium-bsu-data", "0.9.16.1-3", "usr/share/games/chromium-bsu/wav/*.wav",
     "see the package's copyright"),
]


def decode(path, scratch):
    """Any sox-readable file as 16 kHz mono 16-bit frames."""
    out = os.path.join(scratch, "decoded.wav")
    subprocess.run(["sox", path, "-r", str(RATE), "-c", "1", "-b", "16", out], check=True,
                   stderr=subprocess.DEVNULL)
    return read_mono16(out)[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "casebook-debs"))
    args = parser.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    folder(*os.path.split(os.path.abspath(args.out)))
    scratch = tempfile.mkdtemp()
    rows = []

    for package, speaker, lang, who in SPEECH:
        root = unpack(package, SPEECH_VERSION, args.cache)
        prompts = sorted(glob.glob(f"{root}/usr/share/asterisk/sounds/{speaker}/**/*.wav", recursive=True))
        stream, rate = bytearray(), None
        for path in prompts:
            prompt_rate, frames = read_mono16(path)
            rate = rate or prompt_rate
            if prompt_rate == rate:
                stream += frames + b"\0\0" * int(0.3 * rate)
        file = f"speech_{lang}.wav"
        minutes = write_wav(os.path.join(args.out, file), rate, bytes(stream)) / 60
        rows.append([file, package, SPEECH_VERSION, "CC-BY-SA-3.0", who,
                     f"{len(prompts)} prompts under usr/share/asterisk/sounds/{speaker}"])
        print(f"{file}: {len(prompts)} prompts, {minutes:.1f} min")

    package, version = HEDGEWARS
    root = unpack(package, version, args.cache)
    music_dir = f"{root}/usr/share/games/hedgewars/Data/Music"
    credits = {}
    with open(os.path.join(music_dir, "credits.txt")) as f:
        for line in f:
            if "=" in line:
                name, author = line.strip().split("=", 1)
                credits[name] = author
    total = 0.0
    for path in sorted(glob.glob(f"{music_dir}/*.ogg")):
        name = os.path.basename(path)
        file = f"music_{os.path.splitext(name)[0]}.wav"
        total += write_wav(os.path.join(args.out, file), RATE, decode(path, scratch))
        rows.append([file, package, version, "GPL-2", credits.get(name, "Hedgewars Project"),
                     os.path.relpath(path, root)])
    print(f"music: {total / 60:.1f} min")

    # Effects in a fixed, shuffled order with random gaps: a seeded shuffle
    # keeps the file the same on every run.
    effects, made_from = [], []
    for package, version, pattern, licence in EFFECTS:
        root = unpack(package, version, args.cache)
        for path in sorted(glob.glob(os.path.join(root, pattern), recursive=True)):
            effects.append((path, package, version, licence, os.path.relpath(path, root)))
    random.Random(7).shuffle(effects)
    stream, gaps = bytearray(), random.Random(8)
    for path, *_ in effects:
        stream += decode(path, scratch) + b"\0\0" * int(gaps.uniform(0.3, 2.0) * RATE)
    minutes = write_wav(os.path.join(args.out, "effects.wav"), RATE, bytes(stream)) / 60
    for package, version, _, licence in EFFECTS:
        files = [e[4] for e in effects if e[1] == package]
        rows.append(["effects.wav", package, version, licence, "see the package's copyright",
                     " ".join(files)])
    print(f"effects.wav: {len(effects)} sounds, {minutes:.1f} min")
    sources(args.out, rows)


if __name__ == "__main__":
    main()
