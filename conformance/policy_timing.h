#pragma once
// Policy timing on a GPU (issue 15): measured prefill + reduce time of policies against the first, on the
// problems of a conformance suite and on batches drawn from the serving sets, beside what the cost model
// predicts for the same plans. `mlaps-gpu-conformance --time-policies aiter,cost-balanced,... --out DIR`.
//
// Every case is planned under every policy for the profile (cost-aware policies plan for it; the cost
// model predicts with it), run with gpu::time_plan (event-timed prefill and reduce, medians of `reps`),
// and the measured total (prefill + reduce, summed over a batch's kernel calls) is put beside the
// predicted one. Writes DIR/policy_timing.json (every measurement) and DIR/policy_timing.md (per case:
// measured and predicted ratio to the first policy; per group: geomeans, and whether the measured gain
// goes the way the model says).
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "scheduler/problem.h"
#include "sim/tensors.h"

namespace mlaps::conformance {

struct PolicyTimingOptions {
  std::string out_dir;                // required
  std::vector<std::string> policies;  // ratios against the first
  std::string suite = "default";      // conformance suite whose problems are timed ("none": skip)
  std::string filter;                 // only cases whose name contains this
  std::vector<std::string> sets;      // serving sets (workloads/sets.h); each contributes set_batches batches
  int set_batches = 20;
  uint64_t set_seed = 1;
  int32_t num_cu = 0;  // override the sets' CU count (0: the batches' own)
  int reps = 5;
  uint64_t seed = 20260601;
  std::string profile = "h200-mlaps";
};

// One timed case: a suite problem (one call) or a set batch (its kernel calls).
struct TimingCase {
  std::string name;   // "causal_1x1200_h2/cu132" or "vllm-chunked-8k#3"
  std::string group;  // "suite" or the set's name
  std::vector<Problem> calls;
  InputOptions inputs;
};
// The cases, deterministic in the options (host code: no GPU needed). Throws InputError naming the flag.
std::vector<TimingCase> policy_timing_cases(const PolicyTimingOptions& o);

// What was measured (or predicted) for one case and policy, in microseconds.
struct TimingRow {
  std::string name, group, policy;
  double measured_prefill_us = 0, measured_reduce_us = 0;
  double predicted_prefill_us = 0, predicted_reduce_us = 0;
  double measured_us() const { return measured_prefill_us + measured_reduce_us; }
  double predicted_us() const { return predicted_prefill_us + predicted_reduce_us; }
};
// The Markdown report of rows (policies in `policies` order; ratios against the first). Host code.
std::string policy_timing_markdown(const std::vector<TimingRow>& rows,
                                   const std::vector<std::string>& policies, const std::string& device,
                                   const std::string& profile);

// Runs it: 0 when every case ran (whatever the ratios), 1 on a GPU error, 2 without a GPU or on bad options.
int run_policy_timing(const PolicyTimingOptions& o, std::ostream& log);

}  // namespace mlaps::conformance
