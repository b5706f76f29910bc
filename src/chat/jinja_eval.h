// Runs a parsed template.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "chat/jinja.h"
#include "chat/jinja_ast.h"

namespace dseek::jinja {

// Errors in the template throw SourceError.
std::string render_body(const Body& body, const nlohmann::ordered_json& context, const RenderOptions& options);

}  // namespace dseek::jinja
