#!/usr/bin/env bash
# The nightly job against the baseline a user could write by hand: one DuckDB query of the
# day's per-key, per-model token totals. For each size: a store of 10,000 Teams with all events
# on one day, `billing run` timed with its peak memory (/usr/bin/time -v), and the query timed
# (best of 3) with DuckDB 2.0.0 from PyPI, the engine tokenplan bundles. The job runs twice: with
# the bundled prices, where no seat reaches its quota on the day, and with
# bench/prices-small-quota.yaml, where every seat crosses it and is funded event by event.
#
#   bench/billing.sh                 # 1M, 10M and 30M events
#   SIZES="1000000" bench/billing.sh # one size
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tokenplan-target}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/tokenplan"
python3 -c 'import duckdb; assert duckdb.__version__.startswith("2.0")' 2>/dev/null || pip install --quiet duckdb==2.0.0
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
work="${BENCH_DIR:-$HOME/.cache/tokenplan-bench}"
mkdir -p "$work"
day=2026-11-23

printf '%-10s %8s %9s %11s %12s %8s %7s %10s\n' events job_s peak_MB crossing_s crossing_MB query_s ratio crossing
# One timed run of `billing run` on a fresh copy of the store: prints seconds and peak MB.
timed_run() {
  local base="$1" tag="$2"; shift 2
  local run="$work/run.duckdb" time="$work/time-$tag.txt"
  rm -f "$run" "$run.wal"
  cp "$base" "$run"
  /usr/bin/time -v "$bin" --db "$run" --quiet billing run --date "$day" "$@" >"$work/summary-$tag.json" 2>"$time"
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]}
              /Maximum resident set size/ {mb=$2/1024}
              END {printf "%s %.0f\n", s, mb}' "$time"
}
for events in ${SIZES:-1000000 10000000 30000000}; do
  base="$work/store-$events.duckdb"
  if [ ! -f "$base" ]; then
    "$bin" --db "$base" --quiet generate --teams 10000 --members 10 --days 1 --events "$events" --last-day "$day"
  fi
  read -r job_s peak_mb < <(timed_run "$base" "$events")
  read -r crossing_s crossing_mb < <(timed_run "$base" "$events-crossing" --prices bench/prices-small-quota.yaml)
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
  ratio=$(python3 -c "print(f'{$job_s/$query_s:.1f}x')")
  crossing=$(python3 -c "print(f'{$crossing_s/$query_s:.1f}x')")
  printf '%-10s %8s %9s %11s %12s %8s %7s %10s\n' "$events" "$job_s" "$peak_mb" "$crossing_s" "$crossing_mb" "$query_s" "$ratio" "$crossing"
done
