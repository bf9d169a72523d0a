// The OpenAI error envelope: {"error": {"message", "type", "param", "code"}} with the HTTP status
// that goes with it (docs/serving.md, Errors). Request parsing throws ApiError; the HTTP layer turns it into
// a response, or into one `data: {"error": ...}` event once a stream has started.
#pragma once
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace frugal::serve {

class ApiError : public std::runtime_error {
 public:
  // type: "invalid_request_error", "authentication_error", "not_found_error", "unavailable_error",
  // "server_error"; param: the request field at fault ("" for none); code: a machine-readable
  // reason ("context_length_exceeded", "model_not_found", ...) or "" for none.
  ApiError(int status, std::string type, std::string message, std::string param = "", std::string code = "")
      : std::runtime_error(message), status(status), type(std::move(type)), param(std::move(param)),
        code(std::move(code)) {}

  int status;
  std::string type, param, code;
  int retry_after_s = 0;  // > 0: send a Retry-After header (503)

  nlohmann::ordered_json to_json() const;
};

// 400 invalid_request_error naming `param`.
template <typename... Args>
[[noreturn]] void bad_request(const std::string& param, fmt::format_string<Args...> f, Args&&... args) {
  throw ApiError(400, "invalid_request_error", fmt::format(f, std::forward<Args>(args)...), param);
}

// 400 for a parameter we understand but do not implement: never accepted and silently ignored.
[[noreturn]] void unsupported_param(const std::string& param, const std::string& why = "");

nlohmann::ordered_json error_json(const std::string& message, const std::string& type, const std::string& param = "",
                          const std::string& code = "");

}  // namespace frugal::serve
