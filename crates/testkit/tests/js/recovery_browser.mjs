// The hosted recovery pages in a real browser (Debian's chromium driven by playwright-core):
//   forgot BASE EMAIL         asks for a reset on /oauth2/password/forgot
//   reset LINK PASSWORD       opens the mail's link (the code in its fragment), sets the
//                             password with "also revoke my API keys" ticked
//   verify LINK               opens a verification or change link and confirms
// Prints one JSON object: what each page showed, where the code went, console errors (CSP
// violations, SRI failures).
import { chromium } from 'playwright-core';

const [mode, a, b] = process.argv.slice(2);
const out = { console_errors: [] };
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--host-resolver-rules=MAP localhost 127.0.0.1'],
});
try {
  const page = await (await browser.newContext()).newPage();
  // Errors, but not the browser's own request for /favicon.ico (which Portcullis does not serve).
  page.on('console', (m) => {
    if (m.type() === 'error' && !(m.location().url || '').endsWith('/favicon.ico')) {
      out.console_errors.push(m.text());
    }
  });
  if (mode === 'forgot') {
    await page.goto(`${a}/oauth2/password/forgot`);
    out.form_heading = await page.textContent('h1');
    await page.fill('input[name=email]', b);
    await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
    await page.waitForSelector('h1:has-text("Check your mail")', { timeout: 15000 });
    out.heading = await page.textContent('h1');
    out.text = await page.textContent('main');
  } else if (mode === 'reset' || mode === 'verify') {
    await page.goto(a);
    // The page's script moved the code from the fragment into the form, and out of the URL.
    await page.waitForFunction(() => document.querySelector('input[name=code]').value !== '',
      null, { timeout: 15000 });
    out.code_in_form = await page.inputValue('input[name=code]');
    out.url_after_load = page.url();
    if (mode === 'reset') {
      await page.fill('input[name=password]', b);
      await page.check('input[name=revoke_api_keys]');
    }
    await page.click('button[type=submit]');
    await page.waitForSelector(mode === 'reset' ? 'h1:has-text("Your password is set")'
      : 'h1:has-text("Address confirmed")', { timeout: 15000 });
    out.heading = await page.textContent('h1');
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
