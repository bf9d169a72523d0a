#include "serve/chat_page.h"

namespace frugal::serve {

namespace {

// Model text is only ever inserted with textContent (never innerHTML), so a reply cannot inject
// markup. Element ids are what tests/serve/js/test_browser.mjs drives.
const char* const kPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>frugal chat</title>
<style>
  :root { --bg: #f7f7f8; --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --accent: #0969da; --user: #ddf4ff; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg);
         display: grid; grid-template-columns: 1fr 260px; height: 100vh; }
  main { display: flex; flex-direction: column; min-width: 0; height: 100vh; }
  header { padding: 8px 16px; border-bottom: 1px solid var(--line); display: flex; gap: 12px; align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; }
  #status { color: var(--muted); font-size: 13px; }
  #messages { flex: 1; overflow-y: auto; padding: 16px; }
  .msg { max-width: 820px; margin: 0 auto 12px; padding: 10px 14px; border-radius: 8px; background: #fff;
         border: 1px solid var(--line); white-space: pre-wrap; overflow-wrap: anywhere; }
  .msg.user { background: var(--user); }
  .msg .role { font-size: 12px; color: var(--muted); margin-bottom: 4px; }
  .msg.error { border-color: #cf222e; color: #cf222e; }
  details.reasoning { margin: 4px 0 8px; color: var(--muted); }
  details.reasoning summary { cursor: pointer; font-size: 13px; }
  details.reasoning .text { border-left: 3px solid var(--line); padding-left: 8px; font-size: 14px; }
  .usage { font-size: 12px; color: var(--muted); margin-top: 6px; }
  form { display: flex; gap: 8px; padding: 12px 16px; border-top: 1px solid var(--line); }
  textarea { flex: 1; resize: vertical; min-height: 44px; font: inherit; padding: 8px; }
  button { font: inherit; padding: 6px 14px; border-radius: 6px; border: 1px solid var(--line); background: #fff; cursor: pointer; }
  button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
  button:disabled { opacity: .5; cursor: default; }
  aside { border-left: 1px solid var(--line); padding: 12px; overflow-y: auto; background: #fff; }
  aside label { display: block; font-size: 13px; margin: 10px 0 2px; color: var(--muted); }
  aside input, aside textarea { width: 100%; font: inherit; padding: 4px 6px; }
  @media (max-width: 700px) { body { grid-template-columns: 1fr; } aside { display: none; } }
</style>
</head>
<body>
<main>
  <header><h1>frugal</h1><span id="model">…</span><span id="status"></span></header>
  <div id="messages" aria-live="polite"></div>
  <form id="form">
    <textarea id="prompt" placeholder="Message (Enter to send, Shift+Enter for a new line)" rows="2"></textarea>
    <button id="send" class="primary" type="submit">Send</button>
    <button id="stop" type="button" disabled>Stop</button>
    <button id="clear" type="button">New chat</button>
  </form>
</main>
<aside>
  <label for="system">System prompt</label><textarea id="system" rows="3"></textarea>
  <label for="temperature">Temperature</label><input id="temperature" type="number" min="0" max="2" step="0.05" value="0.7">
  <label for="top_p">Top p</label><input id="top_p" type="number" min="0.01" max="1" step="0.01" value="1">
  <label for="max_tokens">Max tokens</label><input id="max_tokens" type="number" min="1" step="1" value="512">
  <label for="seed">Seed (empty: random)</label><input id="seed" type="number" min="0" step="1">
  <label for="api_key">API key (if the server needs one)</label><input id="api_key" type="password" autocomplete="off">
</aside>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const history = [];      // {role, content} of finished turns
let controller = null;   // AbortController of the running request
let modelName = null;

$("api_key").value = localStorage.getItem("frugal_api_key") || "";
$("api_key").addEventListener("change", () => localStorage.setItem("frugal_api_key", $("api_key").value));

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api_key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function setStatus(text) { $("status").textContent = text; }

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  const r = document.createElement("div");
  r.className = "role";
  r.textContent = role;
  div.appendChild(r);
  const body = document.createElement("div");
  body.className = "content";
  body.textContent = text || "";
  div.appendChild(body);
  $("messages").appendChild(div);
  $("messages").scrollTop = $("messages").scrollHeight;
  return div;
}

async function loadModel() {
  try {
    const res = await fetch("/v1/models", { headers: headers() });
    const j = await res.json();
    if (!res.ok) throw new Error(j.error ? j.error.message : res.statusText);
    modelName = j.data[0].id;
    $("model").textContent = modelName + " · context " + j.data[0].max_model_len;
  } catch (e) {
    $("model").textContent = "(model unavailable: " + e.message + ")";
  }
}

function numberOr(id, fallback) {
  const v = $(id).value.trim();
  return v === "" ? fallback : Number(v);
}

async function send(text) {
  const user = { role: "user", content: text };
  addMessage("user", text);
  const div = addMessage("assistant", "");
  const content = div.querySelector(".content");
  let reasoningBox = null, reasoningText = null;
  const messages = [];
  const sys = $("system").value.trim();
  if (sys) messages.push({ role: "system", content: sys });
  messages.push(...history, user);
  const body = {
    model: modelName || undefined, messages, stream: true, stream_options: { include_usage: true },
    temperature: numberOr("temperature", 0.7), top_p: numberOr("top_p", 1), max_tokens: numberOr("max_tokens", 512),
  };
  const seed = numberOr("seed", null);
  if (seed !== null) body.seed = seed;
  controller = new AbortController();
  $("send").disabled = true;
  $("stop").disabled = false;
  setStatus("generating…");
  let answer = "", finish = null;
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), body: JSON.stringify(body), signal: controller.signal });
    if (!res.ok) {
      let msg = res.status + " " + res.statusText;
      try { const j = await res.json(); if (j.error) msg = j.error.message; } catch (_) {}
      throw new Error(msg);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();   // stream: true keeps a character cut between reads whole
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue;   // ": ping" comments
          const data = line.slice(6);
          if (data === "[DONE]") continue;
          const j = JSON.parse(data);
          if (j.error) throw new Error(j.error.message);
          if (j.usage) {
            const u = document.createElement("div");
            u.className = "usage";
            u.textContent = j.usage.prompt_tokens + " prompt + " + j.usage.completion_tokens + " completion tokens" +
                            (finish ? " · " + finish : "");
            div.appendChild(u);
          }
          for (const c of j.choices || []) {
            const d = c.delta || {};
            if (d.reasoning_content) {
              if (!reasoningBox) {
                reasoningBox = document.createElement("details");
                reasoningBox.className = "reasoning";
                reasoningBox.open = true;
                const s = document.createElement("summary");
                s.textContent = "Reasoning";
                reasoningBox.appendChild(s);
                reasoningText = document.createElement("div");
                reasoningText.className = "text";
                reasoningBox.appendChild(reasoningText);
                div.insertBefore(reasoningBox, content);
              }
              reasoningText.textContent += d.reasoning_content;
            }
            if (d.content) { answer += d.content; content.textContent = answer; }
            if (d.tool_calls) content.textContent += "\n[tool call] " + JSON.stringify(d.tool_calls);
            if (c.finish_reason) finish = c.finish_reason;
          }
          $("messages").scrollTop = $("messages").scrollHeight;
        }
      }
    }
    if (reasoningBox && answer) reasoningBox.open = false;   // collapse once the answer is there
    history.push(user, { role: "assistant", content: answer });
    setStatus(finish ? "done (" + finish + ")" : "done");
  } catch (e) {
    if (e.name === "AbortError") {
      history.push(user, { role: "assistant", content: answer });
      setStatus("stopped");
    } else {
      div.classList.add("error");
      content.textContent = answer + (answer ? "\n" : "") + "Error: " + e.message;
      setStatus("error");
    }
  } finally {
    controller = null;
    $("send").disabled = false;
    $("stop").disabled = true;
  }
}

$("form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("prompt").value;
  if (!text.trim() || controller) return;
  $("prompt").value = "";
  send(text);
});
$("prompt").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("form").requestSubmit(); }
});
$("stop").addEventListener("click", () => { if (controller) controller.abort(); });
$("clear").addEventListener("click", () => {
  if (controller) controller.abort();
  history.length = 0;
  $("messages").textContent = "";
  setStatus("");
});
loadModel();
</script>
</body>
</html>
)HTML";

}  // namespace

const std::string& chat_page_html() {
  static const std::string page(kPage);
  return page;
}

}  // namespace frugal::serve
