"""Real recorded audio for measuring the trigger word's false accepts:
human speech and music that casebook never trained on, from Debian packages.

    python3 scripts/trigger/real_audio.py OUT [--cache DIR]

Fetches (development time only; `apt-get download`, no root needed for the
download itself) and unpacks:

* asterisk-core-sounds-en-wav 1.6.1-1 — 565 telephone prompts recorded by a
  person (Allison Smith), 8 kHz, CC-BY-SA-3.0. Written as one continuous
  stream, OUT/speech/allison_prompts.wav (~28 min, 0.3 s between prompts),
  with the prompts whose names contain "activ" left out: "activated",
  "de-activated" and "tempgreetactive" hold the word or a near copy of it and
  would not be word-free. They are written apart, to OUT/confusable/, as the
  first real confusable words (no labels: whether "activated" should fire is
  a choice the evaluation has to state).
* asterisk-moh-opsound-wav 2.03-1.1 — five pieces of music on hold by
  Macroform, Manolo Camp and Reno Project, 8 kHz, CC-BY-SA-3.0, in
  OUT/music/.

Each folder gets an empty labels.csv (word-free audio for `casebook trigger
eval`) and SOURCES.csv (file, package, version, licence, author, the files it
was made from). These are for evaluation: keep them out of training. The
other languages of the Asterisk sounds (es, fr, it, ru; other speakers) are
left for training.
"""
import argparse
import csv
import glob
import os
import subprocess
import tempfile
import wave

SPEECH = ("asterisk-core-sounds-en-wav", "1.6.1-1", "CC-BY-SA-3.0", "Allison Smith")
MUSIC = ("asterisk-moh-opsound-wav", "2.03-1.1", "CC-BY-SA-3.0")
MUSIC_AUTHORS = {
    "macroform": "Paul Shuler (Macroform)",
    "manolo_camp": "Manolo Camp",
    "reno_project": "Reno Project",
}
GAP_SECONDS = 0.3


def unpack(package, version, cache):
    """The package's files, unpacked under cache/package."""
    root = os.path.join(cache, package)
    if not os.path.isdir(root):
        deb = os.path.join(cache, f"{package}_{version}_all.deb")
        if not os.path.exists(deb):
            subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=cache, check=True)
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    return root


def read_mono16(path):
    with wave.open(path) as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise SystemExit(f"{path}: expected 16-bit mono")
        return w.getframerate(), w.readframes(w.getnframes())


def write_wav(path, rate, frames):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return len(frames) / 2 / rate


def folder(out, name):
    path = os.path.join(out, name)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "labels.csv"), "w") as f:
        f.write("file,start_s,end_s\n")
    return path


def sources(path, rows):
    with open(os.path.join(path, "SOURCES.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "package", "version", "licence", "author", "made_from"])
        writer.writerows(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "casebook-debs"))
    args = parser.parse_args()
    os.makedirs(args.cache, exist_ok=True)

    package, version, licence, author = SPEECH
    root = unpack(package, version, args.cache)
    prompts = sorted(glob.glob(f"{root}/usr/share/asterisk/sounds/en_US_f_Allison/**/*.wav", recursive=True))
    speech, confusable = folder(args.out, "speech"), folder(args.out, "confusable")
    stream, used, rate = bytearray(), [], None
    confusable_rows = []
    for path in prompts:
        prompt_rate, frames = read_mono16(path)
        rate = rate or prompt_rate
        if prompt_rate != rate:
            raise SystemExit(f"{path}: {prompt_rate} Hz, the others {rate} Hz")
        name = os.path.relpath(path, f"{root}/usr/share/asterisk/sounds/en_US_f_Allison")
        if "activ" in os.path.basename(path):
            file = name.replace("/", "_")
            write_wav(os.path.join(confusable, file), rate, frames)
            confusable_rows.append([file, package, version, licence, author, name])
            continue
        stream += frames + b"\0\0" * int(GAP_SECONDS * rate)
        used.append(name)
    minutes = write_wav(os.path.join(speech, "allison_prompts.wav"), rate, bytes(stream)) / 60
    sources(speech, [["allison_prompts.wav", package, version, licence, author, " ".join(used)]])
    sources(confusable, confusable_rows)
    print(f"{speech}: {len(used)} prompts, {minutes:.1f} min; {confusable}: {len(confusable_rows)} files")

    package, version, licence = MUSIC
    root = unpack(package, version, args.cache)
    music, rows, total = folder(args.out, "music"), [], 0.0
    for path in sorted(glob.glob(f"{root}/usr/share/asterisk/moh/*.wav")):
        file = os.path.basename(path)
        rate, frames = read_mono16(path)
        total += write_wav(os.path.join(music, file), rate, frames)
        who = next(v for k, v in MUSIC_AUTHORS.items() if file.startswith(k))
        rows.append([file, package, version, licence, who, f"usr/share/asterisk/moh/{file}"])
    sources(music, rows)
    print(f"{music}: {len(rows)} pieces, {total / 60:.1f} min")


if __name__ == "__main__":
    main()
