"""Signs a private_key_jwt client assertion (RFC 7523) with PyJWT, independently of
Portcullis: prints the compact JWT.

usage: client_assertion.py PRIVATE_JWK_JSON ALG CLIENT_ID AUDIENCE [LIFETIME_SECONDS]
"""

import json
import sys
import time
import uuid

import jwt

jwk, alg, client_id, audience = sys.argv[1:5]
lifetime = int(sys.argv[5]) if len(sys.argv) > 5 else 60
key = jwt.PyJWK(json.loads(jwk))
now = int(time.time())
claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now,
          "exp": now + lifetime, "jti": str(uuid.uuid4())}
print(jwt.encode(claims, key.key, algorithm=alg, headers={"kid": key.key_id}))
