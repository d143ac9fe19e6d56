// `mlaps invariance`: each request of a batch emulated alone and co-batched, per policy (sim/invariance.h).
#include <cstdio>
#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cost/plan_for.h"
#include "cost/profile.h"
#include "scheduler/error.h"
#include "sim/invariance.h"
#include "workloads/sets.h"

namespace mlaps::cli {

num::Fp8Encoding parse_encoding(const std::string& s);

namespace {

std::vector<Policy> parse_policies(const std::string& text) {
  std::vector<Policy> out;
  if (text == "all") {
    for (const PolicyDef& d : policies()) out.emplace_back(d);
    return out;
  }
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) throw InputError("--policies", "has an empty item; give a comma list or 'all'");
    out.push_back(policy_named(item, "--policies"));
  }
  if (out.empty()) throw InputError("--policies", "is empty; give a comma list or 'all'");
  return out;
}

// A batch's kernel calls, labelled for the report.
struct Call {
  int64_t batch = 0, call = 0;
  Problem problem;
};

double json_num(double v) {  // JSON has no infinity: the largest double stands for "not finite"
  return std::isfinite(v) ? v : std::numeric_limits<double>::max();
}

}  // namespace

void add_invariance_command(CLI::App& root, CommandRunner& runner) {
  auto* app = root.add_subcommand(
      "invariance", "batch invariance: each request emulated alone and co-batched; do its bits change?");
  struct Opts {
    ProblemArgs a;
    std::string policies, set, format = "text", seed = "0", set_seed = "1", profile = cost::kDefaultProfile,
                               encoding = num::fp8_encoding_name(num::Fp8Encoding::kE4M3FN);
    int64_t batches = 1;
    int threads = 0;
    bool quiet = false, require = false;
  };
  auto o = std::make_shared<Opts>();
  o->a.add_to(*app, false);
  app->add_option("--policies", o->policies,
                  "comma list of policies, or 'all' (every row of `mlaps policies`); overrides --policy");
  app->add_option(
      "--set", o->set,
      "a workload set (`mlaps workloads --sets`): every kernel call of its batches, instead of the "
      "problem options (--heads / --num-cu given explicitly override the set's)");
  app->add_option("--set-seed", o->set_seed, "--set: the generator's seed")->capture_default_str();
  app->add_option("--batches", o->batches, "--set: batches, from the first")->capture_default_str();
  app->add_option("--seed", o->seed, "input seed, in [0, 2^64)")->capture_default_str();
  app->add_option("--encoding", o->encoding, "e4m3fn | e4m3fnuz")->capture_default_str();
  app->add_option("--profile", o->profile, "the profile cost-aware policies plan for (name or FILE.json)")
      ->capture_default_str();
  app->add_option("--threads", o->threads, "emulator threads (default: OpenMP's)");
  app->add_option("--format", o->format, "output: text | json")->capture_default_str();
  app->add_flag("--require-invariant", o->require, "exit 1 when any request's bits change");
  app->add_flag("--quiet", o->quiet, "no progress line");
  runner.on(app, [o, app]() -> int {
    if (o->format != "text" && o->format != "json")
      throw InputError("--format", fmt::format("'{}' is not one of text, json", o->format));
    checked_threads("--threads", o->threads);
    const std::vector<Policy> pols =
        o->policies.empty() ? std::vector<Policy>{o->a.parsed_policy()} : parse_policies(o->policies);
    const cost::CostProfile prof = cost::load_profile(o->profile);
    const PlanningCosts pcosts = cost::planning_costs(prof);
    InputOptions io;
    io.seed = parse_seed("--seed", o->seed);
    io.encoding = parse_encoding(o->encoding);
    NumericModel model;
    model.encoding = io.encoding;

    std::vector<Call> calls;
    std::string source;
    if (!o->set.empty()) {
      check_range("--batches", o->batches, 1, 100000);
      o->a.check_ranges();
      const WorkloadSet& s = workload_set(o->set);
      const uint64_t sseed = parse_seed("--set-seed", o->set_seed);
      for (int64_t i = 0; i < o->batches; ++i) {
        TraceBatch tb = s.batch(sseed, i);
        if (app->count("--heads")) tb.heads = o->a.heads;
        if (app->count("--num-cu")) tb.num_cu = o->a.num_cu;
        std::vector<Problem> ps = tb.problems();
        for (size_t c = 0; c < ps.size(); ++c)
          calls.push_back({i, static_cast<int64_t>(c), std::move(ps[c])});
      }
      source = fmt::format("set {} (seed {}), {} batch(es), {} kernel call(s)", o->set, sseed, o->batches,
                           calls.size());
    } else {
      calls.push_back({0, 0, o->a.problem(*app)});
      source = "the given problem";
    }

    nlohmann::json jp = nlohmann::json::array();
    std::string text = fmt::format("mlaps invariance: {}; inputs seed {}; cost-aware policies plan for {}\n",
                                   source, io.seed, prof.name);
    int64_t changed_any = 0;
    for (const Policy pol : pols) {
      Progress progress(fmt::format("invariance {}: calls", pol.name()), o->quiet);
      nlohmann::json rows = nlohmann::json::array();
      int64_t requests = 0, changed = 0;
      double max_out = 0, max_lse = 0;
      text +=
          fmt::format("\npolicy {}\n {:>5} {:>4} {:>5} {:>7} {:>7} {:>6} {:>6} {:>10} {:>11} {:>9} {:>11}\n",
                      pol.name(), "batch", "call", "seq", "qo", "kv", "pieces", "alone", "out bits",
                      "max |d out|", "LSE bits", "max |d LSE|");
      for (size_t ci = 0; ci < calls.size(); ++ci) {
        const Call& c = calls[ci];
        const AttnInputs in = make_random_inputs(c.problem, io);
        const InvarianceReport r = batch_invariance(c.problem, in, pol, model, o->threads, &pcosts);
        for (const InvarianceRow& row : r.rows) {
          ++requests;
          changed += !row.invariant();
          max_out = std::max(max_out, row.max_output_diff);
          max_lse = std::max(max_lse, row.max_lse_diff);
          text += fmt::format(" {:>5} {:>4} {:>5} {:>7} {:>7} {:>6} {:>6} {:>10} {:>11.3g} {:>9} {:>11.3g}\n",
                              c.batch, c.call, row.seq, row.qo, row.kv, row.pieces_batched, row.pieces_alone,
                              row.output_bits_changed, row.max_output_diff, row.lse_bits_changed,
                              row.max_lse_diff);
          rows.push_back({{"batch", c.batch},
                          {"call", c.call},
                          {"seq", row.seq},
                          {"qo", row.qo},
                          {"kv", row.kv},
                          {"pieces_batched", row.pieces_batched},
                          {"pieces_alone", row.pieces_alone},
                          {"output_bits_changed", row.output_bits_changed},
                          {"lse_bits_changed", row.lse_bits_changed},
                          {"max_output_diff", json_num(row.max_output_diff)},
                          {"max_lse_diff", json_num(row.max_lse_diff)},
                          {"invariant", row.invariant()}});
        }
        progress.update(static_cast<int64_t>(ci) + 1, static_cast<int64_t>(calls.size()));
      }
      changed_any += changed;
      text += fmt::format(
          "policy {}: {} of {} requests change bits; max |d out| {:.3g}, max |d LSE| {:.3g}{}\n", pol.name(),
          changed, requests, max_out, max_lse, changed == 0 ? " (batch-invariant here)" : "");
      jp.push_back({{"policy", std::string(pol.name())},
                    {"requests", requests},
                    {"requests_changed", changed},
                    {"max_output_diff", json_num(max_out)},
                    {"max_lse_diff", json_num(max_lse)},
                    {"rows", std::move(rows)}});
    }
    const std::string out = o->format == "json" ? nlohmann::json{{"source", source},
                                                                 {"seed", io.seed},
                                                                 {"profile", prof.name},
                                                                 {"policies", std::move(jp)}}
                                                          .dump() +
                                                      "\n"
                                                : text;
    std::fwrite(out.data(), 1, out.size(), stdout);
    return o->require && changed_any > 0 ? 1 : 0;
  });
}

}  // namespace mlaps::cli
