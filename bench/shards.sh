#!/usr/bin/env bash
# A night across machines (B23) on this machine: the same night as one `billing run`, and as
# `billing plan --shards N`, N `billing shard` processes at once, and `billing commit`, each
# a whole process timed with /usr/bin/time -v (wall time, peak memory), on a store made by
# `generate --teams TEAMS --members 10` with EVENTS events on the day and as many the day
# before (billed first, outside the timing). The stage is a local directory.
#
#   bench/shards.sh                                   # 10M events; 10,000 and 100,000 Teams
#   TEAMS="10000" EVENTS=1000000 SHARDS=2 bench/shards.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
build
work="${BENCH_DIR:-$HOME/.cache/tokenplan-bench}/shards"
mkdir -p "$work"
day=2026-11-23
events=${EVENTS:-10000000}
shards=${SHARDS:-2}
run="$work/run.duckdb"
stage="$work/stage"

printf '%-7s %8s %7s %7s %7s %9s %9s %9s %8s %8s %9s %8s\n' \
  teams run_s run_MB plan_s plan_MB shard_s shard_MB shards_s commit_s commit_MB sharded_s stage_MB
for teams in ${TEAMS:-10000 100000}; do
  base="$work/store-${PROFILE:-release}-$teams-$events.duckdb"
  if [ ! -f "$base" ]; then
    echo "making a store of $teams Teams (once)" >&2
    "$bin" --db "$base.tmp" --quiet generate --teams "$teams" --members 10 --days 2 \
      --events $((events * 2)) --last-day "$day"
    "$bin" --db "$base.tmp" --quiet billing run --date "$(date -d "$day - 1 day" +%F)" >/dev/null
    mv "$base.tmp" "$base"
  fi
  rm -rf "$run" "$run.wal" && cp "$base" "$run"
  read -r run_s run_mb < <(timed "$bin" --db "$run" --quiet billing run --date "$day")
  rm -rf "$run" "$run.wal" "$stage" && cp "$base" "$run"
  read -r plan_s plan_mb < <(timed "$bin" --db "$run" --quiet billing plan --date "$day" \
    --stage "$stage" --shards "$shards")
  started=$(date +%s.%N)
  for k in $(seq 0 $((shards - 1))); do
    timed "$bin" --quiet billing shard --stage "$stage" --index "$k" >"$work/shard-$k.txt" &
  done
  wait
  shards_s=$(python3 -c "import time; print(round(time.time() - $started, 2))")
  shard_s=$(cut -d' ' -f1 "$work"/shard-*.txt | sort -n | tail -1)
  shard_mb=$(cut -d' ' -f2 "$work"/shard-*.txt | sort -n | tail -1)
  stage_mb=$(du -sm "$stage" | cut -f1)
  read -r commit_s commit_mb < <(timed "$bin" --db "$run" --quiet billing commit --stage "$stage")
  printf '%-7s %8s %7s %7s %7s %9s %9s %9s %8s %8s %9s %8s\n' \
    "$teams" "$run_s" "$run_mb" "$plan_s" "$plan_mb" "$shard_s" "$shard_mb" "$shards_s" \
    "$commit_s" "$commit_mb" \
    "$(python3 -c "print(round($plan_s + $shards_s + $commit_s, 2))")" "$stage_mb"
done
echo "shard_s, shard_MB: the slowest shard's time and the largest peak; shards_s: all $shards at once" >&2
