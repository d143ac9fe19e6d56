// mla_reduce_v1 on the GPU, bit-identical to the numeric model of sim/model.h (both paths, version rule).
//
// Grid (num_reduce_tiles, num_heads); block (128, kRowLanes): threadIdx.x is the output dim, threadIdx.y
// strides over the rows of the reduce entry. Every thread recomputes the row's LSE merge itself (the same
// operations in the same order, so every copy is identical) and merges its own dim.
#include <cstdint>

#include "gpu/kernels.h"
#include "gpu/vendor/gpu_vendor.h"
#include "sim/model.h"
#include "sim/numerics.h"
#include "sim/params.h"

namespace mlaps::gpu {
namespace {

constexpr int kRowLanes = 4;
constexpr int kReduceThreads = kVHeadDim * kRowLanes;

__global__ void __launch_bounds__(kReduceThreads) reduce_kernel(ReduceParams p) {
  const int32_t t = static_cast<int32_t>(blockIdx.x);
  const int32_t h = static_cast<int32_t>(blockIdx.y);
  const int d = static_cast<int>(threadIdx.x);
  const int32_t start = p.reduce_indptr[t];
  const int32_t n = p.reduce_indptr[t + 1] - start;
  if (reduce_entry_skipped(n, p.fixed_version, n > 0 ? p.reduce_partial_map[start] : 0)) return;
  const FinalLoc loc = p.reduce_final_map[t];
  const int64_t hh = p.num_heads;
  const int32_t* pmap = p.reduce_partial_map + start;
  for (int32_t r = loc.qo_start + static_cast<int32_t>(threadIdx.y); r < loc.qo_end; r += kRowLanes) {
    const int32_t local = r - loc.qo_start;
    // The model's merge (sim/model.h's reduce_merge, as sim/ runs it), for this thread's dim d.
    auto row = [&](int32_t i) { return (static_cast<int64_t>(pmap[i]) + local) * hh + h; };
    auto lse_at = [&](int32_t i) { return p.partial_lse[row(i)]; };
    auto o_at = [&](int32_t i, int) { return p.partial_o[row(i) * kVHeadDim + d]; };
    float out;
    const float lse = reduce_merge<1>(n, lse_at, o_at, &out);
    p.final_out[(static_cast<int64_t>(r) * hh + h) * kVHeadDim + d] = num::bf16_encode(out);
    if (d == 0) p.final_lse[static_cast<int64_t>(r) * hh + h] = lse;
  }
}

}  // namespace

hipError_t launch_reduce(const ReduceParams& p, hipStream_t stream) {
  if (p.num_reduce_tiles <= 0 || p.num_heads <= 0) return hipSuccess;
  hipLaunchKernelGGL(reduce_kernel,
                     dim3(static_cast<unsigned>(p.num_reduce_tiles), static_cast<unsigned>(p.num_heads)),
                     dim3(kVHeadDim, kRowLanes), 0, stream, p);
  return hipGetLastError();
}

}  // namespace mlaps::gpu
