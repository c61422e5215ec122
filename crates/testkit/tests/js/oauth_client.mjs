// An OpenID-certified client library (openid-client, on oauth4webapi) against Portcullis:
// RFC 8414 discovery, the client-credentials grant with client_secret_basic and
// client_secret_post, a resource indicator, introspection, and the refusal of a wrong secret.
// Prints one JSON object.
//
// usage: node oauth_client.mjs ISSUER BASIC_ID BASIC_SECRET POST_ID POST_SECRET RESOURCE
//        PKJWT_ID PKJWT_PRIVATE_JWK
import * as client from 'openid-client';

// RFC 7638, computed here rather than trusted from either side.
async function thumbprint(publicKey) {
  const { crv, kty, x, y } = await crypto.subtle.exportKey('jwk', publicKey);
  const digest = await crypto.subtle.digest(
    'SHA-256', new TextEncoder().encode(JSON.stringify({ crv, kty, x, y })));
  return Buffer.from(digest).toString('base64url');
}

const [issuer, basicId, basicSecret, postId, postSecret, resource, pkjwtId, pkjwtJwk] =
  process.argv.slice(2);
const options = { execute: [client.allowInsecureRequests], algorithm: 'oauth2' };
const out = {};

const basic = await client.discovery(
  new URL(issuer), basicId, undefined, client.ClientSecretBasic(basicSecret), options);
out.metadata = basic.serverMetadata();
const tokens = await client.clientCredentialsGrant(basic, { scope: 'orders:read', resource });
out.basic = { token_type: tokens.token_type, expires_in: tokens.expires_in, scope: tokens.scope };
out.introspection = { ...(await client.tokenIntrospection(basic, tokens.access_token)) };
out.garbage = { ...(await client.tokenIntrospection(basic, 'not-a-token')) };
await client.tokenRevocation(basic, tokens.access_token);
out.revoked = { ...(await client.tokenIntrospection(basic, tokens.access_token)) };

// DPoP (RFC 9449): the token is bound to a key pair only this client holds.
const dpopKeys = await client.randomDPoPKeyPair('ES256');
const bound = await client.clientCredentialsGrant(
  basic, { scope: 'orders:read' }, { DPoP: client.getDPoPHandle(basic, dpopKeys) });
out.dpop = {
  token_type: bound.token_type,
  introspection: { ...(await client.tokenIntrospection(basic, bound.access_token)) },
  thumbprint: await thumbprint(dpopKeys.publicKey),
};

const post = await client.discovery(
  new URL(issuer), postId, undefined, client.ClientSecretPost(postSecret), options);
const posted = await client.clientCredentialsGrant(post);
out.post = { token_type: posted.token_type, scope: posted.scope ?? null };

// private_key_jwt: an ES256 assertion signed with the client's registered key.
const jwk = JSON.parse(pkjwtJwk);
const key = await crypto.subtle.importKey(
  'jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
const pkjwt = await client.discovery(
  new URL(issuer), pkjwtId, undefined, client.PrivateKeyJwt({ key, kid: jwk.kid }), options);
const signed = await client.clientCredentialsGrant(pkjwt);
out.pkjwt = { token_type: signed.token_type, scope: signed.scope ?? null };

const wrong = await client.discovery(
  new URL(issuer), basicId, undefined, client.ClientSecretBasic(basicSecret + 'x'), options);
try {
  await client.clientCredentialsGrant(wrong);
  out.wrong = 'accepted';
} catch (e) {
  // A 401 with a WWW-Authenticate challenge is raised as such; its body still carries the
  // RFC 6749 error.
  let error = e.error;
  if (!error && e.response) error = (await e.response.json().catch(() => ({}))).error;
  out.wrong = { error: error ?? String(e), code: e.code ?? null, status: e.status ?? null };
}
console.log(JSON.stringify(out));
