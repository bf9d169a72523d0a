#!/usr/bin/env bash
# Developer check (not part of CI): train a tokenizer with frugal, load it with Hugging Face
# `tokenizers` (the official Node binding from the npm registry), and require identical ids on
# every line of the 1 MB English corpus plus special tokens, CJK and emoji.
#   tools/check_trained_tokenizer_hf.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FRUGAL=${1:-$ROOT/build}/cli/frugal
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm install --silent --no-audit --no-fund tokenizers@0.23.2 >/dev/null
zcat "$ROOT/tests/data/tokenizer/english_1mb.txt.gz" > corpus.txt
printf 'def f(x):\n    return x**2  # 数字 123456 🙂\n' >> corpus.txt
"$FRUGAL" tokenizer train --input corpus.txt --vocab-size 4000 --out trained --quiet
node -e "
const {Tokenizer} = require('tokenizers');
const fs = require('fs');
(async () => {
  const tok = Tokenizer.fromFile('trained/tokenizer.json');
  const lines = fs.readFileSync('corpus.txt', 'utf8').split('\n').filter(l => l.length);
  lines.push('Hello <｜User｜> world <think>x</think> 12345 数字 🙂');
  const out = [];
  for (const l of lines) out.push(JSON.stringify({ids: Array.from((await tok.encode(l, null, {addSpecialTokens: false})).getIds())}));
  fs.writeFileSync('hf.jsonl', out.join('\n') + '\n');
  fs.writeFileSync('in.jsonl', lines.map(l => JSON.stringify({text: l})).join('\n') + '\n');
})()"
"$FRUGAL" tokenize --tokenizer trained --jsonl < in.jsonl > frugal.jsonl
if cmp -s hf.jsonl frugal.jsonl; then
  echo "ok: Hugging Face tokenizers and frugal agree on $(wc -l < in.jsonl) lines"
else
  echo "MISMATCH between Hugging Face tokenizers and frugal:"; diff hf.jsonl frugal.jsonl | head -5; exit 1
fi
