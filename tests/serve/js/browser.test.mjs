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

async function setControls({ temperature, maxTokens, seed }) {
  await page.fill("#temperature", String(temperature));
  await page.fill("#max_tokens", String(maxTokens));
  await page.fill("#seed", seed === undefined ? "" : String(seed));
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
  const aborted = async () => {
    const m = (await (await fetch(base + "/metrics")).text()).match(/frugal:num_aborted_requests_total\{[^}]*\} (\d+)/);
    return Number(m[1]);
  };
  // A random model may emit EOS early; ask the server to ignore it so the answer is long enough to stop.
  await page.route("**/v1/chat/completions", (route) =>
    route.continue({ postData: JSON.stringify({ ...JSON.parse(route.request().postData()), ignore_eos: true }) }));
  // The tiny model can finish 200 tokens before the click lands on a loaded machine: then the answer
  // is "done" (or the server already sent all of it) and we try again. A page or server that cannot
  // stop fails every attempt.
  let stopped = false;
  for (let attempt = 0; attempt < 3 && !stopped; attempt++) {
    const before = await aborted();
    await page.click("#clear");
    await setControls({ temperature: 1, maxTokens: 200 });  // + the prompt: within the 256-token context
    await page.fill("#prompt", "Write a very long essay.");
    // Press Stop from inside the page the moment the first reasoning text shows (a round trip from
    // here per check would often come too late).
    await page.evaluate(() => {
      const obs = new MutationObserver(() => {
        const t = document.querySelector(".msg.assistant details.reasoning .text");
        const stop = document.getElementById("stop");
        if (t && t.textContent.length > 0 && !stop.disabled) {
          obs.disconnect();
          stop.click();
        }
      });
      obs.observe(document.getElementById("messages"), { subtree: true, childList: true, characterData: true });
    });
    await page.click("#send");
    await page.waitForFunction(() => /^(stopped|done)/.test(document.getElementById("status").textContent), null,
                               { timeout: 30000 });
    if ((await page.textContent("#status")) !== "stopped") continue;
    assert.equal(await page.$eval("#send", (b) => b.disabled), false);
    assert.equal(await page.$eval("#stop", (b) => b.disabled), true);
    // The page stopped; the server counts an abort unless it had already sent the whole answer.
    for (let i = 0; i < 100 && !stopped; i++) {
      await new Promise((r) => setTimeout(r, 20));
      stopped = (await aborted()) === before + 1;
    }
  }
  assert.ok(stopped, "in 3 attempts the server never counted a stopped answer as aborted");
  await page.unroute("**/v1/chat/completions");
});

test("the page loads nothing from elsewhere", () => {
  assert.deepEqual(foreign, []);
});
