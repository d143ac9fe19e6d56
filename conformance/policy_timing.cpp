#include "conformance/policy_timing.h"

#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <ostream>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "conformance/conformance.h"
#include "cost/model.h"
#include "cost/plan_for.h"
#include "cost/profile.h"
#include "gpu/launcher.h"
#include "scheduler/error.h"
#include "scheduler/files.h"
#include "scheduler/policy.h"
#include "workloads/sets.h"

namespace mlaps::conformance {

std::vector<TimingCase> policy_timing_cases(const PolicyTimingOptions& o) {
  if (o.policies.empty()) throw InputError("--time-policies", "needs at least one policy");
  for (const std::string& p : o.policies) policy_named(p, "--time-policies");
  if (o.set_batches < 1) throw InputError("--set-batches", "must be >= 1");
  std::vector<TimingCase> cases;
  if (o.suite != "none") {
    ConformanceOptions co;
    co.suite = o.suite;
    co.seed = o.seed;
    std::set<std::string> seen;  // every problem once (the suite repeats them per policy and encoding)
    for (const ConformanceCase& c : conformance_suite(co)) {
      if (!o.filter.empty() && c.name.find(o.filter) == std::string::npos) continue;
      if (!seen.insert(problem_to_json_text(c.problem)).second) continue;
      cases.push_back({fmt::format("{}/cu{}", c.name.substr(0, c.name.find('/')), c.problem.num_cu),
                       "suite",
                       {c.problem},
                       c.inputs});
    }
  }
  for (const std::string& name : o.sets) {
    const WorkloadSet& s = workload_set(name);
    for (int64_t i = 0; i < o.set_batches; ++i) {
      TraceBatch b = s.batch(o.set_seed, i);
      if (o.num_cu > 0) b.num_cu = o.num_cu;
      TimingCase c{fmt::format("{}#{}", name, i), name, b.problems(), {}};
      c.inputs.seed = o.seed + static_cast<uint64_t>(i);
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

std::string policy_timing_markdown(const std::vector<TimingRow>& rows,
                                   const std::vector<std::string>& policies, const std::string& device,
                                   const std::string& profile) {
  std::map<std::pair<std::string, std::string>, const TimingRow*> at;  // (case, policy)
  std::vector<std::pair<std::string, std::string>> order;              // (case, group), first seen
  std::set<std::string> seen;
  for (const TimingRow& r : rows) {
    if (seen.insert(r.name).second) order.emplace_back(r.name, r.group);
    at[{r.name, r.policy}] = &r;
  }
  std::string md = fmt::format(
      "# Policy timing on {}: measured prefill + reduce vs the cost model ({})\n\nRatios are each policy's "
      "time over {}'s, per case (a set batch: its kernel calls summed); measured = event-timed medians, "
      "predicted = the cost model on the same plans.\n\n",
      device, profile, policies[0]);
  // Per group: geomean measured and predicted ratio per policy.
  std::map<std::string, std::map<std::string, std::pair<double, double>>> logs;  // group -> policy -> sums
  std::map<std::string, int> counts;
  for (const auto& [name, group] : order) {
    const TimingRow* base = at.count({name, policies[0]}) ? at.at({name, policies[0]}) : nullptr;
    if (!base || base->measured_us() <= 0 || base->predicted_us() <= 0) continue;
    ++counts[group];
    for (const std::string& p : policies) {
      if (!at.count({name, p})) continue;
      const TimingRow* r = at.at({name, p});
      auto& acc = logs[group][p];
      acc.first += std::log(r->measured_us() / base->measured_us());
      acc.second += std::log(r->predicted_us() / base->predicted_us());
    }
  }
  md +=
      "| group | cases | policy | measured geomean ratio | predicted geomean ratio | same direction |\n"
      "|---|---|---|---|---|---|\n";
  for (const auto& [group, per] : logs) {
    for (const std::string& p : policies) {
      if (p == policies[0] || !per.count(p)) continue;
      const double m = std::exp(per.at(p).first / counts[group]),
                   q = std::exp(per.at(p).second / counts[group]);
      const bool same = (m < 1) == (q < 1) || std::fabs(m - 1) < 0.01;
      md += fmt::format("| {} | {} | {} | {:.3f} | {:.3f} | {} |\n", group, counts[group], p, m, q,
                        same ? "yes" : "NO");
    }
  }
  md +=
      "\n| case | policy | measured us (prefill + reduce) | predicted us | measured ratio | predicted ratio "
      "|\n|---|---|---|---|---|---|\n";
  for (const auto& [name, group] : order) {
    const TimingRow* base = at.count({name, policies[0]}) ? at.at({name, policies[0]}) : nullptr;
    for (const std::string& p : policies) {
      if (!at.count({name, p})) continue;
      const TimingRow* r = at.at({name, p});
      auto ratio = [](double x, double y) { return y > 0 ? fmt::format("{:.3f}", x / y) : std::string("-"); };
      md += fmt::format("| {} | {} | {:.1f} + {:.1f} | {:.1f} + {:.1f} | {} | {} |\n", name, p,
                        r->measured_prefill_us, r->measured_reduce_us, r->predicted_prefill_us,
                        r->predicted_reduce_us, base ? ratio(r->measured_us(), base->measured_us()) : "-",
                        base ? ratio(r->predicted_us(), base->predicted_us()) : "-");
    }
  }
  return md;
}

int run_policy_timing(const PolicyTimingOptions& o, std::ostream& log) {
  if (o.out_dir.empty()) {
    log << "time-policies: --out DIR is required\n";
    return 2;
  }
  std::vector<TimingCase> cases;
  cost::CostProfile prof;
  std::vector<Policy> pols;
  try {
    cases = policy_timing_cases(o);
    prof = cost::load_profile(o.profile);
    for (const std::string& p : o.policies) pols.push_back(policy_named(p, "--time-policies"));
  } catch (const std::exception& e) {
    log << "time-policies: " << e.what() << "\n";
    return 2;
  }
  const gpu::DeviceInfo dev = gpu::query_device();
  if (!dev.available) {
    log << "time-policies: no usable GPU: " << dev.reason << "\n";
    return 2;
  }
  const std::string device = fmt::format("{} ({}, {} SMs)", dev.name, dev.arch, dev.multiprocessors);
  const PlanningCosts pc = cost::planning_costs(prof);
  std::vector<TimingRow> rows;
  nlohmann::json jrows = nlohmann::json::array();
  // The reports are rewritten after every case, so a run stopped early (a CI time limit) keeps what it timed;
  // through the project's one writer (scheduler/files.h): checked, staged, renamed, other files left alone.
  auto write_reports = [&] {
    const std::string md = policy_timing_markdown(rows, o.policies, device, prof.name);
    OutputSet out;
    out.add_dir("--out", o.out_dir,
                {{"policy_timing.json", Blob::copy(nlohmann::json{{"device", device},
                                                                  {"profile", prof.name},
                                                                  {"policies", o.policies},
                                                                  {"reps", o.reps},
                                                                  {"rows", jrows}}
                                                       .dump(1) +
                                                   "\n")},
                 {"policy_timing.md", Blob::copy(md)}},
                true);
    out.commit();
    return md;
  };
  const auto t0 = std::chrono::steady_clock::now();
  size_t done = 0;
  try {
    write_reports();  // the header and no rows: a bad --out is refused (exit 2) before anything is timed
  } catch (const std::exception& e) {
    log << "time-policies: " << e.what() << "\n";
    return 2;
  }
  try {
    for (const TimingCase& c : cases) {
      ++done;
      std::vector<TimingRow> per;  // one row per policy, summed over the case's calls
      for (const Policy pol : pols) per.push_back(TimingRow{c.name, c.group, std::string(pol.name())});
      for (const Problem& p : c.calls) {
        // The call's inputs, made once for every policy (they do not depend on it).
        std::optional<AttnInputs> in;
        for (size_t k = 0; k < pols.size(); ++k) {
          TimingRow& r = per[k];
          const Plan plan = make_plan(p, pols[k], &pc);
          const cost::PlanCost pred = cost::evaluate(p, plan, prof);
          r.predicted_prefill_us += pred.prefill_us;
          r.predicted_reduce_us += pred.reduce_us;
          if (plan.num_works() == 0) continue;
          if (!in) in = make_random_inputs(p, c.inputs);
          NumericModel model;
          model.encoding = c.inputs.encoding;
          const gpu::PlanTiming t = gpu::time_plan(p, plan, *in, model, o.reps);
          r.measured_prefill_us += t.prefill_us_median;
          r.measured_reduce_us += t.reduce_us_median;
        }
      }
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      for (TimingRow& r : per) {
        log << fmt::format("[{:7.1f}s] {:4}/{} {:<40} {:<14} measured {:10.1f} us  predicted {:10.1f} us\n",
                           el, done, cases.size(), r.name, r.policy, r.measured_us(), r.predicted_us());
        jrows.push_back({{"case", r.name},
                         {"group", r.group},
                         {"policy", r.policy},
                         {"calls", c.calls.size()},
                         {"measured_prefill_us", r.measured_prefill_us},
                         {"measured_reduce_us", r.measured_reduce_us},
                         {"predicted_prefill_us", r.predicted_prefill_us},
                         {"predicted_reduce_us", r.predicted_reduce_us}});
        rows.push_back(std::move(r));
      }
      write_reports();
    }
  } catch (const std::exception& e) {
    log << "time-policies: " << e.what() << "\n";
    return 1;
  }
  std::string md;
  try {
    md = write_reports();
  } catch (const std::exception& e) {
    log << "time-policies: " << e.what() << "\n";
    return 1;
  }
  log << md.substr(0, md.find("\n| case |")) << "\ntime-policies: wrote " << o.out_dir
      << "/{policy_timing.json, policy_timing.md}\n";
  return 0;
}

}  // namespace mlaps::conformance
