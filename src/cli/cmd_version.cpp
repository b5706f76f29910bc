#include <cstdio>

#include "cli/commands.h"

namespace dseek::cli {

void add_version_command(CLI::App& app) {
  app.add_subcommand("version", "Print dseek's version")->callback([] { std::printf("dseek 0.1.0\n"); });
}

}  // namespace dseek::cli
