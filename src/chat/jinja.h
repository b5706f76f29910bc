// A Jinja2 template engine for chat templates: the language subset real templates use, with the
// environment transformers' apply_chat_template sets up (trim_blocks, lstrip_blocks, loop
// controls, tojson without ASCII escaping, raise_exception, strftime_now).
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace dseek::jinja {

struct RenderOptions {
  // The local time strftime_now formats; the system clock when empty.
  std::function<std::tm()> now;
  // Statements and loop iterations one render may run: a runaway template fails instead of
  // hanging. Real chat templates run a few dozen per message.
  uint64_t max_steps = 10'000'000;
};

// Immutable once parsed: one Template can render on several threads at once.
class Template {
 public:
  // Syntax errors throw dseek::Error naming the template, line and column.
  static Template parse(std::string_view source, std::string name);

  // The members of context (a JSON object) become the template's variables. Errors, including
  // raise_exception, throw dseek::Error with the line and column at fault.
  std::string render(const nlohmann::ordered_json& context, const RenderOptions& options = {}) const;

  const std::string& name() const;

 private:
  struct Program;
  explicit Template(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const Program> program_;
};

}  // namespace dseek::jinja
