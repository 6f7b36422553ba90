'use strict';
// plow explorer (docs/explorer.md): one page over the node's public API only
// (docs/api.md). Plain JavaScript, no framework, no build step. Every value
// shown comes from a /v1/ request; nothing is computed that the API does not
// say, except sums and differences of what it returned.

const $main = document.getElementById('main');
const $live = document.getElementById('live');
const PLOTS = typeof window.uPlot === 'function';

// ---- helpers -------------------------------------------------------------------------
async function api(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' } });
  let j = null;
  try { j = await r.json(); } catch (e) { j = null; }
  if (!r.ok) {
    const err = new Error((j && j.error) || ('HTTP ' + r.status));
    err.status = r.status;
    throw err;
  }
  return j;
}
async function apiOr(path, dflt) {
  try { return await api(path); } catch (e) { if (e.status === 404) return dflt; throw e; }
}
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat(Infinity)) if (k != null && k !== false) e.append(k instanceof Node ? k : String(k));
  return e;
}
const num = v => (v == null ? '—' : BigInt(v).toLocaleString('en-US'));
function signed(d) { return (d > 0n ? '+' : d < 0n ? '−' : '±') + (d < 0n ? -d : d).toLocaleString('en-US'); }
const short = h => (h && h.length > 20 ? h.slice(0, 10) + '…' + h.slice(-6) : h || '—');
const link = (href, text, title) => el('a', { href, title: title || null }, text);
const acct = a => link('#/account/' + a, short(a), a);
const taskL = t => link('#/task/' + t, short(t), t);
const txL = h => link('#/tx/' + h, short(h), h);
const blockL = h => link('#/block/' + h, String(h));
const hashC = h => el('span', { class: 'h', title: h }, h);
function ago(ms) {
  if (!ms) return '—';
  const d = new Date(Number(ms));
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}
function table(headers, rows, cls) {
  return el('div', { class: 'scroll' }, el('table', { class: cls || null },
    el('thead', {}, el('tr', {}, headers.map(h => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.map(r => el('tr', {}, r.map(c => el('td', {}, c)))))));
}
function kv(pairs) {
  return el('dl', { class: 'kv' }, pairs.filter(p => p).map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}
function card(k, v, id) {
  return el('div', { class: 'card' }, el('div', { class: 'k' }, k), el('div', { class: 'v', id }, v));
}
function notice(text) { return el('p', { class: 'notice' }, text); }
function render(...kids) {
  $main.replaceChildren(...kids.flat(Infinity).filter(k => k != null && k !== false));
}

// ---- plots (uPlot when the build had it) ---------------------------------------------
const COLORS = ['#0b5cad', '#b3261e', '#1e7b34', '#8a4baf', '#c46a00', '#00838f', '#6d4c41', '#37474f'];
function plot(title, xs, series, opts) {
  const box = el('div', { class: 'plot', role: 'img', 'aria-label': title });
  if (!PLOTS) {
    box.append(notice('Plots are unavailable: this node was built without uPlot (npm ci, then make).'));
    return box;
  }
  const width = Math.max(260, Math.min(($main.clientWidth || 360) - 24, 900));
  const o = {
    title, width, height: 240,
    scales: { x: { time: false } },
    axes: [{ label: (opts && opts.xlabel) || '' }, { label: (opts && opts.ylabel) || '' }],
    series: [{}].concat(series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2,
      spanGaps: true, points: { show: xs.length < 60 } }))),
  };
  const data = [xs].concat(series.map(s => s.values));
  // the test reads the points drawn from here
  box.dataset.points = JSON.stringify(series.map(s => s.values.filter(v => v != null).length));
  box.dataset.series = series.length;
  setTimeout(() => { new window.uPlot(o, data, box); }, 0);
  return box;
}

// ---- live updates (server-sent events) -------------------------------------------------
let es = null, onBlock = null, lastHeight = null;
// one stream a page: closed when the page goes (a browser holds at most 6
// connections to a host over HTTP/1.1, and a stream left open in a cached
// page would keep one of them)
window.addEventListener('pagehide', () => { if (es) { es.close(); es = null; } });
window.addEventListener('pageshow', ev => { if (ev.persisted) live(); });
function live() {
  if (es) return;
  es = new EventSource('/v1/events');
  es.addEventListener('open', () => { $live.textContent = 'live'; $live.className = 'ok'; });
  es.addEventListener('error', () => { $live.textContent = 'reconnecting…'; $live.className = 'muted'; });
  es.addEventListener('block', ev => {
    const b = JSON.parse(ev.data);
    lastHeight = b.height;
    $live.textContent = 'live · block ' + b.height;
    if (onBlock) onBlock(b);
  });
}

// ---- verify in your browser (www/verify.js, docs/explorer.md) ----------------------------
// The referee's leaf computed here, by plow's engine in WebAssembly, from
// the node's blobs, then compared with the committed leaves. The download
// is bounded: DOWNLOAD_MAX bytes, or less with ?max=BYTES in the page's
// address.
const DOWNLOAD_MAX = 256 << 20;
function downloadMax() {
  const q = new URLSearchParams((location.hash.split('?')[1]) || '');
  const m = Number(q.get('max'));
  return Number.isSafeInteger(m) && m > 0 ? Math.min(m, DOWNLOAD_MAX) : DOWNLOAD_MAX;
}
// job: { spec, step, state, leafPrev, slot? }; against: [{ who, leaf }]
function verifyBox(title, what, job, against) {
  const out = el('div', { class: 'verify-out', 'aria-live': 'polite' });
  const btn = el('button', { type: 'button', class: 'verify-btn' }, title);
  const box = el('div', { class: 'verify', 'data-state': 'idle' }, btn, ' ', el('span', { class: 'muted' }, what), out);
  btn.addEventListener('click', () => {
    btn.disabled = true;
    box.dataset.state = 'running';
    const fail = msg => {
      box.dataset.state = 'error';
      out.replaceChildren(el('p', { class: 'bad verify-error' }, msg));
      btn.disabled = false;
    };
    if (typeof Worker !== 'function' || typeof WebAssembly !== 'object')
      return fail('This browser cannot run WebAssembly in a worker: nothing was checked.');
    let w;
    try { w = new Worker('/verify.js', { type: 'module' }); } catch (e) { return fail('Cannot start the check: ' + e.message); }
    const t0 = Date.now();
    out.replaceChildren(el('p', { class: 'muted' }, 'starting…'));
    w.onerror = e => { w.terminate(); fail('The check stopped: ' + (e.message || 'the worker failed to load')); };
    w.onmessage = ev => {
      const m = ev.data;
      if (m.progress) { out.replaceChildren(el('p', { class: 'muted' }, m.progress)); return; }
      w.terminate();
      if (m.error) return fail(m.error);
      box.dataset.state = 'done';
      box.dataset.computed = m.computed;
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      if (!m.agreed) {
        box.dataset.agreed = 'no';
        out.replaceChildren(el('p', { class: 'bad verify-row', 'data-verdict': 'NOSTATE' },
          'The state (or receipt) blob is not the agreed one: it does not hash to the committed leaf it stands for, ' +
          'so no step was run. The referee rules the same way.'));
        return;
      }
      box.dataset.agreed = 'yes';
      out.replaceChildren(el('p', {}, 'Computed in your browser (' + secs + ' s, ' + (m.bytes / 1048576).toFixed(1) +
        ' MB downloaded): ', hashC(m.computed)),
      ...against.map(a => {
        const ok = a.leaf === m.computed;
        return el('p', { class: 'verify-row ' + (ok ? 'ok' : 'bad'), 'data-verdict': ok ? 'MATCH' : 'MISMATCH',
          'data-who': a.who }, el('strong', {}, ok ? 'MATCH' : 'MISMATCH'), ' ' + a.who + ': ', hashC(a.leaf));
      }));
      btn.disabled = false;
    };
    w.postMessage({ ...job, max: downloadMax() });
  });
  return box;
}
function stepVerify(c, t) {
  const slot = t.slots.findIndex(s => s.worker === c.accused);
  const infer = t.kind === 'infer';
  return verifyBox(infer ? 're-derive the disputed output in your browser' : 'replay step ' + c.step + ' in your browser',
    (infer ? 'from the spec and the model' : 'from the agreed state ' + (Number(c.step) - 1)) +
      ', with plow\u2019s engine in WebAssembly',
    { spec: t.spec, step: Number(c.step), state: c.state_blob, leafPrev: c.leaf_prev,
      slot: t.kind === 'round' && slot >= 0 ? slot : null },
    [{ who: 'the accused\u2019s ' + (infer ? 'output hash' : 'leaf ' + c.step), leaf: c.accused_leaf }].concat(c.other ?
      [{ who: 'the other replica\u2019s ' + (infer ? 'output hash' : 'leaf ' + c.step), leaf: c.other_leaf }] : []));
}

// ---- pages -----------------------------------------------------------------------------
async function pOverview() {
  const [st, blocks, tasks] = await Promise.all([api('/v1/stats'), recentBlocks(10), api('/v1/tasks?limit=10')]);
  const cards = el('div', { class: 'cards', id: 'ov-cards' });
  const fill = s => {
    cards.replaceChildren(
      card('height', num(s.height), 'ov-height'),
      card('block interval', s.block_interval_ms === '0' ? '—' : (Number(s.block_interval_ms) / 1000).toFixed(2) + ' s', 'ov-interval'),
      card('transactions / min', num(s.txs_last_min), 'ov-txmin'),
      card('tasks posted / min', num(s.tasks_last_min), 'ov-taskmin'),
      card('tasks', num(s.tasks), 'ov-tasks'),
      card('supply', num(s.supply), 'ov-supply'),
      card('staked', num(s.staked), 'ov-staked'),
      card('locked in claims', num(s.locked), 'ov-locked'),
      card('burned', num(s.burned), 'ov-burned'),
      card('pending txs', num(s.mempool), 'ov-mempool'),
      card('registered', num(s.registered), 'ov-registered'));
    cards.dataset.height = s.height;
  };
  fill(st);
  const byStatus = el('p', { class: 'muted', id: 'ov-bystatus' },
    Object.entries(st.tasks_by_status).map(([k, v]) => k + ' ' + v).join(' · '));
  const bl = el('div', { id: 'ov-blocks' }, blocksTable(blocks));
  render(el('h1', {}, 'Overview ', el('span', { class: 'muted' }, st.chain)), cards, byStatus,
    el('h2', {}, 'Latest blocks'), bl, el('p', {}, link('#/blocks', 'all blocks →')),
    el('h2', {}, 'Latest tasks'), tasksTable(tasks.tasks), el('p', {}, link('#/tasks', 'all tasks →')));
  let pending = false;
  onBlock = () => {
    if (pending) return;
    pending = true;
    setTimeout(async () => {
      pending = false;
      try {
        if (!document.body.contains(cards)) return;
        const [s2, b2] = await Promise.all([api('/v1/stats'), recentBlocks(10)]);
        fill(s2);
        bl.replaceChildren(blocksTable(b2));
      } catch (e) { /* the next block tries again */ }
    }, 1000);
  };
}

async function recentBlocks(n, top) {
  const st = await api('/v1/status');
  const h = top ? Math.min(top, Number(st.height)) : Number(st.height);
  if (h < 1) return [];
  const from = Math.max(1, h - n + 1);
  const r = await api('/v1/blocks?from=' + from + '&limit=' + (h - from + 1));
  return r.blocks.reverse();
}
function blocksTable(blocks) {
  if (!blocks.length) return el('p', { class: 'muted' }, 'No blocks yet.');
  return table(['height', 'time', 'txs', 'hash'], blocks.map(b => [blockL(b.height), ago(b.time_ms), String(b.n_txs),
    el('span', { class: 'h', title: b.hash }, short(b.hash))]));
}
function tasksTable(tasks) {
  if (!tasks.length) return el('p', { class: 'muted' }, 'No tasks.');
  return table(['task', 'kind', 'mode', 'status', 'reward', 'posted'], tasks.map(t => [taskL(t.id), t.kind, t.mode,
    el('span', { class: statusClass(t.status) }, t.status), num(t.reward), blockL(t.posted_at)]));
}
function statusClass(s) {
  return /slashed|forfeited|upheld|expired|failed/.test(s) ? 'bad' : /paid|finalized|rejected|ok|included/.test(s) ? 'ok' : null;
}

async function pBlocks(q) {
  const st = await api('/v1/status');
  const top = Math.max(0, Math.min(Number(q.get('top') || st.height), Number(st.height)));
  const blocks = await recentBlocks(25, top || 1);
  const older = top - 25;
  render(el('h1', {}, 'Blocks'), blocksTable(top ? blocks : []),
    el('nav', { class: 'pager', 'aria-label': 'pages' },
      top < Number(st.height) ? link('#/blocks?top=' + Math.min(Number(st.height), top + 25), '← newer') : null,
      older >= 1 ? link('#/blocks?top=' + older, 'older →') : null));
}

async function pBlock(id) {
  const b = await api('/v1/block/' + encodeURIComponent(id));
  const h = Number(b.height);
  render(el('h1', {}, 'Block ' + b.height),
    kv([['hash', hashC(b.hash)], ['time', ago(b.time_ms)], ['previous', h > 1 ? blockL(h - 1) : hashC(b.prev)],
      ['state root', hashC(b.state_root)], ['transactions', String(b.n_txs)]]),
    el('nav', { class: 'pager' }, h > 1 ? blockL(h - 1) : null, link('#/block/' + (h + 1), 'next →')),
    el('h2', {}, 'Transactions'),
    b.txs.length ? table(['#', 'hash', 'type', 'sender', 'result'], b.txs.map((t, i) => [String(i), txL(t.hash), t.type,
      acct(t.sender), el('span', { class: t.result === 'ok' ? 'ok' : 'bad', title: t.error || null },
        t.result + (t.error ? ': ' + t.error : ''))])) : el('p', { class: 'muted' }, 'None.'));
}

async function pTx(hash) {
  const t = await api('/v1/tx/' + hash);
  const parts = [el('h1', {}, 'Transaction ', el('span', { class: 'h' }, short(hash))),
    kv([['hash', hashC(t.hash)], ['status', el('span', { class: statusClass(t.status) }, t.status)],
      t.height ? ['block', blockL(t.height)] : null, t.index != null ? ['index', String(t.index)] : null,
      t.error ? ['error', t.error] : null])];
  if (t.height) {
    const b = await api('/v1/block/' + t.height);
    const x = b.txs[Number(t.index)];
    if (x) {
      parts.push(kv([['type', x.type], ['sender', acct(x.sender)]]));
      // the decoded fields, from the sender's history in that block
      const hist = await apiOr('/v1/history/' + x.sender + '?cursor=' + (Number(t.height) + 1) + '&limit=1', null);
      const e = hist && hist.history[0] && hist.history[0].height === t.height ?
        hist.history[0].txs.find(y => y.hash === hash) : null;
      if (e) parts.push(el('h2', {}, 'Decoded'), txFields(e));
      parts.push(el('details', {}, el('summary', {}, 'encoding (' + x.tx.length / 2 + ' bytes)'),
        el('p', { class: 'h' }, x.tx)));
    }
  }
  render(...parts);
}
const TX_SKIP = new Set(['height', 'index', 'hash', 'type', 'sender', 'result', 'time_ms', 'role']);
function txFields(e) {
  return kv(Object.entries(e).filter(([k]) => !TX_SKIP.has(k)).map(([k, v]) => {
    let c = String(v);
    if (k === 'task') c = taskL(v);
    else if (k === 'to' || k === 'accused') c = acct(v);
    else if (k === 'challenge') c = link('#/challenge/' + v, short(v), v);
    else if (/^[0-9a-f]{64}$/.test(c)) c = hashC(c);
    return [k, c];
  }));
}

async function pAccount(addr, q) {
  const cursor = q.get('cursor');
  const [a, h, tasks] = await Promise.all([api('/v1/account/' + addr),
    api('/v1/history/' + addr + '?limit=100' + (cursor ? '&cursor=' + cursor : '')),
    api('/v1/tasks?addr=' + addr + '&limit=50')]);
  const hist = h.history;
  // changes between consecutive entries (newest first); pay and slashes arrive
  // in blocks where the account sent nothing itself
  let earned = 0n, slashed = 0n;
  const rows = hist.map((e, i) => {
    const prev = hist[i + 1];
    let db = null, ds = null;
    if (prev && e.balance != null && prev.balance != null) {
      db = BigInt(e.balance) - BigInt(prev.balance);
      ds = BigInt(e.stake) - BigInt(prev.stake);
    }
    // a known point the node recorded when it started, where nothing changed
    if (!e.txs.length && db === 0n && ds === 0n && BigInt(e.locked) === BigInt(prev.locked)) return null;
    const own = e.txs.filter(t => t.role === 'sent');
    let what = e.txs.map(t => t.type + (t.role !== 'sent' ? ' (' + t.role + ')' : '') + (t.result === 'ok' ? '' : ' failed'));
    let cls = null;
    // stake only leaves by an unstake or a slash; the balance only grows by
    // what others send: a transfer (role "received") or the ledger's pay
    if (db != null) {
      if (ds < 0n && !own.some(t => t.type === 'unstake')) { what.push('slashed'); cls = 'bad'; slashed += -ds; }
      if (db > 0n && !e.txs.some(t => t.role === 'received')) { what.push('paid'); cls = cls || 'ok'; earned += db; }
    }
    if (!what.length) what = [e.height === '0' ? 'genesis' : '—'];
    return [blockL(e.height), el('span', { class: cls }, what.join(', ')), num(e.balance),
      db == null ? '' : el('span', { class: db < 0n ? 'bad' : db > 0n ? 'ok' : null }, signed(db)), num(e.stake),
      ds == null ? '' : el('span', { class: ds < 0n ? 'bad' : null }, signed(ds))];
  }).filter(r => r);
  const pts = hist.filter(e => e.balance != null).slice().reverse();
  const worked = tasks.tasks.filter(t => t.slots.some(s => s.worker === addr));
  const requested = tasks.tasks.filter(t => t.requester === addr);
  const slotOf = t => t.slots.find(s => s.worker === addr);
  render(el('h1', {}, a.profile ? a.name || 'account' : 'Account', ' ', el('span', { class: 'h muted' }, short(addr))),
    kv([['address', hashC(addr)], ['profile', a.profile ? a.profile + (a.caps ? ' · ' + a.caps : '') : 'none'],
      ['balance', el('span', { id: 'acct-balance' }, num(a.balance))], ['stake', num(a.stake)], ['locked', num(a.locked)],
      ['unbonding', num(a.unbonding)], ['nonce', String(a.nonce)],
      ['earned (this page)', el('span', { id: 'acct-earned', class: 'ok' }, earned.toLocaleString('en-US'))],
      ['slashed (this page)', el('span', { id: 'acct-slashed', class: slashed ? 'bad' : null }, slashed.toLocaleString('en-US'))]]),
    pts.length > 1 ? plot('balance and stake', pts.map(e => Number(e.height)),
      [{ label: 'balance', values: pts.map(e => Number(e.balance)) }, { label: 'stake', values: pts.map(e => Number(e.stake)) }],
      { xlabel: 'height' }) : null,
    el('h2', {}, 'Tasks worked (' + worked.length + ')'),
    worked.length ? table(['task', 'kind', 'slot', 'task status'], worked.map(t => [taskL(t.id), t.kind,
      el('span', { class: (statusClass(slotOf(t).status) || '') + ' slot-status' }, slotOf(t).status), t.status])) :
      el('p', { class: 'muted' }, 'None.'),
    el('h2', {}, 'Tasks requested (' + requested.length + ')'),
    requested.length ? tasksTable(requested) : el('p', { class: 'muted' }, 'None.'),
    el('h2', {}, 'History'),
    table(['block', 'what', 'balance', 'Δ', 'stake', 'Δ'], rows, 'history'),
    el('nav', { class: 'pager' }, h.next ? link('#/account/' + addr + '?cursor=' + h.next, 'older →') : null));
}

async function pTasks(q) {
  const cursor = q.get('cursor'), status = q.get('status') || '', kind = q.get('kind') || '';
  const p = new URLSearchParams({ limit: '25' });
  if (cursor) p.set('cursor', cursor);
  if (status) p.set('status', status);
  if (kind) p.set('kind', kind);
  const r = await api('/v1/tasks?' + p);
  const sel = (name, opts, cur) => el('select', { name, id: 'f-' + name, 'aria-label': name },
    opts.map(o => { const e = el('option', { value: o }, o || 'any ' + name); if (o === cur) e.selected = true; return e; }));
  const form = el('form', { class: 'pager', id: 'task-filter' },
    sel('status', ['', 'open', 'claimed', 'committed', 'challenged', 'resolved', 'finalized', 'expired'], status),
    sel('kind', ['', 'train', 'lora', 'infer', 'dpo', 'round', 'label'], kind), el('button', { type: 'submit' }, 'filter'));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const f = new URLSearchParams();
    if (form.status.value) f.set('status', form.status.value);
    if (form.kind.value) f.set('kind', form.kind.value);
    location.hash = '#/tasks' + (f.toString() ? '?' + f : '');
  });
  const nq = new URLSearchParams(p);
  nq.delete('limit');
  if (r.next) nq.set('cursor', r.next);
  render(el('h1', {}, 'Tasks'), form, tasksTable(r.tasks),
    el('nav', { class: 'pager' }, cursor ? link('#/tasks', '← newest') : null,
      r.next ? link('#/tasks?' + nq, 'older →') : null));
}

const TRAINING = new Set(['train', 'lora', 'dpo', 'round', 'rl']);
async function pTask(id) {
  const [t, tl] = await Promise.all([api('/v1/task/' + id), api('/v1/timeline/' + id)]);
  const parts = [el('h1', {}, 'Task ', el('span', { class: 'h' }, short(id))),
    kv([['id', hashC(t.id)], ['kind', t.kind], ['mode', t.mode + ' · ' + t.replicas + ' slot' + (t.replicas > 1 ? 's' : '')],
      ['status', el('span', { class: statusClass(t.status), id: 'task-status' }, t.status)], ['requester', acct(t.requester)],
      ['reward', num(t.reward) + ' a slot'], ['worker stake', num(t.worker_stake)], ['min bond', num(t.min_bond)],
      ['steps', num(t.steps)], ['posted at', blockL(t.posted_at)], ['escrow', num(t.escrow)],
      ['window end', t.window_end === '0' ? '—' : blockL(t.window_end)],
      ['spec', el('span', {}, hashC(t.spec), ' ', link('/v1/blob/' + t.spec, 'download'))]])];
  // the timeline
  parts.push(el('h2', {}, 'Timeline'));
  const ev = tl.events;
  parts.push(ev.length ? el('ol', { class: 'timeline', id: 'timeline' }, ev.map(e => {
    const bad = e.result !== 'ok' || e.type === 'challenge' || e.type === 'da_challenge';
    let extra = '';
    if (e.type === 'challenge') extra = ' step ' + e.step + ' against ' + short(e.accused) + ', bond ' + num(e.bond);
    else if (e.type === 'verdict') extra = ' on ' + short(e.challenge);
    else if (e.type === 'post_task') extra = ' ' + e.kind + ', reward ' + num(e.reward);
    return el('li', { class: bad ? 'bad' : null, 'data-type': e.type },
      el('strong', {}, e.type), extra, ' · block ', blockL(e.height), ' · ', ago(e.time_ms), ' · by ', acct(e.sender), ' · ',
      txL(e.hash), e.result !== 'ok' ? el('span', { class: 'bad' }, ' failed' + (e.error ? ': ' + e.error : '')) : null);
  })) : el('p', { class: 'muted' }, 'No events indexed yet.'));
  // slots
  parts.push(el('h2', {}, 'Slots'));
  parts.push(table(['slot', 'worker', 'status', 'claimed', 'committed', 'revealed', 'artifact', 'outputs'],
    t.slots.map((s, i) => [String(i), s.worker && !/^plow0+$/.test(s.worker) ? acct(s.worker) : '—',
      el('span', { class: (statusClass(s.status) || '') + ' slot-status', 'data-slot': i }, s.status),
      s.claimed_at !== '0' ? blockL(s.claimed_at) : '—', s.committed_at !== '0' ? blockL(s.committed_at) : '—',
      s.revealed_at && s.revealed_at !== '0' ? blockL(s.revealed_at) : '—',
      /^0+$/.test(s.artifact || '0') ? '—' : el('span', { class: 'h', title: s.artifact }, short(s.artifact)),
      /^0+$/.test(s.manifest || '0') ? '—' : link('/v1/blob/' + s.manifest, 'manifest')]), 'slots'));
  // disputes
  if (t.challenges.length) {
    parts.push(el('h2', {}, 'Disputes'));
    parts.push(table(['challenge', 'kind', 'step', 'accused', 'challenger', 'status', 'outcome'], t.challenges.map(c => [
      link('#/challenge/' + c.id, short(c.id), c.id), c.kind, c.step, acct(c.accused), acct(c.challenger),
      el('span', { class: c.status === 'upheld' ? 'bad' : statusClass(c.status) }, c.status),
      outcome(c, t)]), 'disputes'));
    const steps = t.challenges.filter(c => c.kind === 'step');
    if (steps.length) parts.push(el('section', { id: 'verify' }, el('h3', {}, 'Verify in your browser'),
      steps.map(c => stepVerify(c, t))));
  }
  render(...parts);
  // loss curves of training-like kinds, replicas overlaid
  if (TRAINING.has(t.kind)) {
    const box = el('section', { id: 'loss' }, el('h2', {}, 'Training loss'));
    $main.append(box);
    const logs = await Promise.all(t.slots.map((s, i) => /^0+$/.test(s.manifest || '0') ? null :
      apiOr('/v1/slotlog/' + id + '?slot=' + i, null)));
    const got = logs.map((l, i) => ({ l, i })).filter(x => x.l && x.l.rows);
    if (!got.length) box.append(el('p', { class: 'muted' }, 'No published log yet (slots publish at reveal).'));
    else {
      const steps = [...new Set(got.flatMap(x => x.l.rows.map(r => r[0])))].sort((a, b) => a - b);
      const series = (col, name) => got.map(x => {
        const c = x.l.columns.indexOf(col), m = new Map(x.l.rows.filter(r => r[c] != null).map(r => [r[0], r[c]]));
        return { label: name + ' slot ' + x.i + ' (' + short(t.slots[x.i].worker) + ')', values: steps.map(s => m.has(s) ? m.get(s) : null) };
      });
      box.append(plot('loss by step', steps, series('loss', 'loss'), { xlabel: 'step' }));
      if (got.some(x => x.l.rows.some(r => r[x.l.columns.indexOf('val_loss')] != null)))
        box.append(plot(t.kind === 'round' ? 'validation loss (round)' : 'validation loss', steps,
          series('val_loss', 'val'), { xlabel: 'step' }));
      box.append(el('p', { class: 'muted' }, got.map(x => 'slot ' + x.i + ': ' + x.l.rows.length + ' rows, log ').flatMap((s, k) =>
        [s, link('/v1/blob/' + got[k].l.log, 'download'), k + 1 < got.length ? '; ' : ''])));
      if (t.kind === 'round')
        box.append(table(['slot', 'contribution (artifact) bytes'], got.map(x => [String(x.i), num(x.l.artifact_size)])));
    }
  }
  if (t.kind === 'label') await labelSection(t);
  if (t.kind === 'infer') await inferSection(t);
}
// a generation: the prompt (the spec), the receipt's tokens, its status
async function inferSection(t) {
  const box = el('section', { id: 'generation' }, el('h2', {}, 'Generation'));
  $main.append(box);
  // small JSON blobs only: a hostile requester or worker could name a huge one
  const blob = async h => {
    const ctl = new AbortController();
    const r = await fetch('/v1/blob/' + h, { signal: ctl.signal });
    if (!r.ok || Number(r.headers.get('Content-Length')) > (1 << 20)) { ctl.abort(); return null; }
    return r.json();
  };
  const spec = await blob(t.spec).catch(() => null);
  const s = t.slots.find(x => !/^0+$/.test(x.trace_root || '0'));
  const rc = s ? await blob(s.trace_root).catch(() => null) : null;
  box.append(kv([
    ['prompt', el('pre', { class: 'prompt' }, spec && spec.infer ? spec.infer.prompt : '—')],
    ['sampling', spec && spec.infer ? `${spec.infer.tokens} tokens, temperature ${spec.infer.temperature}, top-k ${spec.infer.top_k}, top-p ${spec.infer.top_p}, seed ${spec.infer.seed}` : '—'],
    ['receipt', s ? el('span', {}, link('/v1/blob/' + s.trace_root, 'receipt blob'), rc ? ' · ' + rc.prompt_tokens.length +
      ' prompt tokens, ' + rc.output_tokens.length + ' output tokens' : '') : 'not revealed'],
    ['output tokens', rc ? el('span', { class: 'h' }, rc.output_tokens.join(' ')) : '—'],
    ['output hash', s ? hashC(s.final_state) : '—'],
    ['receipt status', !s ? 'none yet' : t.challenges.length ? 'disputed (see Disputes)' :
      s.status === 'paid' ? 'accepted: no dispute in its window' : s.status]]));
  t.slots.forEach((x, i) => {
    if (/^0+$/.test(x.trace_root || '0')) return;
    box.append(verifyBox('re-derive slot ' + i + '’s receipt in your browser',
      'the output the spec gives, from the model, with plow’s engine in WebAssembly',
      { spec: t.spec, step: 1, state: x.trace_root, leafPrev: x.trace_root },
      [{ who: 'slot ' + i + '’s committed output hash', leaf: x.final_state }]));
  });
}
// who lost what: the slots the ruling slashed (the referee's leaf decides
// between the accused and the other replica), or the challenger's bond
function outcome(c, t) {
  const stake = num(t.worker_stake);
  const lost = [c.accused, c.other].filter(a => a && t.slots.some(s => s.worker === a && s.status === 'slashed'));
  if (c.status === 'rejected') return el('span', { class: 'loser' }, short(c.challenger) + ' lost its bond ' + num(c.bond));
  if (lost.length) return el('span', { class: 'bad loser' }, lost.map(a => short(a) + ' lost its stake ' + stake).join('; '));
  return c.status === 'open' ? 'awaiting the referee' : c.status + ': nobody slashed';
}

async function labelSection(t) {
  const box = el('section', { id: 'labeling' }, el('h2', {}, 'Labeling'));
  $main.append(box);
  const L = await apiOr('/v1/labeling/' + t.id, null);
  if (!L) { box.append(el('p', { class: 'muted' }, 'No labels revealed yet.')); return; }
  box.append(kv([['items', num(L.n_items)], ['classes', String(L.n_classes)], ['gold items', String(L.gold_items)],
    ['aggregated result', hashC(L.result)],
    ['matches the ledger', el('span', { class: L.matches_task ? 'ok' : 'bad', id: 'label-match' },
      L.finalized ? (L.matches_task ? 'yes: the finalize result re-derived' : 'NO') : 'not finalized yet')]]));
  box.append(table(['slot', 'labeler', 'status', 'estimated accuracy', 'gold right', 'paid'], L.slots.map(s => [
    String(s.slot), acct(s.labeler), el('span', { class: statusClass(s.status) }, s.status + (s.flagged ? ' (flagged)' : '')),
    el('span', { class: 'acc', 'data-slot': s.slot, 'data-ppm': s.accuracy_ppm }, (s.accuracy_ppm / 1e4).toFixed(2) + ' %'),
    s.gold_answered ? s.gold_correct + ' / ' + s.gold_answered : '—', num(s.paid)]), 'label-slots'));
  for (const s of L.slots.filter(x => x.confusion)) {
    const max = Math.max(1, ...s.confusion.flat());
    box.append(el('h3', {}, 'slot ' + s.slot + ': answers against the aggregated labels'),
      el('div', { class: 'scroll' }, el('table', { class: 'heat', 'aria-label': 'confusion of slot ' + s.slot },
        el('thead', {}, el('tr', {}, el('th', {}, 'agg \\ ans'), s.confusion.map((_, a) => el('th', { scope: 'col' }, String(a))))),
        el('tbody', {}, s.confusion.map((row, r) => el('tr', {}, el('th', { scope: 'row' }, String(r)),
          row.map(v => el('td', { class: 'h' + Math.min(5, Math.ceil(5 * v / max)), title: v + ' answers' }, String(v)))))))));
  }
}

async function pChallenge(id) {
  const c = await api('/v1/challenge/' + id);
  const t = await api('/v1/task/' + c.task);
  const agreed = c.kind === 'step' ? 'leaf ' + (Number(c.step) - 1) + ' (both sides agree on it)' : '—';
  render(el('h1', {}, 'Dispute ', el('span', { class: 'h' }, short(id))),
    kv([['task', taskL(c.task)], ['kind', c.kind], ['status', el('span', { class: c.status === 'upheld' ? 'bad' : null, id: 'ch-status' }, c.status)],
      ['step named', el('span', { id: 'ch-step' }, c.step)],
      ['challenger', acct(c.challenger)], ['accused', acct(c.accused)], c.other ? ['other replica', acct(c.other)] : null,
      ['bond', num(c.bond)], ['opened at', blockL(c.opened_at)], ['deadline', blockL(c.deadline)],
      c.resolved_at && c.resolved_at !== '0' ? ['resolved at', blockL(c.resolved_at)] : null]),
    el('h2', {}, 'The step'),
    kv([['agreed state', el('span', {}, agreed, el('br'), hashC(c.leaf_prev))],
      ['state blob', el('span', {}, hashC(c.state_blob), ' ', link('/v1/blob/' + c.state_blob, 'download'))],
      ['accused\u2019s leaf', hashC(c.accused_leaf)], c.other ? ['other\u2019s leaf', hashC(c.other_leaf)] : null,
      ['referee computed', el('span', { id: 'ch-computed' }, hashC(c.computed))],
      ['referee agrees with', /^0+$/.test(c.computed) ? 'no ruling yet' : c.computed === c.accused_leaf ? 'the accused' :
        c.computed === c.other_leaf ? 'the other replica' : 'neither']]),
    c.kind === 'step' ? el('section', { id: 'verify' }, el('h2', {}, 'Verify in your browser'), stepVerify(c, t)) : null,
    el('h2', {}, 'Who lost what'),
    el('p', { id: 'ch-outcome' }, outcome(c, t)),
    table(['slot', 'worker', 'status'], t.slots.map((s, i) => [String(i), acct(s.worker), el('span', { class: statusClass(s.status) }, s.status)])));
}

async function pAgents(q) {
  const cursor = q.get('cursor');
  const r = await api('/v1/agents?limit=50' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
  render(el('h1', {}, 'Registered accounts'),
    r.agents.length ? table(['name', 'profile', 'address', 'since', 'capabilities'], r.agents.map(a => [a.name, a.profile,
      acct(a.address), blockL(a.since), el('span', { class: 'h' }, a.caps)])) : el('p', { class: 'muted' }, 'None yet.'),
    el('nav', { class: 'pager' }, r.next ? link('#/agents?cursor=' + encodeURIComponent(r.next), 'older →') : null));
}

// ---- search ----------------------------------------------------------------------------
async function search(s) {
  s = s.trim();
  if (/^plow[0-9a-z]+$/i.test(s)) return '#/account/' + s;
  if (/^\d+$/.test(s)) return '#/block/' + s;
  if (/^[0-9a-fA-F]{64}$/.test(s)) {
    s = s.toLowerCase();
    const r = await api('/v1/search/' + s);
    if (r.kind) return '#/' + r.kind + '/' + s;
  }
  return null;
}
document.getElementById('search').addEventListener('submit', async ev => {
  ev.preventDefault();
  const q = document.getElementById('q');
  const to = await search(q.value).catch(() => null);
  if (to) location.hash = to;
  else render(el('h1', {}, 'Not found'), el('p', {}, 'Nothing on this chain matches \u201c' + q.value + '\u201d ' +
    '(an address plow…, a height, or a task, transaction, block or challenge hash).'));
});
document.addEventListener('keydown', ev => {
  if (ev.key === '/' && document.activeElement.tagName !== 'INPUT') {
    ev.preventDefault();
    document.getElementById('q').focus();
  }
});

// ---- the router --------------------------------------------------------------------------
const routes = [
  [/^$/, pOverview], [/^blocks$/, pBlocks], [/^block\/(\w+)$/, pBlock], [/^tx\/([0-9a-f]{64})$/, pTx],
  [/^account\/(plow\w+)$/, pAccount], [/^tasks$/, pTasks], [/^task\/([0-9a-f]{64})$/, pTask],
  [/^challenge\/([0-9a-f]{64})$/, pChallenge], [/^agents$/, pAgents],
];
let seq = 0;
async function route() {
  const my = ++seq;
  onBlock = null;
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?');
  const q = new URLSearchParams(qs || '');
  for (const [re, fn] of routes) {
    const m = path.match(re);
    if (!m) continue;
    document.body.dataset.page = fn.name;
    document.body.dataset.ready = '0';
    try {
      if (m[1]) await fn(m[1], q); else await fn(q);
    } catch (e) {
      if (my === seq) render(el('h1', {}, 'Error'), el('p', { class: 'bad', id: 'error' }, e.message));
    }
    if (my === seq) {
      document.body.dataset.ready = '1';
      $main.focus({ preventScroll: true });
    }
    return;
  }
  render(el('h1', {}, 'Not found'), el('p', {}, 'No page ' + raw + '.'));
  document.body.dataset.ready = '1';
}
window.addEventListener('hashchange', route);
live();
route();
