#!/usr/bin/env python3
"""Sends a request signed with the independent `http-message-signatures` package (RFC 9421)
and prints what happened as JSON.

usage: sign_request.py SPEC_JSON
SPEC: {"method", "url", "api_key", "key_id", "alg": "hmac-sha256"|"ed25519",
       "key": base64 secret (hmac) or base64url 32-byte seed (ed25519),
       "body": str|null, "nonce": str|null, "created": int,
       "components": [...], "send": 1|2 (2 = replay the very same request),
       "tamper_body": str|null (replace the body after signing)}
prints {"responses": [{"status", "body"}], "signature_input", "content_digest"}
"""

import base64
import datetime
import json
import sys

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def main():
    spec = json.loads(sys.argv[1])
    if spec["alg"] == "hmac-sha256":
        key = base64.b64decode(spec["key"])
        alg = algorithms.HMAC_SHA256
    else:
        key = Ed25519PrivateKey.from_private_bytes(b64url(spec["key"]))
        alg = algorithms.ED25519

    class Resolver(HTTPSignatureKeyResolver):
        def resolve_private_key(self, key_id):
            return key

        def resolve_public_key(self, key_id):
            return key

    body = spec.get("body")
    headers = {"Authorization": "Bearer " + spec["api_key"]}
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = requests.Request(spec["method"], spec["url"], data=body, headers=headers).prepare()
    signer = HTTPMessageSigner(signature_algorithm=alg, key_resolver=Resolver())
    signer.sign(
        req,
        key_id=spec["key_id"],
        created=datetime.datetime.fromtimestamp(spec["created"], tz=datetime.timezone.utc),
        nonce=spec.get("nonce"),
        covered_component_ids=tuple(spec.get("components") or ("@method", "@target-uri")),
        body=body.encode() if body is not None else None,
    )
    if spec.get("tamper_body") is not None:
        req.body = spec["tamper_body"].encode()
        req.headers["Content-Length"] = str(len(req.body))
    out = {
        "signature_input": req.headers.get("Signature-Input"),
        "content_digest": req.headers.get("Content-Digest"),
        "responses": [],
    }
    with requests.Session() as s:
        for _ in range(spec.get("send", 1)):
            r = s.send(req)
            try:
                b = r.json()
            except ValueError:
                b = r.text
            out["responses"].append({"status": r.status_code, "body": b})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
