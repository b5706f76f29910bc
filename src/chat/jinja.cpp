#include "chat/jinja.h"

#include "chat/jinja_error.h"
#include "chat/jinja_eval.h"
#include "chat/jinja_lexer.h"
#include "chat/jinja_parser.h"

namespace dseek::jinja {

struct Template::Program {
  std::string name;
  std::string source;  // normalized: error positions refer to it
  Body body;
};

namespace {

[[noreturn]] void fail_located(const std::string& name, const std::string& source, const SourceError& e) {
  fail("template '{}', {}: {}", name, describe_location(source, e.pos()), e.what());
}

}  // namespace

Template Template::parse(std::string_view source, std::string name) {
  auto program = std::make_shared<Program>();
  program->name = std::move(name);
  program->source = normalize_source(source);
  try {
    program->body = parse_template(program->source);
  } catch (const SourceError& e) {
    fail_located(program->name, program->source, e);
  }
  return Template(std::move(program));
}

std::string Template::render(const nlohmann::ordered_json& context, const RenderOptions& options) const {
  try {
    return render_body(program_->body, context, options);
  } catch (const SourceError& e) {
    fail_located(program_->name, program_->source, e);
  }
}

const std::string& Template::name() const { return program_->name; }

}  // namespace dseek::jinja
