#pragma once
// Problem options shared by the `mlaps` subcommands, lowered once into a Problem.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/inspect.h"
#include "scheduler/plan.h"
#include "scheduler/policy.h"
#include "scheduler/problem.h"

namespace mlaps::cli {

struct ProblemArgs {
  std::string qo_lens, kv_lens;
  int heads = 1;
  int gqa = 1;
  int num_cu = 256;
  bool causal = true;
  int block_size = 1;
  int tile_q = 256;
  int tile_kv = 128;
  bool allow_causal_qo_gt_kv = false;
  bool need_lse = true;
  std::string policy = std::string(default_policy().name());
  std::string problem_file;
  std::string workload;
  std::string aiter_dump_dir;

  // Registers the options on a subcommand. with_dump: also --from-aiter-dump.
  void add_to(CLI::App& app, bool with_dump);
  bool from_dump() const { return !aiter_dump_dir.empty(); }
  // Builds the problem from --problem, --workload or the length options; every option given explicitly
  // overrides the file's or the workload's value. Validated; errors name the flag. Throws InputError.
  Problem problem(const CLI::App& app) const;
  // The options given explicitly, range-checked, for a problem read from a dump.
  DumpOverrides overrides(const CLI::App& app) const;
  // --policy when given explicitly.
  std::optional<Policy> explicit_policy(const CLI::App& app) const;
  Policy parsed_policy() const { return policy_named(policy, "--policy"); }
  // Range checks of every numeric option (exit 2 naming the flag).
  void check_ranges() const;
};

// Registers --need-lse / --no-need-lse (Problem::need_lse; flags.h's spelling) on `app`, writing `need_lse`.
// Every command that builds a problem from flags registers them through this.
void add_need_lse_flags(CLI::App& app, bool& need_lse);
// Whether either of them was given.
bool need_lse_given(const CLI::App& app);

// Throws InputError(flag, ...) unless lo <= v <= hi.
void check_range(const char* flag, int64_t v, int64_t lo, int64_t hi);
// A seed: a decimal integer in [0, 2^64); "-1", "1e3" and 2^64 are refused naming `flag`.
uint64_t parse_seed(const char* flag, const std::string& text);
// --threads: 0 (OpenMP's default) up to 4x the hardware threads.
int checked_threads(const char* flag, int threads);

}  // namespace mlaps::cli
