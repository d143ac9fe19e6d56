#include "cli/args.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/flags.h"
#include "scheduler/error.h"
#include "scheduler/files.h"
#include "scheduler/limits.h"
#include "workloads/workloads.h"

namespace mlaps::cli {

void ProblemArgs::add_to(CLI::App& app, bool with_dump) {
  app.add_option("--qo-lens", qo_lens,
                 "query lengths per sequence: comma list, LENxCOUNT repeats (e.g. 8x16)");
  app.add_option("--kv-lens", kv_lens, "KV (context) lengths per sequence, same form (e.g. 1200x16)");
  app.add_option("--heads", heads, "K heads (num_heads_k)")->capture_default_str();
  app.add_option("--gqa", gqa, "q heads per K head (gqa_ratio)")->capture_default_str();
  app.add_option("--num-cu", num_cu, "CU count = thread groups (MI355X: 256)")->capture_default_str();
  auto* c = app.add_flag_callback(
      "--causal", [this] { causal = true; }, "bottom-right causal mask (the default)");
  app.add_flag_callback(
         "--no-causal", [this] { causal = false; }, "no mask: every row sees every key")
      ->excludes(c);
  app.add_option("--block-size", block_size, "tokens per KV page")->capture_default_str();
  app.add_option("--tile-q", tile_q, "query rows per tile")->capture_default_str();
  app.add_option("--tile-kv", tile_kv, "keys per KV tile")->capture_default_str();
  app.add_flag(
      "--allow-causal-qo-gt-kv", allow_causal_qo_gt_kv,
      "let causal qo_len > kv_len through (invalid prefill; studies upstream's behaviour, contract 2.5.3)");
  add_need_lse_flags(app, need_lse);
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

void add_need_lse_flags(CLI::App& app, bool& need_lse) {
  auto* yes = app.add_flag_callback(
      kNeedLseFlag, [&need_lse] { need_lse = true; },
      "the caller needs every row's final LSE: every piece a partial slot (the default)");
  app.add_flag_callback(
         kNoNeedLseFlag, [&need_lse] { need_lse = false; },
         "no final LSE needed (merged #3606 need_lse=False): a policy that honours it writes tiles taken "
         "whole by one TG directly (-1); `mlaps policies` says which do")
      ->excludes(yes);
}

bool need_lse_given(const CLI::App& app) {
  return app.count(kNeedLseFlag) > 0 || app.count(kNoNeedLseFlag) > 0;
}

void check_range(const char* flag, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    throw InputError(flag, fmt::format("{} is out of range; must be in [{}, {}]", v, lo, hi));
}

uint64_t parse_seed(const char* flag, const std::string& text) {
  uint64_t v = 0;
  const char* e = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), e, v);
  if (text.empty() || ec != std::errc() || ptr != e) {
    throw InputError(flag, fmt::format("'{}' is not an integer in [0, 2^64 - 1]", text));
  }
  return v;
}

int checked_threads(const char* flag, int threads) {
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (threads < 0 || threads > 4 * hw) {
    throw InputError(flag,
                     fmt::format("{} is out of range; must be in [0, {}] (0: OpenMP's default; at most 4x "
                                 "the {} hardware threads)",
                                 threads, 4 * hw, hw));
  }
  return threads;
}

void ProblemArgs::check_ranges() const {
  check_range("--heads", heads, 1, 0xFFFF);
  check_range("--gqa", gqa, 1, 0xFFFF);
  check_range("--num-cu", num_cu, 1, kMaxNumCu);
  check_range("--block-size", block_size, 1, 1 << 16);
  check_range("--tile-q", tile_q, 1, 1 << 16);
  check_range("--tile-kv", tile_kv, 1, 1 << 16);
}

std::optional<Policy> ProblemArgs::explicit_policy(const CLI::App& app) const {
  if (!app.count("--policy")) return std::nullopt;
  return parsed_policy();
}

DumpOverrides ProblemArgs::overrides(const CLI::App& app) const {
  check_ranges();
  DumpOverrides o;
  if (app.count("--heads")) o.heads = heads;
  if (app.count("--gqa")) o.gqa = gqa;
  if (app.count("--num-cu")) o.num_cu = num_cu;
  if (app.count("--block-size")) o.block_size = block_size;
  if (app.count("--tile-q")) o.tile_q = tile_q;
  if (app.count("--tile-kv")) o.tile_kv = tile_kv;
  if (app.count("--causal") || app.count("--no-causal")) o.causal = causal;
  if (app.count("--allow-causal-qo-gt-kv")) o.allow_causal_qo_gt_kv = allow_causal_qo_gt_kv;
  if (need_lse_given(app)) o.need_lse = need_lse;
  o.policy = explicit_policy(app);
  return o;
}

namespace {

// Re-throws a problem error under the flag that sets the field when the user gave that flag (or the
// problem comes from the flags alone); otherwise under `source: field`.
[[noreturn]] void rethrow_for_flags(const InputError& e, const CLI::App& app, const std::string& source) {
  const std::string& f = e.field();
  const char* constraint = e.what() + f.size() + 2;
  std::string flag = flag_for_field(f);
  const auto slash = flag.find('/');
  const bool given = !flag.empty() && (app.count(flag.substr(0, slash)) ||
                                       (slash != std::string::npos && app.count(flag.substr(slash + 1))) ||
                                       (flag == "--causal" && app.count("--no-causal")));
  if (!flag.empty() && (source.empty() || given)) throw InputError(flag, constraint);
  throw InputError(source.empty() ? f : source + ": " + f, constraint);
}

}  // namespace

Problem ProblemArgs::problem(const CLI::App& app) const {
  check_ranges();
  Problem p;
  if (!problem_file.empty() || !workload.empty()) {
    const char* field = workload.empty() ? "--problem" : "--workload";
    if (app.count("--qo-lens") || app.count("--kv-lens") || (!workload.empty() && !problem_file.empty())) {
      throw InputError(field, "cannot be combined with --qo-lens/--kv-lens/--problem");
    }
    const std::string source = workload.empty() ? "--problem " + problem_file : "--workload " + workload;
    const Problem base =
        !workload.empty()
            ? mlaps::workload(workload).problem
            : problem_from_json_text(read_file_bounded("--problem", problem_file, kMaxProblemFileBytes));
    // Every option given explicitly overrides the file or the workload: applied to its JSON form, so the
    // page layout follows a new block size and one validation names the flag.
    nlohmann::json j = nlohmann::json::parse(problem_to_json_text(base));
    if (app.count("--block-size") && block_size != base.block_size && j.contains("kv_indptr")) {
      throw InputError("--block-size",
                       fmt::format("cannot change the block size ({}) of {}, which lists its own "
                                   "kv_indptr page layout",
                                   base.block_size, source));
    }
    if (app.count("--heads")) j["heads"] = heads;
    if (app.count("--gqa")) j["gqa"] = gqa;
    if (app.count("--num-cu")) j["num_cu"] = num_cu;
    if (app.count("--block-size")) j["block_size"] = block_size;
    if (app.count("--tile-q")) j["tile_q"] = tile_q;
    if (app.count("--tile-kv")) j["tile_kv"] = tile_kv;
    if (app.count("--causal") || app.count("--no-causal")) j["causal"] = causal;
    if (app.count("--allow-causal-qo-gt-kv")) j["allow_causal_qo_gt_kv"] = allow_causal_qo_gt_kv;
    if (need_lse_given(app)) j["need_lse"] = need_lse;
    try {
      p = problem_from_json_text(j.dump());
    } catch (const InputError& e) {
      rethrow_for_flags(e, app, source);
    }
    return p;
  }
  if (qo_lens.empty()) throw InputError("--qo-lens", "is required (or give --problem FILE.json)");
  if (kv_lens.empty()) throw InputError("--kv-lens", "is required (or give --problem FILE.json)");
  const auto qo = parse_length_list("--qo-lens", qo_lens);
  const auto kv = parse_length_list("--kv-lens", kv_lens);
  if (qo.size() != kv.size()) {
    throw InputError("--kv-lens", fmt::format("has {} sequences but --qo-lens has {}; they must match",
                                              kv.size(), qo.size()));
  }
  try {
    p = Problem::from_lengths(qo, kv, heads, causal, num_cu, gqa, block_size);
    p.tile_q = tile_q;
    p.tile_kv = tile_kv;
    p.allow_causal_qo_gt_kv = allow_causal_qo_gt_kv;
    p.need_lse = need_lse;
    validate_problem(p);
  } catch (const InputError& e) {
    rethrow_for_flags(e, app, "");
  }
  return p;
}

}  // namespace mlaps::cli
