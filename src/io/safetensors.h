// safetensors: an 8-byte little-endian header length, a JSON header, then the raw data.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/mapped_file.h"
#include "io/tensor_view.h"

namespace dseek {

struct SafetensorsHeader {
  std::vector<TensorView> tensors;  // data pointers relative to the data section (offset as pointer)
  std::map<std::string, std::string> metadata;
};

// Validates everything a header claims against the file's size: JSON shape, dtypes, shapes,
// offsets in range, byte counts matching dtype x shape, no overlapping tensors.
// Errors name `path` and the tensor or field at fault. Exposed for tests and fuzzing.
SafetensorsHeader parse_safetensors_header(std::string_view header_json, size_t data_size, const std::string& path);

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // mmap and validate

  const std::string& path() const { return file_.path(); }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  MappedFile file_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to write: F32/BF16/I32... raw little-endian bytes of the given shape.
struct TensorData {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<unsigned char> bytes;
};

void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace dseek
