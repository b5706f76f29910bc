// A model's generation_config.json (Hugging Face): its eos/bos ids and sampling defaults.
// Only the fields present count, as in vLLM: Hugging Face's own fallbacks (top_k 50, ...) do not.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "runtime/sampler.h"

namespace dseek {

struct GenerationConfig {
  std::vector<int32_t> eos_token_ids;  // eos_token_id: one id or a list
  std::optional<int32_t> bos_token_id;
  std::optional<bool> do_sample;
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int32_t> top_k;
  std::optional<float> min_p;
  std::optional<float> repetition_penalty;
  std::optional<int64_t> max_new_tokens;

  // Reads model_dir/generation_config.json; no file gives an empty config. A malformed file or
  // field is an Error naming the file and the field. null counts as absent.
  static GenerationConfig load(const std::filesystem::path& model_dir);
  // `source` names the text in errors.
  static GenerationConfig parse(std::string_view json_text, std::string_view source);

  // SamplingParams{} with the fields present here; do_sample false means greedy (temperature 0).
  SamplingParams sampling_defaults() const;

  // Every id that ends generation: this file's, config.json's and the tokenizer's eos, sorted
  // and without repeats (models list different ones in each place).
  std::vector<int32_t> stop_token_ids(const std::vector<int64_t>& config_eos, std::optional<uint32_t> tokenizer_eos) const;
};

}  // namespace dseek
