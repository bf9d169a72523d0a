#include "serve/openai_fields.h"

#include <cmath>

#include "serve/openai_error.h"

namespace frugal::serve {

const char* json_type_name(const ojson& v) {
  switch (v.type()) {
    case ojson::value_t::null: return "null";
    case ojson::value_t::boolean: return "a boolean";
    case ojson::value_t::string: return "a string";
    case ojson::value_t::array: return "a list";
    case ojson::value_t::object: return "an object";
    case ojson::value_t::number_integer:
    case ojson::value_t::number_unsigned: return "an integer";
    case ojson::value_t::number_float: return "a number";
    default: return "an unknown value";
  }
}

std::string field_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

const ojson* field(const ojson& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<bool> get_bool(const ojson& obj, const char* key, const std::string& path) {
  const ojson* v = field(obj, key);
  if (!v) return std::nullopt;
  const std::string p = field_path(path, key);
  if (!v->is_boolean()) bad_request(p, "'{}' must be true or false, not {}", p, json_type_name(*v));
  return v->get<bool>();
}

std::optional<std::string> get_string(const ojson& obj, const char* key, const std::string& path) {
  const ojson* v = field(obj, key);
  if (!v) return std::nullopt;
  const std::string p = field_path(path, key);
  if (!v->is_string()) bad_request(p, "'{}' must be a string, not {}", p, json_type_name(*v));
  return v->get<std::string>();
}

std::optional<double> get_number(const ojson& obj, const char* key, const std::string& path, double lo, double hi) {
  const ojson* v = field(obj, key);
  if (!v) return std::nullopt;
  const std::string p = field_path(path, key);
  if (!v->is_number()) bad_request(p, "'{}' must be a number, not {}", p, json_type_name(*v));
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) bad_request(p, "'{}' must be a number in [{}, {}], got {}", p, lo, hi, x);
  return x;
}

std::optional<int64_t> get_int(const ojson& obj, const char* key, const std::string& path, int64_t lo, int64_t hi) {
  const ojson* v = field(obj, key);
  if (!v) return std::nullopt;
  const std::string p = field_path(path, key);
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > uint64_t(hi)) bad_request(p, "'{}' must be an integer in [{}, {}], got {}", p, lo, hi, u);
    return int64_t(u);
  }
  if (!v->is_number_integer())
    bad_request(p, "'{}' must be an integer in [{}, {}], not {}", p, lo, hi, json_type_name(*v));
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi) bad_request(p, "'{}' must be an integer in [{}, {}], got {}", p, lo, hi, x);
  return x;
}

std::optional<uint64_t> get_uint64(const ojson& obj, const char* key, const std::string& path) {
  const ojson* v = field(obj, key);
  if (!v) return std::nullopt;
  const std::string p = field_path(path, key);
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  if (v->is_number_integer() && v->get<int64_t>() >= 0) return uint64_t(v->get<int64_t>());
  bad_request(p, "'{}' must be an integer in [0, 2^64)", p);
}

}  // namespace frugal::serve
