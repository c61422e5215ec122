// Portcullis's API reference: the OpenAPI document rendered with DOM calls only (served
// from the binary with its SRI hash; no CDN, no third-party viewer).

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

// A schema as short text: `$ref`s by name, arrays and objects by their parts.
export function describe(s, depth = 0) {
  if (!s || depth > 3) return 'any';
  if (s.$ref) return s.$ref.split('/').pop();
  if (s.oneOf || s.anyOf) return (s.oneOf || s.anyOf).map((x) => describe(x, depth + 1)).join(' | ');
  if (s.type === 'array') return `[${describe(s.items, depth + 1)}]`;
  if (Array.isArray(s.type)) return s.type.join(' | ');
  if (s.type === 'object' && s.properties) return `{${Object.keys(s.properties).join(', ')}}`;
  return s.type || 'any';
}

function operation(path, method, op) {
  const params = (op.parameters || []).map((p) => el('li', {}, el('code', {}, p.name), ` (${p.in}${p.required ? ', required' : ''}): ${describe(p.schema)}${p.description ? ` — ${p.description}` : ''}`));
  const body = op.requestBody && op.requestBody.content ? Object.entries(op.requestBody.content).map(([t, c]) => el('li', {}, `${t}: ${describe(c.schema)}`)) : [];
  const responses = Object.entries(op.responses || {}).map(([code, r]) => el('li', {}, el('code', {}, code), ` ${r.description || ''}`,
    r.content ? ` (${Object.entries(r.content).map(([t, c]) => `${t}: ${describe(c.schema)}`).join('; ')})` : ''));
  const id = `${method}-${path}`.replace(/[^A-Za-z0-9_-]/g, '_');
  return el('details', { class: 'op', id },
    el('summary', {}, el('span', { class: 'method' }, method.toUpperCase()), el('code', {}, path), ` ${op.summary || ''}`),
    op.description ? el('p', {}, op.description) : null,
    (op.security || []).length ? el('p', { class: 'muted' }, `Auth: ${op.security.map((s) => Object.keys(s).join(' + ') || 'none').join(' or ')}`) : null,
    params.length ? [el('h4', {}, 'Parameters'), el('ul', {}, params)] : null,
    body.length ? [el('h4', {}, 'Request body'), el('ul', {}, body)] : null,
    el('h4', {}, 'Responses'), el('ul', {}, responses));
}

async function start() {
  const v = document.getElementById('view');
  try {
    const doc = await (await fetch('/api/v1/openapi.json', { headers: { accept: 'application/json' } })).json();
    const byTag = {};
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const [method, op] of Object.entries(item)) {
        if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
        const tag = (op.tags && op.tags[0]) || 'other';
        (byTag[tag] = byTag[tag] || []).push(operation(path, method, op));
      }
    }
    v.replaceChildren(
      el('p', {}, `${doc.info.title} ${doc.info.version}: ${doc.info.description || ''}`),
      Object.entries(byTag).sort().map(([tag, ops]) => el('section', { 'aria-label': tag }, el('h2', {}, tag), ops)),
      el('section', { 'aria-label': 'Schemas' }, el('h2', {}, 'Schemas'),
        Object.entries((doc.components || {}).schemas || {}).map(([name, s]) =>
          el('details', { class: 'op', id: `schema-${name}` }, el('summary', {}, el('code', {}, name)),
            el('pre', {}, JSON.stringify(s, null, 2))))));
  } catch (e) {
    v.replaceChildren(el('p', { class: 'error' }, `The document could not be read: ${e.message}`));
  }
}

if (typeof document !== 'undefined') start();
