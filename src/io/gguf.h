// GGUF (llama.cpp's model files), versions 2 and 3, little-endian:
//   "GGUF", u32 version, u64 tensor count, u64 metadata count,
//   metadata: (string key, u32 value type, value)*,
//   tensor infos: (string name, u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset)*,
//   padding to `general.alignment` (default 32), then the data section; every tensor's
//   offset is relative to it and a multiple of the alignment.
// Strings are a u64 byte length and the bytes; arrays a u32 element type, a u64 count and the
// elements. dims[0] is the fastest-varying dimension, so a PyTorch [rows, cols] weight has
// dims [cols, rows]; TensorViews here use the PyTorch order (outermost first).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "io/mapped_file.h"
#include "io/tensor_view.h"

namespace dseek {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
std::string_view gguf_type_name(GgufType type);

// One metadata value. Integers are held widened; `type` keeps the stored width so that a value
// read and written back is byte-identical.
struct GgufValue {
  GgufType type = GgufType::U32;
  GgufType array_type = GgufType::U8;  // element type when type == ARRAY (kept for empty arrays)
  std::variant<uint64_t, int64_t, double, bool, std::string, std::vector<GgufValue>> value;

  static GgufValue u8(uint8_t v) { return {GgufType::U8, GgufType::U8, uint64_t{v}}; }
  static GgufValue i8(int8_t v) { return {GgufType::I8, GgufType::U8, int64_t{v}}; }
  static GgufValue u16(uint16_t v) { return {GgufType::U16, GgufType::U8, uint64_t{v}}; }
  static GgufValue i16(int16_t v) { return {GgufType::I16, GgufType::U8, int64_t{v}}; }
  static GgufValue u32(uint32_t v) { return {GgufType::U32, GgufType::U8, uint64_t{v}}; }
  static GgufValue i32(int32_t v) { return {GgufType::I32, GgufType::U8, int64_t{v}}; }
  static GgufValue u64(uint64_t v) { return {GgufType::U64, GgufType::U8, v}; }
  static GgufValue i64(int64_t v) { return {GgufType::I64, GgufType::U8, v}; }
  static GgufValue f32(float v) { return {GgufType::F32, GgufType::U8, double{v}}; }
  static GgufValue f64(double v) { return {GgufType::F64, GgufType::U8, v}; }
  static GgufValue boolean(bool v) { return {GgufType::BOOL, GgufType::U8, v}; }
  static GgufValue string(std::string v) { return {GgufType::STRING, GgufType::U8, std::move(v)}; }
  // Every item must have type `elem`.
  static GgufValue array(GgufType elem, std::vector<GgufValue> items);
  static GgufValue strings(const std::vector<std::string>& items);

  // Typed reads; a value of another type is an Error naming `key`.
  int64_t as_int(std::string_view key) const;     // any integer type that fits in int64
  double as_float(std::string_view key) const;    // F32, F64 or any integer type
  bool as_bool(std::string_view key) const;
  const std::string& as_string(std::string_view key) const;
  const std::vector<GgufValue>& as_array(std::string_view key) const;

  bool operator==(const GgufValue&) const = default;
};

using GgufMetadata = std::vector<std::pair<std::string, GgufValue>>;  // in file order

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // GGUF order: dims[0] varies fastest
  uint32_t ggml_type = 0;
  uint64_t offset = 0;        // in the data section
};

// Everything a GGUF buffer describes, validated against its size.
struct GgufContents {
  uint32_t version = 3;
  GgufMetadata metadata;
  std::vector<GgufTensorInfo> infos;
  std::vector<TensorView> tensors;  // same order as infos; data points into the buffer
  size_t alignment = 32;
  size_t data_offset = 0;           // start of the data section in the buffer
};

// Parses and validates a whole GGUF file held in memory: magic and version, every length and
// count against the bytes left, value and tensor types, dims, alignment, tensor extents inside
// the data section and not overlapping, no duplicate keys or names. Errors name `path` and the
// key or tensor at fault. Exposed for tests and fuzzing.
GgufContents parse_gguf(const unsigned char* data, size_t size, const std::string& path);

// GGML's tensor type ids and the DTypes they are read as (F32, F16, BF16, I8..I64 and the block
// formats of quant/blocks.h, IQ4_NL included); other GGML types (the other IQ*, Q8_1, F64, ...)
// are not supported.
std::optional<DType> dtype_from_ggml(uint32_t ggml_type);
uint32_t ggml_from_dtype(DType dtype);  // Error for dtypes GGUF cannot hold (F8_E4M3, U8, BOOL)

// The shards of a model split the way llama.cpp's gguf-split writes it: PREFIX-00001-of-0000N.gguf
// up to PREFIX-0000N-of-0000N.gguf, each with split.no (0-based), split.count and, in the first,
// split.tensors.count and all the other metadata.
inline constexpr const char* kSplitNo = "split.no";
inline constexpr const char* kSplitCount = "split.count";
inline constexpr const char* kSplitTensors = "split.tensors.count";
std::string gguf_shard_path(std::string_view prefix, int shard, int count);  // shard 0-based

class GgufFile {
 public:
  // Maps and validates the file; the first shard of a split model maps the others beside it and
  // holds all their tensors (each naming its own shard). Errors name the missing or
  // inconsistent shard.
  explicit GgufFile(const std::string& path);

  const std::string& path() const { return files_.front()->path(); }
  int shards() const { return static_cast<int>(files_.size()); }
  uint32_t version() const { return contents_.version; }
  const GgufMetadata& metadata() const { return contents_.metadata; }
  const std::vector<TensorView>& tensors() const { return contents_.tensors; }
  const std::vector<GgufTensorInfo>& infos() const { return contents_.infos; }  // same order
  size_t alignment() const { return contents_.alignment; }
  size_t data_offset() const { return contents_.data_offset; }

  const GgufValue* find(std::string_view key) const;         // nullptr when absent
  const GgufValue& get(std::string_view key) const;          // Error naming the key and file
  const TensorView* find_tensor(std::string_view name) const;
  const TensorView& tensor(std::string_view name) const;     // Error naming the tensor and file

 private:
  std::vector<std::unique_ptr<MappedFile>> files_;
  GgufContents contents_;  // the first shard's, with every shard's tensors (infos' offsets are in their shard)
};

// A tensor to write: `data` holds row_bytes(dtype, shape.back()) * (other dims) bytes.
struct GgufTensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // PyTorch order, outermost first
  const void* data = nullptr;
};

// Tensor i's bytes when they are made as the file is written, so that only one tensor need be in
// memory at a time: called once per tensor, in order; the bytes must stay valid until the next call.
using GgufTensorSource = std::function<const void*(size_t i)>;

// Writes GGUF v3, the tensors' bytes from their `data` or, when given, from `source`. The
// alignment is `general.alignment` when the metadata has it (U32, a power of two), else 32.
// Errors name the file, key or tensor at fault.
void write_gguf(std::ostream& out, const GgufMetadata& metadata, const std::vector<GgufTensorData>& tensors,
                const GgufTensorSource& source = {});
void write_gguf(const std::string& path, const GgufMetadata& metadata, const std::vector<GgufTensorData>& tensors,
                const GgufTensorSource& source = {});

// Writes the tensors, in order, as shards of at most max_bytes of tensor data each (a larger
// tensor alone), named as gguf_shard_path(prefix, ...) with prefix = path less a ".gguf"
// ending; what fits in one shard is a plain file at path. Returns the paths written.
std::vector<std::string> write_gguf_split(const std::string& path, const GgufMetadata& metadata,
                                          const std::vector<GgufTensorData>& tensors, uint64_t max_bytes,
                                          const GgufTensorSource& source = {});

}  // namespace dseek
