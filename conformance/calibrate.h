#pragma once
// The cost model's calibration run on a GPU (issue 14): every case of the conformance suite, planned under
// every policy, run with per-TG and per-work-item timers (global_timer) and event-timed prefill and reduce;
// then cost::fit_profile fits the profile by least squares with one third of the cases held out.
//
// Writes into out_dir: calibration_data.json (every measurement: what the fit reads, so a fit can be redone
// on any machine), profile.json (the fitted profile: residuals, device, date), holdout.md (the table of
// measured and predicted times, fit and held-out cases), timeline.svg (measured against predicted per-TG
// busy time for the largest case); the reports come from cost/fit_report.cpp, as `mlaps cost fit` writes
// them. Returns 0 when the holdout goal is met (median |error| <= 10%, max <= 25%), 1 when not, 2 without a
// GPU or on bad options.
#include <cstdint>
#include <iosfwd>
#include <string>

namespace mlaps::conformance {

struct CalibrationOptions {
  std::string out_dir;            // required
  std::string suite = "default";  // conformance suite whose problems are timed
  std::string filter;             // only cases whose name contains this
  int reps = 10;                  // event-timed repetitions of prefill and reduce per case
  std::uint64_t seed = 20260601;
  std::string base_profile = "h200-mlaps";  // slots, rows_per_pass, ... of the profile being fitted
};

int run_calibration(const CalibrationOptions& o, std::ostream& log);

}  // namespace mlaps::conformance
