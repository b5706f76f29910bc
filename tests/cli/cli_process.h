// The dseek binary as a user runs it: with pipes, or on a pseudo-terminal.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace dseek::cli_test {

struct ProcessResult {
  int status = -1;  // exit status, or -1 when killed by a signal
  std::string out;
  std::string err;
};

// Runs DSEEK_BINARY with `args` (no shell), `input` on stdin.
ProcessResult run_dseek(const std::vector<std::string>& args, const std::string& input = "");

// A file in the temporary directory, removed with the object.
class TempFile {
 public:
  TempFile(std::string_view name, std::string_view contents);
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// DSEEK_BINARY on a new pseudo-terminal (its controlling terminal, so ^C there is SIGINT).
class TerminalSession {
 public:
  explicit TerminalSession(const std::vector<std::string>& args);
  ~TerminalSession();  // kills the process if it is still running
  TerminalSession(const TerminalSession&) = delete;
  TerminalSession& operator=(const TerminalSession&) = delete;

  void type(std::string_view keys);  // as if typed: "\x03" is Ctrl-C, "\x04" Ctrl-D
  // Reads until `text` occurs at or after `from` in the output; returns where, or npos on timeout or end.
  size_t wait_for(std::string_view text, size_t from, std::chrono::seconds timeout = std::chrono::seconds(60));
  // Reads until the output is longer than `size`; false on timeout or end.
  bool wait_for_size(size_t size, std::chrono::seconds timeout = std::chrono::seconds(60));
  // Everything the terminal showed so far, "\r\n" turned into "\n".
  std::string output() const;
  size_t size() const { return output().size(); }
  // Waits for the process to exit; its exit status, or -1 on a signal or timeout.
  int wait_exit(std::chrono::seconds timeout = std::chrono::seconds(60));

 private:
  bool read_some(std::chrono::steady_clock::time_point deadline);  // false on timeout or end

  pid_t pid_ = -1;
  int master_ = -1;
  std::string raw_;
  bool exited_ = false;
};

}  // namespace dseek::cli_test
