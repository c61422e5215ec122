"""Schemathesis hooks for Portcullis: sign in as the account named by the environment.

Operations under test can legitimately end the caller's session (remote logout, "revoke
all other sessions", an administrator revoking a user's sessions), so the token is checked
before each case and the hook signs in again when it no longer works, waiting out the
login rate limit (429 + Retry-After) when it has to.

The fuzzer's own wrong logins from 127.0.0.1 rightly get that address throttled, so the
hook signs in from another address: the server trusts 127.0.0.1 as a proxy in this run
and the hook says `X-Forwarded-For: 192.0.2.10`. The administrator's run may ban that
address (POST /api/v1/admin/bans with a fuzzed range): then the hook moves on to another.
A fuzzed range that would take in the address the fuzzer calls from (127.0.0.1) or every
address the hook signs in from is swapped for a documentation range before it is sent (a
run once banned `::/0`, which the server then also applied to IPv4), and a sign-in that
fails once fails every case after it at once, so a run that cannot sign in ends with that
error instead of waiting two minutes per case.
Those wrong logins also put the server under "attack", so a sign-in from a device it does
not know must solve an ALTCHA proof-of-work: the hook solves it with the reference client
(the `altcha` package), as a browser widget would, and keeps the device cookie after.
"""

import ipaddress
import os
import re
import time

import requests
import schemathesis

BASE = os.environ["PORTCULLIS_URL"]
EMAIL = os.environ["PORTCULLIS_EMAIL"]
PASSWORD = os.environ["PORTCULLIS_PASSWORD"]
SESSION = requests.Session()


def _still_valid(token):
    r = SESSION.get(
        f"{BASE}/api/v1/auth/me",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    return r.status_code == 200


ADDRESSES = [f"{a}.{b}.7.10" for a in (192, 172, 100, 45) for b in (18, 51, 99)]


def _solve(challenge):
    from altcha.v1 import Payload, solve_challenge

    max_number = challenge.get("maxNumber", challenge.get("maxnumber"))
    s = solve_challenge(challenge["challenge"], challenge["salt"], challenge["algorithm"], max_number, 0)
    return Payload(challenge["algorithm"], challenge["challenge"], s.number, challenge["salt"], challenge["signature"]).to_base64()


def _login():
    deadline = time.monotonic() + 120
    address = 0
    altcha = None
    while True:
        body = {"email": EMAIL, "password": PASSWORD}
        if altcha:
            body["altcha"] = altcha
        r = SESSION.post(
            f"{BASE}/api/v1/auth/login",
            json=body,
            headers={"X-Forwarded-For": ADDRESSES[address % len(ADDRESSES)]},
            timeout=10,
        )
        code = r.json().get("code") if r.headers.get("content-type", "").startswith("application/problem+json") else None
        if code == "challenge_required" and time.monotonic() < deadline:
            altcha = _solve(r.json()["challenge"])
            continue
        altcha = None
        if code in ("risk_denied", "ip_not_allowed") and time.monotonic() < deadline:
            address += 1
            continue
        if r.status_code == 429 and time.monotonic() < deadline:
            address += 1
            time.sleep(min(float(r.headers.get("Retry-After", "1")), 2.0))
            continue
        r.raise_for_status()
        return r.json()["access_token"]


@schemathesis.auth(refresh_interval=None)
class SignedIn:
    token = None
    failed = None

    def get(self, case, ctx):
        if SignedIn.token is None or not _still_valid(SignedIn.token):
            if SignedIn.failed:
                raise RuntimeError(f"signing in failed earlier in this run: {SignedIn.failed}")
            try:
                SignedIn.token = _login()
            except Exception as e:
                SignedIn.failed = repr(e)
                raise
        return SignedIn.token

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


# An Ed25519 JWK's `x` must be a point on the curve, which no JSON Schema can say: about half
# of the well-formed values the fuzzer draws are not. A well-formed `x` is replaced with a real
# public key (RFC 8032 §7.1, test 1) so that such bodies test the rest of the schema; a
# malformed one is left for negative_data_rejection.
ED25519_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
X_PATTERN = re.compile(r"^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$")


# Where this run's requests come from: the fuzzer's own (127.0.0.1) and the hook's sign-ins.
OUR_ADDRESSES = [ipaddress.ip_address("127.0.0.1")] + [ipaddress.ip_address(a) for a in ADDRESSES]


MAPPED = ipaddress.ip_network("::ffff:0:0/96")


def _bans_us(cidr):
    """Whether a ban of `cidr` would take in an address this run needs, as the server
    matches: an IPv6 network names IPv4 addresses only inside the IPv4-mapped block."""
    try:
        net = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return False
    if net.version == 6:
        if not net.subnet_of(MAPPED):
            return False
        return any(ipaddress.IPv6Address(f"::ffff:{a}") in net for a in OUR_ADDRESSES)
    return any(a in net for a in OUR_ADDRESSES)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    body = case.body
    if (
        case.method.upper() == "POST"
        and case.path == "/api/v1/admin/bans"
        and isinstance(body, dict)
        and isinstance(body.get("cidr"), str)
        and _bans_us(body["cidr"])
    ):
        body["cidr"] = "198.51.100.0/24"
    if not isinstance(body, dict) or body.get("signing") != "ed25519":
        return
    jwk = body.get("public_key_jwk")
    if isinstance(jwk, dict) and isinstance(jwk.get("x"), str) and X_PATTERN.match(jwk["x"]):
        jwk["x"] = ED25519_X

