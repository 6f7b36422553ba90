// plow.mjs — plow's engine in JavaScript: build/wasm/plow.wasm (a WASI
// command, `make wasm`) run on an in-memory file system, the same in Node and
// in a browser (no node:wasi, no fetch of anything but the module you pass).
//
//     import { Plow } from './plow.mjs';
//     const plow = await Plow.load(wasmBytes);          // ArrayBuffer / Uint8Array / Response
//     const { states } = plow.train({ data, tokenizer, steps: 20, batch: 2, seq: 32, seed: 5 });
//     const { text, receipt } = plow.generate({ model, prompt: 'First Citizen:', tokens: 24, seed: 5 });
//     const check = plow.verifyReceipt({ receipt, model });          // { valid, badPosition, ... }
//     const step = plow.replayStep({ run, step: 7 });                // { match, leaf, committed }
//
// Files are plain objects { 'path': Uint8Array | string }; a model or a run is
// such an object of its directory's files (config.json, model.safetensors,
// tokenizer.bin ... relative names). Every call runs one plow command in a
// fresh instance (the module is compiled once) and returns what it printed;
// `run(args, files)` runs any command (tokenizer, train, generate, verify,
// verify-receipt, replay, info ...) and returns { code, stdout, stderr, files }.
// Calls are synchronous and take seconds: in a page, call them from a Worker.

const ERRNO = { SUCCESS: 0, BADF: 8, EXIST: 20, INVAL: 28, ISDIR: 31, NOENT: 44, NOSYS: 52, NOTDIR: 54, NOTEMPTY: 55 };
const FILETYPE = { CHARACTER_DEVICE: 2, DIRECTORY: 3, REGULAR_FILE: 4 };
const OFLAGS = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 };
const FDFLAGS_APPEND = 1;
const ALL_RIGHTS = 0xffffffffffffffffn;

class Exit {
    constructor(code) { this.code = code; }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function bytesOf(v) {
    if (typeof v === 'string') return enc.encode(v);
    if (v instanceof Uint8Array) return v;
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    throw new TypeError('file contents must be a string, a Uint8Array or an ArrayBuffer');
}

// "/a/./b/../c" -> "a/c"; null if it climbs out of the root.
function normalize(path) {
    const out = [];
    for (const part of path.split('/')) {
        if (part === '' || part === '.') continue;
        if (part === '..') {
            if (!out.length) return null;
            out.pop();
        } else out.push(part);
    }
    return out.join('/');
}

// An in-memory file system: files (path -> { data, size }) and directories.
class MemFS {
    constructor(files) {
        this.files = new Map();
        this.dirs = new Set(['']);
        for (const [p, v] of Object.entries(files || {})) this.write(p, bytesOf(v));
    }
    parentOk(p) {
        const i = p.lastIndexOf('/');
        return this.dirs.has(i < 0 ? '' : p.slice(0, i));
    }
    write(path, data) {
        const p = normalize(path);
        if (p === null || p === '') throw new Error(`bad path ${path}`);
        const parts = p.split('/');
        for (let i = 1; i < parts.length; i++) this.dirs.add(parts.slice(0, i).join('/'));
        this.files.set(p, { data: data.slice(), size: data.length });
    }
    read(path) {
        const f = this.files.get(normalize(path));
        return f ? f.data.subarray(0, f.size) : undefined;
    }
    // every file under dir (relative names), as { name: Uint8Array }
    tree(dir = '') {
        const d = normalize(dir), out = {};
        for (const [p, f] of this.files)
            if (d === '' || p.startsWith(d + '/')) out[d === '' ? p : p.slice(d.length + 1)] = f.data.slice(0, f.size);
        return out;
    }
}

// The WASI preview1 calls plow.wasm imports, over a MemFS. fd 0-2 are stdio,
// fd 3 is the pre-opened root "/".
function wasiImports(fs, args, env, out) {
    let memory = null;
    const fds = new Map([[3, { dir: '' }]]);
    let nextFd = 4;
    const view = () => new DataView(memory.buffer);
    const u8 = () => new Uint8Array(memory.buffer);
    const str = (ptr, len) => dec.decode(u8().subarray(ptr, ptr + len));
    const resolve = (dirfd, ptr, len) => {
        const d = fds.get(dirfd);
        if (!d || d.dir === undefined) return null;
        const p = normalize((d.dir ? d.dir + '/' : '') + str(ptr, len));
        return p;
    };
    const putStrings = (list, ptrsPtr, bufPtr) => {
        const v = view(), m = u8();
        for (const s of list) {
            const b = enc.encode(s + '\0');
            v.setUint32(ptrsPtr, bufPtr, true);
            m.set(b, bufPtr);
            ptrsPtr += 4;
            bufPtr += b.length;
        }
        return ERRNO.SUCCESS;
    };
    const sizes = (list, countPtr, sizePtr) => {
        const v = view();
        v.setUint32(countPtr, list.length, true);
        v.setUint32(sizePtr, list.reduce((n, s) => n + enc.encode(s).length + 1, 0), true);
        return ERRNO.SUCCESS;
    };
    const filestat = (ptr, type, size) => {
        const v = view();
        for (let i = 0; i < 64; i += 8) v.setBigUint64(ptr + i, 0n, true);
        v.setUint8(ptr + 16, type);
        v.setBigUint64(ptr + 24, 1n, true);
        v.setBigUint64(ptr + 32, BigInt(size), true);
    };
    const envList = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const w = {
        args_sizes_get: (c, s) => sizes(args, c, s),
        args_get: (p, b) => putStrings(args, p, b),
        environ_sizes_get: (c, s) => sizes(envList, c, s),
        environ_get: (p, b) => putStrings(envList, p, b),
        clock_time_get: (id, precision, ptr) => {
            const ms = id === 0 ? Date.now() : (globalThis.performance ? performance.now() : Date.now());
            view().setBigUint64(ptr, BigInt(Math.round(ms * 1e6)), true);
            return ERRNO.SUCCESS;
        },
        proc_exit: (code) => { throw new Exit(code); },
        fd_write: (fd, iovs, n, nwritten) => {
            const v = view();
            let total = 0;
            const f = fds.get(fd);
            if (fd !== 1 && fd !== 2 && (!f || !f.path)) return ERRNO.BADF;
            for (let i = 0; i < n; i++) {
                const buf = v.getUint32(iovs + 8 * i, true), len = v.getUint32(iovs + 8 * i + 4, true);
                const bytes = u8().slice(buf, buf + len);
                if (fd === 1 || fd === 2) out[fd].push(bytes);
                else {
                    const file = fs.files.get(f.path);
                    if (f.append) f.pos = file.size;
                    const end = f.pos + len;
                    if (end > file.data.length) {
                        const grown = new Uint8Array(Math.max(end, 2 * file.data.length, 4096));
                        grown.set(file.data.subarray(0, file.size));
                        file.data = grown;
                    }
                    file.data.set(bytes, f.pos);
                    f.pos = end;
                    if (end > file.size) file.size = end;
                }
                total += len;
            }
            view().setUint32(nwritten, total, true);
            return ERRNO.SUCCESS;
        },
        fd_read: (fd, iovs, n, nread) => {
            const f = fds.get(fd);
            const v = view();
            if (fd === 0) return v.setUint32(nread, 0, true), ERRNO.SUCCESS;
            if (!f || !f.path) return ERRNO.BADF;
            const file = fs.files.get(f.path);
            let total = 0;
            for (let i = 0; i < n; i++) {
                const buf = v.getUint32(iovs + 8 * i, true), len = v.getUint32(iovs + 8 * i + 4, true);
                const take = Math.max(0, Math.min(len, file.size - f.pos));
                u8().set(file.data.subarray(f.pos, f.pos + take), buf);
                f.pos += take;
                total += take;
                if (take < len) break;
            }
            view().setUint32(nread, total, true);
            return ERRNO.SUCCESS;
        },
        fd_seek: (fd, offset, whence, newOffset) => {
            const f = fds.get(fd);
            if (!f || !f.path) return ERRNO.BADF;
            const size = fs.files.get(f.path).size;
            const base = whence === 0 ? 0 : whence === 1 ? f.pos : size;
            const pos = base + Number(offset);
            if (pos < 0) return ERRNO.INVAL;
            f.pos = pos;
            view().setBigUint64(newOffset, BigInt(pos), true);
            return ERRNO.SUCCESS;
        },
        fd_close: (fd) => (fds.delete(fd) ? ERRNO.SUCCESS : fd <= 2 ? ERRNO.SUCCESS : ERRNO.BADF),
        fd_sync: () => ERRNO.SUCCESS,
        fd_fdstat_set_flags: () => ERRNO.SUCCESS,
        fd_fdstat_get: (fd, ptr) => {
            const f = fds.get(fd);
            if (fd > 2 && !f) return ERRNO.BADF;
            const v = view();
            v.setUint8(ptr, fd <= 2 ? FILETYPE.CHARACTER_DEVICE : f.path ? FILETYPE.REGULAR_FILE : FILETYPE.DIRECTORY);
            v.setUint16(ptr + 2, f && f.append ? FDFLAGS_APPEND : 0, true);
            v.setBigUint64(ptr + 8, ALL_RIGHTS, true); /* with seek rights: stdio is not a terminal */
            v.setBigUint64(ptr + 16, ALL_RIGHTS, true);
            return ERRNO.SUCCESS;
        },
        fd_filestat_get: (fd, ptr) => {
            const f = fds.get(fd);
            if (!f) return fd <= 2 ? (filestat(ptr, FILETYPE.CHARACTER_DEVICE, 0), ERRNO.SUCCESS) : ERRNO.BADF;
            if (f.path) filestat(ptr, FILETYPE.REGULAR_FILE, fs.files.get(f.path).size);
            else filestat(ptr, FILETYPE.DIRECTORY, 0);
            return ERRNO.SUCCESS;
        },
        fd_prestat_get: (fd, ptr) => {
            if (fd !== 3) return ERRNO.BADF;
            const v = view();
            v.setUint8(ptr, 0);
            v.setUint32(ptr + 4, 1, true);
            return ERRNO.SUCCESS;
        },
        fd_prestat_dir_name: (fd, ptr, len) => {
            if (fd !== 3) return ERRNO.BADF;
            if (len >= 1) u8()[ptr] = 0x2f; /* "/" */
            return ERRNO.SUCCESS;
        },
        fd_readdir: (fd, buf, len, cookie, used) => {
            const f = fds.get(fd);
            if (!f || f.dir === undefined) return ERRNO.BADF;
            const prefix = f.dir ? f.dir + '/' : '';
            const names = [];
            for (const d of fs.dirs) if (d && d.startsWith(prefix) && !d.slice(prefix.length).includes('/')) names.push([d.slice(prefix.length), FILETYPE.DIRECTORY]);
            for (const p of fs.files.keys()) if (p.startsWith(prefix) && !p.slice(prefix.length).includes('/')) names.push([p.slice(prefix.length), FILETYPE.REGULAR_FILE]);
            const v = view(), m = u8();
            let off = 0;
            for (let i = Number(cookie); i < names.length && off < len; i++) {
                const name = enc.encode(names[i][0]);
                const ent = new Uint8Array(24 + name.length), ev = new DataView(ent.buffer);
                ev.setBigUint64(0, BigInt(i + 1), true);
                ev.setBigUint64(8, BigInt(i + 1), true);
                ev.setUint32(16, name.length, true);
                ev.setUint8(20, names[i][1]);
                ent.set(name, 24);
                const take = Math.min(ent.length, len - off);
                m.set(ent.subarray(0, take), buf + off);
                off += take;
            }
            v.setUint32(used, off, true);
            return ERRNO.SUCCESS;
        },
        path_filestat_get: (fd, flags, ptr, len, out) => {
            const p = resolve(fd, ptr, len);
            if (p === null) return ERRNO.NOENT;
            if (fs.dirs.has(p)) return filestat(out, FILETYPE.DIRECTORY, 0), ERRNO.SUCCESS;
            const f = fs.files.get(p);
            if (!f) return ERRNO.NOENT;
            filestat(out, FILETYPE.REGULAR_FILE, f.size);
            return ERRNO.SUCCESS;
        },
        path_create_directory: (fd, ptr, len) => {
            const p = resolve(fd, ptr, len);
            if (p === null || p === '') return ERRNO.INVAL;
            if (fs.dirs.has(p) || fs.files.has(p)) return ERRNO.EXIST;
            if (!fs.parentOk(p)) return ERRNO.NOENT;
            fs.dirs.add(p);
            return ERRNO.SUCCESS;
        },
        path_open: (dirfd, dirflags, ptr, len, oflags, rightsBase, rightsInh, fdflags, fdPtr) => {
            const p = resolve(dirfd, ptr, len);
            if (p === null) return ERRNO.NOENT;
            if (fs.dirs.has(p)) {
                if (oflags & (OFLAGS.CREAT | OFLAGS.TRUNC) && oflags & OFLAGS.EXCL) return ERRNO.EXIST;
                const fd = nextFd++;
                fds.set(fd, { dir: p });
                view().setUint32(fdPtr, fd, true);
                return ERRNO.SUCCESS;
            }
            if (oflags & OFLAGS.DIRECTORY) return fs.files.has(p) ? ERRNO.NOTDIR : ERRNO.NOENT;
            let file = fs.files.get(p);
            if (file && oflags & OFLAGS.CREAT && oflags & OFLAGS.EXCL) return ERRNO.EXIST;
            if (!file) {
                if (!(oflags & OFLAGS.CREAT)) return ERRNO.NOENT;
                if (!fs.parentOk(p)) return ERRNO.NOENT;
                file = { data: new Uint8Array(0), size: 0 };
                fs.files.set(p, file);
            }
            if (oflags & OFLAGS.TRUNC) file.size = 0;
            const fd = nextFd++;
            fds.set(fd, { path: p, pos: 0, append: (fdflags & FDFLAGS_APPEND) !== 0 });
            view().setUint32(fdPtr, fd, true);
            return ERRNO.SUCCESS;
        },
        path_rename: (fd, op, ol, nfd, np, nl) => {
            const a = resolve(fd, op, ol), b = resolve(nfd, np, nl);
            if (a === null || b === null) return ERRNO.NOENT;
            const f = fs.files.get(a);
            if (!f) return ERRNO.NOENT;
            if (fs.dirs.has(b)) return ERRNO.ISDIR;
            if (!fs.parentOk(b)) return ERRNO.NOENT;
            fs.files.delete(a);
            fs.files.set(b, f);
            for (const o of fds.values()) if (o.path === a) o.path = b;
            return ERRNO.SUCCESS;
        },
        path_unlink_file: (fd, ptr, len) => {
            const p = resolve(fd, ptr, len);
            if (p !== null && fs.dirs.has(p)) return ERRNO.ISDIR;
            return p !== null && fs.files.delete(p) ? ERRNO.SUCCESS : ERRNO.NOENT;
        },
    };
    return {
        imports: { wasi_snapshot_preview1: new Proxy(w, { get: (t, k) => t[k] || (() => ERRNO.NOSYS) }) },
        setMemory: (m) => { memory = m; },
    };
}

const hex64 = /^[0-9a-f]{64}$/;

export class Plow {
    constructor(module) { this.module = module; }

    // wasm: the bytes of plow.wasm (ArrayBuffer, typed array) or a fetch Response.
    static async load(wasm) {
        const module = wasm instanceof WebAssembly.Module ? wasm
            : typeof Response !== 'undefined' && wasm instanceof Response ? await WebAssembly.compileStreaming(wasm)
            : await WebAssembly.compile(bytesOf(wasm));
        return new Plow(module);
    }

    // Runs `plow ARGS...` with files (an object or a MemFS) at "/"; returns
    // { code, stdout, stderr, fs } (fs.tree(dir) gives a directory's files).
    // env: extra environment (PLOW_SIMD=scalar ...).
    run(args, files = {}, env = {}) {
        const fs = files instanceof MemFS ? files : new MemFS(files);
        const out = { 1: [], 2: [] };
        const wasi = wasiImports(fs, ['plow', ...args], { PLOW_CWD: '/', ...env }, out);
        const inst = new WebAssembly.Instance(this.module, wasi.imports);
        wasi.setMemory(inst.exports.memory);
        let code = 0;
        try {
            inst.exports._start();
        } catch (e) {
            if (!(e instanceof Exit)) throw e;
            code = e.code;
        }
        const text = (chunks) => dec.decode(chunks.reduce((a, c) => {
            const b = new Uint8Array(a.length + c.length);
            b.set(a);
            b.set(c, a.length);
            return b;
        }, new Uint8Array(0)));
        return { code, stdout: text(out[1]), stderr: text(out[2]), fs };
    }

    #must(r, what) {
        if (r.code !== 0 && r.code !== 1) throw new Error(`plow ${what} failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
        return r;
    }

    // Trains a model from scratch ({ data, tokenizer } bytes or strings) and
    // returns the hash of every state (states[0] = the initial state) and the
    // run directory's files.
    train({ data, tokenizer, config = 'tiny', steps = 20, batch = 2, seq = 32, seed = 1, evalBatches = 1, commit = false,
        checkpointEvery, simd } = {}) {
        const args = ['train', '--data', 'data.txt', '--tokenizer', 'tok.bin', '--config', config, '--steps', String(steps),
            '--batch', String(batch), '--seq', String(seq), '--seed', String(seed), '--eval-batches', String(evalBatches),
            '--out', 'run'];
        if (commit) args.push('--commit');
        if (checkpointEvery) args.push('--checkpoint-every', String(checkpointEvery));
        if (simd) args.push('--simd', simd);
        const r = this.run(args, { 'data.txt': data, 'tok.bin': tokenizer });
        if (r.code !== 0) throw new Error(`plow train failed (${r.code}): ${r.stderr.trim()}`);
        const states = dec.decode(r.fs.read('run/states.txt')).trim().split('\n').map((l) => l.split(' ')[1]);
        return { states, run: r.fs.tree('run'), log: r.stderr };
    }

    // Generates from a model directory's files; returns the text and the
    // receipt (the JSON text `plow verify-receipt` checks).
    generate({ model, prompt, tokens = 24, seed = 1, temperature, topK, topP, simd } = {}) {
        const args = ['generate', '--model', 'model', '--prompt', prompt, '--tokens', String(tokens), '--seed', String(seed),
            '--receipt', 'receipt.json'];
        if (temperature !== undefined) args.push('--temperature', String(temperature));
        if (topK !== undefined) args.push('--top-k', String(topK));
        if (topP !== undefined) args.push('--top-p', String(topP));
        if (simd) args.push('--simd', simd);
        const files = {};
        for (const [k, v] of Object.entries(model)) files['model/' + k] = v;
        const r = this.#must(this.run(args, files), 'generate');
        if (r.code !== 0) throw new Error(`plow generate failed: ${r.stderr.trim()}`);
        return { text: r.stdout, receipt: dec.decode(r.fs.read('receipt.json')) };
    }

    // Checks a receipt (JSON text) against a model directory's files, with one
    // prefill. { valid, badPosition (-1 if none), signedBy, report }.
    verifyReceipt({ receipt, model, worker } = {}) {
        const files = { 'receipt.json': receipt };
        for (const [k, v] of Object.entries(model)) files['model/' + k] = v;
        const args = ['verify-receipt', 'receipt.json', '--model', 'model'];
        if (worker) args.push('--worker', worker);
        const r = this.#must(this.run(args, files), 'verify-receipt');
        const bad = /first bad position: (\d+)/.exec(r.stdout);
        const signer = /signed by (plow[0-9a-f]+)/.exec(r.stdout);
        return { valid: r.code === 0, badPosition: bad ? Number(bad[1]) : -1, signedBy: signer ? signer[1] : null,
            report: r.stdout.trim() };
    }

    // Re-executes step `step` of a committed run (its directory's files: task.json,
    // trace.bin, checkpoints/..., plus whatever task.json names: the data at the
    // path it names, in extra) from state step-1 (`state`: its bytes, or the
    // run's nearest checkpoint) and compares with the committed leaf.
    // { match, leaf, committed, report }.
    replayStep({ run, step, state, extra = {}, simd } = {}) {
        const files = { ...extra };
        for (const [k, v] of Object.entries(run)) files['run/' + k] = v;
        const args = ['replay', 'run', '--step', String(step)];
        if (state) {
            files['state.bin'] = state;
            args.push('--state', 'state.bin');
        }
        if (simd) args.push('--simd', simd);
        const r = this.#must(this.run(args, files), 'replay');
        const leaf = /leaf ([0-9a-f]{64})/.exec(r.stdout), committed = /committed: +([0-9a-f]{64})/.exec(r.stdout);
        return { match: r.code === 0, leaf: leaf && hex64.test(leaf[1]) ? leaf[1] : null,
            committed: committed ? committed[1] : null, report: r.stdout.trim() };
    }
}

export { MemFS };
