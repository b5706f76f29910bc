// A Hugging Face model directory's weights: model.safetensors, or the shards that
// model.safetensors.index.json names. All files stay mapped while the Checkpoint lives.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/safetensors.h"

namespace dseek {

class Checkpoint {
 public:
  // Throws Error naming the directory or file when no weights are found or a shard is bad;
  // a tensor listed in the index but absent from its shard is an error naming both.
  static std::unique_ptr<Checkpoint> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const TensorView* find(std::string_view name) const;  // nullptr when absent
  const TensorView& get(std::string_view name) const;   // Error naming the tensor when absent
  std::vector<std::string> names() const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*, std::less<>> by_name_;
};

}  // namespace dseek
