#include "io/gguf.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <ostream>
#include <set>

#include "util/error.h"

namespace dseek {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr size_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;         // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;        // arrays of arrays: bounded so input cannot exhaust the stack
// Elements of one metadata array. Real files hold up to a few hundred thousand (the vocabulary);
// each element costs a GgufValue in memory, so a corrupt count must not become a huge allocation.
constexpr uint64_t kMaxArrayElements = uint64_t{1} << 24;

struct GgmlTypeInfo {
  uint32_t id;
  std::string_view name;
  std::optional<DType> dtype;
};

// GGML's type ids (ggml.h). Ids 4, 5, 31..33 and 36..38 were retired. IQ4_NL is among the
// readable ones: llama.cpp stores the rows of K-quant mixes that are not whole 256-value blocks
// in it (e.g. DeepSeek-V2-Lite's 1408-wide ffn_down_exps at Q2_K/Q3_K).
constexpr std::array<GgmlTypeInfo, 32> kGgmlTypes{{
    {0, "F32", DType::F32},      {1, "F16", DType::F16},      {2, "Q4_0", DType::Q4_0},
    {3, "Q4_1", DType::Q4_1},    {6, "Q5_0", DType::Q5_0},    {7, "Q5_1", DType::Q5_1},
    {8, "Q8_0", DType::Q8_0},    {9, "Q8_1", std::nullopt},   {10, "Q2_K", DType::Q2_K},
    {11, "Q3_K", DType::Q3_K},   {12, "Q4_K", DType::Q4_K},   {13, "Q5_K", DType::Q5_K},
    {14, "Q6_K", DType::Q6_K},   {15, "Q8_K", DType::Q8_K},   {16, "IQ2_XXS", std::nullopt},
    {17, "IQ2_XS", std::nullopt}, {18, "IQ3_XXS", std::nullopt}, {19, "IQ1_S", std::nullopt},
    {20, "IQ4_NL", DType::IQ4_NL}, {21, "IQ3_S", std::nullopt},  {22, "IQ2_S", std::nullopt},
    {23, "IQ4_XS", std::nullopt}, {24, "I8", DType::I8},        {25, "I16", DType::I16},
    {26, "I32", DType::I32},      {27, "I64", DType::I64},      {28, "F64", std::nullopt},
    {29, "IQ1_M", std::nullopt},  {30, "BF16", DType::BF16},    {34, "TQ1_0", std::nullopt},
    {35, "TQ2_0", std::nullopt},  {39, "MXFP4", std::nullopt},
}};

const GgmlTypeInfo* ggml_type_info(uint32_t id) {
  for (const GgmlTypeInfo& t : kGgmlTypes)
    if (t.id == id) return &t;
  return nullptr;
}

// Bytes a value of this type takes at the least: bounds array counts before allocating.
size_t min_value_bytes(GgufType type) {
  switch (type) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: case GgufType::STRING: return 8;
    case GgufType::ARRAY: return 12;
  }
  return 1;
}

bool valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::F64); }

// Bounds-checked little-endian reads from the buffer; `what` names the item for errors.
class Cursor {
 public:
  Cursor(const unsigned char* data, size_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }

  template <typename T>
  T read(std::string_view what) {
    if (left() < sizeof(T)) fail("{}: truncated: {} needs {} bytes at offset {}, {} left", path_, what, sizeof(T), pos_, left());
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(std::string_view what) {
    uint64_t len = read<uint64_t>(what);
    if (len > left())
      fail("{}: {} has string length {} at offset {}, past the end of the file ({} bytes left)", path_, what, len,
           pos_ - 8, left());
    std::string s(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return s;
  }

 private:
  const unsigned char* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

GgufValue read_value(Cursor& in, GgufType type, const std::string& key, const std::string& path, int depth) {
  const std::string what = "metadata key '" + key + "'";
  switch (type) {
    case GgufType::U8: return GgufValue::u8(in.read<uint8_t>(what));
    case GgufType::I8: return GgufValue::i8(in.read<int8_t>(what));
    case GgufType::U16: return GgufValue::u16(in.read<uint16_t>(what));
    case GgufType::I16: return GgufValue::i16(in.read<int16_t>(what));
    case GgufType::U32: return GgufValue::u32(in.read<uint32_t>(what));
    case GgufType::I32: return GgufValue::i32(in.read<int32_t>(what));
    case GgufType::U64: return GgufValue::u64(in.read<uint64_t>(what));
    case GgufType::I64: return GgufValue::i64(in.read<int64_t>(what));
    case GgufType::F32: return GgufValue::f32(in.read<float>(what));
    case GgufType::F64: return GgufValue::f64(in.read<double>(what));
    case GgufType::BOOL: {
      uint8_t b = in.read<uint8_t>(what);
      if (b > 1) fail("{}: {} is a bool stored as {}, not 0 or 1", path, what, b);
      return GgufValue::boolean(b != 0);
    }
    case GgufType::STRING: return GgufValue::string(in.read_string(what));
    case GgufType::ARRAY: {
      if (depth >= kMaxArrayDepth) fail("{}: {} nests arrays more than {} deep", path, what, kMaxArrayDepth);
      uint32_t elem = in.read<uint32_t>(what);
      if (!valid_type(elem)) fail("{}: {} is an array of unknown value type {}", path, what, elem);
      uint64_t count = in.read<uint64_t>(what);
      GgufType elem_type = static_cast<GgufType>(elem);
      if (count > kMaxArrayElements)
        fail("{}: {} claims {} array elements, more than the {} supported", path, what, count, kMaxArrayElements);
      if (count > in.left() / min_value_bytes(elem_type))
        fail("{}: {} claims {} array elements of type {}, more than the {} bytes left hold", path, what, count,
             gguf_type_name(elem_type), in.left());
      std::vector<GgufValue> items;
      items.reserve(count);
      for (uint64_t i = 0; i < count; ++i) items.push_back(read_value(in, elem_type, key, path, depth + 1));
      GgufValue v{GgufType::ARRAY, elem_type, std::move(items)};
      return v;
    }
  }
  fail("{}: {} has unknown value type {}", path, what, static_cast<uint32_t>(type));
}

size_t align_up(size_t n, size_t alignment) { return (n + alignment - 1) / alignment * alignment; }

// ---- writing ----

// Little-endian output that counts its bytes, for padding to the alignment.
class Sink {
 public:
  explicit Sink(std::ostream& out) : out_(out) {}
  uint64_t written() const { return written_; }

  void bytes(const void* p, uint64_t n) {
    out_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    written_ += n;
  }
  template <typename T>
  void put(T v) {
    bytes(&v, sizeof v);
  }
  void string(const std::string& s) {
    put<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad_to(uint64_t alignment) {
    static const char kZeros[256] = {};
    while (written_ % alignment != 0) bytes(kZeros, std::min<uint64_t>(alignment - written_ % alignment, sizeof kZeros));
  }

 private:
  std::ostream& out_;
  uint64_t written_ = 0;
};

void put_value(Sink& out, const GgufValue& v, const std::string& key) {
  auto uint = [&] { return std::get<uint64_t>(v.value); };
  auto sint = [&] { return std::get<int64_t>(v.value); };
  try {
    switch (v.type) {
      case GgufType::U8: return out.put<uint8_t>(static_cast<uint8_t>(uint()));
      case GgufType::I8: return out.put<int8_t>(static_cast<int8_t>(sint()));
      case GgufType::U16: return out.put<uint16_t>(static_cast<uint16_t>(uint()));
      case GgufType::I16: return out.put<int16_t>(static_cast<int16_t>(sint()));
      case GgufType::U32: return out.put<uint32_t>(static_cast<uint32_t>(uint()));
      case GgufType::I32: return out.put<int32_t>(static_cast<int32_t>(sint()));
      case GgufType::U64: return out.put<uint64_t>(uint());
      case GgufType::I64: return out.put<int64_t>(sint());
      case GgufType::F32: return out.put<float>(static_cast<float>(std::get<double>(v.value)));
      case GgufType::F64: return out.put<double>(std::get<double>(v.value));
      case GgufType::BOOL: return out.put<uint8_t>(std::get<bool>(v.value) ? 1 : 0);
      case GgufType::STRING: return out.string(std::get<std::string>(v.value));
      case GgufType::ARRAY: {
        const auto& items = std::get<std::vector<GgufValue>>(v.value);
        out.put<uint32_t>(static_cast<uint32_t>(v.array_type));
        out.put<uint64_t>(items.size());
        for (const GgufValue& item : items) {
          if (item.type != v.array_type)
            fail("metadata key '{}': array of {} holds a {}", key, gguf_type_name(v.array_type), gguf_type_name(item.type));
          put_value(out, item, key);
        }
        return;
      }
    }
  } catch (const std::bad_variant_access&) {
  }
  fail("metadata key '{}': value does not hold a {}", key, gguf_type_name(v.type));
}

}  // namespace

std::string_view gguf_type_name(GgufType type) {
  static constexpr std::string_view kNames[] = {"u8",  "i8",   "u16",    "i16",   "u32", "i32", "f32",
                                                "bool", "string", "array", "u64", "i64", "f64"};
  uint32_t t = static_cast<uint32_t>(type);
  return t < std::size(kNames) ? kNames[t] : "unknown";
}

GgufValue GgufValue::array(GgufType elem, std::vector<GgufValue> items) {
  for (const GgufValue& item : items)
    if (item.type != elem) fail("a GGUF array of {} cannot hold a {}", gguf_type_name(elem), gguf_type_name(item.type));
  return {GgufType::ARRAY, elem, std::move(items)};
}

GgufValue GgufValue::strings(const std::vector<std::string>& items) {
  std::vector<GgufValue> values;
  values.reserve(items.size());
  for (const std::string& s : items) values.push_back(string(s));
  return {GgufType::ARRAY, GgufType::STRING, std::move(values)};
}

int64_t GgufValue::as_int(std::string_view key) const {
  if (const auto* u = std::get_if<uint64_t>(&value)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail("metadata key '{}': {} does not fit in a signed 64-bit integer", key, *u);
    return static_cast<int64_t>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&value)) return *i;
  fail("metadata key '{}' is a {}, not an integer", key, gguf_type_name(type));
}

double GgufValue::as_float(std::string_view key) const {
  if (const auto* d = std::get_if<double>(&value)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&value)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  fail("metadata key '{}' is a {}, not a number", key, gguf_type_name(type));
}

bool GgufValue::as_bool(std::string_view key) const {
  if (const auto* b = std::get_if<bool>(&value)) return *b;
  fail("metadata key '{}' is a {}, not a bool", key, gguf_type_name(type));
}

const std::string& GgufValue::as_string(std::string_view key) const {
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  fail("metadata key '{}' is a {}, not a string", key, gguf_type_name(type));
}

const std::vector<GgufValue>& GgufValue::as_array(std::string_view key) const {
  if (const auto* a = std::get_if<std::vector<GgufValue>>(&value)) return *a;
  fail("metadata key '{}' is a {}, not an array", key, gguf_type_name(type));
}

std::optional<DType> dtype_from_ggml(uint32_t ggml_type) {
  const GgmlTypeInfo* t = ggml_type_info(ggml_type);
  return t ? t->dtype : std::nullopt;
}

uint32_t ggml_from_dtype(DType dtype) {
  for (const GgmlTypeInfo& t : kGgmlTypes)
    if (t.dtype == dtype) return t.id;
  fail("GGUF has no tensor type for {}", dtype_name(dtype));
}

GgufContents parse_gguf(const unsigned char* data, size_t size, const std::string& path) {
  Cursor in(data, size, path);
  GgufContents c;
  uint32_t magic = in.read<uint32_t>("the magic");
  if (magic != kMagic) fail("{}: not a GGUF file (magic {:#010x}, expected \"GGUF\")", path, magic);
  c.version = in.read<uint32_t>("the version");
  if (c.version == 0x03000000 || c.version == 0x02000000) fail("{}: big-endian GGUF files are not supported", path);
  if (c.version != 2 && c.version != 3) fail("{}: GGUF version {} is not supported (2 or 3)", path, c.version);
  uint64_t tensor_count = in.read<uint64_t>("the tensor count");
  uint64_t kv_count = in.read<uint64_t>("the metadata count");

  std::set<std::string, std::less<>> keys;
  for (uint64_t i = 0; i < kv_count; ++i) {
    std::string key = in.read_string(fmt::format("metadata key #{}", i));
    uint32_t type = in.read<uint32_t>("the type of metadata key '" + key + "'");
    if (!valid_type(type)) fail("{}: metadata key '{}' has unknown value type {}", path, key, type);
    GgufValue value = read_value(in, static_cast<GgufType>(type), key, path, 0);
    if (!keys.insert(key).second) fail("{}: metadata key '{}' appears twice", path, key);
    c.metadata.emplace_back(std::move(key), std::move(value));
  }
  for (const auto& [key, value] : c.metadata) {
    if (key != "general.alignment") continue;
    if (value.type != GgufType::U32) fail("{}: metadata key 'general.alignment' is a {}, not a u32", path, gguf_type_name(value.type));
    uint64_t a = std::get<uint64_t>(value.value);
    if (a == 0 || (a & (a - 1)) != 0) fail("{}: metadata key 'general.alignment' is {}, not a power of two", path, a);
    c.alignment = a;
  }

  std::set<std::string, std::less<>> names;
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo info;
    info.name = in.read_string(fmt::format("the name of tensor #{}", i));
    const std::string what = "tensor '" + info.name + "'";
    uint32_t n_dims = in.read<uint32_t>(what);
    if (n_dims > kMaxDims) fail("{}: {} has {} dimensions, more than {}", path, what, n_dims, kMaxDims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = in.read<uint64_t>(what);
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail("{}: {} has dimension {} = {}, out of range", path, what, d, dim);
      info.dims.push_back(static_cast<int64_t>(dim));
    }
    info.ggml_type = in.read<uint32_t>(what);
    info.offset = in.read<uint64_t>(what);
    if (!names.insert(info.name).second) fail("{}: tensor '{}' appears twice", path, info.name);
    c.infos.push_back(std::move(info));
  }
  c.data_offset = align_up(in.pos(), c.alignment);
  if (c.data_offset > size && !c.infos.empty())
    fail("{}: truncated: the data section would start at {} but the file has {} bytes", path, c.data_offset, size);
  const size_t data_size = c.data_offset <= size ? size - c.data_offset : 0;

  std::vector<std::pair<uint64_t, uint64_t>> extents;  // [offset, end), for the overlap check
  for (const GgufTensorInfo& info : c.infos) {
    const GgmlTypeInfo* type = ggml_type_info(info.ggml_type);
    if (!type) fail("{}: tensor '{}' has unknown GGML type {}", path, info.name, info.ggml_type);
    if (!type->dtype) fail("{}: tensor '{}' has GGML type {}, which is not supported", path, info.name, type->name);
    DType dtype = *type->dtype;
    TensorView view;
    view.name = info.name;
    view.file = path;
    view.dtype = dtype;
    view.shape.assign(info.dims.rbegin(), info.dims.rend());
    // Bytes = row bytes x the other dims, each product checked against the data section so
    // that it cannot overflow.
    const int64_t row = info.dims.empty() ? 1 : info.dims[0];
    if (row % static_cast<int64_t>(dtype_block_elems(dtype)) != 0)
      fail("{}: tensor '{}' of type {} has rows of {} values, not a whole number of {}-value blocks", path, info.name,
           type->name, row, dtype_block_elems(dtype));
    uint64_t bytes = row / dtype_block_elems(dtype);
    auto multiply = [&](uint64_t by) {
      if (by != 0 && bytes > std::numeric_limits<uint64_t>::max() / by)
        fail("{}: tensor '{}' of shape {} is too large", path, info.name, view.shape_string());
      bytes *= by;
    };
    multiply(dtype_block_bytes(dtype));
    for (size_t d = 1; d < info.dims.size(); ++d) multiply(static_cast<uint64_t>(info.dims[d]));
    if (info.offset % c.alignment != 0)
      fail("{}: tensor '{}' starts at data offset {}, not a multiple of the alignment {}", path, info.name, info.offset,
           c.alignment);
    if (info.offset > data_size || bytes > data_size - info.offset)
      fail("{}: truncated: tensor '{}' ({} {}, {} bytes at data offset {}) ends past the data section of {} bytes", path,
           info.name, type->name, view.shape_string(), bytes, info.offset, data_size);
    view.data = data + c.data_offset + info.offset;
    view.nbytes = bytes;
    if (bytes > 0) extents.emplace_back(info.offset, info.offset + bytes);
    c.tensors.push_back(std::move(view));
  }
  std::sort(extents.begin(), extents.end());
  for (size_t i = 1; i < extents.size(); ++i)
    if (extents[i].first < extents[i - 1].second) {
      auto named = [&](uint64_t offset) {
        for (const GgufTensorInfo& info : c.infos)
          if (info.offset == offset) return info.name;
        return std::string();
      };
      fail("{}: tensors '{}' and '{}' overlap in the data section", path, named(extents[i - 1].first), named(extents[i].first));
    }
  return c;
}

std::string gguf_shard_path(std::string_view prefix, int shard, int count) {
  return fmt::format("{}-{:05d}-of-{:05d}.gguf", prefix, shard + 1, count);
}

namespace {

struct SplitKeys {
  int64_t no = 0, count = 1;
  std::optional<int64_t> tensors;
};

SplitKeys split_keys(const GgufContents& c, const std::string& path) {
  SplitKeys k;
  for (const auto& [key, value] : c.metadata) {
    if (key == kSplitNo) k.no = value.as_int(path + ": " + key);
    if (key == kSplitCount) k.count = value.as_int(path + ": " + key);
    if (key == kSplitTensors) k.tensors = value.as_int(path + ": " + key);
  }
  constexpr int64_t kMaxShards = 99999;  // five digits in the names
  if (k.count < 1 || k.count > kMaxShards) fail("{}: {} is {}, not 1 to {}", path, kSplitCount, k.count, kMaxShards);
  if (k.no < 0 || k.no >= k.count) fail("{}: {} is {}, outside the {} shards of {}", path, kSplitNo, k.no, k.count, kSplitCount);
  return k;
}

}  // namespace

GgufFile::GgufFile(const std::string& path) {
  files_.push_back(std::make_unique<MappedFile>(path));
  contents_ = parse_gguf(files_[0]->data(), files_[0]->size(), path);
  const SplitKeys first = split_keys(contents_, path);
  if (first.count == 1) return;
  const int count = static_cast<int>(first.count);
  const std::string suffix = gguf_shard_path("", static_cast<int>(first.no), count);
  const std::string prefix = path.ends_with(suffix) ? path.substr(0, path.size() - suffix.size()) : std::string();
  if (first.no != 0)
    fail("{}: shard {} of a model split in {}: open its first shard{}", path, first.no + 1, count,
         prefix.empty() ? "" : ", " + gguf_shard_path(prefix, 0, count));
  if (prefix.empty()) fail("{}: the first of {} shards, but not named PREFIX{}, which names the others", path, count, suffix);
  std::set<std::string, std::less<>> names;
  for (const TensorView& t : contents_.tensors) names.insert(t.name);
  for (int i = 1; i < count; ++i) {
    const std::string shard = gguf_shard_path(prefix, i, count);
    if (!std::filesystem::exists(shard)) fail("{}: shard {} of {} is missing: {}", path, i + 1, count, shard);
    files_.push_back(std::make_unique<MappedFile>(shard));
    GgufContents part = parse_gguf(files_.back()->data(), files_.back()->size(), shard);
    const SplitKeys k = split_keys(part, shard);
    if (k.no != i || k.count != count)
      fail("{}: {} is {} and {} {}, where its name needs {} and {}", shard, kSplitNo, k.no, kSplitCount, k.count, i, count);
    for (size_t t = 0; t < part.tensors.size(); ++t) {
      if (!names.insert(part.tensors[t].name).second)
        fail("{}: tensor '{}' is in an earlier shard too", shard, part.tensors[t].name);
      contents_.tensors.push_back(std::move(part.tensors[t]));
      contents_.infos.push_back(std::move(part.infos[t]));
    }
  }
  if (first.tensors && *first.tensors != static_cast<int64_t>(contents_.tensors.size()))
    fail("{}: {} is {}, but the {} shards hold {} tensors", path, kSplitTensors, *first.tensors, count, contents_.tensors.size());
}

const GgufValue* GgufFile::find(std::string_view key) const {
  for (const auto& [k, v] : contents_.metadata)
    if (k == key) return &v;
  return nullptr;
}

const GgufValue& GgufFile::get(std::string_view key) const {
  if (const GgufValue* v = find(key)) return *v;
  fail("{}: metadata key '{}' is missing", path(), key);
}

const TensorView* GgufFile::find_tensor(std::string_view name) const {
  for (const TensorView& t : contents_.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const TensorView& GgufFile::tensor(std::string_view name) const {
  if (const TensorView* t = find_tensor(name)) return *t;
  fail("{}: tensor '{}' is missing", path(), name);
}

namespace {

// The bytes of a tensor to write, after checking its shape and type (and that it has data,
// unless a GgufTensorSource gives it).
uint64_t tensor_bytes(const GgufTensorData& t, bool needs_data) {
  if (t.shape.size() > kMaxDims) fail("tensor '{}' has {} dimensions, more than GGUF's {}", t.name, t.shape.size(), kMaxDims);
  ggml_from_dtype(t.dtype);
  for (int64_t dim : t.shape)
    if (dim < 0) fail("tensor '{}' has a negative dimension", t.name);
  const int64_t cols = t.shape.empty() ? 1 : t.shape.back();
  if (cols % static_cast<int64_t>(dtype_block_elems(t.dtype)) != 0)
    fail("tensor '{}' has rows of {} values, not whole {}-value {} blocks", t.name, cols, dtype_block_elems(t.dtype),
         dtype_name(t.dtype));
  uint64_t bytes = row_bytes(t.dtype, cols);
  for (size_t d = 0; d + 1 < t.shape.size(); ++d) {
    const auto dim = static_cast<uint64_t>(t.shape[d]);
    if (dim != 0 && bytes > std::numeric_limits<uint64_t>::max() / dim) fail("tensor '{}' is too large", t.name);
    bytes *= dim;
  }
  if (needs_data && !t.data && bytes > 0) fail("tensor '{}' has no data", t.name);
  return bytes;
}

}  // namespace

void write_gguf(std::ostream& stream, const GgufMetadata& metadata, const std::vector<GgufTensorData>& tensors,
                const GgufTensorSource& source) {
  uint64_t alignment = kDefaultAlignment;
  std::set<std::string, std::less<>> keys;
  for (const auto& [key, value] : metadata) {
    if (!keys.insert(key).second) fail("metadata key '{}' appears twice", key);
    if (key != "general.alignment") continue;
    const auto* a = std::get_if<uint64_t>(&value.value);
    if (value.type != GgufType::U32 || !a || *a == 0 || (*a & (*a - 1)) != 0)
      fail("metadata key 'general.alignment' must be a u32 power of two");
    alignment = *a;
  }
  // Sizes first: tensor infos carry offsets, and bad shapes must fail before anything is written.
  std::set<std::string, std::less<>> names;
  std::vector<uint64_t> sizes;
  for (const GgufTensorData& t : tensors) {
    if (!names.insert(t.name).second) fail("tensor '{}' appears twice", t.name);
    sizes.push_back(tensor_bytes(t, !source));
  }

  Sink out(stream);
  out.put<uint32_t>(kMagic);
  out.put<uint32_t>(3);
  out.put<uint64_t>(tensors.size());
  out.put<uint64_t>(metadata.size());
  for (const auto& [key, value] : metadata) {
    out.string(key);
    out.put<uint32_t>(static_cast<uint32_t>(value.type));
    put_value(out, value, key);
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const GgufTensorData& t = tensors[i];
    out.string(t.name);
    out.put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (auto d = t.shape.rbegin(); d != t.shape.rend(); ++d) out.put<uint64_t>(static_cast<uint64_t>(*d));
    out.put<uint32_t>(ggml_from_dtype(t.dtype));
    out.put<uint64_t>(offset);
    offset = align_up(offset + sizes[i], alignment);
  }
  out.pad_to(alignment);
  for (size_t i = 0; i < tensors.size(); ++i) {
    out.bytes(source ? source(i) : tensors[i].data, sizes[i]);
    out.pad_to(alignment);
  }
  if (!stream) fail("writing GGUF failed");
}

void write_gguf(const std::string& path, const GgufMetadata& metadata, const std::vector<GgufTensorData>& tensors,
                const GgufTensorSource& source) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail("{}: cannot open for writing", path);
  try {
    write_gguf(out, metadata, tensors, source);
    out.close();
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
  if (!out) fail("{}: write failed", path);
}

std::vector<std::string> write_gguf_split(const std::string& path, const GgufMetadata& metadata,
                                          const std::vector<GgufTensorData>& tensors, uint64_t max_bytes,
                                          const GgufTensorSource& source) {
  std::vector<size_t> starts{0};  // each shard's first tensor
  uint64_t bytes = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const uint64_t size = tensor_bytes(tensors[i], !source);
    if (i > starts.back() && bytes + size > max_bytes) starts.push_back(i), bytes = 0;
    bytes += size;
  }
  if (starts.size() == 1) {
    write_gguf(path, metadata, tensors, source);
    return {path};
  }
  const std::string prefix = path.ends_with(".gguf") ? path.substr(0, path.size() - 5) : path;
  const int count = static_cast<int>(starts.size());
  auto shard_keys = [&](int shard) {
    return GgufMetadata{{kSplitNo, GgufValue::u16(static_cast<uint16_t>(shard))},
                        {kSplitCount, GgufValue::u16(static_cast<uint16_t>(count))},
                        {kSplitTensors, GgufValue::i32(static_cast<int32_t>(tensors.size()))}};
  };
  if (count > std::numeric_limits<uint16_t>::max()) fail("{}: {} shards are more than GGUF's split.count holds", path, count);
  std::vector<std::string> paths;
  starts.push_back(tensors.size());
  for (int shard = 0; shard < count; ++shard) {
    GgufMetadata keys = shard_keys(shard);
    if (shard == 0)
      for (const auto& [key, value] : metadata)
        if (!key.starts_with("split.")) keys.emplace_back(key, value);
    paths.push_back(gguf_shard_path(prefix, shard, count));
    const size_t first = starts[shard];
    GgufTensorSource part;
    if (source) part = [&](size_t i) { return source(first + i); };
    write_gguf(paths.back(), keys, {tensors.begin() + first, tensors.begin() + starts[shard + 1]}, part);
  }
  return paths;
}

}  // namespace dseek
