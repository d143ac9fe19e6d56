// `mlaps cost`, `mlaps compare` and `mlaps trace gen`: what a plan costs on a device profile.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>

#include <fmt/format.h>
#include <omp.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/render_cost.h"
#include "cost/fit.h"
#include "cost/model.h"
#include "cost/plan_for.h"
#include "cost/profile.h"
#include "cost/report.h"
#include "scheduler/error.h"
#include "scheduler/files.h"
#include "scheduler/policy.h"
#include "workloads/sets.h"
#include "workloads/workloads.h"

namespace mlaps::cli {
namespace {

void check_format(const std::string& f) {
  if (f != "text" && f != "json")
    throw InputError("--format", fmt::format("'{}' is not one of text, json", f));
}

std::vector<std::string> split_policies(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty())
      throw InputError("--policies", "has an empty item; give a comma list like aiter,aiter-legacy");
    policy_named(item, "--policies");  // throws naming the flag and every policy
    out.push_back(item);
  }
  if (out.empty()) throw InputError("--policies", "is required: a comma list like aiter,aiter-legacy");
  return out;
}

void warn_uncalibrated(const cost::CostProfile& prof) {
  if (!prof.calibrated()) {
    std::fprintf(stderr, "mlaps: warning: profile %s is uncalibrated; its times are not measurements\n",
                 prof.name.c_str());
  }
}

// `mlaps cost fit`: the calibration's fit redone from its data file on any machine (cost/fit.h), with the
// GPU runner's report files (cost/fit_report.cpp). Exit 0 when the held-out goal is met, 1 when not.
void add_cost_fit_command(CLI::App& cost_app, CommandRunner& runner) {
  auto* app = cost_app.add_subcommand(
      "fit",
      "refit a profile from a GPU calibration's calibration_data.json (exit 1: held-out goal not met)");
  struct Opts {
    std::string data, base = "h200-mlaps", out;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  app->add_option("--data", o->data, "calibration_data.json of a calibration run (at most 256 MiB)")
      ->required();
  app->add_option(
         "--base-profile", o->base,
         "profile whose name, slots, rows_per_pass, row_quantum, reduce_slots the fit keeps: a built-in "
         "name or FILE.json")
      ->capture_default_str();
  app->add_option("--out", o->out, "write profile.json, holdout.md and timeline.svg into DIR");
  app->add_flag("--force", o->force, "write into an --out folder that holds other files (ours are replaced)");
  runner.on(app, [o]() -> int {
    const cost::CostProfile base = [&] {
      try {
        return cost::load_profile(o->base);
      } catch (const InputError& e) {  // load_profile names --profile(.key): say which flag it was
        const std::string field = e.field(), what = e.what();
        if (field.rfind("--profile", 0) != 0) throw;
        throw InputError("--base-profile" + field.substr(9), what.substr(field.size() + 2));
      }
    }();
    const std::string text = read_file_bounded("--data", o->data, cost::kMaxCalibrationBytes);
    cost::CalibrationData data;
    try {
      data = cost::calibration_from_json_text(text);
    } catch (const InputError& e) {
      throw InputError("--data", e.what());
    }
    if (data.cases.empty())
      throw InputError("--data", fmt::format("'{}' holds no calibration case", o->data));
    const cost::FitResult fit = cost::fit_profile(data, base);
    if (!o->out.empty()) {
      OutputSet out;
      out.add_dir("--out", o->out, cost::fit_report_files(data, fit), o->force);
      out.commit();
    }
    std::string text_out =
        fmt::format("fit of {} from {} ({}, {}): {} cases\n{}\n", fit.profile.name, o->data, data.device,
                    data.date, data.cases.size(), cost::holdout_summary(fit));
    for (int k = 0; k < cost::kNumCoeffs; ++k) {
      text_out += fmt::format("  {:<24} {:.6g}\n", cost::coeff_name(k), fit.profile.c[k]);
    }
    if (!o->out.empty())
      text_out += fmt::format("wrote {}/{{profile.json, holdout.md, timeline.svg}}\n", o->out);
    std::fwrite(text_out.data(), 1, text_out.size(), stdout);
    return fit.goal_met ? 0 : 1;
  });
}

}  // namespace

void add_cost_commands(CLI::App& root, CommandRunner& runner) {
  {
    auto* app = root.add_subcommand(
        "cost", "what a plan costs on a device profile: makespan, reduce, bound, balance");
    struct Opts {
      ProblemArgs a;
      std::string format = "text", svg, profile = cost::kDefaultProfile;
    };
    auto o = std::make_shared<Opts>();
    o->a.add_to(*app, false);
    app->add_option("--profile", o->profile,
                    "device profile: a built-in name (mi355x-asm, h200-mlaps) or FILE.json")
        ->capture_default_str();
    app->add_option("--format", o->format, "output: text | json")->capture_default_str();
    app->add_option("--svg", o->svg, "also draw the Gantt chart (TGs x time) into FILE.svg");
    add_cost_fit_command(*app, runner);  // before `cost`'s own handler: the runner takes the first parsed
    runner.on(app, [o, app]() -> int {
      check_format(o->format);
      const cost::CostProfile prof = cost::load_profile(o->profile);
      const Problem p = o->a.problem(*app);
      const PlanningCosts pcosts = cost::planning_costs(prof);  // a cost-aware policy plans for it
      const Plan plan = make_plan(p, o->a.parsed_policy(), &pcosts);
      const cost::PlanCost c = cost::evaluate(p, plan, prof);
      const std::string out =
          o->format == "json" ? cost::cost_json(c).dump() + "\n" : cost_text(p, plan, c, prof);
      if (!o->svg.empty()) write_output_file("--svg", o->svg, cost_svg(p, plan, c, prof));
      warn_uncalibrated(prof);
      std::fwrite(out.data(), 1, out.size(), stdout);
      return 0;
    });
  }
  {
    auto* app = root.add_subcommand("compare",
                                    "policies side by side on the cost model over a workload, set or trace");
    struct Opts {
      std::string policies, workload, set, trace, format = "text", svg, profile = cost::kDefaultProfile;
      std::string seed = "1";
      int64_t batches = 0;
      int num_cu = 0, threads = 0;
      bool quiet = false;
    };
    auto o = std::make_shared<Opts>();
    app->add_option("--policies", o->policies,
                    "comma list; ratios are against the first (e.g. aiter,aiter-legacy)")
        ->required();
    app->add_option("--workload", o->workload, "one named workload (`mlaps workloads`)");
    app->add_option("--set", o->set, "a workload set (`mlaps workloads --sets`)");
    app->add_option("--trace", o->trace, "a JSONL trace, one batch per line (`mlaps trace gen`)");
    app->add_option("--seed", o->seed, "--set: generator seed, in [0, 2^64)")->capture_default_str();
    app->add_option("--batches", o->batches, "--set: batches to generate (default: the set's)");
    app->add_option("--num-cu", o->num_cu, "override every batch's CU count");
    app->add_option("--profile", o->profile, "device profile: a built-in name or FILE.json")
        ->capture_default_str();
    app->add_option("--format", o->format, "output: text | json")->capture_default_str();
    app->add_option("--svg", o->svg, "also draw the ratios as a bar chart into FILE.svg");
    app->add_option("--threads", o->threads, "OpenMP threads over batches (0: OpenMP's default)");
    app->add_flag("--quiet", o->quiet, "no progress line");
    runner.on(app, [o]() -> int {
      check_format(o->format);
      const std::vector<std::string> policies = split_policies(o->policies);
      const int sources = !o->workload.empty() + !o->set.empty() + !o->trace.empty();
      if (sources != 1) throw InputError("--workload", "give exactly one of --workload, --set, --trace");
      if (o->num_cu < 0) throw InputError("--num-cu", "must be >= 1");
      checked_threads("--threads", o->threads);
      if (o->batches < 0 || o->batches > 10'000'000) throw InputError("--batches", "must be in [1, 10^7]");
      const uint64_t seed = parse_seed("--seed", o->seed);
      const cost::CostProfile prof = cost::load_profile(o->profile);
      const PlanningCosts pcosts = cost::planning_costs(prof);  // cost-aware policies plan for it
      // Every batch as its kernel calls.
      std::vector<std::vector<Problem>> batches;
      std::string source;
      if (!o->workload.empty()) {
        batches.push_back({workload(o->workload).problem});
        source = "workload " + o->workload;
      } else {
        std::vector<TraceBatch> bs;
        if (!o->set.empty()) {
          const WorkloadSet& s = workload_set(o->set);
          bs = generate_set(s, seed, o->batches > 0 ? o->batches : s.default_batches);
          source = fmt::format("set {} (seed {})", o->set, seed);
        } else {
          bs = read_trace(o->trace);
          source = "trace " + o->trace;
        }
        batches.reserve(bs.size());
        for (size_t i = 0; i < bs.size(); ++i) {
          if (o->num_cu > 0) bs[i].num_cu = o->num_cu;
          try {
            batches.push_back(bs[i].problems());
          } catch (const InputError& e) {
            throw InputError(fmt::format("batch {}", i), e.what());
          }
        }
      }
      if (o->num_cu > 0) {
        for (auto& b : batches) {
          for (auto& p : b) p.num_cu = o->num_cu;
        }
      }
      std::vector<Policy> pols;
      for (const auto& n : policies) pols.push_back(policy_named(n, "--policies"));
      const int64_t nb = static_cast<int64_t>(batches.size());
      const size_t np = pols.size();
      std::vector<CompareRow> rows(nb * np);
      Progress progress("compare: batches", o->quiet);
      std::mutex mu;
      std::string error;
      int64_t done = 0;
      const int nt = o->threads > 0 ? o->threads : omp_get_max_threads();
      const bool json_out = o->format == "json";
#pragma omp parallel for schedule(dynamic, 8) num_threads(nt)
      for (int64_t b = 0; b < nb; ++b) {
        try {
          for (size_t k = 0; k < np; ++k) {
            std::vector<cost::PlanCost> calls;
            calls.reserve(batches[b].size());
            for (const Problem& p : batches[b]) {
              cost::PlanCost c = cost::evaluate(p, make_plan(p, pols[k], &pcosts), prof);
              if (!json_out) c.tg_us.clear();  // JSON rows carry tg_us (every cost key, as `mlaps cost`)
              c.tg_start_us.clear();
              calls.push_back(std::move(c));
            }
            CompareRow& r = rows[b * np + k];
            r.batch = b;
            r.cost = cost::combine(calls);
            r.cost.policy = policies[k];
            r.cost.profile = prof.name;
          }
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(mu);
          if (error.empty()) error = fmt::format("batch {}: {}", b, e.what());
        }
        if (progress.enabled()) {
          std::lock_guard<std::mutex> lock(mu);
          progress.update(++done, nb);
        }
      }
      if (!error.empty()) throw InputError("compare", error);
      const std::string out = o->format == "json" ? compare_json(prof.name, policies, rows).dump() + "\n"
                                                  : compare_text(source, prof.name, policies, rows);
      if (!o->svg.empty()) write_output_file("--svg", o->svg, compare_svg(source, prof.name, policies, rows));
      warn_uncalibrated(prof);
      std::fwrite(out.data(), 1, out.size(), stdout);
      return 0;
    });
  }
  {
    auto* trace = root.add_subcommand("trace", "synthetic serving traces (JSONL, one batch per line)");
    trace->require_subcommand(1);
    auto* app = trace->add_subcommand("gen", "write K batches of a workload set, deterministic in the seed");
    struct Opts {
      std::string set, out, seed = "1";
      int64_t batches = 0;
    };
    auto o = std::make_shared<Opts>();
    app->add_option("--set", o->set, "workload set (`mlaps workloads --sets`)")->required();
    app->add_option("--seed", o->seed, "generator seed, in [0, 2^64)")->capture_default_str();
    app->add_option("--batches", o->batches, "batches to write")->required();
    app->add_option("--out", o->out, "write to FILE.jsonl instead of stdout");
    runner.on(app, [o]() -> int {
      if (o->batches < 1 || o->batches > 10'000'000) throw InputError("--batches", "must be in [1, 10^7]");
      const uint64_t seed = parse_seed("--seed", o->seed);
      const WorkloadSet& s = workload_set(o->set);
      std::string text;
      for (int64_t i = 0; i < o->batches; ++i) text += batch_to_json_line(s.batch(seed, i)) + "\n";
      if (o->out.empty()) {
        std::fwrite(text.data(), 1, text.size(), stdout);
      } else {
        write_output_file("--out", o->out, std::move(text));
      }
      return 0;
    });
  }
}

}  // namespace mlaps::cli
