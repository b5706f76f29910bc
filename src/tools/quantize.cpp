#include "tools/quantize.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "kernels/convert.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"
#include "model/deepseek.h"
#include "model/gguf_model.h"
#include "quant/formats.h"
#include "tokenizer/tokenizer_config.h"
#include "util/error.h"

namespace dseek {
namespace {

constexpr DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                                  DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL, DType::Q2_K,
                                  DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::string upper(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// llama.cpp's substitutes for types whose blocks do not divide a row.
DType fallback(DType t, int64_t cols) {
  auto fits = [cols](DType d) { return cols % static_cast<int64_t>(dtype_block_elems(d)) == 0; };
  if (fits(t)) return t;
  DType f = DType::F16;
  switch (t) {
    case DType::Q4_K: f = DType::Q5_0; break;
    case DType::Q5_K: f = DType::Q5_1; break;
    case DType::Q6_K: f = DType::Q8_0; break;
    case DType::Q2_K:
    case DType::Q3_K: f = DType::IQ4_NL; break;
    default: break;
  }
  return fits(f) ? f : DType::F16;
}

// A matrix of any stored format as F32 rows.
void weight_to_f32(const Weight& w, float* out) {
  if (is_quantized(w.dtype)) {
    const unsigned char* p = static_cast<const unsigned char*>(w.data);
    size_t stride = row_bytes(w.dtype, w.row_stride);
    for (int64_t r = 0; r < w.rows; ++r) dequantize_row(w.dtype, p + r * stride, out + r * w.cols, w.cols);
  } else {
    dequantize_rows(w, 0, w.rows, out);
  }
}

// A tensor to write: its GGUF name and PyTorch-order shape, and how to get it as F32.
struct Source {
  std::string name;
  std::vector<int64_t> shape;
  std::function<void(float*)> fill;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

std::string blk(int layer, const std::string& name) { return "blk." + std::to_string(layer) + "." + name + ".weight"; }

void add_matrix(std::vector<Source>& out, std::string name, const Weight& w) {
  out.push_back({std::move(name), {w.rows, w.cols}, [w](float* y) { weight_to_f32(w, y); }});
}

void add_vector(std::vector<Source>& out, std::string name, const std::vector<float>& v) {
  out.push_back({std::move(name), {static_cast<int64_t>(v.size())}, [&v](float* y) { std::copy(v.begin(), v.end(), y); }});
}

void add_mlp(std::vector<Source>& out, int l, const std::string& suffix, const MlpWeights& m) {
  add_matrix(out, blk(l, "ffn_gate" + suffix), m.gate);
  add_matrix(out, blk(l, "ffn_up" + suffix), m.up);
  add_matrix(out, blk(l, "ffn_down" + suffix), m.down);
}

// Routed experts stacked [E, N, K], one projection at a time.
void add_experts(std::vector<Source>& out, int l, const std::string& what, const std::vector<MlpWeights>& experts,
                 Weight MlpWeights::*member) {
  const Weight& first = experts.front().*member;
  out.push_back({blk(l, what + "_exps"),
                 {static_cast<int64_t>(experts.size()), first.rows, first.cols},
                 [&experts, member](float* y) {
                   for (const MlpWeights& e : experts) {
                     const Weight& w = e.*member;
                     weight_to_f32(w, y);
                     y += w.rows * w.cols;
                   }
                 }});
}

// Every tensor of the model under llama.cpp's names, with kv_b split per head into
// attn_k_b [H, kv_lora, nope] (transposed) and attn_v_b [H, v, kv_lora], as its converter does.
std::vector<Source> model_sources(const ModelConfig& c, const ModelWeights& w) {
  std::vector<Source> out;
  add_matrix(out, "token_embd.weight", w.embed);
  const int64_t h = c.num_attention_heads, rank = c.kv_lora_rank, nope = c.qk_nope_head_dim, v = c.v_head_dim;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& L = w.layers[l];
    const AttentionWeights& a = L.attn;
    add_vector(out, blk(l, "attn_norm"), L.attn_norm);
    if (c.q_lora_rank > 0) {
      add_matrix(out, blk(l, "attn_q_a"), a.q_a);
      add_vector(out, blk(l, "attn_q_a_norm"), a.q_a_norm);
      add_matrix(out, blk(l, "attn_q_b"), a.q_b);
    } else {
      add_matrix(out, blk(l, "attn_q"), a.q);
    }
    add_matrix(out, blk(l, "attn_kv_a_mqa"), a.kv_a);
    add_vector(out, blk(l, "attn_kv_a_norm"), a.kv_a_norm);
    if (a.k_b.data) {
      out.push_back({blk(l, "attn_k_b"), {h, rank, nope}, [k_b = a.k_b](float* y) { weight_to_f32(k_b, y); }});
      out.push_back({blk(l, "attn_v_b"), {h, v, rank}, [v_b = a.v_b](float* y) { weight_to_f32(v_b, y); }});
    } else {
      Weight kv_b = a.kv_b;
      out.push_back({blk(l, "attn_k_b"), {h, rank, nope}, [=](float* y) {
                       std::vector<float> kv(kv_b.rows * kv_b.cols);
                       weight_to_f32(kv_b, kv.data());
                       for (int64_t hh = 0; hh < h; ++hh)
                         for (int64_t r = 0; r < rank; ++r)
                           for (int64_t n = 0; n < nope; ++n) y[(hh * rank + r) * nope + n] = kv[(hh * (nope + v) + n) * rank + r];
                     }});
      out.push_back({blk(l, "attn_v_b"), {h, v, rank}, [=](float* y) {
                       std::vector<float> kv(kv_b.rows * kv_b.cols);
                       weight_to_f32(kv_b, kv.data());
                       for (int64_t hh = 0; hh < h; ++hh)
                         std::copy_n(kv.data() + (hh * (nope + v) + nope) * rank, v * rank, y + hh * v * rank);
                     }});
    }
    add_matrix(out, blk(l, "attn_output"), a.o);
    add_vector(out, blk(l, "ffn_norm"), L.ffn_norm);
    if (L.mlp) {
      add_mlp(out, l, "", *L.mlp);
      continue;
    }
    const MoeWeights& m = *L.moe;
    add_matrix(out, blk(l, "ffn_gate_inp"), m.router);
    if (!m.score_bias.empty()) {
      const std::vector<float>& bias = m.score_bias;
      out.push_back({"blk." + std::to_string(l) + ".exp_probs_b.bias", {static_cast<int64_t>(bias.size())},
                     [&bias](float* y) { std::copy(bias.begin(), bias.end(), y); }});
    }
    add_experts(out, l, "ffn_gate", m.experts, &MlpWeights::gate);
    add_experts(out, l, "ffn_up", m.experts, &MlpWeights::up);
    add_experts(out, l, "ffn_down", m.experts, &MlpWeights::down);
    if (m.shared) add_mlp(out, l, "_shexp", *m.shared);
  }
  add_vector(out, "output_norm.weight", w.final_norm);
  if (!c.tie_word_embeddings) add_matrix(out, "output.weight", w.lm_head);
  return out;
}

// F32 rows [rows, cols] -> bytes of `dtype`, rows quantized in parallel.
std::vector<unsigned char> convert(const std::vector<float>& x, int64_t rows, int64_t cols, DType dtype) {
  size_t rb = row_bytes(dtype, cols);
  std::vector<unsigned char> out(rb * rows);
  ThreadPool::global().parallel_for(rows, [&](int, int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* src = x.data() + r * cols;
      unsigned char* dst = out.data() + r * rb;
      if (dtype == DType::F32) {
        std::memcpy(dst, src, rb);
      } else if (dtype == DType::F16 || dtype == DType::BF16) {
        for (int64_t i = 0; i < cols; ++i) {
          uint16_t bits = dtype == DType::F16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i]);
          std::memcpy(dst + 2 * i, &bits, 2);
        }
      } else {
        quantize_row(dtype, src, dst, cols);
      }
    }
  });
  return out;
}

// llama.cpp's token types.
enum TokenType : int32_t { kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5 };

// tokenizer.ggml.* keys from DIR/tokenizer.json (+ tokenizer_config.json), BPE as "gpt2".
void add_tokenizer_metadata(const std::string& dir, const ModelConfig& c, GgufMetadata& m) {
  std::string path = dir + "/tokenizer.json";
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.str());
  } catch (const std::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
  std::vector<std::string> tokens(c.vocab_size);
  std::vector<int32_t> types(c.vocab_size, kUnused);
  auto put = [&](int64_t id, const std::string& token, int32_t type) {
    if (id < 0 || id >= c.vocab_size) fail("{}: token \"{}\" has id {}, outside the model's vocabulary of {}", path, token, id, c.vocab_size);
    tokens[id] = token;
    types[id] = type;
  };
  std::vector<std::string> merges;
  try {
    for (const auto& [token, id] : j.at("model").at("vocab").items()) put(id.get<int64_t>(), token, kNormal);
    for (const auto& merge : j.at("model").at("merges"))
      merges.push_back(merge.is_string() ? merge.get<std::string>()
                                         : merge.at(0).get<std::string>() + " " + merge.at(1).get<std::string>());
    if (j.contains("added_tokens"))
      for (const auto& t : j.at("added_tokens"))
        put(t.at("id").get<int64_t>(), t.at("content").get<std::string>(),
            t.value("special", false) ? kControl : kUserDefined);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a BPE tokenizer.json: {}", path, e.what());
  }
  // Ids the tokenizer does not use (the vocabulary is padded), named as llama.cpp's converter does.
  for (int64_t i = 0; i < c.vocab_size; ++i)
    if (types[i] == kUnused) tokens[i] = "[PAD" + std::to_string(i) + "]";
  std::vector<GgufValue> type_values;
  for (int32_t t : types) type_values.push_back(GgufValue::i32(t));
  m.emplace_back("tokenizer.ggml.model", GgufValue::string("gpt2"));
  m.emplace_back("tokenizer.ggml.pre", GgufValue::string(c.model_type == "deepseek_v3" ? "deepseek-v3" : "deepseek-llm"));
  m.emplace_back("tokenizer.ggml.tokens", GgufValue::strings(tokens));
  m.emplace_back("tokenizer.ggml.token_type", GgufValue::array(GgufType::I32, std::move(type_values)));
  m.emplace_back("tokenizer.ggml.merges", GgufValue::strings(merges));
  if (c.bos_token_id) m.emplace_back("tokenizer.ggml.bos_token_id", GgufValue::u32(static_cast<uint32_t>(*c.bos_token_id)));
  if (!c.eos_token_ids.empty())
    m.emplace_back("tokenizer.ggml.eos_token_id", GgufValue::u32(static_cast<uint32_t>(c.eos_token_ids.front())));
  TokenizerConfig config = TokenizerConfig::load(dir);
  if (config.add_bos_token) m.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::boolean(*config.add_bos_token));
  if (config.add_eos_token) m.emplace_back("tokenizer.ggml.add_eos_token", GgufValue::boolean(*config.add_eos_token));
  if (const ChatTemplate* t = config.chat_template()) m.emplace_back("tokenizer.chat_template", GgufValue::string(t->source));
}

}  // namespace

DType parse_weight_type(const std::string& name, const std::string& option) {
  std::string u = upper(name);
  std::string known;
  for (DType t : kWeightTypes) {
    if (dtype_name(t) == u) return t;
    known += (known.empty() ? "" : ", ") + std::string(dtype_name(t));
  }
  fail("{}: unknown type \"{}\" (known: {}, Q3_K_M, Q4_K_M, Q5_K_M)", option, name, known);
}

QuantPlan::QuantPlan(const std::string& type, const std::vector<std::string>& tensor_types) {
  for (const std::string& spec : tensor_types) {
    size_t eq = spec.rfind('=');
    if (eq == std::string::npos || eq == 0)
      fail("--tensor-type: \"{}\" is not REGEX=TYPE (e.g. ffn_down=Q6_K)", spec);
    DType t = parse_weight_type(spec.substr(eq + 1), "--tensor-type " + spec);
    try {
      overrides_.push_back({std::regex(spec.substr(0, eq)), t});
    } catch (const std::regex_error& e) {
      fail("--tensor-type: bad regular expression \"{}\": {}", spec.substr(0, eq), e.what());
    }
  }
  user_rules_ = overrides_.size();
  std::string u = upper(type);
  // The _M presets keep the tensors most sensitive to error (llama.cpp's choice) in a wider type.
  DType bump = DType::F32;
  if (u == "Q3_K_M") base_ = DType::Q3_K, bump = DType::Q5_K;
  else if (u == "Q4_K_M") base_ = DType::Q4_K, bump = DType::Q6_K;
  else if (u == "Q5_K_M") base_ = DType::Q5_K, bump = DType::Q6_K;
  else base_ = parse_weight_type(type, "--type");
  if (bump != DType::F32) overrides_.push_back({std::regex("^output\\.|attn_v_b|ffn_down"), bump});
}

DType QuantPlan::choose(const std::string& name, const std::vector<int64_t>& shape) const {
  if (shape.size() < 2 || ends_with(name, "ffn_gate_inp.weight")) return DType::F32;
  DType t = base_;
  for (const Rule& rule : overrides_) {
    if (std::regex_search(name, rule.pattern)) {
      t = rule.dtype;
      break;
    }
  }
  return fallback(t, shape.back());
}

void quantize_model(const std::string& input, const std::string& output, const QuantizeOptions& options,
                    const QuantizeProgress& progress) {
  QuantPlan plan(options.type, options.tensor_types);
  bool from_gguf = ends_with(input, ".gguf");
  std::unique_ptr<DeepSeekModel> model = from_gguf ? DeepSeekModel::load_gguf(input) : DeepSeekModel::load(input);
  const ModelConfig& c = model->config();
  std::string name = std::filesystem::path(input).filename().string();
  if (name.empty()) name = std::filesystem::path(input).parent_path().filename().string();
  GgufMetadata metadata = gguf_model_metadata(c, name);
  metadata.emplace_back("general.quantization_version", GgufValue::u32(2));
  std::string tokenizer_dir = options.tokenizer_dir.empty() && !from_gguf ? input : options.tokenizer_dir;
  if (!tokenizer_dir.empty() && std::filesystem::exists(tokenizer_dir + "/tokenizer.json")) {
    add_tokenizer_metadata(tokenizer_dir, c, metadata);
  } else if (!options.tokenizer_dir.empty()) {
    fail("--tokenizer: {} has no tokenizer.json", options.tokenizer_dir);
  } else if (from_gguf) {
    GgufFile in(input);
    for (const auto& [key, value] : in.metadata())
      if (key.starts_with("tokenizer.")) metadata.emplace_back(key, value);
  }

  std::vector<Source> sources = model_sources(c, model->weights());
  int64_t total = 0, done = 0;
  for (const Source& s : sources) total += s.numel();
  std::vector<std::vector<unsigned char>> data;
  std::vector<GgufTensorData> tensors;
  std::vector<float> f32;
  for (const Source& s : sources) {
    DType t = plan.choose(s.name, s.shape);
    f32.assign(s.numel(), 0.0f);
    s.fill(f32.data());
    int64_t cols = s.shape.back();
    data.push_back(convert(f32, s.numel() / cols, cols, t));
    tensors.push_back({s.name, t, s.shape, nullptr});
    if (progress) progress(done += s.numel(), total);
  }
  for (size_t i = 0; i < tensors.size(); ++i) tensors[i].data = data[i].data();
  write_gguf(output, metadata, tensors);
}

}  // namespace dseek
