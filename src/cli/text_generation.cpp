#include "cli/text_generation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "util/error.h"

namespace dseek::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// --logit-bias ID=BIAS; BIAS may be -inf to ban the token.
std::pair<int32_t, float> parse_logit_bias(const std::string& text) {
  size_t eq = text.find('=');
  if (eq == std::string::npos) fail("--logit-bias {}: expected TOKEN_ID=BIAS, e.g. 100001=-inf", text);
  if (text.find(',') != std::string::npos) fail("--logit-bias {}: one TOKEN_ID=BIAS per flag", text);
  int32_t token = parse_token_list(text.substr(0, eq), "--logit-bias").at(0);
  std::string value = text.substr(eq + 1);
  size_t used = 0;
  float bias = 0;
  try {
    bias = std::stof(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || std::isnan(bias))
    fail("--logit-bias {}: \"{}\" is not a number", text, value);
  return {token, bias};
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

const ChatTemplate& default_template(const Tokenizer& tokenizer) {
  if (tokenizer.config().chat_templates.empty())
    fail("the tokenizer has no chat template (tokenizer_config.json's chat_template, or chat_template.jinja)");
  return select_chat_template(tokenizer.config(), "", false);
}

}  // namespace

void add_generation_options(CLI::App* cmd, GenerationFlags& f) {
  cmd->add_option("-n,--n-predict", f.max_tokens,
                  "Most tokens to generate (-1: until eos or the context is full; default: the model's "
                  "max_new_tokens, else -1)")
      ->check(CLI::Range(int64_t{-1}, INT64_MAX));
  cmd->add_option("--temp,--temperature", f.temperature, "Sampling temperature; 0 is greedy (default: the model's, else 1)");
  cmd->add_option("--top-k", f.top_k, "Keep the k most likely tokens (0: off)");
  cmd->add_option("--top-p", f.top_p, "Keep the most likely tokens holding this probability mass (1: off)");
  cmd->add_option("--min-p", f.min_p, "Drop tokens less likely than min-p times the top token (0: off)");
  cmd->add_option("--repeat-penalty,--repetition-penalty", f.repetition_penalty,
                  "Penalize tokens of the prompt and output (Hugging Face semantics; 1: off)");
  cmd->add_option("--presence-penalty", f.presence_penalty, "Subtracted from tokens already generated (-2..2)");
  cmd->add_option("--frequency-penalty", f.frequency_penalty, "Subtracted per time a token was generated (-2..2)");
  cmd->add_option("--logit-bias", f.logit_bias, "Added to that token's logit; -inf bans it (repeatable)")
      ->allow_extra_args(false)
      ->type_name("TOKEN_ID=BIAS");
  cmd->add_option("--stop", f.stop, "Stop before this text; it is not shown (repeatable)")
      ->allow_extra_args(false)
      ->type_name("TEXT");
  cmd->get_option("--seed")->description("Random seed of sampling (default: a random one), and of --dummy weights");
  cmd->add_option("-c,--ctx", f.context,
                  "Context positions: prompt plus output (0: the model's max_position_embeddings)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--tokenizer", f.tokenizer, "Tokenizer directory or GGUF file (default: the model's)");
}

ResolvedFlags resolve_flags(const GenerationFlags& f, const ModelOptions& model, const CLI::App& command) {
  ResolvedFlags r;
  if (!model.path.empty()) r.generation = GenerationConfig::load(model.path);
  SamplingParams& s = r.settings.sampling;
  s = r.generation.sampling_defaults();
  if (f.temperature) s.temperature = *f.temperature;
  if (f.top_k) s.top_k = *f.top_k;
  if (f.top_p) s.top_p = *f.top_p;
  if (f.min_p) s.min_p = *f.min_p;
  if (f.repetition_penalty) s.repetition_penalty = *f.repetition_penalty;
  if (f.presence_penalty) s.presence_penalty = *f.presence_penalty;
  if (f.frequency_penalty) s.frequency_penalty = *f.frequency_penalty;
  for (const std::string& text : f.logit_bias) {
    auto [token, bias] = parse_logit_bias(text);
    s.logit_bias[token] = bias;
  }
  if (command.get_option("--seed")->count() > 0) s.seed = model.seed;
  s.validate();
  r.settings.max_tokens = f.max_tokens.value_or(r.generation.max_new_tokens.value_or(-1));
  if (r.settings.max_tokens == 0) fail("-n 0 would generate nothing: give a positive count, or -1 for no limit");
  for (const std::string& stop : f.stop)
    if (stop.empty()) fail("--stop: the stop text is empty");
  r.settings.stop = f.stop;
  return r;
}

void finish_settings(ResolvedFlags& r, const GenerationFlags& f, const DeepSeekModel& model, const Tokenizer& tokenizer) {
  const ModelConfig& config = model.config();
  for (const auto& [token, bias] : r.settings.sampling.logit_bias)
    if (token >= config.vocab_size)
      fail("--logit-bias: token {} is outside the model's vocabulary of {} tokens", token, config.vocab_size);
  r.settings.eos_token_ids = r.generation.stop_token_ids(config.eos_token_ids, tokenizer.eos_id());
  r.settings.context = f.context == 0 ? config.max_position_embeddings
                                      : std::min(f.context, config.max_position_embeddings);
}

std::string tokenizer_dir(const GenerationFlags& f, const ModelOptions& model) {
  if (!f.tokenizer.empty()) return f.tokenizer;
  if (model.path.empty()) fail("a model without files needs --tokenizer DIR (a directory with tokenizer.json, or a GGUF file)");
  return model.path;
}

ChatPrompt::ChatPrompt(const Tokenizer& tokenizer)
    : tokenizer_(tokenizer),
      template_(CompiledChatTemplate::parse(default_template(tokenizer).source,
                                            "chat template " + default_template(tokenizer).name)),
      reasoning_([&] {
        const std::string& source = default_template(tokenizer).source;
        return source.find("<think>") != std::string::npos || source.find("</think>") != std::string::npos;
      }()) {}

ChatPrompt::Rendered ChatPrompt::render(const nlohmann::ordered_json& messages) const {
  ChatRequest request;
  request.messages = messages;
  request.add_generation_prompt = true;
  Rendered rendered;
  rendered.text = template_.render(build_chat_context(request, tokenizer_.config()));
  std::string_view end = rendered.text;
  while (!end.empty() && is_space(end.back())) end.remove_suffix(1);
  rendered.output.reasoning = reasoning_;
  // R1-style templates open the reasoning in the generation prompt: the reply starts inside it.
  rendered.output.starts_in_reasoning = reasoning_ && end.ends_with("<think>");
  return rendered;
}

std::vector<int32_t> encode_prompt(const Tokenizer& tokenizer, std::string_view text, bool chat) {
  std::vector<uint32_t> ids = tokenizer.encode(text, !chat);
  return {ids.begin(), ids.end()};
}

void check_prompt_fits(size_t prompt_tokens, const GenerationSettings& settings, const ModelConfig& model) {
  if (static_cast<int64_t>(prompt_tokens) < settings.context) return;
  std::string hint = settings.context < model.max_position_embeddings
                         ? fmt::format("; --ctx can raise it up to the model's {}", model.max_position_embeddings)
                         : std::string("; that is the model's maximum");
  fail("the prompt has {} tokens but the context holds {} (prompt plus output), leaving no room to generate{}",
       prompt_tokens, settings.context, hint);
}

void print_stats(const GenerationResult& r) {
  auto rate = [](double count, double seconds) { return seconds > 0 ? count / seconds : 0.0; };
  std::fprintf(stderr, "prompt: %lld tokens in %.3f s (%.2f tokens/s)\n", static_cast<long long>(r.prompt_tokens),
               r.prompt_seconds, rate(static_cast<double>(r.prompt_tokens), r.prompt_seconds));
  std::string finish = r.eos ? "eos" : finish_reason_name(r.finish);
  if (!r.stop_string.empty()) finish = "stop string";
  std::fprintf(stderr, "generation: %lld tokens, %lld decode steps in %.3f s (%.2f tokens/s), finished by %s\n",
               static_cast<long long>(r.generated_tokens), static_cast<long long>(r.decode_steps), r.decode_seconds,
               rate(static_cast<double>(r.decode_steps), r.decode_seconds), finish.c_str());
}

Generator::Generator(const DeepSeekModel& model, const Tokenizer& tokenizer, int64_t context)
    : engine_(model, &tokenizer, [&] {
        EngineOptions options;
        options.max_sequences = 1;
        options.context = context;
        options.kv_tokens = context;
        return options;
      }()) {
  engine_.start();
}

GenerationResult Generator::generate(std::vector<int32_t> prompt, const GenerationSettings& settings,
                                     const std::function<void(std::string_view)>& on_text,
                                     const std::function<bool()>& interrupted) {
  GenerationRequest request;
  request.prompt = std::move(prompt);
  request.sampling = settings.sampling;
  request.max_tokens = settings.max_tokens;
  request.stop = settings.stop;
  request.stop_tokens = settings.eos_token_ids;

  GenerationResult result;
  bool done = false;
  int64_t samples = 0;  // tokens sampled, the eos that ended it included
  Clock::time_point start = Clock::now(), first = start, last = start;
  auto on_token = [&](const TokenEvent& event) {
    // An eos ends generation without a token; a cancel samples nothing.
    bool eos = event.finish == FinishReason::Stop && !event.has_token;
    if (event.has_token || eos) {
      if (samples++ == 0) first = Clock::now();
      last = Clock::now();
    }
    if (!event.text.empty()) on_text(event.text);
    if (event.finish == FinishReason::None) return;
    std::lock_guard lock(mutex_);
    result.finish = event.finish;
    result.eos = eos;
    result.stop_string = event.stop_string;
    result.prompt_tokens = event.prompt_tokens;
    result.generated_tokens = event.generated_tokens;
    done = true;
    done_.notify_all();
  };
  uint64_t id = engine_.submit(std::move(request), on_token);

  std::unique_lock lock(mutex_);
  bool cancelled = false;
  while (!done_.wait_for(lock, std::chrono::milliseconds(20), [&] { return done; })) {
    if (!cancelled && interrupted()) {
      engine_.cancel(id);
      cancelled = true;
    }
  }
  if (samples > 0) {
    result.prompt_seconds = seconds_between(start, first);
    result.decode_steps = samples - 1;
    result.decode_seconds = seconds_between(first, last);
  } else {
    result.prompt_seconds = seconds_between(start, Clock::now());
  }
  return result;
}

}  // namespace dseek::cli
