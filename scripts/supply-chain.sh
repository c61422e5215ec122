#!/usr/bin/env bash
# Supply-chain checks, offline, against the RustSec snapshot in ../shared/advisory-db:
#   cargo deny: licences (allow-list), banned and duplicate crates, crates.io only, advisories
#   cargo audit: advisories (vulnerable, unmaintained, unsound) as errors
# Exceptions live in deny.toml, each with a reason that starts `expires = YYYY-MM-DD`; an
# expired exception fails the run. The tools are installed with `cargo install --locked`
# when missing. Run by scripts/test.sh; on its own: scripts/supply-chain.sh
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '==> %s\n' "$*" >&2; }

SNAP=""
for c in "${PORTCULLIS_ADVISORY_DB:-}" ../shared/advisory-db /work/shared/advisory-db; do
  if [ -n "$c" ] && [ -f "$c/SNAPSHOT.md" ]; then SNAP=$c; break; fi
done
if [ -z "$SNAP" ]; then
  echo "no RustSec snapshot found: set PORTCULLIS_ADVISORY_DB to a copy of the advisory database" >&2
  exit 1
fi

command -v cargo-deny >/dev/null 2>&1 || { log "installing cargo-deny"; cargo install --locked --quiet cargo-deny@0.20.2; }
command -v cargo-audit >/dev/null 2>&1 || { log "installing cargo-audit"; cargo install --locked --quiet cargo-audit@0.22.2; }

# cargo-deny looks for the default database under db-path in a directory named after its
# URL; both tools want a git checkout.
DB=target/advisory-dbs/advisory-db-3157b0e258782691
rm -rf "$DB"
mkdir -p "$(dirname "$DB")"
cp -r "$SNAP" "$DB"
git -C "$DB" init -q
git -C "$DB" add -A
git -C "$DB" -c user.email=ci@localhost -c user.name=ci commit -q -m "RustSec snapshot" >/dev/null

log "checking that no exception in deny.toml has expired"
IGNORES=$(python3 - <<'PY'
import datetime, re, sys
text = open("deny.toml").read()
today = datetime.date.today()
expired = [(m.group(1), line.strip()[:100]) for line in text.splitlines()
           for m in [re.search(r"expires = (\d{4}-\d{2}-\d{2})", line)] if m
           and datetime.date.fromisoformat(m.group(1)) < today]
for date, line in expired:
    print(f"expired exception ({date}): {line}", file=sys.stderr)
if expired:
    sys.exit(1)
print(" ".join(re.findall(r'id = "(RUSTSEC-\d{4}-\d{4})"', text)))
PY
)

# cargo deny reads the metadata of every platform's dependencies (wasm, android, ...), which
# a build on this machine never downloads: fetch them all (from crates.io, as locked) first.
log "fetching every platform's dependencies for cargo deny (cargo fetch --locked)"
cargo fetch --locked --quiet
log "cargo deny (licences, bans, duplicates, sources, advisories)"
cargo deny --offline check
log "cargo audit"
ARGS=()
for id in $IGNORES; do ARGS+=(--ignore "$id"); done
cargo audit --db "$DB" --no-fetch --deny warnings "${ARGS[@]}"
