#!/usr/bin/env python3
"""Writes the byte-level test tokenizers for the serving tests (tests/data/serve/byte_v3, byte_r1).

The fixture models (tests/data/fixtures/micro_*) have vocab_size 256 with bos 0 and eos 1, so the
tokenizer must fit 256 ids: 16 DeepSeek special tokens at ids 0-15 (BOS 0, EOS 1 as the fixtures
want) and 240 byte tokens at 16-255, with no merges. The 16 bytes left out are the 13 that never
occur in UTF-8 (0xC0, 0xC1, 0xF5-0xFF) and the control bytes 0x01-0x03; text holding one of those
loses it when encoded (a byte-level BPE without that byte drops it, as Hugging Face does).
byte_v3 carries the DeepSeek-V3 chat template, byte_r1 an R1-0528-style one that pre-fills
"<think>\n" (so the server splits reasoning_content). Run from anywhere; it rewrites both folders.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

SPECIALS = [  # (content, special): BOS/EOS/pad are special (skipped when decoding), the rest are text
    ("<｜begin▁of▁sentence｜>", True), ("<｜end▁of▁sentence｜>", True), ("<｜User｜>", False),
    ("<｜Assistant｜>", False), ("<think>", False), ("</think>", False), ("<｜tool▁calls▁begin｜>", False),
    ("<｜tool▁calls▁end｜>", False), ("<｜tool▁call▁begin｜>", False), ("<｜tool▁call▁end｜>", False),
    ("<｜tool▁sep｜>", False), ("<｜tool▁outputs▁begin｜>", False), ("<｜tool▁outputs▁end｜>", False),
    ("<｜tool▁output▁begin｜>", False), ("<｜tool▁output▁end｜>", False), ("<｜▁pad▁｜>", True),
]
DROPPED = {0x01, 0x02, 0x03, 0xC0, 0xC1} | set(range(0xF5, 0x100))


def byte_to_char():  # the GPT-2 byte-level alphabet
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer_json():
    assert len(SPECIALS) == 16 and len(DROPPED) == 16
    b2c = byte_to_char()
    vocab = {}
    for content, _ in SPECIALS:
        vocab[content] = len(vocab)
    for b in range(256):
        if b not in DROPPED:
            vocab[b2c[b]] = len(vocab)
    assert len(vocab) == 256
    added = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": s} for i, (c, s) in enumerate(SPECIALS)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": byte_level, "post_processor": None, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": []},
    }


R1_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}"
    "{% endif %}{% endfor %}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '<｜User｜>' + message['content'] }}{% elif message['role'] == 'assistant' %}"
    "{% set content = message['content'] %}{% if '</think>' in content %}"
    "{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{ '<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<｜Assistant｜><think>\\n' }}{% endif %}"
)


def tokenizer_config(template):
    return {"add_bos_token": True, "add_eos_token": False, "bos_token": SPECIALS[0][0], "eos_token": SPECIALS[1][0],
            "pad_token": SPECIALS[15][0], "unk_token": None, "model_max_length": 256,
            "tokenizer_class": "LlamaTokenizerFast", "chat_template": template}


def main():
    with open(os.path.join(HERE, "..", "tokenizer", "deepseek_v3", "chat_template.jinja"), encoding="utf-8") as f:
        v3_template = f.read()
    for name, template in (("byte_v3", v3_template), ("byte_r1", R1_TEMPLATE)):
        out = os.path.join(HERE, name)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tokenizer_json(), f, ensure_ascii=False, indent=1)
            f.write("\n")
        with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(tokenizer_config(template), f, ensure_ascii=False, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
