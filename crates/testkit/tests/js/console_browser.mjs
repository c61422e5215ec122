// The admin console in a real browser (Debian's chromium driven by playwright-core):
// signs in through Portcullis's own OpenID provider with a password and a TOTP code from
// oathtool, walks every page, locks a user, resets a user's MFA, resolves an alert, pins
// the audit verifier key and verifies one entry's inclusion proof in the page (WebCrypto),
// runs axe-core on every page, and screenshots the dashboard.
//
// usage: node console_browser.mjs BASE EMAIL PASSWORD TOTP_SECRET TOTP_AT TARGET_EMAIL SHOT_DIR
// Prints one JSON object.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const [base, email, password, secret, totpAt, target, shots] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const out = { console_errors: [], pages: {}, axe: {} };

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--host-resolver-rules=MAP localhost 127.0.0.1'],
});

async function reach(page, pred, what) {
  try {
    await page.waitForURL(pred, { timeout: 15000 });
  } catch (e) {
    const text = await page.textContent('body').catch(() => '');
    throw new Error(`waiting for ${what}: at ${page.url()}: ${text}`);
  }
}

// axe-core in the page (added through CDP-free evaluation, which CSP does not govern).
async function axe(page) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const res = await axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
  });
  return r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

let page;
// Console errors are collected until the sign-out, whose refused API call is expected.
let collecting = true;
try {
  const context = await browser.newContext();
  page = await context.newPage();
  page.on('console', (m) => {
    if (collecting && m.type() === 'error' && !(m.location().url || '').endsWith('/favicon.ico')) out.console_errors.push(m.text());
  });
  page.on('dialog', (d) => d.accept());

  // Not signed in: the console sends the browser to the provider's sign-in.
  await page.goto(`${base}/console/users`);
  await reach(page, (u) => u.pathname === '/oauth2/signin', 'the sign-in page');
  out.signin_query = new URL(page.url()).search;
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('form[action="/oauth2/signin"] button[type=submit]');
  await page.waitForSelector('#code');
  const code = execFileSync('oathtool', ['--totp', '-b', `--now=@${totpAt}`, secret]).toString().trim();
  await page.fill('#code', code);
  await page.click('form[action="/oauth2/signin/mfa"] button[type=submit]');
  // No consent for the first-party console; back where the admin was going.
  await reach(page, (u) => u.pathname === '/console/users', 'the users page');
  await page.waitForSelector('table caption:has-text("Users")');
  out.who = await page.textContent('#who');
  out.cookies = (await context.cookies()).map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite, path: c.path }));
  out.script_sees_cookie = await page.evaluate(() => document.cookie.includes('pcl_console'));

  // Lock the target, then reset its MFA.
  await page.click(`button:has-text("Lock ${target}")`);
  await page.waitForSelector(`button:has-text("Unlock ${target}")`);
  out.lock_flash = await page.textContent('#flash');
  await page.click(`button:has-text("Reset MFA of ${target}")`);
  await page.waitForSelector('#flash:has-text("Reset MFA")');
  out.mfa_flash = await page.textContent('#flash');
  out.mfa_button_gone = (await page.$(`button:has-text("Reset MFA of ${target}")`)) === null;

  // A user's sessions.
  await page.click('button:has-text("Sessions of ada@example.com")');
  await page.waitForSelector('#sessions caption');
  out.sessions_rows = await page.$$eval('#sessions tbody tr', (r) => r.length);

  // A service account: its key shown once.
  await page.goto(`${base}/console/service-accounts`);
  await page.waitForSelector('#sa-name');
  await page.fill('#sa-name', 'billing');
  await page.fill('#sa-scopes', 'orders:read');
  await page.click('form[aria-label="New service account"] button[type=submit]');
  await page.waitForSelector('#shown-once code');
  out.service_key = await page.textContent('#shown-once code');
  out.keys_table = await page.textContent('table tbody');

  // Every page: its heading, console errors, axe.
  for (const [slug, heading] of [['', 'Dashboard'], ['users', 'Users'], ['service-accounts', 'Service accounts and API keys'],
    ['clients', 'OAuth clients'], ['routes', 'Gateway routes'], ['bans', 'Bans'], ['alerts', 'Alerts'],
    ['keys', 'Key management'], ['audit', 'Audit log'], ['approvals', 'Approvals'], ['report', 'Compliance report']]) {
    await page.goto(`${base}/console${slug ? `/${slug}` : ''}`);
    await page.waitForFunction(() => !document.querySelector('#view p.muted')?.textContent.startsWith('Loading'), null, { timeout: 15000 });
    out.pages[slug || 'dashboard'] = {
      heading: await page.textContent('h1'),
      text: (await page.textContent('#view')).slice(0, 4000),
      error: await page.$eval('#flash.error', (e) => e.textContent).catch(() => null),
    };
    if (heading !== out.pages[slug || 'dashboard'].heading) throw new Error(`${slug}: heading ${out.pages[slug || 'dashboard'].heading}`);
    out.axe[slug || 'dashboard'] = await axe(page);
    if (slug === '') {
      out.dashboard = {
        signins: await page.textContent('#signins .value'),
        failures: await page.textContent('#failures .value'),
        open_alerts: await page.textContent('#open-alerts .value'),
        mfa_admin: await page.textContent('#mfa-admin .value'),
        charts: await page.$$eval('figure.chart figcaption', (n) => n.map((x) => x.textContent)),
      };
      await page.screenshot({ path: `${shots}/dashboard.png`, fullPage: true });
    }
  }

  // Resolve the alert.
  await page.goto(`${base}/console/alerts`);
  await page.waitForSelector('button:has-text("Resolve")');
  await page.click('button:has-text("Resolve")');
  await page.waitForSelector('#flash:has-text("done")');
  await page.waitForSelector('#view td:has-text("resolved")', { timeout: 15000 });
  out.alert_after = await page.textContent('#view table tbody');

  // The audit log: pin the verifier key, then verify the lock's entry in the page.
  await page.goto(`${base}/console/audit?action=admin.user.locked`);
  await page.waitForSelector('button:has-text("Pin this key")');
  out.served_key = await page.textContent('#served-key');
  await page.click('button:has-text("Pin this key")');
  await page.waitForSelector('#pinned-key');
  const verify = await page.$('button:has-text("Verify entry")');
  out.audit_rows = await page.$$eval('#view table tbody tr', (r) => r.length);
  await verify.click();
  await page.waitForSelector('.verdict:not(:has-text("Checking"))', { timeout: 15000 });
  out.verdict = await page.textContent('.verdict');

  // A tampered proof is refused by the page's own check: the page's code, fed a proof the
  // server did not make, must say so.
  out.tampered = await page.evaluate(async () => {
    const m = await import('/console/assets/console.js');
    const h = { 'x-portcullis-console': '1', accept: 'application/json' };
    const cp = await (await fetch('/api/v1/audit/checkpoint', { headers: h })).json();
    const seq = Math.min(cp.tree_size, 2);
    const proof = await (await fetch(`/api/v1/admin/audit/${seq}/proof?tree_size=${cp.tree_size}`, { headers: h })).json();
    const key = localStorage.getItem('portcullis.audit.verifier-key');
    const results = {};
    results.genuine = await m.verifyEntry({ checkpoint: cp.checkpoint, proof, pinnedKey: key }).then(() => 'ok', (e) => e.message);
    const badEntry = structuredClone(proof);
    badEntry.entry.hash = badEntry.entry.hash.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    results.altered_entry = await m.verifyEntry({ checkpoint: cp.checkpoint, proof: badEntry, pinnedKey: key }).then(() => 'ok', (e) => e.message);
    const badField = structuredClone(proof);
    badField.entry.action = 'auth.login.succeeded.x';
    results.altered_action = await m.verifyEntry({ checkpoint: cp.checkpoint, proof: badField, pinnedKey: key }).then(() => 'ok', (e) => e.message);
    const badActor = structuredClone(proof);
    badActor.entry.actor = `${badActor.entry.actor || ''}x`;
    results.altered_actor = await m.verifyEntry({ checkpoint: cp.checkpoint, proof: badActor, pinnedKey: key }).then(() => 'ok', (e) => e.message);
    const badNote = cp.checkpoint.replace(/\n(\d+)\n/, (_, n) => `\n${Number(n) + 1}\n`);
    results.altered_checkpoint = await m.verifyEntry({ checkpoint: badNote, proof, pinnedKey: key }).then(() => 'ok', (e) => e.message);
    return results;
  });

  // The API reference.
  await page.goto(`${base}/docs`);
  await page.waitForSelector('#docs section h2');
  out.docs = { sections: await page.$$eval('#docs section h2', (n) => n.map((x) => x.textContent)), ops: await page.$$eval('details.op', (n) => n.length) };
  out.axe.docs = await axe(page);

  // The compliance report, opened from its console page.
  await page.goto(`${base}/console/report`);
  await page.click('#report-html');
  await page.waitForSelector('#summary');
  out.report = { summary: await page.textContent('#summary'), rows: await page.$$eval('tbody tr', (r) => r.map((x) => x.textContent)) };
  await page.screenshot({ path: `${shots}/report.png`, fullPage: true });

  // Signing out ends the console session at once, then the provider's sign-in after its
  // confirmation: the next visit goes to the sign-in again.
  await page.goto(`${base}/console`);
  await page.click('#signout');
  await reach(page, (u) => u.pathname.startsWith('/oauth2/logout'), 'the provider logout');
  collecting = false;
  out.api_after_signout = await page.evaluate(async () => (await fetch('/api/v1/auth/me', { headers: { 'x-portcullis-console': '1' } })).status);
  await page.click('form[action="/oauth2/logout"] button[type=submit]');
  await page.waitForLoadState('load');
  await page.goto(`${base}/console`);
  await reach(page, (u) => u.pathname === '/oauth2/signin', 'the sign-in page after sign-out');
  out.after_signout = new URL(page.url()).pathname;
  await context.close();
} catch (e) {
  // What went wrong, with where the page was and what it showed, for the test to report.
  out.error = String(e && e.stack || e);
  out.at = page && page.url();
  out.body = page && (await page.textContent('body').catch(() => '')).slice(0, 3000);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
