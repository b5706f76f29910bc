#include <charconv>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace dseek::cli {
namespace {

std::string read_stdin() {
  std::string text;
  char buffer[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), stdin)) > 0) text.append(buffer, n);
  if (std::ferror(stdin)) fail("stdin: read error");
  return text;
}

std::vector<uint32_t> parse_ids(const std::string& text) {
  std::vector<uint32_t> ids;
  size_t pos = 0;
  while (true) {
    pos = text.find_first_not_of(" \t\r\n", pos);
    if (pos == std::string::npos) break;
    size_t end = text.find_first_of(" \t\r\n", pos);
    if (end == std::string::npos) end = text.size();
    uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + end, value);
    if (ec != std::errc() || ptr != text.data() + end || value > std::numeric_limits<uint32_t>::max())
      fail("stdin: {} is not a token id", text.substr(pos, end - pos));
    ids.push_back(static_cast<uint32_t>(value));
    pos = end;
  }
  return ids;
}

void write_stdout(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) fail("stdout: write error");
}

}  // namespace

void add_tokenize_commands(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto bos = std::make_shared<bool>(false);
  auto* tokenize = app.add_subcommand("tokenize", "Encode stdin (taken byte for byte) and print its token ids");
  tokenize->add_option("DIR", *dir, "Model or tokenizer directory (tokenizer.json), or a GGUF file")->required();
  tokenize->add_flag("--bos", *bos, "Add the special tokens transformers adds by default (BOS)");
  tokenize->callback([=] {
    Tokenizer tokenizer = Tokenizer::load(*dir);
    std::vector<uint32_t> ids = tokenizer.encode(read_stdin(), *bos);
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i > 0) line += ' ';
      line += std::to_string(ids[i]);
    }
    write_stdout(line + "\n");
  });

  auto skip_special = std::make_shared<bool>(false);
  auto* detokenize = app.add_subcommand("detokenize", "Decode token ids read from stdin and print the text");
  detokenize->add_option("DIR", *dir, "Model or tokenizer directory (tokenizer.json), or a GGUF file")->required();
  detokenize->add_flag("--skip-special-tokens", *skip_special, "Leave out special tokens such as BOS and EOS");
  detokenize->callback([=] {
    Tokenizer tokenizer = Tokenizer::load(*dir);
    write_stdout(tokenizer.decode(parse_ids(read_stdin()), *skip_special));
  });
}

}  // namespace dseek::cli
