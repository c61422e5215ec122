"""Checks that every kind of response Portcullis sends carries the security headers.

Usage: headers.py BASE_URL CA_FILE ADMIN_TOKEN  -> prints "checked N responses, M findings"
and one line per finding; exit status 1 when there is a finding.
"""

import sys

import requests

BASE, CA, TOKEN = sys.argv[1], sys.argv[2], sys.argv[3]

# Every response: header -> predicate on its value.
ALWAYS = {
    "strict-transport-security": lambda v: "max-age=" in v and int(v.split("max-age=")[1].split(";")[0]) >= 31536000,
    "x-content-type-options": lambda v: v == "nosniff",
    "x-frame-options": lambda v: v.upper() == "DENY",
    "content-security-policy": lambda v: "default-src 'none'" in v and "frame-ancestors 'none'" in v,
    "referrer-policy": lambda v: v == "no-referrer",
    "cross-origin-opener-policy": lambda v: v == "same-origin",
    "cross-origin-resource-policy": lambda v: v in ("same-origin", "cross-origin"),
    "permissions-policy": lambda v: "camera=()" in v,
}
# API answers (tokens, personal data, errors) must not be cached anywhere.
NO_STORE = {"cache-control": lambda v: "no-store" in v}
# Headers that must never appear (they disclose the stack or loosen CORS).
NEVER = ["server", "x-powered-by", "access-control-allow-origin"]

bearer = {"Authorization": f"Bearer {TOKEN}"}
CASES = [
    ("GET", "/healthz", {}, None, False),
    ("GET", "/readyz", {}, None, False),
    ("GET", "/.well-known/jwks.json", {}, None, False),
    ("GET", "/.well-known/security.txt", {}, None, False),
    ("GET", "/api/v1/openapi.json", {}, None, False),
    ("GET", "/api/v1/audit/checkpoint", {}, None, False),
    ("GET", "/api/v1/auth/me", bearer, None, True),
    ("GET", "/api/v1/auth/me", {}, None, True),  # 401
    ("GET", "/api/v1/auth/me", {"Authorization": "Bearer nonsense"}, None, True),  # 401
    ("POST", "/api/v1/auth/login", {}, {"email": "nobody@example.com", "password": "wrong wrong wrong"}, True),
    ("POST", "/api/v1/auth/login", {"content-type": "application/json"}, "{not json", True),  # 400
    ("GET", "/api/v1/admin/users", bearer, None, True),
    ("GET", "/api/v1/admin/audit?limit=0", bearer, None, True),  # 400
    ("GET", "/api/v1/no-such-endpoint", {}, None, True),  # 404
    ("DELETE", "/api/v1/auth/login", {}, None, True),  # 405
    ("GET", "/no-such-route", {}, None, False),  # 404 outside the API
]

checked = 0
findings = []
for method, path, headers, body, api in CASES:
    kwargs = {"headers": dict(headers), "verify": CA, "timeout": 10, "allow_redirects": False}
    if isinstance(body, dict):
        kwargs["json"] = body
    elif isinstance(body, str):
        kwargs["data"] = body
    r = requests.request(method, BASE + path, **kwargs)
    checked += 1
    where = f"{method} {path} ({r.status_code})"
    rules = dict(ALWAYS)
    if api:
        rules.update(NO_STORE)
    for name, ok in rules.items():
        v = r.headers.get(name)
        if v is None:
            findings.append(f"{where}: missing {name}")
        elif not ok(v):
            findings.append(f"{where}: weak {name}: {v}")
    for name in NEVER:
        if name in r.headers:
            findings.append(f"{where}: discloses {name}: {r.headers[name]}")

print(f"checked {checked} responses, {len(findings)} findings")
for f in findings:
    print("  " + f)
sys.exit(1 if findings else 0)
