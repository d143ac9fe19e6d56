// mlaps: plan, check, emulate and compare persistent-scheduled MLA prefill (AITER gfx950).
#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "scheduler/error.h"
#include "scheduler/version.h"
#include "sim/emulate.h"

int main(int argc, char** argv) {
  CLI::App app{"mlaps: a testbed for AITER's persistent-scheduled MLA prefill (scheduler, emulator, GPU)"};
  app.set_version_flag("--version", "mlaps " + std::string(mlaps::kVersion));
  app.require_subcommand(1);
  mlaps::cli::CommandRunner runner;
  mlaps::cli::add_plan_command(app, runner);
  mlaps::cli::add_check_command(app, runner);
  mlaps::cli::add_run_command(app, runner);
  mlaps::cli::add_chunked_command(app, runner);
  mlaps::cli::add_misc_commands(app, runner);
  mlaps::cli::add_sizing_command(app, runner);
  mlaps::cli::add_cost_commands(app, runner);
  mlaps::cli::add_invariance_command(app, runner);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  try {
    // A bad MLAPS_ISA_PATH stops every command before it writes anything (exit 2, naming the variable).
    mlaps::selected_isa_path();
    return runner.run();
  } catch (const mlaps::InputError& e) {
    std::fprintf(stderr, "mlaps: error: %s\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "mlaps: error: out of memory: the problem needs more memory than this machine can give "
                 "(`mlaps run` prints its estimate first; try a smaller problem)\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mlaps: internal error: %s\n", e.what());
    return 3;
  }
}
