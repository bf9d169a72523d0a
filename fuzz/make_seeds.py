#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ (docs/fuzzing.md): small valid inputs, taken from
tests/data where a small one exists and made by hand otherwise. Run from anywhere; rerunning
rewrites the same files. Inputs the fuzzers found later are added to corpus/ by hand, not here."""
import gzip
import json
import os
import struct
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(rel, mode="rb"):
    with open(os.path.join(DATA, rel), mode) as f:
        return f.read()


def compact(obj):  # nlohmann's dump(): sorted keys, no spaces
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# ---- safetensors -------------------------------------------------------------------------------
DTYPES = {"F32": ("<f", 4), "F16": ("<e", 2), "BF16": (None, 2), "F8_E4M3": (None, 1), "F64": ("<d", 8),
          "I64": ("<q", 8), "I32": ("<i", 4), "U8": ("<B", 1), "BOOL": ("<B", 1), "U16": ("<H", 2)}


def safetensors(tensors, metadata=None, pad=True):
    """tensors: [(name, dtype, shape)], data = bytes 0, 1, 2, ... (any bit pattern is a valid value)."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape in tensors:
        n = DTYPES[dtype][1]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        blobs.append(bytes((offset + i) % 256 for i in range(n)))
        offset += n
    text = compact(header).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def safetensors_seeds():
    put("safetensors", "f32_2x3", safetensors([("w", "F32", [2, 3])]))
    put("safetensors", "mla_names", safetensors(
        [("model.layers.0.self_attn.kv_a_proj_with_mqa.weight", "BF16", [4, 3]),
         ("model.layers.0.self_attn.kv_a_layernorm.weight", "BF16", [2]),
         ("model.layers.0.mlp.gate.e_score_correction_bias", "F32", [4]),
         ("model.layers.0.mlp.experts.0.down_proj.weight", "F8_E4M3", [2, 4]),
         ("model.layers.0.mlp.experts.0.down_proj.weight_scale_inv", "F32", [1, 1])],
        {"format": "pt"}))
    put("safetensors", "dtypes", safetensors(
        [("a", "F64", [2]), ("b", "I64", [1, 2]), ("c", "I32", [3]), ("d", "F16", [2, 2]), ("e", "U16", [1]),
         ("f", "U8", [5]), ("g", "BOOL", [2])]))
    put("safetensors", "scalar_and_empty", safetensors([("s", "F32", []), ("z", "F32", [0, 4]), ("t", "F32", [1])]))
    put("safetensors", "unpadded_unaligned", safetensors([("u8", "U8", [3]), ("f", "F32", [2])], pad=False))
    put("safetensors", "metadata_only", safetensors([], {"format": "pt", "note": "empty"}))
    put("safetensors", "no_tensors", safetensors([]))


def safetensors_index_seeds():
    # The two shards the target writes: a (F32 [1]), b (F32 [2]) in shard 1, c (F32 [1]) in shard 2.
    s1, s2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
    put("safetensors_index", "valid", json.dumps(
        {"metadata": {"total_size": 16}, "weight_map": {"a": s1, "b": s1, "c": s2}}, indent=2))
    put("safetensors_index", "one_shard", json.dumps({"metadata": {}, "weight_map": {"a": s1, "b": s1}}))
    put("safetensors_index", "wrong_shard", json.dumps({"weight_map": {"a": s2, "b": s1, "c": s2}}))
    put("safetensors_index", "escape", json.dumps({"weight_map": {"x": "../outside.safetensors"}}))


# ---- config.json -------------------------------------------------------------------------------
def hf_config_seeds():
    for v in ["micro_f32", "micro_bf16", "micro_fp8", "micro_v2"]:
        put("hf_config", v, read(f"fixtures/{v}/config.json"))


# ---- tokenizer.json ----------------------------------------------------------------------------
def trimmed_tokenizer(path, keep=300, added=6):
    """A real tokenizer.json with its vocabulary cut to the first `keep` ids (merges that stay inside
    it kept) and its first `added` added tokens renumbered after it: every other section as shipped."""
    j = json.load(gzip.open(os.path.join(DATA, path)))
    m = j["model"]
    vocab = {t: i for t, i in m["vocab"].items() if i < keep}
    ids = sorted(vocab.values())
    remap = {old: new for new, old in enumerate(ids)}
    vocab = {t: remap[i] for t, i in vocab.items()}
    merges = []
    for mg in m["merges"]:
        a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(mg)
    m["vocab"], m["merges"] = vocab, merges
    new_added, base = [], len(vocab)
    for k, t in enumerate(j["added_tokens"][:added]):
        t = dict(t)
        t["id"] = base + k
        new_added.append(t)
    j["added_tokens"] = new_added
    pp = j.get("post_processor") or {}
    if pp.get("special_tokens"):
        first = new_added[0]["content"]
        pp["special_tokens"] = {first: {"id": first, "ids": [base], "tokens": [first]}}
    for part in pp.get("single", []) + pp.get("pair", []):
        if "SpecialToken" in part:
            part["SpecialToken"]["id"] = new_added[0]["content"]
    return json.dumps(j, ensure_ascii=False)


def tokenizer_json_seeds():
    put("tokenizer_json", "byte_v3", read("serve/byte_v3/tokenizer.json"))
    put("tokenizer_json", "deepseek_v3_trimmed", trimmed_tokenizer("tokenizer/deepseek_v3/tokenizer.json.gz"))
    put("tokenizer_json", "qwen3_trimmed", trimmed_tokenizer("tokenizer/qwen3/tokenizer.json.gz"))
    put("tokenizer_json", "llama3_style_trimmed", trimmed_tokenizer("tokenizer/llama3_style/tokenizer.json.gz"))


# ---- tokenizer_config.json and chat templates --------------------------------------------------
def tokenizer_config_seeds():
    put("tokenizer_config", "byte_v3", read("serve/byte_v3/tokenizer_config.json"))
    put("tokenizer_config", "byte_r1", read("serve/byte_r1/tokenizer_config.json"))
    put("tokenizer_config", "deepseek_v3", read("tokenizer/deepseek_v3/tokenizer_config.json"))
    put("tokenizer_config", "qwen3", read("tokenizer/qwen3/tokenizer_config.json"))
    put("tokenizer_config", "named_list", json.dumps({
        "bos_token": {"content": "<s>", "lstrip": False}, "eos_token": "</s>", "add_bos_token": True,
        "chat_template": [{"name": "tool_use", "template": "{{ tools }}"},
                          {"name": "default", "template": "{% for m in messages %}{{ bos_token + m['content'] }}{% endfor %}"}]}))


SMALL_TEMPLATES = {
    "loops_filters": "{%- for m in messages -%}{{ loop.index }}:{{ m.role|upper }}={{ m.content|trim|length }}"
                     "{% if not loop.last %}, {% endif %}{%- endfor %}{{ messages|map(attribute='role')|join('/') }}",
    "macro_ns": "{% macro show(m, sep='|') %}{{ m['role'] ~ sep ~ m['content'] }}{% endmacro %}"
                "{% set ns = namespace(n=0) %}{% for m in messages if m.role != 'system' %}{% set ns.n = ns.n + 1 %}"
                "{{ show(m) }}{% endfor %}{{ ns.n }}{{ range(3)|list }}{{ messages[-1:]|tojson }}",
    "strings": "{{ 'abc'[::-1] }}{{ 'a,b'.split(',') }}{{ 'x %s'|replace('%s', 3|string) }}{{ 'Hi'.startswith('H') }}"
               "{{ {'k': [1, 2.5, none, true]}|tojson(indent=2) }}{{ (messages|first).content.replace('H', 'J') }}"
               "{% if add_generation_prompt is defined and add_generation_prompt %}<gen>{% endif %}{{ raise_exception('x') if false }}",
}


def chat_template_seeds():
    conv = {}
    for name in ["deepseek_v3", "qwen3"]:
        with open(os.path.join(DATA, f"tokenizer/{name}/chat.jsonl")) as f:
            conv[name] = [json.loads(line) for line in f if line.strip()]
    for name in ["deepseek_v3", "qwen3"]:
        tmpl = read(f"tokenizer/{name}/chat_template.jinja").decode()
        # Three conversations per template: the first, one with tools (if any), one with the most messages.
        picks = [conv[name][0]]
        picks += [c for c in conv[name] if c.get("tools")][:1]
        picks.append(max(conv[name], key=lambda c: len(c["messages"])))
        for k, c in enumerate(picks):
            req = {key: c[key] for key in ("messages", "add_generation_prompt", "tools") if key in c}
            put("chat_template", f"{name}_{k}", tmpl + "\0" + json.dumps(req, ensure_ascii=False))
    for name, tmpl in SMALL_TEMPLATES.items():
        put("chat_template", name, tmpl + "\0" + json.dumps(
            {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": " Hi "}],
             "add_generation_prompt": True}))


# ---- serve request bodies ----------------------------------------------------------------------
def serve_request_seeds():
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    tool = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    bodies = {
        "0": [{"model": "micro", "messages": msgs, "max_tokens": 8, "temperature": 0.7, "top_p": 0.9, "seed": 1,
               "stop": ["\n\n", "END"], "n": 2, "logprobs": True, "top_logprobs": 2, "stream": True,
               "stream_options": {"include_usage": True}},
              {"messages": msgs + [{"role": "assistant", "content": None, "tool_calls": [
                  {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                  {"role": "tool", "tool_call_id": "c1", "content": "sunny"}],
               "tools": [tool], "tool_choice": "auto", "max_completion_tokens": 4},
              {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": " there"}]}],
               "presence_penalty": 0.5, "frequency_penalty": -0.5, "top_k": 40, "min_p": 0.05, "logit_bias": {},
               "response_format": {"type": "text"}, "chat_template_kwargs": {"thinking": True}}],
        "1": [{"model": "micro", "prompt": "Once upon a time", "max_tokens": 4, "logprobs": 2, "echo": False},
              {"prompt": [0, 5, 6, 7], "stop": "x", "stream": True, "seed": 18446744073709551615}],
        "2": [{"content": "Hello <｜User｜> world", "add_special": True, "with_pieces": True},
              {"messages": msgs, "add_generation_prompt": True, "tools": [tool]}],
        "3": [{"tokens": [0, 10, 200, 255, 1], "skip_special_tokens": True}],
        "4": [{"messages": msgs, "chat_template_kwargs": {"x": 1}}],
    }
    for route, items in bodies.items():
        for k, body in enumerate(items):
            text = json.dumps(body, ensure_ascii=False)
            put("serve_request", f"v3_route{route}_{k}", route + text)
            put("serve_request", f"r1_route{route}_{k}", str(int(route) + 5) + text)


# ---- .npy --------------------------------------------------------------------------------------
def npy(descr, shape, data, version=1, fortran=False):
    shape_text = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shape_text)
    prefix = 10 if version == 1 else 12
    d += " " * ((64 - (prefix + len(d) + 1) % 64) % 64) + "\n"
    head = b"\x93NUMPY" + bytes([version, 0]) + (struct.pack("<H", len(d)) if version == 1 else struct.pack("<I", len(d)))
    return head + d.encode() + data


def npy_seeds():
    put("npy", "input_ids", read("fixtures/oracles/input_ids.npy"))
    put("npy", "f32_2x3", npy("<f4", [2, 3], struct.pack("<6f", 1, 2, 3, 4, 5, -6)))
    put("npy", "i64_ids", npy("<i8", [4], struct.pack("<4q", 0, 1, 2, 3)))
    put("npy", "u16_ids_v2", npy("<u2", [3], struct.pack("<3H", 7, 8, 65535), version=2))
    put("npy", "u1_v3", npy("|u1", [2, 2], bytes([1, 2, 3, 4]), version=3))
    put("npy", "f8_scalar", npy("<f8", [], struct.pack("<d", 0.5)))
    put("npy", "i4_empty", npy("<i4", [0], b""))
    put("npy", "bool", npy("|b1", [3], bytes([0, 1, 1])))
    put("npy", "f2_native", npy("=f2", [2], struct.pack("<2e", 1.0, -2.0)))


# ---- token shards and index.json ---------------------------------------------------------------
def shard(tokens, vocab, eos, documents):
    width = 2 if vocab <= 65536 else 4
    payload = struct.pack("<%d%s" % (len(tokens), "H" if width == 2 else "I"), *tokens)
    head = (b"FRGLTOK\0" + struct.pack("<IIII", 1, 64, width, zlib.crc32(payload))
            + struct.pack("<QQIIQQ", len(tokens), vocab, eos, 0, documents, 0))
    return head + payload


def token_shard_seeds():
    put("token_shard", "u16", shard([5, 6, 7, 1, 8, 299, 9, 1, 0, 1], 300, 1, 3))
    put("token_shard", "u32", shard([70000, 1, 129279, 2], 129280, 1, 1))
    put("token_shard", "empty", shard([], 300, 1, 0))


def dataset_index_seeds():
    # Must match the shards fuzz_dataset_index.cpp writes.
    train = shard([5, 6, 7, 1, 8, 299, 9, 1, 0, 1], 300, 1, 3)
    val = shard([3, 4, 1, 2], 300, 1, 1)
    entry = lambda f, split, n, docs, b: {"file": f, "split": split, "tokens": n, "documents": docs,
                                          "crc32": zlib.crc32(b[64:]), "bytes": len(b)}
    index = {"format": "frugal.tokens", "version": 1,
             "tokenizer": {"path": "tok/tokenizer.json", "vocab_size": 300, "eos_id": 1, "eos_token": "</s>"},
             "dtype": "uint16", "seed": 0, "val_fraction": 0.25, "inputs": ["a.txt", "b.jsonl"],
             "shards": [entry("train_00000.bin", "train", 10, 3, train), entry("val_00000.bin", "val", 4, 1, val)],
             "totals": {"train": {"shards": 1, "tokens": 10, "documents": 3},
                        "val": {"shards": 1, "tokens": 4, "documents": 1}}}
    put("dataset_index", "valid", json.dumps(index, indent=1))
    index["shards"] = index["shards"][:1]
    put("dataset_index", "train_only", json.dumps(index))
    index["shards"] = [dict(index["shards"][0], file="../outside.bin")]
    put("dataset_index", "escape", json.dumps(index))


# ---- checkpoint meta.json ----------------------------------------------------------------------
def checkpoint_meta_seeds():
    # The state.safetensors that fuzz_checkpoint_meta.cpp writes: w (2x3) then adam.m (2), f32,
    # header with "__metadata__": {"format": "frugal-checkpoint"}, padded to 8 bytes with spaces.
    header = {"__metadata__": {"format": "frugal-checkpoint"},
              "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "adam.m": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]}}
    text = compact(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    state = struct.pack("<Q", len(text)) + text + struct.pack("<6f", 1, 2, 3, 4, 5, 6) + struct.pack("<2f", 0.5, -0.5)
    meta = {"seed": 7}
    doc = {"format": "frugal-checkpoint", "version": 1, "step": 1,
           "files": {"state.safetensors": {"bytes": len(state), "crc32": "%08x" % zlib.crc32(state)}},
           "meta": meta, "meta_crc32": "%08x" % zlib.crc32(compact(meta).encode())}
    put("checkpoint_meta", "valid", json.dumps(doc, indent=2, sort_keys=True) + "\n")
    doc["meta"] = {"model": {"hidden_size": 64, "names": ["a", "b"]}, "lr": 0.001, "loader": {"pos": 12345}}
    doc["meta_crc32"] = "%08x" % zlib.crc32(compact(doc["meta"]).encode())
    put("checkpoint_meta", "rich_meta", json.dumps(doc))


# ---- GGUF --------------------------------------------------------------------------------------
def gguf(kvs, tensors, alignment=32):
    """kvs: [(key, type_id, packed value bytes)]; tensors: [(name, ne, ggml_type, data bytes)]."""
    def string(v):
        v = v.encode() if isinstance(v, str) else v
        return struct.pack("<Q", len(v)) + v
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += string(k) + struct.pack("<I", t) + v
    offset, data = 0, b""
    for name, ne, t, d in tensors:
        out += string(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out += struct.pack("<IQ", t, offset)
        pad = (alignment - len(d) % alignment) % alignment
        data += d + bytes(pad)
        offset += len(d) + pad
    out += bytes((alignment - len(out) % alignment) % alignment)
    return out + data


def gguf_u32(v):
    return (4, struct.pack("<I", v))


def gguf_f32(v):
    return (6, struct.pack("<f", v))


def gguf_str(v):
    v = v.encode()
    return (8, struct.pack("<Q", len(v)) + v)


def gguf_arr(elem, values):
    if elem == 8:
        body = b"".join(struct.pack("<Q", len(x.encode())) + x.encode() for x in values)
    else:
        body = b"".join(struct.pack("<i", x) for x in values)
    return (9, struct.pack("<IQ", elem, len(values)) + body)


def gguf_tiny_deepseek2(q8=False):
    """A 1-layer dense deepseek2 model (vocab 8, hidden 32, one head, kv_lora 32, nope/rope/v 2/2/2)
    with split k_b / v_b and an embedded 8-token vocabulary; q8 stores attn_output... as Q8_0."""
    V, D, C, dn, dr, dv, I = 8, 32, 32, 2, 2, 2, 32
    def f32(n, scale=0.05):
        return struct.pack("<%df" % n, *[((i * 37) % 17 - 8) * scale for i in range(n)])
    def q8_rows(rows, cols):  # Q8_0 blocks: fp16 scale 0.01 then 32 int8
        block = struct.pack("<e", 0.01) + bytes((i * 7) % 256 for i in range(32))
        return block * (rows * cols // 32)
    P = "deepseek2."
    kv = [("general.architecture",) + gguf_str("deepseek2"), (P + "block_count",) + gguf_u32(1),
          (P + "context_length",) + gguf_u32(64), (P + "embedding_length",) + gguf_u32(D),
          (P + "feed_forward_length",) + gguf_u32(I), (P + "attention.head_count",) + gguf_u32(1),
          (P + "attention.kv_lora_rank",) + gguf_u32(C), (P + "attention.key_length",) + gguf_u32(C + dr),
          (P + "attention.value_length",) + gguf_u32(C), (P + "attention.key_length_mla",) + gguf_u32(dn + dr),
          (P + "attention.value_length_mla",) + gguf_u32(dv), (P + "rope.dimension_count",) + gguf_u32(dr),
          (P + "rope.freq_base",) + gguf_f32(10000.0), (P + "attention.layer_norm_rms_epsilon",) + gguf_f32(1e-6),
          (P + "leading_dense_block_count",) + gguf_u32(1), (P + "expert_feed_forward_length",) + gguf_u32(I),
          ("tokenizer.ggml.model",) + gguf_str("gpt2"), ("tokenizer.ggml.pre",) + gguf_str("deepseek-v3"),
          ("tokenizer.ggml.tokens",) + gguf_arr(8, ["a", "b", "c", "ab", "Ġ", "<s>", "</s>", "x"]),
          ("tokenizer.ggml.token_type",) + gguf_arr(5, [1, 1, 1, 1, 1, 3, 3, 1]),
          ("tokenizer.ggml.merges",) + gguf_arr(8, ["a b"]),
          ("tokenizer.ggml.bos_token_id",) + gguf_u32(5), ("tokenizer.ggml.eos_token_id",) + gguf_u32(6)]
    proj = (lambda rows, cols: (8, q8_rows(rows, cols))) if q8 else (lambda rows, cols: (0, f32(rows * cols)))
    def mat(name, rows, cols):
        t, d = proj(rows, cols)
        return (name, [cols, rows], t, d)
    ts = [("token_embd.weight", [D, V], 0, f32(V * D)), ("blk.0.attn_norm.weight", [D], 0, f32(D, 0.1)),
          mat("blk.0.attn_q.weight", dn + dr, D), mat("blk.0.attn_kv_a_mqa.weight", C + dr, D),
          ("blk.0.attn_kv_a_norm.weight", [C], 0, f32(C, 0.1)),
          ("blk.0.attn_k_b.weight", [dn, C, 1], 0, f32(dn * C)), ("blk.0.attn_v_b.weight", [C, dv, 1], 0, f32(C * dv)),
          ("blk.0.attn_output.weight", [dv, D], 0, f32(D * dv)), ("blk.0.ffn_norm.weight", [D], 0, f32(D, 0.1)),
          mat("blk.0.ffn_gate.weight", I, D), mat("blk.0.ffn_up.weight", I, D), mat("blk.0.ffn_down.weight", D, I),
          ("output_norm.weight", [D], 0, f32(D, 0.1)), ("output.weight", [D, V], 0, f32(V * D))]
    return gguf(kv, ts)


def gguf_seeds():
    put("gguf", "tiny_deepseek2_f32", gguf_tiny_deepseek2())
    put("gguf", "tiny_deepseek2_q8_0", gguf_tiny_deepseek2(q8=True))


# ---- dictionaries -----------------------------------------------------------------------------
JSON_TOKENS = ['{', '}', '[', ']', ',', ':', '"', '\\"', '\\\\', '\\u0000', '\\ud800', 'true', 'false', 'null',
               '-0', '1e400', '-1', '0.5', '18446744073709551616', '9223372036854775807', '2147483648']
JINJA_TOKENS = ['{{', '}}', '{%', '%}', '{#', '#}', '{%-', '-%}', '{{-', '-}}', 'for', 'endfor', 'if', 'elif', 'else',
                'endif', 'set', 'endset', 'macro', 'endmacro', 'call', 'endcall', 'filter', 'endfilter', 'raw',
                'endraw', 'break', 'continue', 'in', 'not', 'and', 'or', 'is', 'loop', 'namespace', 'range',
                'raise_exception', 'caller', 'none', 'true', 'false', '|', '~', '**', '//', '[::-1]', 'messages',
                'tools', 'add_generation_prompt', 'role', 'content', 'tojson', 'join', 'map', 'selectattr',
                'items', 'length', 'default', 'defined', 'startswith', 'split', 'strip', 'append', 'update']


def json_keys(obj, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(k)
            if k not in ("vocab", "added_tokens_decoder"):  # token strings and ids, not field names
                json_keys(v, out)
    elif isinstance(obj, list):
        for v in obj:
            json_keys(v, out)


def dict_entry(t):
    """libFuzzer's dictionary syntax: a quoted string with \\\\, \\" and \\xNN escapes."""
    raw = t if isinstance(t, bytes) else t.encode()
    out = ""
    for b in raw:
        c = chr(b)
        out += "\\" + c if c in '\\"' else c if 0x20 <= b < 0x7f else "\\x%02x" % b
    return '"' + out + '"'


def write_dicts():
    """fuzz/dicts/<target>.dict: JSON (and Jinja) syntax plus every object key of the target's seeds,
    so mutations produce known field names instead of waiting for the fuzzer to find them."""
    d = os.path.join(ROOT, "fuzz", "dicts")
    os.makedirs(d, exist_ok=True)
    for target in sorted(os.listdir(CORPUS)):
        keys = set()
        for name in os.listdir(os.path.join(CORPUS, target)):
            raw = open(os.path.join(CORPUS, target, name), "rb").read()
            for part in raw.split(b"\0"):
                for start in (0, 1):  # serve_request seeds begin with a route digit
                    try:
                        json_keys(json.loads(part[start:].decode()), keys)
                        break
                    except (ValueError, UnicodeDecodeError):
                        pass
        tokens = list(JSON_TOKENS) + sorted(keys)
        if target in ("chat_template", "tokenizer_config"):
            tokens += JINJA_TOKENS
        if target == "npy":
            tokens = [b"\x93NUMPY", "descr", "fortran_order", "shape", "True", "False", "<f4", "<i8", "|u1", "(", ")",
                      ",)", "'", "{", "}", "L"]
        if target in ("token_shard", "safetensors"):
            tokens += ["FRGLTOK"] if target == "token_shard" else ["__metadata__", "F32", "BF16", "F8_E4M3", "I64"]
        seen = []
        for t in tokens:
            if t not in seen:
                seen.append(t)
        with open(os.path.join(d, target + ".dict"), "w") as f:
            f.write("# Written by fuzz/make_seeds.py.\n")
            for t in seen:
                f.write(dict_entry(t) + "\n")


if __name__ == "__main__":
    for fn in [safetensors_seeds, safetensors_index_seeds, hf_config_seeds, tokenizer_json_seeds,
               tokenizer_config_seeds, chat_template_seeds, serve_request_seeds, npy_seeds, token_shard_seeds,
               dataset_index_seeds, checkpoint_meta_seeds, gguf_seeds]:
        fn()
    write_dicts()
