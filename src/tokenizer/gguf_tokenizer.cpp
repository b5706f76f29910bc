#include "tokenizer/gguf_tokenizer.h"

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/bpe.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "util/error.h"

namespace dseek {
namespace {

using json_fields::Json;

struct PreTokenizerSpec {
  const char* name;
  const char* json;
};

// The pre_tokenizer of each model's tokenizer.json, by llama.cpp's name for it (deepseek-v3: V3's
// tokenizer.json, whose regexes llama.cpp uses verbatim; the others approximate theirs).
constexpr PreTokenizerSpec kPreTokenizers[] = {
    {"deepseek-llm",
     R"json({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":")json"
     R"json([\r\n])json"
     R"json("},"behavior":"Isolated","invert":false},)json"
     R"json({"type":"Split","pattern":{"Regex":")json"
     R"json(\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ)json"
     R"json(-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ)json"
     R"json(-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨ)json"
     R"json(K-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆ)json"
     R"json(ﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+)json"
     R"json("},"behavior":"Isolated","invert":false},)json"
     R"json({"type":"Split","pattern":{"Regex":")json"
     R"json(\\s?[!-/:-~！-／：-～‘-‟　-。]+)json"
     R"json("},"behavior":"Isolated","invert":false},)json"
     R"json({"type":"Split","pattern":{"Regex":"\\s+$"},"behavior":"Isolated","invert":false},)json"
     R"json({"type":"Split","pattern":{"Regex":"[一-龥ࠀ-一가-퟿]+"},"behavior":"Isolated","invert":false},)json"
     R"json({"type":"Digits","individual_digits":true},)json"
     R"json({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]})json"},
    {"deepseek-coder",
     R"json({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":")json"
     R"json([\r\n])json"
     R"json("},"behavior":"Isolated","invert":false},)json"
     R"json({"type":"Split","pattern":{"Regex":"\\s?\\p{L}+"},"behavior":"Isolated","invert":false},)json"
     R"json({"type":"Split","pattern":{"Regex":"\\s?\\p{P}+"},"behavior":"Isolated","invert":false},)json"
     R"json({"type":"Split","pattern":{"Regex":"[一-龥ࠀ-一가-퟿]+"},"behavior":"Isolated","invert":false},)json"
     R"json({"type":"Digits","individual_digits":true},)json"
     R"json({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]})json"},
    {"deepseek-v3",
     R"json({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":")json"
     R"json(\\p{N}{1,3})json"
     R"json("},"behavior":"Isolated","invert":false},)json"
     R"json({"type":"Split","pattern":{"Regex":"[一-龥぀-ゟ゠-ヿ]+"},"behavior":"Isolated","invert":false},)json"
     R"json({"type":"Split","pattern":{"Regex":")json"
     R"json([!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Z)json"
     R"json(a-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|)json"
     R"json( ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S))json"
     R"json(|\\s+)json"
     R"json("},"behavior":"Isolated","invert":false},)json"
     R"json({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]})json"},
};

// llama.cpp's token types.
enum TokenType : int64_t { kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5 };

std::string known_pre_names() {
  std::string names;
  for (const PreTokenizerSpec& spec : kPreTokenizers) names += fmt::format("{}{}", names.empty() ? "" : ", ", spec.name);
  return names;
}

// Offsets are all trim_offsets changes, and dseek makes none: equal otherwise is the same split.
Json without_offsets(Json spec) {
  if (spec.is_object()) spec.erase("trim_offsets");
  if (spec.contains("pretokenizers"))
    for (Json& step : spec["pretokenizers"]) step.erase("trim_offsets");
  return spec;
}

// llama.cpp's name for a tokenizer.json pre_tokenizer, as its converter recognizes them.
std::string pre_tokenizer_name(const Json& pre_tokenizer, const std::string& where) {
  Json wanted = without_offsets(pre_tokenizer);
  for (const PreTokenizerSpec& spec : kPreTokenizers)
    if (without_offsets(Json::parse(spec.json)) == wanted) return spec.name;
  fail("{}: pre_tokenizer is none that llama.cpp knows for DeepSeek models ({})", where, known_pre_names());
}

}  // namespace

GgufMetadata gguf_tokenizer_metadata(const std::filesystem::path& dir, int64_t vocab_size,
                                     std::optional<int64_t> bos_id, std::optional<int64_t> eos_id) {
  std::string path = (dir / "tokenizer.json").string();
  Json j;
  try {
    j = Json::parse(json_fields::read_file(path));
  } catch (const Json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
  std::vector<std::string> tokens(vocab_size);
  std::vector<int64_t> types(vocab_size, kUnused);
  auto put = [&](int64_t id, const std::string& token, int64_t type) {
    if (id < 0 || id >= vocab_size)
      fail("{}: token \"{}\" has id {}, outside the model's vocabulary of {}", path, token, id, vocab_size);
    tokens[id] = token;
    types[id] = type;
  };
  std::vector<std::string> merges;
  std::string pre;
  try {
    if (j.at("model").value("type", "BPE") != "BPE") fail("{}: model.type is not BPE", path);
    pre = pre_tokenizer_name(j.at("pre_tokenizer"), path);
    for (const auto& [token, id] : j.at("model").at("vocab").items()) put(id.get<int64_t>(), token, kNormal);
    for (const auto& merge : j.at("model").at("merges"))
      merges.push_back(merge.is_string() ? merge.get<std::string>()
                                         : merge.at(0).get<std::string>() + " " + merge.at(1).get<std::string>());
    if (j.contains("added_tokens"))
      for (const auto& t : j.at("added_tokens"))
        put(t.at("id").get<int64_t>(), t.at("content").get<std::string>(),
            t.value("special", false) ? kControl : kUserDefined);
  } catch (const Json::exception& e) {
    fail("{}: not a BPE tokenizer.json: {}", path, e.what());
  }
  // Ids the tokenizer does not use (the vocabulary is padded), named as llama.cpp's converter does.
  for (int64_t i = 0; i < vocab_size; ++i)
    if (types[i] == kUnused) tokens[i] = "[PAD" + std::to_string(i) + "]";
  std::vector<GgufValue> type_values;
  for (int64_t t : types) type_values.push_back(GgufValue::i32(static_cast<int32_t>(t)));

  GgufMetadata m;
  m.emplace_back("tokenizer.ggml.model", GgufValue::string("gpt2"));
  m.emplace_back("tokenizer.ggml.pre", GgufValue::string(pre));
  m.emplace_back("tokenizer.ggml.tokens", GgufValue::strings(tokens));
  m.emplace_back("tokenizer.ggml.token_type", GgufValue::array(GgufType::I32, std::move(type_values)));
  m.emplace_back("tokenizer.ggml.merges", GgufValue::strings(merges));

  // The BOS/EOS transformers adds are what encode(add_special_tokens) puts around a text.
  Tokenizer tokenizer = Tokenizer::load(dir);
  std::optional<uint32_t> bos = tokenizer.bos_id(), eos = tokenizer.eos_id();
  if (!bos && bos_id) bos = static_cast<uint32_t>(*bos_id);
  if (!eos && eos_id) eos = static_cast<uint32_t>(*eos_id);
  std::vector<uint32_t> plain = tokenizer.encode("a"), wrapped = tokenizer.encode("a", true);
  bool add_bos = wrapped.size() > plain.size() && bos && wrapped.front() == *bos;
  bool add_eos = wrapped.size() > plain.size() && eos && wrapped.back() == *eos;
  if (wrapped.size() != plain.size() + add_bos + add_eos)
    fail("{}: encoding adds special tokens other than BOS and EOS, which GGUF cannot describe", path);
  auto add_id = [&](const char* key, std::optional<uint32_t> id) {
    if (!id) return;
    if (*id >= vocab_size) fail("{}: {} {} is outside the model's vocabulary of {}", path, key, *id, vocab_size);
    m.emplace_back(key, GgufValue::u32(*id));
  };
  add_id("tokenizer.ggml.bos_token_id", bos);
  add_id("tokenizer.ggml.eos_token_id", eos);
  add_id("tokenizer.ggml.padding_token_id", tokenizer.pad_id());
  if (const auto& unk = tokenizer.config().unk_token)
    add_id("tokenizer.ggml.unknown_token_id", tokenizer.token_to_id(*unk));
  m.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::boolean(add_bos));
  m.emplace_back("tokenizer.ggml.add_eos_token", GgufValue::boolean(add_eos));

  std::vector<std::string> named;
  for (const ChatTemplate& t : tokenizer.config().chat_templates) {
    if (t.name == "default") {
      m.emplace_back("tokenizer.chat_template", GgufValue::string(t.source));
    } else {
      m.emplace_back("tokenizer.chat_template." + t.name, GgufValue::string(t.source));
      named.push_back(t.name);
    }
  }
  if (!named.empty()) m.emplace_back("tokenizer.chat_templates", GgufValue::strings(named));
  return m;
}

Tokenizer load_gguf_tokenizer(const GgufFile& file) {
  auto where = [&](std::string_view key) { return fmt::format("{}: {}", file.path(), key); };
  const GgufValue* model = file.find("tokenizer.ggml.model");
  if (!model)
    fail("{}: the GGUF file has no tokenizer (no tokenizer.ggml.model); give --tokenizer DIR with the model's "
         "tokenizer.json",
         file.path());
  const std::string& model_name = model->as_string(where("tokenizer.ggml.model"));
  if (model_name == "none" || model_name == "no_vocab")
    fail("{}: the GGUF file has no tokenizer (tokenizer.ggml.model is \"{}\"); give --tokenizer DIR with the "
         "model's tokenizer.json",
         file.path(), model_name);
  if (model_name != "gpt2")
    fail("{}: tokenizer.ggml.model is \"{}\"; dseek reads byte-level BPE (\"gpt2\") tokenizers", file.path(),
         model_name);

  const GgufValue* pre = file.find("tokenizer.ggml.pre");
  if (!pre) fail("{}: tokenizer.ggml.pre is missing (known: {})", file.path(), known_pre_names());
  const std::string& pre_name = pre->as_string(where("tokenizer.ggml.pre"));
  const PreTokenizerSpec* pre_spec = nullptr;
  for (const PreTokenizerSpec& spec : kPreTokenizers)
    if (pre_name == spec.name) pre_spec = &spec;
  if (!pre_spec) fail("{}: tokenizer.ggml.pre \"{}\" is not supported (known: {})", file.path(), pre_name, known_pre_names());

  // An array of `type`: checked once, so elements are read without per-element checks.
  auto array_of = [&](std::string_view key, GgufType type) -> const std::vector<GgufValue>* {
    const GgufValue* value = file.find(key);
    if (!value) return nullptr;
    const auto& items = value->as_array(where(key));
    if (value->array_type != type)
      fail("{}: {} is an array of {}, expected {}", file.path(), key, gguf_type_name(value->array_type),
           gguf_type_name(type));
    return &items;
  };
  const auto* token_values = array_of("tokenizer.ggml.tokens", GgufType::STRING);
  if (!token_values) fail("{}: tokenizer.ggml.tokens is missing", file.path());
  const auto& tokens = *token_values;
  if (tokens.size() >= json_fields::kTokenIdLimit)
    fail("{}: tokenizer.ggml.tokens has {} tokens, more than dseek allows", file.path(), tokens.size());
  const auto* types = array_of("tokenizer.ggml.token_type", GgufType::I32);
  if (types && types->size() != tokens.size())
    fail("{}: tokenizer.ggml.token_type has {} entries for {} tokens", file.path(), types->size(), tokens.size());

  Bpe::VocabEntries vocab;
  Json added = Json::array();
  std::vector<bool> present(tokens.size());
  for (size_t id = 0; id < tokens.size(); ++id) {
    const std::string& token = std::get<std::string>(tokens[id].value);
    int64_t type = types ? std::get<int64_t>((*types)[id].value) : kNormal;
    present[id] = type != kUnused;
    if (type == kNormal) {
      vocab.emplace_back(token, static_cast<uint32_t>(id));
    } else if (type == kControl || type == kUserDefined) {
      added.push_back({{"id", id}, {"content", token}, {"special", type == kControl}});
    } else if (type != kUnused) {
      fail("{}: tokenizer.ggml.token_type[{}] is {}; dseek reads types 1 (normal), 3 (control), 4 (user-defined) "
           "and 5 (unused)",
           file.path(), id, type);
    }
  }

  const auto* merge_values = array_of("tokenizer.ggml.merges", GgufType::STRING);
  if (!merge_values) fail("{}: tokenizer.ggml.merges is missing", file.path());
  Json merges = Json::array();
  for (const GgufValue& merge : *merge_values) merges.push_back(std::get<std::string>(merge.value));

  TokenizerParts parts;
  parts.pre_tokenizer = make_pre_tokenizer(Json::parse(pre_spec->json), where("tokenizer.ggml.pre"));
  // Bpe names its merges "<where>.merges[i]": the GGUF key.
  Json bpe = {{"type", "BPE"}, {"vocab", Json::object()}, {"merges", std::move(merges)}};
  parts.model = std::make_unique<Bpe>(bpe, vocab, where("tokenizer.ggml"));
  parts.added = std::make_unique<AddedVocabulary>(added, nullptr, where("tokenizer.ggml.tokens"));

  TokenizerConfig config;
  auto special = [&](const char* key) -> std::optional<std::string> {
    const GgufValue* value = file.find(key);
    if (!value) return std::nullopt;
    int64_t id = value->as_int(where(key));
    if (id < 0 || static_cast<size_t>(id) >= tokens.size() || !present[id])
      fail("{}: {} {} is not a token of tokenizer.ggml.tokens", file.path(), key, id);
    return std::get<std::string>(tokens[id].value);
  };
  config.bos_token = special("tokenizer.ggml.bos_token_id");
  config.eos_token = special("tokenizer.ggml.eos_token_id");
  config.pad_token = special("tokenizer.ggml.padding_token_id");
  config.unk_token = special("tokenizer.ggml.unknown_token_id");
  // llama.cpp adds neither unless the file says so.
  auto flag = [&](const char* key) {
    const GgufValue* value = file.find(key);
    return value && value->as_bool(where(key));
  };
  config.add_bos_token = flag("tokenizer.ggml.add_bos_token");
  config.add_eos_token = flag("tokenizer.ggml.add_eos_token");
  if (*config.add_bos_token && !config.bos_token)
    fail("{}: tokenizer.ggml.add_bos_token is true but tokenizer.ggml.bos_token_id is missing", file.path());
  if (*config.add_eos_token && !config.eos_token)
    fail("{}: tokenizer.ggml.add_eos_token is true but tokenizer.ggml.eos_token_id is missing", file.path());

  if (const GgufValue* source = file.find("tokenizer.chat_template"))
    config.chat_templates.push_back({"default", source->as_string(where("tokenizer.chat_template"))});
  if (const GgufValue* names = file.find("tokenizer.chat_templates")) {
    const auto& list = names->as_array(where("tokenizer.chat_templates"));
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string& name = list[i].as_string(where(fmt::format("tokenizer.chat_templates[{}]", i)));
      std::string key = "tokenizer.chat_template." + name;
      config.chat_templates.push_back({name, file.get(key).as_string(where(key))});
    }
  }
  return Tokenizer::from_parts(std::move(parts), std::move(config));
}

}  // namespace dseek
