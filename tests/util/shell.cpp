#include "shell.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include <gtest/gtest.h>

namespace dseek::test_util {

namespace fs = std::filesystem;

CommandResult run_shell(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void install_npm_packages(const fs::path& dir, const fs::path& installed, const std::string& npm_command) {
  if (fs::exists(dir / installed)) return;
  int lock = ::open((fs::temp_directory_path() / "dseek_npm_ci.lock").c_str(), O_CREAT | O_RDWR, 0666);
  ASSERT_GE(lock, 0);
  ::flock(lock, LOCK_EX);
  if (!fs::exists(dir / installed)) {
    CommandResult npm = run_shell(npm_command + " --no-audit --no-fund --prefix " + shell_quote(dir.string()));
    EXPECT_EQ(npm.status, 0) << npm_command << " in " << dir << " failed (npm and the npm registry are required):\n"
                             << npm.output;
  }
  ::flock(lock, LOCK_UN);
  ::close(lock);
}

}  // namespace dseek::test_util
