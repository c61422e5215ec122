#!/usr/bin/env bash
# What a DPoP-bound session costs at Portcullis's own API against a Bearer one: GET
# /api/v1/auth/me with each, from a Python client with 8 threads (proofs made before the
# clock starts: ES256, `ath`, a fresh `jti` each), against the release build on embedded
# SQLite, one worker thread. Prints requests/s and the server's CPU per request from
# /proc/<pid>/stat. A bound request checks the proof's signature and writes its `jti` to the
# replay cache shared by nodes (a database write); a Bearer one touches no database.
# Usage: [PORTCULLIS_BIN=FILE] scripts/dpop-bench.sh [REQUESTS]   (needs python3 cryptography)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3000}
if [ -n "${PORTCULLIS_BIN:-}" ]; then
  BIN=$PORTCULLIS_BIN
else
  cargo build --release --bin portcullis >&2
  BIN=target/release/portcullis
fi
WORK=$(mktemp -d /tmp/portcullis-dpop-bench.XXXXXX)
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
[auth.password]
argon2_memory_kib = 256
argon2_iterations = 1
TOML
PW='bench passphrase, long enough 42'
echo "$PW" | "$BIN" --config "$WORK/portcullis.toml" users create --email bench@example.com --password-stdin >/dev/null
TOKIO_WORKER_THREADS=1 "$BIN" serve --config "$WORK/portcullis.toml" 2>"$WORK/p.log" &
PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
python3 - "$PORT" "$PID" "$N" "$PW" <<'PY'
import base64, concurrent.futures, hashlib, json, os, sys, time
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

port, pid, n, pw = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
base = f"http://127.0.0.1:{port}"
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = ec.generate_private_key(ec.SECP256R1())
nums = key.public_key().public_numbers()
jwk = {"kty": "EC", "crv": "P-256", "x": b64(nums.x.to_bytes(32, "big")), "y": b64(nums.y.to_bytes(32, "big"))}

def proof(htm, htu, token=None):
    claims = {"htm": htm, "htu": htu, "iat": int(time.time()), "jti": b64(os.urandom(12))}
    if token:
        claims["ath"] = b64(hashlib.sha256(token.encode()).digest())
    head = b64(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}).encode())
    body = b64(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
    return f"{head}.{body}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

login = {"email": "bench@example.com", "password": pw}
bearer = requests.post(f"{base}/api/v1/auth/login", json=login).json()["access_token"]
t = requests.post(f"{base}/api/v1/auth/login", json=login,
                  headers={"DPoP": proof("POST", f"{base}/api/v1/auth/login")}).json()
assert t["token_type"] == "DPoP", t
bound = t["access_token"]
me = f"{base}/api/v1/auth/me"
headers_b = [{"Authorization": f"Bearer {bearer}"}] * n
headers_d = [{"Authorization": f"DPoP {bound}", "DPoP": proof("GET", me, bound)} for _ in range(n)]

def ticks():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])

hz = os.sysconf("SC_CLK_TCK")
local = __import__("threading").local()
def get(h):
    s = getattr(local, "s", None) or requests.Session()
    local.s = s
    r = s.get(me, headers=h)
    return r.status_code

for name, hs in (("Bearer", headers_b), ("DPoP", headers_d)):
    before, start = ticks(), time.time()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(get, hs))
    wall, cpu = time.time() - start, (ticks() - before) / hz
    bad = sum(1 for c in codes if c != 200)
    print(f"{name:6}  {n / wall:7.0f} requests/s  {cpu / n * 1e6:6.0f} µs CPU per request  ({bad} not 200)")
PY
