#!/bin/sh
# Produces one series of SLICES example "slices" (random data, 32 KiB each), a series.txt
# describing it and a SHA256SUMS manifest over both.
set -eu
out=/out/series
echo "produce: series $SERIES, $SLICES slices, uid $(id -u)"
i=1
while [ "$i" -le "$SLICES" ]; do
  dd if=/dev/urandom of="$out/$(printf 'slice-%03d.raw' "$i")" bs=1024 count=32 2>/dev/null
  i=$((i + 1))
done
printf 'series=%s\nslices=%s\n' "$SERIES" "$SLICES" >"$out/series.txt"
(cd "$out" && sha256sum series.txt slice-*.raw >SHA256SUMS)
echo "series $SERIES ready: $SLICES slices, $(du -sk "$out" | cut -f1) KiB"
