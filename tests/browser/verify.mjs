// verify.mjs — the explorer's "verify in your browser" (www/verify.js) in
// Debian's headless Chromium against a node tests/cli/explorer.sh filled:
//   - the training task's disputed step, replayed in the page by plow.wasm
//     from the agreed state: MISMATCH against the cheater's leaf, MATCH
//     against the honest replica's, the leaf computed == the node referee's;
//   - the inference task: the honest slot's receipt re-derives (MATCH), the
//     cheater's (a changed output token) does not (MISMATCH), and what the
//     page computed for it is the honest slot's output hash;
//   - a download limit below what the check needs is refused with a message,
//     nothing run;
//   - `--absent`: a node that serves no plow.wasm: the button says so.
//
//   node tests/browser/verify.mjs URL TRAIN_TASK INFER_TASK HONEST CHEATER I_HONEST I_CHEATER
//   node tests/browser/verify.mjs --absent URL TRAIN_TASK
import { api as nodeApi, checks, launch } from './harness.mjs';

const argv = process.argv.slice(2);
const absent = argv[0] === '--absent';
if (absent) argv.shift();
const [url, trainTask, inferTask, honest, cheater, iHonest, iCheater] = argv;
if (!trainTask || (!absent && !iCheater)) {
  console.error('usage: verify.mjs URL TRAIN_TASK INFER_TASK HONEST CHEATER I_HONEST I_CHEATER | --absent URL TRAIN_TASK');
  process.exit(2);
}
const api = nodeApi(url);
const check = checks.check.bind(checks);

const browser = await launch({ protocolTimeout: 300000 });
const problems = [];
try {
  const page = await browser.newPage();
  page.on('pageerror', e => problems.push('page error: ' + e.message));
  page.on('console', m => { if (m.type() === 'error' && !/404/.test(m.text())) problems.push('console error: ' + m.text()); });
  async function open(hash) {
    await page.goto('about:blank');
    await page.goto(url + '/' + hash, { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.ready === '1', { timeout: 30000 });
  }
  // clicks the k-th verify button and returns what its box shows once done
  async function run(k, scope = '') {
    await page.$$eval(scope + ' .verify-btn', (b, i) => b[i].click(), k);
    await page.waitForFunction((i, sc) => ['done', 'error'].includes(document.querySelectorAll(sc + ' .verify')[i].dataset.state),
      { timeout: 240000 }, k, scope);
    return page.$$eval(scope + ' .verify', (b, i) => {
      const v = b[i];
      return { state: v.dataset.state, computed: v.dataset.computed, agreed: v.dataset.agreed,
        error: (v.querySelector('.verify-error') || {}).textContent || '',
        rows: [...v.querySelectorAll('.verify-row')].map(r => ({ verdict: r.dataset.verdict, who: r.dataset.who,
          leaf: r.querySelector('.h') ? r.querySelector('.h').title : '' })) };
    }, k);
  }

  const task = await api('/v1/task/' + trainTask);
  const ch = task.challenges.find(c => c.kind === 'step');
  if (absent) {
    await open('#/challenge/' + ch.id);
    const r = await run(0);
    check(r.state === 'error' && /does not serve the WebAssembly engine/.test(r.error) && !r.rows.length,
      `no plow.wasm on the node: the button says so (${r.error})`);
  } else {
    // ---- the disputed step, on the dispute page --------------------------------------------
    check(ch && ch.status === 'upheld', 'the training task has an upheld step challenge');
    await open('#/challenge/' + ch.id);
    const t0 = Date.now();
    const r = await run(0);
    check(r.state === 'done' && r.agreed === 'yes', `step ${ch.step} replayed in Chromium ${r.error}`);
    // the verifier accuses either replica (whichever it checked first): the cheater is the one slashed
    check(task.slots.some(s => s.worker === cheater && s.status === 'slashed') &&
      [ch.accused, ch.other].sort().join() === [cheater, honest].sort().join(), 'the dispute is between the cheater and the honest worker');
    const cheaterLeaf = ch.accused === cheater ? ch.accused_leaf : ch.other_leaf;
    const honestLeaf = ch.accused === cheater ? ch.other_leaf : ch.accused_leaf;
    const row = re => r.rows.find(x => re.test(x.who)) || {};
    check(row(/accused/).leaf === ch.accused_leaf && row(/other replica/).leaf === ch.other_leaf,
      'the rows show the accused\u2019s and the other replica\u2019s committed leaves');
    const verdictOf = leaf => (r.rows.find(x => x.leaf === leaf) || {}).verdict;
    check(verdictOf(cheaterLeaf) === 'MISMATCH', `the cheater's leaf ${cheaterLeaf.slice(0, 12)}…: MISMATCH`);
    check(verdictOf(honestLeaf) === 'MATCH', `the honest replica's leaf ${honestLeaf.slice(0, 12)}…: MATCH`);
    check(r.computed === ch.computed, `the leaf computed in the browser == the node referee's (${ch.computed.slice(0, 12)}…)`);
    console.log(`  (the step took ${((Date.now() - t0) / 1000).toFixed(1)} s in the page)`);
    // the same button on the task page
    await open('#/task/' + trainTask);
    const r2 = await run(0);
    check(r2.state === 'done' && r2.computed === ch.computed, 'the task page\u2019s button computes the same leaf');

    // ---- a download limit below the check's needs --------------------------------------------
    await open('#/challenge/' + ch.id + '?max=2000');
    const r3 = await run(0);
    check(r3.state === 'error' && /download limit/.test(r3.error) && !r3.rows.length,
      `a limit of 2000 bytes: refused, nothing run (${r3.error.slice(0, 90)}…)`);

    // ---- the inference task: each revealed slot's receipt re-derived --------------------------
    const it = await api('/v1/task/' + inferTask);
    await open('#/task/' + inferTask);
    const n = await page.$$eval('#generation .verify', b => b.length);
    const revealed = it.slots.map((s, i) => ({ s, i })).filter(x => !/^0+$/.test(x.s.trace_root));
    check(n === revealed.length && n === 2, `a button per revealed slot (${n})`);
    const hs = it.slots.find(s => s.worker === iHonest), cs = it.slots.find(s => s.worker === iCheater);
    check(hs && cs && hs.final_state !== cs.final_state, 'the two slots committed different outputs');
    const results = [];
    for (let k = 0; k < n; k++) results.push(await run(k, '#generation'));
    const res = slot => results[revealed.findIndex(x => x.s === slot)];
    const rh = res(hs), rc = res(cs);
    check(rh.state === 'done' && rh.rows.length === 1 && rh.rows[0].verdict === 'MATCH' && rh.rows[0].leaf === hs.final_state,
      `the honest receipt re-derives: MATCH ${rh.error}`)
    check(rc.state === 'done' && rc.rows.length === 1 && rc.rows[0].verdict === 'MISMATCH' && rc.rows[0].leaf === cs.final_state,
      `the cheater's receipt (a changed token): MISMATCH ${rc.error}`);
    check(rc.computed === hs.final_state, 'what the page computed for the cheater\u2019s slot is the honest output');
  }
  check(problems.length === 0, 'no JavaScript errors' + (problems.length ? ':\n  ' + problems.join('\n  ') : ''));
} finally {
  await browser.close();
}
console.log(checks.failures ? `${checks.failures} verify checks failed` : 'verify checks: all passed');
process.exit(checks.failures ? 1 : 0);
