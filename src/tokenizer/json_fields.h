// Typed access to tokenizer.json / tokenizer_config.json fields; every failure names the
// field's path ("tokenizer.json: model.merges[3]") so a broken file is easy to fix.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace dseek::json_fields {

using Json = nlohmann::json;

// Paths start at a root ending in ':' ("tokenizer.json:").
std::string path(std::string_view parent, std::string_view key);
std::string path(std::string_view parent, size_t index);

// The field, which must be present and of the requested kind.
const Json& require(const Json& object, std::string_view key, std::string_view where);
const Json& require_object(const Json& object, std::string_view key, std::string_view where);
const Json& require_array(const Json& object, std::string_view key, std::string_view where);
std::string require_string(const Json& object, std::string_view key, std::string_view where);

// Absent or null gives the fallback.
bool bool_or(const Json& object, std::string_view key, bool fallback, std::string_view where);
std::string string_or(const Json& object, std::string_view key, std::string_view fallback, std::string_view where);

// Token ids: non-negative integers below 2^26. Real vocabularies stay far below; the cap
// keeps a corrupt file from sizing id-indexed tables to billions of entries.
constexpr uint64_t kTokenIdLimit = uint64_t{1} << 26;
bool is_token_id(const Json& value);
uint32_t as_id(const Json& value, std::string_view where);  // fails unless is_token_id
std::string token_id_error(std::string_view where);

// The whole file, for parsing; errors name the path.
std::string read_file(const std::filesystem::path& path);

// "type" of a component object.
std::string type_of(const Json& component, std::string_view where);

}  // namespace dseek::json_fields
