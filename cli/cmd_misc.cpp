// `mlaps workloads` and `mlaps ledger`.
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/flags.h"
#include "ledger/ledger.h"
#include "scheduler/error.h"
#include "scheduler/policy.h"
#include "workloads/sets.h"
#include "workloads/workloads.h"

namespace mlaps::cli {

void add_workloads_command(CLI::App& root, CommandRunner& runner) {
  auto* app = root.add_subcommand("workloads", "list the named workload table (shared by tests, bench, GPU)");
  auto json = std::make_shared<bool>(false);
  auto sets = std::make_shared<bool>(false);
  app->add_flag("--json", *json, "print JSON");
  app->add_flag("--sets", *sets,
                "list the serving-shaped workload sets (for compare --set, trace gen) instead");
  runner.on(app, [json, sets]() -> int {
    if (*sets) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& s : workload_sets()) {
        if (*json) {
          arr.push_back(
              {{"name", s.name}, {"description", s.description}, {"default_batches", s.default_batches}});
        } else {
          std::cout << fmt::format("{:<26} {}\n", s.name, s.description);
        }
      }
      if (*json) std::cout << arr.dump(2) << "\n";
      return 0;
    }
    if (*json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& w : workloads()) {
        arr.push_back({{"name", w.name},
                       {"description", w.description},
                       {"policy", w.policy_hint.name()},
                       {"valid_for_aiter", w.valid_for_aiter},
                       {"ledger", w.ledger_id},
                       {"runnable", w.problem.block_size == 1},
                       {"flags", cli::is_cli_representable(w.problem) ? cli::cli_flags(w.problem) : ""}});
      }
      std::cout << arr.dump(2) << "\n";
      return 0;
    }
    for (const auto& w : workloads()) {
      std::cout << fmt::format(
          "{:<36} {}{}{}\n", w.name, w.description,
          w.valid_for_aiter ? "" : fmt::format(" [known defect: {}]", w.ledger_id),
          w.problem.block_size == 1
              ? ""
              : fmt::format(" [plan and check only, not `mlaps run`: it emulates block size 1, "
                            "this has {}]",
                            w.problem.block_size));
      if (cli::is_cli_representable(w.problem))
        std::cout << fmt::format("{:<36}   {}\n", "", cli::cli_flags(w.problem));
    }
    return 0;
  });
}

void add_ledger_command(CLI::App& root, CommandRunner& runner) {
  auto* app = root.add_subcommand("ledger", "list the ledger of known upstream defects");
  runner.on(app, []() -> int {
    for (const auto& e : ledger()) {
      std::cout << fmt::format("{}: {}\n  upstream: {} | contract {} | {}\n  {}\n", e.id, e.title, e.upstream,
                               e.contract, e.status, e.description);
      for (const auto& c : e.cases) {
        std::string exp;
        for (const auto& [k, n] : c.expected) exp += fmt::format(" {} x{};", k, n);
        std::cout << fmt::format("  case {}:{}\n", c.name, exp);
      }
      for (const auto& sh : e.shows) {
        if (sh.args.empty()) {
          std::cout << fmt::format("  shows {}: {} (test {})\n", sh.name, sh.says, sh.test);
        } else {
          std::cout << fmt::format("  shows {}: {}\n    mlaps {}  -> exit {}, prints \"{}\"\n", sh.name,
                                   sh.says, fmt::join(sh.args, " "), sh.exit_code,
                                   fmt::join(sh.expect, "\", \""));
        }
      }
    }
    return 0;
  });
}

void add_policies_command(CLI::App& root, CommandRunner& runner) {
  auto* app = root.add_subcommand("policies", "list the policy table (every --policy / --contract value)");
  auto format = std::make_shared<std::string>("text");
  app->add_option("--format", *format, "output: text | json")->capture_default_str();
  runner.on(app, [format]() -> int {
    if (*format != "text" && *format != "json") {
      throw InputError("--format", fmt::format("'{}' is not one of text, json", *format));
    }
    if (*format == "json") {
      nlohmann::json arr = nlohmann::json::array();
      for (const PolicyDef& d : policies()) {
        arr.push_back({{"name", d.name},
                       {"summary", d.summary},
                       {"upstream_shape", d.traits.upstream_shape},
                       {"reduce", reduce_name(d.traits.reduce)},
                       {"sizing", sizing_name(d.traits.sizing)},
                       {"need_lse", lse_rule_name(d.traits.need_lse)}});
      }
      std::cout << arr.dump(2) << "\n";
      return 0;
    }
    // One line per policy; the name is the first word (scripts/demo.sh reads it).
    for (const PolicyDef& d : policies()) {
      std::cout << fmt::format(
          "{:<14} reduce {:<6}  sizing {:<6}{}  {}  need_lse {}\n  {:<14} {}\n", d.name,
          reduce_name(d.traits.reduce), sizing_name(d.traits.sizing), d.capacity ? " (own bound)" : "",
          d.traits.upstream_shape ? "claims upstream's shape" : "execution contract only",
          lse_rule_name(d.traits.need_lse), "", d.summary);
    }
    return 0;
  });
}

void add_conformance_command(CLI::App& root, CommandRunner& runner);

void add_misc_commands(CLI::App& root, CommandRunner& runner) {
  add_workloads_command(root, runner);
  add_ledger_command(root, runner);
  add_policies_command(root, runner);
  add_conformance_command(root, runner);
}

}  // namespace mlaps::cli
