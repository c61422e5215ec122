#!/usr/bin/env bash
# The gateway against nginx: one upstream (an nginx of its own answering 200 from memory),
# nginx as a plain proxy_pass to it, and Portcullis with JWT authentication and a rate limit on the route,
# each loaded with wrk with the same settings. Prints requests/s, p50 and p99 for direct,
# nginx and Portcullis, the Portcullis/nginx ratio, and (at 4 connections) the p99 that
# Portcullis adds over nginx; then HTTP/2 (h2load, h2c) through both, and the resident memory
# of each idle and holding 5,000 idle keep-alive connections.
# Usage: [PORTCULLIS_BIN=FILE] [PORTCULLIS_BENCH_PERF=1] scripts/gateway-bench.sh [SECONDS] [CONNECTIONS]
# (needs nginx-light, wrk and h2load; perf for PORTCULLIS_BENCH_PERF)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-32}
command -v nginx >/dev/null || { echo "install nginx-light (apt-get install nginx-light)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
command -v h2load >/dev/null || { echo "install h2load (apt-get install nghttp2-client)" >&2; exit 1; }
# 5,000 idle connections need that many descriptors in every process here.
NOFILE=$(ulimit -Hn); [ "$NOFILE" = unlimited ] && NOFILE=65536
ulimit -n "$NOFILE"
# PORTCULLIS_BIN: a binary to measure instead (e.g. an older build, for before/after).
if [ -n "${PORTCULLIS_BIN:-}" ]; then
  BIN=$PORTCULLIS_BIN
else
  cargo build --release --bin portcullis >&2
  BIN=target/release/portcullis
fi
WORK=$(mktemp -d /tmp/portcullis-gw-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  [ -f "$WORK/upstream.pid" ] && kill "$(cat "$WORK/upstream.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
UP=$(free_port); NG=$(free_port); NGL=$(free_port); NG2=$(free_port); PC=$(free_port); PCL=$(free_port)

# The upstream is an nginx of its own (its own worker process), so that both proxies pay
# the same for reaching it: served from inside the proxy's own worker, nginx's proxied
# requests never woke another process, and its CPU per request held the upstream's work.
cat > "$WORK/upstream.conf" <<CONF
worker_processes 1;
pid $WORK/upstream.pid;
error_log $WORK/upstream-error.log;
worker_rlimit_nofile $NOFILE;
events { worker_connections 16384; }
http {
  access_log off;
  server { listen 127.0.0.1:$UP; keepalive_requests 100000000; location / { return 200 "ok\n"; } }
}
CONF
nginx -c "$WORK/upstream.conf" -p "$WORK" -e "$WORK/upstream-error.log"
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
worker_rlimit_nofile $NOFILE;
events { worker_connections 16384; }
http {
  access_log off;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$NG;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$NG2 http2;
    keepalive_requests 100000000;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$NGL;
    access_log $WORK/nginx-access.log;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
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
# The gateway's own cost, as nginx's plain proxy_pass is measured: request inspection (on
# in detect mode by default) is priced separately by scripts/waf-bench.sh.
[waf]
mode = "off"
[[routes]]
name = "bench"
prefix = "/bench"
upstreams = ["http://127.0.0.1:$UP"]
auth = "user"
rate_limit = { requests = 100000000, window_seconds = 1, by = "principal" }
TOML
PW='correct horse battery staple 42'
echo "$PW" | "$BIN" users create --email bench@example.com --password-stdin --config "$WORK/portcullis.toml" >/dev/null
# One worker thread, as nginx runs one worker process here: on two cores shared with wrk and
# the upstream, a second worker thread only adds scheduling delays (p99 ~4 ms instead of
# ~0.15 ms at 4 connections). PORTCULLIS_BENCH_WORKERS overrides it.
TOKIO_WORKER_THREADS=${PORTCULLIS_BENCH_WORKERS:-1} "$BIN" serve --config "$WORK/portcullis.toml" 2>"$WORK/p.log" &
PIDS+=($!); PC_PID=$!
# The same server with one access line per request (written to a file, as nginx's).
sed -e "s/127.0.0.1:$PC/127.0.0.1:$PCL/" -e 's/^access = false/access = true/' "$WORK/portcullis.toml" >"$WORK/portcullis-logged.toml"
TOKIO_WORKER_THREADS=${PORTCULLIS_BENCH_WORKERS:-1} "$BIN" serve --config "$WORK/portcullis-logged.toml" 2>"$WORK/p-access.log" &
PIDS+=($!); PCL_PID=$!
for port in $PC $PCL; do
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
done
NG_WORKER=$(pgrep -P "$(cat "$WORK/nginx.pid")" | head -n 1)
TOKEN=$(curl -s "http://127.0.0.1:$PC/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"bench@example.com\",\"password\":\"$PW\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
# The access token lives 15 minutes: long enough for the run.

# utime + stime of a process, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

run() {
  local name=$1; shift
  local pid=${CPU_PID:-}
  # A warm-up pass first: on this VM the first seconds of load after idling run slower.
  wrk -t1 -c"$CONNS" -d3s "$@" >/dev/null
  local before=0 after=0
  [ -n "$pid" ] && before=$(ticks "$pid")
  wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "$@" >"$WORK/wrk.out"
  [ -n "$pid" ] && after=$(ticks "$pid")
  awk -v n="$name" -v t=$((after - before)) -v hz="$HZ" '
    /Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} / requests in / {reqs=$1}
    END {cpu = (reqs > 0 && t > 0) ? sprintf(" cpu/req=%.1fus", t / hz / reqs * 1e6) : "";
         printf "%-22s rps=%s p50=%s p99=%s%s\n", n, rps, p50, p99, cpu}' "$WORK/wrk.out"
}
run direct "http://127.0.0.1:$UP/x" | tee "$WORK/direct"
CPU_PID=$NG_WORKER run nginx "http://127.0.0.1:$NG/x" | tee "$WORK/nginx"
CPU_PID=$PC_PID run portcullis -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PC/bench/x" | tee "$WORK/portcullis"
CPU_PID=$NG_WORKER run nginx+access-log "http://127.0.0.1:$NGL/x" | tee "$WORK/nginx-logged"
CPU_PID=$PCL_PID run portcullis+access-log -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PCL/bench/x" | tee "$WORK/portcullis-logged"
python3 - "$WORK" <<'PY'
import re, sys
w = sys.argv[1]
def get(f, key):
    m = re.search(key + r"=([0-9.]+)", open(f"{w}/{f}").read())
    return float(m.group(1)) if m else float("nan")
for label, n, p in [("access logs off", "nginx", "portcullis"), ("access logs on", "nginx-logged", "portcullis-logged")]:
    print(f"{label}: portcullis/nginx throughput {get(p, 'rps') / get(n, 'rps'):.2f}, "
          f"CPU per request {get(p, 'cpu/req'):.1f} us vs {get(n, 'cpu/req'):.1f} us ({get(p, 'cpu/req') / get(n, 'cpu/req'):.2f}x)")
PY

python3 - "$WORK/nginx" "$WORK/portcullis" <<'PY'
import re, sys
def p99(f):
    v = re.search(r"p99=([0-9.]+)(us|ms|s)", open(f).read())
    return float(v.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[v.group(2)]
print(f"p99 added by portcullis at the full load: {p99(sys.argv[2]) - p99(sys.argv[1]):.2f} ms")
PY

# PORTCULLIS_BENCH_PERF=1: where Portcullis's CPU goes under the same load (perf, by shared
# object and by symbol), to read before and after a change.
if [ "${PORTCULLIS_BENCH_PERF:-}" = 1 ] && command -v perf >/dev/null; then
  perf record -q -F 1999 -g -p "$PC_PID" -o "$WORK/perf.data" -- sleep "$SECS" 2>/dev/null &
  PERF_PID=$!
  wrk -t1 -c"$CONNS" -d"${SECS}s" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PC/bench/x" >/dev/null
  wait "$PERF_PID" || true
  echo "--- perf: portcullis CPU by object"
  perf report -i "$WORK/perf.data" --stdio --no-children --sort dso 2>/dev/null | grep -E '^ +[0-9]' | head -8
  echo "--- perf: top symbols"
  perf report -i "$WORK/perf.data" --stdio --no-children --sort sym 2>/dev/null | grep -E '^ +[0-9]' | head -25
fi

# Moderate load (4 connections): the latency Portcullis adds to a proxied request.
CONNS=4
run nginx@4 "http://127.0.0.1:$NG/x" | tee "$WORK/nginx4"
run portcullis@4 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PC/bench/x" | tee "$WORK/portcullis4"
python3 - "$WORK/nginx4" "$WORK/portcullis4" <<'PY'
import re, sys
def p99(f):
    v = re.search(r"p99=([0-9.]+)(us|ms|s)", open(f).read())
    return float(v.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[v.group(2)]
n, p = p99(sys.argv[1]), p99(sys.argv[2])
print(f"p99 added by portcullis at 4 connections: {p - n:.2f} ms")
PY

# HTTP/2 with prior knowledge (h2c): 4 connections, 10 streams each, through nginx's own h2
# proxy and through Portcullis, CPU per request from /proc as above.
h2run() {
  local name=$1 pid=$2; shift 2
  h2load -n 5000 -c 4 -m 10 "$@" >/dev/null 2>&1 || true
  local before after
  before=$(ticks "$pid")
  h2load -n 40000 -c 4 -m 10 "$@" >"$WORK/h2.out" 2>&1 || true
  after=$(ticks "$pid")
  awk -v n="$name" -v t=$((after - before)) -v hz="$HZ" '
    /^finished in/ {rps=$4} /^requests:/ {ok=$8; failed=$10}
    END {printf "%-22s rps=%s succeeded=%s failed=%s cpu/req=%.1fus\n", n, rps, ok, failed, t / hz / 40000 * 1e6}' "$WORK/h2.out"
}
h2run h2-nginx "$NG_WORKER" "http://127.0.0.1:$NG2/x" | tee "$WORK/h2-nginx"
h2run h2-portcullis "$PC_PID" -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$PC/bench/x" | tee "$WORK/h2-portcullis"

# Memory: resident set idle, then holding 5,000 idle keep-alive connections (each has sent
# one request), with /healthz still answered meanwhile.
rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
echo "idle RSS: portcullis $(rss "$PC_PID") MiB, nginx worker $(rss "$NG_WORKER") MiB"
hold() {
  python3 - "$1" "$2" <<'PY' &
import socket, sys, time
port, path = int(sys.argv[1]), sys.argv[2]
conns = []
for _ in range(5000):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    conns.append(s)
for s in conns:
    s.recv(4096)
open("/dev/stdout", "w").write("held\n")
time.sleep(60)
PY
  HOLD_PID=$!
}
for target in "portcullis $PC $PC_PID /healthz" "nginx $NG $NG_WORKER /x"; do
  set -- $target
  hold "$2" "$4" >"$WORK/held" 
  for _ in $(seq 1 300); do grep -q held "$WORK/held" 2>/dev/null && break; sleep 0.1; done
  health=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$2$4" || true)
  served=$(rss "$3")
  # Idle for 3 s: Portcullis parks a keep-alive connection idle for 1-2 s (frees its
  # buffers, keeps the socket), as nginx frees its buffers at once.
  sleep 3
  health2=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$2$4" || true)
  echo "5,000 idle connections: $1 RSS $served MiB just after their requests, $(rss "$3") MiB after 3 s idle; a new request answered $health, then $health2"
  kill "$HOLD_PID" 2>/dev/null || true; wait "$HOLD_PID" 2>/dev/null || true
done
