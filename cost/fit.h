#pragma once
// Fitting a profile from GPU measurements (the calibration run of the GPU conformance runner), and the
// holdout check. Host code: the data is plain JSON, so a fit can be redone anywhere from committed data.
//
// What is fitted (non-negative least squares, Lawson-Hanson, each sample weighted by 1 / its measurement so
// the fit minimises relative error):
//   prefill coefficients tg_us .. write_direct_row_us: one sample per work item (its measured duration
//     against heads x item_head_features) and one per TG (its measured busy time, end - start, against
//     tg_us + the sum of its items' features);
//   launch_us: the median, over the fit cases, of the measured prefill kernel time minus the modelled
//     makespan without launch;
//   reduce coefficients: one sample per case with a reduce (its measured kernel time against reduce_cost's
//     features: launch 1, every other sum over blocks / reduce_slots).
// Holdout: every third case (index % 3 == 2) is left out of the fit and predicted afterwards. The goal
// (issue 14): median |error| <= 10% and max |error| <= 25% on the held-out prefill and reduce times.
#include <cstdint>
#include <string>
#include <vector>

#include "cost/model.h"
#include "scheduler/plan.h"
#include "scheduler/problem.h"

namespace mlaps::cost {

struct CalibrationCase {
  std::string name;
  std::string policy;  // a name of the policy table (scheduler/policy.h)
  Problem problem;
  double prefill_us = 0;  // measured prefill kernel time (events, median of reps)
  double reduce_us = 0;   // measured reduce kernel time (events, median of reps); 0: no reduce launched
  std::vector<double> tg_start_us, tg_end_us;  // globaltimer per TG, relative to the earliest start
  std::vector<double> item_us;                 // globaltimer per work item (work_info order)
};

struct CalibrationData {
  std::string device;  // e.g. "NVIDIA H200"
  std::string date;    // ISO date-time of the run (UTC)
  std::vector<CalibrationCase> cases;
};
std::string calibration_to_json_text(const CalibrationData& d);
// Bounded (256 MiB) and checked: throws InputError naming the field.
CalibrationData calibration_from_json_text(const std::string& text);

// Non-negative least squares min ||A x - b|| s.t. x >= 0 (A row-major m x n). Lawson-Hanson active set.
std::vector<double> nnls(const std::vector<double>& a, const std::vector<double>& b, int m, int n);

struct CaseError {
  std::string name, policy;
  bool held_out = false;
  double measured_prefill_us = 0, predicted_prefill_us = 0;
  double measured_reduce_us = 0, predicted_reduce_us = 0;
};
struct FitResult {
  CostProfile profile;                // status "fitted", fit_json filled
  std::vector<CaseError> cases;       // every case, fit and held out
  double holdout_median_abs_err = 0;  // relative, over held-out prefill and reduce times
  double holdout_max_abs_err = 0;
  bool goal_met = false;  // median <= 10% and max <= 25%
};
// `base` gives slots, rows_per_pass, row_quantum, reduce_slots, name, kernel; the coefficients are fitted.
FitResult fit_profile(const CalibrationData& data, const CostProfile& base);

}  // namespace mlaps::cost
