#!/usr/bin/env bash
# Real day and night photographs for issue 13, rebuilt from photos.tsv:
#
#   scripts/daynight/real_photos.sh OUT
#
# Writes OUT/train/{day,night}/ and OUT/eval/{day,night}/, JPEGs of at most 640 px a side,
# named SOURCE-NAME.jpg. photos.tsv holds one row per photograph looked at: its set (train,
# eval, or - for those left out), its label (day, night; or dusk, other, dup for those left
# out), the GitHub repository and the git object of the file, its path there, and its licence.
# Labels were checked by eye on contact sheets. Left out: sunsets, dawns and blue hours
# (dusk), illustrations, space, close-ups with nothing to tell the time by, underexposed day
# photos (other), and second copies (dup).
#
# The sets are kept apart by source, so that no scene is in both:
#   train  udacity/CVND_Exercises (200 day + 200 night webcam frames of about 10 scenes, from
#          the AMOS data set), elementary/wallpapers, linuxdeepin/deepin-wallpapers, the
#          getsolus/artwork photos whose licence its Attribution file states, and (added
#          2026-12-04) ubuntucinnamon/ubuntucinnamon-wallpapers (licence per file in its
#          debian/copyright), UbuntuKylin/ubuntukylin-wallpapers (CC BY-SA 3.0, its
#          debian/copyright), languageseed/work_suite (Unsplash/Pexels, themes/images/LICENSE.md)
#          and endlessm/eos-media (per file in default_files/default_images/LICENSE.tsv);
#   eval   BuddiesOfBudgie/budgie-backgrounds (CC0), pop-os/wallpapers, the getsolus/artwork
#          photos missing from Attribution, vis-opt-group/SCI's night samples (of other
#          research data sets: used to measure, never to train), and (added 2026-12-04) the
#          night photos of QubesOS/qubes-artwork (Unsplash, backgrounds/README.md) and
#          project-trident/trident-core (Pexels, trident-space/README.md).
# Not used: copies of Ubuntu's own wallpaper-contest photos (such as azzamsa/ubuntu-wallpapers),
# which Ubuntu Touch's wallpapers, and so the reserved lomiri-wallpapers packages, may share.
# Never used here (reserved for independent evaluation, DEVELOPERS.md): lomiri, lxqt, KDE
# plasma, MATE and the other reserved wallpaper packages, and serengil/deepface.
#
# The repositories are read from snapshots made with the session tool `fetch` (development
# time only; nothing here is needed to build, test or run casebook): MIRROR (default
# /work/.mirror) holds OWNER+NAME/repo, a bare git directory per repository. Needs
# ImageMagick's convert.
set -euo pipefail
out=${1:?usage: real_photos.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
mirror=${MIRROR:-/work/.mirror}
command -v convert >/dev/null && convert -version >/dev/null 2>&1 ||
  { echo "error: needs ImageMagick (apt-get install imagemagick)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
written=0
while IFS=$'\t' read -r set label source object path licence; do
  [ "$set" = set ] || [ "$set" = - ] && continue
  repo=${source#github:}
  git_dir=$mirror/${repo/\//+}/repo
  [ -d "$git_dir" ] || { echo "error: no snapshot of $repo in $mirror (fetch github:$repo)" >&2; exit 1; }
  name=$(basename "$path"); name=${name%.*}
  dest=$out/$set/$label/${repo#*/}-${name// /_}.jpg
  [ -s "$dest" ] && { written=$((written + 1)); continue; }
  mkdir -p "$(dirname "$dest")"
  git -C "$git_dir" cat-file blob "$object" > "$tmp/original"
  convert "$tmp/original[0]" -auto-orient -resize '640x640>' -quality 92 "$tmp/small.jpg"
  mv "$tmp/small.jpg" "$dest"
  written=$((written + 1))
done < "$here/photos.tsv"
echo "$written photographs in $out:"
for d in "$out"/*/*; do echo "  ${d#$out/}: $(ls "$d" | wc -l)"; done
