// A person signing in to Portcullis through an upstream provider, in Debian's chromium
// (playwright-core): Portcullis's sign-in page, its "Sign in with ..." button, the
// provider's development sign-in and consent pages, and back; when Portcullis asks the
// person to prove an existing account (linking), the password (and code) given.
//
// usage: node upstream_browser.mjs START_URL BUTTON_LABEL LOGIN [PASSWORD [CODE]]
//        node upstream_browser.mjs START_URL link:LABEL LOGIN LOCAL_EMAIL LOCAL_PASSWORD
//          (signs in locally, then links the provider on the account page)
// Prints {"url", "heading", "text", "console_errors"} of the page it ended on.
import { chromium } from 'playwright-core';

const [start, label, login, password, code] = process.argv.slice(2);
const out = { console_errors: [] };
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--host-resolver-rules=MAP localhost 127.0.0.1'],
});
try {
  const page = await (await browser.newContext()).newPage();
  const startOrigin = new URL(start).origin;
  // Errors on Portcullis's pages (the provider's development pages load web fonts, which
  // cannot resolve here), but not the browser's own request for /favicon.ico.
  page.on('console', (m) => {
    const on = (() => { try { return new URL(page.url()).origin; } catch { return ''; } })();
    if (m.type() === 'error' && on === startOrigin
        && !(m.location().url || '').endsWith('/favicon.ico')) {
      out.console_errors.push(`${m.text()} (${m.location().url || ''})`);
    }
  });
  await page.goto(start);
  if (label.startsWith('link:')) {
    // Signed in locally first (email and password), then "Link ..." on the account page.
    await page.fill('input[name=email]', password);
    await page.fill('input[name=password]', code);
    await Promise.all([page.waitForLoadState('load'), page.click('form[action="/oauth2/signin"] button[type=submit]')]);
    const link = `button:text-is("Link ${label.slice(5)}")`;
    try {
      await page.waitForSelector(link, { timeout: 15000 });
    } catch (e) {
      const text = await page.textContent('body').catch(() => '');
      throw new Error(`waiting for ${link}: at ${page.url()}: ${text}`);
    }
    out.account_before = await page.textContent('main');
    await page.click(link);
  } else {
    await page.click(`button:has-text("Sign in with ${label}")`);
  }
  // The provider: its sign-in, then its consent (once per client and person).
  try {
    await page.waitForSelector('input[name=login]', { timeout: 15000 });
  } catch (e) {
    const text = await page.textContent('body').catch(() => '');
    throw new Error(`waiting for the provider's sign-in: at ${page.url()}: ${text}`);
  }
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any password');
  await page.click('button[type=submit]');
  for (let i = 0; i < 3; i++) {
    await page.waitForLoadState('load');
    if (new URL(page.url()).origin === startOrigin) break;
    const consent = await page.$('input[name=prompt][value=consent]');
    if (consent) await page.click('button[type=submit]');
    else await page.waitForTimeout(200);
  }
  await page.waitForURL((u) => u.origin === startOrigin, { timeout: 15000 });
  await page.waitForLoadState('load');
  if (password && !label.startsWith('link:') && await page.$('form[action="/oauth2/upstream/link"]')) {
    out.link_heading = await page.textContent('h1');
    out.link_text = await page.textContent('main');
    await page.fill('input[name=password]', password);
    if (code) await page.fill('input[name=code]', code);
    await page.click('button[type=submit]');
    await page.waitForLoadState('load');
  }
  out.url = page.url();
  out.heading = await page.textContent('h1');
  out.text = await page.textContent('main');
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
