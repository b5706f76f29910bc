#include "io/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io_test_util.h"
#include "util/error.h"

namespace dseek {
namespace {

namespace fs = std::filesystem;
using io_test::fixture;
using io_test::TempDir;

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// The message of the dseek::Error that opening `dir` throws, or a failure when none is thrown.
std::string open_error(const std::string& dir) {
  try {
    Checkpoint::open(dir);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "opening " << dir << " succeeded";
  return "";
}

int64_t blocks(int64_t n, int64_t block) { return (n + block - 1) / block; }

TEST(CheckpointOpen, V2LiteTinySingleFile) {
  const std::string dir = fixture("models/v2-lite-tiny");
  const nlohmann::json config = read_json(dir + "/config.json");
  const int64_t vocab = config["vocab_size"], hidden = config["hidden_size"];
  const int64_t layers = config["num_hidden_layers"], experts = config["n_routed_experts"];
  auto ckpt = Checkpoint::open(dir);
  EXPECT_EQ(ckpt->dir(), dir);

  const TensorView& embed = ckpt->get("model.embed_tokens.weight");
  EXPECT_EQ(embed.dtype, DType::BF16);
  EXPECT_EQ(embed.shape, (std::vector<int64_t>{vocab, hidden}));
  EXPECT_EQ(ckpt->get("model.norm.weight").shape, (std::vector<int64_t>{hidden}));
  for (int64_t i = 0; i < layers; ++i)
    EXPECT_NE(ckpt->find(fmt::format("model.layers.{}.input_layernorm.weight", i)), nullptr) << i;
  EXPECT_EQ(ckpt->find(fmt::format("model.layers.{}.input_layernorm.weight", layers)), nullptr);
  EXPECT_EQ(ckpt->get("model.layers.1.mlp.gate.weight").shape, (std::vector<int64_t>{experts, hidden}));

  const std::vector<std::string> names = ckpt->names();
  EXPECT_EQ(names.size(), SafetensorsFile(dir + "/model.safetensors").tensors().size());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(CheckpointOpen, MissingTensorNamesTensorAndDirectory) {
  const std::string dir = fixture("models/v2-lite-tiny");
  auto ckpt = Checkpoint::open(dir);
  EXPECT_EQ(ckpt->find("model.layers.0.no_such.weight"), nullptr);
  try {
    ckpt->get("model.layers.0.no_such.weight");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'model.layers.0.no_such.weight'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(dir), std::string::npos) << e.what();
  }
}

TEST(CheckpointOpen, V3TinyFp8Shards) {
  const std::string dir = fixture("models/v3-tiny-fp8");
  const nlohmann::json config = read_json(dir + "/config.json");
  const nlohmann::json index = read_json(dir + "/model.safetensors.index.json");
  const int64_t hidden = config["hidden_size"], q_lora = config["q_lora_rank"], kv_lora = config["kv_lora_rank"];
  const int64_t heads = config["num_attention_heads"], nope = config["qk_nope_head_dim"], v = config["v_head_dim"];
  const int64_t block = config["quantization_config"]["weight_block_size"][0];
  auto ckpt = Checkpoint::open(dir);

  // Every indexed tensor is found in the shard the index names; together they are total_size bytes.
  std::set<std::string> files;
  size_t total = 0;
  ASSERT_EQ(ckpt->names().size(), index["weight_map"].size());
  for (const auto& [name, shard] : index["weight_map"].items()) {
    const TensorView& t = ckpt->get(name);
    EXPECT_EQ(fs::path(t.file).filename(), shard.get<std::string>()) << name;
    files.insert(t.file);
    total += t.nbytes;
  }
  EXPECT_EQ(files.size(), 2u);
  EXPECT_EQ(total, index["metadata"]["total_size"].get<size_t>());

  const TensorView& q_a = ckpt->get("model.layers.0.self_attn.q_a_proj.weight");
  EXPECT_EQ(q_a.dtype, DType::F8_E4M3);
  EXPECT_EQ(q_a.shape, (std::vector<int64_t>{q_lora, hidden}));
  const TensorView& q_a_scale = ckpt->get("model.layers.0.self_attn.q_a_proj.weight_scale_inv");
  EXPECT_EQ(q_a_scale.dtype, DType::F32);
  EXPECT_EQ(q_a_scale.shape, (std::vector<int64_t>{blocks(q_lora, block), blocks(hidden, block)}));
  const TensorView& kv_b = ckpt->get("model.layers.0.self_attn.kv_b_proj.weight");
  EXPECT_EQ(kv_b.shape, (std::vector<int64_t>{heads * (nope + v), kv_lora}));
  EXPECT_EQ(ckpt->get("model.layers.0.self_attn.kv_b_proj.weight_scale_inv").shape,
            (std::vector<int64_t>{blocks(heads * (nope + v), block), blocks(kv_lora, block)}));
  // The MTP layer sits at index num_hidden_layers.
  const int64_t mtp = config["num_hidden_layers"];
  EXPECT_EQ(ckpt->get(fmt::format("model.layers.{}.eh_proj.weight", mtp)).shape,
            (std::vector<int64_t>{hidden, 2 * hidden}));
}

TEST(CheckpointOpen, RejectsDirectoryWithoutWeights) {
  TempDir dir;
  std::string message = open_error(dir.path());
  EXPECT_NE(message.find(dir.path()), std::string::npos) << message;
  EXPECT_NE(message.find("no weights"), std::string::npos) << message;
  // Other safetensors files (reference outputs) are not weights.
  fs::copy_file(fixture("models/v2-lite-tiny/reference.safetensors"), dir.file("reference.safetensors"));
  EXPECT_NE(open_error(dir.path()).find("no weights"), std::string::npos);

  message = open_error(dir.file("absent"));
  EXPECT_NE(message.find("absent"), std::string::npos) << message;
  message = open_error(dir.file("reference.safetensors"));
  EXPECT_NE(message.find("not a directory"), std::string::npos) << message;
}

TEST(CheckpointOpen, RejectsMissingShard) {
  TempDir dir;
  const std::string src = fixture("models/v3-tiny-fp8");
  fs::copy_file(src + "/model.safetensors.index.json", dir.file("model.safetensors.index.json"));
  fs::create_symlink(src + "/model-00001-of-00002.safetensors", dir.file("model-00001-of-00002.safetensors"));
  const std::string message = open_error(dir.path());
  EXPECT_NE(message.find("model-00002-of-00002.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("missing"), std::string::npos) << message;
}

TEST(CheckpointOpen, RejectsTensorAbsentFromShard) {
  TempDir dir;
  write_safetensors(dir.file("shard.safetensors"), {{"a", DType::F32, {1}, {0, 0, 0, 0}}});
  io_test::write_bytes(dir.file("model.safetensors.index.json"),
                       R"({"weight_map": {"a": "shard.safetensors", "b.weight": "shard.safetensors"}})");
  const std::string message = open_error(dir.path());
  EXPECT_NE(message.find("'b.weight'"), std::string::npos) << message;
  EXPECT_NE(message.find("shard.safetensors"), std::string::npos) << message;
}

TEST(CheckpointOpen, RejectsBadIndex) {
  TempDir dir;
  write_safetensors(dir.file("shard.safetensors"), {{"a", DType::F32, {1}, {0, 0, 0, 0}}});
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"weight_map\": ", "not valid JSON"},
      {"[]", "JSON object"},
      {R"({"metadata": {}})", "'weight_map'"},
      {R"({"weight_map": []})", "'weight_map'"},
      {R"({"weight_map": {}})", "no weights"},
      {R"({"weight_map": {"a": 3}})", "weight_map['a']"},
      {R"({"weight_map": {"a": "../shard.safetensors"}})", "weight_map['a']"},
  };
  for (const auto& [text, expect] : cases) {
    SCOPED_TRACE(text);
    io_test::write_bytes(dir.file("model.safetensors.index.json"), text);
    const std::string message = open_error(dir.path());
    EXPECT_NE(message.find("model.safetensors.index.json"), std::string::npos) << message;
    EXPECT_NE(message.find(expect), std::string::npos) << message;
  }
}

TEST(CheckpointOpen, ReportsCorruptShardByPath) {
  TempDir dir;
  io_test::write_bytes(dir.file("model.safetensors"), io_test::safetensors_bytes("{\"w\": 1}", ""));
  const std::string message = open_error(dir.path());
  EXPECT_NE(message.find(dir.file("model.safetensors")), std::string::npos) << message;
  EXPECT_NE(message.find("'w'"), std::string::npos) << message;
}

}  // namespace
}  // namespace dseek
