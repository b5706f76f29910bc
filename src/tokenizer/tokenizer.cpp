#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/gguf_tokenizer.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

namespace dseek {
namespace {

using json_fields::Json;

// What encode(add_special_tokens) puts around the text.
struct SpecialAffixes {
  std::vector<uint32_t> prefix, suffix;
};

// One entry per id: what decoding it produces.
struct DecodeEntry {
  bool present = false;
  bool special = false;
  std::string bytes;
};

}  // namespace

struct Tokenizer::Impl {
  TokenizerConfig config;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Bpe> model;
  std::unique_ptr<AddedVocabulary> added;
  StringMap<uint32_t> added_ids;
  bool join_with_spaces = false;  // no decoder: Hugging Face joins tokens with " "
  std::vector<DecodeEntry> decode_table;
  SpecialAffixes affixes;
  std::optional<uint32_t> bos, eos, pad;

  std::optional<uint32_t> lookup(std::string_view token) const {
    if (auto it = added_ids.find(token); it != added_ids.end()) return it->second;
    return model->token_to_id(token);
  }
  std::optional<uint32_t> config_token(const std::optional<std::string>& token, std::string_view field) const {
    if (!token) return std::nullopt;
    auto id = lookup(*token);
    if (!id) fail("tokenizer_config.json: {} {} is not a token of tokenizer.json", field, *token);
    return id;
  }
  // encode(add_special_tokens)'s BOS/EOS from the config's add_bos_token/add_eos_token.
  void config_affixes(bool bos_by_default) {
    if (config.add_bos_token.value_or(bos_by_default)) {
      auto id = config_token(config.bos_token, "bos_token");
      if (!id) fail("tokenizer_config.json: add_bos_token is set but bos_token is not");
      affixes.prefix.push_back(*id);
    }
    if (config.add_eos_token.value_or(false)) {
      auto id = config_token(config.eos_token, "eos_token");
      if (!id) fail("tokenizer_config.json: add_eos_token is set but eos_token is not");
      affixes.suffix.push_back(*id);
    }
  }
};

namespace {

// TemplateProcessing's "single" template: special tokens around the sequence "A".
void apply_template(const Json& spec, std::string_view where, SpecialAffixes& affixes) {
  const Json& single = json_fields::require_array(spec, "single", where);
  const Json& special_tokens = json_fields::require_object(spec, "special_tokens", where);
  std::string single_where = json_fields::path(where, "single");
  SpecialAffixes added;
  bool seen_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    std::string item_where = json_fields::path(single_where, i);
    const Json& item = single[i];
    if (item.contains("Sequence")) {
      std::string id = json_fields::require_string(item["Sequence"], "id", json_fields::path(item_where, "Sequence"));
      if (id != "A" || seen_sequence) fail("{}: a single-sequence template holds sequence A once", item_where);
      seen_sequence = true;
    } else if (item.contains("SpecialToken")) {
      std::string name =
          json_fields::require_string(item["SpecialToken"], "id", json_fields::path(item_where, "SpecialToken"));
      std::string token_where = json_fields::path(json_fields::path(where, "special_tokens"), name);
      auto it = special_tokens.find(name);
      if (it == special_tokens.end()) fail("{}: not defined", token_where);
      const Json& ids = json_fields::require_array(*it, "ids", token_where);
      auto& side = seen_sequence ? added.suffix : added.prefix;
      for (size_t k = 0; k < ids.size(); ++k)
        side.push_back(json_fields::as_id(ids[k], json_fields::path(json_fields::path(token_where, "ids"), k)));
    } else {
      fail("{}: expected a Sequence or a SpecialToken", item_where);
    }
  }
  if (!seen_sequence) fail("{}: the template lacks sequence A", single_where);
  // Applied to an already processed encoding, the template wraps it whole.
  added.prefix.insert(added.prefix.end(), affixes.prefix.begin(), affixes.prefix.end());
  added.suffix.insert(added.suffix.begin(), affixes.suffix.begin(), affixes.suffix.end());
  affixes = std::move(added);
}

void apply_post_processor(const Json& spec, std::string_view where, SpecialAffixes& affixes) {
  if (spec.is_null()) return;
  std::string type = json_fields::type_of(spec, where);
  if (type == "TemplateProcessing") {
    apply_template(spec, where, affixes);
  } else if (type == "ByteLevel") {
    // Only trims offsets, which dseek does not produce.
  } else if (type == "Sequence") {
    const Json& steps = json_fields::require_array(spec, "processors", where);
    std::string steps_where = json_fields::path(where, "processors");
    for (size_t i = 0; i < steps.size(); ++i)
      apply_post_processor(steps[i], json_fields::path(steps_where, i), affixes);
  } else {
    fail("{}: unsupported post_processor type {}", where, type);
  }
}

// Parses tokenizer.json, moving model.vocab's entries into `vocab` instead of the tree.
Json parse_tokenizer_json(std::string_view text, std::string_view root, Bpe::VocabEntries& vocab) {
  std::vector<std::string> keys;  // the object keys leading to the current event
  auto in_vocab = [&](int depth) { return depth == 3 && keys.size() == 3 && keys[0] == "model" && keys[1] == "vocab"; };
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key) {
      keys.resize(depth);
      keys[depth - 1] = parsed.get<std::string>();
      return !in_vocab(depth);
    }
    if (!in_vocab(depth)) return true;
    // Each value in model.vocab is a token id (so never an object or array).
    if (event != Json::parse_event_t::value || !json_fields::is_token_id(parsed))
      throw Error(json_fields::token_id_error(json_fields::path(json_fields::path(root, "model.vocab"), keys[2])));
    vocab.emplace_back(keys[2], static_cast<uint32_t>(parsed.get<uint64_t>()));
    return false;
  };
  try {
    return Json::parse(text, callback);
  } catch (const Json::parse_error& e) {
    fail("{} invalid JSON: {}", root, e.what());
  }
}

// transformers' LlamaTokenizerFast rebuilds the post-processor from the config's flags.
bool uses_config_affixes(const TokenizerConfig& config) {
  return config.tokenizer_class == "LlamaTokenizer" || config.tokenizer_class == "LlamaTokenizerFast";
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::filesystem::path& dir) {
  if (dir.extension() == ".gguf" && !std::filesystem::is_directory(dir))
    return load_gguf_tokenizer(GgufFile(dir.string()));
  std::filesystem::path path = dir / "tokenizer.json";
  if (!std::filesystem::exists(path)) fail("{}: no tokenizer.json in this directory", dir.string());
  TokenizerConfig config = TokenizerConfig::load(dir);
  return from_json(json_fields::read_file(path), std::move(config), path.string());
}

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json, TokenizerConfig config, std::string_view where) {
  std::string root = fmt::format("{}:", where);
  Bpe::VocabEntries vocab;
  Json spec = parse_tokenizer_json(tokenizer_json, root, vocab);
  if (!spec.is_object()) fail("{} expected a JSON object", root);

  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  auto field = [&](std::string_view key) -> const Json& {
    static const Json null;
    auto it = spec.find(key);
    return it == spec.end() ? null : *it;
  };
  impl->normalizer = make_normalizer(field("normalizer"), json_fields::path(root, "normalizer"));
  impl->pre_tokenizer = make_pre_tokenizer(field("pre_tokenizer"), json_fields::path(root, "pre_tokenizer"));
  impl->model =
      std::make_unique<Bpe>(json_fields::require_object(spec, "model", root), vocab, json_fields::path(root, "model"));
  impl->added = std::make_unique<AddedVocabulary>(field("added_tokens"), impl->normalizer.get(),
                                                  json_fields::path(root, "added_tokens"));
  for (const AddedToken& token : impl->added->tokens()) impl->added_ids[token.content] = token.id;

  const Json& decoder = field("decoder");
  if (decoder.is_null()) {
    impl->join_with_spaces = true;
  } else {
    std::string decoder_where = json_fields::path(root, "decoder");
    std::string type = json_fields::type_of(decoder, decoder_where);
    if (type != "ByteLevel") fail("{}: unsupported decoder type {}", decoder_where, type);
  }

  if (uses_config_affixes(impl->config)) {
    impl->config_affixes(true);
  } else {
    apply_post_processor(field("post_processor"), json_fields::path(root, "post_processor"), impl->affixes);
  }
  return finish(std::move(impl));
}

Tokenizer Tokenizer::from_parts(TokenizerParts parts, TokenizerConfig config) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  impl->normalizer = std::move(parts.normalizer);
  impl->pre_tokenizer = std::move(parts.pre_tokenizer);
  impl->model = std::move(parts.model);
  impl->added = std::move(parts.added);
  for (const AddedToken& token : impl->added->tokens()) impl->added_ids[token.content] = token.id;
  impl->config_affixes(false);
  return finish(std::move(impl));
}

Tokenizer Tokenizer::finish(std::unique_ptr<Impl> impl) {
  uint32_t limit = impl->model->id_limit();
  for (const AddedToken& token : impl->added->tokens()) limit = std::max(limit, token.id + 1);
  impl->decode_table.resize(limit);
  std::unordered_set<std::string_view> special_contents;
  for (const AddedToken& token : impl->added->tokens())
    if (token.special) special_contents.insert(token.content);
  for (uint32_t id = 0; id < impl->model->id_limit(); ++id) {
    const std::string* token = impl->model->id_to_token(id);
    if (token == nullptr) continue;
    DecodeEntry& entry = impl->decode_table[id];
    entry.present = true;
    entry.special = special_contents.contains(*token);
    std::optional<std::string> bytes = impl->join_with_spaces ? std::nullopt : byte_level::decode(*token);
    entry.bytes = bytes ? std::move(*bytes) : *token;
  }
  for (const AddedToken& token : impl->added->tokens()) {
    DecodeEntry& entry = impl->decode_table[token.id];
    entry.present = true;
    entry.special = special_contents.contains(token.content);
    entry.bytes = token.content;
  }
  impl->bos = impl->config_token(impl->config.bos_token, "bos_token");
  impl->eos = impl->config_token(impl->config.eos_token, "eos_token");
  impl->pad = impl->config_token(impl->config.pad_token, "pad_token");
  return Tokenizer(std::move(impl));
}

std::vector<uint32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (size_t bad = utf8::find_invalid(text); bad != std::string_view::npos)
    fail("tokenizer: input text is not valid UTF-8 (byte {})", bad);
  const Impl& impl = *impl_;
  std::vector<uint32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special_tokens) ids.insert(ids.end(), impl.affixes.prefix.begin(), impl.affixes.prefix.end());

  std::vector<Segment> raw_segments, normalized_segments;
  impl.added->split(text, false, raw_segments);
  std::string normalized;
  Pieces pieces;
  for (const Segment& raw : raw_segments) {
    if (raw.id) {
      ids.push_back(*raw.id);
      continue;
    }
    std::string_view body = raw.text;
    if (impl.normalizer) {
      normalized.assign(raw.text);
      impl.normalizer->normalize(normalized);
      body = normalized;
    }
    normalized_segments.clear();
    impl.added->split(body, true, normalized_segments);
    for (const Segment& segment : normalized_segments) {
      if (segment.id) {
        ids.push_back(*segment.id);
        continue;
      }
      pieces.views.assign(1, segment.text);
      pieces.storage.clear();
      if (impl.pre_tokenizer) impl.pre_tokenizer->pre_tokenize(pieces);
      for (std::string_view piece : pieces.views) impl.model->tokenize(piece, ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), impl.affixes.suffix.begin(), impl.affixes.suffix.end());
  return ids;
}

bool Tokenizer::append_token_bytes(uint32_t id, bool skip_special_tokens, bool first, std::string& out) const {
  const auto& table = impl_->decode_table;
  if (id >= table.size() || !table[id].present) return false;
  if (skip_special_tokens && table[id].special) return false;
  if (impl_->join_with_spaces && !first) out += ' ';
  out += table[id].bytes;
  return true;
}

std::string Tokenizer::decode(std::span<const uint32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  bool first = true;
  for (uint32_t id : ids)
    if (append_token_bytes(id, skip_special_tokens, first, bytes)) first = false;
  return utf8::lossy(bytes);
}

uint32_t Tokenizer::vocab_size() const { return static_cast<uint32_t>(impl_->decode_table.size()); }

std::optional<uint32_t> Tokenizer::token_to_id(std::string_view token) const { return impl_->lookup(token); }

std::optional<std::string_view> Tokenizer::id_to_token(uint32_t id) const {
  for (const AddedToken& token : impl_->added->tokens())
    if (token.id == id) return token.content;
  if (const std::string* token = impl_->model->id_to_token(id)) return *token;
  return std::nullopt;
}

bool Tokenizer::is_special(uint32_t id) const {
  const auto& table = impl_->decode_table;
  return id < table.size() && table[id].present && table[id].special;
}

const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added->tokens(); }
std::optional<uint32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<uint32_t> Tokenizer::eos_id() const { return impl_->eos; }
std::optional<uint32_t> Tokenizer::pad_id() const { return impl_->pad; }
const TokenizerConfig& Tokenizer::config() const { return impl_->config; }

}  // namespace dseek
