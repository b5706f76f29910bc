// Tokenizers in GGUF metadata, as llama.cpp's converter writes them, both ways:
//   tokenizer.ggml.model "gpt2" (byte-level BPE); tokenizer.ggml.pre, the name of the
//   pre-tokenizer (deepseek-llm, deepseek-coder or deepseek-v3: the Split/Digits/ByteLevel
//   sequences of those models' tokenizer.json); tokenizer.ggml.tokens with token_type per id
//   (1 normal: the BPE vocabulary; 3 control: special added tokens; 4 user-defined: other added
//   tokens; 5 unused: padding ids, which do not exist for the tokenizer); tokenizer.ggml.merges
//   ("a b", by rank); bos/eos/padding/unknown_token_id; add_bos_token/add_eos_token; and
//   tokenizer.chat_template (plus tokenizer.chat_template.NAME for each of tokenizer.chat_templates).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include "io/gguf.h"
#include "tokenizer/tokenizer.h"

namespace dseek {

// The tokenizer keys for DIR's tokenizer.json and tokenizer_config.json, with the token list
// padded to `vocab_size` ids. `bos_id`/`eos_id` (config.json's) stand in when tokenizer_config.json
// names no bos_token/eos_token. Errors name the file and field at fault, and a pre-tokenizer that
// none of llama.cpp's DeepSeek names describes.
GgufMetadata gguf_tokenizer_metadata(const std::filesystem::path& dir, int64_t vocab_size,
                                     std::optional<int64_t> bos_id, std::optional<int64_t> eos_id);

// The file's tokenizer, with its special tokens, BOS/EOS policy and chat templates in
// config(). Errors name the file and the key at fault; a file without a tokenizer says to give
// --tokenizer.
Tokenizer load_gguf_tokenizer(const GgufFile& file);

}  // namespace dseek
