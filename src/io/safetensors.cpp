#include "io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <tuple>
#include <unordered_set>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace dseek {
namespace {

using nlohmann::json;

// The Hugging Face library's limit; real headers (100k tensors) are a few MB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// Element count of a shape, or nullopt when it does not fit in int64 (TensorView::numel's type).
std::optional<uint64_t> checked_numel(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return std::nullopt;
  }
  if (n > kInt64Max) return std::nullopt;
  return n;
}

std::optional<uint64_t> checked_nbytes(DType dtype, const std::vector<int64_t>& shape) {
  std::optional<uint64_t> numel = checked_numel(shape);
  uint64_t bytes = 0;
  if (!numel || __builtin_mul_overflow(*numel, static_cast<uint64_t>(dtype_size(dtype)), &bytes)) return std::nullopt;
  return bytes;
}

const json& field(const json& entry, const char* name, const std::string& tensor, const std::string& path) {
  auto it = entry.find(name);
  if (it == entry.end()) fail("{}: tensor '{}': missing field '{}'", path, tensor, name);
  return *it;
}

// Offsets are stored in the pointer field until the file's mapping is known.
struct Parsed {
  TensorView view;
  uint64_t begin = 0;
  uint64_t end = 0;
};

Parsed parse_tensor(const std::string& name, const json& entry, size_t data_size, const std::string& path) {
  if (!entry.is_object()) fail("{}: tensor '{}': entry must be an object, found {}", path, name, entry.type_name());
  Parsed p;
  p.view.name = name;
  p.view.file = path;

  const json& dtype = field(entry, "dtype", name, path);
  if (!dtype.is_string())
    fail("{}: tensor '{}': field 'dtype' must be a string, found {}", path, name, dtype.type_name());
  const std::string& dtype_str = dtype.get_ref<const std::string&>();
  std::optional<DType> parsed_dtype = parse_dtype(dtype_str);
  if (!parsed_dtype) fail("{}: tensor '{}': unknown dtype '{}'", path, name, dtype_str);
  p.view.dtype = *parsed_dtype;

  const json& shape = field(entry, "shape", name, path);
  if (!shape.is_array())
    fail("{}: tensor '{}': field 'shape' must be an array, found {}", path, name, shape.type_name());
  p.view.shape.reserve(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) {
    const json& d = shape[i];
    if (d.is_number_integer() && !d.is_number_unsigned())
      fail("{}: tensor '{}': shape[{}] is negative ({})", path, name, i, d.get<int64_t>());
    if (!d.is_number_unsigned())
      fail("{}: tensor '{}': shape[{}] must be a non-negative integer, found {}", path, name, i, d.type_name());
    uint64_t v = d.get<uint64_t>();
    if (v > kInt64Max) fail("{}: tensor '{}': shape[{}] = {} is too large", path, name, i, v);
    p.view.shape.push_back(static_cast<int64_t>(v));
  }

  const json& offsets = field(entry, "data_offsets", name, path);
  if (!offsets.is_array() || offsets.size() != 2)
    fail("{}: tensor '{}': field 'data_offsets' must be [begin, end], found {}{}", path, name, offsets.type_name(),
         offsets.is_array() ? fmt::format(" of {} elements", offsets.size()) : "");
  for (size_t i = 0; i < 2; ++i) {
    if (!offsets[i].is_number_unsigned())
      fail("{}: tensor '{}': data_offsets[{}] must be a non-negative integer, found {}", path, name, i,
           offsets[i].is_number() ? offsets[i].dump() : std::string(offsets[i].type_name()));
  }
  p.begin = offsets[0].get<uint64_t>();
  p.end = offsets[1].get<uint64_t>();
  if (p.end < p.begin) fail("{}: tensor '{}': data_offsets [{}, {}] end before they begin", path, name, p.begin, p.end);
  if (p.end > data_size)
    fail("{}: tensor '{}': data_offsets [{}, {}] run past the data section ({} bytes)", path, name, p.begin, p.end,
         data_size);

  const uint64_t found = p.end - p.begin;
  std::optional<uint64_t> expected = checked_nbytes(p.view.dtype, p.view.shape);
  if (!expected)
    fail("{}: tensor '{}': {} {} is too large to address", path, name, dtype_str, p.view.shape_string());
  if (*expected != found)
    fail("{}: tensor '{}': {} {} needs {} bytes, but data_offsets [{}, {}] hold {}", path, name, dtype_str,
         p.view.shape_string(), *expected, p.begin, p.end, found);
  p.view.nbytes = static_cast<size_t>(found);
  p.view.data = reinterpret_cast<const void*>(static_cast<uintptr_t>(p.begin));
  return p;
}

std::map<std::string, std::string> parse_metadata(const json& j, const std::string& path) {
  if (!j.is_object()) fail("{}: __metadata__ must be an object of strings, found {}", path, j.type_name());
  std::map<std::string, std::string> metadata;
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string())
      fail("{}: __metadata__ field '{}' must be a string, found {}", path, key, value.type_name());
    metadata.emplace(key, value.get<std::string>());
  }
  return metadata;
}

// Sorting by begin makes one pass enough: a tensor overlaps an earlier one exactly when it
// starts before the furthest end seen so far. Empty tensors occupy no bytes.
void check_overlaps(std::vector<Parsed>& parsed, const std::string& path) {
  std::sort(parsed.begin(), parsed.end(), [](const Parsed& a, const Parsed& b) {
    return std::tie(a.begin, a.end, a.view.name) < std::tie(b.begin, b.end, b.view.name);
  });
  const Parsed* furthest = nullptr;
  for (const Parsed& p : parsed) {
    if (p.begin == p.end) continue;
    if (furthest != nullptr && p.begin < furthest->end)
      fail("{}: tensors '{}' (bytes {}..{}) and '{}' (bytes {}..{}) overlap", path, furthest->view.name,
           furthest->begin, furthest->end, p.view.name, p.begin, p.end);
    if (furthest == nullptr || p.end > furthest->end) furthest = &p;
  }
}

// nlohmann keeps the last of duplicate keys silently, and its parse callback rescans the parent
// object after each member (quadratic in the tensor count), so duplicates take a separate SAX pass.
class TopLevelKeys : public json::json_sax_t {
 public:
  std::optional<std::string> duplicate;

  bool key(string_t& k) override {
    if (depth_ == 1 && !seen_.insert(k).second) duplicate = k;
    return !duplicate;
  }
  bool start_object(std::size_t) override {
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  int depth_ = 0;
  std::unordered_set<std::string> seen_;
};

std::optional<std::string> duplicate_top_level_key(std::string_view header_json) {
  TopLevelKeys keys;
  json::sax_parse(header_json, &keys);
  return keys.duplicate;
}

}  // namespace

SafetensorsHeader parse_safetensors_header(std::string_view header_json, size_t data_size, const std::string& path) {
  json root;
  try {
    root = json::parse(header_json);
  } catch (const json::exception& e) {
    fail("{}: header is not valid JSON: {}", path, e.what());
  }
  if (!root.is_object()) fail("{}: header must be a JSON object, found {}", path, root.type_name());
  if (std::optional<std::string> duplicate = duplicate_top_level_key(header_json))
    fail("{}: header names '{}' twice", path, *duplicate);

  SafetensorsHeader header;
  std::vector<Parsed> parsed;
  parsed.reserve(root.size());
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      header.metadata = parse_metadata(value, path);
    } else {
      parsed.push_back(parse_tensor(key, value, data_size, path));
    }
  }
  check_overlaps(parsed, path);
  header.tensors.reserve(parsed.size());
  for (Parsed& p : parsed) header.tensors.push_back(std::move(p.view));
  return header;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  const size_t size = file_.size();
  if (size < 8) fail("{}: file is {} bytes, too short to hold the 8-byte header length", path, size);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | file_.data()[i];
  if (header_len > size - 8)
    fail("{}: header length {} runs past the end of the file ({} bytes)", path, header_len, size);
  if (header_len > kMaxHeaderBytes)
    fail("{}: header length {} exceeds the {}-byte limit", path, header_len, kMaxHeaderBytes);

  const unsigned char* header = file_.data() + 8;
  SafetensorsHeader parsed = parse_safetensors_header(
      std::string_view(reinterpret_cast<const char*>(header), header_len), size - 8 - header_len, path);
  const unsigned char* base = header + header_len;
  for (TensorView& t : parsed.tensors) t.data = base + reinterpret_cast<uintptr_t>(t.data);
  tensors_ = std::move(parsed.tensors);
  metadata_ = std::move(parsed.metadata);
}

void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorData& t : tensors) {
    if (t.name == "__metadata__") fail("{}: '__metadata__' cannot name a tensor", path);
    if (header.contains(t.name)) fail("{}: tensor '{}' is given twice", path, t.name);
    if (dtype_block_elems(t.dtype) != 1)
      fail("{}: tensor '{}': {} is block-quantized, which safetensors cannot hold", path, t.name, dtype_name(t.dtype));
    std::optional<uint64_t> expected = checked_nbytes(t.dtype, t.shape);
    if (!expected) fail("{}: tensor '{}': shape [{}] is negative or too large", path, t.name, fmt::join(t.shape, ", "));
    if (*expected != t.bytes.size())
      fail("{}: tensor '{}': {} [{}] needs {} bytes, given {}", path, t.name, dtype_name(t.dtype),
           fmt::join(t.shape, ", "), *expected, t.bytes.size());
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    fail("{}: cannot encode the header: {}", path, e.what());
  }
  // Pad as the Hugging Face library does, so the data section starts 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail("cannot create {}: {}", path, std::strerror(errno));
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>(static_cast<uint64_t>(text.size()) >> (8 * i));
  out.write(len, 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const TensorData& t : tensors)
    out.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
  out.close();
  if (!out) fail("cannot write {}: {}", path, std::strerror(errno));
}

}  // namespace dseek
