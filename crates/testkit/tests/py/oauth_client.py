"""An independent OAuth 2.0 client: Authlib's requests client runs the client-credentials
grant with client_secret_basic and client_secret_post against Portcullis, introspects the
token, and PyJWT verifies it against the JWKS as a resource server would (EdDSA, at+jwt,
issuer and audience). Prints one JSON object.

usage: oauth_client.py ISSUER BASIC_ID BASIC_SECRET POST_ID POST_SECRET RESOURCE
"""

import json
import sys

import jwt
from authlib.integrations.requests_client import OAuth2Session

issuer, basic_id, basic_secret, post_id, post_secret, resource = sys.argv[1:7]
token_url = issuer + "/oauth2/token"
out = {}

basic = OAuth2Session(
    basic_id, basic_secret, scope="orders:read", token_endpoint_auth_method="client_secret_basic"
)
tok = basic.fetch_token(token_url, grant_type="client_credentials", resource=resource)
out["basic"] = {k: tok[k] for k in ("token_type", "expires_in", "scope")}

post = OAuth2Session(post_id, post_secret, token_endpoint_auth_method="client_secret_post")
out["post"] = {k: v for k, v in post.fetch_token(token_url, grant_type="client_credentials").items() if k != "access_token" and k != "expires_at"}

intro = basic.introspect_token(issuer + "/oauth2/introspect", token=tok["access_token"])
out["introspection"] = intro.json()

header = jwt.get_unverified_header(tok["access_token"])
key = jwt.PyJWKClient(issuer + "/.well-known/jwks.json").get_signing_key_from_jwt(tok["access_token"])
claims = jwt.decode(
    tok["access_token"], key.key, algorithms=["EdDSA"], audience=resource, issuer=issuer,
    options={"require": ["exp", "iat", "sub", "jti"]},
)
out["header"] = header
out["claims"] = claims

wrong = OAuth2Session(basic_id, basic_secret + "x", token_endpoint_auth_method="client_secret_basic")
try:
    wrong.fetch_token(token_url, grant_type="client_credentials")
    out["wrong"] = "accepted"
except Exception as e:  # Authlib raises its OAuth error with the server's `error`
    out["wrong"] = getattr(e, "error", repr(e))

print(json.dumps(out))
