// wasm_checks.mjs — what tests/cli/wasm.sh checks of wasm/plow.mjs, the same
// code in Node and in headless Chromium (wasm_api.mjs runs both). get(path)
// returns the bytes of a file the shell test made with the native plow:
//   plow.wasm, d.txt, tok.bin, nat/ (a committed tiny run: states.txt, the
//   model files, task.json, trace.bin, checkpoints/), rn.json (its receipt),
//   bad.json (a changed token), signed.json + w.addr (signed by plow serve).
// Returns { lines, failures }: every result compared with the native bits.
// train: false skips the 20 training steps (Node, where wasm.sh already
// trained tiny with the same module under node:wasi).
export async function checks(Plow, get, { train = true } = {}) {
    const lines = [], failures = [];
    const dec = new TextDecoder();
    const text = async (p) => dec.decode(await get(p));
    const check = (ok, what) => { if (!ok) failures.push(what); return ok; };
    const plow = await Plow.load(await get('plow.wasm'));

    // tiny, 20 steps: every state hash = the native run's
    const native = (await text('nat/states.txt')).trim().split('\n').map((l) => l.split(' ')[1]);
    if (train) {
        const t = plow.train({ data: await get('d.txt'), tokenizer: await get('tok.bin'), steps: 20, batch: 2, seq: 32, seed: 5 });
        check(/simd128 x 1 threads/.test(t.log), 'train did not run on simd128: ' + t.log.split('\n')[0]);
        check(t.states.length === 21 && t.states.every((s, i) => s === native[i]),
            `tiny states differ from native: ${t.states.findIndex((s, i) => s !== native[i])}`);
        lines.push(`train: tiny 20 steps = native (${t.states[20].slice(0, 16)}...)`);
    }

    // a receipt made here is the native one, byte for byte; the native one verifies here
    const model = {};
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.bin']) model[f] = await get('nat/' + f);
    const g = plow.generate({ model, prompt: 'First Citizen:', tokens: 24, seed: 5 });
    check(g.receipt === await text('rn.json'), 'the receipt made in wasm differs from the native one');
    const v = plow.verifyReceipt({ receipt: await text('rn.json'), model });
    check(v.valid && v.badPosition === -1, 'the native receipt was refused: ' + v.report);
    const b = plow.verifyReceipt({ receipt: await text('bad.json'), model });
    check(!b.valid && b.badPosition === 9, 'a changed token was not caught at 9: ' + b.report);
    const worker = (await text('w.addr')).trim();
    const s = plow.verifyReceipt({ receipt: await text('signed.json'), model, worker });
    check(s.valid && s.signedBy === worker, 'the signed receipt was refused: ' + s.report);
    lines.push('receipts: generated = native bytes, native verified, changed token caught at 9, signature verified');

    // one step of the native committed run re-executed here gives its leaf
    const run = {};
    for (const f of ['task.json', 'trace.bin', 'commitment.bin', 'tokenizer.bin', 'checkpoints/00000005.state'])
        run[f] = await get('nat/' + f);
    const task = JSON.parse(dec.decode(run['task.json']));
    const extra = { [task.data]: await get('d.txt') };
    const r = plow.replayStep({ run, step: 7, extra });
    check(r.match && r.leaf === native[7] && r.committed === native[7], 'step 7 replay: ' + r.report);
    const fromState = plow.replayStep({ run, step: 6, state: run['checkpoints/00000005.state'], extra });
    check(fromState.match && fromState.leaf === native[6], 'step 6 from a state: ' + fromState.report);
    const wrong = plow.replayStep({ run, step: 7, state: run['checkpoints/00000005.state'], extra });
    check(!wrong.match, 'state 5 accepted as state 6');
    lines.push(`replay: step 7 from checkpoint 5 and step 6 from state 5 give the native leaves (${r.leaf.slice(0, 16)}...)`);
    return { lines, failures };
}
