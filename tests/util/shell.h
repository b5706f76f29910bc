// Other programs for the tests that drive them: shell commands and npm packages.
#pragma once

#include <filesystem>
#include <string>

namespace dseek::test_util {

struct CommandResult {
  int status = -1;     // exit status, or -1 when killed by a signal
  std::string output;  // stdout and stderr
};

CommandResult run_shell(const std::string& command);

// `s` as one word of a shell command.
std::string shell_quote(const std::string& s);

// Installs the npm packages that `dir`'s package.json names with `npm_command` (e.g. "npm ci"),
// unless `installed` (a file they put under dir) exists: once, serialized across the test
// processes. npm and its registry are required: their absence is a test failure.
void install_npm_packages(const std::filesystem::path& dir, const std::filesystem::path& installed,
                          const std::string& npm_command);

}  // namespace dseek::test_util
