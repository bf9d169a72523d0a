// The JSON routes that do not generate — POST /tokenize, /detokenize and /apply-template — as
// functions from a parsed body to the response body, so they are validated in one place and can be
// tested and fuzzed without a socket (fuzz/fuzz_serve_request.cpp). Each throws ApiError (400
// naming the field) for a bad body.
#pragma once
#include <nlohmann/json.hpp>

#include "serve/openai_model.h"

namespace frugal::serve {

// {"content"|"prompt": text, "add_special": bool, "with_pieces": bool} or {"messages": [...], ...}
// -> {"tokens": [...], "count": n, "max_model_len": ctx}
nlohmann::ordered_json tokenize_response(const nlohmann::ordered_json& body, const ServedModel& model);
// {"tokens": [ids], "skip_special_tokens": bool} -> {"content": text}
nlohmann::ordered_json detokenize_response(const nlohmann::ordered_json& body, const ServedModel& model);
// {"messages": [...], "tools": [...], ...} -> {"prompt": the rendered chat template}
nlohmann::ordered_json apply_template_response(const nlohmann::ordered_json& body, const ServedModel& model);

}  // namespace frugal::serve
