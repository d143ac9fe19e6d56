// `mlaps conformance`: the plan on the GPU kernels, compared with the emulator bit for bit
// (conformance/conformance.h); the options are conformance's own front end (conformance/front_end.h).
#include <iostream>

#include "cli/commands.h"
#include "conformance/front_end.h"

namespace mlaps::cli {

void add_conformance_command(CLI::App& root, CommandRunner& runner) {
  auto* app = root.add_subcommand(
      "conformance", "run the workload suite on the GPU kernels and compare with the emulator bit for bit");
  auto o = std::make_shared<conformance::ConformanceOptions>();
  conformance::add_options(*app, *o);
  runner.on(app, [o]() -> int {
    conformance::check_options(*o);
    return conformance::run_conformance(*o, std::cout);
  });
}

}  // namespace mlaps::cli
