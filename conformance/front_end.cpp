#include "conformance/front_end.h"

#include "conformance/calibrate.h"
#include "conformance/policy_timing.h"

#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "scheduler/error.h"

namespace mlaps::conformance {

void add_options(CLI::App& app, ConformanceOptions& o) {
  std::string suites;
  for (std::string_view s : kSuites) suites += (suites.empty() ? "" : " | ") + std::string(s);
  app.add_option("--suite", o.suite, suites)->capture_default_str();
  app.add_option("--filter", o.filter, "only cases whose name contains this");
  app.add_option("--out", o.out_dir, "write junit.xml and summary.json into DIR");
  app.add_option("--threads", o.threads, "emulator threads (0: OpenMP's default)")->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the random problems and inputs")->capture_default_str();
  app.add_option("--random", o.random_cases, "random small problems (-1: the suite's default)")
      ->capture_default_str();
  app.add_flag("--time", o.timing, "time the prefill kernel of the seed scenarios (TFLOP/s)");
  app.add_option("--reps", o.timing_reps, "timing repetitions")->capture_default_str();
  app.add_flag("--list", o.list_only, "list the cases and exit");
  app.add_flag("--no-device-ok", o.no_device_ok, "exit 0 (not 2) when no GPU is present");
  app.add_option("--reference-max-flops", o.reference_max_flops,
                 "compare with the float64 reference on cases up to this many prefill FLOPs (0: never)")
      ->capture_default_str();
  app.add_flag("--reference-strict", o.reference_strict, "fail on a float64-reference miss too");
}

void check_options(const ConformanceOptions& o) {
  bool known = false;
  std::string suites;
  for (std::string_view s : kSuites) {
    known = known || s == o.suite;
    suites += (suites.empty() ? "" : ", ") + std::string(s);
  }
  if (!known) throw InputError("--suite", "'" + o.suite + "' is not one of " + suites);
  if (o.threads < 0) throw InputError("--threads", "must be >= 0");
  if (o.random_cases < -1) throw InputError("--random", "must be >= 0 (or -1: the suite's default)");
  if (o.timing_reps < 1) throw InputError("--reps", "must be >= 1");
  if (!(o.reference_max_flops >= 0)) throw InputError("--reference-max-flops", "must be >= 0");
}

int main_with_args(int argc, char** argv) {
  CLI::App app{
      "Runs problems through make_plan -> GPU kernels and compares every output, LSE and partial element "
      "with simulate() bit for bit. Exit 0: all match; 1: a mismatch or error; 2: no GPU or bad usage.",
      "mlaps-gpu-conformance"};
  ConformanceOptions o;
  add_options(app, o);
  bool calibrate = false;
  std::string base_profile = "h200-mlaps";
  app.add_flag("--calibrate", calibrate,
               "the cost model's calibration instead: time every problem of the suite under every policy "
               "(per-TG and per-work-item globaltimer, event-timed prefill and reduce), fit the profile with "
               "one third held out, write --out DIR/{calibration_data.json, profile.json, holdout.md, "
               "timeline.svg}; exit 0 when the holdout goal (median |error| <= 10%, max <= 25%) is met");
  app.add_option("--base-profile", base_profile, "--calibrate: the profile whose coefficients are fitted")
      ->capture_default_str();
  PolicyTimingOptions pt;
  std::string time_policies, sets =
                                 "vllm-chunked-8k,vllm-chunked-8k-packed,mixed-long-short,deepseek-tp8,"
                                 "many-short,decode-like";
  app.add_option(
      "--time-policies", time_policies,
      "policy timing instead: a comma list (ratios against the first, e.g. aiter,cost-balanced); "
      "times prefill + reduce of every problem of --suite (none: skip) and of --set-batches batches of "
      "each of --sets under each policy, beside the cost model's prediction; writes --out "
      "DIR/{policy_timing.json, policy_timing.md}");
  app.add_option("--sets", sets, "--time-policies: serving sets, comma list ('' for none)")
      ->capture_default_str();
  app.add_option("--set-batches", pt.set_batches, "--time-policies: batches per set")->capture_default_str();
  app.add_option("--set-num-cu", pt.num_cu, "--time-policies: the sets' CU count (0: the batches' own, 256)")
      ->capture_default_str();
  app.add_option("--profile", pt.profile,
                 "--time-policies: what cost-aware policies plan for and the model predicts with")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  try {
    ConformanceOptions checked = o;
    if (!time_policies.empty() && o.suite == "none") checked.suite = "default";  // timing sets only
    check_options(checked);
  } catch (const InputError& e) {
    std::fprintf(stderr, "mlaps-gpu-conformance: error: %s\n", e.what());
    return 2;
  }
  if (!time_policies.empty()) {
#if MLAPS_CONFORMANCE_WITH_COST
    auto split = [](const std::string& text) {
      std::vector<std::string> out;
      size_t at = 0;
      while (at <= text.size() && !text.empty()) {
        const size_t end = std::min(text.find(',', at), text.size());
        if (end > at) out.push_back(text.substr(at, end - at));
        at = end + 1;
      }
      return out;
    };
    pt.out_dir = o.out_dir;
    pt.policies = split(time_policies);
    pt.sets = split(sets);
    pt.suite = o.suite;
    pt.filter = o.filter;
    pt.seed = o.seed;
    if (app.count("--reps")) pt.reps = o.timing_reps;
    return run_policy_timing(pt, std::cout);
#else
    std::fprintf(stderr,
                 "mlaps-gpu-conformance: --time-policies: this build has no cost library (the standalone "
                 "build needs eigen3/ in MLAPS_DEPS_INCLUDE)\n");
    return 2;
#endif
  }
  if (calibrate) {
#if MLAPS_CONFORMANCE_WITH_COST
    CalibrationOptions c;
    c.out_dir = o.out_dir;
    c.suite = o.suite;
    c.filter = o.filter;
    c.seed = o.seed;
    c.base_profile = base_profile;
    if (app.count("--reps")) c.reps = o.timing_reps;
    return run_calibration(c, std::cout);
#else
    std::fprintf(stderr,
                 "mlaps-gpu-conformance: --calibrate: this build has no cost library (the standalone "
                 "build needs eigen3/ in MLAPS_DEPS_INCLUDE)\n");
    return 2;
#endif
  }
  return run_conformance(o, std::cout);
}

}  // namespace mlaps::conformance
