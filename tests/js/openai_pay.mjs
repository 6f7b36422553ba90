// openai_pay.mjs — the official OpenAI client against a paid `plow serve`
// (tests/cli/serve_pay.sh): without a voucher the client raises its typed
// 402 error with OpenAI's error fields; with the voucher in a request header
// (the client's per-request `headers` option) it is served, receipt included.
//
//   node tests/js/openai_pay.mjs URL MODEL VOUCHER
import OpenAI from "openai";

const [url, model, voucher] = process.argv.slice(2);
const client = new OpenAI({ baseURL: url + "/v1", apiKey: "plow-test", maxRetries: 0 });
function fail(msg) {
    console.error("FAIL: " + msg);
    process.exit(1);
}
const req = { model, prompt: "ROMEO:", max_tokens: 4, seed: 2 };
try {
    await client.completions.create(req);
    fail("served without a voucher");
} catch (e) {
    if (!(e instanceof OpenAI.APIError) || e.status !== 402) fail(`no voucher: ${e}`);
    if (e.type !== "payment_required" || e.code !== "payment_required") fail(`402 fields: ${e.type} ${e.code}`);
}
const paid = await client.completions.create(req, { headers: { "X-PAYMENT": voucher } });
if (!paid.receipt || !paid.receipt.signature || paid.usage.completion_tokens !== 4) fail("paid answer: " + JSON.stringify(paid));
let streamed = "";
for await (const c of await client.completions.create({ ...req, stream: true }, { headers: { "X-PAYMENT": voucher } }))
    streamed += c.choices[0]?.text ?? "";
if (streamed !== paid.choices[0].text) fail(`streamed ${JSON.stringify(streamed)} != ${JSON.stringify(paid.choices[0].text)}`);
console.log("openai client, paid: ok");
