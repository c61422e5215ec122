// Portcullis admin console. Our own code, served from the binary with its SRI hash under a
// nonce CSP with Trusted Types: every element is built with DOM calls and every value set
// as text, so nothing an API returns can become markup or script.
//
// The pure parts (Merkle proofs, signed notes, chart scaling, p99 from histogram buckets)
// are exported for the console's own tests (node --test), which run them against the same
// vectors as the server.

const te = new TextEncoder();

// ---------------------------------------------------------------- encodings and hashing

export function b64decode(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function hexdecode(h) {
  if (!/^([0-9a-f]{2})*$/i.test(h)) throw new Error('not hex');
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
  return out;
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

// RFC 9162 section 2.1.1.
export const leafHash = (leaf) => sha256(concat(new Uint8Array([0]), leaf));
export const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

// RFC 9162 section 2.1.3.2: whether `proof` takes leaf `index` of a tree of `size` to `root`.
export async function verifyInclusion(index, size, leaf, proof, root) {
  if (!(index < size)) return false;
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equal(r, root);
}

// A C2SP signed-note verifier key: `<name>+<hex key id>+<base64(0x01 || Ed25519 key)>`,
// its id checked against SHA-256(name || "\n" || 0x01 || key)[..4].
export async function parseVerifierKey(vkey) {
  // Split at the first two '+' only: the base64 key may hold '+' itself.
  const [name, idHex, ...rest] = vkey.trim().split('+');
  const b64 = rest.join('+');
  if (!name || !idHex || !b64) throw new Error('malformed verifier key');
  const raw = b64decode(b64);
  if (raw.length !== 33 || raw[0] !== 1) throw new Error('not an Ed25519 verifier key');
  const key = raw.slice(1);
  const id = (await sha256(concat(te.encode(name + '\n'), new Uint8Array([1]), key))).slice(0, 4);
  if (!equal(id, hexdecode(idHex))) throw new Error('the verifier key id does not match its key');
  return { name, id, key };
}

// Verifies a signed note by `vkey` (WebCrypto Ed25519); returns its body, or throws.
export async function openNote(note, vkey) {
  const v = await parseVerifierKey(vkey);
  const split = note.indexOf('\n\n');
  if (split < 0) throw new Error('no blank line before the signatures');
  const body = note.slice(0, split + 1);
  const sigs = note.slice(split + 2);
  const key = await crypto.subtle.importKey('raw', v.key, { name: 'Ed25519' }, false, ['verify']);
  let seen = false;
  for (const line of sigs.split('\n').filter((l) => l)) {
    if (!line.startsWith('\u2014 ')) throw new Error('a signature line does not start with an em dash');
    const [name, b64] = line.slice(2).split(' ');
    if (name !== v.name) continue;
    const blob = b64decode(b64 || '');
    if (blob.length !== 68 || !equal(blob.slice(0, 4), v.id)) continue;
    seen = true;
    if (await crypto.subtle.verify({ name: 'Ed25519' }, key, blob.slice(4), te.encode(body))) return body;
  }
  throw new Error(seen ? 'the checkpoint signature does not verify' : 'the checkpoint is not signed by this key');
}

// `origin\nsize\nbase64 root\n` (extension lines ignored).
export function parseCheckpoint(body) {
  const lines = body.split('\n');
  const size = lines[1];
  if (!lines[0] || !/^(0|[1-9][0-9]*)$/.test(size || '')) throw new Error('malformed checkpoint');
  const root = b64decode(lines[2] || '');
  if (root.length !== 32) throw new Error('malformed checkpoint root');
  return { origin: lines[0], size: Number(size), root };
}

// A length-prefixed field as the chain hash writes it: u32 big-endian length and the UTF-8
// bytes, or 0xFFFFFFFF for an absent field.
function field(v) {
  if (v === null || v === undefined) return new Uint8Array([255, 255, 255, 255]);
  const b = te.encode(v);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, b.length);
  return concat(len, b);
}

function i64(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt(n));
  return b;
}

// The chain hash of an entry from the fields the page shows (the server's AuditRecord
// hashing, crates/core/src/audit.rs): version 2 commits to the personal fields through a
// salted commitment, recomputed here while the fields exist; version 1 hashes them directly.
export async function entryHash(e) {
  const prev = hexdecode(e.prev_hash);
  const personal = [e.actor, e.target, e.ip, e.user_agent, e.details_canonical];
  if (e.version === 1) {
    return sha256(concat(te.encode('portcullis.audit.v1\0'), i64(e.seq), prev, i64(e.unix_time),
      field(e.action), field(e.outcome), ...personal.map(field)));
  }
  let commitment = hexdecode(e.pii_commitment || '');
  if (commitment.length !== 32) throw new Error('the entry has no commitment');
  if (!e.redacted_at) {
    const again = await sha256(concat(te.encode('portcullis.audit.pii.v1\0'), hexdecode(e.pii_salt || ''),
      ...personal.map(field)));
    if (!equal(again, commitment)) throw new Error("the entry's personal fields are not the ones it committed to");
  }
  return sha256(concat(te.encode('portcullis.audit.v2\0'), i64(e.seq), prev, i64(e.unix_time),
    field(e.action), field(e.outcome), commitment));
}

// The whole check of one audit entry, without trusting the server that shows it: the
// checkpoint is signed by the pinned key, the entry's fields hash to its chain hash, whose
// leaf the audit path takes to the signed root.
export async function verifyEntry({ checkpoint, proof, pinnedKey }) {
  const body = await openNote(checkpoint, pinnedKey);
  const cp = parseCheckpoint(body);
  if (proof.tree_size !== cp.size) throw new Error('the proof is not for the signed tree size');
  const e = proof.entry;
  if (!equal(await entryHash(e), hexdecode(e.hash))) throw new Error("the entry's fields do not hash to its chain hash");
  if (JSON.stringify(JSON.parse(e.details_canonical)) !== JSON.stringify(e.details)) {
    throw new Error('the details shown are not the ones hashed');
  }
  const leaf = await leafHash(hexdecode(proof.entry.hash));
  if (!equal(leaf, hexdecode(proof.leaf_hash))) throw new Error("the leaf is not the entry's hash");
  const ok = await verifyInclusion(proof.leaf_index, cp.size, leaf,
    proof.inclusion_proof.map(hexdecode), cp.root);
  if (!ok) throw new Error('the audit path does not lead to the signed root');
  return { origin: cp.origin, size: cp.size, root: hex(cp.root) };
}

// ---------------------------------------------------------------- figures

// The quantile `q` of a Prometheus histogram from its cumulative buckets [{le, count}],
// interpolated within the bucket as Prometheus's histogram_quantile does.
export function quantile(q, buckets) {
  const b = buckets.filter((x) => Number.isFinite(x.count)).sort((x, y) => x.le - y.le);
  if (!b.length) return null;
  const total = b[b.length - 1].count;
  if (total === 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const { le, count } of b) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return prevLe;
      const inBucket = count - prevCount;
      return inBucket === 0 ? le : prevLe + (le - prevLe) * ((rank - prevCount) / inBucket);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

// A "nice" top for an axis holding `max`.
export function niceMax(max) {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

// Samples of one metric name with labels matching `want`.
export function pick(metrics, name, want = {}) {
  return metrics.filter((m) => m.name === name
    && Object.entries(want).every(([k, v]) => m.labels[k] === v));
}

// Sums `name` grouped by label `by`.
export function sumBy(metrics, name, by) {
  const out = {};
  for (const m of pick(metrics, name)) {
    const k = m.labels[by] ?? '';
    out[k] = (out[k] || 0) + m.value;
  }
  return out;
}

// ---------------------------------------------------------------- DOM

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

// A bar chart of [label, value] pairs (grouped series: value is an array), with a text
// alternative so a screen reader gets the figures too.
function barChart(title, rows, series = ['value']) {
  const w = 640; const h = 200; const pad = 30;
  const max = niceMax(Math.max(0, ...rows.flatMap(([, v]) => (Array.isArray(v) ? v : [v]))));
  const bw = (w - pad * 2) / Math.max(1, rows.length);
  const g = [];
  rows.forEach(([label, v], i) => {
    const vals = Array.isArray(v) ? v : [v];
    vals.forEach((x, j) => {
      const bh = (x / max) * (h - pad * 2);
      g.push(svg('rect', {
        x: pad + i * bw + (j * bw * 0.8) / vals.length, y: h - pad - bh,
        width: Math.max(1, (bw * 0.8) / vals.length), height: bh, class: `s${j}`,
      }, svg('title', {}, `${label} ${series[j] || ''}: ${x}`)));
    });
    if (rows.length <= 12 || i % Math.ceil(rows.length / 12) === 0) {
      g.push(svg('text', { x: pad + i * bw, y: h - 8, class: 'tick' }, String(label)));
    }
  });
  g.push(svg('text', { x: 2, y: pad - 8, class: 'tick' }, String(max)));
  g.push(svg('line', { x1: pad, y1: h - pad, x2: w - pad, y2: h - pad, class: 'axis' }));
  const figure = el('figure', { class: 'chart' },
    el('figcaption', {}, title),
    svg('svg', { viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-label': title }, g),
    el('details', {}, el('summary', {}, 'Figures'),
      el('table', {}, el('tbody', {}, rows.map(([l, v]) =>
        el('tr', {}, el('th', { scope: 'row' }, String(l)),
          (Array.isArray(v) ? v : [v]).map((x) => el('td', {}, String(x)))))))));
  return figure;
}

function stat(label, value, id) {
  return el('div', { class: 'stat', id }, el('span', { class: 'value' }, String(value)), el('span', { class: 'label' }, label));
}

// ---------------------------------------------------------------- the API

class Problem extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

function signInAgain(fresh) {
  const back = location.pathname + location.search;
  location.assign(`/console/login?${fresh ? 'fresh=1&' : ''}return=${encodeURIComponent(back)}`);
}

async function api(method, path, body) {
  const headers = { 'x-portcullis-console': '1', accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (res.status === 401) {
    // An expired console session signs in again; a change on an old sign-in asks for a
    // fresh one (the console's step-up), then comes back here.
    signInAgain(json && json.code === 'step_up_required');
    throw new Problem(401, json);
  }
  if (!res.ok) throw new Problem(res.status, json);
  return { status: res.status, body: json };
}

function say(text, kind = 'notice') {
  const n = document.getElementById('flash') || el('p', { id: 'flash', role: 'status' });
  n.className = kind;
  n.textContent = text;
  document.getElementById('main').prepend(n);
}

// Runs a change, re-renders the page, then says what happened (so what the page shows is
// the state after the change by the time the notice appears).
async function change(what, method, path, body, rerender) {
  let r;
  try {
    r = await api(method, path, body);
  } catch (e) {
    if (e.status !== 401) say(`${what}: ${e.message}`, 'error');
    return;
  }
  await rerender();
  if (r.status === 202 && r.body && r.body.approval_id) {
    say(`${what}: held for approval by ${r.body.required} other administrator(s) (${r.body.approval_id}).`);
  } else {
    say(`${what}: done.`);
  }
}

function button(label, onClick, cls = 'secondary') {
  return el('button', { type: 'button', class: cls, on: { click: onClick } }, label);
}

function table(caption, columns, rows, actions = () => []) {
  return el('table', {},
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, columns.map(([h]) => el('th', { scope: 'col' }, h)), el('th', { scope: 'col' }, 'Actions'))),
    el('tbody', {}, rows.length ? rows.map((r) => el('tr', {},
      columns.map(([, f]) => el('td', {}, f(r) ?? '—')),
      el('td', { class: 'actions' }, actions(r)))) : el('tr', {}, el('td', { colspan: columns.length + 1 }, 'None.'))));
}

// The page's view, emptied; its `append` skips what is absent (a DOM append would write
// "null").
function view() {
  const v = document.getElementById('view');
  v.replaceChildren();
  return { append: (...xs) => v.append(...xs.flat().filter((x) => x !== null && x !== undefined && x !== false)) };
}

// ---------------------------------------------------------------- pages

const pages = {};

pages[''] = async function dashboard() {
  const d = (await api('GET', '/api/v1/admin/dashboard')).body;
  const v = view();
  const m = d.metrics;
  const cov = Object.entries(d.mfa_coverage).map(([role, c]) =>
    stat(`${role}s with a second factor`, c.users ? `${Math.round((100 * c.with_second_factor) / c.users)}% (${c.with_second_factor}/${c.users})` : 'no accounts', `mfa-${role}`));
  const waf = sumBy(m, 'portcullis_waf_requests_total', 'category');
  const dlp = sumBy(m, 'portcullis_dlp_matches_total', 'detector');
  const alerts = Object.values(d.open_alerts).reduce((a, b) => a + b, 0);
  v.append(
    el('div', { class: 'stats' },
      stat('sign-ins (24 h)', d.signins_by_hour.reduce((a, h) => a + h.succeeded, 0), 'signins'),
      stat('failed sign-ins (24 h)', d.signins_by_hour.reduce((a, h) => a + h.failed, 0), 'failures'),
      stat('attack level', d.attack_level, 'attack'),
      stat('open alerts', alerts, 'open-alerts'),
      cov),
    d.audit_window_complete ? null : el('p', { class: 'muted' }, `Read the newest audit entries (${d.audit_window[0]}–${d.audit_window[1]}); older sign-ins of the day are not counted.`),
    barChart('Sign-ins per hour (succeeded, failed)', d.signins_by_hour.map((h) => [h.hour.slice(11, 16), [h.succeeded, h.failed]]), ['succeeded', 'failed']),
    barChart('Risk decisions', Object.entries(d.risk_decisions)),
    barChart('Risk reasons', Object.entries(d.risk_reasons)),
    barChart('Open alerts by severity', Object.entries(d.open_alerts)),
    barChart('WAF blocks and flags by category', Object.entries(waf)),
    barChart('DLP matches by detector', Object.entries(dlp)),
    routesTable(m),
  );
};

// Per route: requests by status class, error rate, p99 from the latency histogram.
function routesTable(m) {
  const routes = [...new Set(pick(m, 'portcullis_gateway_requests_total').map((x) => x.labels.route))].sort();
  const rows = routes.map((route) => {
    const by = sumBy(pick(m, 'portcullis_gateway_requests_total', { route }).map((x) => ({ ...x, name: 'x' })), 'x', 'class');
    const total = Object.values(by).reduce((a, b) => a + b, 0);
    const errors = (by['5xx'] || 0);
    const buckets = pick(m, 'portcullis_gateway_request_duration_seconds_bucket', { route })
      .map((x) => ({ le: x.labels.le === '+Inf' ? Infinity : Number(x.labels.le), count: x.value }));
    const p99 = quantile(0.99, buckets);
    return { route, total, errors, rate: total ? `${((100 * errors) / total).toFixed(1)}%` : '—', p99: p99 === null ? '—' : `${(p99 * 1000).toFixed(1)} ms` };
  });
  return table('Gateway requests per route', [
    ['Route', (r) => r.route], ['Requests', (r) => r.total], ['5xx', (r) => r.errors],
    ['Error rate', (r) => r.rate], ['p99', (r) => r.p99]], rows);
}

pages.users = async function users() {
  const q = new URLSearchParams(location.search).get('q') || '';
  const list = (await api('GET', `/api/v1/admin/users?limit=100${q ? `&q=${encodeURIComponent(q)}` : ''}`)).body;
  const v = view();
  const input = el('input', { type: 'search', name: 'q', id: 'user-q', value: q });
  const email = el('input', { type: 'email', id: 'invite-email', name: 'email', required: true, autocomplete: 'off' });
  const name = el('input', { id: 'invite-name', name: 'display_name' });
  const role = el('select', { id: 'invite-role', name: 'role' }, el('option', { value: 'user' }, 'user'), el('option', { value: 'admin' }, 'admin'));
  const sessions = el('section', { id: 'sessions', 'aria-live': 'polite' });
  v.append(
    el('form', { role: 'search', on: { submit: (e) => { e.preventDefault(); history.replaceState(null, '', `?q=${encodeURIComponent(input.value)}`); pages.users(); } } },
      el('label', { for: 'user-q' }, 'Search by email or name'), input, el('button', { type: 'submit' }, 'Search')),
    el('form', { class: 'inline', 'aria-label': 'Invite a user', on: { submit: (e) => { e.preventDefault(); change(`Invite ${email.value}`, 'POST', '/api/v1/admin/users', { email: email.value, role: role.value, display_name: name.value || undefined }, pages.users); } } },
      el('label', { for: 'invite-email' }, 'Invite (email)'), email,
      el('label', { for: 'invite-name' }, 'Name'), name,
      el('label', { for: 'invite-role' }, 'Role'), role,
      el('button', { type: 'submit' }, 'Invite')),
    table('Users', [
      ['Email', (u) => u.email], ['Role', (u) => u.role],
      ['Second factor', (u) => (u.mfa_enabled ? 'yes' : 'no')],
      ['State', (u) => (u.locked ? 'locked' : 'active')], ['Created', (u) => when(u.created_at)]],
    list.users, (u) => [
      u.locked
        ? button(`Unlock ${u.email}`, () => change(`Unlock ${u.email}`, 'POST', `/api/v1/admin/users/${u.id}/unlock`, undefined, pages.users))
        : button(`Lock ${u.email}`, () => change(`Lock ${u.email}`, 'POST', `/api/v1/admin/users/${u.id}/lock`, undefined, pages.users)),
      u.mfa_enabled ? button(`Reset MFA of ${u.email}`, () => confirm(`Remove every second factor of ${u.email}?`)
        && change(`Reset MFA of ${u.email}`, 'DELETE', `/api/v1/admin/users/${u.id}/mfa`, undefined, pages.users)) : null,
      button(`Sessions of ${u.email}`, () => showSessions(u, sessions)),
      button(`Erase ${u.email}`, () => confirm(`Erase ${u.email} and their personal data? This cannot be undone.`)
        && change(`Erase ${u.email}`, 'DELETE', `/api/v1/admin/users/${u.id}?erase=true`, undefined, pages.users), 'danger'),
    ]),
    sessions);
};

async function showSessions(u, where) {
  try {
    const list = (await api('GET', `/api/v1/admin/users/${u.id}/sessions`)).body;
    where.replaceChildren(
      table(`Sessions of ${u.email}`, [['Started', (x) => when(x.created_at)], ['Last seen', (x) => when(x.last_seen_at)],
        ['Address', (x) => x.ip], ['Browser', (x) => x.user_agent]], list.sessions),
      list.sessions.length ? button(`End every session of ${u.email}`, () => change(`End sessions of ${u.email}`, 'DELETE', `/api/v1/admin/users/${u.id}/sessions`, undefined, pages.users), 'danger') : '');
  } catch (e) {
    if (e.status !== 401) say(e.message, 'error');
  }
}

// A secret the server shows once: in a labelled box, never stored by the page.
function once(label, value) {
  return el('div', { class: 'notice', role: 'status', id: 'shown-once' },
    el('p', {}, `${label} (shown only now; store it where it belongs):`), el('code', {}, value));
}

pages['service-accounts'] = async function keys(shown) {
  const list = (await api('GET', '/api/v1/admin/api-keys?limit=200')).body;
  const name = el('input', { id: 'sa-name', name: 'name', required: true });
  const scopes = el('input', { id: 'sa-scopes', name: 'scopes', placeholder: 'orders:read orders:write' });
  view().append(
    shown || null,
    el('form', { class: 'inline', 'aria-label': 'New service account', on: { submit: async (e) => {
      e.preventDefault();
      try {
        const r = await api('POST', '/api/v1/admin/service-accounts', { name: name.value, scopes: scopes.value.split(/\s+/).filter(Boolean) });
        await pages['service-accounts'](r.body && r.body.api_key && r.body.api_key.key ? once(`API key of ${name.value}`, r.body.api_key.key) : null);
      } catch (err) { if (err.status !== 401) say(`New service account: ${err.message}`, 'error'); }
    } } },
      el('label', { for: 'sa-name' }, 'New service account'), name,
      el('label', { for: 'sa-scopes' }, 'Scopes'), scopes,
      el('button', { type: 'submit' }, 'Create')),
    table('API keys', [
      ['Name', (k) => k.name], ['Prefix', (k) => k.prefix], ['Owner', (k) => k.owner_id],
      ['Scopes', (k) => k.scopes.join(' ')], ['Signing', (k) => k.signing],
      ['Last used', (k) => when(k.last_used_at)], ['Expires', (k) => when(k.expires_at)],
      ['State', (k) => (k.revoked_at ? `revoked ${when(k.revoked_at)}` : 'active')]],
    list.api_keys, (k) => (k.revoked_at ? [] : [button(`Revoke ${k.name}`, () => confirm(`Revoke the key ${k.name}?`)
      && change(`Revoke ${k.name}`, 'DELETE', `/api/v1/admin/api-keys/${k.id}`, undefined, pages['service-accounts']), 'danger')])));
};

pages.clients = async function clients(shown) {
  const list = (await api('GET', '/api/v1/admin/clients?limit=200')).body;
  const name = el('input', { id: 'client-name', name: 'name', required: true });
  const uris = el('input', { id: 'client-uris', name: 'redirect_uris', placeholder: 'https://app.example/callback' });
  const auth = el('select', { id: 'client-auth', name: 'token_endpoint_auth_method' },
    ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'].map((m) => el('option', { value: m }, m)));
  view().append(
    shown || null,
    el('form', { class: 'inline', 'aria-label': 'New OAuth client', on: { submit: async (e) => {
      e.preventDefault();
      try {
        const r = await api('POST', '/api/v1/admin/clients', {
          name: name.value, redirect_uris: uris.value.split(/\s+/).filter(Boolean),
          grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: auth.value,
        });
        const b = r.body || {};
        await pages.clients(r.status === 202 ? null : once(`Client ${b.client_id}${b.client_secret ? ' secret' : ''}`, b.client_secret || b.client_id));
        if (r.status === 202) say(`New client: held for approval (${b.approval_id}).`);
      } catch (err) { if (err.status !== 401) say(`New client: ${err.message}`, 'error'); }
    } } },
      el('label', { for: 'client-name' }, 'New client'), name,
      el('label', { for: 'client-uris' }, 'Redirect URIs'), uris,
      el('label', { for: 'client-auth' }, 'Authentication'), auth,
      el('button', { type: 'submit' }, 'Register')),
    table('OAuth clients', [
      ['Name', (c) => c.name], ['Client id', (c) => c.client_id],
      ['Authentication', (c) => c.token_endpoint_auth_method], ['Grants', (c) => c.grant_types.join(' ')],
      ['Redirect URIs', (c) => c.redirect_uris.join(' ')],
      ['Requires', (c) => [c.require_pkce && 'PKCE', c.require_par && 'PAR', c.require_dpop && 'DPoP'].filter(Boolean).join(', ')]],
    list.clients, (c) => [button(`Delete ${c.name}`, () => confirm(`Delete the client ${c.name}? Its tokens stop working.`)
      && change(`Delete ${c.name}`, 'DELETE', `/api/v1/admin/clients/${c.client_id}`, undefined, pages.clients), 'danger')]));
};

pages.routes = async function routes() {
  const m = (await api('GET', '/api/v1/admin/dashboard')).body.metrics;
  const ups = pick(m, 'portcullis_gateway_upstream_healthy').map((x) => {
    const l = { route: x.labels.route, upstream: x.labels.upstream };
    const breaker = (pick(m, 'portcullis_gateway_breaker_state', l)[0] || {}).value;
    const flight = (pick(m, 'portcullis_gateway_upstream_in_flight', l)[0] || {}).value;
    return { ...l, healthy: x.value === 1, breaker: ['closed', 'half-open', 'open'][breaker] || '—', flight };
  });
  view().append(
    table('Upstreams', [['Route', (u) => u.route], ['Upstream', (u) => u.upstream],
      ['Health', (u) => (u.healthy ? 'healthy' : 'failing')], ['Breaker', (u) => u.breaker],
      ['In flight', (u) => u.flight]], ups),
    routesTable(m));
};

pages.bans = async function bans() {
  const list = (await api('GET', '/api/v1/admin/bans?limit=200')).body;
  const cidr = el('input', { id: 'ban-cidr', name: 'cidr', required: true, placeholder: '203.0.113.0/24' });
  const secs = el('input', { id: 'ban-seconds', name: 'duration_seconds', type: 'number', min: 1, value: 3600, required: true });
  const reason = el('input', { id: 'ban-reason', name: 'reason' });
  view().append(
    el('form', { class: 'inline', on: { submit: (e) => { e.preventDefault(); change(`Ban ${cidr.value}`, 'POST', '/api/v1/admin/bans', { cidr: cidr.value, duration_seconds: Number(secs.value), reason: reason.value || undefined }, pages.bans); } } },
      el('label', { for: 'ban-cidr' }, 'Address or CIDR'), cidr,
      el('label', { for: 'ban-seconds' }, 'Seconds'), secs,
      el('label', { for: 'ban-reason' }, 'Reason'), reason,
      el('button', { type: 'submit' }, 'Ban')),
    table('Bans', [['CIDR', (b) => b.cidr], ['Reason', (b) => b.reason], ['Source', (b) => b.source],
      ['Until', (b) => when(b.expires_at)], ['State', (b) => (b.active ? 'active' : 'lifted or expired')]],
    list.bans, (b) => (b.active ? [button(`Lift ${b.cidr}`, () => change(`Lift ${b.cidr}`, 'DELETE', `/api/v1/admin/bans/${b.id}`, undefined, pages.bans))] : [])));
};

pages.alerts = async function alerts() {
  const list = (await api('GET', '/api/v1/admin/alerts?limit=200')).body;
  view().append(table('Alerts', [['Rule', (a) => a.rule], ['Severity', (a) => a.severity],
    ['Status', (a) => a.status], ['Group', (a) => a.group], ['Count', (a) => a.count],
    ['Last', (a) => when(a.last_at)]],
  list.alerts, (a) => (a.status === 'open' ? [button(`Resolve ${a.rule}`, () => change(`Resolve ${a.rule}`, 'POST', `/api/v1/admin/alerts/${a.id}/resolve`, undefined, pages.alerts))] : [])));
};

pages.keys = async function keys() {
  const k = (await api('GET', '/api/v1/admin/keys')).body;
  const jwks = await (await fetch('/.well-known/jwks.json')).json();
  view().append(
    el('div', { class: 'stats' },
      stat('current KEK version', k.kek_version, 'kek'),
      stat('data keys re-wrapped', `${k.data_keys_rewrapped}/${k.data_keys}`, 'rewrapped'),
      stat('rotation progress', `${Math.round(k.progress * 100)}%`, 'progress')),
    table('Key-encryption key versions', [['Version', (x) => x.version], ['Created', (x) => when(x.created_at)],
      ['Retired', (x) => when(x.retired_at)]], k.versions),
    el('p', {}, button('Rotate the key-encryption key', () => confirm('Start a KEK rotation?')
      && change('KEK rotation', 'POST', '/api/v1/admin/keys/rotate', {}, pages.keys), 'danger')),
    table('Token signing keys (JWKS)', [['Key id', (x) => x.kid], ['Algorithm', (x) => x.alg],
      ['Type', (x) => `${x.kty} ${x.crv || ''}`.trim()], ['Use', (x) => x.use]], jwks.keys || []));
};

pages.approvals = async function approvals() {
  const held = (await api('GET', '/api/v1/admin/approvals')).body;
  const elev = (await api('GET', '/api/v1/admin/elevations')).body;
  view().append(
    table('Held operations', [['Operation', (a) => a.operation], ['Requested by', (a) => a.requested_by],
      ['Approvals', (a) => `${a.approvals}/${a.required}`], ['Status', (a) => a.status], ['Created', (a) => when(a.created_at)]],
    held.approvals, (a) => (a.status === 'pending' ? [
      button(`Approve ${a.operation}`, () => change(`Approve ${a.operation}`, 'POST', `/api/v1/admin/approvals/${a.id}/approve`, {}, pages.approvals)),
      button(`Deny ${a.operation}`, () => change(`Deny ${a.operation}`, 'POST', `/api/v1/admin/approvals/${a.id}/deny`, {}, pages.approvals), 'danger')] : [])),
    table('Elevation requests', [['User', (x) => x.user_id], ['Asks', (x) => x.role || x.scopes.join(' ')],
      ['For', (x) => `${x.duration_seconds} s`], ['Reason', (x) => x.reason],
      ['Approvals', (x) => `${x.approvals}/${x.required}`], ['Status', (x) => x.status]],
    elev.elevations, (x) => (x.status === 'pending' ? [
      button(`Approve elevation of ${x.user_id}`, () => change('Approve elevation', 'POST', `/api/v1/admin/elevations/${x.id}/approve`, {}, pages.approvals)),
      button(`Deny elevation of ${x.user_id}`, () => change('Deny elevation', 'POST', `/api/v1/admin/elevations/${x.id}/deny`, {}, pages.approvals), 'danger')] : [])));
};

pages.report = async function report() {
  view().append(
    el('p', {}, 'The compliance report maps SOC 2, ISO 27001 and PCI DSS controls to evidence measured from this system now.'),
    el('ul', {},
      el('li', {}, el('a', { href: '/console/report.html', id: 'report-html' }, 'Open the report (HTML)')),
      el('li', {}, el('a', { href: '/console/report.pdf', id: 'report-pdf', download: 'portcullis-compliance-report.pdf' }, 'Download the report (PDF)'))));
};

// The audit log, filtered; each entry's proof checked here against the pinned key.
const PIN = 'portcullis.audit.verifier-key';

pages.audit = async function audit() {
  const params = new URLSearchParams(location.search);
  const v = view();
  const f = {};
  const form = el('form', { class: 'inline', on: { submit: (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, i] of Object.entries(f)) if (i.value) p.set(k, i.value);
    history.replaceState(null, '', `?${p}`);
    pages.audit();
  } } });
  for (const [k, label] of [['action', 'Action (prefix*)'], ['actor', 'Actor'], ['since', 'Since (UTC)'], ['until', 'Until (UTC)']]) {
    f[k] = el('input', { id: `audit-${k}`, name: k, value: params.get(k) || '', type: k === 'since' || k === 'until' ? 'datetime-local' : 'text' });
    form.append(el('label', { for: `audit-${k}` }, label), f[k]);
  }
  form.append(el('button', { type: 'submit' }, 'Filter'));
  const q = new URLSearchParams({ limit: '50' });
  for (const k of ['action', 'actor']) if (params.get(k)) q.set(k, params.get(k));
  for (const k of ['since', 'until']) if (params.get(k)) q.set(k, String(Math.floor(Date.parse(`${params.get(k)}Z`) / 1000)));
  if (params.get('before_seq')) q.set('before_seq', params.get('before_seq'));
  const page = (await api('GET', `/api/v1/admin/audit/search?${q}`)).body;
  const pinned = localStorage.getItem(PIN);
  const pinBox = el('section', { 'aria-label': 'Verifier key', class: 'pin' });
  const served = (await api('GET', '/api/v1/audit/verifier-key')).body.verifier_key;
  if (!pinned) {
    pinBox.append(el('p', {}, 'No verifier key is pinned in this browser. Compare this one with `portcullis audit verifier-key` run on the server, then pin it:'),
      el('code', { id: 'served-key' }, served), button('Pin this key', () => { localStorage.setItem(PIN, served); pages.audit(); }));
  } else {
    pinBox.append(...[el('p', {}, 'Pinned verifier key: ', el('code', { id: 'pinned-key' }, pinned)),
      pinned === served ? null : el('p', { class: 'error', role: 'alert' }, 'The server now shows another key than the one pinned here: its proofs are checked against the pinned key.'),
      button('Unpin', () => { localStorage.removeItem(PIN); pages.audit(); })].filter(Boolean));
  }
  v.append(form, pinBox,
    table('Audit entries', [['Seq', (e) => e.seq], ['Time', (e) => when(e.time)], ['Action', (e) => e.action],
      ['Outcome', (e) => e.outcome], ['Actor', (e) => e.actor], ['Target', (e) => e.target], ['Address', (e) => e.ip]],
    page.events, (e) => [button(`Verify entry ${e.seq}`, (ev) => verifyInPage(e.seq, ev.target))]),
    page.next_before_seq ? el('p', {}, el('a', { href: `?${new URLSearchParams({ ...Object.fromEntries(params), before_seq: page.next_before_seq })}` }, 'Older entries')) : null);
};

async function verifyInPage(seq, where) {
  const out = el('span', { class: 'verdict', role: 'status', id: `verdict-${seq}` }, 'Checking…');
  where.after(out);
  try {
    const key = localStorage.getItem(PIN);
    if (!key) throw new Error('pin a verifier key first');
    const cp = (await api('GET', '/api/v1/audit/checkpoint')).body;
    if (seq > cp.tree_size) throw new Error(`not yet in a signed checkpoint (it covers ${cp.tree_size} entries)`);
    const proof = (await api('GET', `/api/v1/admin/audit/${seq}/proof?tree_size=${cp.tree_size}`)).body;
    const r = await verifyEntry({ checkpoint: cp.checkpoint, proof, pinnedKey: key });
    out.textContent = `Verified: in the log of ${r.size} entries signed by the pinned key (root ${r.root.slice(0, 16)}…).`;
    out.className = 'verdict ok';
  } catch (e) {
    out.textContent = `Not verified: ${e.message}`;
    out.className = 'verdict error';
  }
}

// ---------------------------------------------------------------- start

async function start() {
  const main = document.getElementById('main');
  const page = main && main.dataset.page;
  const out = document.getElementById('signout');
  if (out) {
    out.addEventListener('click', async () => {
      await fetch('/console/logout', { method: 'POST', headers: { 'x-portcullis-console': '1' }, credentials: 'same-origin' });
      location.assign('/oauth2/logout');
    });
  }
  if (page === undefined || !(page in pages)) return;
  try {
    const me = (await api('GET', '/api/v1/auth/me')).body;
    document.getElementById('who').textContent = `Signed in as ${(me.user || me).email}`;
    await pages[page]();
  } catch (e) {
    if (e.status !== 401) say(e.message, 'error');
  }
}

if (typeof document !== 'undefined') {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}
