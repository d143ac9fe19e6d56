// `mlaps conformance`: the plan on the GPU kernels, compared with the emulator bit for bit
// (gpu/conformance.h).
#include <iostream>

#include "cli/commands.h"
#include "gpu/conformance.h"
#include "scheduler/error.h"

namespace mlaps::cli {

void add_conformance_command(CLI::App& root, CommandRunner& runner) {
  auto* app = root.add_subcommand(
      "conformance", "run the workload suite on the GPU kernels and compare with the emulator bit for bit");
  auto o = std::make_shared<gpu::ConformanceOptions>();
  app->add_option("--suite", o->suite, "default | quick | sanitizer | seed")->capture_default_str();
  app->add_option("--filter", o->filter, "only cases whose name contains this");
  app->add_option("--out", o->out_dir, "write junit.xml and summary.json into DIR");
  app->add_option("--threads", o->threads, "emulator threads (default: OpenMP's)");
  app->add_option("--seed", o->seed, "seed of the random problems and inputs")->capture_default_str();
  app->add_option("--random", o->random_cases, "random small problems (default: the suite's)");
  app->add_flag("--time", o->timing, "time the prefill kernel of the seed scenarios (TFLOP/s)");
  app->add_option("--reps", o->timing_reps, "timing repetitions")->capture_default_str();
  app->add_flag("--list", o->list_only, "list the cases and exit");
  app->add_flag("--no-device-ok", o->no_device_ok, "exit 0 (not 2) when no GPU is present");
  app->add_flag("--reference-strict", o->reference_strict, "fail on a float64-reference miss too");
  runner.on(app, [o]() -> int {
    if (o->suite != "default" && o->suite != "quick" && o->suite != "sanitizer" && o->suite != "seed") {
      throw InputError("--suite", "'" + o->suite + "' is not one of default, quick, sanitizer, seed");
    }
    if (o->threads < 0) throw InputError("--threads", "must be >= 0");
    if (o->timing_reps < 1) throw InputError("--reps", "must be >= 1");
    return gpu::run_conformance(*o, std::cout);
  });
}

}  // namespace mlaps::cli
