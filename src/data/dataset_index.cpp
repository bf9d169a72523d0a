#include "data/dataset_index.h"

#include <limits>
#include <type_traits>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"

namespace frugal::data {

namespace {

using nlohmann::json;

const json& need(const json& j, const char* key, const std::string& where, const std::string& source) {
  if (!j.is_object() || !j.contains(key))
    fail(ErrorKind::kFormat, "{}: missing key \"{}{}\"", source, where, key);
  return j.at(key);
}

template <typename T> T need_as(const json& j, const char* key, const std::string& where, const std::string& source) {
  const json& v = need(j, key, where, source);
  try {
    if constexpr (std::is_integral_v<T>) {
      if (!v.is_number_integer()) throw std::runtime_error("not an integer");
      if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        if (u > uint64_t(std::numeric_limits<T>::max())) throw std::runtime_error("out of range");
        return T(u);
      }
      const int64_t i = v.get<int64_t>();
      if (i < int64_t(std::numeric_limits<T>::min()) ||
          (i > 0 && uint64_t(i) > uint64_t(std::numeric_limits<T>::max())))
        throw std::runtime_error("out of range");
      return T(i);
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!v.is_number()) throw std::runtime_error("not a number");
    } else {
      if (!v.is_string()) throw std::runtime_error("not a string");
    }
    return v.get<T>();
  } catch (const std::exception& e) {
    fail(ErrorKind::kFormat, "{}: key \"{}{}\" has a bad value {} ({})", source, where, key, v.dump(), e.what());
  }
}

}  // namespace

const char* split_name(Split s) { return s == Split::kTrain ? "train" : "val"; }

SplitTotals DatasetIndex::totals(Split s) const {
  SplitTotals t;
  for (const ShardEntry& e : shards)
    if (e.split == s) {
      t.shards += 1;
      t.tokens += e.tokens;
      t.documents += e.documents;
    }
  return t;
}

json DatasetIndex::to_json() const {
  json j;
  j["format"] = kIndexFormat;
  j["version"] = kIndexVersion;
  j["tokenizer"] = {{"path", tokenizer_path}, {"vocab_size", vocab_size}, {"eos_id", eos_id}, {"eos_token", eos_token}};
  j["dtype"] = dtype;
  j["seed"] = seed;
  j["val_fraction"] = val_fraction;
  j["inputs"] = inputs;
  j["shards"] = json::array();
  for (const ShardEntry& e : shards)
    j["shards"].push_back({{"file", e.file}, {"split", split_name(e.split)}, {"tokens", e.tokens},
                           {"documents", e.documents}, {"crc32", e.crc32}, {"bytes", e.bytes}});
  for (Split s : {Split::kTrain, Split::kVal}) {
    const SplitTotals t = totals(s);
    j["totals"][split_name(s)] = {{"shards", t.shards}, {"tokens", t.tokens}, {"documents", t.documents}};
  }
  return j;
}

DatasetIndex DatasetIndex::from_json(const json& j, const std::string& source) {
  if (!j.is_object()) fail(ErrorKind::kFormat, "{}: expected a JSON object", source);
  const std::string format = need_as<std::string>(j, "format", "", source);
  if (format != kIndexFormat)
    fail(ErrorKind::kFormat, "{}: format \"{}\" (expected \"{}\")", source, format, kIndexFormat);
  const int version = need_as<int>(j, "version", "", source);
  if (version != kIndexVersion)
    fail(ErrorKind::kFormat, "{}: unknown index version {} (this build reads version {})", source, version,
         kIndexVersion);
  DatasetIndex d;
  const json& tok = need(j, "tokenizer", "", source);
  d.tokenizer_path = need_as<std::string>(tok, "path", "tokenizer.", source);
  d.vocab_size = need_as<int64_t>(tok, "vocab_size", "tokenizer.", source);
  d.eos_id = need_as<int32_t>(tok, "eos_id", "tokenizer.", source);
  d.eos_token = need_as<std::string>(tok, "eos_token", "tokenizer.", source);
  if (d.vocab_size <= 0 || d.vocab_size > (int64_t(1) << 31) || d.eos_id < 0 || d.eos_id >= d.vocab_size)
    fail(ErrorKind::kFormat, "{}: tokenizer vocab_size {} / eos_id {} out of range", source, d.vocab_size, d.eos_id);
  d.dtype = need_as<std::string>(j, "dtype", "", source);
  d.seed = need_as<uint64_t>(j, "seed", "", source);
  d.val_fraction = need_as<double>(j, "val_fraction", "", source);
  const json& inputs = need(j, "inputs", "", source);
  if (!inputs.is_array()) fail(ErrorKind::kFormat, "{}: \"inputs\" must be an array", source);
  for (const json& s : inputs) {
    if (!s.is_string()) fail(ErrorKind::kFormat, "{}: \"inputs\" must hold strings", source);
    d.inputs.push_back(s.get<std::string>());
  }
  const json& shards = need(j, "shards", "", source);
  if (!shards.is_array()) fail(ErrorKind::kFormat, "{}: \"shards\" must be an array", source);
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string where = fmt::format("shards[{}].", i);
    const json& s = shards[i];
    ShardEntry e;
    e.file = need_as<std::string>(s, "file", where, source);
    if (e.file.empty() || e.file.find('/') != std::string::npos || e.file == "." || e.file == "..")
      fail(ErrorKind::kFormat, "{}: {}file \"{}\" must be a plain file name inside the directory", source, where,
           e.file);
    const std::string split = need_as<std::string>(s, "split", where, source);
    if (split == "train") e.split = Split::kTrain;
    else if (split == "val") e.split = Split::kVal;
    else fail(ErrorKind::kFormat, "{}: {}split \"{}\" (expected \"train\" or \"val\")", source, where, split);
    e.tokens = need_as<int64_t>(s, "tokens", where, source);
    e.documents = need_as<int64_t>(s, "documents", where, source);
    e.bytes = need_as<int64_t>(s, "bytes", where, source);
    e.crc32 = need_as<uint32_t>(s, "crc32", where, source);
    if (e.tokens < 0 || e.documents < 0 || e.bytes < 0)
      fail(ErrorKind::kFormat, "{}: {} has a negative count", source, where);
    d.shards.push_back(std::move(e));
  }
  return d;
}

DatasetIndex DatasetIndex::load(const std::string& dir) {
  const std::string path = path_join(dir, kIndexFile);
  if (!file_exists(path))
    fail(ErrorKind::kIo, "{}: no {}: not a prepared data directory (make one with `frugal data prepare`), or "
         "its preparation did not finish", dir, kIndexFile);
  const std::string text = read_file(path);
  return from_json(parse_json(text, path), path);  // parse_json turns every json::exception (1e400 too) into kFormat
}

void DatasetIndex::save(const std::string& dir) const {
  write_file_atomic(path_join(dir, kIndexFile), to_json().dump(1) + "\n");
}

}  // namespace frugal::data
