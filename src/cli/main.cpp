#include <malloc.h>

#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "util/error.h"

int main(int argc, char** argv) {
  // A forward pass allocates activation buffers of up to tens of MB and frees them; by default
  // glibc returns those to the kernel each time, and the next pass pays page faults and zeroing
  // for them again. Keeping them in the heap makes them cheap to reuse.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  CLI::App app{"dseek: DeepSeek-V2/V3 inference engine and server"};
  app.require_subcommand(1);
  dseek::cli::add_version_command(app);
  dseek::cli::add_logits_command(app);
  dseek::cli::add_generate_command(app);
  dseek::cli::add_bench_command(app);
  dseek::cli::add_tokenize_commands(app);
  dseek::cli::add_chat_template_command(app);
  dseek::cli::add_serve_command(app);
  dseek::cli::add_run_command(app);
  dseek::cli::add_chat_command(app);
  dseek::cli::add_quantize_command(app);
  dseek::cli::add_perplexity_command(app);
  dseek::cli::add_kl_divergence_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const dseek::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
