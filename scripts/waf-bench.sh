#!/usr/bin/env bash
# What request inspection and DLP cost per proxied request: one Portcullis (one worker
# thread) with five routes to the same nginx upstream (a small JSON answer from memory):
# inspection off, [waf] detect, [waf] block (the request passes: it is ordinary), [dlp]
# mask over the response, and both (block and mask, the issue's comparison); wrk loads each in turn with a GET with a query and a POST with a
# JSON body. Prints requests/s and Portcullis's CPU per request from /proc/<pid>/stat, and
# each route's CPU against the route without inspection (ratios in one run; this machine
# is shared and noisy).
# Usage: [PORTCULLIS_BIN=FILE] [ROUNDS=N] scripts/waf-bench.sh [SECONDS] [CONNECTIONS]   (needs nginx-light, wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-8}
CONNS=${2:-16}
command -v nginx >/dev/null || { echo "install nginx-light (apt-get install nginx-light)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
if [ -n "${PORTCULLIS_BIN:-}" ]; then
  BIN=$PORTCULLIS_BIN
else
  cargo build --release --bin portcullis >&2
  BIN=target/release/portcullis
fi
WORK=$(mktemp -d /tmp/portcullis-waf-bench.XXXXXX)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
UP=$(free_port); PC=$(free_port)
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  server { listen 127.0.0.1:$UP; location / { return 200 '{"id":42,"name":"Jane O\'Brien","note":"ordinary answer","items":[1,2,3]}'; } }
}
CONF
nginx -c "$WORK/nginx.conf" -p "$WORK" -e "$WORK/nginx-error.log"
cat > "$WORK/portcullis.toml" <<TOML
[server]
listen = "127.0.0.1:$PC"
header_timeout_seconds = 120
[database]
url = "sqlite://$WORK/p.db"
[keys]
master_key_file = "$WORK/p.key"
[log]
level = "warn"
access = false
[waf]
mode = "off"
[[routes]]
name = "off"
prefix = "/off"
upstreams = ["http://127.0.0.1:$UP"]
auth = "none"
[[routes]]
name = "detect"
prefix = "/detect"
upstreams = ["http://127.0.0.1:$UP"]
auth = "none"
waf = { mode = "detect" }
[[routes]]
name = "block"
prefix = "/block"
upstreams = ["http://127.0.0.1:$UP"]
auth = "none"
waf = { mode = "block" }
[[routes]]
name = "dlp"
prefix = "/dlp"
upstreams = ["http://127.0.0.1:$UP"]
auth = "none"
dlp = { mode = "mask" }
[[routes]]
name = "both"
prefix = "/both"
upstreams = ["http://127.0.0.1:$UP"]
auth = "none"
waf = { mode = "block" }
dlp = { mode = "mask" }
TOML
TOKIO_WORKER_THREADS=1 "$BIN" serve --config "$WORK/portcullis.toml" 2>"$WORK/p.log" &
PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PC/readyz" >/dev/null && break; sleep 0.1; done
cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
wrk.body = '{"title":"Quarterly report","comment":"Please select the best option from the list; O\'Brien said it is fine.","tags":["finance","q3"],"items":[{"sku":"SKU-123","qty":2,"note":"gift wrap"}],"meta":{"source":"web","ref":"https://example.com/a?b=1"}}'
LUA
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
run() {
  local name=$1; shift
  wrk -t1 -c"$CONNS" -d2s "$@" >/dev/null
  local before after
  before=$(ticks "$PID")
  wrk -t1 -c"$CONNS" -d"${SECS}s" "$@" >"$WORK/wrk.out"
  after=$(ticks "$PID")
  awk -v n="$name" -v t=$((after - before)) -v hz="$HZ" '
    /Requests\/sec/ {rps=$2} / requests in / {reqs=$1} /Non-2xx/ {bad=$5}
    END {printf "%-14s rps=%s cpu/req=%.1fus%s\n", n, rps, t / hz / reqs * 1e6, bad ? " NON-2XX=" bad : ""}' "$WORK/wrk.out"
}
UA="User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
# The routes in turn, ROUNDS times (3 unless set): each route's figure is its median, so
# that a burst of the machine's other work during one run does not decide a ratio.
ROUTES=(off detect block dlp both)
for round in $(seq 0 $((${ROUNDS:-3} - 1))); do
  # Each round starts at another route, so that a drift of this machine's load over a
  # round falls on every route alike, not always on the last ones.
  k=$((round % ${#ROUTES[@]}))
  ORDER=("${ROUTES[@]:k}" "${ROUTES[@]:0:k}")
  for r in "${ORDER[@]}"; do
    run "GET $r" -H "$UA" "http://127.0.0.1:$PC/$r/items?q=union+station+tickets&sort=price&page=2" | tee -a "$WORK/get"
  done
  for r in "${ORDER[@]}"; do
    run "POST $r" -s "$WORK/post.lua" "http://127.0.0.1:$PC/$r/items" | tee -a "$WORK/post"
  done
done
python3 - "$WORK" <<'PY'
import re, sys
w = sys.argv[1]
for kind in ("get", "post"):
    runs = {}
    for m in re.finditer(r"\w+ (\w+) +rps=\S+ cpu/req=([0-9.]+)us", open(f"{w}/{kind}").read()):
        runs.setdefault(m.group(1), []).append(float(m.group(2)))
    rows = {r: sorted(v)[len(v) // 2] for r, v in runs.items()}
    base = rows.get("off")
    print(kind.upper() + ": " + ", ".join(f"{r} {v / base:.2f}x (+{v - base:.1f} us)" for r, v in rows.items() if r != "off") + f" of {base:.1f} us without inspection (medians of {len(runs['off'])} rounds)")
PY
