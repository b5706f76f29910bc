// Encoding throughput of the DeepSeek LLM tokenizer on one thread (bytes/s = MB/s of text).
// English: the GPL-3 text Debian ships (real prose). Chinese: text drawn from the
// vocabulary's CJK words with a fixed seed, punctuated every few words (no Chinese prose
// ships with the system). "Warm" reuses the word cache across iterations, as a server
// does; "Cold" starts each pass with a fresh tokenizer. DSEEK_TOKENIZER_DIR overrides the
// fixture tokenizer.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace dseek {
namespace {

std::filesystem::path tokenizer_dir() {
  if (const char* dir = std::getenv("DSEEK_TOKENIZER_DIR")) return dir;
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / "fixtures" /
         "tokenizers" / "deepseek-llm";
}

const Tokenizer& shared_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::load(tokenizer_dir());
  return tokenizer;
}

std::string english_text() {
  std::ifstream in("/usr/share/common-licenses/GPL-3", std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool all_cjk(std::string_view text) {
  if (text.empty()) return false;
  for (size_t pos = 0; pos < text.size();) {
    char32_t cp = utf8::next(text, pos);
    if (cp < 0x4E00 || cp > 0x9FFF) return false;
  }
  return true;
}

// About 1 MB: 2-10 words per clause, clauses end in Chinese punctuation, some lines break.
std::string chinese_text(const Tokenizer& tokenizer) {
  std::vector<std::string> words;
  for (uint32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    std::string word = tokenizer.decode(std::vector<uint32_t>{id});
    if (all_cjk(word)) words.push_back(std::move(word));
  }
  const char* punctuation[] = {"，", "，", "，", "。", "、", "；", "？", "！"};
  std::mt19937 rng(42);
  std::string text;
  while (text.size() < (1u << 20)) {
    int count = 2 + static_cast<int>(rng() % 9);
    for (int i = 0; i < count; ++i) text += words[rng() % words.size()];
    text += punctuation[rng() % std::size(punctuation)];
    if (rng() % 8 == 0) text += "\n";
  }
  return text;
}

void run_warm(benchmark::State& state, const std::string& text) {
  if (text.empty()) {
    state.SkipWithError("no benchmark text (is /usr/share/common-licenses/GPL-3 missing?)");
    return;
  }
  const Tokenizer& tokenizer = shared_tokenizer();
  size_t tokens = 0;
  for (auto _ : state) {
    std::vector<uint32_t> ids = tokenizer.encode(text);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["bytes/token"] = static_cast<double>(text.size()) / static_cast<double>(tokens);
}

void run_cold(benchmark::State& state, const std::string& text) {
  if (text.empty()) {
    state.SkipWithError("no benchmark text (is /usr/share/common-licenses/GPL-3 missing?)");
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();
    auto tokenizer = std::make_unique<Tokenizer>(Tokenizer::load(tokenizer_dir()));
    state.ResumeTiming();
    benchmark::DoNotOptimize(tokenizer->encode(text).data());
    state.PauseTiming();
    tokenizer.reset();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void BM_TokenizerEncodeEnglishWarm(benchmark::State& state) { run_warm(state, english_text()); }
void BM_TokenizerEncodeEnglishCold(benchmark::State& state) { run_cold(state, english_text()); }
void BM_TokenizerEncodeChineseWarm(benchmark::State& state) { run_warm(state, chinese_text(shared_tokenizer())); }
void BM_TokenizerEncodeChineseCold(benchmark::State& state) { run_cold(state, chinese_text(shared_tokenizer())); }

BENCHMARK(BM_TokenizerEncodeEnglishWarm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TokenizerEncodeEnglishCold)->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TokenizerEncodeChineseWarm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TokenizerEncodeChineseCold)->Iterations(3)->Unit(benchmark::kMillisecond);

void BM_TokenizerDecode(benchmark::State& state) {
  const Tokenizer& tokenizer = shared_tokenizer();
  std::string text = english_text();
  std::vector<uint32_t> ids = tokenizer.encode(text);
  for (auto _ : state) benchmark::DoNotOptimize(tokenizer.decode(ids).data());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_TokenizerDecode)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace dseek
