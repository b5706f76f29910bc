// Errors the HTTP API returns in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace dseek::server {

class ApiError : public Error {
 public:
  ApiError(int status, std::string message, std::string param = {}, std::string code = {})
      : Error(std::move(message)), status_(status), param_(std::move(param)), code_(std::move(code)) {}

  int status() const { return status_; }
  const std::string& param() const { return param_; }  // the request field at fault, if any
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string param_;
  std::string code_;
};

// A 400 naming the request field at fault.
template <typename... Args>
[[noreturn]] void invalid_field(const std::string& param, fmt::format_string<Args...> format, Args&&... args) {
  throw ApiError(400, fmt::format(format, std::forward<Args>(args)...), param);
}

// The response body; empty param and code become null.
nlohmann::ordered_json error_body(int status, const std::string& message, const std::string& param = {},
                                  const std::string& code = {});
inline nlohmann::ordered_json error_body(const ApiError& e) {
  return error_body(e.status(), e.what(), e.param(), e.code());
}

}  // namespace dseek::server
