#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (cargo fuzz, libFuzzer, nightly) for SECONDS each
# (default 60), starting from the committed seed corpora in fuzz/corpus/<target>/ (new
# inputs go to a scratch directory, so the tree stays clean). Prints one line per target
# with its executions; a crash leaves its input in fuzz/artifacts/<target>/ and fails the
# run: turn it into a regression test, fix, and commit the input as a seed.
# The test command runs a short smoke pass (scripts/fuzz.sh 5).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
log() { printf '==> %s\n' "$*" >&2; }
rustup toolchain list | grep -q '^nightly' || { echo "a nightly toolchain is needed (rustup toolchain install nightly)" >&2; exit 1; }
command -v cargo-fuzz >/dev/null 2>&1 || { log "installing cargo-fuzz"; cargo install --locked --quiet cargo-fuzz@0.13.2; }
log "building the fuzz targets (nightly, AddressSanitizer)"
cargo +nightly fuzz build -O >&2
WORK=$(mktemp -d /tmp/portcullis-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
TARGETS=$(cargo +nightly fuzz list)
total=0
failed=0
printf '%-16s %12s  %s\n' target executions result
for t in $TARGETS; do
  mkdir -p "$WORK/$t"
  if cargo +nightly fuzz run -O "$t" "$WORK/$t" "fuzz/corpus/$t" -- \
      -max_total_time="$SECS" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
      >"$WORK/$t.log" 2>&1; then
    result=ok
  else
    result="FAILED (see fuzz/artifacts/$t/)"
    failed=$((failed + 1))
    tail -n 30 "$WORK/$t.log" >&2
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$WORK/$t.log" | tail -1 | grep -o '[0-9]*$' || echo 0)
  total=$((total + ${execs:-0}))
  printf '%-16s %12s  %s\n' "$t" "${execs:-0}" "$result"
done
printf '%-16s %12s\n' total "$total"
[ "$failed" -eq 0 ]
