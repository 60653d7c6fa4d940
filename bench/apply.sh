#!/usr/bin/env bash
# `tokenplan apply` of a 10,000-step scenario (100 Teams, members, seats, keys, top-ups),
# timed with /usr/bin/time -v: ops/second and peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tokenplan-target}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/tokenplan"
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
work=$(mktemp -d)
python3 - "$work/scenario.yaml" <<'PY'
import sys
steps = []
def step(t, actor, do, **fields):
    f = ", ".join(f"{k}: {v}" for k, v in fields.items())
    steps.append(f"- {{ at: '2026-01-01T{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}Z', as: {actor}, do: {do}{', ' + f if f else ''} }}")
t = 0
for team in range(100):
    owner = f"o{team}"
    step(t, owner, "create_account"); t += 1
    step(t, owner, "create_team", team=f"t{team}", region="overseas" if team % 2 else "domestic"); t += 1
    step(t, owner, "buy_subscription", team=f"t{team}", tier="plus", seats=40); t += 1
    for m in range(30):
        user = f"m{team}_{m}"
        step(t, user, "create_account"); t += 1
        step(t, owner, "invite", team=f"t{team}", user=user, role="reader"); t += 1
        step(t, owner, "assign_seat", team=f"t{team}", tier="plus", user=user); t += 1
    for k in range(3):
        step(t, owner, "create_payg_key", team=f"t{team}", key=f"k{team}_{k}"); t += 1
    step(t, owner, "top_up_credits", team=f"t{team}", amount="'10.00'"); t += 1
    step(t, owner, "top_up_wallet", team=f"t{team}", amount="'10.00'"); t += 1
    step(t, owner, "delete_payg_key", team=f"t{team}", key=f"k{team}_0"); t += 1
    step(t, owner, "set_credits_access", team=f"t{team}", user=f"m{team}_0", enabled="false"); t += 1
assert len(steps) == 10000, len(steps)
open(sys.argv[1], "w").write("\n".join(steps) + "\n")
PY
/usr/bin/time -v "$bin" --db "$work/apply.duckdb" --quiet apply "$work/scenario.yaml" >/dev/null 2>"$work/time.txt"
secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$work/time.txt")
peak=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$work/time.txt")
python3 -c "print(f'10000 steps in {$secs} s: {10000/$secs:.0f} ops/s, peak {$peak} MB')"
rm -rf "$work"
