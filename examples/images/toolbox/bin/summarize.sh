#!/bin/sh
# Writes a report about a combined dataset after verifying it against its SHA256SUMS.
set -eu
in=/in/dataset
report=/out/report/report.txt
if ! (cd "$in" && sha256sum -c -s SHA256SUMS); then
  echo "summarize: the dataset does not match its SHA256SUMS" >&2
  exit 1
fi
{
  echo "dataset report"
  for dir in "$in"/*/; do
    name=$(basename "$dir")
    echo "series $name: $(ls "$dir"slice-*.raw | wc -l) slices, $(cat "$dir"slice-*.raw | wc -c) bytes"
  done
  echo "files verified: $(wc -l <"$in/SHA256SUMS")"
} >"$report"
cat "$report"
echo "report written: $report ($(wc -c <"$report") bytes)"
