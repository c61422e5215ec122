#!/usr/bin/env bash
# Runs every test: supply-chain checks, unit tests of each crate, the integration suite over real HTTP against
# SQLite and a throwaway PostgreSQL cluster (installed with apt-get when missing, started on
# loopback as the `postgres` user, removed afterwards), and, when run without arguments,
# schemathesis against the OpenAPI document and a short fuzzing pass of every target
# (arguments are nextest filters; they skip both).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- PostgreSQL -----------------------------------------------------------------------------
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing PostgreSQL"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PGDIR=$(mktemp -d /tmp/portcullis-pg.XXXXXX)
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir "$PGDIR" postgres
  chown postgres "$PGDIR"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi
cleanup() {
  as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PGDIR"
}
trap cleanup EXIT
log "starting a throwaway PostgreSQL cluster on 127.0.0.1:$PGPORT"
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres -A trust --no-sync >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 start \
  -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDIR -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null
export PORTCULLIS_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"

# --- Independent clients --------------------------------------------------------------------
if ! python3 -c 'import yaml, jwt, cryptography, pyotp, standardwebhooks, http_message_signatures, requests, altcha, mmdb_writer, netaddr, aiosmtpd, grpc, grpc_health.v1, authlib' >/dev/null 2>&1; then
  log "installing PyJWT, pyotp, standardwebhooks, http-message-signatures, altcha, mmdb-writer, aiosmtpd, grpcio, Authlib (independent clients)"
  python3 -m pip install --quiet --disable-pip-version-check 'pyjwt[crypto]>=2.8' 'pyotp>=2.9' \
    'standardwebhooks>=1.0' 'http-message-signatures>=0.5' 'requests>=2.31' 'altcha>=2.3,<3' \
    'mmdb-writer>=0.2.7' 'netaddr>=1.3' 'aiosmtpd>=1.4' 'grpcio>=1.60' 'grpcio-health-checking>=1.60' \
    'authlib>=1.3' 'pyyaml>=6'
fi
if ! [ -d crates/testkit/tests/js/node_modules/openid-client ] || ! [ -d crates/testkit/tests/js/node_modules/playwright-core ] \
  || ! [ -d crates/testkit/tests/js/node_modules/oidc-provider ] || ! [ -d crates/testkit/tests/js/node_modules/axe-core ]; then
  log "installing npm openid-client and oidc-provider (OpenID-certified client and provider), playwright-core and axe-core"
  (cd crates/testkit/tests/js && npm install --no-audit --no-fund --silent)
fi
if ! command -v pdftoppm >/dev/null 2>&1; then
  log "installing poppler-utils (the compliance report's PDF is rendered and read back)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq poppler-utils >/dev/null
fi
if ! [ -x /usr/bin/chromium ]; then
  log "installing Debian's chromium (the hosted pages are tested in a real browser)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
fi
if ! command -v redis-server >/dev/null 2>&1; then
  log "installing redis-server (cluster-wide gateway rate limits)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq redis-server >/dev/null
fi
if ! command -v softhsm2-util >/dev/null 2>&1; then
  log "installing softhsm2 (a PKCS#11 token for the master key tests)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq softhsm2 >/dev/null
fi
if ! [ -x /usr/sbin/nginx ] && ! command -v nginx >/dev/null 2>&1; then
  log "installing nginx-light (a real upstream that normalises paths, for the gateway tests)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nginx-light >/dev/null
fi
if ! [ -x /usr/sbin/clamd ] && ! command -v clamd >/dev/null 2>&1; then
  log "installing clamav-daemon (clamd scans uploaded files; the tests give it their own EICAR signature)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq clamav-daemon >/dev/null
fi
if ! command -v oathtool >/dev/null 2>&1; then
  log "installing oathtool (independent TOTP client)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq oathtool >/dev/null
fi

# --- Supply chain ---------------------------------------------------------------------------
log "supply chain: cargo deny and cargo audit against the RustSec snapshot"
bash scripts/supply-chain.sh

# --- Build and test -------------------------------------------------------------------------
log "the console's own JavaScript (node --test)"
node --test crates/web/tests-js/
log "building"
cargo build --workspace --bins
MARKER=$(mktemp /tmp/portcullis-test-start.XXXXXX)
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi

# --- Encryption at rest: nothing personal in what the tests left behind (full run only) ----
if [ $# -eq 0 ]; then
  log "scanning the test databases for emails, names and passwords"
  bash scripts/scan-test-data.sh "$MARKER"
fi
# What the tests left behind (a few MiB of SQLite per test, several GiB a run) and the
# cluster go now, before the fuzz build needs the disk; a failed run keeps them to inspect.
find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'portcullis-test-*' -newer "$MARKER" -exec rm -rf {} + 2>/dev/null || true
rm -f "$MARKER"
cleanup
trap - EXIT

# --- Schema fuzzing: schemathesis against the running server (the full test command only) --
if [ $# -eq 0 ]; then
  log "schema fuzzing: schemathesis, ${PORTCULLIS_ST_EXAMPLES:-25} examples per operation, as a user and as an admin"
  bash scripts/schemathesis.sh "${PORTCULLIS_ST_EXAMPLES:-25}"
fi

# --- Fuzzing: a smoke pass of every target (the full test command only) --------------------
if [ $# -eq 0 ] && [ -z "${PORTCULLIS_SKIP_FUZZ:-}" ]; then
  log "fuzzing: every target for ${PORTCULLIS_FUZZ_SECONDS:-5} s (scripts/fuzz.sh for longer runs)"
  bash scripts/fuzz.sh "${PORTCULLIS_FUZZ_SECONDS:-5}"
fi
