#include "cli/args.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "cli/flags.h"
#include "scheduler/error.h"
#include "workloads/workloads.h"

namespace mlaps::cli {
void ProblemArgs::add_to(CLI::App& app, bool with_dump) {
  app.add_option("--qo-lens", qo_lens,
                 "query lengths per sequence: comma list, LENxCOUNT repeats (e.g. 8x16)");
  app.add_option("--kv-lens", kv_lens, "KV (context) lengths per sequence, same form (e.g. 1200x16)");
  app.add_option("--heads", heads, "K heads (num_heads_k)")->capture_default_str();
  app.add_option("--gqa", gqa, "q heads per K head (gqa_ratio)")->capture_default_str();
  app.add_option("--num-cu", num_cu, "CU count = thread groups (MI355X: 256)")->capture_default_str();
  app.add_flag("--causal,!--no-causal", causal, "bottom-right causal mask (default) or none");
  app.add_option("--block-size", block_size, "tokens per KV page")->capture_default_str();
  app.add_option("--tile-q", tile_q, "query rows per tile")->capture_default_str();
  app.add_option("--tile-kv", tile_kv, "keys per KV tile")->capture_default_str();
  app.add_flag(
      "--allow-causal-qo-gt-kv", allow_causal_qo_gt_kv,
      "let causal qo_len > kv_len through (invalid prefill; studies upstream's behaviour, contract 2.5.3)");
  app.add_option("--policy", policy, "scheduling policy: " + policy_names(" | ") + " (`mlaps policies`)")
      ->capture_default_str();
  app.add_option("--problem", problem_file, "problem as a JSON file instead of the length options");
  app.add_option("--workload", workload,
                 "a named workload (see `mlaps workloads`) instead of the length options");
  if (with_dump) {
    app.add_option("--from-aiter-dump", aiter_dump_dir,
                   "read upstream's metadata dump (test_mla_prefill_ps.py --dump_metadata) from DIR");
  }
}

Problem ProblemArgs::problem(const CLI::App& app) const {
  Problem p;
  if (!problem_file.empty() || !workload.empty()) {
    const char* field = workload.empty() ? "--problem" : "--workload";
    if (app.count("--qo-lens") || app.count("--kv-lens") || (!workload.empty() && !problem_file.empty())) {
      throw InputError(field, "cannot be combined with --qo-lens/--kv-lens/--problem");
    }
    if (!workload.empty()) {
      p = mlaps::workload(workload).problem;
    } else {
      std::ifstream f(problem_file, std::ios::binary);
      if (!f) throw InputError("--problem", fmt::format("cannot read '{}'", problem_file));
      std::stringstream ss;
      ss << f.rdbuf();
      p = problem_from_json_text(ss.str());
    }
    // Command-line options given explicitly override the file.
    if (app.count("--heads")) p.num_heads_k = heads;
    if (app.count("--gqa")) p.gqa_ratio = gqa;
    if (app.count("--num-cu")) p.num_cu = num_cu;
    if (app.count("--causal") || app.count("--no-causal")) p.causal = causal;
    if (app.count("--allow-causal-qo-gt-kv")) p.allow_causal_qo_gt_kv = allow_causal_qo_gt_kv;
  } else {
    if (qo_lens.empty()) throw InputError("--qo-lens", "is required (or give --problem FILE.json)");
    if (kv_lens.empty()) throw InputError("--kv-lens", "is required (or give --problem FILE.json)");
    const auto qo = parse_length_list("--qo-lens", qo_lens);
    const auto kv = parse_length_list("--kv-lens", kv_lens);
    if (qo.size() != kv.size()) {
      throw InputError("--kv-lens", fmt::format("has {} sequences but --qo-lens has {}; they must match",
                                                kv.size(), qo.size()));
    }
    if (heads <= 0) throw InputError("--heads", "must be >= 1");
    if (gqa <= 0) throw InputError("--gqa", "must be >= 1");
    if (num_cu <= 0) throw InputError("--num-cu", "must be >= 1");
    if (block_size <= 0) throw InputError("--block-size", "must be >= 1");
    p = Problem::from_lengths(qo, kv, heads, causal, num_cu, gqa, block_size);
    p.tile_q = tile_q;
    p.tile_kv = tile_kv;
    p.allow_causal_qo_gt_kv = allow_causal_qo_gt_kv;
  }
  validate_problem(p);
  return p;
}

void write_file_atomic(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path tmp = target.string() + ".tmp-mlaps";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw InputError(path, "cannot open for writing");
    f << text;
    f.flush();
    if (!f) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw InputError(path, "write failed");
    }
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw InputError(path, "cannot move the finished file into place");
  }
}

}  // namespace mlaps::cli
