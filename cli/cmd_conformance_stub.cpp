// `mlaps conformance` in a build without a GPU backend: says so and exits 2.
#include <cstdio>

#include "cli/commands.h"

namespace mlaps::cli {

void add_conformance_command(CLI::App& root, CommandRunner& runner) {
  auto* app =
      root.add_subcommand("conformance", "run the plan on the GPU kernels and compare with the emulator");
  app->allow_extras();
  runner.on(app, []() -> int {
    std::fprintf(
        stderr,
        "mlaps: error: conformance: this build has no GPU backend (no nvcc or ROCm found at configure "
        "time); build with the gpu-cuda preset on a machine with a GPU (scripts/gpu-conformance.sh)\n");
    return 2;
  });
}

}  // namespace mlaps::cli
