#include "tokenizer/tokenizer_config.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "tokenizer/json_fields.h"
#include "util/error.h"

namespace dseek {
namespace {

using json_fields::Json;

std::optional<std::string> special_token(const Json& config, std::string_view key, std::string_view where) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return json_fields::require_string(*it, "content", json_fields::path(where, key));
  fail("{}: expected a string or an AddedToken object", json_fields::path(where, key));
}

std::optional<bool> optional_bool(const Json& config, std::string_view key, std::string_view where) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  return json_fields::bool_or(config, key, false, where);
}

}  // namespace

TokenizerConfig TokenizerConfig::parse(std::string_view json_text, std::string_view where) {
  Json config;
  try {
    config = Json::parse(json_text);
  } catch (const Json::parse_error& e) {
    fail("{}: invalid JSON: {}", where, e.what());
  }
  std::string root = fmt::format("{}:", where);
  if (!config.is_object()) fail("{} expected a JSON object", root);
  TokenizerConfig result;
  result.bos_token = special_token(config, "bos_token", root);
  result.eos_token = special_token(config, "eos_token", root);
  result.pad_token = special_token(config, "pad_token", root);
  result.unk_token = special_token(config, "unk_token", root);
  result.add_bos_token = optional_bool(config, "add_bos_token", root);
  result.add_eos_token = optional_bool(config, "add_eos_token", root);
  result.tokenizer_class = json_fields::string_or(config, "tokenizer_class", "", root);

  auto templates = config.find("chat_template");
  if (templates != config.end() && !templates->is_null()) {
    std::string templates_where = json_fields::path(root, "chat_template");
    if (templates->is_string()) {
      result.chat_templates.push_back({"default", templates->get<std::string>()});
    } else if (templates->is_array()) {
      // transformers' list form: [{"name": ..., "template": ...}, ...]
      for (size_t i = 0; i < templates->size(); ++i) {
        std::string item_where = json_fields::path(templates_where, i);
        const Json& item = (*templates)[i];
        result.chat_templates.push_back({json_fields::require_string(item, "name", item_where),
                                         json_fields::require_string(item, "template", item_where)});
      }
    } else {
      fail("{}: expected a string or a list of {{name, template}}", templates_where);
    }
  }
  return result;
}

TokenizerConfig TokenizerConfig::load(const std::filesystem::path& dir) {
  std::filesystem::path path = dir / "tokenizer_config.json";
  TokenizerConfig config;
  if (std::filesystem::exists(path)) config = parse(json_fields::read_file(path), path.string());
  std::filesystem::path jinja = dir / "chat_template.jinja";
  if (std::filesystem::exists(jinja)) {
    std::string source = json_fields::read_file(jinja);
    auto it = std::find_if(config.chat_templates.begin(), config.chat_templates.end(),
                           [](const ChatTemplate& t) { return t.name == "default"; });
    if (it != config.chat_templates.end())
      it->source = std::move(source);
    else
      config.chat_templates.push_back({"default", std::move(source)});
  }
  return config;
}

const ChatTemplate* TokenizerConfig::chat_template(std::string_view name) const {
  for (const ChatTemplate& t : chat_templates)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace dseek
