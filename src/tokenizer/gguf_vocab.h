// The tokenizer embedded in a GGUF file (llama.cpp's `tokenizer.ggml.*` keys) as a Hugging Face
// tokenizer.json, so Tokenizer::load reads a .gguf like a tokenizer.json.
//
//  * tokenizer.ggml.model must be "gpt2" (byte-level BPE); tokens (strings, id = index) become the
//    BPE vocabulary, merges ("a b") its merges; token_type 3 (control) tokens become special
//    added tokens, 4 (user-defined) non-special added tokens.
//  * tokenizer.ggml.pre picks the pre-tokenizer: "deepseek-v3" (also what DeepSeek-R1 files
//    carry) the V3 split regexes, "gpt2"/"default"/absent GPT-2's byte-level regex; others are
//    refused naming the key (the model still loads; `--ids` works without a tokenizer).
//  * tokenizer.ggml.bos_token_id with add_bos_token (default true when a BOS id is given) becomes
//    the post-processor that encode(text, add_special_tokens = true) applies.
// A token string seen twice keeps its first id (placeholder vocabularies repeat names).
#pragma once
#include <string>

#include "core/gguf.h"
#include "core/gguf_writer.h"
#include "tokenizer/tokenizer_config.h"

namespace frugal {

std::string gguf_tokenizer_json(const GgufFile& f);

// What `add_special_tokens` prepends for this file: the BOS token's text, or "" when none.
std::string gguf_bos_prefix(const GgufFile& f);

// tokenizer_config.json's settings from the same keys: tokenizer.chat_template, the BOS / EOS
// tokens' text (bos_token_id / eos_token_id) and add_bos_token.
TokenizerConfig gguf_tokenizer_config(const GgufFile& f);

// The other way (`frugal export-gguf`): the tokenizer of a model folder as tokenizer.ggml.* keys.
// tokenizer.json's vocabulary and added tokens fill `vocab_size` token slots (ids it does not
// use become "[PAD<id>]", type unused, as llama.cpp's converter writes them), its merges become
// "a b" strings, and its pre-tokenizer must be DeepSeek-V3's ("deepseek-v3") or GPT-2's ("gpt2").
// tokenizer_config.json gives add_bos_token and the chat template. A folder without
// tokenizer.json gets a placeholder vocabulary ("[PAD<id>]", no merges), which loads but cannot
// encode text. Returns a note on what was written.
std::string add_gguf_vocab(GgufWriter& w, const std::string& model_dir, int64_t vocab_size, int64_t bos_id,
                           int64_t eos_id);

}  // namespace frugal
