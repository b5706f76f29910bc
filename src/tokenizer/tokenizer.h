// A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) that encodes and
// decodes exactly as transformers' fast tokenizers do, also when rebuilt from a GGUF file's
// tokenizer.ggml.* metadata (tokenizer/gguf_tokenizer.h). Thread-safe once loaded.
//
// One deliberate difference: an added token decodes to its own text. Hugging Face sends
// added tokens through the ByteLevel decoder too, which turns DeepSeek's added "ü"
// (id 100014) into the byte 0xFC and then U+FFFD, so "Führer" would not survive a round
// trip (huggingface/tokenizers#1392, #1915).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/tokenizer_config.h"

namespace dseek {

class Bpe;
class Normalizer;
class PreTokenizer;

// The stages of a tokenizer, for sources other than tokenizer.json.
struct TokenizerParts {
  std::unique_ptr<Normalizer> normalizer;       // may be null
  std::unique_ptr<PreTokenizer> pre_tokenizer;  // may be null
  std::unique_ptr<Bpe> model;
  std::unique_ptr<AddedVocabulary> added;
};

class Tokenizer {
 public:
  // PATH is a model or tokenizer directory holding tokenizer.json and, optionally,
  // tokenizer_config.json and chat_template.jinja; or a .gguf file with tokenizer metadata.
  static Tokenizer load(const std::filesystem::path& path);
  // From tokenizer.json's text; `where` names it in errors.
  static Tokenizer from_json(std::string_view tokenizer_json, TokenizerConfig config,
                             std::string_view where = "tokenizer.json");
  // A byte-level BPE tokenizer from its parts; encode(add_special_tokens) adds the config's
  // bos_token/eos_token as its add_bos_token/add_eos_token say (absent: neither).
  static Tokenizer from_parts(TokenizerParts parts, TokenizerConfig config);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Text must be valid UTF-8 (an Error says where it is not). With add_special_tokens, the
  // BOS/EOS transformers adds by default: add_bos_token/add_eos_token of a Llama-class
  // config, otherwise tokenizer.json's post_processor.
  std::vector<uint32_t> encode(std::string_view text, bool add_special_tokens = false) const;

  // Ids the tokenizer does not know (past its last token) decode to nothing.
  std::string decode(std::span<const uint32_t> ids, bool skip_special_tokens = false) const;

  // Appends the bytes `id` adds to decoded text before UTF-8 repair; returns false (and
  // appends nothing) for unknown ids and skipped special tokens. `first` is whether it is
  // the first token to contribute (decoder-less tokenizers join tokens with spaces).
  bool append_token_bytes(uint32_t id, bool skip_special_tokens, bool first, std::string& out) const;

  // One past the largest id: model vocabulary and added tokens.
  uint32_t vocab_size() const;
  std::optional<uint32_t> token_to_id(std::string_view token) const;
  // The token's text as the vocabulary spells it ("Ġthe"), or nullopt for unknown ids.
  std::optional<std::string_view> id_to_token(uint32_t id) const;
  // Special tokens are the ones skip_special_tokens drops.
  bool is_special(uint32_t id) const;
  const std::vector<AddedToken>& added_tokens() const;

  // Ids of tokenizer_config.json's special tokens (nullopt when not configured).
  std::optional<uint32_t> bos_id() const;
  std::optional<uint32_t> eos_id() const;
  std::optional<uint32_t> pad_id() const;
  const TokenizerConfig& config() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  // Decode table and special-token ids, once the stages and affixes are set.
  static Tokenizer finish(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dseek
