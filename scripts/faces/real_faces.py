#!/usr/bin/env python3
"""Rebuild the real-face verification set (LFW layout) from freely licensed photographs.

    python3 scripts/faces/real_faces.py OUT [--mirror DIR ...] [--max-side 400] [--split] [--seed 42]

Writes OUT/<person>/<person>_NNNN.{png,jpg} (at least two photographs of every
person) and OUT/manifest.csv, one row per image: where it came from (GitHub
repository, pinned commit, path), its licence and attribution, the sha256 of the
source file and of the file written.  scripts/faces/real_faces.md describes the
set, its sources and caveats.

Sources are read from GitHub snapshots at pinned commits: by default over HTTPS
from https://raw.githubusercontent.com/OWNER/REPO/COMMIT/PATH, or with
--mirror DIR from local bare git mirrors (`git --git-dir=... show COMMIT:PATH`).
DIR may be a bare repository itself or a folder holding mirrors as
OWNER+REPO/repo, OWNER+REPO, OWNER/REPO(.git) or REPO(.git); repeat --mirror
for several.

Images larger than --max-side pixels (default 400; 0 keeps every original) are
downscaled with Pillow's Lanczos filter and stored as PNG, so faces come out
about LFW-sized and detection stays affordable on a CPU; smaller images are
copied byte for byte.  The set is rebuilt from scratch: OUT must be empty or
hold only an earlier build of this script.

--split also writes OUT-train and OUT-test next to OUT: the people split into
two person-disjoint halves (each source halved separately; the order is the
sha256 of "SEED:person", so it is stable and seeded), as hard links to the
files in OUT (copies where links are impossible), each with its own
manifest.csv.  Fine-tune an encoder on one half, evaluate on the other.

Standard library and Pillow only.
"""

import argparse
import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import time
import urllib.request

from PIL import Image, ImageOps

WEBMORPH_STIM = {
    "repo": "debruine/webmorphR.stim",
    "commit": "fa8b78fda2d659bb74ce62fcd99c4407551d2a77",
}

# Face Research Lab London Set (DeBruine & Jones 2017), as shipped in webmorphR.stim:
# each person photographed neutral (NNN_03) and smiling (NNN_08), front view, one session.
LONDON_IDS = (
    "001 002 003 004 005 006 007 008 009 010 011 012 013 014 016 017 018 019 020 021 022 024 "
    "025 026 027 029 030 031 032 033 034 036 037 038 039 041 042 043 044 045 061 062 063 064 "
    "066 067 068 069 070 081 082 083 086 087 090 091 092 094 096 097 099 100 101 102 103 104 "
    "105 107 108 112 113 114 115 117 118 119 120 121 122 123 124 125 126 127 128 129 130 131 "
    "132 134 135 136 137 138 139 140 141 142 143 144 172 173"
).split()

LONDON_LICENCE = "CC-BY-4.0"
LONDON_CREDIT = ("DeBruine, L., & Jones, B. (2017). Face Research Lab London Set (Version 5). "
                 "figshare. https://doi.org/10.6084/m9.figshare.5047666.v5")
LISA_LICENCE = "CC0-1.0"
LISA_CREDIT = "Lisa DeBruine, webmorphR.stim (stimulus sets 'lisa' and 'zoom', marked CC-0 in its README)"


def catalogue():
    """Every image: (person, repo, commit, path, licence, credit)."""
    items = []
    for face_id in LONDON_IDS:
        for view in ("neutral_front/%s_03.jpg", "smiling_front/%s_08.jpg"):
            items.append((f"london_{face_id}", WEBMORPH_STIM["repo"], WEBMORPH_STIM["commit"],
                          "inst/" + view % face_id, LONDON_LICENCE, LONDON_CREDIT))
    # One person, two sessions: four photos varying face size, position and rotation
    # ("lisa") and four at different head-to-camera distances ("zoom").
    for path in ["inst/lisa/lisa%d.jpg" % i for i in range(1, 5)] + \
                ["inst/zoom/%dcm.jpg" % d for d in (15, 30, 45, 60)]:
        items.append(("debruine_lisa", WEBMORPH_STIM["repo"], WEBMORPH_STIM["commit"], path,
                      LISA_LICENCE, LISA_CREDIT))
    return items


def source_group(person):
    return person.split("_", 1)[0]


class Fetcher:
    def __init__(self, mirrors):
        self.mirrors = mirrors

    def git_dir(self, repo):
        owner, name = repo.split("/")
        for base in self.mirrors:
            candidates = [base, os.path.join(base, f"{owner}+{name}", "repo"),
                          os.path.join(base, f"{owner}+{name}"), os.path.join(base, owner, name + ".git"),
                          os.path.join(base, owner, name), os.path.join(base, name + ".git"),
                          os.path.join(base, name)]
            for c in candidates:
                if os.path.isfile(os.path.join(c, "HEAD")) and os.path.isdir(os.path.join(c, "objects")):
                    if c == base and len(self.mirrors) > 1 and not self._has_repo(c, repo):
                        continue
                    return c
        return None

    @staticmethod
    def _has_repo(git_dir, repo):
        # A bare mirror given directly: accept it only if its origin names the repository.
        r = subprocess.run(["git", "--git-dir", git_dir, "config", "--get", "remote.origin.url"],
                           capture_output=True, text=True)
        return r.returncode != 0 or repo.lower() in r.stdout.lower()

    def get(self, repo, commit, path):
        if self.mirrors:
            git_dir = self.git_dir(repo)
            if git_dir is None:
                sys.exit(f"real_faces.py: no mirror of {repo} under {', '.join(self.mirrors)}")
            r = subprocess.run(["git", "--git-dir", git_dir, "show", f"{commit}:{path}"], capture_output=True)
            if r.returncode != 0:
                sys.exit(f"real_faces.py: {repo}@{commit}:{path}: {r.stderr.decode().strip()}")
            return r.stdout
        url = f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
        for attempt in range(4):
            try:
                with urllib.request.urlopen(url, timeout=60) as resp:
                    return resp.read()
            except Exception as e:  # network hiccups: retry, then give up loudly
                if attempt == 3:
                    sys.exit(f"real_faces.py: {url}: {e}")
                time.sleep(2 ** attempt)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def prepare(data, max_side):
    """(bytes to write, extension, original size, written size)."""
    im = Image.open(io.BytesIO(data))
    size = im.size
    if max_side <= 0 or max(size) <= max_side:
        ext = {"JPEG": "jpg", "PNG": "png"}.get(im.format)
        if ext is None:
            sys.exit(f"real_faces.py: unexpected image format {im.format}")
        return data, ext, size, size
    im = ImageOps.exif_transpose(im).convert("RGB")
    scale = max_side / max(im.size)
    new = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
    im = im.resize(new, Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    return buf.getvalue(), "png", size, new


FIELDS = ["file", "person", "repository", "commit", "path", "licence", "source_sha256",
          "source_size", "stored_size", "file_sha256", "url", "credit"]


def write_manifest(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow(r)


def clear(out):
    """Empty OUT, refusing to delete anything this script did not write."""
    if not os.path.exists(out):
        os.makedirs(out)
        return
    entries = os.listdir(out)
    if entries and "manifest.csv" not in entries:
        sys.exit(f"real_faces.py: {out} is not empty and holds no manifest.csv; give an empty or new folder")
    for e in entries:
        p = os.path.join(out, e)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.remove(p)


def build(out, fetcher, max_side):
    clear(out)
    rows, counters = [], {}
    for person, repo, commit, path, licence, credit in catalogue():
        data = fetcher.get(repo, commit, path)
        stored, ext, src_size, new_size = prepare(data, max_side)
        counters[person] = counters.get(person, 0) + 1
        name = f"{person}_{counters[person]:04d}.{ext}"
        os.makedirs(os.path.join(out, person), exist_ok=True)
        with open(os.path.join(out, person, name), "wb") as f:
            f.write(stored)
        rows.append({
            "file": f"{person}/{name}", "person": person, "repository": repo, "commit": commit,
            "path": path, "licence": licence, "source_sha256": sha256(data),
            "source_size": "%dx%d" % src_size, "stored_size": "%dx%d" % new_size,
            "file_sha256": sha256(stored),
            "url": f"https://github.com/{repo}/blob/{commit}/{path}", "credit": credit,
        })
    write_manifest(os.path.join(out, "manifest.csv"), rows)
    return rows


def split(out, rows, seed):
    """Person-disjoint halves OUT-train and OUT-test (each source halved separately)."""
    people = sorted({r["person"] for r in rows})
    groups = {}
    for p in people:
        groups.setdefault(source_group(p), []).append(p)
    train = set()
    for members in groups.values():
        ranked = sorted(members, key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
        train.update(ranked[: (len(ranked) + 1) // 2])
    halves = {}
    for half, keep in (("train", lambda p: p in train), ("test", lambda p: p not in train)):
        target = out.rstrip("/") + "-" + half
        clear(target)
        chosen = [r for r in rows if keep(r["person"])]
        for r in chosen:
            dst = os.path.join(target, r["file"])
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            try:
                os.link(os.path.join(out, r["file"]), dst)
            except OSError:
                shutil.copy2(os.path.join(out, r["file"]), dst)
        write_manifest(os.path.join(target, "manifest.csv"), chosen)
        halves[half] = (target, len({r["person"] for r in chosen}), len(chosen))
    return halves


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("out", help="folder to write (LFW layout + manifest.csv)")
    ap.add_argument("--mirror", action="append", default=[], metavar="DIR",
                    help="read sources from local bare git mirrors instead of raw.githubusercontent.com")
    ap.add_argument("--max-side", type=int, default=400,
                    help="downscale images larger than this many pixels (0: keep originals)")
    ap.add_argument("--split", action="store_true", help="also write person-disjoint OUT-train and OUT-test")
    ap.add_argument("--seed", type=int, default=42, help="seed of the --split rule")
    args = ap.parse_args()

    rows = build(args.out, Fetcher(args.mirror), args.max_side)
    people = {}
    for r in rows:
        people[r["person"]] = people.get(r["person"], 0) + 1
    print(f"{args.out}: {len(people)} people, {len(rows)} images "
          f"({min(people.values())}-{max(people.values())} per person)")
    for lic in sorted({r["licence"] for r in rows}):
        print(f"  {lic}: {sum(r['licence'] == lic for r in rows)} images")
    if args.split:
        for half, (target, n_people, n_images) in split(args.out, rows, args.seed).items():
            print(f"{target}: {n_people} people, {n_images} images ({half})")


if __name__ == "__main__":
    main()
