#!/bin/sh
# The nightly job as one unit: import what the gateway spooled, then bill every unbilled day.
#
# The gateway writes usage events as JSON Lines files into $TOKENPLAN_SPOOL, each written
# under a temporary name and renamed to `*.jsonl` when complete. This script imports every
# complete file, then moves it to `imported/` (or `refused/` when a row can't be stored).
# Importing is idempotent by event id, so a crash between an import and its move loses and
# doubles nothing. Then `billing run` bills every day after the latest billed day (B18).
#
# Exit status: that of `billing run` (0 ok, 1 failed, 2 bad input, 3 billed but files not
# written, 75 the store stayed busy: try again later), or 75 when an import found the store
# busy.
set -u
spool=${TOKENPLAN_SPOOL:-/var/spool/tokenplan}
out=${TOKENPLAN_OUT:-/var/lib/tokenplan/statements}
metrics=${TOKENPLAN_METRICS:-/var/lib/node_exporter/textfile_collector/tokenplan.prom}
mkdir -p "$spool/imported" "$spool/refused"
for file in "$spool"/*.jsonl; do
  [ -e "$file" ] || continue
  tokenplan events import "$file" >&2  # stdout carries only the run's summary lines
  status=$?
  case $status in
    0) mv "$file" "$spool/imported/" ;;
    75) exit 75 ;;
    *) echo "tokenplan: $file refused (exit $status); moved to $spool/refused/" >&2
       mv "$file" "$spool/refused/" ;;
  esac
done
exec tokenplan billing run --out "$out" --metrics "$metrics"
