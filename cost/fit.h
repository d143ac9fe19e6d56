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
#include "scheduler/files.h"
#include "scheduler/plan.h"
#include "scheduler/problem.h"

namespace mlaps::cost {

struct CalibrationCase {
  std::string name;
  std::string policy;  // a name of the policy table (scheduler/policy.h)
  Problem problem;
  double prefill_us = 0;  // measured prefill kernel time (events, median of reps)
  double reduce_us = 0;   // measured reduce kernel time (events, median of reps); 0: no reduce launched
  // The reduce launched alone after a host sync (gpu::PlanTiming::reduce_isolated_us_median): a diagnostic,
  // not fitted; 0 when not recorded (the first H200 run timed the reduce only this way, as reduce_us).
  double reduce_isolated_us = 0;
  std::vector<double> tg_start_us, tg_end_us;  // globaltimer per TG, relative to the earliest start
  std::vector<double> item_us;                 // globaltimer per work item (work_info order)
};

struct CalibrationData {
  std::string device;  // e.g. "NVIDIA H200"
  std::string date;    // ISO date-time of the run (UTC)
  std::vector<CalibrationCase> cases;
};
// The largest calibration file read (the first H200 run's is 0.5 MB).
inline constexpr uint64_t kMaxCalibrationBytes = uint64_t{256} << 20;
std::string calibration_to_json_text(const CalibrationData& d);
// Bounded (kMaxCalibrationBytes) and checked: throws InputError naming the field.
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
  // The same over the held-out prefill times alone and the held-out reduce times alone.
  double holdout_prefill_median_abs_err = 0, holdout_prefill_max_abs_err = 0;
  double holdout_reduce_median_abs_err = 0, holdout_reduce_max_abs_err = 0;
  bool goal_met = false;  // median <= 10% and max <= 25%
};
// `base` gives slots, rows_per_pass, row_quantum, reduce_slots, name, kernel; the coefficients are fitted.
FitResult fit_profile(const CalibrationData& data, const CostProfile& base);

// The fit's report files, one renderer for the GPU runner (conformance/calibrate.cpp) and `mlaps cost fit`
// (cost/fit_report.cpp). holdout.md: the goal line, the held-out figures (all, prefill, reduce) and a row
// per case, measured against predicted.
std::string holdout_markdown(const CalibrationData& data, const FitResult& fit);
// Measured (globaltimer) against predicted (`prof`) start and busy time per TG of the largest case (the most
// busy TGs, then the longest measured prefill), with axis ticks and a legend; "" when no case has per-TG
// timings.
std::string timeline_svg(const CalibrationData& data, const CostProfile& prof);
// profile.json, holdout.md and (when some case has per-TG timings) timeline.svg, for an OutputSet folder.
std::vector<DirFile> fit_report_files(const CalibrationData& data, const FitResult& fit);
// One line: "held-out median |error| 3.7%, max 57.0% (prefill 2.1% / 10.5%, reduce 7.6% / 57.0%): GOAL NOT
// MET".
std::string holdout_summary(const FitResult& fit);

}  // namespace mlaps::cost
