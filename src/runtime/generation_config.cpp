#include "runtime/generation_config.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace dseek {
namespace {

using nlohmann::json;

class Reader {
 public:
  Reader(const json& root, std::string_view source) : root_(root), source_(source) {}

  // The field, or null when it is absent or null.
  const json& field(const char* key) const {
    static const json kNull;
    const auto it = root_.find(key);
    return it == root_.end() ? kNull : *it;
  }

  std::optional<float> number(const char* key) const {
    const json& value = field(key);
    if (value.is_null()) return std::nullopt;
    if (!value.is_number()) fail("{}: {} must be a number, got {}", source_, key, value.dump());
    return value.get<float>();
  }

  std::optional<bool> boolean(const char* key) const {
    const json& value = field(key);
    if (value.is_null()) return std::nullopt;
    if (!value.is_boolean()) {
      fail("{}: {} must be true or false, got {}", source_, key, value.dump());
    }
    return value.get<bool>();
  }

  std::optional<int64_t> integer(const char* key, int64_t min, int64_t max) const {
    const json& value = field(key);
    if (value.is_null()) return std::nullopt;
    return integer_value(key, value, min, max);
  }

  int64_t integer_value(const char* key, const json& value, int64_t min, int64_t max) const {
    if (!value.is_number_integer()) {
      fail("{}: {} must be an integer, got {}", source_, key, value.dump());
    }
    // Unsigned values above int64 would wrap in get<int64_t>().
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(max)) {
      fail("{}: {} must be in [{}, {}], got {}", source_, key, min, max, value.dump());
    }
    const auto result = value.get<int64_t>();
    if (result < min || result > max) {
      fail("{}: {} must be in [{}, {}], got {}", source_, key, min, max, result);
    }
    return result;
  }

 private:
  const json& root_;
  std::string_view source_;
};

constexpr int64_t kMaxTokenId = std::numeric_limits<int32_t>::max();

}  // namespace

GenerationConfig GenerationConfig::parse(std::string_view json_text, std::string_view source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    fail("{}: not valid JSON: {}", source, e.what());
  }
  if (!root.is_object()) fail("{}: must be a JSON object, got {}", source, root.type_name());

  const Reader reader(root, source);
  GenerationConfig config;
  const json& eos = reader.field("eos_token_id");
  if (eos.is_array()) {
    for (const json& id : eos) {
      config.eos_token_ids.push_back(
          static_cast<int32_t>(reader.integer_value("eos_token_id", id, 0, kMaxTokenId)));
    }
  } else if (!eos.is_null()) {
    config.eos_token_ids.push_back(
        static_cast<int32_t>(reader.integer_value("eos_token_id", eos, 0, kMaxTokenId)));
  }
  if (auto bos = reader.integer("bos_token_id", 0, kMaxTokenId)) {
    config.bos_token_id = static_cast<int32_t>(*bos);
  }
  config.do_sample = reader.boolean("do_sample");
  config.temperature = reader.number("temperature");
  config.top_p = reader.number("top_p");
  // top_k 0 is "off" in Hugging Face; -1 is accepted as vLLM's spelling of it.
  if (auto top_k = reader.integer("top_k", -1, std::numeric_limits<int32_t>::max())) {
    config.top_k = static_cast<int32_t>(*top_k);
  }
  config.min_p = reader.number("min_p");
  config.repetition_penalty = reader.number("repetition_penalty");
  config.max_new_tokens =
      reader.integer("max_new_tokens", 1, std::numeric_limits<int64_t>::max());

  // Range checks are SamplingParams' own; only the file name is added.
  try {
    config.sampling_defaults().validate();
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  }
  return config;
}

GenerationConfig GenerationConfig::load(const std::filesystem::path& model_dir) {
  const std::filesystem::path path = model_dir / "generation_config.json";
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return {};
  std::ifstream file(path, std::ios::binary);
  if (!file) fail("{}: cannot be opened", path.string());
  const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  if (file.bad()) fail("{}: cannot be read", path.string());
  return parse(text, path.string());
}

SamplingParams GenerationConfig::sampling_defaults() const {
  SamplingParams params;
  if (temperature) params.temperature = *temperature;
  if (do_sample.has_value() && !*do_sample) params.temperature = 0;
  if (top_p) params.top_p = *top_p;
  if (top_k) params.top_k = *top_k;
  if (min_p) params.min_p = *min_p;
  if (repetition_penalty) params.repetition_penalty = *repetition_penalty;
  return params;
}

std::vector<int32_t> GenerationConfig::stop_token_ids(const std::vector<int64_t>& config_eos,
                                                      std::optional<uint32_t> tokenizer_eos) const {
  std::vector<int32_t> ids = eos_token_ids;
  for (int64_t id : config_eos) ids.push_back(static_cast<int32_t>(id));
  if (tokenizer_eos) ids.push_back(static_cast<int32_t>(*tokenizer_eos));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace dseek
