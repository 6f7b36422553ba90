#!/usr/bin/env node
// wasm_api.mjs ROOT DIR — runs wasm_checks.mjs against wasm/plow.mjs in Node,
// then in headless Chromium (Debian's, driven by puppeteer-core), the files
// of DIR (the shell test's directory) and ROOT (wasm/, build/wasm/, tests/js/)
// served read-only over HTTP (chromium_page.mjs). Prints each
// environment's lines; exits 1 on any failure.
import { readFile } from 'node:fs/promises';
import { resolve, normalize, join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { inChromium } from './chromium_page.mjs';

const [root, dir] = process.argv.slice(2).map((p) => resolve(p));
if (!root || !dir) {
    console.error('usage: node tests/js/wasm_api.mjs ROOT DIR');
    process.exit(2);
}
const { Plow } = await import(pathToFileURL(join(root, 'wasm/plow.mjs')));
const { checks } = await import(pathToFileURL(join(root, 'tests/js/wasm_checks.mjs')));
const file = (p) => (p === 'plow.wasm' ? join(root, 'build/wasm/plow.wasm') : join(dir, normalize(p)));
let failed = false;
const report = (env, r) => {
    for (const l of r.lines) console.log(`${env}: ${l}`);
    for (const f of r.failures) console.log(`FAIL ${env}: ${f}`);
    failed ||= r.failures.length > 0;
};

report('node', await checks(Plow, async (p) => new Uint8Array(await readFile(file(p))), { train: false }));

// Chromium: the page imports plow.mjs and the checks over HTTP, as a visitor's browser would
const { result, errors } = await inChromium({
    routes: { '/wasm/plow.mjs': join(root, 'wasm/plow.mjs'), '/wasm_checks.mjs': join(root, 'tests/js/wasm_checks.mjs') },
    fileOf: file,
    script: `import { Plow } from '/wasm/plow.mjs';
import { checks } from '/wasm_checks.mjs';
const get = async (p) => { const r = await fetch('/f/' + p); if (!r.ok) throw new Error(p + ': ' + r.status); return new Uint8Array(await r.arrayBuffer()); };
window.result = checks(Plow, get).catch((e) => ({ lines: [], failures: ['exception: ' + e.message] }));`,
});
result.failures.push(...errors.map((e) => 'page error: ' + e));
report('chromium', result);
process.exit(failed ? 1 : 0);
