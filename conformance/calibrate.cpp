#include "conformance/calibrate.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "conformance/conformance.h"
#include "cost/fit.h"
#include "cost/model.h"
#include "cost/profile.h"
#include "gpu/launcher.h"
#include "scheduler/error.h"
#include "scheduler/policy.h"
#include "sim/tensors.h"

namespace mlaps::conformance {
namespace {

// Policies the calibration plans every problem with.

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Files are written whole, then renamed into place.
void write_atomic(const std::filesystem::path& p, const std::string& text) {
  const std::filesystem::path tmp = p.string() + ".tmp-mlaps";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, p);
}

// Measured against predicted busy time per TG of one case (the largest), as two bars per TG row.
std::string timeline_svg(const cost::CalibrationCase& c, const Plan& plan, const cost::CostProfile& prof) {
  const cost::PlanCost pc = cost::evaluate(c.problem, plan, prof);
  const int32_t ntg = plan.num_tg();
  double span = 1e-9;
  for (int32_t g = 0; g < ntg; ++g) {
    span = std::max(span, c.tg_end_us[g]);
    span = std::max(span, pc.tg_start_us[g] + pc.tg_us[g]);
  }
  const double left = 70, top = 60, width = 1000, row = ntg > 128 ? 3.5 : ntg > 32 ? 6 : 14;
  const double height = top + row * ntg + 60;
  std::string s = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{:.0f}' height='{:.0f}' font-family='monospace' "
      "font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n<text x='10' y='18' "
      "font-size='13'>{} "
      "({}): measured (blue, globaltimer) vs predicted (orange, profile {}) busy time per TG</text>\n<text "
      "x='10' "
      "y='36'>prefill measured {:.1f} us (events), predicted {:.1f} us</text>\n",
      left + width + 20, height, c.name, c.policy, prof.name, c.prefill_us, pc.prefill_us);
  for (int32_t g = 0; g < ntg; ++g) {
    const double y = top + g * row;
    s += fmt::format("<rect x='{:.2f}' y='{:.2f}' width='{:.2f}' height='{:.2f}' fill='#47c'/>\n",
                     left + width * c.tg_start_us[g] / span, y,
                     width * (c.tg_end_us[g] - c.tg_start_us[g]) / span, row * 0.45);
    s += fmt::format("<rect x='{:.2f}' y='{:.2f}' width='{:.2f}' height='{:.2f}' fill='#e83'/>\n",
                     left + width * pc.tg_start_us[g] / span, y + row * 0.48, width * pc.tg_us[g] / span,
                     row * 0.45);
    if (ntg <= 32 || g % 16 == 0) {
      s += fmt::format("<text x='{:.0f}' y='{:.1f}' text-anchor='end' font-size='9'>TG {}</text>\n", left - 4,
                       y + row, g);
    }
  }
  const double step = std::pow(10.0, std::floor(std::log10(span / 5)));
  for (double t = 0; t <= span; t += step) {
    const double x = left + width * t / span;
    s += fmt::format(
        "<line x1='{:.1f}' y1='{:.0f}' x2='{:.1f}' y2='{:.0f}' stroke='#000'/><text x='{:.1f}' "
        "y='{:.0f}' text-anchor='middle'>{:g}</text>\n",
        x, top + row * ntg + 4, x, top + row * ntg + 10, x, top + row * ntg + 22, t);
  }
  s += fmt::format("<text x='{:.0f}' y='{:.0f}' text-anchor='middle'>time (us)</text>\n</svg>\n",
                   left + width / 2, top + row * ntg + 40);
  return s;
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
  std::map<std::string, Plan> plans;
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
      k.tg_start_us = t.tg_start_us;
      k.tg_end_us = t.tg_end_us;
      k.item_us = t.item_us;
      for (int32_t e = 0; e < plan.num_reduce_entries(); ++e) {
        const int32_t n = plan.reduce_indptr[e + 1] - plan.reduce_indptr[e];
        (n >= cost::kMassiveFrom ? massive : simple) +=
            n >= 2 || (n == 1 && plan.reduce == ReduceVersion::kFixed);
      }
      plans[k.name + "|" + k.policy] = plan;
      data.cases.push_back(std::move(k));
      ++done;
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      log << fmt::format("[{:6.1f}s] {:4} {:<48} {:<13} prefill {:9.1f} us  reduce {:7.1f} us\n", el, done,
                         data.cases.back().name, data.cases.back().policy, t.prefill_us_median,
                         t.reduce_us_median);
    }
  }
  log << fmt::format("calibrate: {} cases timed on {}; reduce entries by path: simple {}, massive {}\n",
                     data.cases.size(), data.device, simple, massive);
  if (simple == 0 || massive == 0) log << "calibrate: warning: one reduce path has no entry in the data\n";
  namespace fs = std::filesystem;
  fs::create_directories(o.out_dir);
  write_atomic(fs::path(o.out_dir) / "calibration_data.json", cost::calibration_to_json_text(data));
  cost::FitResult fit;
  try {
    fit = cost::fit_profile(data, base);
  } catch (const std::exception& e) {
    log << "calibrate: fit failed: " << e.what() << "\n";
    return 1;
  }
  write_atomic(fs::path(o.out_dir) / "profile.json", cost::profile_to_json_text(fit.profile));
  std::string md = fmt::format(
      "# Cost model vs {} ({})\n\nFitted on two thirds of the cases, checked on the held-out third (every "
      "third "
      "case). Goal: held-out median |error| <= 10%, max <= 25%.\n\nheld-out median |error| {:.1f}%, max "
      "{:.1f}%: "
      "{}\n\n| case | policy | held out | prefill measured us | predicted | error | reduce measured us | "
      "predicted | error |\n|---|---|---|---|---|---|---|---|---|\n",
      data.device, data.date, 100 * fit.holdout_median_abs_err, 100 * fit.holdout_max_abs_err,
      fit.goal_met ? "goal met" : "GOAL NOT MET");
  for (const cost::CaseError& e : fit.cases) {
    auto err = [](double m, double p) {
      return m > 0 ? fmt::format("{:+.1f}%", 100 * (p - m) / m) : std::string("-");
    };
    md += fmt::format("| {} | {} | {} | {:.1f} | {:.1f} | {} | {:.1f} | {:.1f} | {} |\n", e.name, e.policy,
                      e.held_out ? "yes" : "", e.measured_prefill_us, e.predicted_prefill_us,
                      err(e.measured_prefill_us, e.predicted_prefill_us), e.measured_reduce_us,
                      e.predicted_reduce_us, err(e.measured_reduce_us, e.predicted_reduce_us));
  }
  write_atomic(fs::path(o.out_dir) / "holdout.md", md);
  // The timeline of the largest case (most prefill time).
  const auto largest =
      std::max_element(data.cases.begin(), data.cases.end(),
                       [](const auto& a, const auto& b) { return a.prefill_us < b.prefill_us; });
  if (largest != data.cases.end()) {
    write_atomic(fs::path(o.out_dir) / "timeline.svg",
                 timeline_svg(*largest, plans.at(largest->name + "|" + largest->policy), fit.profile));
  }
  log << fmt::format(
      "calibrate: held-out median |error| {:.1f}%, max {:.1f}% ({}); wrote {}/{{calibration_data.json, "
      "profile.json, holdout.md, timeline.svg}}\n",
      100 * fit.holdout_median_abs_err, 100 * fit.holdout_max_abs_err,
      fit.goal_met ? "goal met" : "goal NOT met", o.out_dir);
  return fit.goal_met ? 0 : 1;
}

}  // namespace mlaps::conformance
