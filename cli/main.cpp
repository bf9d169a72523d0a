// frugal: one binary, one subcommand per verb. Library code throws frugal::Error; this is the
// only place that turns errors into exit codes (1 = bad input or failure, 2 = bad command line).

#include <cstdio>

#include "cli/commands.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/sys.h"
#include "kernels/blas_core.h"

// libgomp's threads spin between parallel regions by default. On a shared machine the spinning
// steals the cores the working threads need: training the tiny preset under a load average of 7
// ran at 165-179 tok/s with the default, 409 with GOMP_SPINCOUNT=10000 and 1048 with
// OMP_WAIT_POLICY=passive (bench_train, one session). The policy is read when libgomp loads, and
// OpenBLAS picks its kernel set (OPENBLAS_CORETYPE) when it loads, both before main(), so frugal
// re-executes itself once with the passive policy (unless the user chose one: OMP_WAIT_POLICY or
// GOMP_SPINCOUNT set) and, on CPUs OpenBLAS 0.3.21 does not know, its AVX-512 kernels
// (kernels/blas_core.h). A failed exec just continues with the defaults.
int main(int argc, char** argv) {
  frugal::prepare_process_env(argv, {.passive_omp_waits = true});
  frugal::tune_malloc_for_reuse();
  CLI::App app{"frugal: train, post-train and serve DeepSeek-V3-architecture models on modest machines"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
  app.parse_complete_callback([&] { frugal::set_num_threads(threads); });
  frugal::cli::register_logits(app);
  frugal::cli::register_generate(app);
  frugal::cli::register_inspect(app);
  frugal::cli::register_random_model(app);
  frugal::cli::register_tokenize(app);
  frugal::cli::register_chat_template(app);
  frugal::cli::register_tokenizer(app);
  frugal::cli::register_all_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the message (or --help); any real command-line error exits 2.
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const frugal::Error& e) {
    std::fprintf(stderr, "frugal: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "frugal: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
