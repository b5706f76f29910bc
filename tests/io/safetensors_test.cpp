#include "io/safetensors.h"

#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io_test_util.h"
#include "util/error.h"

namespace dseek {
namespace {

using io_test::fixture;
using io_test::TempDir;

nlohmann::json read_config(const std::string& model) {
  std::ifstream in(fixture("models/" + model + "/config.json"));
  return nlohmann::json::parse(in);
}

const TensorView& find(const std::vector<TensorView>& tensors, const std::string& name) {
  for (const TensorView& t : tensors)
    if (t.name == name) return t;
  throw std::runtime_error("test: no tensor " + name);
}

// Runs `body` and checks it throws dseek::Error whose message contains every piece of `expect`.
template <typename Body>
void expect_error(Body body, const std::vector<std::string>& expect) {
  try {
    body();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    for (const std::string& piece : expect) EXPECT_NE(std::string(e.what()).find(piece), std::string::npos)
        << "message: " << e.what() << "\nmissing: " << piece;
  }
}

TEST(SafetensorsFile, ReadsV2LiteTinyShapesFromConfig) {
  const nlohmann::json config = read_config("v2-lite-tiny");
  const int64_t vocab = config["vocab_size"], hidden = config["hidden_size"];
  const int64_t inter = config["intermediate_size"], moe_inter = config["moe_intermediate_size"];
  SafetensorsFile file(fixture("models/v2-lite-tiny/model.safetensors"));

  const TensorView& embed = find(file.tensors(), "model.embed_tokens.weight");
  EXPECT_EQ(embed.dtype, DType::BF16);
  EXPECT_EQ(embed.shape, (std::vector<int64_t>{vocab, hidden}));
  EXPECT_EQ(embed.nbytes, static_cast<size_t>(vocab * hidden * 2));
  EXPECT_EQ(embed.file, file.path());
  EXPECT_EQ(find(file.tensors(), "lm_head.weight").shape, (std::vector<int64_t>{vocab, hidden}));
  EXPECT_EQ(find(file.tensors(), "model.layers.0.mlp.gate_proj.weight").shape,
            (std::vector<int64_t>{inter, hidden}));
  EXPECT_EQ(find(file.tensors(), "model.layers.1.mlp.experts.0.down_proj.weight").shape,
            (std::vector<int64_t>{hidden, moe_inter}));
  EXPECT_EQ(file.metadata().count("format"), 1u);

  // Tensors come in data order, each inside the file and none overlapping the next.
  const auto* prev_end = static_cast<const unsigned char*>(file.tensors().front().data);
  for (const TensorView& t : file.tensors()) {
    const auto* begin = static_cast<const unsigned char*>(t.data);
    EXPECT_GE(begin, prev_end) << t.name;
    EXPECT_EQ(t.nbytes, static_cast<size_t>(t.numel()) * dtype_size(t.dtype)) << t.name;
    prev_end = begin + t.nbytes;
  }
}

TEST(SafetensorsFile, ReadsReferenceOutputs) {
  const int64_t vocab = read_config("v2-lite-tiny")["vocab_size"];
  SafetensorsFile file(fixture("models/v2-lite-tiny/reference.safetensors"));
  const int64_t prompt_lengths[] = {1, 7, 33, 150};  // documented in fixtures/README.md
  for (int k = 0; k < 4; ++k) {
    const TensorView& tokens = find(file.tensors(), fmt::format("p{}.tokens", k));
    const TensorView& logits = find(file.tensors(), fmt::format("p{}.logits", k));
    const TensorView& greedy = find(file.tensors(), fmt::format("p{}.greedy", k));
    const TensorView& greedy_logits = find(file.tensors(), fmt::format("p{}.greedy_logits", k));
    EXPECT_EQ(tokens.dtype, DType::I32);
    EXPECT_EQ(tokens.shape, (std::vector<int64_t>{prompt_lengths[k]}));
    EXPECT_EQ(logits.dtype, DType::F32);
    EXPECT_EQ(logits.shape, (std::vector<int64_t>{prompt_lengths[k], vocab}));
    ASSERT_EQ(greedy.shape.size(), 1u);
    EXPECT_EQ(greedy_logits.shape, (std::vector<int64_t>{greedy.shape[0], vocab}));
    // The pointers reach the real data: every id is a valid token.
    for (const TensorView* ids : {&tokens, &greedy}) {
      for (int64_t i = 0; i < ids->numel(); ++i) {
        int32_t id;
        std::memcpy(&id, static_cast<const char*>(ids->data) + 4 * i, 4);
        EXPECT_GE(id, 0);
        EXPECT_LT(id, vocab);
      }
    }
  }
}

TEST(SafetensorsFile, RejectsFilesTooShortOrMissing) {
  TempDir dir;
  io_test::write_bytes(dir.file("empty.safetensors"), "");
  expect_error([&] { SafetensorsFile f(dir.file("empty.safetensors")); }, {dir.file("empty.safetensors"), "0 bytes"});
  io_test::write_bytes(dir.file("short.safetensors"), "abc");
  expect_error([&] { SafetensorsFile f(dir.file("short.safetensors")); }, {"short.safetensors", "3 bytes"});
  expect_error([&] { SafetensorsFile f(dir.file("absent.safetensors")); }, {"absent.safetensors"});
  expect_error([&] { SafetensorsFile f(dir.path()); }, {dir.path(), "not a regular file"});
}

TEST(SafetensorsFile, RejectsHeaderLengthBeyondFile) {
  TempDir dir;
  std::string bytes = io_test::safetensors_bytes("{}", "");
  bytes[0] = 3;  // claims a 3-byte header in a file with 2 bytes after the prefix
  io_test::write_bytes(dir.file("a.safetensors"), bytes);
  expect_error([&] { SafetensorsFile f(dir.file("a.safetensors")); }, {"a.safetensors", "header length 3"});
  std::memset(bytes.data(), 0xff, 8);
  io_test::write_bytes(dir.file("b.safetensors"), bytes);
  expect_error([&] { SafetensorsFile f(dir.file("b.safetensors")); }, {"b.safetensors", "18446744073709551615"});
}

TEST(SafetensorsFile, DataSectionFollowsHeader) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  io_test::write_bytes(path, io_test::safetensors_bytes(
                                 R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]},)"
                                 R"("a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})",
                                 "ABCDE"));
  SafetensorsFile file(path);
  ASSERT_EQ(file.tensors().size(), 2u);
  EXPECT_EQ(file.tensors()[0].name, "a");
  EXPECT_EQ(std::string(static_cast<const char*>(file.tensors()[0].data), 3), "ABC");
  EXPECT_EQ(std::string(static_cast<const char*>(file.tensors()[1].data), 2), "DE");
}

struct BadHeader {
  const char* what;
  std::string json;
  size_t data_size;
  std::vector<std::string> expect;
};

TEST(SafetensorsHeader, RejectsBadHeadersNamingTheField) {
  const std::string f32x1 = R"("dtype":"F32","shape":[1])";
  const std::vector<BadHeader> cases = {
      {"not JSON", R"({"w":)", 0, {"not valid JSON"}},
      {"not an object", "[1, 2]", 0, {"must be a JSON object", "array"}},
      {"entry not an object", R"({"w": 5})", 0, {"'w'", "must be an object", "number"}},
      {"missing dtype", R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4, {"'w'", "missing field 'dtype'"}},
      {"missing shape", R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4, {"'w'", "missing field 'shape'"}},
      {"missing offsets", R"({"w":{"dtype":"F32","shape":[1]}})", 4, {"'w'", "missing field 'data_offsets'"}},
      {"dtype not a string", R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4, {"'w'", "'dtype'"}},
      {"shape not an array", R"({"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", 4, {"'w'", "'shape'"}},
      {"fractional dim", R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4, {"'w'", "shape[0]"}},
      {"negative dim", R"({"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,4]}})", 4,
       {"'w'", "shape[1] is negative (-1)"}},
      {"unknown dtype", R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8, {"'w'", "unknown dtype 'F64'"}},
      {"block dtype", R"({"w":{"dtype":"Q8_0","shape":[32],"data_offsets":[0,34]}})", 34,
       {"'w'", "unknown dtype 'Q8_0'"}},
      {"offsets too short", "{\"w\":{" + f32x1 + R"(,"data_offsets":[0]}})", 4, {"'w'", "'data_offsets'"}},
      {"offsets not numbers", "{\"w\":{" + f32x1 + R"(,"data_offsets":["0","4"]}})", 4, {"'w'", "data_offsets[0]"}},
      {"negative offset", "{\"w\":{" + f32x1 + R"(,"data_offsets":[0,-4]}})", 4, {"'w'", "data_offsets[1]"}},
      {"end before begin", "{\"w\":{" + f32x1 + R"(,"data_offsets":[8,4]}})", 8, {"'w'", "[8, 4]", "end before"}},
      {"past the data", "{\"w\":{" + f32x1 + R"(,"data_offsets":[4,8]}})", 6, {"'w'", "[4, 8]", "6 bytes"}},
      {"byte count", R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 24,
       {"'w'", "F32 [2, 3] needs 24 bytes", "hold 20"}},
      {"overlap", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                  R"("z":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},)"
                  R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       16, {"'a'", "'b'", "overlap"}},
      {"metadata not an object", R"({"__metadata__":"x"})", 0, {"__metadata__", "string"}},
      {"metadata value not a string", R"({"__metadata__":{"k":1}})", 0, {"__metadata__", "'k'"}},
      {"tensor named twice", "{\"w\":{" + f32x1 + R"(,"data_offsets":[0,4]},"w":{)" + f32x1 +
                                 R"(,"data_offsets":[4,8]}})",
       8, {"'w' twice"}},
      {"numel overflows", R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4,
       {"'w'", "too large"}},
      {"bytes overflow", R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}})", 4,
       {"'w'", "too large"}},
      {"dim beyond int64", R"({"w":{"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,4]}})", 4,
       {"'w'", "shape[0] = 9223372036854775808"}},
      {"offset beyond uint64", "{\"w\":{" + f32x1 + R"(,"data_offsets":[0,18446744073709551616]}})", 4,
       {"'w'", "data_offsets[1]"}},
      {"offsets at uint64 max",
       "{\"w\":{" + f32x1 + R"(,"data_offsets":[18446744073709551612,18446744073709551615]}})", 4,
       {"'w'", "run past"}},
  };
  for (const BadHeader& c : cases) {
    SCOPED_TRACE(c.what);
    std::vector<std::string> expect = c.expect;
    expect.push_back("dir/x.safetensors");
    expect_error([&] { parse_safetensors_header(c.json, c.data_size, "dir/x.safetensors"); }, expect);
  }
}

TEST(SafetensorsHeader, AcceptsEdgeCases) {
  EXPECT_TRUE(parse_safetensors_header("{}", 0, "x").tensors.empty());
  // A scalar has shape [] and one element; an empty tensor occupies no bytes, even inside another.
  SafetensorsHeader h = parse_safetensors_header(
      R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
      R"("e":{"dtype":"BF16","shape":[0,7],"data_offsets":[2,2]},)"
      R"("__metadata__":{"format":"pt"}})",
      4, "x");
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(find(h.tensors, "s").numel(), 1);
  EXPECT_EQ(find(h.tensors, "e").nbytes, 0u);
  EXPECT_EQ(h.metadata.at("format"), "pt");
}

TEST(SafetensorsHeader, AcceptsEveryPlainDtype) {
  for (DType dtype : {DType::F32, DType::F16, DType::BF16, DType::F8_E4M3, DType::I8, DType::I16, DType::I32,
                      DType::I64, DType::U8, DType::BOOL}) {
    const size_t bytes = 3 * dtype_size(dtype);
    SafetensorsHeader h = parse_safetensors_header(
        fmt::format(R"({{"t":{{"dtype":"{}","shape":[3],"data_offsets":[0,{}]}}}})", dtype_name(dtype), bytes), bytes,
        "x");
    ASSERT_EQ(h.tensors.size(), 1u);
    EXPECT_EQ(h.tensors[0].dtype, dtype);
  }
}

// A real checkpoint header lists ~100k tensors: a quadratic check would time the test out.
TEST(SafetensorsHeader, HundredThousandTensors) {
  constexpr int kCount = 100000;
  std::string json = "{";
  for (int i = 0; i < kCount; ++i)
    json += fmt::format(R"({}"t{}":{{"dtype":"F32","shape":[2],"data_offsets":[{},{}]}})", i ? "," : "", i, 8 * i,
                        8 * i + 8);
  SafetensorsHeader h = parse_safetensors_header(json + "}", 8 * kCount, "big");
  ASSERT_EQ(h.tensors.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(h.tensors.back().name, fmt::format("t{}", kCount - 1));

  // One extra tensor straddling two others deep in the list is found, with both names.
  json += R"(,"late":{"dtype":"F32","shape":[2],"data_offsets":[400004,400012]}})";
  expect_error([&] { parse_safetensors_header(json, 8 * kCount, "big"); }, {"'t50000'", "'late'", "overlap"});
}

TEST(SafetensorsWrite, RoundTripsTensorsAndMetadata) {
  TempDir dir;
  const std::string path = dir.file("rt.safetensors");
  std::vector<TensorData> tensors;
  for (DType dtype : {DType::F32, DType::BF16, DType::F8_E4M3, DType::I32, DType::I64, DType::BOOL}) {
    TensorData t{std::string("w.") + std::string(dtype_name(dtype)), dtype, {2, 3}, {}};
    for (size_t i = 0; i < 6 * dtype_size(dtype); ++i) t.bytes.push_back(static_cast<unsigned char>(i * 7 + 1));
    tensors.push_back(t);
  }
  tensors.push_back({"scalar", DType::F16, {}, {0x00, 0x3c}});
  tensors.push_back({"empty", DType::F32, {0, 4}, {}});
  write_safetensors(path, tensors, {{"format", "pt"}, {"note", "a \"quoted\" value"}});

  const std::string raw = io_test::read_bytes(path);
  uint64_t header_len = 0;
  std::memcpy(&header_len, raw.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);

  SafetensorsFile file(path);
  EXPECT_EQ(file.metadata(), (std::map<std::string, std::string>{{"format", "pt"}, {"note", "a \"quoted\" value"}}));
  ASSERT_EQ(file.tensors().size(), tensors.size());
  for (const TensorData& t : tensors) {
    SCOPED_TRACE(t.name);
    const TensorView& v = find(file.tensors(), t.name);
    EXPECT_EQ(v.dtype, t.dtype);
    EXPECT_EQ(v.shape, t.shape);
    ASSERT_EQ(v.nbytes, t.bytes.size());
    EXPECT_EQ(std::memcmp(v.data, t.bytes.data(), v.nbytes), 0);
  }
  // The padded header puts the data section, and so the first tensor, on an 8-byte boundary.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(find(file.tensors(), "w.F32").data) % 8, 0u);
}

TEST(SafetensorsWrite, RejectsInconsistentTensors) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  expect_error([&] { write_safetensors(path, {{"w", DType::F32, {3}, std::vector<unsigned char>(8)}}); },
               {path, "'w'", "needs 12 bytes", "given 8"});
  expect_error([&] { write_safetensors(path, {{"w", DType::U8, {-1}, {}}}); }, {path, "'w'", "[-1]"});
  expect_error(
      [&] {
        write_safetensors(path, {{"w", DType::U8, {1}, {0}}, {"w", DType::U8, {1}, {0}}});
      },
      {path, "'w'", "twice"});
  expect_error([&] { write_safetensors(path, {{"__metadata__", DType::U8, {1}, {0}}}); }, {path, "__metadata__"});
  expect_error([&] { write_safetensors(path, {{"q", DType::Q8_0, {32}, std::vector<unsigned char>(34)}}); },
               {path, "'q'", "Q8_0"});
  expect_error([&] { write_safetensors(dir.file("no/such/dir.safetensors"), {}); }, {"no/such/dir.safetensors"});
}

}  // namespace
}  // namespace dseek
