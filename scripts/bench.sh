#!/usr/bin/env bash
# Benchmarks the release binary on SQLite and PostgreSQL: password logins (OWASP Argon2id
# parameters), refresh rotations, and authenticated GET /api/v1/auth/me. Prints one line per
# scenario: requests/s, p50, p99. Usage: scripts/bench.sh [SECONDS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONC=${2:-32}
cargo build --release --bin portcullis >&2
cargo build --release -p portcullis-testkit --example portcullis-load >&2
BIN=target/release/portcullis
LOAD=target/release/examples/portcullis-load
WORK=$(mktemp -d /tmp/portcullis-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
PW='correct horse battery staple 42'

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

run_backend() {
  local name=$1 url=$2 port cfg
  port=$(free_port)
  cfg="$WORK/$name.toml"
  cat > "$cfg" <<TOML
[server]
listen = "127.0.0.1:$port"
[database]
url = "$url"
[keys]
master_key_file = "$WORK/$name.key"
[auth]
max_sessions_per_user = 100000
[log]
level = "warn"
TOML
  echo "$PW" | "$BIN" users create --email bench@example.com --password-stdin --config "$cfg" >/dev/null
  "$BIN" serve --config "$cfg" 2>"$WORK/$name.log" &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  for scenario in login refresh me apikey signed; do
    printf '%-9s ' "$name"
    "$LOAD" --url "http://127.0.0.1:$port" --scenario "$scenario" --concurrency "$CONC" --duration "$SECS" --password "$PW"
  done
  if command -v wrk >/dev/null 2>&1; then
    # wrk (C, event loop) leaves more of the two cores to the server than the Rust load tool.
    local token
    token=$(curl -s "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
      -d "{\"email\":\"bench@example.com\",\"password\":\"$PW\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    printf '%-9s wrk GET /api/v1/auth/me: ' "$name"
    wrk -t1 -c"$CONC" -d"${SECS}s" --latency -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/auth/me" \
      | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {printf "rps=%s p50=%s p99=%s\n", rps, p50, p99}'
  fi
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
}

run_backend sqlite "sqlite://$WORK/bench.db"

if [ -n "${PORTCULLIS_BENCH_PG_URL:-}" ]; then
  run_backend postgres "$PORTCULLIS_BENCH_PG_URL"
elif ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  PGPORT=$(free_port)
  mkdir -p "$WORK/pg"
  if [ "$(id -u)" = 0 ]; then chown postgres "$WORK" "$WORK/pg"; as_pg() { runuser -u postgres -- "$@"; }; else as_pg() { "$@"; }; fi
  as_pg "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres -A trust --no-sync >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w start -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $WORK/pg" >/dev/null
  trap 'as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true; cleanup' EXIT
  run_backend postgres "postgres://postgres@127.0.0.1:$PGPORT/postgres"
else
  echo "PostgreSQL not installed: skipping (run scripts/test.sh once, or set PORTCULLIS_BENCH_PG_URL)" >&2
fi
