#!/bin/sh
# Combines two series into one dataset: verifies each input against its SHA256SUMS, copies
# both below combined/, and writes one SHA256SUMS over the whole dataset.
set -eu
out=/out/combined
for side in left right; do
  src="/in/$side"
  if ! (cd "$src" && sha256sum -c -s SHA256SUMS); then
    echo "combine: input $side does not match its SHA256SUMS" >&2
    exit 1
  fi
  series=$(sed -n 's/^series=//p' "$src/series.txt")
  mkdir "$out/$series"
  cp "$src"/series.txt "$src"/slice-*.raw "$out/$series/"
  echo "combine: $side is series $series, $(ls "$src"/slice-*.raw | wc -l) slices verified"
done
(cd "$out" && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum >SHA256SUMS)
echo "combined $(ls -d "$out"/*/ | wc -l) series: $(grep -c 'slice-' "$out/SHA256SUMS") slices"
