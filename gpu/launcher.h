#pragma once
// Host API of the GPU executor (plain C++: no GPU headers, callable from code built by the host compiler).
// It runs a plan exactly as sim/ does (prefill, then reduce) on poisoned device buffers and copies the
// results back into a RunBuffers, so results compare with simulate() element for element.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "scheduler/plan.h"
#include "scheduler/problem.h"
#include "sim/model.h"
#include "sim/tensors.h"

namespace mlaps::gpu {

// A failed GPU API call or kernel launch; the message names the call.
class GpuError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DeviceInfo {
  bool available = false;  // a usable device exists
  std::string reason;      // why not, when !available (no driver, no device, ...)
  std::string name;        // e.g. "NVIDIA H100 80GB HBM3"
  std::string arch;        // e.g. "sm_90" or "gfx950"
  int multiprocessors = 0;
  int64_t global_mem_bytes = 0;
  std::string flavour;  // "cuda" or "hip": how this library was built
};
// Never throws: a machine without a GPU (or without a driver) gives available = false.
DeviceInfo query_device();

struct GpuRunOptions {
  bool run_reduce = true;
  int timing_reps = 0;  // > 0: afterwards, time the prefill kernel this many times (after 2 warm-ups)
};

struct GpuTiming {
  int reps = 0;
  double prefill_ms_median = 0, prefill_ms_min = 0;
  double reduce_ms = 0;  // one run
};

struct GpuRun {
  RunBuffers buffers;  // out, final_lse, partial_o, partial_lse, as sim/ lays them out
  GpuTiming timing;
};

// Plan -> poisoned device buffers -> prefill (grid = plan.num_tg()) -> reduce -> copy back.
// The reduce version follows plan.reduce (the policy's trait). Throws GpuError on any API failure.
GpuRun run_plan(const Problem& problem, const Plan& plan, const AttnInputs& inputs, const NumericModel& model,
                const GpuRunOptions& options = {});

// Timing of one plan for the cost model's calibration: one run of the prefill with global_timer() per TG
// (start, end) and per work item (end), converted to microseconds from the earliest TG start; then `reps`
// runs of prefill and reduce queued back to back on one stream, timed with three events (prefill: before
// the prefill to after it; reduce: after the prefill to after the reduce, so the reduce is already queued
// when its clock starts, as a serving stream runs it), medians; then `reps` runs of the reduce alone after
// a host sync (its event pair then also spans the host's launch of the reduce: reduce_isolated_us, kept as
// a diagnostic). No result is compared.
struct PlanTiming {
  std::vector<double> tg_start_us, tg_end_us;
  std::vector<double> item_us;  // per work item: its end minus the previous end (or its TG's start)
  double prefill_us_median = 0;
  double reduce_us_median = 0;           // queued behind the prefill; 0 when the plan has no reduce entry
  double reduce_isolated_us_median = 0;  // launched after a host sync (the first H200 run's measurement)
};
PlanTiming time_plan(const Problem& problem, const Plan& plan, const AttnInputs& inputs,
                     const NumericModel& model, int reps);

// Dynamic shared memory of the prefill kernel (bytes), for reports.
int prefill_shared_memory_bytes();

}  // namespace mlaps::gpu
