'use strict';
// plow explorer: a single page over the node's public API (docs/api.md) only.
const $main = document.getElementById('main');
async function api(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' } });
  const j = await r.json();
  if (!r.ok) throw new Error(j.error || ('HTTP ' + r.status));
  return j;
}
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k instanceof Node ? k : String(k));
  return e;
}
async function overview() {
  const s = await api('/v1/status');
  $main.replaceChildren(el('h1', { text: 'Overview' }),
    el('div', { class: 'cards' }, el('div', { class: 'card' }, el('div', { class: 'k', text: 'height' }),
      el('div', { class: 'v', id: 'ov-height', text: s.height }))));
}
overview().catch(e => { $main.textContent = 'error: ' + e.message; });
