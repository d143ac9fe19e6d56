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
  if (n <= 0) return;
  if (n == 1 && (!p.fixed_version || p.reduce_partial_map[start] == -1)) return;
  const FinalLoc loc = p.reduce_final_map[t];
  const int64_t hh = p.num_heads;
  const int32_t* pmap = p.reduce_partial_map + start;
  for (int32_t r = loc.qo_start + static_cast<int32_t>(threadIdx.y); r < loc.qo_end; r += kRowLanes) {
    const int32_t local = r - loc.qo_start;
    float out;
    float lse;
    if (n < kMassiveThreshold) {
      // Simple path: online merge in partial-map order.
      int64_t row = static_cast<int64_t>(pmap[0]) + local;
      float acc = p.partial_o[(row * hh + h) * kVHeadDim + d];
      float m = p.partial_lse[row * hh + h];
      float s = 1.0f;
      for (int32_t i = 1; i < n; ++i) {
        row = static_cast<int64_t>(pmap[i]) + local;
        const float li = p.partial_lse[row * hh + h];
        const float oi = p.partial_o[(row * hh + h) * kVHeadDim + d];
        const float m2 = running_max(m, li);
        const float a = num::exp_model(m - m2);
        const float b = num::exp_model(li - m2);
        const float x = a * acc;
        const float y = b * oi;
        acc = x + y;
        const float sa = s * a;
        s = sa + b;
        m = m2;
      }
      out = acc / s;
      lse = (s == 0.0f || num::is_nan(s)) ? num::inf_f() : num::log_model(s) + m;
    } else {
      // Massive path: global max, sum of exponentials, weighted sum without a final division.
      float mx = p.partial_lse[(static_cast<int64_t>(pmap[0]) + local) * hh + h];
      for (int32_t i = 1; i < n; ++i) {
        mx = running_max(mx, p.partial_lse[(static_cast<int64_t>(pmap[i]) + local) * hh + h]);
      }
      float sum = 0.0f;
      for (int32_t i = 0; i < n; ++i) {
        sum = sum + num::exp_model(p.partial_lse[(static_cast<int64_t>(pmap[i]) + local) * hh + h] - mx);
      }
      lse = (sum == 0.0f || num::is_nan(sum)) ? num::inf_f() : num::log_model(sum) + mx;
      float acc = 0.0f;
      for (int32_t i = 0; i < n; ++i) {
        const int64_t row = static_cast<int64_t>(pmap[i]) + local;
        const float w = num::exp_model(p.partial_lse[row * hh + h] - lse);
        const float prod = w * p.partial_o[(row * hh + h) * kVHeadDim + d];
        acc = acc + prod;
      }
      out = acc;
    }
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
