#include "serve/openai_error.h"

namespace frugal::serve {

nlohmann::ordered_json error_json(const std::string& message, const std::string& type, const std::string& param,
                          const std::string& code) {
  // param and code are null when absent, as OpenAI sends them.
  using ojson = nlohmann::ordered_json;
  ojson e{{"message", message},
          {"type", type},
          {"param", param.empty() ? ojson(nullptr) : ojson(param)},
          {"code", code.empty() ? ojson(nullptr) : ojson(code)}};
  return ojson{{"error", std::move(e)}};
}

nlohmann::ordered_json ApiError::to_json() const { return error_json(what(), type, param, code); }

void unsupported_param(const std::string& param, const std::string& why) {
  throw ApiError(400, "invalid_request_error",
                 fmt::format("parameter '{}' is not supported by this server{}{}", param, why.empty() ? "" : ": ", why),
                 param, "unsupported_parameter");
}

}  // namespace frugal::serve
