#!/usr/bin/env bash
# The formal `policy diff` (cedar-policy-symcc + cvc5) of the reviewed policies: against
# themselves (every environment proved both ways) and against a copy with one conditional
# loosening (a counterexample found, explained and run through both sets). Best of 5 wall
# times and the peak memory, with /usr/bin/time -v. `policy check` (with the solver's
# dead-and-redundant search) is timed the same way.
#
#   bench/policy-diff.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tokenplan-target}"
cargo build --release --quiet --bins
bin="$CARGO_TARGET_DIR/release/tokenplan"
command -v cvc5 >/dev/null || apt-get install -y -qq cvc5 >/dev/null
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r policies "$work/loosened"
cat >>"$work/loosened/roles.cedar" <<'CEDAR'

@id("reader-invites-at-37")
@rule("M1")
permit (principal, action == Action::"invite", resource)
when { principal.role == Role::"reader" && resource.member_count == 37 };
CEDAR

# Best wall time (s) of 5 runs of the command, and the peak RSS (MB) of the best.
best_of_5() {
  local best="" mb=""
  for _ in 1 2 3 4 5; do
    /usr/bin/time -v "$@" >/dev/null 2>"$work/time" || true
    read -r s m < <(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]}
                               /Maximum resident set size/ {mb=$2/1024}
                               END {printf "%s %.0f\n", s, mb}' "$work/time")
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $s < $best else 1)"; then best=$s; mb=$m; fi
  done
  echo "$best $mb"
}

printf '%-28s %8s %8s\n' run best_s peak_MB
read -r s mb < <(best_of_5 "$bin" policy diff policies policies)
printf '%-28s %8s %8s\n' "diff, same policies" "$s" "$mb"
read -r s mb < <(best_of_5 "$bin" policy diff policies "$work/loosened")
printf '%-28s %8s %8s\n' "diff, one loosening" "$s" "$mb"
read -r s mb < <(best_of_5 "$bin" policy diff --probes-only policies policies)
printf '%-28s %8s %8s\n' "diff --probes-only" "$s" "$mb"
read -r s mb < <(best_of_5 "$bin" policy check)
printf '%-28s %8s %8s\n' "check, with the solver" "$s" "$mb"
