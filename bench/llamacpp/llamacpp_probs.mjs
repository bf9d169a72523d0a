// node llamacpp_probs.mjs MODEL.gguf IDS_CSV N_GREEDY OUT.json
// llama.cpp's view of a GGUF through the npm package node-llama-cpp (install it outside the repo:
// `npm install node-llama-cpp` in a scratch folder, then run node from there with this file's
// path). CPU only, F32 KV cache, flash attention off. Writes {probs: [one {token: p} per prompt
// position, full vocabulary, temperature 1, no truncation], greedy: [N_GREEDY ids]}.
// docs/quantization.md (GGUF, Against llama.cpp) compares them with `frugal logits` / `generate`.
import fs from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [, , modelPath, idsCsv, nGreedy, outPath] = process.argv;
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.warn});
const model = await llama.loadModel({modelPath, defaultContextFlashAttention: false});
const ctx = await model.createContext({contextSize: 128, batchSize: 128, threads: 2, flashAttention: false,
                                       experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32"});
const seq = ctx.getSequence();
const ids = idsCsv.split(",").map(Number);
const opts = {temperature: 1, topK: 0, topP: 1, minP: 0};
const res = await seq.controlledEvaluate(ids.map((t) => [t, {generateNext: {probabilities: true, options: opts}}]));
const probs = res.map((r) => Object.fromEntries(r.next.probabilities));
await seq.clearHistory();
const greedy = [];
for await (const tok of seq.evaluate(ids, {temperature: 0})) {
  greedy.push(tok);
  if (greedy.length >= Number(nGreedy)) break;
}
fs.writeFileSync(outPath, JSON.stringify({probs, greedy}));
console.log("greedy", greedy.join(","));
