#pragma once
// Problem options shared by the `mlaps` subcommands, lowered once into a Problem.
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

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
  std::string policy = std::string(default_policy().name());
  std::string problem_file;
  std::string workload;
  std::string aiter_dump_dir;

  // Registers the options on a subcommand. with_dump: also --from-aiter-dump.
  void add_to(CLI::App& app, bool with_dump);
  bool from_dump() const { return !aiter_dump_dir.empty(); }
  // Builds the problem from --problem or the length options (validated; throws InputError).
  Problem problem(const CLI::App& app) const;
  Policy parsed_policy() const { return policy_named(policy, "--policy"); }
};

// Writes `text` to `path` atomically (temp file + rename): the file is complete or absent.
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace mlaps::cli
