#include "server/api_error.h"

namespace dseek::server {
namespace {

// As OpenAI's API: every client error, 401 and 404 included, is an invalid_request_error.
const char* type_of(int status) { return status >= 500 ? "server_error" : "invalid_request_error"; }

}  // namespace

nlohmann::ordered_json error_body(int status, const std::string& message, const std::string& param,
                                  const std::string& code) {
  nlohmann::ordered_json error;
  error["message"] = message;
  error["type"] = type_of(status);
  error["param"] = param.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(param);
  error["code"] = code.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(code);
  return {{"error", std::move(error)}};
}

}  // namespace dseek::server
