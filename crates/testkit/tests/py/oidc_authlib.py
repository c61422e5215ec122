"""Authlib (Python) as an OpenID Connect client of Portcullis: discovery, the
authorization-code flow with PKCE S256 through the hosted sign-in and consent pages (walked
with the same requests session, as a browser keeps cookies), the ID token verified with the
published JWKS (EdDSA), userinfo, a refresh, and the client-credentials grant.
Prints one JSON object.

usage: oidc_authlib.py ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI EMAIL PASSWORD
"""

import json
import re
import sys
from urllib.parse import parse_qs, urljoin, urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

issuer, client_id, secret, redirect_uri, email, password = sys.argv[1:7]
meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
out = {}

session = OAuth2Session(
    client_id,
    secret,
    scope="openid email profile",
    redirect_uri=redirect_uri,
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_basic",
)
verifier = generate_token(64)
nonce = generate_token(20)
url, state = session.create_authorization_url(
    meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
)


def hidden(page, name):
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert m, f"no {name} in page"
    return m.group(1)


browser = requests.Session()


def walk(resp):
    """Follows redirects inside Portcullis; stops at the client's redirect URI."""
    while resp.status_code in (302, 303):
        loc = urljoin(issuer + "/", resp.headers["location"])
        if loc.startswith(redirect_uri):
            return loc
        resp = browser.get(loc, allow_redirects=False, timeout=10)
    return resp


page = walk(browser.get(url, allow_redirects=False, timeout=10))
assert urlparse(page.url).path == "/oauth2/signin", page.url
resp = browser.post(
    f"{issuer}/oauth2/signin",
    data={"req": hidden(page.text, "req"), "csrf": hidden(page.text, "csrf"),
          "email": email, "password": password},
    allow_redirects=False, timeout=10,
)
consent = walk(resp)
resp = browser.post(
    f"{issuer}/oauth2/consent",
    data={"req": hidden(consent.text, "req"), "csrf": hidden(consent.text, "csrf"),
          "decision": "allow"},
    allow_redirects=False, timeout=10,
)
callback = walk(resp)
assert isinstance(callback, str), callback
out["iss_in_callback"] = parse_qs(urlparse(callback).query)["iss"][0]

token = session.fetch_token(
    meta["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state
)
out["token_type"] = token["token_type"]
jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
claims = jwt.decode(
    token["id_token"],
    jwks,
    claims_options={"iss": {"essential": True, "value": issuer},
                    "aud": {"essential": True, "value": client_id},
                    "nonce": {"essential": True, "value": nonce}},
)
claims.validate()
out["id_token_verified"] = True
out["id_token_aud"] = claims["aud"]
out["userinfo_email"] = session.get(meta["userinfo_endpoint"], timeout=10).json()["email"]
refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
out["refreshed"] = refreshed["refresh_token"] != token["refresh_token"]

machine = OAuth2Session(client_id, secret, scope="orders:read",
                        token_endpoint_auth_method="client_secret_basic")
cc = machine.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
out["client_credentials_scope"] = cc["scope"]
print(json.dumps(out))
