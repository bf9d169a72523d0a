// Loading tokenizer.json: file resolution (directory, .gz), JSON parsing, and assembly of the
// normalizer, pre-tokenizer, BPE model, added tokens, post-processor and decoder.
#include <zlib.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "tokenizer/tokenizer_impl.h"

namespace frugal::tok {
namespace {

using json = nlohmann::json;

std::string gunzip(const std::string& data, const std::string& path) {
  constexpr size_t kMaxOut = size_t(1) << 31;  // a tokenizer.json is megabytes; refuse a gzip bomb
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) fail(ErrorKind::kInternal, "{}: zlib init failed", path);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = uInt(data.size());
  std::string out;
  out.resize(std::max<size_t>(data.size() * 4, 1 << 16));
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (zs.total_out == out.size()) {
      if (out.size() >= kMaxOut) {
        inflateEnd(&zs);
        fail(ErrorKind::kFormat, "{}: decompressed size exceeds {} bytes", path, kMaxOut);
      }
      out.resize(out.size() * 2);
    }
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + zs.total_out);
    zs.avail_out = uInt(out.size() - zs.total_out);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      fail(ErrorKind::kFormat, "{}: not a valid gzip file (zlib error {})", path, rc);
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      fail(ErrorKind::kFormat, "{}: truncated gzip file", path);
    }
  }
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

bool flag(const json& j, const char* key, bool def, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_boolean()) fail(ErrorKind::kConfig, "{}: field \"{}\" must be a boolean", where, key);
  return j[key].get<bool>();
}

AddedToken parse_added(const json& a, size_t i, const std::string& src) {
  const std::string where = fmt::format("{}: added_tokens[{}]", src, i);
  if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
      !a["content"].is_string())
    fail(ErrorKind::kConfig, "{} needs an integer \"id\" and a string \"content\"", where);
  AddedToken t;
  const int64_t id = a["id"].get<int64_t>();
  if (id < 0 || id >= (int64_t(1) << 26)) fail(ErrorKind::kConfig, "{}: id {} out of range", where, id);
  t.id = int32_t(id);
  t.content = a["content"].get<std::string>();
  if (t.content.empty()) fail(ErrorKind::kConfig, "{}: empty content", where);
  t.special = flag(a, "special", false, where);
  t.lstrip = flag(a, "lstrip", false, where);
  t.rstrip = flag(a, "rstrip", false, where);
  t.single_word = flag(a, "single_word", false, where);
  t.normalized = flag(a, "normalized", !t.special, where);
  return t;
}

// A token id the post-processor adds to every encoding (`field` names it for the message): it
// must name a token of this vocabulary, or every encode would emit an id no model row matches.
int32_t post_id(const json& v, const std::string& field, const std::string& where, const Tokenizer::Impl& im) {
  const bool is_int = v.is_number_integer();
  const int64_t id = is_int ? v.get<int64_t>() : -1;
  if (!is_int || id < 0 || id >= im.vocab_size ||
      (!im.bpe.id_to_token(int32_t(id)) && !im.added_by_id.count(int32_t(id))))
    fail(ErrorKind::kConfig, "{}: post_processor {} is {}, which is not a token id of this vocabulary ({} ids)", where,
         field, v.dump(), im.vocab_size);
  return int32_t(id);
}

std::vector<int32_t> special_ids(const json& specials, const std::string& name, const std::string& where,
                                 const Tokenizer::Impl& im) {
  if (!specials.is_object() || !specials.contains(name) || !specials[name].contains("ids") ||
      !specials[name]["ids"].is_array())
    fail(ErrorKind::kConfig, "{}: post_processor names special token \"{}\" without ids", where, name);
  const json& ids = specials[name]["ids"];
  std::vector<int32_t> out;
  for (size_t i = 0; i < ids.size(); ++i)
    out.push_back(post_id(ids[i], fmt::format("special_tokens[\"{}\"].ids[{}]", name, i), where, im));
  return out;
}

// Fills prefix/suffix ids of the single-sequence template. ByteLevel only adjusts offsets.
void parse_post(const json& p, const std::string& where, Tokenizer::Impl& im) {
  if (p.is_null()) return;
  const std::string type = p.value("type", std::string());
  if (type == "ByteLevel") return;
  if (type == "Sequence") {
    for (const auto& q : p.at("processors")) parse_post(q, where, im);
  } else if (type == "TemplateProcessing") {
    bool seen_a = false;
    for (const auto& item : p.at("single")) {
      if (item.contains("Sequence")) {
        seen_a = true;
      } else if (item.contains("SpecialToken")) {
        static const json kNoSpecials = json::object();
        const json& specials = p.contains("special_tokens") ? p["special_tokens"] : kNoSpecials;
        auto ids = special_ids(specials, item["SpecialToken"].at("id"), where, im);
        auto& dst = seen_a ? im.suffix_ids : im.prefix_ids;
        dst.insert(dst.end(), ids.begin(), ids.end());
      } else {
        fail(ErrorKind::kConfig, "{}: post_processor template item {} is not understood", where, item.dump());
      }
    }
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    im.prefix_ids.push_back(post_id(p.at("cls").at(1), "cls[1]", where, im));
    im.suffix_ids.push_back(post_id(p.at("sep").at(1), "sep[1]", where, im));
  } else {
    fail(ErrorKind::kUnsupported, "{}: post_processor type \"{}\" is not supported", where, type);
  }
}

void parse_decoder(const json& d, const std::string& where, Tokenizer::Impl& im) {
  if (d.is_null()) return;
  const std::string type = d.value("type", std::string());
  if (type == "ByteLevel") {
    im.decoder = Tokenizer::Impl::Decoder::kByteLevel;
  } else if (type == "Sequence" && d.contains("decoders")) {
    for (const auto& e : d["decoders"]) parse_decoder(e, where, im);
  } else {
    fail(ErrorKind::kUnsupported, "{}: decoder type \"{}\" is not supported (ByteLevel)", where, type);
  }
}

}  // namespace

std::string read_tokenizer_file(const std::string& path, std::string* resolved) {
  std::string file = path;
  if (is_directory(path)) {
    file = path_join(path, "tokenizer.json");
    if (!file_exists(file) && file_exists(file + ".gz")) file += ".gz";
    if (!file_exists(file)) fail(ErrorKind::kIo, "{}: directory holds no tokenizer.json", path);
  }
  if (resolved) *resolved = file;
  std::string data = read_file(file);
  const bool gz = file.ends_with(".gz") || (data.size() >= 2 && uint8_t(data[0]) == 0x1F && uint8_t(data[1]) == 0x8B);
  return gz ? gunzip(data, file) : data;
}

std::unique_ptr<Tokenizer::Impl> parse_tokenizer_json(std::string_view text, const std::string& src) {
  static std::atomic<uint64_t> next_instance{1};
  const json j = parse_json(text, src);
  if (!j.is_object()) fail(ErrorKind::kFormat, "{}: top level must be a JSON object", src);
  auto im = std::make_unique<Tokenizer::Impl>();
  im->source = src;
  im->instance = next_instance++;
  try {
    if (!j.contains("model")) fail(ErrorKind::kConfig, "{}: missing \"model\"", src);
    im->normalizer = Normalizer::from_json(j.value("normalizer", json()), src);
    im->pretok = PreTokenizer::from_json(j.value("pre_tokenizer", json()), src);
    // Every id must stay below a bound set by the number of tokens the file defines (bpe.h).
    const json& model = j["model"];
    int64_t n_tokens = 0;
    if (model.is_object() && model.contains("vocab") && model["vocab"].is_object()) n_tokens += model["vocab"].size();
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) n_tokens += j["added_tokens"].size();
    const int64_t id_limit = token_id_limit(n_tokens);
    im->bpe = BpeModel::from_json(model, src, id_limit);
    int64_t max_id = im->bpe.max_id();
    if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
      if (!j["added_tokens"].is_array()) fail(ErrorKind::kConfig, "{}: added_tokens must be an array", src);
      const json& arr = j["added_tokens"];
      im->added.reserve(arr.size());
      for (size_t i = 0; i < arr.size(); ++i) {
        AddedToken t = parse_added(arr[i], i, src);
        if (t.id >= id_limit)
          fail(ErrorKind::kConfig, "{}: added_tokens[{}] has id {}, outside [0, {}): {}", src, i, t.id, id_limit,
               kTokenIdLimitRule);
        if (im->added_by_id.count(t.id))
          fail(ErrorKind::kConfig, "{}: added_tokens[{}] repeats id {}", src, i, t.id);
        max_id = std::max<int64_t>(max_id, t.id);
        im->added_by_id[t.id] = im->added.size();
        im->added_by_content[t.content] = t.id;
        im->added.push_back(std::move(t));
      }
    }
    im->vocab_size = max_id + 1;
    std::vector<const AddedToken*> raw, norm;
    for (const auto& t : im->added) (t.normalized ? norm : raw).push_back(&t);
    im->raw_matcher.build(raw);
    im->norm_matcher.build(norm);
    parse_post(j.value("post_processor", json()), src, *im);
    parse_decoder(j.value("decoder", json()), src, *im);
  } catch (const json::exception& e) {
    fail(ErrorKind::kConfig, "{}: unexpected field type: {}", src, e.what());
  }
  return im;
}

}  // namespace frugal::tok
