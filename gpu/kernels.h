#pragma once
// Launch wrappers of the GPU kernels (device-compiler translation units only: needs gpu_vendor.h types).
// Each returns the launch status (hipGetLastError after the launch); the caller synchronizes and checks.
#include "gpu/vendor/gpu_vendor.h"
#include "sim/params.h"

namespace mlaps::gpu {

// Persistent prefill: grid = p.num_tg blocks (one per thread group of the plan), whatever the device size.
hipError_t launch_prefill(const PrefillParams& p, hipStream_t stream);
// Dynamic shared memory the prefill kernel needs (bytes).
int prefill_shared_bytes();

// The same prefill, recording global_timer() (thread 0, after a block barrier): times[2 tg] at the TG's
// start, times[2 tg + 1] at its end, times[2 num_tg + w] at the end of work item w. Results are those of
// launch_prefill (timing only adds reads of the clock and stores to `times`).
hipError_t launch_prefill_timed(const PrefillParams& p, uint64_t* times, hipStream_t stream);

// mla_reduce_v1 (both paths, version rule in p.fixed_version).
hipError_t launch_reduce(const ReduceParams& p, hipStream_t stream);

}  // namespace mlaps::gpu
