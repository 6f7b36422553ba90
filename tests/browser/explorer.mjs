// explorer.mjs — the explorer in Debian's headless Chromium (puppeteer-core
// pointed at /usr/bin/chromium: nothing downloads a browser), against a node
// that tests/cli/explorer.sh filled with a short workload. Every check
// compares what the page shows with what the API says:
//   overview counts == /v1/stats; the cheater's task page shows the
//   challenge, its step and the slash; the honest worker's account page shows
//   its pay; each loss curve has as many points as the slot's published log;
//   the labeling page's accuracies == /v1/labeling, whose result == the
//   task's; no JavaScript error, no failed request; at 375 px no page scrolls
//   sideways. Screenshots go to OUT/.
//
//   node tests/browser/explorer.mjs URL OUT TRAIN_TASK LABEL_TASK HONEST CHEATER
import { api as nodeApi, checks, launch } from './harness.mjs';
import { mkdirSync } from 'node:fs';

const [url, out, trainTask, labelTask, honest, cheater] = process.argv.slice(2);
if (!cheater) {
  console.error('usage: explorer.mjs URL OUT TRAIN_TASK LABEL_TASK HONEST CHEATER');
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const api = nodeApi(url);
const check = checks.check.bind(checks);

const browser = await launch();
const problems = [];
try {
  const page = await browser.newPage();
  page.on('pageerror', e => problems.push('page error: ' + e.message));
  page.on('console', m => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
  page.on('requestfailed', r => {
    // the event stream is cut when the page navigates away: not a failure
    if (!r.url().endsWith('/v1/events')) problems.push('request failed: ' + r.url() + ' ' + (r.failure() || {}).errorText);
  });
  page.on('response', r => { if (r.status() >= 400) problems.push('HTTP ' + r.status() + ': ' + r.url()); });

  async function open(hash, width, shot) {
    await page.setViewport({ width, height: 900 });
    // a fresh document each time: a hash change alone would leave the previous page's ready flag
    await page.goto('about:blank');
    await page.goto(url + '/' + hash, { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.ready === '1', { timeout: 30000 });
    // plots are drawn on the next tick
    await page.waitForFunction(() => [...document.querySelectorAll('.plot')].every(p => p.querySelector('canvas') ||
      p.querySelector('.notice')), { timeout: 10000 });
    const err = await page.$eval('#main', m => (m.querySelector('#error') || {}).textContent || '');
    check(!err, `${hash || '#/'} at ${width} px loads without an error ${err}`);
    if (shot) await page.screenshot({ path: `${out}/${shot}-${width}.png`, fullPage: true });
    const sw = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width === 375) check(sw <= 375, `${hash || '#/'} at 375 px: no horizontal scroll (scrollWidth ${sw})`);
  }
  const text = sel => page.$eval(sel, e => e.textContent.trim());
  const digits = s => s.replace(/[^0-9]/g, '');

  // ---- overview: the counts are the API's -------------------------------------------------
  await open('', 1100, 'overview');
  const st = await api('/v1/stats');
  // the page may have refreshed on a newer block than our read: compare against the page's own height
  const shownHeight = digits(await text('#ov-height'));
  check(Number(shownHeight) >= Number(st.height) - 50 && Number(shownHeight) <= Number(st.height) + 50,
    `overview height ${shownHeight} ~ /v1/stats ${st.height}`);
  check(digits(await text('#ov-tasks')) === st.tasks, `overview tasks ${await text('#ov-tasks')} == ${st.tasks}`);
  check(digits(await text('#ov-supply')) === st.supply, `overview supply == ${st.supply}`);
  check(digits(await text('#ov-staked')) === st.staked, `overview staked ${await text('#ov-staked')} == ${st.staked}`);
  check(digits(await text('#ov-burned')) === st.burned, `overview burned ${await text('#ov-burned')} == ${st.burned}`);
  check(digits(await text('#ov-registered')) === st.registered, `overview registered == ${st.registered}`);
  const byStatus = await text('#ov-bystatus');
  check(Object.entries(st.tasks_by_status).every(([k, v]) => byStatus.includes(k + ' ' + v)),
    `overview tasks by status "${byStatus}"`);
  // live: a new block arrives through /v1/events and the height moves without a reload
  const h0 = Number(digits(await text('#ov-height')));
  await page.waitForFunction(h => Number(document.querySelector('#ov-height').textContent.replace(/[^0-9]/g, '')) > h,
    { timeout: 20000 }, h0).then(() => check(true, 'the overview follows new blocks live'),
    () => check(false, 'the overview follows new blocks live'));
  await open('', 375, 'overview');

  // ---- the cheater's task: the challenge, the step, the slash -------------------------------
  const task = await api('/v1/task/' + trainTask);
  const ch = task.challenges[0];
  await open('#/task/' + trainTask, 1100, 'task');
  const tl = await page.$$eval('#timeline li', l => l.map(e => e.dataset.type));
  const want = (await api('/v1/timeline/' + trainTask)).events.map(e => e.type);
  check(JSON.stringify(tl) === JSON.stringify(want), `timeline ${tl.join(',')} == /v1/timeline`);
  check(tl.includes('challenge') && tl.includes('verdict') && tl.includes('finalize'), 'timeline has challenge, verdict, finalize');
  const disputes = await page.$$eval('table.disputes tbody tr', r => r.map(x => [...x.cells].map(c => c.textContent)));
  check(ch && disputes.length === task.challenges.length && disputes[0][2] === ch.step && disputes[0][5] === 'upheld',
    `the dispute row names step ${ch && ch.step} upheld: ${JSON.stringify(disputes[0])}`);
  const shortOf = a => a.slice(0, 10) + '\u2026' + a.slice(-6);
  check(disputes[0][6] === shortOf(cheater) + ' lost its stake ' + Number(task.worker_stake).toLocaleString('en-US'),
    `the dispute says the cheater (only) lost its stake: ${disputes[0][6]}`);
  const slots = await page.$$eval('table.slots .slot-status', s => s.map(e => e.textContent));
  check(JSON.stringify(slots) === JSON.stringify(task.slots.map(s => s.status)), `slot statuses ${slots} == API`);
  const ci = task.slots.findIndex(s => s.worker === cheater);
  check(ci >= 0 && slots[ci] === 'slashed', `the cheater's slot shows slashed`);
  // the loss curves: one series per published slot, as many points as each log has rows with a loss
  const plotInfo = await page.$eval('#loss .plot', p => ({ points: JSON.parse(p.dataset.points), canvas: !!p.querySelector('canvas') }));
  const logs = [];
  for (let i = 0; i < task.slots.length; i++) {
    if (/^0+$/.test(task.slots[i].manifest)) continue;
    const l = await api(`/v1/slotlog/${trainTask}?slot=${i}`);
    // the log itself, from the blob store: its data lines that have a loss
    const csv = await (await fetch(url + '/v1/blob/' + l.log)).text();
    const lines = csv.trim().split('\n').slice(1).filter(x => x.split(',')[1] !== '');
    logs.push(lines.length);
  }
  check(plotInfo.canvas && logs.length >= 2 && JSON.stringify(plotInfo.points) === JSON.stringify(logs),
    `loss curves overlaid: points ${JSON.stringify(plotInfo.points)} == log lines ${JSON.stringify(logs)}`);
  await open('#/task/' + trainTask, 375, 'task');

  // ---- the dispute page -----------------------------------------------------------------
  await open('#/challenge/' + ch.id, 1100, 'dispute');
  check(await text('#ch-step') === ch.step, `the dispute page names step ${ch.step}`);
  check(await text('#ch-status') === 'upheld', 'the dispute page says upheld');
  check((await text('#ch-computed')) === ch.computed, 'the referee\u2019s leaf is shown');
  check((await text('#ch-outcome')).startsWith(shortOf(cheater) + ' lost its stake'), `who lost what: ${await text('#ch-outcome')}`);
  await open('#/challenge/' + ch.id, 375, null);

  // ---- the honest worker's account: its pay -----------------------------------------------
  const hi = task.slots.findIndex(s => s.worker === honest);
  check(hi >= 0 && task.slots[hi].status === 'paid', 'the honest worker\u2019s slot is paid (API)');
  await open('#/account/' + honest, 1100, 'account');
  const acct = await api('/v1/account/' + honest);
  check(digits(await text('#acct-balance')) === acct.balance, `account balance == ${acct.balance}`);
  const rows = await page.$$eval('table.history tbody tr', r => r.map(x => [...x.cells].map(c => c.textContent)));
  const paidRows = rows.filter(r => /paid/.test(r[1]));
  const reward = Number(task.reward).toLocaleString('en-US');
  check(paidRows.some(r => r[3] === '+' + reward), `the history shows the pay +${reward}: ${JSON.stringify(paidRows)}`) ||
    console.log(JSON.stringify(rows), JSON.stringify(await api('/v1/history/' + honest)));
  check(digits(await text('#acct-earned')) === task.reward, `earned ${await text('#acct-earned')} == the reward ${task.reward}`);
  check(await page.$eval('.plot', p => !!p.querySelector('canvas')), 'the balance plot is drawn');
  await open('#/account/' + honest, 375, 'account');
  await open('#/account/' + cheater, 1100, null);
  check(/slashed/.test(await page.$eval('table.history', t => t.textContent)), 'the cheater\u2019s history shows the slash') ||
    console.log(JSON.stringify((await api('/v1/history/' + cheater)).history.map(e => [e.height, e.balance, e.stake, e.txs.map(t => t.type + ':' + t.role)])));

  // ---- labeling: accuracies == the aggregation, whose result == the ledger's ----------------------------
  const L = await api('/v1/labeling/' + labelTask);
  const lt = await api('/v1/task/' + labelTask);
  check(L.finalized && L.result === lt.label.result && L.matches_task, `labeling result ${L.result.slice(0, 12)} == the task's`);
  check(JSON.stringify(L.slots.map(s => s.pay)) === JSON.stringify(lt.label.paid), 'the re-run pay == the task\u2019s paid');
  await open('#/task/' + labelTask, 1100, 'labeling');
  const acc = await page.$$eval('#labeling .acc', a => a.map(e => Number(e.dataset.ppm)));
  check(JSON.stringify(acc) === JSON.stringify(L.slots.map(s => s.accuracy_ppm)), `accuracies ${acc} == /v1/labeling`);
  check(await text('#label-match') === 'yes: the finalize result re-derived', 'the page says the result matches');
  const heat = await page.$$eval('#labeling table.heat', t => t.length);
  check(heat === L.slots.filter(s => s.confusion).length && heat > 0, `a heat map per revealed slot (${heat})`);
  await open('#/task/' + labelTask, 375, null);

  // ---- search, deep links, the other pages, keyboard ---------------------------------------------------
  for (const [q, want] of [[trainTask, '#/task/' + trainTask], [honest, '#/account/' + honest], [ch.id, '#/challenge/' + ch.id],
    [(await api('/v1/block/2')).hash, '#/block/' + (await api('/v1/block/2')).hash], ['3', '#/block/3'],
    [task.slots[hi].worker && (await api('/v1/timeline/' + trainTask)).events[1].hash,
      '#/tx/' + (await api('/v1/timeline/' + trainTask)).events[1].hash]]) {
    await open('', 1100, null);
    await page.focus('#q');
    await page.keyboard.type(q);
    await page.keyboard.press('Enter');
    await page.waitForFunction(w => location.hash === w && document.body.dataset.ready === '1', { timeout: 10000 }, want)
      .then(() => check(true, `search ${q.slice(0, 12)} -> ${want.slice(0, 20)}`),
        () => check(false, `search ${q.slice(0, 12)} -> ${want.slice(0, 20)} (at ${page.url()})`));
  }
  // '/' focuses the search box
  await page.keyboard.press('Escape');
  await page.$eval('#main', m => m.focus());
  await page.keyboard.press('/');
  check(await page.evaluate(() => document.activeElement.id) === 'q', '"/" focuses the search box');
  for (const [h, shot] of [['#/blocks', 'blocks'], ['#/block/2', null], ['#/tasks', 'tasks'], ['#/agents', 'agents'],
    ['#/tx/' + ch.id, null]]) {
    await open(h, 1100, shot);
    await open(h, 375, null);
  }
  check(problems.length === 0, 'no JavaScript errors or failed requests' + (problems.length ? ':\n  ' + problems.join('\n  ') : ''));
} finally {
  await browser.close();
}
console.log(checks.failures ? `${checks.failures} browser checks failed` : 'browser checks: all passed');
process.exit(checks.failures ? 1 : 0);
