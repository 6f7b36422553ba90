// openai.mjs — the official OpenAI client (npm `openai`, pinned by
// package-lock.json) against `plow serve`, configured with a base URL and a
// key only. Driven by tests/cli/serve.sh:
//
//   node tests/js/openai.mjs URL MODEL OUTDIR
//
// Checks completions and chat, streamed and not; the same seed gives the same
// text (and streamed text equals the whole answer); concurrent requests give
// the tokens they give one at a time (continuous batching); errors arrive as
// the client's typed errors with OpenAI's fields. Writes every receipt to
// OUTDIR/*.json for `plow verify-receipt`. Exits non-zero naming the failure.
import { writeFileSync } from "node:fs";
import OpenAI from "openai";

const [url, model, outdir] = process.argv.slice(2);
const client = new OpenAI({ baseURL: url + "/v1", apiKey: "plow-test" });

function fail(msg) {
    console.error("FAIL: " + msg);
    process.exit(1);
}
function eq(a, b, what) {
    if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
}
function save(name, receipt) {
    if (!receipt || !receipt.signature) fail(`${name}: no signed receipt`);
    writeFileSync(`${outdir}/${name}.json`, JSON.stringify(receipt));
}

const models = await client.models.list();
eq(models.data.map((m) => m.id), [model], "models.list");

// completions: seeded, twice -> the same text and tokens
const req = { model, prompt: "ROMEO:\n", max_tokens: 24, seed: 7, temperature: 0.9, top_p: 0.95 };
const a = await client.completions.create(req);
const b = await client.completions.create(req);
eq(a.choices[0].text, b.choices[0].text, "same seed, same text");
eq(a.receipt.output_tokens, b.receipt.output_tokens, "same seed, same tokens");
eq(a.usage.prompt_tokens, a.receipt.prompt_tokens.length, "usage.prompt_tokens");
eq(a.usage.completion_tokens, a.receipt.output_tokens.length, "usage.completion_tokens");
eq(a.usage.total_tokens, a.usage.prompt_tokens + a.usage.completion_tokens, "usage.total_tokens");
if (a.choices[0].finish_reason !== "length") fail("24 tokens without a stop: finish_reason " + a.choices[0].finish_reason);
save("completion", a.receipt);
const other = await client.completions.create({ ...req, seed: 8 });
if (JSON.stringify(other.receipt.output_tokens) === JSON.stringify(a.receipt.output_tokens)) fail("seed 8 gave seed 7's tokens");

// streaming completion: the chunks add up to the whole answer
let text = "", receipt = null, finish = null;
for await (const chunk of await client.completions.create({ ...req, stream: true })) {
    text += chunk.choices[0]?.text ?? "";
    if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
    if (chunk.receipt) receipt = chunk.receipt;
}
eq(text, a.choices[0].text, "streamed completion text");
eq(receipt.output_tokens, a.receipt.output_tokens, "streamed completion tokens");
eq(finish, "length", "streamed finish_reason");
save("completion_stream", receipt);

// a stop string ends the text before it
const stop = await client.completions.create({ ...req, max_tokens: 60, stop: ["e"] });
if (stop.choices[0].text.includes("e")) fail("the text goes past its stop string: " + JSON.stringify(stop.choices[0].text));
if (stop.choices[0].finish_reason !== "stop" && stop.receipt.output_tokens.length !== 60) fail("stop: finish_reason");

// chat, whole and streamed (with usage)
const msgs = [
    { role: "system", content: "You are a player." },
    { role: "user", content: "Speak, friend." },
];
const chat = await client.chat.completions.create({ model, messages: msgs, max_tokens: 20, seed: 3 });
if (chat.choices[0].message.role !== "assistant") fail("chat: role " + chat.choices[0].message.role);
save("chat", chat.receipt);
let ctext = "", creceipt = null, usage = null, role = null;
const cs = await client.chat.completions.create({
    model, messages: msgs, max_tokens: 20, seed: 3, stream: true, stream_options: { include_usage: true },
});
for await (const chunk of cs) {
    if (chunk.choices.length) {
        ctext += chunk.choices[0].delta.content ?? "";
        role = role ?? chunk.choices[0].delta.role;
    }
    if (chunk.usage) usage = chunk.usage;
    if (chunk.receipt) creceipt = chunk.receipt;
}
eq(ctext, chat.choices[0].message.content, "streamed chat text");
eq(role, "assistant", "streamed chat role");
eq(usage, chat.usage, "streamed chat usage");
eq(creceipt.output_tokens, chat.receipt.output_tokens, "streamed chat tokens");
save("chat_stream", creceipt);

// continuous batching: six different requests at once == the same one at a time
const many = [0, 1, 2, 3, 4, 5].map((i) => ({
    model, prompt: ["To be", "KING:", "O", "What light", "Now is", "Friends,"][i], max_tokens: 40 + 7 * i,
    seed: 100 + i, temperature: 1.0, top_k: 40,
}));
const alone = [];
for (const r of many) alone.push((await client.completions.create(r)).receipt.output_tokens);
const together = (await Promise.all(many.map((r) => client.completions.create(r)))).map((x) => x.receipt.output_tokens);
eq(together, alone, "concurrent requests vs one at a time");
const streams = await Promise.all(many.map(async (r) => {
    let last = null;
    for await (const chunk of await client.completions.create({ ...r, stream: true })) if (chunk.receipt) last = chunk.receipt;
    return last.output_tokens;
}));
eq(streams, alone, "concurrent streams vs one at a time");

// errors: the client's typed errors, OpenAI's fields, and the server lives on
async function expectError(what, p, status, param, code) {
    try {
        await p;
    } catch (e) {
        if (!(e instanceof OpenAI.APIError)) fail(`${what}: not an APIError: ${e}`);
        if (e.status !== status) fail(`${what}: status ${e.status}, expected ${status}: ${e.message}`);
        if (param !== undefined && e.param !== param) fail(`${what}: param ${e.param}, expected ${param}`);
        if (code !== undefined && e.code !== code) fail(`${what}: code ${e.code}, expected ${code}`);
        if (typeof e.error?.message !== "string" || typeof e.type !== "string") fail(`${what}: not OpenAI's error shape`);
        return;
    }
    fail(`${what}: no error`);
}
await expectError("unknown model", client.completions.create({ ...req, model: "nope" }), 404, "model", "model_not_found");
await expectError("temperature 5", client.completions.create({ ...req, temperature: 5 }), 400, "temperature");
await expectError("n = 2", client.completions.create({ ...req, n: 2 }), 400, "n");
await expectError("max_tokens 0", client.completions.create({ ...req, max_tokens: 0 }), 400, "max_tokens");
await expectError("prompt too long", client.completions.create({ ...req, prompt: "x ".repeat(5000) }), 400, "prompt",
    "context_length_exceeded");
await expectError("bad role", client.chat.completions.create({ model, messages: [{ role: "robot", content: "hi" }] }), 400,
    "messages[0]");
await expectError("stream of an unknown model", client.chat.completions.create({ model: "nope", messages: msgs, stream: true }),
    404, "model");
const again = await client.completions.create(req);
eq(again.choices[0].text, a.choices[0].text, "after the errors");
console.log(`openai client: ok (${many.length} concurrent requests equal to one at a time)`);
