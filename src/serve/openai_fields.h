// Typed getters for request fields: each returns the value or throws a 400 ApiError naming the field
// and what was expected. A JSON null counts as absent (clients send null for "not given").
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace frugal::serve {

using ojson = nlohmann::ordered_json;

const char* json_type_name(const ojson& v);

// The member `key` of object `obj`, or nullptr when absent or null.
const ojson* field(const ojson& obj, const char* key);

std::optional<bool> get_bool(const ojson& obj, const char* key, const std::string& path);
std::optional<std::string> get_string(const ojson& obj, const char* key, const std::string& path);
// A finite number in [lo, hi] (NaN, Infinity and 1e400 are refused).
std::optional<double> get_number(const ojson& obj, const char* key, const std::string& path, double lo, double hi);
// An integer (not 1.5, not "3") in [lo, hi].
std::optional<int64_t> get_int(const ojson& obj, const char* key, const std::string& path, int64_t lo, int64_t hi);
// An integer in [0, 2^64) (seeds).
std::optional<uint64_t> get_uint64(const ojson& obj, const char* key, const std::string& path);

// `path` + "." + key, or key alone at the top level.
std::string field_path(const std::string& path, const std::string& key);

}  // namespace frugal::serve
