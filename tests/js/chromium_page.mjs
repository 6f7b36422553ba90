// chromium_page.mjs — runs a module script in headless Chromium (Debian's,
// driven by puppeteer-core) against files served read-only over HTTP from
// 127.0.0.1 on a port of its own, and returns what the script leaves in
// window.result (a promise is awaited). routes: URL path -> file on disk;
// fileOf(rel): the file served at /f/REL (or undefined). Used by
// wasm_api.mjs (the tests) and bench/wasm_bench.mjs.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { normalize } from 'node:path';

export async function inChromium({ routes, fileOf, script, timeout = 300000 }) {
    const page = `<!doctype html><script type="module">\n${script}\n</script>`;
    const server = createServer(async (req, res) => {
        const url = decodeURIComponent(req.url.split('?')[0]);
        try {
            if (url === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(page);
            let path = routes[url];
            if (!path && url.startsWith('/f/')) {
                const rel = normalize(url.slice(3));
                if (rel.startsWith('..') || rel.startsWith('/')) return res.writeHead(403).end();
                path = fileOf(rel);
            }
            if (!path) return res.writeHead(404).end();
            const type = path.endsWith('.mjs') ? 'text/javascript' : path.endsWith('.wasm') ? 'application/wasm'
                : 'application/octet-stream';
            res.writeHead(200, { 'content-type': type }).end(await readFile(path));
        } catch {
            res.writeHead(404).end();
        }
    });
    await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
    const puppeteer = (await import('puppeteer-core')).default;
    const browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'],
        protocolTimeout: timeout });
    try {
        const tab = await browser.newPage();
        const errors = [];
        tab.on('pageerror', (e) => errors.push(e.message));
        await tab.goto(`http://127.0.0.1:${server.address().port}/`);
        await tab.waitForFunction('window.result !== undefined', { timeout });
        const result = await tab.evaluate(() => window.result);
        return { result, errors, version: await browser.version() };
    } finally {
        await browser.close();
        server.close();
    }
}
