#include "io/gguf.h"

#include <array>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "io_test_util.h"
#include "kernels/convert.h"
#include "quant/formats.h"
#include "util/error.h"

namespace dseek {
namespace {

using io_test::TempDir;

std::string serialize(const GgufMetadata& metadata, const std::vector<GgufTensorData>& tensors) {
  std::ostringstream out;
  write_gguf(out, metadata, tensors);
  return out.str();
}

GgufContents parse(const std::string& bytes, const std::string& path = "test.gguf") {
  return parse_gguf(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), path);
}

// The message of the Error that `fn` throws, or a failure when it throws none.
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return {};
}

GgufMetadata all_value_types() {
  return {
      {"general.architecture", GgufValue::string("deepseek2")},
      {"u8", GgufValue::u8(250)},
      {"i8", GgufValue::i8(-100)},
      {"u16", GgufValue::u16(65000)},
      {"i16", GgufValue::i16(-32000)},
      {"u32", GgufValue::u32(4000000000u)},
      {"i32", GgufValue::i32(-2000000000)},
      {"u64", GgufValue::u64(18446744073709551615ull)},
      {"i64", GgufValue::i64(-9000000000000000000ll)},
      {"f32", GgufValue::f32(0.1f)},
      {"f64", GgufValue::f64(0.1)},
      {"bool", GgufValue::boolean(true)},
      {"empty string", GgufValue::string("")},
      {"utf8 ✓", GgufValue::string("Ġhello\n\0world")},
      {"tokens", GgufValue::strings({"<｜begin▁of▁sentence｜>", "a", "", "Ġthe"})},
      {"scores", GgufValue::array(GgufType::F32, {GgufValue::f32(-1.5f), GgufValue::f32(2)})},
      {"empty", GgufValue::array(GgufType::I32, {})},
      {"nested", GgufValue::array(GgufType::ARRAY, {GgufValue::array(GgufType::U8, {GgufValue::u8(1)}),
                                                     GgufValue::strings({"x", "y"})})},
  };
}

struct OwnedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<unsigned char> bytes;
};

// Tensors of several dtypes and ranks, including block formats, with distinct contents.
std::vector<OwnedTensor> sample_tensors() {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  auto floats = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = normal(rng);
    return v;
  };
  std::vector<OwnedTensor> out;
  {
    std::vector<float> v = floats(6);
    out.push_back({"output_norm.weight", DType::F32, {6}, {}});
    out.back().bytes.resize(24);
    std::memcpy(out.back().bytes.data(), v.data(), 24);
  }
  {
    std::vector<float> v = floats(3 * 5);
    out.push_back({"blk.0.attn_q.weight", DType::F16, {3, 5}, std::vector<unsigned char>(30)});
    for (size_t i = 0; i < v.size(); ++i) {
      uint16_t h = f32_to_f16(v[i]);
      std::memcpy(out.back().bytes.data() + 2 * i, &h, 2);
    }
  }
  for (DType t : {DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    const int64_t experts = 2, rows = 3, cols = 512;
    std::vector<float> v = floats(experts * rows * cols);
    OwnedTensor q{std::string("blk.1.ffn_down_exps.") + std::string(dtype_name(t)), t, {experts, rows, cols}, {}};
    q.bytes.resize(experts * rows * row_bytes(t, cols));
    for (int64_t r = 0; r < experts * rows; ++r)
      quantize_row(t, v.data() + r * cols, q.bytes.data() + r * row_bytes(t, cols), cols);
    out.push_back(std::move(q));
  }
  out.push_back({"scalar_i32", DType::I32, {}, {1, 2, 3, 4}});
  out.push_back({"empty", DType::BF16, {0, 8}, {}});
  return out;
}

std::vector<GgufTensorData> refs(const std::vector<OwnedTensor>& tensors) {
  std::vector<GgufTensorData> out;
  for (const OwnedTensor& t : tensors) out.push_back({t.name, t.dtype, t.shape, t.bytes.data()});
  return out;
}

void expect_same_tensors(const std::vector<OwnedTensor>& expected, const std::vector<TensorView>& got) {
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(expected[i].name);
    EXPECT_EQ(got[i].name, expected[i].name);
    EXPECT_EQ(got[i].dtype, expected[i].dtype);
    EXPECT_EQ(got[i].shape, expected[i].shape);
    ASSERT_EQ(got[i].nbytes, expected[i].bytes.size());
    if (got[i].nbytes) {
      EXPECT_EQ(std::memcmp(got[i].data, expected[i].bytes.data(), got[i].nbytes), 0);
    }
  }
}

void expect_aligned(const std::vector<GgufTensorInfo>& infos, size_t data_offset, size_t alignment) {
  EXPECT_EQ(data_offset % alignment, 0u);
  for (const GgufTensorInfo& info : infos) EXPECT_EQ(info.offset % alignment, 0u) << info.name;
}

TEST(Gguf, RoundTripThroughAFile) {
  TempDir dir;
  const std::string path = dir.file("model.gguf");
  std::vector<OwnedTensor> tensors = sample_tensors();
  write_gguf(path, all_value_types(), refs(tensors));

  GgufFile file(path);
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_EQ(file.data_offset() % 32, 0u);
  EXPECT_EQ(file.metadata(), all_value_types());
  EXPECT_EQ(file.get("general.architecture").as_string("general.architecture"), "deepseek2");
  EXPECT_EQ(file.get("u64").as_float("u64"), 18446744073709551615.0);
  EXPECT_EQ(file.get("i8").as_int("i8"), -100);
  EXPECT_EQ(file.get("f32").as_float("f32"), 0.1f);
  EXPECT_EQ(file.get("tokens").as_array("tokens")[0].as_string("tokens"), "<｜begin▁of▁sentence｜>");
  EXPECT_EQ(file.get("utf8 ✓").as_string("utf8 ✓").size(), std::string("Ġhello\n\0world").size());
  expect_same_tensors(tensors, file.tensors());
  expect_aligned(file.infos(), file.data_offset(), 32);
  EXPECT_EQ(file.infos()[1].dims, (std::vector<int64_t>{5, 3}));  // GGUF order: columns first
  EXPECT_EQ(file.find_tensor("nope"), nullptr);
  EXPECT_NE(file.find_tensor("blk.1.ffn_down_exps.Q4_K"), nullptr);
  std::string err = error_of([&] { file.tensor("nope"); });
  EXPECT_NE(err.find("'nope'"), std::string::npos) << err;
  EXPECT_NE(err.find(path), std::string::npos) << err;
  err = error_of([&] { file.get("missing.key"); });
  EXPECT_NE(err.find("'missing.key'"), std::string::npos) << err;
}

// Split models as llama.cpp's gguf-split writes them: the first shard opens the rest, and
// holds every tensor, each with its own shard's bytes.
TEST(GgufSplit, ShardsReadAsOneFile) {
  TempDir dir;
  std::vector<OwnedTensor> tensors = sample_tensors();
  const std::string prefix = dir.file("model");
  // 2 KB a shard: the F32 and F16 tensors, then the Q8_0, Q4_K and Q6_K ones (3264, 1728 and
  // 2520 bytes) each alone, then the last two.
  const std::vector<std::string> paths = write_gguf_split(prefix + ".gguf", all_value_types(), refs(tensors), 2048);
  ASSERT_EQ(paths.size(), 5u);
  EXPECT_EQ(paths[0], prefix + "-00001-of-00005.gguf");
  EXPECT_EQ(paths[4], prefix + "-00005-of-00005.gguf");

  GgufFile file(paths[0]);
  EXPECT_EQ(file.shards(), 5);
  expect_same_tensors(tensors, file.tensors());
  EXPECT_EQ(file.get("u16").as_int("u16"), 65000);  // the model's metadata is the first shard's
  EXPECT_EQ(file.get(kSplitCount).as_int(kSplitCount), 5);
  EXPECT_EQ(file.get(kSplitTensors).as_int(kSplitTensors), static_cast<int64_t>(tensors.size()));
  EXPECT_EQ(file.tensor("blk.1.ffn_down_exps.Q6_K").file, paths[3]);  // errors about a tensor name its shard

  // The others hold only the split keys and their tensors.
  const GgufContents third = parse(io_test::read_bytes(paths[2]), paths[2]);
  EXPECT_EQ(third.metadata, (GgufMetadata{{kSplitNo, GgufValue::u16(2)}, {kSplitCount, GgufValue::u16(5)},
                                          {kSplitTensors, GgufValue::i32(static_cast<int32_t>(tensors.size()))}}));
  ASSERT_EQ(third.tensors.size(), 1u);
  EXPECT_EQ(third.tensors[0].name, "blk.1.ffn_down_exps.Q4_K");

  // What fits in one shard is a plain file at the path asked for, whatever its name.
  const std::string one = dir.file("single.bin");
  EXPECT_EQ(write_gguf_split(one, all_value_types(), refs(tensors), uint64_t{1} << 30), std::vector<std::string>{one});
  EXPECT_EQ(GgufFile(one).shards(), 1);
  EXPECT_EQ(GgufFile(one).find(kSplitCount), nullptr);
  // Without a .gguf ending, shards take the whole path as their prefix.
  EXPECT_EQ(write_gguf_split(one, all_value_types(), refs(tensors), 2048)[0], one + "-00001-of-00005.gguf");
}

// A writer's source makes each tensor's bytes as it is reached (quantize converts one tensor at
// a time): called once per tensor, in order, across shards too.
TEST(GgufSplit, SourceGivesEachTensorInOrder) {
  TempDir dir;
  const std::vector<OwnedTensor> tensors = sample_tensors();
  std::vector<GgufTensorData> specs = refs(tensors);
  for (GgufTensorData& t : specs) t.data = nullptr;
  std::vector<size_t> calls;
  std::vector<unsigned char> buffer;
  auto source = [&](size_t i) -> const void* {
    calls.push_back(i);
    buffer = tensors[i].bytes;  // the previous tensor's bytes are gone
    return buffer.data();
  };
  const std::vector<std::string> paths = write_gguf_split(dir.file("model"), all_value_types(), specs, 2048, source);
  EXPECT_EQ(paths.size(), 5u);
  expect_same_tensors(tensors, GgufFile(paths[0]).tensors());
  EXPECT_EQ(calls, (std::vector<size_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_NE(error_of([&] { write_gguf(dir.file("x.gguf"), all_value_types(), specs); }).find("has no data"), std::string::npos);
}

// Shards of `tensors` with the split keys given per shard (no, count, tensors), written as
// PREFIX-0000i-of-0000N.gguf with N = the number of shards.
std::string write_shards(const std::string& prefix, const std::vector<OwnedTensor>& tensors,
                         const std::vector<std::array<int64_t, 3>>& keys) {
  const int count = static_cast<int>(keys.size());
  for (int i = 0; i < count; ++i) {
    GgufMetadata m{{kSplitNo, GgufValue::u16(static_cast<uint16_t>(keys[i][0]))},
                   {kSplitCount, GgufValue::u16(static_cast<uint16_t>(keys[i][1]))},
                   {kSplitTensors, GgufValue::i32(static_cast<int32_t>(keys[i][2]))}};
    std::vector<OwnedTensor> part;
    for (size_t t = i; t < tensors.size(); t += count) part.push_back(tensors[t]);
    write_gguf(gguf_shard_path(prefix, i, count), m, refs(part));
  }
  return gguf_shard_path(prefix, 0, count);
}

TEST(GgufSplit, ErrorsNameTheShard) {
  TempDir dir;
  const std::vector<OwnedTensor> tensors = sample_tensors();
  const int64_t n = static_cast<int64_t>(tensors.size());
  auto expect_error = [](const std::string& path, std::initializer_list<std::string> parts) {
    const std::string err = error_of([&] { GgufFile file(path); });
    for (const std::string& part : parts) EXPECT_NE(err.find(part), std::string::npos) << err;
  };
  // Well formed, then each shard's keys or files spoilt in turn.
  const std::string good = write_shards(dir.file("good"), tensors, {{0, 3, n}, {1, 3, n}, {2, 3, n}});
  // write_shards deals the tensors out in turn: shard 0 holds 0, 3 and 6.
  expect_same_tensors({tensors[0], tensors[3], tensors[6], tensors[1], tensors[4], tensors[2], tensors[5]},
                      GgufFile(good).tensors());
  expect_error(gguf_shard_path(dir.file("good"), 1, 3), {"shard 2 of a model split in 3", good});

  std::filesystem::remove(gguf_shard_path(dir.file("good"), 2, 3));
  expect_error(good, {"shard 3 of 3 is missing", gguf_shard_path(dir.file("good"), 2, 3)});

  const std::string wrong_no = write_shards(dir.file("no"), tensors, {{0, 3, n}, {2, 3, n}, {2, 3, n}});
  expect_error(wrong_no, {gguf_shard_path(dir.file("no"), 1, 3), "split.no is 2", "needs 1 and 3"});
  const std::string wrong_count = write_shards(dir.file("count"), tensors, {{0, 2, n}, {1, 2, n}, {2, 3, n}});
  expect_error(wrong_count, {"the first of 2 shards, but not named PREFIX-00001-of-00002.gguf"});
  const std::string short_count = write_shards(dir.file("total"), tensors, {{0, 3, n + 1}, {1, 3, n}, {2, 3, n}});
  expect_error(short_count, {"split.tensors.count is 8", "hold 7 tensors"});
  const std::string bad_no = write_shards(dir.file("range"), tensors, {{3, 3, n}, {1, 3, n}, {2, 3, n}});
  expect_error(bad_no, {"split.no is 3, outside the 3 shards"});

  // A tensor in two shards.
  std::vector<OwnedTensor> twice = tensors;
  twice[1].name = twice[0].name;
  const std::string dup = write_shards(dir.file("dup"), twice, {{0, 2, n}, {1, 2, n}});
  expect_error(dup, {gguf_shard_path(dir.file("dup"), 1, 2), "'output_norm.weight' is in an earlier shard"});
}

TEST(Gguf, WriteReadWriteIsByteIdentical) {
  std::vector<OwnedTensor> tensors = sample_tensors();
  GgufMetadata metadata = all_value_types();
  metadata.emplace_back("general.alignment", GgufValue::u32(64));
  const std::string first = serialize(metadata, refs(tensors));
  GgufContents c = parse(first);
  EXPECT_EQ(c.alignment, 64u);
  expect_same_tensors(tensors, c.tensors);
  expect_aligned(c.infos, c.data_offset, 64);

  std::vector<GgufTensorData> again;
  for (const TensorView& t : c.tensors) again.push_back({t.name, t.dtype, t.shape, t.data});
  EXPECT_EQ(serialize(c.metadata, again), first);
}

// A file assembled byte by byte from the specification, independent of the writer.
TEST(Gguf, ReadsAHandBuiltFile) {
  std::string b;
  auto u32 = [&](uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); };
  auto u64 = [&](uint64_t v) { b.append(reinterpret_cast<const char*>(&v), 8); };
  auto str = [&](const std::string& s) { u64(s.size()); b += s; };
  b += "GGUF";
  u32(3);
  u64(2);  // tensors
  u64(2);  // metadata
  str("deepseek2.block_count");
  u32(4);  // u32
  u32(27);
  str("tokenizer.ggml.merges");
  u32(9);  // array
  u32(8);  // of strings
  u64(2);
  str("Ġ t");
  str("h e");
  str("token_embd.weight");
  u32(2);
  u64(4);  // dims[0]: columns
  u64(2);  // rows
  u32(0);  // F32
  u64(0);
  str("blk.0.attn_kv_a_mqa.weight");
  u32(2);
  u64(32);
  u64(1);
  u32(8);  // Q8_0
  u64(32);
  while (b.size() % 32) b += '\0';
  const size_t data_start = b.size();
  for (int i = 0; i < 8; ++i) {
    float f = static_cast<float>(i) * 0.5f;
    b.append(reinterpret_cast<const char*>(&f), 4);
  }
  uint16_t d = f32_to_f16(0.25f);
  b.append(reinterpret_cast<const char*>(&d), 2);
  for (int i = 0; i < 32; ++i) b += static_cast<char>(i - 16);

  GgufContents c = parse(b);
  EXPECT_EQ(c.data_offset, data_start);
  ASSERT_EQ(c.metadata.size(), 2u);
  EXPECT_EQ(c.metadata[0].second, GgufValue::u32(27));
  EXPECT_EQ(c.metadata[1].second, GgufValue::strings({"Ġ t", "h e"}));
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_EQ(c.tensors[0].shape, (std::vector<int64_t>{2, 4}));  // outermost first
  EXPECT_EQ(c.tensors[0].nbytes, 32u);
  EXPECT_EQ(static_cast<const float*>(c.tensors[0].data)[5], 2.5f);
  EXPECT_EQ(c.tensors[1].dtype, DType::Q8_0);
  EXPECT_EQ(c.tensors[1].shape, (std::vector<int64_t>{1, 32}));
  float row[32];
  dequantize_row(DType::Q8_0, c.tensors[1].data, row, 32);
  EXPECT_EQ(row[0], -4.0f);
  EXPECT_EQ(row[31], 3.75f);
  EXPECT_EQ(c.infos[1].dims, (std::vector<int64_t>{32, 1}));
  EXPECT_EQ(c.infos[1].ggml_type, 8u);
}

// A valid file and the offsets of its fields, for targeted corruption.
struct Sample {
  std::string bytes;
  size_t key_len_at, type_at, tensor_type_at, tensor_dim0_at, tensor_offset_at;
};

Sample small_sample() {
  std::vector<float> w(64, 1.0f);
  std::vector<GgufTensorData> tensors = {{"blk.0.ffn_gate.weight", DType::F32, {2, 32}, w.data()},
                                         {"blk.0.ffn_up.weight", DType::F32, {1, 32}, w.data()}};
  Sample s;
  s.bytes = serialize({{"general.name", GgufValue::string("tiny")}}, tensors);
  s.key_len_at = 24;
  s.type_at = s.key_len_at + 8 + std::strlen("general.name");
  size_t info = s.type_at + 4 + 8 + 4;  // after the string value "tiny"
  s.tensor_dim0_at = info + 8 + std::strlen("blk.0.ffn_gate.weight") + 4;
  s.tensor_type_at = s.tensor_dim0_at + 16;
  s.tensor_offset_at = s.tensor_type_at + 4;
  return s;
}

void poke32(std::string& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
void poke64(std::string& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }

void expect_error(const std::string& bytes, std::initializer_list<std::string_view> needles) {
  std::string err = error_of([&] { parse(bytes, "bad.gguf"); });
  EXPECT_NE(err.find("bad.gguf"), std::string::npos) << err;
  for (std::string_view n : needles) EXPECT_NE(err.find(n), std::string::npos) << "wanted '" << n << "' in: " << err;
}

TEST(Gguf, SampleOffsetsAreRight) {
  Sample s = small_sample();
  GgufContents c = parse(s.bytes);
  EXPECT_EQ(c.infos[0].dims[0], 32);
  uint32_t type;
  std::memcpy(&type, s.bytes.data() + s.type_at, 4);
  EXPECT_EQ(type, static_cast<uint32_t>(GgufType::STRING));
}

TEST(Gguf, ErrorsNameWhatIsWrong) {
  const Sample s = small_sample();
  std::string b;

  b = s.bytes;
  b[0] = 'X';
  expect_error(b, {"not a GGUF file"});
  b = s.bytes;
  poke32(b, 4, 1);
  expect_error(b, {"version 1"});
  b = s.bytes;
  poke32(b, 4, 0x03000000);
  expect_error(b, {"big-endian"});

  b = s.bytes;
  poke64(b, s.key_len_at, 1ull << 40);
  expect_error(b, {"metadata key #0", "string length 1099511627776"});
  b = s.bytes;
  poke64(b, s.type_at + 4, 1000);  // the value's string length
  expect_error(b, {"'general.name'", "string length 1000"});
  b = s.bytes;
  poke32(b, s.type_at, 13);
  expect_error(b, {"'general.name'", "unknown value type 13"});

  b = s.bytes;
  poke32(b, s.tensor_type_at, 16);
  expect_error(b, {"'blk.0.ffn_gate.weight'", "IQ2_XXS", "not supported"});
  b = s.bytes;
  poke32(b, s.tensor_type_at, 4);
  expect_error(b, {"'blk.0.ffn_gate.weight'", "unknown GGML type 4"});
  b = s.bytes;
  poke32(b, s.tensor_type_at, 8);  // Q8_0: 32 columns are one block, so the tensor just shrinks
  EXPECT_EQ(parse(b).tensors[0].nbytes, 68u);
  poke64(b, s.tensor_dim0_at, 48);
  expect_error(b, {"'blk.0.ffn_gate.weight'", "48 values", "32-value blocks"});

  b = s.bytes;
  poke64(b, s.tensor_offset_at, 4);
  expect_error(b, {"'blk.0.ffn_gate.weight'", "not a multiple of the alignment 32"});
  b = s.bytes;
  poke64(b, s.tensor_offset_at, 4096);
  expect_error(b, {"truncated", "'blk.0.ffn_gate.weight'"});
  b = s.bytes;
  poke64(b, s.tensor_offset_at, 128);  // its second row lands on the second tensor
  expect_error(b, {"'blk.0.ffn_gate.weight'", "'blk.0.ffn_up.weight'", "overlap"});
  b = s.bytes;
  poke64(b, s.tensor_dim0_at + 8, 1ull << 62);
  expect_error(b, {"'blk.0.ffn_gate.weight'"});

  b = s.bytes;
  b.resize(b.size() - 1);
  expect_error(b, {"truncated", "'blk.0.ffn_up.weight'"});
}

TEST(Gguf, EveryTruncationFailsCleanly) {
  const std::string full = small_sample().bytes;
  for (size_t n = 0; n < full.size(); ++n) {
    std::string b = full.substr(0, n);
    EXPECT_THROW(parse(b), Error) << "prefix of " << n << " bytes";
  }
}

TEST(Gguf, MetadataChecks) {
  // The writer refuses duplicate keys, so write "a" and "b" and rename the second.
  std::string dup = serialize({{"a", GgufValue::u8(1)}, {"b", GgufValue::u8(2)}}, {});
  const size_t second_key = 24 + (8 + 1 + 4 + 1) + 8;  // header, first entry, second key's length
  ASSERT_EQ(dup[second_key], 'b');
  dup[second_key] = 'a';
  expect_error(dup, {"'a'", "twice"});

  EXPECT_THROW(serialize({{"a", GgufValue::u8(1)}, {"a", GgufValue::u8(2)}}, {}), Error);
  EXPECT_THROW(serialize({{"general.alignment", GgufValue::u64(32)}}, {}), Error);
  std::string b = serialize({{"general.alignmenX", GgufValue::u64(32)}}, {});
  b[24 + 8 + std::strlen("general.alignment") - 1] = 't';
  expect_error(b, {"general.alignment", "u64"});
  b = serialize({{"general.alignment", GgufValue::u32(32)}}, {});
  const size_t value_at = 24 + 8 + std::strlen("general.alignment") + 4;  // (files pad to the alignment)
  poke32(b, value_at, 48);
  expect_error(b, {"general.alignment", "48", "power of two"});
  b = serialize({{"flag", GgufValue::boolean(true)}}, {});
  b[24 + 8 + std::strlen("flag") + 4] = 2;
  expect_error(b, {"'flag'", "bool"});

  // Arrays nested deeper than any real file: an error, not a stack overflow.
  GgufValue v = GgufValue::u8(0);
  for (int i = 0; i < 20; ++i) v = GgufValue::array(v.type, {v});
  expect_error(serialize({{"deep", v}}, {}), {"'deep'", "nests arrays"});

  // A count past the element limit fails before anything is allocated for it.
  b = serialize({{"big", GgufValue::array(GgufType::U8, {GgufValue::u8(0)})}}, {});
  const size_t count_at = 24 + 8 + 3 + 4 + 4;
  poke64(b, count_at, (uint64_t{1} << 24) + 1);
  b.resize(count_at + 8);
  b.append((size_t{1} << 24) + 1, '\0');
  expect_error(b, {"'big'", "16777217 array elements"});

  GgufValue s = GgufValue::string("x");
  std::string err = error_of([&] { s.as_int("general.file_type"); });
  EXPECT_NE(err.find("'general.file_type'"), std::string::npos) << err;
  EXPECT_THROW(GgufValue::u64(1ull << 63).as_int("k"), Error);
  EXPECT_THROW(GgufValue::array(GgufType::U8, {GgufValue::i8(1)}), Error);
}

TEST(Gguf, WriterRejectsBadTensors) {
  std::vector<unsigned char> bytes(1024);
  auto write = [&](GgufTensorData t) { return error_of([&] { serialize({}, {t}); }); };
  EXPECT_NE(write({"w", DType::Q4_K, {2, 100}, bytes.data()}).find("'w'"), std::string::npos);
  EXPECT_NE(write({"w", DType::F8_E4M3, {2}, bytes.data()}).find("F8_E4M3"), std::string::npos);
  EXPECT_NE(write({"w", DType::F32, {1, 1, 1, 1, 1}, bytes.data()}).find("'w'"), std::string::npos);
  EXPECT_NE(write({"w", DType::F32, {4}, nullptr}).find("'w'"), std::string::npos);
  TempDir dir;
  EXPECT_THROW(write_gguf(dir.path() + "/missing/dir/x.gguf", {}, {}), Error);
}

TEST(Gguf, TypeIds) {
  EXPECT_EQ(ggml_from_dtype(DType::Q4_K), 12u);
  EXPECT_EQ(ggml_from_dtype(DType::BF16), 30u);
  EXPECT_EQ(dtype_from_ggml(14), DType::Q6_K);
  EXPECT_EQ(dtype_from_ggml(2), DType::Q4_0);
  EXPECT_EQ(dtype_from_ggml(6), DType::Q5_0);
  EXPECT_EQ(dtype_from_ggml(20), DType::IQ4_NL);
  EXPECT_FALSE(dtype_from_ggml(9).has_value());    // Q8_1
  EXPECT_FALSE(dtype_from_ggml(1000).has_value());
}

// Deterministic mutation fuzzing: any bytes either parse into views inside the buffer or throw
// dseek::Error. Mutations aim at the fields that matter: lengths, counts, types, dims, offsets.
TEST(GgufFuzz, MutationsParseOrThrowError) {
  std::vector<OwnedTensor> tensors = sample_tensors();
  const std::string seed = serialize(all_value_types(), refs(tensors));
  std::mt19937_64 rng(12345);
  auto below = [&](size_t n) { return n ? static_cast<size_t>(rng() % n) : 0; };
  const uint64_t kInteresting[] = {0,          1,          2,          3,         8,        31,       32,
                                   255,        0x7fffffff, 0xffffffff, 1ull << 32, 1ull << 62, 1ull << 63,
                                   ~0ull,      ~0ull - 7,  9,          12,         30};
  int parsed = 0, rejected = 0;
  for (int iter = 0; iter < 60000; ++iter) {
    std::string b = seed;
    for (size_t edits = 1 + below(3); edits > 0; --edits) {
      switch (below(6)) {
        case 0:
          b[below(b.size())] ^= static_cast<char>(1 << below(8));
          break;
        case 1: {  // a boundary value over a 4- or 8-byte field (header part mostly)
          size_t width = below(2) ? 8 : 4, limit = std::min(b.size(), size_t{1200});
          if (limit <= width) break;
          uint64_t v = kInteresting[below(std::size(kInteresting))];
          std::memcpy(b.data() + below(limit - width), &v, width);
          break;
        }
        case 2:
          b.resize(below(b.size() + 1));
          break;
        case 3:
          b.insert(below(b.size() + 1), std::string(1 + below(8), static_cast<char>(below(256))));
          break;
        case 4:
          if (!b.empty()) b.erase(below(b.size()), 1 + below(16));
          break;
        default: {
          if (b.empty()) break;
          size_t from = below(b.size());
          b.insert(below(b.size() + 1), b.substr(from, 1 + below(64)));
          break;
        }
      }
    }
    // An exact-size heap copy, so that a read past the end is a read past the allocation.
    std::vector<unsigned char> buf(b.begin(), b.end());
    try {
      GgufContents c = parse_gguf(buf.data(), buf.size(), "fuzz.gguf");
      for (const TensorView& t : c.tensors) {
        auto* p = static_cast<const unsigned char*>(t.data);
        ASSERT_TRUE(t.nbytes == 0 || (p >= buf.data() && p + t.nbytes <= buf.data() + buf.size())) << t.name;
      }
      ++parsed;
    } catch (const Error&) {
      ++rejected;
    }
  }
  // Both outcomes must be exercised, or the mutations are not reaching the parser's checks.
  EXPECT_GT(parsed, 100);
  EXPECT_GT(rejected, 1000);
}

}  // namespace
}  // namespace dseek
