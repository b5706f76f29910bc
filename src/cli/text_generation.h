// What `dseek run` and `dseek chat` share: sampling and stopping flags resolved against the
// model's generation_config.json, chat prompts rendered with the model's template, and a
// one-sequence Engine that streams text and can be interrupted.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/model_options.h"
#include "runtime/engine.h"
#include "runtime/generation_config.h"
#include "server/chat_output.h"
#include "tokenizer/tokenizer.h"

namespace dseek::cli {

// Flags as given; unset ones fall back to generation_config.json, then to SamplingParams{}.
struct GenerationFlags {
  std::optional<float> temperature, top_p, min_p, repetition_penalty, presence_penalty, frequency_penalty;
  std::optional<int32_t> top_k;
  std::vector<std::string> logit_bias;  // "ID=BIAS"
  std::optional<int64_t> max_tokens;    // -n; -1: until eos or the context is full
  std::vector<std::string> stop;
  int64_t context = 4096;  // --ctx; 0: the model's max_position_embeddings
  std::string tokenizer;   // default: the model directory
};

// Adds the sampling and stopping flags. The sampling seed is the model options' --seed (which
// also seeds --dummy weights), so a command needs add_model_options() too.
void add_generation_options(CLI::App* command, GenerationFlags& flags);

struct GenerationSettings {
  SamplingParams sampling;
  int64_t max_tokens = -1;
  std::vector<std::string> stop;
  std::vector<int32_t> eos_token_ids;
  int64_t context = 0;
};

// Checked before the (slow) model load: flags and generation_config.json.
struct ResolvedFlags {
  GenerationSettings settings;  // eos ids and context are completed by finish_settings()
  GenerationConfig generation;
};
ResolvedFlags resolve_flags(const GenerationFlags& flags, const ModelOptions& model, const CLI::App& command);

// Adds the model's eos ids (generation_config.json, config.json and the tokenizer's: every one
// of them ends generation) and the context (--ctx capped by max_position_embeddings).
void finish_settings(ResolvedFlags& resolved, const GenerationFlags& flags, const DeepSeekModel& model,
                     const Tokenizer& tokenizer);

// The tokenizer directory: --tokenizer, else the model's; Error for a --dummy model without one.
std::string tokenizer_dir(const GenerationFlags& flags, const ModelOptions& model);

// The model's chat template, ready to render conversations with the generation prompt.
class ChatPrompt {
 public:
  explicit ChatPrompt(const Tokenizer& tokenizer);  // Error when the tokenizer has no template

  struct Rendered {
    std::string text;
    server::ChatOutputOptions output;  // whether the reply opens with or may contain <think>
  };
  Rendered render(const nlohmann::ordered_json& messages) const;

 private:
  const Tokenizer& tokenizer_;
  CompiledChatTemplate template_;
  bool reasoning_;
};

// Chat prompts already hold the template's BOS text: encoding adds no second one (as
// apply_chat_template does); plain prompts get the BOS the tokenizer adds by default.
std::vector<int32_t> encode_prompt(const Tokenizer& tokenizer, std::string_view text, bool chat);

struct GenerationResult {
  FinishReason finish = FinishReason::None;
  bool eos = false;  // ended by an eos token
  std::string stop_string;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double prompt_seconds = 0;  // submit to the first sampled token: the prefill
  int64_t decode_steps = 0;   // forward passes after the prefill
  double decode_seconds = 0;
};

// Error when the prompt leaves no room to generate in the context, saying how much --ctx may grow.
void check_prompt_fits(size_t prompt_tokens, const GenerationSettings& settings, const ModelConfig& model);

// "prompt: ..." and "generation: ..." lines with throughputs, on stderr.
void print_stats(const GenerationResult& result);

// One sequence at a time on a background engine thread, so the caller can react to Ctrl-C
// while a step runs.
class Generator {
 public:
  Generator(const DeepSeekModel& model, const Tokenizer& tokenizer, int64_t context);

  // Streams the text (whole UTF-8 characters) to on_text on the engine's thread and returns when
  // generation ends. `interrupted` is polled every few milliseconds; once it returns true the
  // generation is cancelled. Error when the prompt does not fit the context.
  GenerationResult generate(std::vector<int32_t> prompt, const GenerationSettings& settings,
                            const std::function<void(std::string_view)>& on_text,
                            const std::function<bool()>& interrupted);

 private:
  Engine engine_;
  std::mutex mutex_;
  std::condition_variable done_;
};

}  // namespace dseek::cli
