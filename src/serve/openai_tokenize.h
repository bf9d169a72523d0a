// The JSON routes that do not generate — POST /tokenize, /detokenize and /apply-template — as
// functions from a parsed body to the serialized response body, so they are validated in one place and can be
// tested and fuzzed without a socket (fuzz/fuzz_serve_request.cpp). Each throws ApiError (400
// naming the field) for a bad body. `cancel` ends a chat-template render (RequestLimits::cancel).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "serve/openai_model.h"

namespace frugal::serve {

// {"content"|"prompt": text, "add_special": bool, "with_pieces": bool} or {"messages": [...], ...}
// -> {"tokens": [...], "count": n, "max_model_len": ctx}, written without a JSON tree (tokenize_json.h)
std::string tokenize_response(const nlohmann::ordered_json& body, const ServedModel& model,
                              const std::atomic<bool>* cancel = nullptr);
// {"tokens": [ids], "skip_special_tokens": bool} -> {"content": text}
std::string detokenize_response(const nlohmann::ordered_json& body, const ServedModel& model);
// {"messages": [...], "tools": [...], ...} -> {"prompt": the rendered chat template}
std::string apply_template_response(const nlohmann::ordered_json& body, const ServedModel& model,
                                    const std::atomic<bool>* cancel = nullptr);

}  // namespace frugal::serve
