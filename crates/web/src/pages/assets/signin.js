// Portcullis sign-in page: solves the proof-of-work the server asks for (ALTCHA's SHA-256
// search) and signs in with a passkey (WebAuthn). No third-party code; served from the
// binary with an SRI hash under a nonce-based CSP.
"use strict";

const b64uToBuf = (s) => {
  const pad = "=".repeat((4 - (s.length % 4)) % 4);
  const bin = atob((s + pad).replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
};
const bufToB64u = (b) => {
  const bytes = new Uint8Array(b);
  let s = "";
  for (const x of bytes) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};
const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");

async function solvePow(form) {
  const el = form.querySelector("[data-pow]");
  if (!el) return;
  const c = JSON.parse(el.dataset.pow);
  const button = form.querySelector("button[type=submit]");
  const status = form.querySelector("[data-pow-status]");
  button.disabled = true;
  const enc = new TextEncoder();
  for (let n = 0; n <= c.maxnumber; n++) {
    const digest = await crypto.subtle.digest("SHA-256", enc.encode(c.salt + n));
    if (hex(digest) === c.challenge) {
      el.value = btoa(JSON.stringify({ algorithm: c.algorithm, challenge: c.challenge, number: n,
        salt: c.salt, signature: c.signature }));
      button.disabled = false;
      if (status) status.textContent = "Check complete. You can sign in.";
      return;
    }
  }
  if (status) status.textContent = "The check could not be completed; reload the page.";
}

async function passkey(button) {
  const form = document.getElementById("passkey-form");
  const status = document.querySelector("[data-passkey-status]");
  try {
    button.disabled = true;
    const body = form.dataset.mfa === "1" ? JSON.stringify({ mfa: true }) : "{}";
    const start = await fetch(form.dataset.start, { method: "POST", headers: { "content-type": "application/json",
      "x-csrf-token": form.querySelector("[name=csrf]").value }, body, credentials: "same-origin" });
    if (!start.ok) throw new Error("the server did not start the passkey sign-in");
    const { ceremony_id, publicKey } = await start.json();
    publicKey.challenge = b64uToBuf(publicKey.challenge);
    for (const c of publicKey.allowCredentials || []) c.id = b64uToBuf(c.id);
    const cred = await navigator.credentials.get({ publicKey });
    const r = cred.response;
    const json = { id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type, extensions: {},
      response: { clientDataJSON: bufToB64u(r.clientDataJSON), authenticatorData: bufToB64u(r.authenticatorData),
        signature: bufToB64u(r.signature), userHandle: r.userHandle ? bufToB64u(r.userHandle) : null } };
    form.querySelector("[name=ceremony_id]").value = ceremony_id;
    form.querySelector("[name=credential]").value = JSON.stringify(json);
    form.submit();
  } catch (e) {
    button.disabled = false;
    if (status) status.textContent = "Passkey sign-in did not complete: " + e.message;
  }
}

// A mailed code arrives in the link's fragment (#code=...): into the form, out of the URL.
function codeFromFragment() {
  const m = location.hash.match(/code=([A-Za-z0-9_-]{1,64})/);
  const el = document.querySelector("input[name=code]");
  if (m && el) el.value = m[1];
  if (location.hash) history.replaceState(null, "", location.pathname);
}

document.addEventListener("DOMContentLoaded", () => {
  codeFromFragment();
  for (const f of document.querySelectorAll("form[data-has-pow]")) solvePow(f);
  const pk = document.getElementById("passkey-button");
  if (pk) {
    if (window.PublicKeyCredential) pk.addEventListener("click", () => passkey(pk));
    else pk.hidden = true;
  }
});
