// The chat page in a real browser: Debian's chromium (CHROMIUM, default /usr/bin/chromium) driven by
// playwright-core, against a reasoning model (FRUGAL_URL_R1: the R1-style template, so answers
// carry reasoning_content). Checks streaming into the page, the collapsible reasoning section, the
// stop button (the server sees the hang-up), the parameter controls, and that the page makes no
// request anywhere but its own server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const base = process.env.FRUGAL_URL_R1;
let browser, page;
const foreign = [];  // requests to anything but the server

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  page = await browser.newPage();
  page.on("request", (r) => { if (!r.url().startsWith(base)) foreign.push(r.url()); });
  await page.goto(base + "/");
  await page.waitForFunction(() => document.getElementById("model").textContent.startsWith("micro_f32"));
});

after(async () => { if (browser) await browser.close(); });

async function api(body) {
  const res = await fetch(base + "/v1/chat/completions", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(res.status, 200);
  return res.json();
}

async function setControls({ temperature, maxTokens, seed }, on = page) {
  await on.fill("#temperature", String(temperature));
  await on.fill("#max_tokens", String(maxTokens));
  await on.fill("#seed", seed === undefined ? "" : String(seed));
}

test("an answer streams in with its reasoning in a collapsible section", async () => {
  await page.click("#clear");
  await setControls({ temperature: 0, maxTokens: 40 });
  await page.fill("#prompt", "Why is the sky blue?");
  await page.press("#prompt", "Enter");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("done"), null,
                             { timeout: 30000 });
  const want = await api({ messages: [{ role: "user", content: "Why is the sky blue?" }], max_tokens: 40,
                           temperature: 0, top_p: 1 });
  const msg = want.choices[0].message;
  assert.ok(msg.reasoning_content.length > 0, "the R1 template leaves the model inside <think>");
  const shown = await page.$eval(".msg.assistant", (div) => ({
    reasoning: div.querySelector("details.reasoning .text")?.textContent ?? null,
    content: div.querySelector(".content").textContent,
    open: div.querySelector("details.reasoning")?.open ?? null,
  }));
  assert.equal(shown.reasoning, msg.reasoning_content);
  assert.equal(shown.content, msg.content);
  // The section folds and unfolds.
  const before = shown.open;
  await page.click("details.reasoning summary");
  assert.equal(await page.$eval("details.reasoning", (d) => d.open), !before);
  assert.ok((await page.textContent(".usage")).includes("completion tokens"));
});

test("the seed and temperature controls reach the server", async () => {
  const answer = async () => {
    await page.click("#clear");
    await setControls({ temperature: 1.5, maxTokens: 12, seed: 99 });
    await page.fill("#prompt", "Pick a word.");
    await page.click("#send");
    await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("done"), null,
                               { timeout: 30000 });
    return page.$eval(".msg.assistant", (d) => d.textContent);
  };
  const a = await answer(), b = await answer();
  assert.equal(a, b);  // same seed, same sample
  const want = await api({ messages: [{ role: "user", content: "Pick a word." }], max_tokens: 12, temperature: 1.5,
                           top_p: 1, seed: 99 });
  assert.ok(a.includes(want.choices[0].message.reasoning_content));
});

test("the stop button ends the stream and the server cancels the generation", async () => {
  // Its own page on FRUGAL_URL_R1_SLOW: a random "tiny"-preset model with the R1 template, slow
  // enough that the click always lands mid-answer (the micro fixture writes a whole 200-token
  // answer in milliseconds, before a click can arrive).
  const slowBase = process.env.FRUGAL_URL_R1_SLOW;
  const p = await browser.newPage();
  p.on("request", (r) => { if (!r.url().startsWith(slowBase)) foreign.push(r.url()); });
  await p.goto(slowBase + "/");
  await p.waitForFunction(() => document.getElementById("model").textContent.startsWith("slow"));
  const metric = async (name) => {
    const m = (await (await fetch(slowBase + "/metrics")).text()).match(new RegExp(name + "\\{[^}]*\\} (\\d+)"));
    assert.ok(m, name + " missing from /metrics");
    return Number(m[1]);
  };
  const before = await metric("frugal:num_aborted_requests_total");
  // A random model may emit EOS early; ask the server to ignore it so the answer is long enough to stop.
  await p.route("**/v1/chat/completions", (route) =>
    route.continue({ postData: JSON.stringify({ ...JSON.parse(route.request().postData()), ignore_eos: true }) }));
  await setControls({ temperature: 1, maxTokens: 2000 }, p);
  await p.fill("#prompt", "Write a very long essay.");
  // Press Stop from inside the page once a few characters of the answer show (a round trip from
  // here per check could come late).
  await p.evaluate(() => {
    const obs = new MutationObserver(() => {
      // Streamed text only (the message's own labels do not count): reasoning, then content.
      const shown = [...document.querySelectorAll(".msg.assistant details.reasoning .text, .msg.assistant .content")]
        .reduce((n, e) => n + e.textContent.length, 0);
      const stop = document.getElementById("stop");
      if (shown > 8 && !stop.disabled) {
        obs.disconnect();
        stop.click();
      }
    });
    obs.observe(document.getElementById("messages"), { subtree: true, childList: true, characterData: true });
  });
  await p.click("#send");
  await p.waitForFunction(() => /^(stopped|done)/.test(document.getElementById("status").textContent), null,
                          { timeout: 30000 });
  assert.equal(await p.textContent("#status"), "stopped");
  assert.equal(await p.$eval("#send", (b) => b.disabled), false);
  assert.equal(await p.$eval("#stop", (b) => b.disabled), true);
  let cancelled = false, idle = false;
  for (let i = 0; i < 100 && !(cancelled && idle); i++) {
    await new Promise((r) => setTimeout(r, 20));
    cancelled = (await metric("frugal:num_aborted_requests_total")) === before + 1;
    idle = (await metric("frugal:num_requests_running")) === 0;
  }
  assert.ok(cancelled, "the server did not count the stopped answer as aborted");
  assert.ok(idle, "the engine was still generating for the stopped answer");
  await p.close();
});

test("the page loads nothing from elsewhere", () => {
  assert.deepEqual(foreign, []);
});
