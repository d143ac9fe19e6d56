// The persistent tiled fp8 prefill kernel, bit-identical to the numeric model of sim/model.h.
//
// One block per thread group of the plan; the block walks work_info[work_indptr[tg] .. work_indptr[tg+1]).
// Per work item and q head, the rows [qo_start, qo_end) are processed in row blocks of kRowsPerPass rows.
// Per 128-key sub-tile:
//   1. scores: each thread owns kRowsPerThread rows x 8 keys and runs the dot products sequentially over
//      d = 0..191 (fma, decoded fp8 codes): parallel across rows and keys, never across d;
//   2. row max (exact in any order) across the 16 lanes that share a row, alpha = exp2_model(m - m_new),
//      p = exp2_model(t - m_new) and its fp8-rounded twin into shared memory;
//   3. P.V: each thread owns kRowsPerThread rows x 8 output dims; acc[d] = fma(p_v, v[k][d], acc[d]) in
//      ascending key order, invisible keys skipped; l += p in the same loop (every thread of a row sums the
//      same values in the same order, so all copies are identical).
// Compile with --fmad=false (nvcc) / -ffp-contract=off (clang): no contraction beyond the model's fmas.
#include <climits>
#include <cstdint>

#include "gpu/kernels.h"
#include "gpu/vendor/gpu_vendor.h"
#include "sim/model.h"
#include "sim/numerics.h"
#include "sim/params.h"

namespace mlaps::gpu {
namespace {

// Launch shape, overridable at build time for experiments (-DMLAPS_PREFILL_THREADS=512 ...); results are
// bit-identical for every shape (the order of each row's operations does not depend on it).
#ifndef MLAPS_PREFILL_THREADS
#define MLAPS_PREFILL_THREADS 256
#endif
constexpr int kThreads = MLAPS_PREFILL_THREADS;
// Timing experiments that break the model on purpose (never in a conformance build): 1 = no fp8 rounding of
// P, 2 = also the hardware exp2. They measure what the softmax step's shared numerics cost.
#ifndef MLAPS_PREFILL_EXPERIMENT
#define MLAPS_PREFILL_EXPERIMENT 0
#endif
constexpr int kLanesPerRow = 16;                          // threads sharing a row (keys in QK, dims in PV)
constexpr int kRowGroups = kThreads / kLanesPerRow;       // 16
constexpr int kKeysPerThread = kTileKv / kLanesPerRow;    // 8
constexpr int kDimsPerThread = kVHeadDim / kLanesPerRow;  // 8
static_assert(kKeysPerThread == 8 && kDimsPerThread == 8, "thread mapping assumes 128-wide tiles");
static_assert(kLanesPerRow <= kWaveSize, "a row's lanes must sit in one wave for the shuffles");
static_assert(kRowGroups >= 16 && (kRowGroups & (kRowGroups - 1)) == 0,
              "p-tile swizzle needs 2^n >= 16 row groups");
// Rows per thread of a pass: 4 (64-row passes) for long row ranges, 2 or 1 (32 / 16 rows) for the tail and
// for short works (chunked prefill: 8 query rows per sequence), so that few computed rows are thrown away.
#if MLAPS_GPU_CUDA
#ifndef MLAPS_PREFILL_MAX_ROWS_PER_THREAD
#define MLAPS_PREFILL_MAX_ROWS_PER_THREAD 4
#endif
// 256 threads x 4 rows: 64 rows per pass, 145 KB of shared memory (sm_90 allows 227 KB).
constexpr int kMaxRowsPerThread = MLAPS_PREFILL_MAX_ROWS_PER_THREAD;
constexpr int kChunk = 64;  // K dims (or V keys) staged in shared memory at a time
#else
constexpr int kMaxRowsPerThread = 1;  // 16 rows per pass: 45 KB of LDS (fits gfx942's 64 KB)
constexpr int kChunk = 32;
#endif
constexpr int kMaxRowsPerPass = kRowGroups * kMaxRowsPerThread;
static_assert(kQkHeadDim % kChunk == 0 && kTileKv % kChunk == 0);
static_assert(kThreads % kTileKv == 0 && kThreads % (kVHeadDim / 4) == 0);
constexpr int kKWords = kTileKv * (kChunk / 4) / kThreads;    // K words staged per thread per chunk
constexpr int kVWords = kChunk * (kVHeadDim / 4) / kThreads;  // V words staged per thread per chunk
static_assert(kKWords * kThreads == kTileKv * (kChunk / 4) && kVWords * kThreads == kChunk * (kVHeadDim / 4));

// Shared memory layout (floats), sized for the largest pass.
constexpr int kLutOff = 0;                                    // fp8 code -> float, 256 entries
constexpr int kQOff = kLutOff + 256;                          // Q [192][rows per pass]
constexpr int kKvOff = kQOff + kQkHeadDim * kMaxRowsPerPass;  // K chunk [kChunk][128] / V chunk [kChunk][128]
constexpr int kPlOff = kKvOff + kChunk * kTileKv;             // p      [128][rows per pass] (swizzled)
constexpr int kPvOff = kPlOff + kTileKv * kMaxRowsPerPass;    // fp8(p) [128][rows per pass] (swizzled)
constexpr int kSharedFloats = kPvOff + kTileKv * kMaxRowsPerPass;
constexpr int kSharedBytes = kSharedFloats * static_cast<int>(sizeof(float));

// Local key (or V dim) of the thread's j-th slot: two groups of 4 consecutive, 64 apart (bank-friendly).
__device__ __forceinline__ int slot_index(int lane, int j) {
  return (j < 4 ? 0 : 64) + lane * 4 + (j & 3);
}

// P tiles are [key][row], the row groups XOR-swizzled by key to spread the writers over the banks.
template <int kRowsPerThread>
__device__ __forceinline__ int p_index(int key, int rg, int i) {
  constexpr int kRowsPerPass = kRowGroups * kRowsPerThread;
  return key * kRowsPerPass + ((rg ^ ((key >> 2) & (kRowGroups - 1))) * kRowsPerThread) + i;
}

template <int N>
__device__ __forceinline__ void load_rows(const float* src, float (&dst)[N]) {
  if constexpr (N == 4) {
    const float4 v = *reinterpret_cast<const float4*>(src);
    dst[0] = v.x;
    dst[1] = v.y;
    dst[2] = v.z;
    dst[3] = v.w;
  } else if constexpr (N == 2) {
    const float2 v = *reinterpret_cast<const float2*>(src);
    dst[0] = v.x;
    dst[1] = v.y;
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) dst[i] = src[i];
  }
}

__device__ __forceinline__ void load_slots(const float* base, int lane, float (&dst)[8]) {
  const float4 a = *reinterpret_cast<const float4*>(base + lane * 4);
  const float4 b = *reinterpret_cast<const float4*>(base + 64 + lane * 4);
  dst[0] = a.x;
  dst[1] = a.y;
  dst[2] = a.z;
  dst[3] = a.w;
  dst[4] = b.x;
  dst[5] = b.y;
  dst[6] = b.z;
  dst[7] = b.w;
}

struct WorkCtx {
  int32_t qo_start, qo_end, kv_start, kv_end, partial_o_loc;
  int32_t qo_base, qo_len, kv_base, kv_len;
  int32_t head, kv_head;
};

// One pass: rows [r0, r0 + kRowsPerPass) of one head of one work item.
template <int kRowsPerThread>
__device__ void prefill_rows(const PrefillParams& p, const WorkCtx& w, int32_t r0, float* smem,
                             float scale_log2) {
  const float* lut = smem + kLutOff;
  float* qs = smem + kQOff;
  float* kvs = smem + kKvOff;
  float* pls = smem + kPlOff;
  float* pvs = smem + kPvOff;
  constexpr int kRowsPerPass = kRowGroups * kRowsPerThread;
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % kLanesPerRow;
  const int rg = tid / kLanesPerRow;
  const int64_t hq = p.num_heads_q;
  const int64_t hk = p.num_heads_k;

  // Q rows of this pass, decoded, [d][row]. Rows past qo_end are zeros (computed, never stored).
  for (int idx = tid; idx < kRowsPerPass * (kQkHeadDim / 4); idx += kThreads) {
    const int rl = idx % kRowsPerPass;
    const int g = idx / kRowsPerPass;
    const int32_t r = r0 + rl;
    uint32_t word = 0;
    if (r < w.qo_end) {
      const uint8_t* src = p.q + (static_cast<int64_t>(r) * hq + w.head) * kQkHeadDim + g * 4;
      word = *reinterpret_cast<const uint32_t*>(src);
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) qs[(g * 4 + j) * kRowsPerPass + rl] = lut[(word >> (8 * j)) & 0xFFu];
  }

  // Per-row state (every lane of a row holds an identical copy).
  float m[kRowsPerThread], l[kRowsPerThread], acc[kRowsPerThread][kDimsPerThread];
  int32_t vis_end[kRowsPerThread];  // keys k < vis_end are causally visible to the row
#pragma unroll
  for (int i = 0; i < kRowsPerThread; ++i) {
    m[i] = -num::inf_f();
    l[i] = 0.0f;
#pragma unroll
    for (int d = 0; d < kDimsPerThread; ++d) acc[i][d] = 0.0f;
    const int32_t r = r0 + rg * kRowsPerThread + i;
    if (r >= w.qo_end) {
      vis_end[i] = INT_MIN;
    } else if (!p.causal) {
      vis_end[i] = INT_MAX;
    } else {
      // visible iff j <= i + kv_len - qo_len with j = k - kv_base (model.h causal_visible).
      const int64_t lim = static_cast<int64_t>(r - w.qo_base) + w.kv_len - w.qo_len;
      const int64_t e = static_cast<int64_t>(w.kv_base) + lim + 1;
      vis_end[i] = e < INT_MIN ? INT_MIN : (e > INT_MAX ? INT_MAX : static_cast<int32_t>(e));
    }
  }

  for (int32_t k0 = w.kv_start; k0 < w.kv_end; k0 += kTileKv) {
    const int32_t k1 = min(k0 + kTileKv, w.kv_end);

    // 1. Scores: dot[i][j] = sum_d q[row i][d] * k[key j][d], sequential fma over d.
    float dot[kRowsPerThread][kKeysPerThread];
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i)
#pragma unroll
      for (int j = 0; j < kKeysPerThread; ++j) dot[i][j] = 0.0f;

    // K is staged kChunk dims at a time; the next chunk's words are fetched into registers while the
    // current one is multiplied (one block per SM: nothing else would hide the load latency).
    const int my_key = tid % kTileKv;  // every K word this thread stages belongs to one key
    const int32_t k_mine = k0 + my_key;
    const uint8_t* k_src = nullptr;
    if (k_mine < k1)
      k_src = p.k + (static_cast<int64_t>(p.kv_page_indices[k_mine]) * hk + w.kv_head) * kQkHeadDim;
    uint32_t kw[kKWords];
    auto fetch_k = [&](int dc) {
#pragma unroll
      for (int n = 0; n < kKWords; ++n) {
        const int g = tid / kTileKv + n * (kThreads / kTileKv);
        kw[n] = k_src != nullptr ? *reinterpret_cast<const uint32_t*>(k_src + dc + g * 4) : 0u;
      }
    };
    fetch_k(0);
    for (int dc = 0; dc < kQkHeadDim; dc += kChunk) {
      __syncthreads();  // kvs is free (previous chunk / previous P.V done); also publishes qs
#pragma unroll
      for (int n = 0; n < kKWords; ++n) {
        const int g = tid / kTileKv + n * (kThreads / kTileKv);
#pragma unroll
        for (int j = 0; j < 4; ++j) kvs[(g * 4 + j) * kTileKv + my_key] = lut[(kw[n] >> (8 * j)) & 0xFFu];
      }
      __syncthreads();
      if (dc + kChunk < kQkHeadDim) fetch_k(dc + kChunk);
#pragma unroll 4
      for (int dl = 0; dl < kChunk; ++dl) {
        float qv[kRowsPerThread];
        load_rows(qs + (dc + dl) * kRowsPerPass + rg * kRowsPerThread, qv);
        float kv[kKeysPerThread];
        load_slots(kvs + dl * kTileKv, lane, kv);
#pragma unroll
        for (int i = 0; i < kRowsPerThread; ++i)
#pragma unroll
          for (int j = 0; j < kKeysPerThread; ++j) dot[i][j] = num::fma_f(qv[i], kv[j], dot[i][j]);
      }
    }

    // The first V chunk is fetched now, its latency hidden behind the softmax step.
    uint32_t vw[kVWords];
    auto fetch_v = [&](int kc) {
#pragma unroll
      for (int n = 0; n < kVWords; ++n) {
        const int g = tid % (kVHeadDim / 4);
        const int kk = tid / (kVHeadDim / 4) + n * (kThreads / (kVHeadDim / 4));
        const int32_t k = k0 + kc + kk;
        vw[n] = 0u;
        if (k < k1) {
          const int64_t page = p.kv_page_indices[k];
          vw[n] = *reinterpret_cast<const uint32_t*>(p.v + (page * hk + w.kv_head) * kVHeadDim + g * 4);
        }
      }
    };
    fetch_v(0);

    // 2. Scaled scores (log2 units), row max, alpha, p.
    float alpha[kRowsPerThread];
    bool active[kRowsPerThread];  // the sub-tile has a visible key for the row (model: else skip it)
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i) {
      float t[kKeysPerThread];
      float mx = -num::inf_f();
#pragma unroll
      for (int j = 0; j < kKeysPerThread; ++j) {
        const int32_t k = k0 + slot_index(lane, j);
        const bool vis = k < k1 && k < vis_end[i];
        t[j] = vis ? dot[i][j] * scale_log2 : -num::inf_f();
        mx = running_max(mx, t[j]);
      }
#pragma unroll
      for (int off = kLanesPerRow / 2; off > 0; off /= 2)
        mx = running_max(mx, shfl_xor(mx, off, kLanesPerRow));
      const float m_new = running_max(m[i], mx);
      const bool skip = m_new == -num::inf_f();  // nothing visible yet: the sub-tile changes nothing
      active[i] = !skip;
      alpha[i] = skip ? 1.0f : num::exp2_model(m[i] - m_new);
      if (!skip) m[i] = m_new;
#pragma unroll
      for (int j = 0; j < kKeysPerThread; ++j) {
        const int key = slot_index(lane, j);
#if MLAPS_PREFILL_EXPERIMENT >= 2  // timing experiment only: NOT the model (hardware exp2)
        const float pj = (t[j] == -num::inf_f() || skip) ? 0.0f : exp2f(t[j] - m_new);
#else
        const float pj = (t[j] == -num::inf_f() || skip) ? 0.0f : num::exp2_model(t[j] - m_new);
#endif
        pls[p_index<kRowsPerThread>(key, rg, i)] = pj;
        // round_p(pj, model) with the decode half read from the table (lut[c] == fp8_decode(c)).
        pvs[p_index<kRowsPerThread>(key, rg, i)] =
            (p.model.round_p_fp8 && MLAPS_PREFILL_EXPERIMENT == 0)
                ? lut[num::fp8_encode(pj, p.model.encoding, p.model.saturate_p)]
                : pj;
      }
    }
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i) {
      l[i] = l[i] * alpha[i];
#pragma unroll
      for (int d = 0; d < kDimsPerThread; ++d) acc[i][d] = acc[i][d] * alpha[i];
    }

    // 3. P.V in ascending key order, V staged kChunk keys at a time.
    for (int kc = 0; kc < kTileKv && k0 + kc < k1; kc += kChunk) {
      __syncthreads();  // p tiles published; kvs free
#pragma unroll
      for (int n = 0; n < kVWords; ++n) {
        const int g = tid % (kVHeadDim / 4);
        const int kk = tid / (kVHeadDim / 4) + n * (kThreads / (kVHeadDim / 4));
        const uint32_t word = vw[n];
        float4 dv;
        dv.x = lut[word & 0xFFu];
        dv.y = lut[(word >> 8) & 0xFFu];
        dv.z = lut[(word >> 16) & 0xFFu];
        dv.w = lut[(word >> 24) & 0xFFu];
        *reinterpret_cast<float4*>(kvs + kk * kVHeadDim + g * 4) = dv;
      }
      __syncthreads();
      if (kc + kChunk < kTileKv && k0 + kc + kChunk < k1) fetch_v(kc + kChunk);
      const int kn = min(kChunk, k1 - (k0 + kc));
      for (int kk = 0; kk < kn; ++kk) {
        const int key = kc + kk;
        const int32_t k = k0 + key;
        float pl[kRowsPerThread], pv[kRowsPerThread];
        load_rows(pls + p_index<kRowsPerThread>(key, rg, 0), pl);
        load_rows(pvs + p_index<kRowsPerThread>(key, rg, 0), pv);
        float vv[kDimsPerThread];
        load_slots(kvs + kk * kVHeadDim, lane, vv);
#pragma unroll
        for (int i = 0; i < kRowsPerThread; ++i) {
          l[i] = l[i] + pl[i];  // invisible keys carry p = 0: l + 0 == l exactly (l >= +0)
          if (active[i] && k < vis_end[i]) {
#pragma unroll
            for (int d = 0; d < kDimsPerThread; ++d) acc[i][d] = num::fma_f(pv[i], vv[d], acc[i][d]);
          }
        }
      }
    }
  }

  // End of the rows: O = acc / l * v_scale (or the empty-row rule), LSE in natural log.
#pragma unroll
  for (int i = 0; i < kRowsPerThread; ++i) {
    const int32_t r = r0 + rg * kRowsPerThread + i;
    if (r >= w.qo_end) continue;
    if (w.partial_o_loc >= 0) {
      const int64_t prow = static_cast<int64_t>(w.partial_o_loc) + (r - w.qo_start);
      float* dst = p.partial_o + (prow * hq + w.head) * kVHeadDim;
#pragma unroll
      for (int j = 0; j < kDimsPerThread; ++j) dst[slot_index(lane, j)] = row_out(acc[i][j], l[i], p.v_scale);
      if (lane == 0) p.partial_lse[prow * hq + w.head] = row_lse_ln(m[i], l[i]);
    } else {
      uint16_t* dst = p.out + (static_cast<int64_t>(r) * hq + w.head) * kVHeadDim;
#pragma unroll
      for (int j = 0; j < kDimsPerThread; ++j) {
        dst[slot_index(lane, j)] = num::bf16_encode(row_out(acc[i][j], l[i], p.v_scale));
      }
    }
  }
}

template <bool kTimed>
__global__ void __launch_bounds__(kThreads) prefill_kernel(PrefillParams p, uint64_t* times) {
  extern __shared__ float smem[];
  for (int c = static_cast<int>(threadIdx.x); c < 256; c += kThreads) {
    smem[kLutOff + c] = num::fp8_decode(static_cast<uint8_t>(c), p.model.encoding);
  }
  // (the first __syncthreads inside prefill_rows publishes the table before any read)
  __syncthreads();
  const float scale_log2 = score_scale_log2(p.softmax_scale, p.q_scale, p.k_scale);
  const int32_t gqa = p.num_heads_q / p.num_heads_k;
  const int32_t tg = static_cast<int32_t>(blockIdx.x);
  const int32_t w_begin = p.work_indptr[tg];
  const int32_t w_end = p.work_indptr[tg + 1];
  if constexpr (kTimed) {
    if (threadIdx.x == 0) times[2 * tg] = global_timer();
  }
  for (int32_t wi = w_begin; wi < w_end; ++wi) {
    const WorkInfo info = p.work_info[wi];
    WorkCtx w{};
    w.qo_start = info.qo_start;
    w.qo_end = info.qo_end;
    w.kv_start = info.kv_start;
    w.kv_end = info.kv_end;
    w.partial_o_loc = info.partial_o_loc;
    const int32_t b = info.batch_idx;
    w.qo_base = p.qo_indptr[b];
    w.qo_len = p.qo_indptr[b + 1] - w.qo_base;
    w.kv_base = p.kv_indptr[b];
    w.kv_len = p.kv_indptr[b + 1] - w.kv_base;
    const int32_t h_lo = info.q_head_range & 0xFFFF;
    const int32_t h_hi = (info.q_head_range >> 16) & 0xFFFF;
    for (int32_t h = h_lo; h < h_hi; ++h) {
      w.head = h;
      w.kv_head = h / gqa;
      for (int32_t r0 = w.qo_start; r0 < w.qo_end;) {
        __syncthreads();  // qs / p tiles of the previous pass are no longer read
        const int32_t left = w.qo_end - r0;
        if (kMaxRowsPerThread >= 4 && left > 2 * kRowGroups) {
          prefill_rows<(kMaxRowsPerThread >= 4 ? 4 : 1)>(p, w, r0, smem, scale_log2);
          r0 += kRowGroups * (kMaxRowsPerThread >= 4 ? 4 : 1);
        } else if (kMaxRowsPerThread >= 2 && left > kRowGroups) {
          prefill_rows<(kMaxRowsPerThread >= 2 ? 2 : 1)>(p, w, r0, smem, scale_log2);
          r0 += kRowGroups * (kMaxRowsPerThread >= 2 ? 2 : 1);
        } else {
          prefill_rows<1>(p, w, r0, smem, scale_log2);
          r0 += kRowGroups;
        }
      }
    }
    if constexpr (kTimed) {
      __syncthreads();  // every thread's writes of this item are issued
      if (threadIdx.x == 0) times[2 * p.num_tg + wi] = global_timer();
    }
  }
  if constexpr (kTimed) {
    __syncthreads();
    if (threadIdx.x == 0) times[2 * tg + 1] = global_timer();
  }
}

template <bool kTimed>
hipError_t launch(const PrefillParams& p, uint64_t* times, hipStream_t stream) {
  if (p.num_tg <= 0) return hipSuccess;
  static bool attr_set = false;
  if (!attr_set) {
    const hipError_t e = hipFuncSetAttribute(reinterpret_cast<const void*>(&prefill_kernel<kTimed>),
                                             hipFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes);
    if (e != hipSuccess) return e;
    attr_set = true;
  }
  hipLaunchKernelGGL(prefill_kernel<kTimed>, dim3(static_cast<unsigned>(p.num_tg)), dim3(kThreads),
                     kSharedBytes, stream, p, times);
  return hipGetLastError();
}

}  // namespace

int prefill_shared_bytes() {
  return kSharedBytes;
}

hipError_t launch_prefill(const PrefillParams& p, hipStream_t stream) {
  return launch<false>(p, nullptr, stream);
}

hipError_t launch_prefill_timed(const PrefillParams& p, uint64_t* times, hipStream_t stream) {
  return launch<true>(p, times, stream);
}

}  // namespace mlaps::gpu
