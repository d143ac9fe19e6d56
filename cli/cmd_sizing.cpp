// `mlaps sizing`: the PS buffers an engine allocates once for every batch within its limits: the tight bound
// (scheduler/sizing_tight.cpp) beside upstream's two formulas and vLLM's hand bound.
#include <cstdio>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "scheduler/error.h"
#include "scheduler/geometry.h"
#include "scheduler/sizing.h"
#include "sim/model.h"

namespace mlaps::cli {
namespace {

using Opt = std::optional<int64_t>;

nlohmann::json opt_json(const Opt& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json bound_json(const BufferCounts& c, const EngineLimits& lim) {
  const BufferBytes b = bytes_of(c, lim, kVHeadDim);
  return {{"works", opt_json(c.works)},
          {"partial_slots", opt_json(c.partial_slots)},
          {"reduce_entries", opt_json(c.reduce_entries)},
          {"reduce_partial_map", opt_json(c.reduce_partial_map)},
          {"bytes",
           {{"work_indptr", opt_json(b.work_indptr)},
            {"work_info", opt_json(b.work_info)},
            {"reduce_indptr", opt_json(b.reduce_indptr)},
            {"reduce_final_map", opt_json(b.reduce_final_map)},
            {"reduce_partial_map", opt_json(b.reduce_partial_map)},
            {"partial_o", opt_json(b.partial_o)},
            {"partial_lse", opt_json(b.partial_lse)},
            {"total", opt_json(b.total)}}}};
}

std::string mib(const Opt& bytes) {
  if (!bytes) return "-";
  const double m = static_cast<double>(*bytes) / (1024.0 * 1024.0);
  if (m >= 1024.0 * 1024.0) return fmt::format("{:.1f} TiB", m / (1024.0 * 1024.0));
  if (m >= 1024.0) return fmt::format("{:.2f} GiB", m / 1024.0);
  return fmt::format("{:.2f} MiB", m);
}

std::string num(const Opt& v) {
  return v ? std::to_string(*v) : "-";
}

Opt sum(const Opt& a, const Opt& b) {
  return a && b ? Opt{*a + *b} : std::nullopt;
}

std::string plan_command(const EngineLimits& lim, const Batch& b, Policy policy) {
  std::string s = cli::cli_command("plan", problem_of(lim, b), policy);
  if (lim.tile_q != 256) s += fmt::format(" --tile-q {}", lim.tile_q);
  if (lim.tile_kv != 128) s += fmt::format(" --tile-kv {}", lim.tile_kv);
  return s;  // cli_flags writes --no-need-lse (problem_of carries lim.need_lse)
}

}  // namespace

void add_sizing_command(CLI::App& root, CommandRunner& runner) {
  auto* app = root.add_subcommand(
      "sizing",
      "PS buffer sizes for every batch within an engine's limits: the tight bound vs upstream's and vLLM's");
  struct Opts {
    int64_t tokens = 0, seqs = 0, heads = 0, num_cu = 256, gqa = 1, tile_q = 256, tile_kv = 128,
            max_kvlen = 0;
    bool causal = false, need_lse = true;
    std::string policy = std::string(default_policy().name()), format = "text";
  };
  auto o = std::make_shared<Opts>();
  app->add_option("--max-num-batched-tokens", o->tokens, "T: query tokens of a batch, summed")->required();
  app->add_option("--max-num-seqs", o->seqs, "S: sequences of a batch")->required();
  app->add_option("--heads", o->heads, "K heads")->required();
  app->add_option("--num-cu", o->num_cu, "CUs (thread groups)")->capture_default_str();
  app->add_option("--gqa", o->gqa, "q heads per K head")->capture_default_str();
  app->add_option("--tile-q", o->tile_q, "query rows per tile")->capture_default_str();
  app->add_option("--tile-kv", o->tile_kv, "keys per KV tile (kvlen_granularity)")->capture_default_str();
  app->add_flag("--causal,!--no-causal", o->causal, "causal batches (default: non-causal)");
  app->add_option("--max-kvlen", o->max_kvlen, "L: KV length of any sequence (default: unbounded)");
  add_need_lse_flags(*app, o->need_lse);
  app->add_option("--policy", o->policy,
                  "a policy of the table (" + policy_names(" | ") +
                      "): upstream's algorithm, or one with its own derived bound")
      ->capture_default_str();
  app->add_option("--format", o->format, "output: text | json")->capture_default_str();
  runner.on(app, [o, app]() -> int {
    if (o->format != "text" && o->format != "json") {
      throw InputError("--format", fmt::format("'{}' is not one of text, json", o->format));
    }
    auto int32_flag = [](const char* flag, int64_t v, int64_t lo) {
      if (v < lo || v > std::numeric_limits<int32_t>::max()) {
        throw InputError(flag, fmt::format("must be in [{}, 2147483647] (got {})", lo, v));
      }
      return static_cast<int32_t>(v);
    };
    EngineLimits lim;
    lim.max_num_batched_tokens = int32_flag("--max-num-batched-tokens", o->tokens, 1);
    lim.max_num_seqs = int32_flag("--max-num-seqs", o->seqs, 1);
    lim.num_heads_k = int32_flag("--heads", o->heads, 1);
    lim.num_cu = int32_flag("--num-cu", o->num_cu, 1);
    lim.gqa_ratio = int32_flag("--gqa", o->gqa, 1);
    lim.tile_q = int32_flag("--tile-q", o->tile_q, 1);
    lim.tile_kv = int32_flag("--tile-kv", o->tile_kv, 1);
    if (app->count("--max-kvlen")) lim.max_kvlen = int32_flag("--max-kvlen", o->max_kvlen, 1);
    lim.causal = o->causal;
    lim.need_lse = o->need_lse;
    const Policy policy = policy_named(o->policy, "--policy");
    lim.validate();

    const TightBound tight = tight_bound(lim, policy);
    const Capacity legacy_cap = compute_capacity(lim.upstream_inputs(), SizingFormula::kLegacy);
    const Capacity pr_cap = compute_capacity(lim.upstream_inputs(), SizingFormula::kPr3606);
    const BufferCounts legacy = counts_of(legacy_cap), pr = counts_of(pr_cap), vllm = vllm_bound(lim);
    const OverflowSearch over = smallest_overflow(lim, policy, legacy_cap);

    if (o->format == "json") {
      nlohmann::json j;
      j["tight"] = bound_json(tight.bound, lim);
      j["upstream_legacy"] = bound_json(legacy, lim);
      nlohmann::json ov = nullptr;
      if (over.status == OverflowSearch::Status::kFound) {
        ov = {{"qo_lens", over.batch.qo_lens},
              {"kv_lens", over.batch.kv_lens},
              {"overflows", over.overflows},
              {"proven_smallest", over.proven_smallest},
              {"command", plan_command(lim, over.batch, policy) +
                              fmt::format(" --sizing legacy --batch-size {}", lim.max_num_seqs)}};
      }
      j["upstream_legacy"]["overflow"] = ov;
      j["upstream_legacy"]["overflow_status"] = over.status == OverflowSearch::Status::kNone    ? "none"
                                                : over.status == OverflowSearch::Status::kFound ? "found"
                                                                                                : "not_found";
      j["upstream_pr3606"] = bound_json(pr, lim);
      j["vllm"] = bound_json(vllm, lim);
      j["witness"] = {{"qo_lens", tight.witness.qo_lens},
                      {"kv_lens", tight.witness.kv_lens},
                      {"attains_bound", tight.exact()}};
      std::cout << j.dump(2) << "\n";
      return 0;
    }

    const ClusterGeometry geo = cluster_geometry(lim.num_heads_k, lim.num_cu);
    std::string s = fmt::format(
        "limits: T {} tokens, S {} sequences, {} K heads x gqa {}, {} CUs = {} clusters x {} TGs, {}, "
        "max_kvlen "
        "{}, tiles {}x{}, {}, policy {}\n\n",
        lim.max_num_batched_tokens, lim.max_num_seqs, lim.num_heads_k, lim.gqa_ratio, lim.num_cu,
        geo.num_clusters, geo.tgs_per_cluster, lim.causal ? "causal" : "non-causal",
        lim.max_kvlen ? std::to_string(*lim.max_kvlen) : "-", lim.tile_q, lim.tile_kv,
        lim.need_lse ? "need_lse" : "no need_lse", policy.name());
    s += fmt::format("{:<16} {:>10} {:>14} {:>15} {:>19} {:>15} {:>12}\n", "bound", "works", "partial_slots",
                     "reduce_entries", "reduce_partial_map", "partial O+LSE", "total");
    const std::pair<const char*, const BufferCounts*> rows[] = {
        {"tight", &tight.bound}, {"upstream_legacy", &legacy}, {"upstream_pr3606", &pr}, {"vllm", &vllm}};
    for (const auto& [name, c] : rows) {
      const BufferBytes b = bytes_of(*c, lim, kVHeadDim);
      s += fmt::format("{:<16} {:>10} {:>14} {:>15} {:>19} {:>15} {:>12}\n", name, num(c->works),
                       num(c->partial_slots), num(c->reduce_entries), num(c->reduce_partial_map),
                       mib(sum(b.partial_o, b.partial_lse)), mib(b.total));
    }
    s += fmt::format("\nbytes per buffer ({} q heads, v_head_dim {}, fp32 partials, {} rows per slot):\n",
                     int64_t{lim.num_heads_k} * lim.gqa_ratio, kVHeadDim, lim.qlen_granularity());
    s += fmt::format("{:<16} {:>11} {:>12} {:>13} {:>16} {:>18} {:>12} {:>12}\n", "bound", "work_indptr",
                     "work_info", "reduce_indptr", "reduce_final_map", "reduce_partial_map", "partial_o",
                     "partial_lse");
    for (const auto& [name, c] : rows) {
      const BufferBytes b = bytes_of(*c, lim, kVHeadDim);
      s += fmt::format("{:<16} {:>11} {:>12} {:>13} {:>16} {:>18} {:>12} {:>12}\n", name, num(b.work_indptr),
                       num(b.work_info), num(b.reduce_indptr), num(b.reduce_final_map),
                       num(b.reduce_partial_map), num(b.partial_o), num(b.partial_lse));
    }
    s += fmt::format(
        "\ntight: proven maximum over every batch within the limits; witness {}:\n  {}\n",
        tight.exact()
            ? "(attains every count)"
            : fmt::format("(does NOT attain the bound: it needs {} works, {} slots, {} "
                          "reduce entries, {} partial-map entries; the bound is proven, "
                          "not shown tight here)",
                          num(tight.attained.works), num(tight.attained.partial_slots),
                          num(tight.attained.reduce_entries), num(tight.attained.reduce_partial_map)),
        plan_command(lim, tight.witness, policy));
    s += fmt::format("upstream_legacy (batch_size {}, max_qlen {}): ", lim.max_num_seqs,
                     lim.upstream_inputs().max_qlen);
    switch (over.status) {
      case OverflowSearch::Status::kNone:
        s += fmt::format("holds for {} (the tight bound fits it)\n", policy.name());
        break;
      case OverflowSearch::Status::kFound:
        s += fmt::format(
            "overflows; {} batch within the limits that does ({}):\n  {} --sizing legacy "
            "--batch-size {}\n",
            over.proven_smallest ? "the smallest (fewest query tokens)" : "a small",
            fmt::join(over.overflows, "; "), plan_command(lim, over.batch, policy), lim.max_num_seqs);
        break;
      case OverflowSearch::Status::kNotFound:
        s += "the tight bound exceeds it, but no constructed batch overflows it\n";
        break;
    }
    if (lim.num_cu != 256)
      s += "vllm: its backend asserts cu_num == 256; shown at this CU count for comparison\n";
    std::fwrite(s.data(), 1, s.size(), stdout);
    return 0;
  });
}

}  // namespace mlaps::cli
