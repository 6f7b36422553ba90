// compile-contracts.js — compiles contracts/*.sol with the solcjs compiler that
// npm installed from package-lock.json (node_modules/solc bundles soljson: no
// download at run time) into OUT/NAME.abi (JSON) and OUT/NAME.bin (hex).
//
//   node scripts/compile-contracts.js OUT contracts/A.sol contracts/B.sol ...
//
// One compilation of all sources together (they import each other), the
// optimizer on (runs 200), EVM version cancun. Exits non-zero with solc's
// messages on any error; warnings are errors too (a contract that warns is
// not shipped).
'use strict';
const fs = require('fs');
const path = require('path');

const [out, ...files] = process.argv.slice(2);
if (!out || files.length === 0) {
    console.error('usage: compile-contracts.js OUT FILE.sol...');
    process.exit(2);
}
let solc;
try {
    solc = require(path.resolve(__dirname, '..', 'node_modules', 'solc'));
} catch (e) {
    console.error('compile-contracts: node_modules/solc is missing: run scripts/install-deps.sh');
    process.exit(1);
}
const sources = {};
for (const f of files) sources[f] = {content: fs.readFileSync(f, 'utf8')};
const input = {
    language: 'Solidity',
    sources,
    settings: {
        optimizer: {enabled: true, runs: 200},
        evmVersion: 'cancun',
        viaIR: true,
        outputSelection: {'*': {'*': ['abi', 'evm.bytecode.object']}},
    },
};
function findImports(p) {
    try {
        return {contents: fs.readFileSync(p, 'utf8')};
    } catch (e) {
        return {error: 'not found: ' + p};
    }
}
const res = JSON.parse(solc.compile(JSON.stringify(input), {import: findImports}));
let bad = false;
for (const m of res.errors || []) {
    console.error(m.formattedMessage || m.message);
    bad = true;
}
if (bad) process.exit(1);
fs.mkdirSync(out, {recursive: true});
for (const src of Object.keys(res.contracts || {})) {
    for (const [name, c] of Object.entries(res.contracts[src])) {
        const bin = c.evm.bytecode.object;
        if (!bin) continue; // interfaces and abstract contracts
        fs.writeFileSync(path.join(out, name + '.abi'), JSON.stringify(c.abi) + '\n');
        fs.writeFileSync(path.join(out, name + '.bin'), bin + '\n');
    }
}
