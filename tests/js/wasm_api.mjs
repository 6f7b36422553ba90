#!/usr/bin/env node
// wasm_api.mjs ROOT DIR — runs wasm_checks.mjs against wasm/plow.mjs in Node,
// then in headless Chromium (Debian's, driven by puppeteer-core), the files
// of DIR (the shell test's directory) and ROOT (wasm/, build/wasm/, tests/js/)
// served read-only by a local HTTP server on a port of its own. Prints each
// environment's lines; exits 1 on any failure.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { resolve, normalize, join } from 'node:path';
import { pathToFileURL } from 'node:url';

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
const served = { '/wasm/plow.mjs': join(root, 'wasm/plow.mjs'), '/wasm_checks.mjs': join(root, 'tests/js/wasm_checks.mjs') };
const page = `<!doctype html><script type="module">
import { Plow } from '/wasm/plow.mjs';
import { checks } from '/wasm_checks.mjs';
const get = async (p) => { const r = await fetch('/f/' + p); if (!r.ok) throw new Error(p + ': ' + r.status); return new Uint8Array(await r.arrayBuffer()); };
window.result = checks(Plow, get).catch((e) => ({ lines: [], failures: ['exception: ' + e.message] }));
</script>`;
const server = createServer(async (req, res) => {
    const url = decodeURIComponent(req.url.split('?')[0]);
    try {
        if (url === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(page);
        let path = served[url];
        if (!path && url.startsWith('/f/')) {
            const rel = normalize(url.slice(3));
            if (rel.startsWith('..') || rel.startsWith('/')) return res.writeHead(403).end();
            path = file(rel);
        }
        if (!path) return res.writeHead(404).end();
        const type = path.endsWith('.mjs') ? 'text/javascript' : path.endsWith('.wasm') ? 'application/wasm' : 'application/octet-stream';
        res.writeHead(200, { 'content-type': type }).end(await readFile(path));
    } catch {
        res.writeHead(404).end();
    }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const puppeteer = (await import('puppeteer-core')).default;
const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
try {
    const tab = await browser.newPage();
    const errors = [];
    tab.on('pageerror', (e) => errors.push(e.message));
    await tab.goto(`http://127.0.0.1:${server.address().port}/`);
    await tab.waitForFunction('window.result !== undefined', { timeout: 30000 });
    const r = await tab.evaluate(() => window.result);
    r.failures.push(...errors.map((e) => 'page error: ' + e));
    report('chromium', r);
} finally {
    await browser.close();
    server.close();
}
process.exit(failed ? 1 : 0);
