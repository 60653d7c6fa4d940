# Shared by the bench scripts: sourced, never run.

# Runs the rest of the line as one process timed by /usr/bin/time -v, its stdout to
# $work/stdout.txt; prints its wall seconds and peak resident MB.
timed() {
  local time
  time=$(mktemp "$work/time.XXXXXX")
  /usr/bin/time -v "$@" >"$work/stdout.txt" 2>"$time" || { cat "$time" >&2; exit 1; }
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]}
              /Maximum resident set size/ {mb=$2/1024}
              END {printf "%s %.0f\n", s, mb}' "$time"
  rm -f "$time"
}

# The size of a file in MB.
mb() { python3 -c "import os,sys; print(round(os.path.getsize(sys.argv[1]) / 2**20))" "$1"; }

# The release binary (or PROFILE=debug, for the shape only), built if need be, as $bin.
build() {
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tokenplan-target}"
  local profile=${PROFILE:-release}
  if [ "$profile" = release ]; then cargo build --release --quiet --bins; else cargo build --quiet --bins; fi
  bin="$CARGO_TARGET_DIR/$profile/tokenplan"
  [ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
}
