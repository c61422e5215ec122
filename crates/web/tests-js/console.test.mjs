// The console's own JavaScript, tested with node's test runner (node --test): the Merkle
// proofs against an independent RFC 9162 implementation written here, signed notes with a
// key made by node:crypto, and the figures' arithmetic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import * as c from '../src/pages/assets/console.js';

const h = (...parts) => createHash('sha256').update(Buffer.concat(parts.map((p) => Buffer.from(p)))).digest();
const leaf = (d) => h([0], d);
const node = (l, r) => h([1], l, r);
const split = (n) => { let k = 1; while (k << 1 < n) k <<= 1; return k; };
// RFC 9162 2.1.1 MTH and 2.1.3.1 PATH, straight from the definitions.
function mth(d) {
  if (d.length === 1) return leaf(d[0]);
  const k = split(d.length);
  return node(mth(d.slice(0, k)), mth(d.slice(k)));
}
function path(m, d) {
  if (d.length === 1) return [];
  const k = split(d.length);
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}

test('inclusion proofs of every leaf of every tree up to 17 verify, and altered ones do not', async () => {
  const data = Array.from({ length: 17 }, (_, i) => Buffer.from(`entry ${i}`));
  for (let n = 1; n <= 17; n++) {
    const d = data.slice(0, n);
    const root = mth(d);
    for (let m = 0; m < n; m++) {
      const p = path(m, d);
      const lh = await c.leafHash(d[m]);
      assert.deepEqual(Buffer.from(lh), leaf(d[m]));
      assert.equal(await c.verifyInclusion(m, n, lh, p, root), true, `leaf ${m} of ${n}`);
      if (p.length) {
        const bad = p.map((x) => Buffer.from(x));
        bad[0][0] ^= 1;
        assert.equal(await c.verifyInclusion(m, n, lh, bad, root), false);
      }
      if (n > 1) assert.equal(await c.verifyInclusion((m + 1) % n, n, lh, p, root), false);
    }
  }
  assert.equal(await c.verifyInclusion(3, 3, new Uint8Array(32), [], new Uint8Array(32)), false);
});

// A signed note as Portcullis makes it (C2SP signed-note, Ed25519).
function signedNote(name, body) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const id = h(Buffer.from(`${name}\n`), [1], pub).subarray(0, 4);
  const vkey = `${name}+${id.toString('hex')}+${Buffer.concat([Buffer.from([1]), pub]).toString('base64')}`;
  const sig = sign(null, Buffer.from(body), privateKey);
  return { vkey, note: `${body}\n\u2014 ${name} ${Buffer.concat([id, sig]).toString('base64')}\n` };
}

test('signed checkpoints verify with the pinned key only', async () => {
  const body = 'example.org/log\n5\nq7Gf0J2d+4v7d6l3Jp2mYvHq2qV1j3N5b8Q2mQ9kP0s=\n';
  const { vkey, note } = signedNote('example.org/log', body);
  assert.equal(await c.openNote(note, vkey), body);
  const cp = c.parseCheckpoint(body);
  assert.equal(cp.size, 5);
  await assert.rejects(c.openNote(note.replace('\n5\n', '\n6\n'), vkey), /does not verify/);
  const other = signedNote('example.org/log', body).vkey;
  await assert.rejects(c.openNote(note, other), /not signed by this key/);
  await assert.rejects(c.parseVerifierKey(vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+')), /id does not match/);
  assert.throws(() => c.parseCheckpoint('o\n05\nAAAA\n'), /malformed/);
});

test('quantiles interpolate within buckets as histogram_quantile does', () => {
  const b = [{ le: 0.1, count: 50 }, { le: 0.2, count: 90 }, { le: 0.4, count: 100 }, { le: Infinity, count: 100 }];
  assert.equal(c.quantile(0.5, b), 0.1);
  assert.ok(Math.abs(c.quantile(0.99, b) - 0.38) < 1e-9);
  assert.equal(c.quantile(0.99, [{ le: Infinity, count: 0 }]), null);
  assert.equal(c.quantile(0.99, [{ le: 0.5, count: 1 }, { le: Infinity, count: 5 }]), 0.5);
});

test('axis tops and label sums', () => {
  assert.equal(c.niceMax(0), 1);
  assert.equal(c.niceMax(7), 10);
  assert.equal(c.niceMax(180), 200);
  assert.equal(c.niceMax(2400), 2500);
  const m = [
    { name: 'x_total', labels: { route: 'a', class: '2xx' }, value: 3 },
    { name: 'x_total', labels: { route: 'b', class: '2xx' }, value: 4 },
    { name: 'x_total', labels: { route: 'a', class: '5xx' }, value: 1 },
  ];
  assert.deepEqual(c.sumBy(m, 'x_total', 'class'), { '2xx': 7, '5xx': 1 });
  assert.equal(c.pick(m, 'x_total', { route: 'a' }).length, 2);
});
