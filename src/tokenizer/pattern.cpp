#include "tokenizer/pattern.h"

#include "tokenizer/json_fields.h"
#include "util/error.h"

namespace dseek {

std::unique_ptr<Regex> compile_pattern(const nlohmann::json& spec, std::string_view where) {
  if (!spec.is_object() || spec.size() != 1) fail("{}: expected {{\"String\": ...}} or {{\"Regex\": ...}}", where);
  if (spec.contains("String")) {
    std::string literal = json_fields::require_string(spec, "String", where);
    if (literal.empty()) return nullptr;
    return std::make_unique<Regex>(Regex::escape(literal), json_fields::path(where, "String"));
  }
  if (spec.contains("Regex")) {
    std::string regex = json_fields::require_string(spec, "Regex", where);
    return std::make_unique<Regex>(regex, json_fields::path(where, "Regex"));
  }
  fail("{}: unknown pattern kind {}, expected String or Regex", where, spec.begin().key());
}

}  // namespace dseek
