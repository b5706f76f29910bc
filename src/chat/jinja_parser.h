// Builds the syntax tree of a template from its tokens, with Jinja2's grammar and precedence.
#pragma once

#include <string_view>

#include "chat/jinja_ast.h"

namespace dseek::jinja {

// Parses a template already passed through normalize_source; throws SourceError.
Body parse_template(std::string_view normalized_source);

}  // namespace dseek::jinja
