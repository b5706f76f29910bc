// A tensor as stored in a file: dtype, shape and a pointer into the mapping. No copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "io/dtype.h"

namespace dseek {

struct TensorView {
  std::string name;
  std::string file;  // where it lives, for error messages
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;

  int64_t numel() const;
  std::string shape_string() const;  // "[2048, 102400]"
};

}  // namespace dseek
