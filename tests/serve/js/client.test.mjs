// `frugal serve` through the official openai npm client: chat and completions, streaming and not,
// errors as the client's typed exceptions, and at temperature 0 the same text as `frugal generate`.
// Started by run.sh, which sets FRUGAL_URL_V3 (API key FRUGAL_TEST_API_KEY), FRUGAL_BINARY, FRUGAL_MODEL
// and FRUGAL_TOKENIZER_V3.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
// The client's documented switch to the runtime's own fetch (node >= 18 has one) instead of its
// bundled node-fetch 2, whose check for cut-off chunked bodies misfires on node 18 with a
// keep-alive agent: every streamed answer ends in a false "Premature close" there, against any
// server (node's own http server included), while node 20 is unaffected.
import "openai/shims/web";
import OpenAI from "openai";

const base = process.env.FRUGAL_URL_V3;
const key = process.env.FRUGAL_TEST_API_KEY;
const client = new OpenAI({ baseURL: base + "/v1", apiKey: key, maxRetries: 0 });
const MODEL = "micro_f32";

// What `frugal generate` prints at temperature 0 (without its final newline).
function generate(prompt, maxTokens, chat) {
  const args = ["generate", process.env.FRUGAL_MODEL, "--tokenizer", process.env.FRUGAL_TOKENIZER_V3, "--prompt", prompt,
                "--max-tokens", String(maxTokens), "--temperature", "0"];
  if (chat) args.push("--chat");
  return execFileSync(process.env.FRUGAL_BINARY, args, { encoding: "utf8" }).replace(/\n$/, "");
}

test("models.list names the model directory", async () => {
  const page = await client.models.list();
  assert.equal(page.data.length, 1);
  assert.equal(page.data[0].id, MODEL);
});

test("chat, not streaming, equals frugal generate --chat at temperature 0", async () => {
  const want = generate("Tell me a story.", 24, true);
  const r = await client.chat.completions.create({
    model: MODEL, messages: [{ role: "user", content: "Tell me a story." }], max_tokens: 24, temperature: 0 });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices[0].message.role, "assistant");
  assert.equal(r.choices[0].message.content, want);
  assert.ok(["stop", "length"].includes(r.choices[0].finish_reason));
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test("chat, streaming, with usage, equals the same text", async () => {
  const want = generate("Tell me a story.", 24, true);
  const stream = await client.chat.completions.create({
    model: MODEL, messages: [{ role: "user", content: "Tell me a story." }], max_tokens: 24, temperature: 0,
    stream: true, stream_options: { include_usage: true } });
  let text = "", finish = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(text, want);
  assert.ok(chunks > 2);
  assert.ok(finish);
  assert.ok(usage && usage.completion_tokens > 0);
});

test("completions, streaming and not, equal frugal generate", async () => {
  const prompt = "Once upon a time, 中文";
  const want = generate(prompt, 30, false);
  const r = await client.completions.create({ model: MODEL, prompt, max_tokens: 30, temperature: 0 });
  assert.equal(r.object, "text_completion");
  assert.equal(r.choices[0].text, want);
  const stream = await client.completions.create({ model: MODEL, prompt, max_tokens: 30, temperature: 0, stream: true });
  let text = "";
  for await (const chunk of stream) for (const c of chunk.choices) text += c.text;
  assert.equal(text, want);
});

test("n, seed, logprobs and stop strings", async () => {
  const r = await client.chat.completions.create({
    model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 8, n: 2, seed: 3, temperature: 1,
    logprobs: true, top_logprobs: 2 });
  assert.equal(r.choices.length, 2);
  for (const c of r.choices) {
    assert.ok(c.logprobs.content.length > 0);
    for (const t of c.logprobs.content) {
      assert.equal(typeof t.token, "string");
      assert.ok(t.logprob <= 0);
      assert.ok(Array.isArray(t.bytes));
      assert.equal(t.top_logprobs.length, 2);
    }
  }
  const again = await client.chat.completions.create({
    model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 8, n: 2, seed: 3, temperature: 1 });
  assert.equal(again.choices[0].message.content, r.choices[0].message.content);
  // A stop string taken from the greedy output: the answer ends right before it.
  const full = (await client.completions.create({ model: MODEL, prompt: "abc", max_tokens: 30, temperature: 0 })).choices[0].text;
  const cut = [...full].slice(3, 5).join("");
  if (cut.length > 0 && !cut.includes("\uFFFD")) {
    const r2 = await client.completions.create({ model: MODEL, prompt: "abc", max_tokens: 30, temperature: 0, stop: [cut] });
    assert.equal(r2.choices[0].text, full.slice(0, full.indexOf(cut)));
    assert.equal(r2.choices[0].finish_reason, "stop");
  }
});

test("errors arrive as the client's typed exceptions", async () => {
  const bad = new OpenAI({ baseURL: base + "/v1", apiKey: "wrong", maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  await assert.rejects(
    client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "x" }], temperature: 5 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === "temperature" &&
           e.error?.type === "invalid_request_error");
  await assert.rejects(
    client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
  await assert.rejects(
    client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "x" }],
                                     response_format: { type: "json_object" } }),
    (e) => e.status === 400 && e.param === "response_format");
  await assert.rejects(
    client.completions.create({ model: MODEL, prompt: "x", max_tokens: 100000 }),
    (e) => e.status === 400 && e.code === "context_length_exceeded");
  await assert.rejects(client.embeddings.create({ model: MODEL, input: "x" }), (e) => e.status === 404);
});

test("aborting a stream cancels the generation on the server", async () => {
  // Against FRUGAL_URL_SLOW: a random "tiny"-preset model (no API key) whose 2000-token answer
  // takes seconds, so the hang-up always reaches the server mid-generation. (The micro fixture
  // writes its whole 240-token answer in a few milliseconds, faster than the client can react.)
  const slowBase = process.env.FRUGAL_URL_SLOW;
  const slow = new OpenAI({ baseURL: slowBase + "/v1", apiKey: "none", maxRetries: 0 });
  const metric = async (name) => {
    const text = await (await fetch(slowBase + "/metrics")).text();
    const m = text.match(new RegExp(name + "(?:\\{[^}]*\\})? (\\d+)"));
    assert.ok(m, name + " missing from /metrics");
    return Number(m[1]);
  };
  const before = await metric("frugal:num_aborted_requests_total");
  const controller = new AbortController();
  const stream = await slow.chat.completions.create(
    { model: "slow", messages: [{ role: "user", content: "go" }], max_tokens: 2000, temperature: 1,
      ignore_eos: true, stream: true },
    { signal: controller.signal });
  // Hang up after a few content chunks (the client ends its iteration quietly on abort).
  let chunks = 0;
  for await (const _ of stream) {
    if (++chunks === 4) {
      controller.abort();
      break;
    }
  }
  let cancelled = false, idle = false;
  for (let i = 0; i < 100 && !(cancelled && idle); i++) {
    await new Promise((r) => setTimeout(r, 20));
    cancelled = (await metric("frugal:num_aborted_requests_total")) === before + 1;
    idle = (await metric("frugal:num_requests_running")) === 0;
  }
  assert.ok(cancelled, "frugal:num_aborted_requests_total did not count the hang-up");
  assert.ok(idle, "the engine was still generating for the client that hung up");
});
