#!/usr/bin/env bash
# The OAuth token endpoint under load: client-credentials grants (client_secret_basic),
# introspection, and a refused grant, each with wrk against the release build on embedded
# SQLite, one worker thread; then the authorization-code flow: authorizations of a signed-in
# browser (prompt=none, a code each) and their code exchanges (PKCE, a new grant session,
# refresh token and ID token each), driven by a Python client with 8 threads. Prints
# requests/s, p50/p99 and the server's CPU per request from /proc/<pid>/stat, and so grants
# per second per core (Keycloak's sizing guide plans 120 client-credential grants per vCPU
# per second). Every grant writes its audit event (oauth.token_issued) in a transaction.
# Usage: [PORTCULLIS_BIN=FILE] scripts/oauth-bench.sh [SECONDS] [CONNECTIONS]   (needs wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-8}
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
if [ -n "${PORTCULLIS_BIN:-}" ]; then
  BIN=$PORTCULLIS_BIN
else
  cargo build --release --bin portcullis >&2
  BIN=target/release/portcullis
fi
WORK=$(mktemp -d /tmp/portcullis-oauth-bench.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$WORK/portcullis.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
public_url = "http://127.0.0.1:$PORT"
[database]
url = "sqlite://$WORK/portcullis.db"
[keys]
master_key_file = "$WORK/master.key"
[log]
access = false
TOML
CLIENT=$("$BIN" --config "$WORK/portcullis.toml" clients create --name bench --grant client_credentials --scope bench:read)
ID=$(printf '%s' "$CLIENT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
SECRET=$(printf '%s' "$CLIENT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
TOKIO_WORKER_THREADS=${PORTCULLIS_BENCH_WORKERS:-1} "$BIN" serve --config "$WORK/portcullis.toml" 2>"$WORK/p.log" &
PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
BASIC=$(printf '%s:%s' "$ID" "$SECRET" | base64 -w0)
TOKEN=$(curl -s -u "$ID:$SECRET" "http://127.0.0.1:$PORT/oauth2/token" -d grant_type=client_credentials \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
lua() {  # a wrk script POSTing one form body
  printf 'wrk.method = "POST"\nwrk.body = "%s"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\nwrk.headers["Authorization"] = "Basic %s"\n' "$1" "$BASIC" >"$WORK/$2.lua"
  echo "$WORK/$2.lua"
}
run() {
  local name=$1 script=$2 path=$3
  wrk -t1 -c"$CONNS" -d3s -s "$script" "http://127.0.0.1:$PORT$path" >/dev/null
  local before after
  before=$(ticks "$PID")
  wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$script" "http://127.0.0.1:$PORT$path" >"$WORK/wrk.out"
  after=$(ticks "$PID")
  awk -v n="$name" -v t=$((after - before)) -v hz="$HZ" '
    /Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} / requests in / {reqs=$1}
    /Non-2xx/ {bad=$NF}
    END {cpu = t / hz / reqs; printf "%-24s rps=%s p50=%s p99=%s cpu/req=%.0fus => %.0f per core-second%s\n",
         n, rps, p50, p99, cpu * 1e6, 1 / cpu, bad ? " (non-2xx: " bad ")" : ""}' "$WORK/wrk.out"
}
run "client_credentials" "$(lua 'grant_type=client_credentials&scope=bench:read' grant)" /oauth2/token
run "introspection" "$(lua "token=$TOKEN" intro)" /oauth2/introspect
run "wrong grant (400)" "$(lua 'grant_type=password' refused)" /oauth2/token

# The authorization-code flow: one hosted sign-in, then codes and their exchanges.
"$BIN" --config "$WORK/portcullis.toml" users create --email bench@example.com --password-stdin >/dev/null <<<'correct horse battery staple 42'
APP=$("$BIN" --config "$WORK/portcullis.toml" clients create --name bench-app --public \
  --redirect-uri http://127.0.0.1:9/cb --scope openid --scope email)
APP_ID=$(printf '%s' "$APP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
python3 - "http://127.0.0.1:$PORT" "$APP_ID" "$PID" "${PORTCULLIS_BENCH_CODES:-2000}" <<'PY'
import base64, hashlib, os, re, sys, time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlparse
import requests

base, client_id, pid, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
hz = os.sysconf("SC_CLK_TCK")
verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
url = (f"{base}/oauth2/authorize?response_type=code&client_id={client_id}&scope=openid+email"
       f"&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&code_challenge={challenge}&code_challenge_method=S256")
b = requests.Session()

def hidden(page, name):
    return re.search(rf'name="{name}" value="([^"]*)"', page).group(1)

r = b.get(url, allow_redirects=False)
page = b.get(base + r.headers["location"])
r = b.post(f"{base}/oauth2/signin", allow_redirects=False, data={
    "req": hidden(page.text, "req"), "csrf": hidden(page.text, "csrf"),
    "email": "bench@example.com", "password": "correct horse battery staple 42"})
page = b.get(base + r.headers["location"])
b.post(f"{base}/oauth2/consent", allow_redirects=False, data={
    "req": hidden(page.text, "req"), "csrf": hidden(page.text, "csrf"), "decision": "allow"})
cookies = b.cookies.get_dict()

def ticks():
    f = open(f"/proc/{pid}/stat").read().split(")")[-1].split()
    return int(f[11]) + int(f[12])

local = __import__("threading").local()
def session():
    if not hasattr(local, "s"):
        local.s = requests.Session()
        local.s.cookies.update(cookies)
    return local.s

def authorize(_):
    r = session().get(url + "&prompt=none", allow_redirects=False)
    return parse_qs(urlparse(r.headers["location"]).query)["code"][0]

def exchange(code):
    r = session().post(f"{base}/oauth2/token", data={
        "grant_type": "authorization_code", "client_id": client_id, "code": code,
        "redirect_uri": "http://127.0.0.1:9/cb", "code_verifier": verifier})
    assert r.status_code == 200, r.text
    return 1

def phase(name, fn, items):
    t0, c0 = time.perf_counter(), ticks()
    with ThreadPoolExecutor(8) as pool:
        out = list(pool.map(fn, items))
    wall, cpu = time.perf_counter() - t0, (ticks() - c0) / hz / len(items)
    print(f"{name:<24} rps={len(items) / wall:.0f} (client-bound) cpu/req={cpu * 1e6:.0f}us => {1 / cpu:.0f} per core-second")
    return out

codes = phase("authorize (prompt=none)", authorize, range(n))
phase("code exchange", exchange, codes)
PY
