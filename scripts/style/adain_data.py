#!/usr/bin/env python3
"""Training pictures for the built-in AdaIN model (crates/style/models/adain.casebook,
made by scripts/style/adain_builtin.sh).

    python3 scripts/style/adain_data.py OUT

Writes OUT/content/ (photographs) and OUT/styles/ (paintings), JPEGs cropped to
squares of 256 px, several crops per picture (train-adain takes each file's centre
square, so the crops are the augmentation), and OUT/sources.tsv: one row per
written file with its repository, commit or git object, path and licence.

Content: every photograph of scripts/daynight/photos.tsv from the sources that
issue 13's day/night *training* set uses (elementary/wallpapers,
linuxdeepin/deepin-wallpapers, getsolus/artwork; whatever their day/night label;
second copies and the getsolus files whose licence is not stated left out), and
every 10th frame of udacity/CVND_Exercises' day and
night webcam frames. The day/night evaluation sources are not used.

Styles: eight public-domain paintings, below. Two more, The Scream and The Great
Wave, are kept out of training: the README shows the model drawing styles it never
saw with them. A faithful photograph of a two-dimensional public-domain work adds
no copyright (Bridgeman v. Corel in the US; article 14 of the EU's 2019 copyright
directive), so the repositories' licences (for their code) do not bind these files.

Development time only. Needs Pillow and snapshots made with the session tool
`fetch` under MIRROR (default /work/.mirror): OWNER+NAME/repo (a bare git directory,
or a work tree whose .git is used).
"""

import csv
import io
import os
import subprocess
import sys

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
MIRROR = os.environ.get("MIRROR", "/work/.mirror")
SIDE = 256

# (repository, commit, path, painter and work, why it is in the public domain)
PAINTINGS = [
    ("jcjohnson/neural-style", "07c4b8299f8fbdafec0c514fc820ff1d7ff62e46",
     "examples/inputs/starry_night.jpg", "Vincent van Gogh, The Starry Night (1889)",
     "public domain: the painter died in 1890"),
    ("jcjohnson/neural-style", "07c4b8299f8fbdafec0c514fc820ff1d7ff62e46",
     "examples/inputs/shipwreck.jpg", "J. M. W. Turner, The Shipwreck of the Minotaur (c. 1810)",
     "public domain: the painter died in 1851"),
    ("jcjohnson/neural-style", "07c4b8299f8fbdafec0c514fc820ff1d7ff62e46",
     "examples/inputs/woman-with-hat-matisse.jpg", "Henri Matisse, Woman with a Hat (1905)",
     "public domain: published 1905 (US); the painter died in 1954 (life + 70)"),
    ("xunhuang1995/AdaIN-style", "6d8ac287f35010faf8feece4047bfe86c8c007d0",
     "input/style/contrast_of_forms.jpg", "Fernand Léger, Contrast of Forms (1913)",
     "public domain: published 1913 (US); the painter died in 1955 (life + 70)"),
    ("xunhuang1995/AdaIN-style", "6d8ac287f35010faf8feece4047bfe86c8c007d0",
     "input/style/mondrian.jpg", "Piet Mondrian, Tableau No. 2 / Composition No. V (1914)",
     "public domain: published 1914 (US); the painter died in 1944"),
    ("lengstrom/fast-style-transfer", "0d3d981f7ab948253d355585bdbdfa914247b4d0",
     "examples/style/udnie.jpg", "Francis Picabia, Udnie (1913)",
     "public domain: published 1913 (US); the painter died in 1953 (life + 70)"),
    ("cysmith/neural-style-tf", "a2c374f9ee2938f0022e1e0b720f4eb28cf7d0a8",
     "styles/kandinsky.jpg", "Wassily Kandinsky, Composition VII (1913)",
     "public domain: published 1913 (US); the painter died in 1944"),
    ("cysmith/neural-style-tf", "a2c374f9ee2938f0022e1e0b720f4eb28cf7d0a8",
     "examples/lions/styles/water_lilies_crop.jpg", "Claude Monet, Water Lilies (detail)",
     "public domain: the painter died in 1926"),
]
PHOTO_SOURCES = {"github:elementary/wallpapers", "github:linuxdeepin/deepin-wallpapers",
                 "github:getsolus/artwork"}
WEBCAM = "github:udacity/CVND_Exercises"


def git_dir(repo):
    base = os.path.join(MIRROR, repo.replace("/", "+"), "repo")
    return os.path.join(base, ".git") if os.path.isdir(os.path.join(base, ".git")) else base


def read_blob(repo, spec):
    return subprocess.run(["git", "--git-dir", git_dir(repo), "cat-file", "-p", spec],
                          check=True, capture_output=True).stdout


def squares(picture, crops):
    """`crops` squares of SIDE px: the centre one, then ones from the sides and,
    for larger pictures, closer views."""
    picture = picture.convert("RGB")
    w, h = picture.size
    short = min(w, h)
    boxes = []
    for scale in [1.0, 0.6]:
        side = int(short * scale)
        for fx, fy in [(0.5, 0.5), (0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0)]:
            x = int((w - side) * fx)
            y = int((h - side) * fy)
            box = (x, y, x + side, y + side)
            if box not in boxes:
                boxes.append(box)
    return [picture.crop(b).resize((SIDE, SIDE), Image.LANCZOS) for b in boxes[:crops]]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else sys.exit("usage: adain_data.py OUT")
    rows = []
    for sub in ["content", "styles"]:
        os.makedirs(os.path.join(out, sub), exist_ok=True)

    def write(sub, name, picture, source, spec, path, licence):
        file = os.path.join(sub, name)
        picture.save(os.path.join(out, file), quality=95)
        rows.append([file, source, spec, path, licence])

    for repo, commit, path, work, licence in PAINTINGS:
        picture = Image.open(io.BytesIO(read_blob(repo, f"{commit}:{path}")))
        stem = os.path.splitext(os.path.basename(path))[0]
        for i, crop in enumerate(squares(picture, 8)):
            write("styles", f"{stem}-{i}.jpg", crop, f"github:{repo}", commit, path,
                  f"{work}; {licence}")

    with open(os.path.join(REPO_ROOT, "scripts", "daynight", "photos.tsv")) as f:
        photos = list(csv.DictReader(f, delimiter="\t"))
    webcam = [p for p in photos if p["source"] == WEBCAM]
    chosen = [p for p in photos if p["source"] in PHOTO_SOURCES and p["label"] != "dup"
              and "evaluation only" not in p["licence"]]
    chosen += webcam[::10]
    for p in chosen:
        repo = p["source"].removeprefix("github:")
        picture = Image.open(io.BytesIO(read_blob(repo, p["object"])))
        stem = repo.split("/")[0] + "-" + os.path.splitext(os.path.basename(p["path"]))[0]
        crops = 1 if p["source"] == WEBCAM else 3
        for i, crop in enumerate(squares(picture, crops)):
            write("content", f"{stem}-{i}.jpg", crop, p["source"], p["object"], p["path"],
                  p["licence"])

    with open(os.path.join(out, "sources.tsv"), "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["file", "source", "commit_or_object", "path", "licence"])
        w.writerows(rows)
    for sub in ["content", "styles"]:
        print(f"{len(os.listdir(os.path.join(out, sub)))} pictures in {os.path.join(out, sub)}")


if __name__ == "__main__":
    main()
