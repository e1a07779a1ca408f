#!/bin/sh
# Kaapana's dummy upstream: writes example data into its two output channels. Each channel
# gets a few text items, a binary payload of PAYLOAD_KIB KiB and a SHA256SUMS manifest that
# the downstream task verifies.
set -eu
out=/home/upstream
count=3
[ "$MODE" = thorough ] && count=6
echo "upstream: uid $(id -u) ($(id -un)), MODE=$MODE, $count items and $PAYLOAD_KIB KiB per channel"
for channel in channel1 channel2; do
  dir="$out/$channel"
  i=1
  while [ "$i" -le "$count" ]; do
    printf '%s item %d of %d (mode %s)\n' "$channel" "$i" "$count" "$MODE" >"$dir/item-$i.txt"
    i=$((i + 1))
  done
  dd if=/dev/urandom of="$dir/payload.bin" bs=1024 count="$PAYLOAD_KIB" 2>/dev/null
  (cd "$dir" && sha256sum item-*.txt payload.bin >SHA256SUMS)
  echo "producing $channel: $(ls "$dir" | wc -l) files, $(du -sk "$dir" | cut -f1) KiB"
done
sleep "$TIME_SLEEP"
echo "upstream done"
