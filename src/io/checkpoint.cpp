#include "io/checkpoint.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace dseek {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kIndexName = "model.safetensors.index.json";
constexpr const char* kSingleName = "model.safetensors";

// weight_map of a sharded checkpoint's index: tensor name -> shard file name.
std::map<std::string, std::string> read_weight_map(const std::string& index_path) {
  std::ifstream in(index_path, std::ios::binary);
  if (!in) fail("cannot open {}", index_path);
  std::stringstream text;
  text << in.rdbuf();
  json index;
  try {
    index = json::parse(text.str());
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", index_path, e.what());
  }
  if (!index.is_object()) fail("{}: must be a JSON object, found {}", index_path, index.type_name());
  auto it = index.find("weight_map");
  if (it == index.end()) fail("{}: missing field 'weight_map'", index_path);
  if (!it->is_object()) fail("{}: field 'weight_map' must be an object, found {}", index_path, it->type_name());
  if (it->empty()) fail("{}: weight_map is empty: the checkpoint has no weights", index_path);

  std::map<std::string, std::string> weight_map;
  for (const auto& [tensor, shard] : it->items()) {
    if (!shard.is_string())
      fail("{}: weight_map['{}'] must be a shard file name, found {}", index_path, tensor, shard.type_name());
    const std::string& name = shard.get_ref<const std::string&>();
    // Shards live next to the index; anything else would let an index reach arbitrary files.
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
      fail("{}: weight_map['{}'] = '{}' is not a file name in the checkpoint directory", index_path, tensor, name);
    weight_map.emplace(tensor, name);
  }
  return weight_map;
}

}  // namespace

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("{}: not a directory", dir);
  auto ckpt = std::make_unique<Checkpoint>();
  ckpt->dir_ = dir;
  const std::string index_path = (fs::path(dir) / kIndexName).string();
  const std::string single_path = (fs::path(dir) / kSingleName).string();

  if (fs::exists(index_path, ec)) {
    const std::map<std::string, std::string> weight_map = read_weight_map(index_path);
    std::map<std::string, std::unordered_map<std::string_view, const TensorView*>> shards;
    for (const auto& [tensor, shard] : weight_map) {
      if (shards.count(shard)) continue;
      const std::string shard_path = (fs::path(dir) / shard).string();
      if (!fs::exists(shard_path, ec))
        fail("{}: shard {} (holding tensor '{}') is missing", index_path, shard_path, tensor);
      ckpt->files_.push_back(std::make_unique<SafetensorsFile>(shard_path));
      auto& by_name = shards[shard];
      for (const TensorView& t : ckpt->files_.back()->tensors()) by_name.emplace(t.name, &t);
    }
    // The index is authoritative: tensors a shard holds but the index does not list stay unused,
    // as in the Hugging Face loaders.
    for (const auto& [tensor, shard] : weight_map) {
      const auto& by_name = shards.at(shard);
      auto it = by_name.find(tensor);
      if (it == by_name.end())
        fail("{}: tensor '{}' is listed in {} but absent from that shard", (fs::path(dir) / shard).string(), tensor,
             index_path);
      ckpt->by_name_.emplace(tensor, it->second);
    }
  } else if (fs::exists(single_path, ec)) {
    ckpt->files_.push_back(std::make_unique<SafetensorsFile>(single_path));
    for (const TensorView& t : ckpt->files_.back()->tensors()) ckpt->by_name_.emplace(t.name, &t);
    if (ckpt->by_name_.empty()) fail("{}: holds no tensors", single_path);
  } else {
    fail("{}: no weights found (neither {} nor {})", dir, kSingleName, kIndexName);
  }
  return ckpt;
}

const TensorView* Checkpoint::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const TensorView& Checkpoint::get(std::string_view name) const {
  const TensorView* t = find(name);
  if (t == nullptr) fail("tensor '{}' not found in checkpoint {}", name, dir_);
  return *t;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& [name, view] : by_name_) out.push_back(name);
  return out;
}

}  // namespace dseek
