#include "conformance/calibrate.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <exception>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "conformance/conformance.h"
#include "cost/fit.h"
#include "cost/model.h"
#include "cost/profile.h"
#include "gpu/launcher.h"
#include "scheduler/error.h"
#include "scheduler/files.h"
#include "scheduler/policy.h"
#include "sim/tensors.h"

namespace mlaps::conformance {
namespace {

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

int run_calibration(const CalibrationOptions& o, std::ostream& log) {
  if (o.out_dir.empty()) {
    log << "calibrate: --out DIR is required\n";
    return 2;
  }
  const gpu::DeviceInfo dev = gpu::query_device();
  if (!dev.available) {
    log << "calibrate: no usable GPU: " << dev.reason << "\n";
    return 2;
  }
  cost::CostProfile base;
  try {
    base = cost::load_profile(o.base_profile);
  } catch (const std::exception& e) {
    log << "calibrate: " << e.what() << "\n";
    return 2;
  }
  ConformanceOptions co;
  co.suite = o.suite;
  co.seed = o.seed;
  std::vector<ConformanceCase> suite;
  try {
    suite = conformance_suite(co);
  } catch (const std::exception& e) {
    log << "calibrate: " << e.what() << "\n";
    return 2;
  }
  // Every problem once (the suite repeats some under several encodings and policies), every policy.
  std::set<std::string> seen;
  cost::CalibrationData data;
  data.device = fmt::format("{} ({}, {} SMs)", dev.name, dev.arch, dev.multiprocessors);
  data.date = utc_now();
  int simple = 0, massive = 0;
  const auto t0 = std::chrono::steady_clock::now();
  int done = 0;
  for (const ConformanceCase& c : suite) {
    if (!o.filter.empty() && c.name.find(o.filter) == std::string::npos) continue;
    const std::string key = problem_to_json_text(c.problem);
    if (!seen.insert(key).second) continue;
    const std::string base_name = c.name.substr(0, c.name.find('/'));
    for (const PolicyDef& def : policies()) {  // every policy of the table
      const Policy pol(def);
      Plan plan;
      try {
        plan = make_plan(c.problem, pol);
      } catch (const InputError&) {
        continue;  // the planner rejects it (reported by conformance)
      }
      if (plan.num_works() == 0) continue;
      const AttnInputs in = make_random_inputs(c.problem, c.inputs);
      const gpu::PlanTiming t = gpu::time_plan(c.problem, plan, in, c.model, o.reps);
      cost::CalibrationCase k;
      k.name = fmt::format("{}/cu{}", base_name, c.problem.num_cu);
      k.policy = std::string(pol.name());
      k.problem = c.problem;
      k.prefill_us = t.prefill_us_median;
      k.reduce_us = t.reduce_us_median;
      k.reduce_isolated_us = t.reduce_isolated_us_median;
      k.tg_start_us = t.tg_start_us;
      k.tg_end_us = t.tg_end_us;
      k.item_us = t.item_us;
      for (int32_t e = 0; e < plan.num_reduce_entries(); ++e) {
        const int32_t n = plan.reduce_indptr[e + 1] - plan.reduce_indptr[e];
        (n >= cost::kMassiveFrom ? massive : simple) +=
            n >= 2 || (n == 1 && plan.reduce == ReduceVersion::kFixed);
      }
      data.cases.push_back(std::move(k));
      ++done;
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      log << fmt::format(
          "[{:6.1f}s] {:4} {:<48} {:<13} prefill {:9.1f} us  reduce {:7.1f} us (alone {:7.1f})\n", el, done,
          data.cases.back().name, data.cases.back().policy, t.prefill_us_median, t.reduce_us_median,
          t.reduce_isolated_us_median);
    }
  }
  log << fmt::format("calibrate: {} cases timed on {}; reduce entries by path: simple {}, massive {}\n",
                     data.cases.size(), data.device, simple, massive);
  if (simple == 0 || massive == 0) log << "calibrate: warning: one reduce path has no entry in the data\n";
  // The data first (whatever the fit does), then the fit's reports beside it: one writer (scheduler/files.h),
  // one renderer (cost/fit_report.cpp, shared with `mlaps cost fit`).
  try {
    OutputSet data_out;
    data_out.add_dir("--out", o.out_dir,
                     {{"calibration_data.json", Blob::copy(cost::calibration_to_json_text(data))}}, true);
    data_out.commit();
  } catch (const std::exception& e) {
    log << "calibrate: " << e.what() << "\n";
    return 2;
  }
  cost::FitResult fit;
  try {
    fit = cost::fit_profile(data, base);
    OutputSet report;
    report.add_dir("--out", o.out_dir, cost::fit_report_files(data, fit), true);
    report.commit();
  } catch (const std::exception& e) {
    log << "calibrate: fit failed: " << e.what() << "\n";
    return 1;
  }
  log << fmt::format(
      "calibrate: {}; wrote {}/{{calibration_data.json, profile.json, holdout.md, timeline.svg}}; refit "
      "anywhere with `mlaps cost fit --data {}/calibration_data.json --out DIR`\n",
      cost::holdout_summary(fit), o.out_dir, o.out_dir);
  return fit.goal_met ? 0 : 1;
}

}  // namespace mlaps::conformance
