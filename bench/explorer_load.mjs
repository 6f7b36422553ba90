// explorer_load.mjs URL [RUNS] — the explorer's overview loaded in headless
// Chromium RUNS times (default 7), each in a fresh page: milliseconds from
// navigation to the page's ready flag (every API answer in and drawn), the
// median and the worst, as a docs/BENCHMARKS.md row. Not a test.
import puppeteer from 'puppeteer-core';
const [url, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 7);
const b = await puppeteer.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless=new', '--disable-gpu'] });
const times = [];
for (const hash of ['', '#/tasks', '#/blocks']) {
  const t = [];
  for (let i = 0; i < runs; i++) {
    const p = await b.newPage();
    await p.setCacheEnabled(i > 0); // the first load also fetches the files
    const t0 = performance.now();
    await p.goto(url + '/' + hash, { waitUntil: 'load' });
    await p.waitForFunction(() => document.body.dataset.ready === '1', { timeout: 60000, polling: 5 });
    t.push(performance.now() - t0);
    await p.close();
  }
  t.sort((x, y) => x - y);
  times.push([hash || '#/', t[Math.floor(t.length / 2)], t[t.length - 1]]);
}
await b.close();
for (const [h, med, worst] of times)
  console.log(`| explorer | ${h} page load (Chromium, to ready), ${runs} loads | median ${med.toFixed(0)} ms, worst ${worst.toFixed(0)} ms |`);
