// The fit's report files (holdout.md, timeline.svg, profile.json): rendered here once, for the GPU runner's
// calibration (conformance/calibrate.cpp) and for the offline refit (`mlaps cost fit`).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cost/fit.h"
#include "cost/profile.h"
#include "scheduler/policy.h"

namespace mlaps::cost {
namespace {

std::string pct(double x) {
  return fmt::format("{:.1f}%", 100 * x);
}

std::string rel_err(double measured, double predicted) {
  return measured > 0 ? fmt::format("{:+.1f}%", 100 * (predicted - measured) / measured) : std::string("-");
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The reduce's error against the length of the prefill measured before it, over every case with a reduce
// (fit and held out): a reduce whose error grows with the prefill before it is timed with more than its own
// work (the first H200 run: cost/model.h). With reduce_isolated_us recorded, also the reduce launched alone
// after a host sync minus the reduce queued behind its prefill.
std::string reduce_by_prefill_table(const CalibrationData& data, const FitResult& fit) {
  constexpr double kEdges[] = {0, 1e3, 4e3, 16e3, 64e3};  // us
  constexpr int kBins = 5;
  std::vector<double> err[kBins], diff[kBins], alone[kBins];
  bool any_alone = false;
  for (size_t i = 0; i < fit.cases.size() && i < data.cases.size(); ++i) {
    const CaseError& e = fit.cases[i];
    if (!(e.measured_reduce_us > 0)) continue;
    int b = kBins - 1;
    while (b > 0 && e.measured_prefill_us < kEdges[b]) --b;
    err[b].push_back(std::abs(e.predicted_reduce_us - e.measured_reduce_us) / e.measured_reduce_us);
    diff[b].push_back(e.measured_reduce_us - e.predicted_reduce_us);
    if (data.cases[i].reduce_isolated_us > 0) {
      any_alone = true;
      alone[b].push_back(data.cases[i].reduce_isolated_us - e.measured_reduce_us);
    }
  }
  std::string s = fmt::format(
      "Reduce error by the length of the prefill measured before it (every case with a reduce):\n\n| prefill "
      "| cases | median abs error | max abs error | median measured - predicted us "
      "|{}\n|---|---|---|---|---|{}\n",
      any_alone ? " median alone - queued us |" : "", any_alone ? "---|" : "");
  for (int b = 0; b < kBins; ++b) {
    if (err[b].empty()) continue;
    const std::string range = b + 1 < kBins
                                  ? fmt::format("{:g}-{:g} ms", kEdges[b] / 1e3, kEdges[b + 1] / 1e3)
                                  : fmt::format(">= {:g} ms", kEdges[b] / 1e3);
    s += fmt::format("| {} | {} | {} | {} | {:+.1f} |", range, err[b].size(), pct(median_of(err[b])),
                     pct(*std::max_element(err[b].begin(), err[b].end())), median_of(diff[b]));
    if (any_alone)
      s += alone[b].empty() ? std::string(" - |") : fmt::format(" {:+.1f} |", median_of(alone[b]));
    s += "\n";
  }
  return s;
}

}  // namespace

std::string holdout_summary(const FitResult& fit) {
  return fmt::format("held-out median |error| {}, max {} (prefill {} / {}, reduce {} / {}): {}",
                     pct(fit.holdout_median_abs_err), pct(fit.holdout_max_abs_err),
                     pct(fit.holdout_prefill_median_abs_err), pct(fit.holdout_prefill_max_abs_err),
                     pct(fit.holdout_reduce_median_abs_err), pct(fit.holdout_reduce_max_abs_err),
                     fit.goal_met ? "goal met" : "GOAL NOT MET");
}

std::string holdout_markdown(const CalibrationData& data, const FitResult& fit) {
  std::string md = fmt::format(
      "# Cost model vs {} ({})\n\nFitted on two thirds of the cases, checked on the held-out third (every "
      "third "
      "case). Goal: held-out median |error| <= 10%, max <= 25%.\n\n{}\n\n",
      data.device, data.date, holdout_summary(fit));
  md += reduce_by_prefill_table(data, fit);
  md +=
      "\n| case | policy | held out | prefill measured us | predicted | error | reduce measured us | "
      "predicted | "
      "error |\n|---|---|---|---|---|---|---|---|---|\n";
  for (const CaseError& e : fit.cases) {
    md += fmt::format("| {} | {} | {} | {:.1f} | {:.1f} | {} | {:.1f} | {:.1f} | {} |\n", e.name, e.policy,
                      e.held_out ? "yes" : "", e.measured_prefill_us, e.predicted_prefill_us,
                      rel_err(e.measured_prefill_us, e.predicted_prefill_us), e.measured_reduce_us,
                      e.predicted_reduce_us, rel_err(e.measured_reduce_us, e.predicted_reduce_us));
  }
  return md;
}

std::string timeline_svg(const CalibrationData& data, const CostProfile& prof) {
  // The largest case: the most busy TGs (measured busy time >= 1% of its longest TG's), then the longest
  // measured prefill, among the cases with per-TG timings.
  auto busy_tgs = [](const CalibrationCase& k) {
    double longest = 0;
    for (size_t g = 0; g < k.tg_start_us.size() && g < k.tg_end_us.size(); ++g) {
      longest = std::max(longest, k.tg_end_us[g] - k.tg_start_us[g]);
    }
    size_t n = 0;
    for (size_t g = 0; g < k.tg_start_us.size() && g < k.tg_end_us.size(); ++g) {
      n += k.tg_end_us[g] - k.tg_start_us[g] >= 0.01 * longest;
    }
    return n;
  };
  const CalibrationCase* c = nullptr;
  size_t c_busy = 0;
  for (const CalibrationCase& k : data.cases) {
    if (k.tg_start_us.empty()) continue;
    const size_t b = busy_tgs(k);
    if (!c || b > c_busy || (b == c_busy && k.prefill_us > c->prefill_us)) {
      c = &k;
      c_busy = b;
    }
  }
  if (!c) return "";
  const Plan plan = make_plan(c->problem, policy_named(c->policy, "calibration case policy"));
  const int32_t ntg = plan.num_tg();
  if (static_cast<size_t>(ntg) != c->tg_start_us.size() || c->tg_end_us.size() != c->tg_start_us.size()) {
    return "";  // fit_profile refuses such data before this is reached
  }
  const PlanCost pc = evaluate(c->problem, plan, prof);
  double span = 1e-9;
  for (int32_t g = 0; g < ntg; ++g) {
    span = std::max({span, c->tg_end_us[g], pc.tg_start_us[g] + pc.tg_us[g]});
  }
  const double left = 70, top = 70, width = 1000, row = ntg > 128 ? 3.5 : ntg > 32 ? 6 : 14;
  const double bottom = top + row * ntg;
  std::string s = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{:.0f}' height='{:.0f}' font-family='monospace' "
      "font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n"
      "<text x='10' y='18' font-size='13'>{} ({}) on {}: per-TG busy time, measured vs predicted "
      "(profile {})</text>\n"
      "<text x='10' y='36'>prefill measured {:.1f} us (events), predicted {:.1f} us; {} TGs</text>\n"
      "<rect x='10' y='46' width='14' height='9' fill='#47c'/><text x='28' y='55'>measured "
      "(globaltimer)</text>\n"
      "<rect x='210' y='46' width='14' height='9' fill='#e83'/><text x='228' y='55'>predicted "
      "(cost model)</text>\n",
      left + width + 20, bottom + 60, c->name, c->policy, data.device, prof.name, c->prefill_us,
      pc.prefill_us, ntg);
  for (int32_t g = 0; g < ntg; ++g) {
    const double y = top + g * row;
    s += fmt::format("<rect x='{:.2f}' y='{:.2f}' width='{:.2f}' height='{:.2f}' fill='#47c'/>\n",
                     left + width * c->tg_start_us[g] / span, y,
                     width * (c->tg_end_us[g] - c->tg_start_us[g]) / span, row * 0.45);
    s += fmt::format("<rect x='{:.2f}' y='{:.2f}' width='{:.2f}' height='{:.2f}' fill='#e83'/>\n",
                     left + width * pc.tg_start_us[g] / span, y + row * 0.48, width * pc.tg_us[g] / span,
                     row * 0.45);
    if (ntg <= 32 || g % 16 == 0) {
      s += fmt::format("<text x='{:.0f}' y='{:.1f}' text-anchor='end' font-size='9'>TG {}</text>\n", left - 4,
                       y + row, g);
    }
  }
  // Ticks at 1, 2 or 5 x 10^k, four to ten of them.
  double step = std::pow(10.0, std::floor(std::log10(span / 5)));
  if (span / step > 20) {
    step *= 5;
  } else if (span / step > 10) {
    step *= 2;
  }
  for (double t = 0; t <= span; t += step) {
    const double x = left + width * t / span;
    s += fmt::format(
        "<line x1='{:.1f}' y1='{:.0f}' x2='{:.1f}' y2='{:.0f}' stroke='#000'/><text x='{:.1f}' "
        "y='{:.0f}' text-anchor='middle'>{:g}</text>\n",
        x, bottom + 4, x, bottom + 10, x, bottom + 22, t);
  }
  s += fmt::format("<line x1='{:.0f}' y1='{:.0f}' x2='{:.0f}' y2='{:.0f}' stroke='#000'/>\n", left,
                   bottom + 4, left + width, bottom + 4);
  s += fmt::format(
      "<text x='{:.0f}' y='{:.0f}' text-anchor='middle'>time since the first TG start (us)</text>\n"
      "</svg>\n",
      left + width / 2, bottom + 40);
  return s;
}

std::vector<DirFile> fit_report_files(const CalibrationData& data, const FitResult& fit) {
  std::vector<DirFile> files;
  files.push_back({"profile.json", Blob::copy(profile_to_json_text(fit.profile))});
  files.push_back({"holdout.md", Blob::copy(holdout_markdown(data, fit))});
  std::string svg = timeline_svg(data, fit.profile);
  if (!svg.empty()) files.push_back({"timeline.svg", Blob::copy(std::move(svg))});
  return files;
}

}  // namespace mlaps::cost
