#!/usr/bin/env bash
# A night at any age (B21, B22): the same night on stores with 1, 30 and 90 days of billed
# history before it, each a whole process timed with /usr/bin/time -v (wall time, peak memory).
# Per age, on a store made by `generate --teams 10000 --members 10` with EVENTS_PER_DAY events
# a day, every day before the last billed first (outside the timing):
#   night        `billing run` of the last day, the history left in the store;
#   archived     the same night after `billing archive` moved the days older than the window
#                out (what `jobs/nightly.sh` with TOKENPLAN_ARCHIVE does every night);
#   status       `billing status` before the night;
#   baseline     ../shared/bench/sql-baseline.py on the same store and day (best of 3), the same
#                semantics hand-written as one DuckDB SQL pass;
#   store_MB     the file before and after the archive, and after CHECKPOINT.
#
#   bench/aging.sh                                  # 1, 30, 90 days at 2M events a day
#   AGES="1 30" EVENTS_PER_DAY=200000 bench/aging.sh
#   PROFILE=debug TEAMS=2000 ...      # the shape only, without a release build (not for numbers)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
build
profile=${PROFILE:-release}
baseline="${BASELINE:-../shared/bench/sql-baseline.py}"
python3 -c 'import duckdb; assert duckdb.__version__.startswith("2.0")' 2>/dev/null || pip install --quiet duckdb==2.0.0
work="${BENCH_DIR:-$HOME/.cache/tokenplan-bench}/aging"
mkdir -p "$work"
day=2026-11-23
teams=${TEAMS:-10000}
per_day=${EVENTS_PER_DAY:-2000000}
run="$work/run.duckdb"

# A fresh copy of the store BASE as the run's store.
fresh() {
  rm -rf "$run" "$run.wal" "$work/archive"
  cp "$1" "$run"
  # The copy's pages written out first: the night is not timed against the copy's writeback.
  sync
}

printf '%-5s %8s %8s %11s %11s %9s %11s %7s %9s %9s %12s\n' \
  age_d night_s peak_MB archived_s archived_MB status_s baseline_s ratio store_MB archive_s archived_to_MB
for age in ${AGES:-1 30 90}; do
  base="$work/store-$profile-$teams-$per_day-$age.duckdb"
  if [ ! -f "$base" ]; then
    echo "making a store with $age day(s) of history (once)" >&2
    "$bin" --db "$base.tmp" --quiet generate --teams "$teams" --members 10 --days $((age + 1)) \
      --events $((per_day * (age + 1))) --last-day "$day"
    "$bin" --db "$base.tmp" --quiet billing run --date "$(date -d "$day - 1 day" +%F)" >/dev/null
    mv "$base.tmp" "$base"
  fi
  # A store made by an earlier version is upgraded once, untimed: a command that writes
  # applies pending migrations (reproducing the billed day changes nothing else).
  "$bin" --db "$base" --quiet billing run --date "$(date -d "$day - 1 day" +%F)" >/dev/null
  fresh "$base"
  read -r status_s _ < <(timed "$bin" --db "$run" --quiet billing status --format json)
  read -r night_s night_mb < <(timed "$bin" --db "$run" --quiet billing run --date "$day")
  baseline_s=$(python3 "$baseline" "$run" "$day" "$teams" | awk '{print $1; exit}')
  fresh "$base"
  before_mb=$(mb "$run")
  read -r archive_s _ < <(timed "$bin" --db "$run" --quiet billing archive --to "$work/archive")
  after_mb=$(mb "$run")
  python3 -c "import duckdb,sys; duckdb.connect(sys.argv[1]).execute('CHECKPOINT')" "$run"
  checkpointed_mb=$(mb "$run")
  archived_to_mb=$(du -sm "$work/archive" | cut -f1)
  read -r archived_s archived_mb < <(timed "$bin" --db "$run" --quiet billing run --date "$day")
  printf '%-5s %8s %8s %11s %11s %9s %11s %7s %9s %9s %12s\n' \
    "$age" "$night_s" "$night_mb" "$archived_s" "$archived_mb" "$status_s" "$baseline_s" \
    "$(python3 -c "print(f'{$night_s/$baseline_s:.2f}x')")" \
    "$before_mb/$after_mb/$checkpointed_mb" "$archive_s" "$archived_to_mb"
done
