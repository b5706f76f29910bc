#include "tokenizer/json_fields.h"

#include <fstream>
#include <sstream>

#include "util/error.h"

namespace dseek::json_fields {

std::string path(std::string_view parent, std::string_view key) {
  // A root such as "tokenizer.json:" reads as "tokenizer.json: model.vocab".
  if (!parent.empty() && parent.back() == ':') return fmt::format("{} {}", parent, key);
  return fmt::format("{}.{}", parent, key);
}

std::string path(std::string_view parent, size_t index) { return fmt::format("{}[{}]", parent, index); }

const Json& require(const Json& object, std::string_view key, std::string_view where) {
  if (!object.is_object()) fail("{}: expected an object", where);
  auto it = object.find(key);
  if (it == object.end()) fail("{}: missing field", path(where, key));
  return *it;
}

const Json& require_object(const Json& object, std::string_view key, std::string_view where) {
  const Json& value = require(object, key, where);
  if (!value.is_object()) fail("{}: expected an object", path(where, key));
  return value;
}

const Json& require_array(const Json& object, std::string_view key, std::string_view where) {
  const Json& value = require(object, key, where);
  if (!value.is_array()) fail("{}: expected an array", path(where, key));
  return value;
}

std::string require_string(const Json& object, std::string_view key, std::string_view where) {
  const Json& value = require(object, key, where);
  if (!value.is_string()) fail("{}: expected a string", path(where, key));
  return value.get<std::string>();
}

bool bool_or(const Json& object, std::string_view key, bool fallback, std::string_view where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail("{}: expected true or false", path(where, key));
  return it->get<bool>();
}

std::string string_or(const Json& object, std::string_view key, std::string_view fallback, std::string_view where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string(fallback);
  if (!it->is_string()) fail("{}: expected a string", path(where, key));
  return it->get<std::string>();
}

bool is_token_id(const Json& value) { return value.is_number_unsigned() && value.get<uint64_t>() < kTokenIdLimit; }

std::string token_id_error(std::string_view where) {
  return fmt::format("{}: expected a token id (an integer from 0 to {})", where, kTokenIdLimit - 1);
}

uint32_t as_id(const Json& value, std::string_view where) {
  if (!is_token_id(value)) throw Error(token_id_error(where));
  return static_cast<uint32_t>(value.get<uint64_t>());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail("{}: read error", path.string());
  return text.str();
}

std::string type_of(const Json& component, std::string_view where) { return require_string(component, "type", where); }

}  // namespace dseek::json_fields
