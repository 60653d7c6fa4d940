#!/bin/sh
# The nightly job as one unit: import what the gateway spooled, then bill every unbilled day.
#
# Cron and systemd start it with a bare environment (cron's PATH is /usr/bin:/bin), so the
# binary is $TOKENPLAN_BIN, which every shipped unit sets. When it can't be run, the script
# stops before touching the spool (exit 2).
#
# The gateway writes usage events as JSON Lines files into $TOKENPLAN_SPOOL, each written
# under a temporary name and renamed to `*.jsonl` when complete; only complete files are read.
# Each is imported, then moved to `imported/`, or to `refused/` when the import refused a row
# (exit 2). Any other failure leaves the file where it is for the next run and stops the job
# with the import's status. Importing a file again skips its exact repeats, so a crash between an import
# and its move loses and doubles nothing. Then `billing run` bills every day after the latest
# billed day (B18), and counts the files in `refused/` in its metrics and `billing status`.
# When $TOKENPLAN_ARCHIVE is set (a directory or s3://bucket/prefix, with the AWS_* variables),
# a run that exited 0 is followed by `billing archive --to "$TOKENPLAN_ARCHIVE"`: the events of
# days older than the window move to Parquet files there (B22). Its JSON lines go to stderr, so
# stdout carries only the run's summary lines. A failed archive deletes nothing and never
# un-bills: the days stay billed, and the next night archives again.
#
# Exit status: that of `billing run` (0 ok, 1 failed, 2 bad input, 3 billed but files not
# written, 75 the store stayed busy: try again later); after a run that exited 0, that of
# `billing archive` (1 failed, 2 the location can't be written, 75 busy); that of an import
# that failed otherwise than by refusing its file (75 when it found the store busy); 2 when
# $TOKENPLAN_BIN can't be run.
set -u
bin=${TOKENPLAN_BIN:-tokenplan}
spool=${TOKENPLAN_SPOOL:-/var/spool/tokenplan}
out=${TOKENPLAN_OUT:-/var/lib/tokenplan/statements}
metrics=${TOKENPLAN_METRICS:-/var/lib/node_exporter/textfile_collector/tokenplan.prom}
archive=${TOKENPLAN_ARCHIVE:-}
if ! "$bin" --version >/dev/null 2>&1; then
  echo "tokenplan: cannot run \`$bin\`; set TOKENPLAN_BIN to the tokenplan binary (PATH is $PATH); nothing was imported or billed" >&2
  exit 2
fi
mkdir -p "$spool/imported" "$spool/refused" || exit 2
for file in "$spool"/*.jsonl; do
  [ -f "$file" ] || continue
  "$bin" events import "$file" >&2  # stdout carries only the run's summary lines
  status=$?
  case $status in
    0) mv "$file" "$spool/imported/" ;;
    2) echo "tokenplan: $file refused (exit 2); moved to $spool/refused/" >&2
       mv "$file" "$spool/refused/" ;;
    *) echo "tokenplan: importing $file failed (exit $status); it stays in $spool for the next run" >&2
       exit "$status" ;;
  esac
done
"$bin" billing run --out "$out" --metrics "$metrics" --spool "$spool"
status=$?
if [ "$status" -ne 0 ] || [ -z "$archive" ]; then
  exit "$status"
fi
"$bin" billing archive --to "$archive" >&2
status=$?
[ "$status" -eq 0 ] || echo "tokenplan: archiving to $archive failed (exit $status); the days stay billed, and nothing was deleted" >&2
exit "$status"
