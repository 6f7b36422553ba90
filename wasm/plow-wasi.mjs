#!/usr/bin/env node
// plow-wasi.mjs — runs build/wasm/plow.wasm as a command under Node's WASI,
// with "/" pre-opened as itself and the current directory as the command's
// (PLOW_CWD), so relative paths and absolute ones (a native run stores its
// data's absolute path in task.json) both resolve, and
//     node wasm/plow-wasi.mjs build/wasm/plow.wasm train --data d.txt ...
// behaves like the native `plow train ...` in that directory. Exit code: the
// command's. (The browser has no WASI: wasm/plow.mjs brings its own.)
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process from 'node:process';

const [wasmPath, ...args] = process.argv.slice(2);
if (!wasmPath || wasmPath === '--help') {
    console.log('usage: node wasm/plow-wasi.mjs PLOW.WASM COMMAND [ARGS...]');
    process.exit(wasmPath ? 0 : 2);
}
const wasi = new WASI({
    version: 'preview1',
    args: ['plow', ...args],
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('PLOW_'))),
           PLOW_CWD: process.cwd() },
    preopens: { '/': '/' },
    returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
