// Each subcommand lives in its own file and registers itself on the app here.
#pragma once

#include <CLI/CLI.hpp>

namespace dseek::cli {

void add_version_command(CLI::App& app);

}  // namespace dseek::cli
