#include "tools/quantize.h"

#include <strings.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>

#include "io/gguf.h"
#include "kernels/convert.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"
#include "model/deepseek.h"
#include "model/gguf_model.h"
#include "quant/formats.h"
#include "tokenizer/gguf_tokenizer.h"
#include "util/error.h"

namespace dseek {
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
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

// llama.cpp's general.file_type (enum llama_ftype) for a --type: what the file mostly holds.
uint32_t file_type(const std::string& type) {
  static const std::pair<const char*, uint32_t> kFileTypes[] = {
      {"F32", 0},   {"F16", 1},     {"Q4_0", 2},   {"Q4_1", 3},    {"Q8_0", 7},   {"Q5_0", 8},
      {"Q5_1", 9},  {"Q2_K", 10},   {"Q3_K", 11},  {"Q3_K_M", 12}, {"Q4_K", 14},  {"Q4_K_M", 15},
      {"Q5_K", 16}, {"Q5_K_M", 17}, {"Q6_K", 18},  {"IQ4_NL", 25}, {"BF16", 32}};
  for (const auto& [name, id] : kFileTypes)
    if (strcasecmp(type.c_str(), name) == 0) return id;
  fail("--type: unknown type \"{}\"", type);
}

}  // namespace

std::vector<std::string> quantize_model(const std::string& input, const std::string& output, const QuantizeOptions& options,
                                        const QuantizeProgress& progress) {
  bool from_gguf = ends_with(input, ".gguf");
  std::unique_ptr<DeepSeekModel> model = from_gguf ? DeepSeekModel::load_gguf(input) : DeepSeekModel::load(input);
  const ModelConfig& c = model->config();
  QuantPlan plan(options.type, options.tensor_types, c.num_hidden_layers);
  std::string name = std::filesystem::path(input).filename().string();
  if (name.empty()) name = std::filesystem::path(input).parent_path().filename().string();
  GgufMetadata metadata = gguf_model_metadata(c, name);
  metadata.emplace_back("general.quantization_version", GgufValue::u32(2));
  metadata.emplace_back("general.file_type", GgufValue::u32(file_type(options.type)));
  std::string tokenizer_dir = options.tokenizer_dir.empty() && !from_gguf ? input : options.tokenizer_dir;
  GgufMetadata tokenizer;
  if (!tokenizer_dir.empty() && std::filesystem::exists(tokenizer_dir + "/tokenizer.json")) {
    std::optional<int64_t> eos;
    if (!c.eos_token_ids.empty()) eos = c.eos_token_ids.front();
    tokenizer = gguf_tokenizer_metadata(tokenizer_dir, c.vocab_size, c.bos_token_id, eos);
  } else if (!options.tokenizer_dir.empty()) {
    fail("--tokenizer: {} has no tokenizer.json", options.tokenizer_dir);
  } else if (from_gguf) {
    GgufFile in(input);
    for (const auto& [key, value] : in.metadata())
      if (key.starts_with("tokenizer.")) tokenizer.emplace_back(key, value);
  }
  // llama.cpp requires tokenizer.ggml.model; "none" loads the weights with a vocabulary of bare ids.
  if (tokenizer.empty()) tokenizer.emplace_back("tokenizer.ggml.model", GgufValue::string("none"));
  metadata.insert(metadata.end(), tokenizer.begin(), tokenizer.end());

  std::vector<Source> sources = model_sources(c, model->weights());
  int64_t total = 0, done = 0;
  std::vector<GgufTensorData> tensors;
  for (const Source& s : sources) {
    total += s.numel();
    tensors.push_back({s.name, plan.choose(s.name, s.shape), s.shape, nullptr});
  }
  // Each tensor is converted as the writer reaches it: memory holds one, not the model.
  std::vector<float> f32;
  std::vector<unsigned char> data;
  auto convert_tensor = [&](size_t i) -> const void* {
    const Source& s = sources[i];
    f32.assign(s.numel(), 0.0f);
    s.fill(f32.data());
    const int64_t cols = s.shape.back();
    data = convert(f32, s.numel() / cols, cols, tensors[i].dtype);
    if (progress) progress(done += s.numel(), total);
    return data.data();
  };
  const uint64_t shard_bytes = options.split_max_bytes ? options.split_max_bytes : std::numeric_limits<uint64_t>::max();
  return write_gguf_split(output, metadata, tensors, shard_bytes, convert_tensor);
}

}  // namespace dseek
