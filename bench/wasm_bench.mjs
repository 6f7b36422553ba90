#!/usr/bin/env node
// wasm_bench.mjs ROOT DIR TRAIN_ARGS... -- GEN_ARGS... — runs `plow train`
// and `plow generate` through wasm/plow.mjs in headless Chromium (files of
// DIR: d.txt, tok.bin, model/...), for bench/wasm_bench.sh; prints the two
// commands' last stderr lines (their tokens/s) and the browser's version.
import { join, normalize, resolve } from 'node:path';

import { inChromium } from '../tests/js/chromium_page.mjs';

const [root, dir, ...rest] = process.argv.slice(2);
const cut = rest.indexOf('--');
if (!root || !dir || cut < 0) {
    console.error('usage: node bench/wasm_bench.mjs ROOT DIR TRAIN_ARGS... -- GEN_ARGS...');
    process.exit(2);
}
const train = rest.slice(0, cut), gen = rest.slice(cut + 1);
const R = resolve(root), D = resolve(dir);
const { result, errors, version } = await inChromium({
    routes: { '/wasm/plow.mjs': join(R, 'wasm/plow.mjs') },
    fileOf: (p) => (p === 'plow.wasm' ? join(R, 'build/wasm/plow.wasm') : join(D, normalize(p))),
    script: `import { Plow } from '/wasm/plow.mjs';
const get = async (p) => new Uint8Array(await (await fetch('/f/' + p)).arrayBuffer());
const last = (s) => s.trim().split('\\n').pop();
window.result = (async () => {
    const plow = await Plow.load(await fetch('/f/plow.wasm'));
    const t = plow.run(${JSON.stringify(train)}, { 'd.txt': await get('d.txt'), 'tok.bin': await get('tok.bin') });
    const files = {};
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.bin']) files['model/' + f] = await get('model/' + f);
    const g = plow.run(${JSON.stringify(gen)}, files);
    return { train: t.code + ' ' + t.stderr.trim().split('\\n').filter((l) => /tokens\\/s/.test(l)).pop(), gen: g.code + ' ' + last(g.stderr) };
})().catch((e) => ({ error: e.message }));`,
});
if (errors.length || result.error) {
    console.error('chromium:', result.error || '', errors.join('; '));
    process.exit(1);
}
console.log(`browser ${version}`);
console.log(`train ${result.train}`);
console.log(`generate ${result.gen}`);
