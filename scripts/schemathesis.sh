#!/usr/bin/env bash
# Schema fuzzing: schemathesis against the OpenAPI document of a running Portcullis.
#
#   scripts/schemathesis.sh [EXAMPLES]     (default 25 examples per operation and phase)
#
# Starts the server (PORTCULLIS_BIN, default target/debug/portcullis) on SQLite in a
# throwaway directory, creates an administrator and a user, and runs every operation of
# /api/v1/openapi.json twice: signed in as the user, then as the administrator, with
# stateful sequences along the document's links. It fails on any 5xx, any response that
# violates the document (status, content type, headers, body schema), any accepted request
# that violates the schema, auth that is ignored, and any request slower than 10 s.
#
# One worker by default: with several, schemathesis itself (CPython 3.11's compile() from
# threads) once failed with an internal "AST constructor recursion depth mismatch"; set
# PORTCULLIS_ST_WORKERS for faster local runs.
#
# Every check is on, positive_data_acceptance included: a schema-valid request is never
# refused as malformed. The few operations where the account's or the log's state decides
# (recovery codes without a second factor, a tree size beyond the log, a WebAuthn attestation
# that must verify) are named, each with its reason, in scripts/schemathesis/schemathesis.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${1:-25}
BIN=${PORTCULLIS_BIN:-target/debug/portcullis}

if ! command -v st >/dev/null 2>&1; then
  echo "==> installing schemathesis" >&2
  python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi
[ -x "$BIN" ] || cargo build --bin portcullis

WORK=$(mktemp -d /tmp/portcullis-st.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://localhost:$PORT"
cat >"$WORK/config.toml" <<CFG
[server]
listen = "127.0.0.1:$PORT"
public_url = "$URL"
trusted_proxies = ["127.0.0.1/32"]
[database]
url = "sqlite://$WORK/portcullis.db"
[keys]
master_key_file = "$WORK/master.key"
[auth]
self_registration = true
[auth.password]
argon2_memory_kib = 256
argon2_iterations = 1
[detection]
# schemathesis registers many accounts from one address; the per-address limit is tested
# elsewhere (accounts::registrations_are_counted_per_source).
registrations_free = 1000000
registrations_max = 1000001
CFG
ADMIN_PW='schemathesis admin passphrase 42'
USER_PW='schemathesis user passphrase 43'
echo "$ADMIN_PW" | "$BIN" --config "$WORK/config.toml" users create --email admin@example.com --role admin --password-stdin >/dev/null
echo "$USER_PW" | "$BIN" --config "$WORK/config.toml" users create --email user@example.com --role user --password-stdin >/dev/null
"$BIN" serve --config "$WORK/config.toml" >"$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -fsS "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

total=0
status=0
run_as() {
  local who=$1 email=$2 password=$3 out="$WORK/st-$1.txt"
  echo "==> schemathesis as $who ($EXAMPLES examples per operation)" >&2
  if PORTCULLIS_URL=$URL PORTCULLIS_EMAIL=$email PORTCULLIS_PASSWORD=$password \
     SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$PWD/scripts/schemathesis${PYTHONPATH:+:$PYTHONPATH}" \
     st --config-file "$PWD/scripts/schemathesis/schemathesis.toml" run "$URL/api/v1/openapi.json" \
       --max-examples "$EXAMPLES" --request-timeout 10 --max-response-time 10 \
       --workers "${PORTCULLIS_ST_WORKERS:-1}" --no-color --seed "${PORTCULLIS_ST_SEED:-$RANDOM}" --generation-database none \
       >"$out" 2>&1; then
    :
  else
    status=1
    cat "$out" >&2
  fi
  local cases
  cases=$(grep -Eo '[0-9]+ generated' "$out" | grep -Eo '[0-9]+' | tail -n 1 || echo 0)
  total=$((total + ${cases:-0}))
  grep -E '^(=+ .* in [0-9.]+s =+|Seed: )' "$out" >&2 || true
}
run_as user user@example.com "$USER_PW"
run_as admin admin@example.com "$ADMIN_PW"
if grep -q 'panicked' "$WORK/server.log"; then
  echo "the server panicked:" >&2
  grep 'panicked' "$WORK/server.log" >&2
  status=1
fi
echo "schemathesis: $total test cases, result: $([ $status = 0 ] && echo pass || echo FAIL)"
exit $status
