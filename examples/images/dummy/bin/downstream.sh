#!/bin/sh
# Kaapana's dummy downstream: verifies both input channels against their SHA256SUMS and
# writes what it checked into its result channel. Any mismatch fails the task (exit 1).
set -eu
in=/home/downstream
result="$in/result/verified.txt"
echo "downstream: uid $(id -u) ($(id -un)), reading channel1 and channel2"
: >"$result"
for channel in channel1 channel2; do
  dir="$in/$channel"
  if ! (cd "$dir" && sha256sum -c -s SHA256SUMS); then
    echo "downstream: $channel does not match its SHA256SUMS" >&2
    exit 1
  fi
  files=$(wc -l <"$dir/SHA256SUMS")
  bytes=$(cat "$dir"/item-*.txt "$dir/payload.bin" | wc -c)
  echo "$channel: $files files verified, $bytes bytes" | tee -a "$result"
done
(cd "$in/result" && sha256sum verified.txt >SHA256SUMS)
echo "done"
