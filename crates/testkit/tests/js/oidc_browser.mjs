// A certified OpenID client (openid-client) and a real browser (Debian's chromium driven by
// playwright-core) through Portcullis's authorization-code flow and hosted pages:
//   1. PAR + PKCE + DPoP, password sign-in and consent; ID token, userinfo with DPoP,
//      refresh with rotation, revocation;
//   2. password + TOTP (codes from oathtool);
//   3. a passkey registered and used in Chromium's virtual authenticator (CDP WebAuthn);
//   4. RP-initiated logout;
//   5. the device authorization grant, the code entered in the browser;
//   6. the proof-of-work the risk engine asks of an unknown browser, solved by the page.
// Prints one JSON object.
//
// usage: node oidc_browser.mjs ISSUER CLIENT_ID PASSWORD PW_EMAIL TOTP_EMAIL TOTP_SECRET
//        TOTP_AT PASSKEY_EMAIL PASSKEY_API_TOKEN DEVICE_CLIENT_ID POW_EMAIL
import { execFileSync } from 'node:child_process';
import * as client from 'openid-client';
import { chromium } from 'playwright-core';

const [issuer, clientId, password, pwEmail, totpEmail, totpSecret, totpAt, pkEmail, pkToken,
  deviceClientId, powEmail] = process.argv.slice(2);
const REDIRECT = 'http://127.0.0.1:9/cb';
const BYE = 'http://127.0.0.1:9/bye';
const out = { console_errors: [] };

const config = await client.discovery(
  new URL(issuer), clientId, { id_token_signed_response_alg: 'EdDSA' }, client.None(),
  { execute: [client.allowInsecureRequests] });
const meta = config.serverMetadata();
out.discovery = {
  authorization_endpoint: meta.authorization_endpoint,
  par: meta.pushed_authorization_request_endpoint,
  iss_parameter: meta.authorization_response_iss_parameter_supported,
};

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--host-resolver-rules=MAP localhost 127.0.0.1'],
});

// A page whose navigations to the client's redirect URIs are answered here (the client's
// own callback) and whose console errors (CSP violations, SRI failures) are collected.
async function newPage(context) {
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') out.console_errors.push(m.text()); });
  await page.route('http://127.0.0.1:9/**', (route) =>
    route.fulfill({ status: 200, contentType: 'text/plain', body: 'client callback' }));
  return page;
}

// Waits for the page to reach `pred`, saying where it is stuck otherwise.
async function reach(page, pred, what) {
  try {
    await page.waitForURL(pred, { timeout: 15000 });
  } catch (e) {
    const text = await page.textContent('body').catch(() => '');
    throw new Error(`waiting for ${what}: at ${page.url()}: ${text}`);
  }
}

async function authorizeUrl(dpop, extra = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const params = {
    redirect_uri: REDIRECT,
    scope: 'openid email profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: client.randomState(),
    nonce: client.randomNonce(),
    ...extra,
  };
  const url = await client.buildAuthorizationUrlWithPAR(config, params, dpop ? { DPoP: dpop } : {});
  return { url, verifier, state: params.state, nonce: params.nonce };
}

async function exchange(page, req, dpop) {
  await reach(page, (u) => u.toString().startsWith(REDIRECT), 'the callback');
  const callback = new URL(page.url());
  return client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: req.verifier, expectedState: req.state, expectedNonce: req.nonce,
  }, undefined, dpop ? { DPoP: dpop } : {});
}

async function signInWithPassword(page, email) {
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('form[action="/oauth2/signin"] button[type=submit]');
}

async function allow(page) {
  await reach(page, (u) => u.pathname === '/oauth2/consent', 'consent');
  out.consent_text ??= await page.textContent('main');
  await page.click('button[value=allow]');
}

// 1. PAR + PKCE + DPoP, password, consent.
{
  const context = await browser.newContext();
  const page = await newPage(context);
  const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  const started = performance.now();
  const req = await authorizeUrl(dpop);
  await page.goto(req.url.href);
  out.signin_title = await page.title();
  const csp = (await page.request.get(page.url())).headers()['content-security-policy'];
  out.signin_csp = csp;
  await signInWithPassword(page, pwEmail);
  await allow(page);
  const tokens = await exchange(page, req, dpop);
  out.hosted_signin_ms = Math.round(performance.now() - started);
  const claims = tokens.claims();
  out.flow1 = {
    token_type: tokens.token_type,
    amr: claims.amr, acr: claims.acr, nonce_ok: claims.nonce === req.nonce, sub: claims.sub,
    has_refresh: typeof tokens.refresh_token === 'string',
  };
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP: dpop });
  out.flow1.userinfo_email = info.email;
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: dpop });
  out.flow1.rotated = refreshed.refresh_token !== tokens.refresh_token;
  out.flow1.refreshed_type = refreshed.token_type;
  // Without the DPoP key the refresh token is worth nothing.
  try {
    await client.refreshTokenGrant(config, refreshed.refresh_token);
    out.flow1.refresh_without_proof = 'accepted';
  } catch (e) {
    out.flow1.refresh_without_proof = e.error ?? e.code ?? String(e);
  }
  await client.tokenRevocation(config, refreshed.refresh_token);
  try {
    await client.refreshTokenGrant(config, refreshed.refresh_token, undefined, { DPoP: dpop });
    out.flow1.after_revocation = 'accepted';
  } catch (e) {
    out.flow1.after_revocation = e.error ?? String(e);
  }
  // 4. RP-initiated logout from this browser.
  const end = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token, post_logout_redirect_uri: BYE, state: 'bye-1',
  });
  await page.goto(end.href);
  await page.click('form[action="/oauth2/logout"] button[type=submit]');
  await reach(page, (u) => u.toString().startsWith(BYE), 'the post-logout URI');
  out.logout = { landed: page.url() };
  // Signed out: a new request asks for the password again.
  const again = await authorizeUrl(undefined);
  await page.goto(again.url.href);
  out.logout.signin_again = new URL(page.url()).pathname;
  await context.close();
}

// 2. Password, then TOTP from oathtool.
{
  const context = await browser.newContext();
  const page = await newPage(context);
  const req = await authorizeUrl(undefined);
  await page.goto(req.url.href);
  await signInWithPassword(page, totpEmail);
  await page.waitForSelector('#code');
  const code = execFileSync('oathtool', ['--totp', '-b', `--now=@${totpAt}`, totpSecret]).toString().trim();
  await page.fill('#code', code);
  await page.click('form[action="/oauth2/signin/mfa"] button[type=submit]');
  await allow(page);
  const tokens = await exchange(page, req, undefined);
  out.flow2 = { token_type: tokens.token_type, amr: tokens.claims().amr, acr: tokens.claims().acr };
  await context.close();
}

// 3. A passkey: registered through the API with the browser's virtual authenticator, then
// used on the hosted sign-in page without a password.
{
  const context = await browser.newContext();
  const page = await newPage(context);
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  await page.goto(`${issuer}/.well-known/openid-configuration`);
  const api = async (path, body) => {
    const r = await fetch(`${issuer}${path}`, { method: 'POST', headers: {
      authorization: `Bearer ${pkToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${path}: ${r.status} ${text}`);
    return JSON.parse(text);
  };
  const start = await api('/api/v1/auth/webauthn/register/start', {});
  const credential = await page.evaluate(async (options) => {
    const b64u = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - s.length % 4) % 4)), (c) => c.charCodeAt(0));
    const enc = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    options.challenge = b64u(options.challenge);
    options.user.id = b64u(options.user.id);
    for (const c of options.excludeCredentials || []) c.id = b64u(c.id);
    const cred = await navigator.credentials.create({ publicKey: options });
    return { id: cred.id, rawId: enc(cred.rawId), type: cred.type, extensions: {},
      response: { clientDataJSON: enc(cred.response.clientDataJSON),
        attestationObject: enc(cred.response.attestationObject) } };
  }, start.publicKey);
  await api('/api/v1/auth/webauthn/register/finish', { ceremony_id: start.ceremony_id, name: 'virtual', credential });
  const req = await authorizeUrl(undefined);
  await page.goto(req.url.href);
  await page.click('#passkey-button');
  await allow(page);
  const tokens = await exchange(page, req, undefined);
  out.flow3 = { amr: tokens.claims().amr, acr: tokens.claims().acr, email: pkEmail };
  await context.close();
}

// 5. The device grant: the device polls while the person enters its code in the browser.
{
  const device = await client.discovery(
    new URL(issuer), deviceClientId, { id_token_signed_response_alg: 'EdDSA' }, client.None(),
    { execute: [client.allowInsecureRequests] });
  const started = await client.initiateDeviceAuthorization(device, { scope: 'openid email' });
  const polling = client.pollDeviceAuthorizationGrant(device, started);
  const context = await browser.newContext();
  const page = await newPage(context);
  await page.goto(started.verification_uri_complete);
  await page.click('form[action="/oauth2/device"] button[type=submit]');
  await reach(page, (u) => u.pathname === '/oauth2/signin', 'the sign-in page');
  await signInWithPassword(page, pwEmail);
  await reach(page, (u) => u.pathname === '/oauth2/device/confirm', 'the device confirmation');
  await page.click('button[value=allow]');
  await page.waitForSelector('text=Device connected');
  const tokens = await polling;
  out.flow5 = { user_code: started.user_code, token_type: tokens.token_type,
    amr: tokens.claims().amr, has_refresh: typeof tokens.refresh_token === 'string' };
  await context.close();
}

// 6. An account with recent wrong passwords: an unknown browser solves a proof-of-work first.
{
  const context = await browser.newContext();
  const page = await newPage(context);
  const req = await authorizeUrl(undefined);
  await page.goto(req.url.href);
  await signInWithPassword(page, powEmail);
  await page.waitForSelector('input[data-pow]', { state: 'attached' });
  const started = performance.now();
  await page.waitForSelector('text=Check complete', { timeout: 120000 });
  const solvedMs = Math.round(performance.now() - started);
  await page.fill('#password', password);
  await page.click('form[action="/oauth2/signin"] button[type=submit]');
  await allow(page);
  const tokens = await exchange(page, req, undefined);
  out.flow6 = { challenged: true, solved_ms: solvedMs, amr: tokens.claims().amr };
  await context.close();
}

await browser.close();
console.log(JSON.stringify(out));
