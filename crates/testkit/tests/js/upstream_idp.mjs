// An upstream OpenID provider for the federation tests: npm oidc-provider (an
// OpenID-certified provider) on loopback, with its development sign-in pages (any login,
// any password). The login names the person:
//   alice@corp.example              sub "sub-alice@corp.example", that address, verified
//   unverified:bob@corp.example     the address, not verified
//   admin:carol@corp.example        verified, groups ["admins"] (role mapping)
//   nomail:dave                     no address at all
// Clients: "portcullis" (client_secret_basic, secret in argv) and "portcullis-public"
// (none, PKCE), both redirecting to the URIs given.
//
// usage: node upstream_idp.mjs SECRET REDIRECT_URI...
// Prints {"issuer": "http://127.0.0.1:PORT"} once listening; runs until killed.
import http from 'node:http';
import Provider from 'oidc-provider';

const [secret, ...redirects] = process.argv.slice(2);

function person(login) {
  let [kind, address] = login.includes(':') ? login.split(/:(.*)/s) : ['', login];
  return {
    sub: `sub-${login}`,
    email: kind === 'nomail' ? undefined : address,
    email_verified: kind !== 'unverified',
    name: address.split('@')[0],
    groups: kind === 'admin' ? ['admins', 'staff'] : ['staff'],
  };
}

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
const provider = new Provider(issuer, {
  clients: [
    { client_id: 'portcullis', client_secret: secret, redirect_uris: redirects,
      grant_types: ['authorization_code'], response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic' },
    { client_id: 'portcullis-public', redirect_uris: redirects,
      grant_types: ['authorization_code'], response_types: ['code'],
      token_endpoint_auth_method: 'none' },
  ],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  pkce: { required: () => true },
  async findAccount(ctx, id) {
    const p = person(id);
    return { accountId: id, async claims() { return p; } };
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
server.on('request', provider.callback());
console.log(JSON.stringify({ issuer }));
