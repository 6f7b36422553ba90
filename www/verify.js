// verify.js — the explorer's "verify in your browser" (docs/explorer.md), a
// module Worker: it loads plow's engine compiled to WebAssembly (/plow.wasm,
// `make wasm`; /plow.mjs its JavaScript API), fetches the blobs a ruling needs
// from this node's blob API and computes, in the visitor's own browser, the
// leaf the node's referee computes (`plow referee`, src/wasm/referee.c: the
// same job_referee code). The page compares it with the committed leaves.
// Nothing the node says is believed: every blob is checked against its hash
// by the engine, and the comparison is made here.
//
// Message in:  { spec, step, state, leafPrev, slot?, max }   (hashes in hex; max: bytes to download at most)
// Messages out: { progress: text } ... then { computed, agreed, bytes } or { error: text }
import { Plow } from '/plow.mjs';

const HEX = /^[0-9a-f]{64}$/;
const MB = (n) => (n / 1048576).toFixed(1) + ' MB';

async function engine() {
  const r = await fetch('/plow.wasm');
  if (r.status === 404)
    throw new Error('this node does not serve the WebAssembly engine (its operator has not built it: make wasm); ' +
      'nothing was checked');
  if (!r.ok) throw new Error('/plow.wasm: HTTP ' + r.status);
  return Plow.load(r);
}

// one blob, at most `room` bytes: its size first (HEAD), then its bytes,
// never more than the size announced
async function blob(hash, room) {
  const h = await fetch('/v1/blob/' + hash, { method: 'HEAD' });
  if (!h.ok) throw new Error('blob ' + hash.slice(0, 16) + '… is not on this node (HTTP ' + h.status + ')');
  const size = Number(h.headers.get('Content-Length'));
  if (!Number.isSafeInteger(size) || size < 0) throw new Error('blob ' + hash.slice(0, 16) + '…: no size');
  if (size > room)
    throw new Error('this check needs blob ' + hash.slice(0, 16) + '… of ' + MB(size) + ', more than the ' + MB(room) +
      ' left of this page\u2019s download limit: verify it with plow verify on a machine instead');
  const r = await fetch('/v1/blob/' + hash);
  if (!r.ok) throw new Error('blob ' + hash.slice(0, 16) + '…: HTTP ' + r.status);
  const out = new Uint8Array(size);
  let got = 0;
  const rd = r.body.getReader();
  for (;;) {
    const { done, value } = await rd.read();
    if (done) break;
    if (got + value.length > size) {
      rd.cancel();
      throw new Error('blob ' + hash.slice(0, 16) + '…: more bytes than its announced size');
    }
    out.set(value, got);
    got += value.length;
  }
  if (got !== size) throw new Error('blob ' + hash.slice(0, 16) + '…: ' + got + ' of ' + size + ' bytes');
  return out;
}

self.onmessage = async (ev) => {
  const m = ev.data;
  const say = (progress) => self.postMessage({ progress });
  try {
    for (const k of ['spec', 'state', 'leafPrev']) if (!HEX.test(m[k])) throw new Error('bad ' + k);
    say('loading the WebAssembly engine…');
    const plow = await engine();
    const blobs = {};
    let bytes = 0;
    const args = ['referee', '--blobs', 'blobs', '--spec', m.spec, '--step', String(m.step), '--state', m.state,
      '--leaf-prev', m.leafPrev];
    if (m.slot != null) args.push('--slot', String(m.slot));
    // the engine says which blobs it lacks (exit 3, "need HASH"); each round fetches them
    for (let round = 0; round < 8; round++) {
      const files = {};
      for (const [h, b] of Object.entries(blobs)) files['blobs/' + h] = b;
      say(round ? 're-executing in your browser…' : 'reading the task…');
      const r = plow.run(args, files);
      if (r.code === 0) {
        const c = /^computed ([0-9a-f]{64})$/m.exec(r.stdout), a = /^agreed (yes|no)$/m.exec(r.stdout);
        if (!c || !a) throw new Error('the engine printed no ruling: ' + r.stdout.slice(0, 200));
        self.postMessage({ computed: c[1], agreed: a[1] === 'yes', bytes });
        return;
      }
      if (r.code !== 3) throw new Error('the engine could not compute the ruling: ' + (r.stderr || r.stdout).trim());
      const need = [...r.stdout.matchAll(/^need ([0-9a-f]{64})$/gm)].map((x) => x[1]).filter((h) => !blobs[h]);
      if (!need.length) throw new Error('the engine asks again for blobs it was given');
      for (const h of need) {
        say('downloading blob ' + h.slice(0, 12) + '… (' + MB(bytes) + ' so far)');
        blobs[h] = await blob(h, m.max - bytes);
        bytes += blobs[h].length;
      }
    }
    throw new Error('the engine kept asking for more blobs');
  } catch (e) {
    self.postMessage({ error: e.message || String(e) });
  }
};
