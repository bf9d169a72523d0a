#include "serve/tokenize_json.h"

#include <fmt/format.h>

#include "serve/openai_response.h"

namespace frugal::serve {

std::string tokenize_json(const Tokenizer& tok, const std::vector<int32_t>& ids, bool with_pieces,
                          int64_t max_model_len) {
  std::string out = "{\"tokens\":[";
  for (size_t k = 0; k < ids.size(); ++k) {
    if (k) out += ',';
    if (!with_pieces) {
      fmt::format_to(std::back_inserter(out), "{}", ids[k]);
      continue;
    }
    fmt::format_to(std::back_inserter(out), "{{\"id\":{},\"piece\":", ids[k]);
    out += dump_json(ojson(tok.decode({ids[k]}, false)));  // the same string escaping as every answer
    out += '}';
  }
  fmt::format_to(std::back_inserter(out), "],\"count\":{},\"max_model_len\":{}}}", ids.size(), max_model_len);
  return out;
}

std::string tokenize_json_ref(const Tokenizer& tok, const std::vector<int32_t>& ids, bool with_pieces,
                              int64_t max_model_len) {
  ojson tokens = ojson::array();
  for (int32_t id : ids) tokens.push_back(with_pieces ? ojson{{"id", id}, {"piece", tok.decode({id}, false)}} : ojson(id));
  return dump_json(ojson{{"tokens", std::move(tokens)}, {"count", ids.size()}, {"max_model_len", max_model_len}});
}

}  // namespace frugal::serve
