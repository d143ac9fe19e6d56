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

// mla_reduce_v1 (both paths, version rule in p.fixed_version).
hipError_t launch_reduce(const ReduceParams& p, hipStream_t stream);

}  // namespace mlaps::gpu
