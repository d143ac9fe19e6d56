#pragma once
// Subcommand registration: each add_*_command registers its options and a handler that returns the exit
// code (0 ok, 1 check/compare failed). InputError thrown by a handler becomes exit code 2.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "scheduler/problem.h"
#include "scheduler/validate.h"

namespace mlaps::cli {

class CommandRunner {
 public:
  void on(CLI::App* app, std::function<int()> fn) { handlers_.emplace_back(app, std::move(fn)); }
  // Runs the handler of the parsed subcommand; -1 if none was given.
  int run() const {
    for (const auto& [app, fn] : handlers_) {
      if (app->parsed()) return fn();
    }
    return -1;
  }

 private:
  std::vector<std::pair<CLI::App*, std::function<int()>>> handlers_;
};

void add_plan_command(CLI::App& root, CommandRunner& runner);
void add_check_command(CLI::App& root, CommandRunner& runner);
void add_run_command(CLI::App& root, CommandRunner& runner);
void add_chunked_command(CLI::App& root, CommandRunner& runner);
void add_misc_commands(CLI::App& root, CommandRunner& runner);  // workloads, conformance, fuzz
void add_sizing_command(CLI::App& root, CommandRunner& runner);
void add_cost_commands(CLI::App& root, CommandRunner& runner);  // cost, compare, trace gen
void add_invariance_command(CLI::App& root, CommandRunner& runner);

}  // namespace mlaps::cli
