#!/usr/bin/env bash
# The security scan bench: one command, one summary table.
#
#   scripts/security-scan.sh [SCHEMATHESIS_EXAMPLES]   (default 200)
#
# Builds the release binary, starts it behind its own TLS listener (certificate from
# `portcullis ca init` / `ca issue`) on SQLite (or PORTCULLIS_SCAN_DATABASE_URL), and runs:
#   - sqlmap against every parameter of the auth and admin endpoints (JSON bodies, query
#     strings, path segments), signed in where the endpoint needs it: it must find nothing;
#   - testssl.sh against the TLS listener: no finding above LOW;
#   - a header check: every kind of response carries the security headers;
#   - schemathesis with many more examples than the test command runs.
# Installs sqlmap and schemathesis (PyPI) and testssl.sh (Debian) when missing.
set -uo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${1:-200}
log() { printf '==> %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

command -v sqlmap >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check sqlmap
command -v st >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
python3 -c 'import requests' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check requests
if ! command -v testssl >/dev/null 2>&1 && ! command -v testssl.sh >/dev/null 2>&1; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq testssl.sh >/dev/null
fi
TESTSSL=$(command -v testssl || command -v testssl.sh)
BIN=${PORTCULLIS_BIN:-target/release/portcullis}
if [ -z "${PORTCULLIS_BIN:-}" ]; then cargo build --release --bin portcullis || exit 1; fi

WORK=$(mktemp -d /tmp/portcullis-scan.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="https://localhost:$PORT"
DB=${PORTCULLIS_SCAN_DATABASE_URL:-sqlite://$WORK/portcullis.db}
write_config() {
  cat >"$WORK/config.toml" <<CFG
[server]
listen = "127.0.0.1:$PORT"
public_url = "$URL"
# sqlmap's requests come from random addresses (its xforwardedfor tamper script), so the
# failed-login throttle of one address does not hide the handlers from it.
trusted_proxies = ["127.0.0.1/32"]
[database]
url = "$DB"
[keys]
master_key_file = "$WORK/master.key"
[auth]
self_registration = true
[auth.password]
argon2_memory_kib = 1024
argon2_iterations = 1
[admin]
allowed_ips = ["0.0.0.0/0", "::/0"]
$1
CFG
}
write_config ""
P() { "$BIN" --config "$WORK/config.toml" "$@"; }
P ca init --out "$WORK/ca.pem" --trust-domain portcullis.scan >/dev/null
P ca issue --dns localhost --ttl 90d --cert-out "$WORK/server.pem" --key-out "$WORK/server.key" >/dev/null
write_config "[server.tls]
cert = \"$WORK/server.pem\"
key = \"$WORK/server.key\""
ADMIN_PW='scan admin passphrase 42'
USER_PW='scan user passphrase 43'
echo "$ADMIN_PW" | P users create --email admin@example.com --role admin --password-stdin >/dev/null
echo "$USER_PW" | P users create --email user@example.com --role user --password-stdin >/dev/null
"$BIN" serve --config "$WORK/config.toml" >"$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -fsS --cacert "$WORK/ca.pem" "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
token() {
  curl -fsS --cacert "$WORK/ca.pem" "$URL/api/v1/auth/login" -H 'content-type: application/json' \
    -H "X-Forwarded-For: 192.0.2.$((RANDOM % 200 + 1))" -d "{\"email\":\"$1\",\"password\":\"$2\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
ADMIN=$(token admin@example.com "$ADMIN_PW")
USER=$(token user@example.com "$USER_PW")
USER_ID=$(curl -fsS --cacert "$WORK/ca.pem" "$URL/api/v1/auth/me" -H "Authorization: Bearer $USER" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["user"]["id"])')
declare -a ROWS

# --- sqlmap ----------------------------------------------------------------------------------
log "sqlmap: every parameter of the auth and admin endpoints"
SQLMAP_TARGETS=(
  "POST|/api/v1/auth/login|{\"email\":\"a@example.com\",\"password\":\"wrong wrong wrong\"}|"
  "POST|/api/v1/auth/register|{\"email\":\"new@example.com\",\"password\":\"a fresh strong passphrase 9\",\"display_name\":\"New\"}|"
  "POST|/api/v1/auth/refresh|{\"refresh_token\":\"abc\"}|"
  "POST|/api/v1/auth/logout|{\"refresh_token\":\"abc\"}|"
  "POST|/api/v1/auth/mfa/verify|{\"mfa_token\":\"abc\",\"code\":\"123456\"}|"
  "POST|/api/v1/auth/password|{\"current_password\":\"x\",\"new_password\":\"y\"}|user"
  "POST|/api/v1/auth/api-keys|{\"name\":\"k\",\"scopes\":[\"read\"]}|user"
  "DELETE|/api/v1/auth/sessions/x*|||user"
  "DELETE|/api/v1/auth/api-keys/x*|||user"
  "GET|/api/v1/admin/users?cursor=x&limit=10||admin"
  "GET|/api/v1/admin/audit?after_seq=1&limit=10||admin"
  "GET|/api/v1/admin/api-keys?cursor=x&limit=10||admin"
  "GET|/api/v1/admin/audit/1*/proof?tree_size=1||admin"
  "GET|/api/v1/admin/audit/consistency?from=1&to=2||admin"
  "POST|/api/v1/admin/users/$USER_ID*/lock||admin"
  "DELETE|/api/v1/admin/users/$USER_ID*/sessions||admin"
  "POST|/api/v1/admin/service-accounts|{\"name\":\"svc\",\"scopes\":[\"read\"]}|admin"
)
sql_targets=0
sql_found=0
for t in "${SQLMAP_TARGETS[@]}"; do
  IFS='|' read -r method path data who <<<"$t"
  args=(-u "$URL$path" --method "$method" --batch --level 2 --risk 1 --time-sec 1 --threads 2
        --tamper xforwardedfor --ignore-code 400,401,403,404,405,409,422,423,429
        --flush-session --output-dir "$WORK/sqlmap" --disable-coloring -v 0)
  if [ -n "$data" ]; then
    # -p names every key: sqlmap skips token-like names (refresh_token, mfa_token) otherwise.
    keys=$(python3 -c 'import json,sys; print(",".join(json.loads(sys.argv[1])))' "$data")
    args+=(--data "$data" -H 'Content-Type: application/json' -p "$keys")
  fi
  case "$who" in
    user) args+=(-H "Authorization: Bearer $USER") ;;
    admin) args+=(-H "Authorization: Bearer $ADMIN") ;;
  esac
  out=$(timeout 600 sqlmap "${args[@]}" 2>&1)
  sql_targets=$((sql_targets + 1))
  if grep -qiE 'is vulnerable|appears to be .*injectable|Parameter: .* \((GET|POST|URI|JSON)' <<<"$out"; then
    sql_found=$((sql_found + 1))
    echo "sqlmap finding on $method $path:" >&2
    grep -iE 'injectable|Parameter:|Type:|Title:' <<<"$out" >&2
  fi
  printf '   %-7s %-52s %s\n' "$method" "$path" "$(grep -ciE 'not injectable|do not appear to be injectable' <<<"$out") 'not injectable' verdicts" >&2
done
sql_requests=$(grep -c 'request completed' "$WORK/server.log")
ROWS+=("sqlmap|$sql_targets endpoints, all parameters, level 2|$sql_found injectable ($sql_requests requests)|$([ $sql_found = 0 ] && echo pass || echo FAIL)")

# --- testssl.sh ------------------------------------------------------------------------------
log "testssl.sh against $URL"
"$TESTSSL" --quiet --warnings off --color 0 --add-ca "$WORK/ca.pem" --ip 127.0.0.1 \
  --jsonfile "$WORK/testssl.json" "localhost:$PORT" >"$WORK/testssl.txt" 2>&1
# Findings about the certificate itself (no OCSP/CRL URL, no CAA record) describe the
# scan's own certificate from the internal CA, which is short-lived instead of revocable;
# they are listed on their own row. Everything else is the server's TLS and must be at
# most LOW.
tls_rows=$(python3 - "$WORK/testssl.json" <<'PY'
import json, sys
order = {"OK": 0, "INFO": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
items = json.load(open(sys.argv[1]))
is_cert = lambda i: i["id"].startswith("cert_") or i["id"] == "DNS_CAArecord"
server = [i for i in items if not is_cert(i)]
cert = [i for i in items if is_cert(i)]
def count(xs):
    bad = [i for i in xs if order.get(i.get("severity"), 0) >= 2]
    low = [i for i in xs if i.get("severity") == "LOW"]
    for i in bad + low:
        print(f"   {i['severity']:8} {i['id']}: {i['finding']}", file=sys.stderr)
    return bad, low
bad, low = count(server)
print(f"testssl.sh|TLS listener: {len(server)} checks|{len(bad)} above LOW, {len(low)} LOW|{'pass' if not bad else 'FAIL'}")
cbad, clow = count(cert)
print(f"testssl.sh|the scan's internal-CA certificate|{len(cbad)} above LOW, {len(clow)} LOW|info")
PY
)
while IFS= read -r line; do ROWS+=("$line"); done <<<"$tls_rows"

# --- security headers ------------------------------------------------------------------------
log "security headers on every kind of response"
hdr_out=$(python3 scripts/security/headers.py "$URL" "$WORK/ca.pem" "$ADMIN")
hdr_status=$?
echo "$hdr_out" >&2
ROWS+=("headers|$(head -n 1 <<<"$hdr_out" | cut -d, -f1)|$(head -n 1 <<<"$hdr_out" | cut -d, -f2 | sed 's/^ //')|$([ $hdr_status = 0 ] && echo pass || echo FAIL)")

# --- schemathesis, longer ----------------------------------------------------------------------
log "schemathesis: $EXAMPLES examples per operation"
kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null
st_out=$(PORTCULLIS_BIN="$BIN" bash scripts/schemathesis.sh "$EXAMPLES" 2>"$WORK/st.log")
st_status=$?
[ $st_status = 0 ] || cat "$WORK/st.log" >&2
ROWS+=("schemathesis|every operation, user + admin|$(sed 's/^schemathesis: //; s/, result: .*//' <<<"$st_out"), $([ $st_status = 0 ] && echo "no failure" || echo "failures above")|$([ $st_status = 0 ] && echo pass || echo FAIL)")

# --- summary ---------------------------------------------------------------------------------
echo
printf '| %-12s | %-44s | %-34s | %-6s |\n' scan target findings result
printf '|%s|%s|%s|%s|\n' "--------------" "----------------------------------------------" "------------------------------------" "--------"
failed=0
for r in "${ROWS[@]}"; do
  IFS='|' read -r a b c d <<<"$r"
  printf '| %-12s | %-44s | %-34s | %-6s |\n' "$a" "$b" "$c" "$d"
  [ "$d" = pass ] || [ "$d" = info ] || failed=1
done
exit $failed
