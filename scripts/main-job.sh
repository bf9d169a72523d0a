#!/usr/bin/env bash
# The main job: install, build (Release), then run frugal on the embedded default model — the
# tiny DeepSeek-V3-layout checkpoint shipped in tests/data (MLA + MoE with shared experts + MTP).
# (Once the training issue lands this becomes "train a tiny model, then generate".)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh build
MODEL=tests/data/fixtures/micro_f32
echo "== frugal inspect $MODEL"
./build/cli/frugal inspect "$MODEL"
echo "== frugal generate (greedy, 16 tokens)"
./build/cli/frugal generate "$MODEL" --ids 241,160,175,229 --max-tokens 16 --temperature 0 --ignore-eos --json --stats
echo "== frugal generate (temperature 0.8, top-p 0.95, seed 42)"
./build/cli/frugal generate "$MODEL" --ids 241,160,175,229 --max-tokens 16 --temperature 0.8 --top-p 0.95 --seed 42 --json
echo "== frugal logits -> /tmp/frugal_logits.npy"
./build/cli/frugal logits "$MODEL" --ids 241,160,175,229 --out /tmp/frugal_logits.npy
echo "== speed check: a random 80M-parameter DeepSeek-V3-shaped model (bf16), 256-token prompt"
[ -f build/models/small_bf16/model.safetensors ] ||
  ./build/cli/frugal random-model build/models/small_bf16 --preset small --dtype bf16 --seed 1
IDS=$(seq -s, 2 257)
./build/cli/frugal generate build/models/small_bf16 --ids "$IDS" --max-tokens 64 --temperature 0 --ignore-eos --json --stats \
  | cut -c1-120
echo "== tokenizer: train a 4k-token byte-level BPE on the shipped 1 MB English sample, encode, render a chat"
zcat tests/data/tokenizer/english_1mb.txt.gz > build/english_1mb.txt
./build/cli/frugal tokenizer train --input build/english_1mb.txt --vocab-size 4000 --out build/models/tok4k
echo '{"text": "The quick brown fox jumps over the lazy dog."}' | ./build/cli/frugal tokenize --tokenizer build/models/tok4k --jsonl
echo '{"messages": [{"role": "user", "content": "Hello!"}], "add_generation_prompt": true}' |
  ./build/cli/frugal chat-template --tokenizer build/models/tok4k --jsonl
