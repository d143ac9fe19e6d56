#pragma once
// GPU conformance: problems -> make_plan -> GPU kernels -> compared with simulate() bit for bit.
//
// Each case compares every element of the final output (bf16 bits), the final LSE (fp32 bits) and both
// partial buffers (fp32 bits). Two NaNs count as equal when neither is a poison pattern (NaN payloads are
// not part of the numeric model: x86 and GPUs produce different default NaNs). Poisoned (never written)
// elements must match too, so a row one executor leaves unwritten and the other writes is a mismatch.
// The first differing element is reported with its row, head, dim, both values and the work item (or
// reduce entry) that wrote it. Results go to a JUnit XML report and a JSON summary.
#include <array>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/policy.h"
#include "scheduler/problem.h"
#include "sim/model.h"
#include "sim/tensors.h"

namespace mlaps::conformance {

// The suites, in the order --help lists them.
inline constexpr std::array<std::string_view, 4> kSuites = {"default", "quick", "sanitizer", "seed"};

struct ConformanceOptions {
  std::string suite = "default";  // one of kSuites
  std::string filter;             // only cases whose name contains this substring
  std::string out_dir;            // write junit.xml and summary.json here (empty: no files)
  int threads = 0;                // emulator OpenMP threads (0: OpenMP default)
  uint64_t seed = 20260601;       // random problems and inputs
  int random_cases = -1;          // random small problems (-1: the suite's default)
  bool list_only = false;         // print the case names and exit 0
  bool timing = false;            // time the prefill kernel of cases marked timed (TFLOP/s)
  int timing_reps = 20;
  bool no_device_ok = false;  // no GPU: print why and return 0 instead of 2 (CI without a GPU)
  // Builds with the float64 reference (MLAPS_CONFORMANCE_WITH_REFERENCE) also compare the GPU's final output
  // and LSE with it by upstream's tolerances on cases up to this many prefill FLOPs (0: never). Reported, not
  // failing (the GPU's contract is the emulator's bits; a reference miss is the plan's or the model's, e.g.
  // trailing zero-KV tiles that upstream never schedules, contract 2.5), unless reference_strict. Under
  // a policy of the legacy reduce a miss is reported as expected (unwritten final LSE rows, PR #3606).
  double reference_max_flops = 2e10;
  bool reference_strict = false;
};

struct ConformanceCase {
  std::string name;
  Problem problem;
  Policy policy = default_policy();
  InputOptions inputs;
  NumericModel model;
  bool timed = false;  // a seed scenario: time its prefill when ConformanceOptions::timing
};

// The cases of a suite (deterministic in options.seed), before filtering.
std::vector<ConformanceCase> conformance_suite(const ConformanceOptions& options);

// FLOPs of a problem's prefill: 2 * (192 + 128) per visible (row, key, head) triple.
double prefill_flops(const Problem& p);

// One buffer's element-wise comparison: how many elements differ, and the first of them described (row,
// head, dim, both values, the work item or reduce entry that wrote it).
struct BufferDiff {
  int64_t count = 0;
  std::string first;
};
struct RunDiff {
  BufferDiff out, final_lse, partial_o, partial_lse;
  int64_t total() const { return out.count + final_lse.count + partial_o.count + partial_lse.count; }
};
// What a conformance case checks between the emulator's buffers and the GPU's (both after a run of `plan`),
// with the equality rules above. Host code: tests run it without a GPU.
RunDiff compare_runs(const Problem& p, const Plan& plan, const RunBuffers& sim, const RunBuffers& gpu);

// Runs the suite. Returns 0 when every case matches, 1 on any mismatch or failed case, 2 when no GPU is
// usable (0 with no_device_ok), on a usage error (an out_dir the reports cannot go to included: refused
// before the device is queried) or when the reports cannot be written. Progress and a final table go to
// `log`.
int run_conformance(const ConformanceOptions& options, std::ostream& log);

}  // namespace mlaps::conformance
