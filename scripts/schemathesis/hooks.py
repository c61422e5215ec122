"""Schemathesis hooks for Portcullis: sign in as the account named by the environment.

Operations under test can legitimately end the caller's session (remote logout, "revoke
all other sessions", an administrator revoking a user's sessions), so the token is checked
before each case and the hook signs in again when it no longer works, waiting out the
login rate limit (429 + Retry-After) when it has to.

The fuzzer's own wrong logins from 127.0.0.1 rightly get that address throttled, so the
hook signs in from another address: the server trusts 127.0.0.1 as a proxy in this run
and the hook says `X-Forwarded-For: 192.0.2.10`.
"""

import os
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


def _login():
    deadline = time.monotonic() + 120
    while True:
        r = SESSION.post(
            f"{BASE}/api/v1/auth/login",
            json={"email": EMAIL, "password": PASSWORD},
            headers={"X-Forwarded-For": "192.0.2.10"},
            timeout=10,
        )
        if r.status_code == 429 and time.monotonic() < deadline:
            time.sleep(min(float(r.headers.get("Retry-After", "1")), 10.0))
            continue
        r.raise_for_status()
        return r.json()["access_token"]


@schemathesis.auth(refresh_interval=None)
class SignedIn:
    token = None

    def get(self, case, ctx):
        if SignedIn.token is None or not _still_valid(SignedIn.token):
            SignedIn.token = _login()
        return SignedIn.token

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
