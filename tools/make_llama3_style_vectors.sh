#!/usr/bin/env bash
# Regenerates tests/data/tokenizer/llama3_style: a Llama-3-style tokenizer.json over a
# frugal-trained 4k vocabulary, and its reference vectors from Hugging Face `tokenizers` 0.23.2
# (npm Node binding). Developer tool; needs python3, node/npm and a built frugal.
#   tools/make_llama3_style_vectors.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FRUGAL=${1:-$ROOT/build}/cli/frugal
OUT=$ROOT/tests/data/tokenizer/llama3_style
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm install --silent --no-audit --no-fund tokenizers@0.23.2 >/dev/null
zcat "$ROOT/tests/data/tokenizer/english_1mb.txt.gz" > corpus.txt
"$FRUGAL" tokenizer train --input corpus.txt --vocab-size 4000 --out trained --quiet
ROOT="$ROOT" python3 - <<'PY'
import gzip, json, os
root = os.environ["ROOT"]
t = json.load(open("trained/tokenizer.json"))
llama_re = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
t["normalizer"] = {"type": "NFC"}
t["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": llama_re}, "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
t["model"]["ignore_merges"] = True
base = len(t["model"]["vocab"]) + len(t["added_tokens"])
def added(i, content, special, single_word=False, lstrip=False, normalized=False):
    return {"id": base + i, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": False,
            "normalized": normalized, "special": special}
t["added_tokens"] += [added(0, "<|begin_of_text|>", True), added(1, "<|eot_id|>", True),
                      added(2, "[NOT_SPECIAL]", False, single_word=True, lstrip=True, normalized=True)]
bos = {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}
t["post_processor"] = {"type": "TemplateProcessing", "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
    "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
             {"Sequence": {"id": "B", "type_id": 1}}],
    "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [base], "tokens": ["<|begin_of_text|>"]}}}
json.dump(t, open("llama3_style.json", "w"), ensure_ascii=False)
texts = [json.loads(l)["text"] for l in gzip.open(root + "/tests/data/tokenizer/deepseek_v3/vectors.jsonl.gz", "rt")
         if json.loads(l)["name"] != "unicode16_chars"]
texts += ["I'M sure he'S there, they'RE not. WE'LL see.", "x = [NOT_SPECIAL] y  [NOT_SPECIAL]z",
          "<|begin_of_text|>Hi<|eot_id|>", "Cafe\u0301 vs Caf\u00e9", "tabs\t\tand   spaces \n\n\n end  ",
          "12345678 3.14159 1,000,000"]
json.dump(texts, open("texts.json", "w"), ensure_ascii=False)
PY
node -e "
const {Tokenizer} = require('tokenizers'); const fs = require('fs');
(async () => {
  const tok = Tokenizer.fromFile('llama3_style.json');
  const out = [];
  for (const t of JSON.parse(fs.readFileSync('texts.json', 'utf8'))) {
    const a = Array.from((await tok.encode(t, null, {addSpecialTokens: false})).getIds());
    const b = Array.from((await tok.encode(t, null, {addSpecialTokens: true})).getIds());
    out.push(JSON.stringify({text: t, ids: a, ids_with_special: b, decoded: await tok.decode(a, false),
                             decoded_skip_special: await tok.decode(a, true)}));
  }
  fs.writeFileSync('vectors.jsonl', out.join('\n') + '\n');
})()"
mkdir -p "$OUT"
gzip -9 -c llama3_style.json > "$OUT/tokenizer.json.gz"
gzip -9 -c vectors.jsonl > "$OUT/vectors.jsonl.gz"
echo "wrote $OUT"
