#!/usr/bin/env bash
# The nightly job against the baseline a user could write by hand: one DuckDB query of the
# day's per-key, per-model token totals. For each size: a store of 10,000 Teams with all events
# on one day, `billing run` timed with its peak memory (/usr/bin/time -v), and the query timed
# (best of 3) with DuckDB 2.0.0 from PyPI, the engine tokenplan bundles, and again in the bundled
# build itself (examples/baseline_query.rs: no Python rows to build). The job runs three
# times per size:
#   job       the bundled prices: no seat reaches its quota on the day;
#   next day  the night after, on the same store: a tenth as many new events, and two ids of
#             the billed day sent again (so the run also looks for ids already settled);
#   crossing  bench/prices-small-quota.yaml: every seat crosses its quota and is funded event
#             by event.
# Each timed run is one night: the days of the generated history before the benchmarked day
# are billed first, outside the timing (B18). Then, once: a 30-day catch-up (a store with 30
# days of events, the days before them billed, one run bills all 30) against the one night of
# its last day.
#
#   bench/billing.sh                 # 1M, 10M and 30M events
#   SIZES="1000000" bench/billing.sh # one size
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tokenplan-target}"
cargo build --release --quiet --bins --example baseline_query
bin="$CARGO_TARGET_DIR/release/tokenplan"
python3 -c 'import duckdb; assert duckdb.__version__.startswith("2.0")' 2>/dev/null || pip install --quiet duckdb==2.0.0
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
work="${BENCH_DIR:-$HOME/.cache/tokenplan-bench}"
mkdir -p "$work"
day=2026-11-23
next=2026-11-24
run="$work/run.duckdb"

# `billing run` on DB for DATE, timed: prints seconds and peak MB.
time_job() {
  local db="$1" date="$2" tag="$3"; shift 3
  local time="$work/time-$tag.txt"
  /usr/bin/time -v "$bin" --db "$db" --quiet billing run --date "$date" "$@" >"$work/summary-$tag.json" 2>"$time"
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]}
              /Maximum resident set size/ {mb=$2/1024}
              END {printf "%s %.0f\n", s, mb}' "$time"
}

# A fresh copy of the store BASE as the run's store.
fresh() {
  rm -f "$run" "$run.wal"
  cp "$1" "$run"
}

# The next day's events: a tenth as many as EVENTS, and two ids of the billed day again.
add_next_day() {
  python3 - "$run" "$1" <<'PY'
import sys, duckdb
con = duckdb.connect(sys.argv[1])
n = int(sys.argv[2]) // 10
columns = "ts + INTERVAL 1 DAY, key_id, model, input_tokens, output_tokens, ingested_at"
con.execute(f"INSERT INTO usage_events SELECT 'n' || event_id, {columns} FROM usage_events WHERE rowid < {n}")
con.execute(f"INSERT INTO usage_events SELECT event_id, {columns} FROM usage_events WHERE rowid IN (5, 7)")
PY
}

printf '%-10s %7s %8s %10s %11s %12s %8s %7s %9s %10s %8s\n' \
  events job_s peak_MB next_day_s crossing_s crossing_MB query_s ratio crossing query_rs_s ratio_rs
for events in ${SIZES:-1000000 10000000 30000000}; do
  base="$work/store-$events.duckdb"
  if [ ! -f "$base" ]; then
    "$bin" --db "$base" --quiet generate --teams 10000 --members 10 --days 1 --events "$events" --last-day "$day"
    # The days before the benchmarked one, billed outside the timing (B18).
    "$bin" --db "$base" --quiet billing run --date "$(date -d "$day - 1 day" +%F)" >/dev/null
  fi
  fresh "$base"
  read -r job_s peak_mb < <(time_job "$run" "$day" "$events")
  add_next_day "$events"
  read -r next_s _ < <(time_job "$run" "$next" "$events-next")
  fresh "$base"
  read -r crossing_s crossing_mb < <(time_job "$run" "$day" "$events-crossing" --prices bench/prices-small-quota.yaml)
  query_s=$(python3 - "$base" "$day" <<'PY'
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
sql = f"""SELECT key_id, model, sum(input_tokens), sum(output_tokens), count(*)
          FROM usage_events
          WHERE ts >= TIMESTAMPTZ '{sys.argv[2]} 00:00:00+00' AND ts < TIMESTAMPTZ '{sys.argv[2]} 00:00:00+00' + INTERVAL 1 DAY
          GROUP BY ALL"""
best = float("inf")
for _ in range(3):
    t = time.perf_counter(); con.execute(sql).fetchall(); best = min(best, time.perf_counter() - t)
print(f"{best:.3f}")
PY
)
  query_rs_s=$("$CARGO_TARGET_DIR/release/examples/baseline_query" "$base" "$day")
  ratio_rs=$(python3 -c "print(f'{$job_s/$query_rs_s:.1f}x')")
  ratio=$(python3 -c "print(f'{$job_s/$query_s:.1f}x')")
  crossing=$(python3 -c "print(f'{$crossing_s/$query_s:.1f}x')")
  printf '%-10s %7s %8s %10s %11s %12s %8s %7s %9s %10s %8s\n' \
    "$events" "$job_s" "$peak_mb" "$next_s" "$crossing_s" "$crossing_mb" "$query_s" "$ratio" "$crossing" \
    "$query_rs_s" "$ratio_rs"
done

# A 30-day catch-up against one night, on a store with 30 days of events.
events=${CATCHUP_EVENTS:-10000000}
base="$work/store-$events-30d.duckdb"
first=$(date -d "$day - 29 days" +%F)
if [ ! -f "$base" ]; then
  "$bin" --db "$base" --quiet generate --teams 10000 --members 10 --days 30 --events "$events" --last-day "$day"
  "$bin" --db "$base" --quiet billing run --date "$(date -d "$first - 1 day" +%F)" >/dev/null
fi
fresh "$base"
read -r catchup_s catchup_mb < <(time_job "$run" "$day" "$events-catchup")
fresh "$base"
"$bin" --db "$run" --quiet billing run --date "$(date -d "$day - 1 day" +%F)" >/dev/null
read -r night_s night_mb < <(time_job "$run" "$day" "$events-night")
printf '\n%-10s %12s %11s %12s %11s %9s\n' events catchup_30d_s catchup_MB one_night_s night_MB per_night
printf '%-10s %12s %11s %12s %11s %9s\n' "$events" "$catchup_s" "$catchup_mb" "$night_s" "$night_mb" \
  "$(python3 -c "print(f'{$catchup_s/30/$night_s:.2f}x')")"
