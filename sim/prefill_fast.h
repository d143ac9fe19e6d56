// The fast prefill, compiled once per instruction set: prefill_generic.cpp, prefill_avx2.cpp and
// prefill_avx512.cpp define MLAPS_ISA (generic, avx2, avx512) and include this file; CMake gives each its
// target flags, and emulate.cpp picks the best unit the CPU supports at run time (sim/emulate.h). Included
// only there, once per unit; everything below has internal linkage but the unit's PrefillUnit.
//
// The same arithmetic as the oracle, reorganised for speed. Query rows sit in SIMD lanes (blocks of kLanes
// rows, kShortLanes for a short last block), so every per-row quantity (dot products, running max, running
// sum, accumulator) is computed by a lane of its own with exactly the reference's sequence of operations:
// vectorisation is across rows (and, for P.V, across the independent output dims d), never across a
// reduction. QK and P.V are blocked like GEMM micro-kernels (accumulators in registers, K/V values
// broadcast); memory is a per-thread workspace of one work item's rows and one decoded KV sub-tile, never a
// score matrix. Masked keys never touch a lane's state (blends, not multiplications by zero), so signed
// zeros and NaN inputs behave as in the reference. Thread groups run in parallel (OpenMP); each writes its
// own rows, so results do not depend on the thread count, nor on the unit (sim/tests/isa_paths_test.cpp).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <numeric>
#include <type_traits>

#include "sim/lanes.h"
#include "sim/model.h"
#include "sim/prefill_units.h"

#ifndef MLAPS_ISA
#error "define MLAPS_ISA (generic, avx2, avx512) before including sim/prefill_fast.h"
#endif
#define MLAPS_CAT2(a, b) a##b
#define MLAPS_CAT(a, b) MLAPS_CAT2(a, b)
#define MLAPS_UNIT_NS MLAPS_CAT(unit_, MLAPS_ISA)

namespace mlaps::detail {
namespace MLAPS_UNIT_NS {
namespace {

// Register blocking, per target. A QK micro-tile keeps L rows x nk keys of fp32 accumulators in vector
// registers (L / W registers per key, W floats per register), with the L rows of Q for one dim d loaded
// (L / W registers) and one broadcast K value; P.V likewise with L rows x db output dims and one broadcast V
// value. All of them have to fit the register file, or the accumulators spill to the stack.
//   AVX-512 (32 zmm, W = 16): L = 32 rows x 8 keys = 16 accumulators + 2 Q + 1 broadcast = 19 of 32; blocks
//     of 9-16 rows 16 x 8 = 8 + 1 + 1. (The 32 x 8 blocking measured at 103% of SGEMM, session 3.) Blocks of
//     <= 8 rows (the 8-token chunks) turn the tiles around instead of padding rows to 16 lanes (rows in ymm
//     lanes ran the FMAs at half the zmm rate): QK puts 16 KEYS in a zmm (K transposed, dims x keys, by the
//     decode) and broadcasts Q[r][d]: 8 rows x 32 keys = 16 accumulators + 2 K + 1 broadcast = 19 of 32;
//     P.V puts 16 output DIMS in a zmm (V as decoded, keys x dims) and broadcasts P[r][k]: 8 rows x 32 dims,
//     the same 19. Each S[r][k] still sums over d in order and each acc[r][d] over k in order; the scores
//     are transposed back to rows-in-lanes (8 x 8 shuffles) for the softmax, whose per-row chains run
//     over keys.
//   AVX2 (16 ymm, W = 8): L = 16 rows x 6 keys = 12 accumulators + 2 Q + 1 broadcast = 15 of 16. Twelve
//     independent FMA chains cover the FMA latency (4 cycles) x throughput (2 per cycle) of Zen 3 and
//     Haswell..Alder Lake; the old 32 x 8 took 32 ymm accumulators and spilled. Blocks of <= 8 rows turn the
//     tiles around as on AVX-512, with the same 32-key K^T forms, in register passes of kKilRegKeys = 8 keys
//     (or dims): 8 rows x 8 keys = 8 accumulators + 1 K + 1 broadcast = 10 of 16, eight chains. Their
//     fp16 forms store half the bytes of fp32 rows and need no multiply: on a Xeon (avx2 path) the decode
//     floor of the seed shape fell from 2.6-2.7x to 1.7-1.8x the fetch and its prefill from 43 to 40 ms. (16
//     keys per pass, 16 accumulators, ran ~5% faster there but leaves no register for K and Q.)
//   generic (SSE2, 16 xmm, W = 4): 8 x 6 and 4 x 12, as AVX2 at half width. Without FMA hardware each fma is
//     a libm call: this unit is the portable fallback, not a fast path.
// A block takes the fewest lanes of kShortLanes, kMidLanes and kLanes that hold its rows (kMidLanes equals
// kLanes where there are two sizes only).
// 128 keys (dims) are not a multiple of 6 or 12: the fp32 sub-tile's key rows and the V columns are padded to
// 132; pad K rows are never scored for a used key and pad V columns are zero and never written out. The
// turned-around tiles keep their own layout (32-key K^T tiles), so they add nothing to the pad.
#if defined(__AVX512F__) || defined(__AVX2__)
#define MLAPS_KEYS_IN_LANES 1
#else
#define MLAPS_KEYS_IN_LANES 0
#endif
constexpr int kKilTile = kF16FormKeyTile;  // keys (QK) or dims (P.V) per micro-tile of the <= 8-row blocks
#if defined(__AVX512F__)
constexpr int kKilRegKeys = kKilTile;  // keys (dims) per register pass of those micro-tiles
#else
constexpr int kKilRegKeys = 8;
#endif
#if defined(__AVX512F__)
constexpr int kLanes = 32, kMidLanes = 16, kShortLanes = 8;
constexpr int keys_per_tile(int lanes) {
  return lanes == kShortLanes ? kKilTile : 8;
}
#elif defined(__AVX2__)
constexpr int kLanes = 16, kMidLanes = kLanes, kShortLanes = 8;
constexpr int keys_per_tile(int lanes) {
  return lanes == kLanes ? 6 : kKilTile;
}
#else
constexpr int kLanes = 8, kMidLanes = kLanes, kShortLanes = 4;
constexpr int keys_per_tile(int lanes) {
  return lanes == kLanes ? 6 : 12;
}
#endif
constexpr int dims_per_tile(int lanes) {
  return keys_per_tile(lanes);
}
constexpr int round_up(int n, int m) {
  return (n + m - 1) / m * m;
}
constexpr int kPad = MLAPS_KEYS_IN_LANES ? std::lcm(keys_per_tile(kLanes), keys_per_tile(kMidLanes))
                                         : std::lcm(std::lcm(keys_per_tile(kLanes), keys_per_tile(kMidLanes)),
                                                    keys_per_tile(kShortLanes));
constexpr int kKeyRows = round_up(kTileKv, kPad);  // K sub-tile rows, scores, P rows
constexpr int kVCols = round_up(kVHeadDim, kPad);  // V sub-tile columns, accumulator rows
static_assert(kPad % keys_per_tile(kLanes) == 0 && kPad % keys_per_tile(kMidLanes) == 0 &&
              (MLAPS_KEYS_IN_LANES || kPad % keys_per_tile(kShortLanes) == 0));

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Lanes of block bi of a work item with `rows` rows: state arrays keep a kLanes stride per block.
inline int block_lanes(int32_t rows, int32_t bi) {
  const int32_t left = rows - bi * kLanes;
  return left <= kShortLanes ? kShortLanes : (left <= kMidLanes ? kMidLanes : kLanes);
}

// A zeroed, 64-byte aligned array (zero pads stay zero; stale rows stay finite).
struct Buffer {
  float* ptr = nullptr;
  Buffer() = default;
  explicit Buffer(size_t n) { reset(n); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { std::free(ptr); }
  void reset(size_t n) {
    std::free(ptr);
    const size_t bytes = ((n * sizeof(float) + 63) / 64) * 64 + 64;
    ptr = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!ptr) throw std::bad_alloc();
    std::memset(static_cast<void*>(ptr), 0, bytes);
  }
  float* get() const { return ptr; }
};

// Keys [next, end) of K/V head hk still to prefetch.
struct KeyRange {
  int32_t next = 0, end = 0, hk = 0;
};

// Per-thread workspace: one work item's rows (Q^T, state) and one KV sub-tile. O(rows x dims), no score
// matrix.
struct Workspace {
  int32_t cap_blocks = 0;
  Buffer qt;               // [blocks][192][kLanes]    decoded Q, transposed
  Buffer acc;              // [blocks][kVCols][kLanes] P.V accumulators
  Buffer m;                // [blocks][kLanes]         running max (log2 units)
  Buffer l;                // [blocks][kLanes]         running sum
  int64_t* lim = nullptr;  // [blocks][kLanes]  last visible key index (into kv_page_indices), inclusive
  Buffer kd{size_t{kKeyRows} * kQkHeadDim};  // [kKeyRows][192]   K sub-tile
  Buffer vd{size_t{kKeyRows} * kVCols};      // [kKeyRows][kVCols] V sub-tile
  Buffer t{size_t{kKeyRows} * kLanes};       // [kKeyRows][kLanes] scores
  Buffer pv{size_t{kKeyRows} * kLanes};      // [kKeyRows][kLanes] rounded P
#if MLAPS_KEYS_IN_LANES
  // fp16 forms (lanes::fp8_f16_form_row): the fp8 values times 2^-8 (fn) or 2^-7 (fnuz), widened to fp32 in
  // the micro-kernels. kdt: [192][32], the 32 keys of one QK micro-tile transposed, made just before that
  // micro-tile reads it (12 KB, so it stays in L1 beside V's forms; one [kKeyRows / 32][192][32] sub-tile of
  // them, 48 KB, did not: 14.4 against 10.6 ns per key for the forms alone, on a Xeon).
  Buffer kdt{size_t{kQkHeadDim} * kKilTile / 2};
  Buffer vdh{size_t{kKeyRows} * kVCols / 2};  // [kKeyRows][kVCols] V sub-tile, for a work of <= 8 rows
  bool v_half = false;                        // this sub-tile's V is in vdh (else in vd, fp32)
  int32_t sub_n = 0, sub_hk = 0;              // the sub-tile's keys to decode [k0, k0 + sub_n), head sub_hk
  Buffer kbt{size_t{kQkHeadDim} * kKilTile / 4};  // [192][32] codes of 32 keys, transposed (bytes)
#endif
  KeyRange ahead;  // the next sub-tile's keys, prefetched during this one's

  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace() {
    std::free(lim);
  }
  void reserve(int32_t blocks) {
    if (blocks <= cap_blocks) return;
    cap_blocks = blocks;
    const size_t b = static_cast<size_t>(blocks);
    qt.reset(b * kQkHeadDim * kLanes);
    acc.reset(b * kVCols * kLanes);
    m.reset(b * kLanes);
    l.reset(b * kLanes);
    std::free(lim);
    lim = static_cast<int64_t*>(std::aligned_alloc(64, ((b * kLanes * sizeof(int64_t) + 63) / 64) * 64));
    if (!lim) throw std::bad_alloc();
  }
};

// S[kb + j][lane] = (sum_d fma over d ascending of Q[lane][d] * K[kb + j][d]) * scale_log2, for j < nk.
// L x nk accumulators stay in registers; K values are broadcast from the row-major sub-tile.
template <int L>
inline void qk_micro(const float* __restrict qt, const float* __restrict kd, int kb, float scale_log2,
                     float* __restrict t) {
  constexpr int kNk = keys_per_tile(L);
  float acc[kNk][L];
  for (int j = 0; j < kNk; ++j)
#pragma omp simd
    for (int x = 0; x < L; ++x) acc[j][x] = 0.0f;
  const float* k0 = kd + kb * kQkHeadDim;
  for (int d = 0; d < kQkHeadDim; ++d) {
    const float* q = qt + d * L;
#pragma GCC unroll 16
    for (int j = 0; j < kNk; ++j) {
      const float kv = k0[j * kQkHeadDim + d];
#pragma omp simd
      for (int x = 0; x < L; ++x) acc[j][x] = std::fma(q[x], kv, acc[j][x]);
    }
  }
  for (int j = 0; j < kNk; ++j)
#pragma omp simd
    for (int x = 0; x < L; ++x) t[(kb + j) * L + x] = acc[j][x] * scale_log2;
}

// acc[d][lane] = fma(pv[k][lane], V[k][d], acc[d][lane]) for k in [0, n_full) ascending, then for k in
// [n_full, n_any) only where key k is visible to the lane (k <= rel[lane]) and the lane is active.
template <int L>
inline void pv_micro(const float* __restrict pv, const float* __restrict vd, int d0, int n_full, int n_any,
                     const int32_t* __restrict rel, const int32_t* __restrict active, float* __restrict acc) {
  constexpr int kDb = dims_per_tile(L);
  float a[kDb][L];
  for (int j = 0; j < kDb; ++j)
#pragma omp simd
    for (int x = 0; x < L; ++x) a[j][x] = acc[(d0 + j) * L + x];
  for (int k = 0; k < n_full; ++k) {
    const float* pk = pv + k * L;
    const float* vk = vd + k * kVCols + d0;
#pragma GCC unroll 16
    for (int j = 0; j < kDb; ++j) {
      const float vv = vk[j];
#pragma omp simd
      for (int x = 0; x < L; ++x) a[j][x] = std::fma(pk[x], vv, a[j][x]);
    }
  }
  for (int k = n_full; k < n_any; ++k) {
    const float* pk = pv + k * L;
    const float* vk = vd + k * kVCols + d0;
    for (int j = 0; j < kDb; ++j) {
      const float vv = vk[j];
#pragma omp simd
      for (int x = 0; x < L; ++x) {
        const float f = std::fma(pk[x], vv, a[j][x]);
        a[j][x] = ((k <= rel[x]) & (active[x] != 0)) ? f : a[j][x];
      }
    }
  }
  for (int j = 0; j < kDb; ++j)
#pragma omp simd
    for (int x = 0; x < L; ++x) acc[(d0 + j) * L + x] = a[j][x];
}

// kN fp8 codes decoded to fp32 by this unit's row decoder (bit-identical to fp8_decode per code).
template <bool kFn, int kN>
[[gnu::always_inline]] inline void decode_codes(const uint8_t* __restrict c, float* __restrict out) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__F16C__)
  lanes::fp8_decode_row_avx512<kFn, kN>(c, out);
#elif defined(__AVX2__) && defined(__F16C__)
  lanes::fp8_decode_row_f16c<kFn, kN>(c, out);
#else
  lanes::fp8_decode_row<kFn, kN>(c, out);
#endif
}

// One K row (192 codes) and one V row (128 codes) decoded to fp32, bit-identical to fp8_decode per code.
template <bool kFn>
inline void decode_kv_row(const uint8_t* __restrict kc, const uint8_t* __restrict vc, float* __restrict kr,
                          float* __restrict vr) {
  decode_codes<kFn, kQkHeadDim>(kc, kr);
  decode_codes<kFn, kVHeadDim>(vc, vr);
}
template <bool kFn>
void decode_kv_row_fn(const uint8_t* kc, const uint8_t* vc, float* kr, float* vr) {
  decode_kv_row<kFn>(kc, vc, kr, vr);
}
#if MLAPS_KEYS_IN_LANES
// One key's rows to the fp16 forms of the <= 8-row blocks (the benchmark floor, the ISA tests).
template <bool kFn>
void form_kv_row_fn(const uint8_t* kc, const uint8_t* vc, uint16_t* kr, uint16_t* vr) {
  lanes::fp8_f16_form_row<kFn, kQkHeadDim>(kc, kr);
  lanes::fp8_f16_form_row<kFn, kVHeadDim>(vc, vr);
}
constexpr KvRowFormFn kFormFn = form_kv_row_fn<true>, kFormFnuz = form_kv_row_fn<false>;
static_assert(kShortLanes == kF16FormMaxRows);  // a work of <= 8 rows is one turned-around block
#else
constexpr KvRowFormFn kFormFn = nullptr, kFormFnuz = nullptr;
#endif

#if MLAPS_KEYS_IN_LANES
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
// GCC 12's avx512fintrin.h reads an uninitialised __Y (GCC bug 105593, as in sim/lanes.h).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// ---- Blocks of <= kShortLanes rows, turned around (keys or dims in lanes; the register arithmetic is at the
// top of this file). Their workspace layouts: Q^T as for every block ([192][8], broadcast per element), K^T
// in tiles of 32 keys ([tile][192][32]), scores and P as for every block ([key][8]), V as decoded
// ([key][kVCols]), accumulators [8][kVCols] (row-major: dims in lanes).

// The 16 x 16 byte transpose of the rows' bytes [d0, d0 + 16 * lanes) within each 128-bit lane (four
// unpack stages: 8, 16, 32, 64 bits), so that register i's lane l holds the 16 rows' byte d0 + 16 l + i;
// lane l of register i goes to out[(d0 + 16 l + i) * stride], 16 bytes. Data movement only.
#if defined(__AVX512BW__)
using ByteVec = __m512i;
[[gnu::always_inline]] inline ByteVec bv_load(const uint8_t* p) {
  return _mm512_loadu_si512(p);
}
[[gnu::always_inline]] inline ByteVec bv_lo8(ByteVec a, ByteVec b) {
  return _mm512_unpacklo_epi8(a, b);
}
[[gnu::always_inline]] inline ByteVec bv_hi8(ByteVec a, ByteVec b) {
  return _mm512_unpackhi_epi8(a, b);
}
[[gnu::always_inline]] inline ByteVec bv_lo16(ByteVec a, ByteVec b) {
  return _mm512_unpacklo_epi16(a, b);
}
[[gnu::always_inline]] inline ByteVec bv_hi16(ByteVec a, ByteVec b) {
  return _mm512_unpackhi_epi16(a, b);
}
[[gnu::always_inline]] inline ByteVec bv_lo32(ByteVec a, ByteVec b) {
  return _mm512_unpacklo_epi32(a, b);
}
[[gnu::always_inline]] inline ByteVec bv_hi32(ByteVec a, ByteVec b) {
  return _mm512_unpackhi_epi32(a, b);
}
[[gnu::always_inline]] inline ByteVec bv_lo64(ByteVec a, ByteVec b) {
  return _mm512_unpacklo_epi64(a, b);
}
[[gnu::always_inline]] inline ByteVec bv_hi64(ByteVec a, ByteVec b) {
  return _mm512_unpackhi_epi64(a, b);
}
[[gnu::always_inline]] inline void bv_store_lanes(ByteVec v, uint8_t* out, int stride) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_castsi512_si128(v));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * stride), _mm512_extracti32x4_epi32(v, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 32 * stride), _mm512_extracti32x4_epi32(v, 2));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 48 * stride), _mm512_extracti32x4_epi32(v, 3));
}
#else
using ByteVec = __m256i;
[[gnu::always_inline]] inline ByteVec bv_load(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
[[gnu::always_inline]] inline ByteVec bv_lo8(ByteVec a, ByteVec b) {
  return _mm256_unpacklo_epi8(a, b);
}
[[gnu::always_inline]] inline ByteVec bv_hi8(ByteVec a, ByteVec b) {
  return _mm256_unpackhi_epi8(a, b);
}
[[gnu::always_inline]] inline ByteVec bv_lo16(ByteVec a, ByteVec b) {
  return _mm256_unpacklo_epi16(a, b);
}
[[gnu::always_inline]] inline ByteVec bv_hi16(ByteVec a, ByteVec b) {
  return _mm256_unpackhi_epi16(a, b);
}
[[gnu::always_inline]] inline ByteVec bv_lo32(ByteVec a, ByteVec b) {
  return _mm256_unpacklo_epi32(a, b);
}
[[gnu::always_inline]] inline ByteVec bv_hi32(ByteVec a, ByteVec b) {
  return _mm256_unpackhi_epi32(a, b);
}
[[gnu::always_inline]] inline ByteVec bv_lo64(ByteVec a, ByteVec b) {
  return _mm256_unpacklo_epi64(a, b);
}
[[gnu::always_inline]] inline ByteVec bv_hi64(ByteVec a, ByteVec b) {
  return _mm256_unpackhi_epi64(a, b);
}
[[gnu::always_inline]] inline void bv_store_lanes(ByteVec v, uint8_t* out, int stride) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(v));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * stride), _mm256_extracti128_si256(v, 1));
}
#endif
constexpr int kByteVecBytes = static_cast<int>(sizeof(ByteVec));

[[gnu::always_inline]] inline void transpose16_bytes(const uint8_t* const* rows, int d0, uint8_t* out,
                                                     int stride) {
  ByteVec r[16], s[16];
  for (int j = 0; j < 16; ++j) r[j] = bv_load(rows[j] + d0);
  for (int q = 0; q < 8; ++q) {  // 16-bit units: (row 2q, row 2q+1) of byte u (lo: u < 8, hi: 8 + u)
    s[2 * q] = bv_lo8(r[2 * q], r[2 * q + 1]);
    s[2 * q + 1] = bv_hi8(r[2 * q], r[2 * q + 1]);
  }
  for (int q = 0; q < 4; ++q)  // r[4q + m]: 32-bit units, rows 4q..4q+3 of bytes 4m..4m+3
    for (int h = 0; h < 2; ++h) {
      r[4 * q + 2 * h] = bv_lo16(s[4 * q + h], s[4 * q + 2 + h]);
      r[4 * q + 2 * h + 1] = bv_hi16(s[4 * q + h], s[4 * q + 2 + h]);
    }
  for (int o = 0; o < 2; ++o)  // s[8o + n]: 64-bit units, rows 8o..8o+7 of bytes 2n, 2n+1
    for (int m = 0; m < 4; ++m) {
      s[8 * o + 2 * m] = bv_lo32(r[8 * o + m], r[8 * o + 4 + m]);
      s[8 * o + 2 * m + 1] = bv_hi32(r[8 * o + m], r[8 * o + 4 + m]);
    }
  for (int n = 0; n < 8; ++n) {  // r[i]: rows 0..15 of byte i
    r[2 * n] = bv_lo64(s[n], s[8 + n]);
    r[2 * n + 1] = bv_hi64(s[n], s[8 + n]);
  }
  for (int i = 0; i < 16; ++i) bv_store_lanes(r[i], out + (d0 + i) * stride, stride);
}

alignas(64) constexpr uint8_t kZeroCodes[kQkHeadDim] = {};  // the K row of a pad key

// S[kb + j][x] = (sum_d fma over d ascending of Q[x][d] * K[kb + j][d]) * scale_log2 for j < 32: per register
// pass 8 rows x kKilRegKeys keys of accumulators (32 on AVX-512, 8 on AVX2), K^T widened from its fp16 forms
// at k0 ([192][32]; two zmm or one ymm per d), Q[x][d] broadcast. The scores are transposed to [key][row]
// through a stack tile, 8 x 8 at a time (24 shuffles per 64 scores).
inline void qk_keys(const float* __restrict qt, const uint16_t* __restrict k0, int kb, float scale_log2,
                    float* __restrict t) {
  constexpr int R = kShortLanes, N = kKilTile, G = kKilRegKeys;
  alignas(64) float s[R][N];
  for (int g = 0; g < N; g += G) {
    float acc[R][G];
    for (int r = 0; r < R; ++r)
#pragma omp simd
      for (int x = 0; x < G; ++x) acc[r][x] = 0.0f;
    alignas(64) float kk[G];
    for (int d = 0; d < kQkHeadDim; ++d) {
      lanes::f16_widen<G>(k0 + d * N + g, kk);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const float q = qt[d * R + r];
#pragma omp simd
        for (int x = 0; x < G; ++x) acc[r][x] = std::fma(q, kk[x], acc[r][x]);
      }
    }
    for (int r = 0; r < R; ++r)
#pragma omp simd
      for (int x = 0; x < G; ++x) s[r][g + x] = acc[r][x] * scale_log2;
  }
  for (int j0 = 0; j0 < N; j0 += 8) {
    __m256 a[8], u[8];
    for (int r = 0; r < 8; ++r) a[r] = _mm256_load_ps(&s[r][j0]);
    for (int h = 0; h < 2; ++h) {  // u[4h + c] lane l: rows 4h..4h+3 of key j0 + 4l + c
      const __m256 t0 = _mm256_unpacklo_ps(a[4 * h], a[4 * h + 1]),
                   t1 = _mm256_unpackhi_ps(a[4 * h], a[4 * h + 1]);
      const __m256 t2 = _mm256_unpacklo_ps(a[4 * h + 2], a[4 * h + 3]),
                   t3 = _mm256_unpackhi_ps(a[4 * h + 2], a[4 * h + 3]);
      u[4 * h + 0] = _mm256_shuffle_ps(t0, t2, 0x44);
      u[4 * h + 1] = _mm256_shuffle_ps(t0, t2, 0xEE);
      u[4 * h + 2] = _mm256_shuffle_ps(t1, t3, 0x44);
      u[4 * h + 3] = _mm256_shuffle_ps(t1, t3, 0xEE);
    }
    float* o = t + (kb + j0) * R;
    for (int c = 0; c < 4; ++c) {
      _mm256_store_ps(o + c * R, _mm256_permute2f128_ps(u[c], u[4 + c], 0x20));
      _mm256_store_ps(o + (4 + c) * R, _mm256_permute2f128_ps(u[c], u[4 + c], 0x31));
    }
  }
}

// acc[x][d0 + j] = fma(pv[k][x], V[k][d0 + j], acc[x][d0 + j]) for j < 32, k in [0, n_full) ascending, then
// for k in [n_full, n_any) where key k is visible to row x (k <= rel[x]) and the row is active: per register
// pass 8 rows x kKilRegKeys dims of accumulators, V loaded or widened from fp16 forms, P broadcast.
template <typename V>
inline void pv_dims(const float* __restrict pv, const V* __restrict vd, int d0, int n_full, int n_any,
                    const int32_t* __restrict rel, const int32_t* __restrict active, float* __restrict acc) {
  constexpr int R = kShortLanes, N = kKilTile, G = kKilRegKeys;
  alignas(64) float vw[G];
  for (int g = d0; g < d0 + N; g += G) {
    // V's row k, dims [g, g + G), as fp32: widened from the fp16 forms, or the fp32 sub-tile itself.
    auto vrow = [&](int k) -> const float* {
      if constexpr (std::is_same_v<V, uint16_t>) {
        lanes::f16_widen<G>(vd + k * kVCols + g, vw);
        return vw;
      } else {
        return vd + k * kVCols + g;
      }
    };
    float a[R][G];
    for (int r = 0; r < R; ++r)
#pragma omp simd
      for (int x = 0; x < G; ++x) a[r][x] = acc[r * kVCols + g + x];
    for (int k = 0; k < n_full; ++k) {
      const float* vk = vrow(k);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const float p = pv[k * R + r];
#pragma omp simd
        for (int x = 0; x < G; ++x) a[r][x] = std::fma(p, vk[x], a[r][x]);
      }
    }
    for (int k = n_full; k < n_any; ++k) {
      const float* vk = vrow(k);
      for (int r = 0; r < R; ++r) {
        if (k > rel[r] || active[r] == 0) continue;
        const float p = pv[k * R + r];
#pragma omp simd
        for (int x = 0; x < G; ++x) a[r][x] = std::fma(p, vk[x], a[r][x]);
      }
    }
    for (int r = 0; r < R; ++r)
#pragma omp simd
      for (int x = 0; x < G; ++x) acc[r * kVCols + g + x] = a[r][x];
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // MLAPS_KEYS_IN_LANES

class FastPrefill {
 public:
  explicit FastPrefill(const PrefillParams& p) : p_(p) { prefill_constants(p, lut_, &scale_log2_); }

  void run_work(const WorkInfo& w, Workspace& ws) const {
    if (w.qo_end <= w.qo_start) return;
    for (int32_t h = w.q_head_lo(); h < w.q_head_hi(); ++h) run_work_head(w, h, ws);
  }

 private:
  // K and V rows of key k (head hk) toward L1 (or L2: kLocality, as lanes::prefetch_bytes), ahead of their
  // decode.
  template <int kLocality = 3>
  [[gnu::always_inline]] inline void prefetch_key(int32_t k, int32_t hk) const {
    const int64_t page = p_.kv_page_indices[k];
    lanes::prefetch_bytes<kQkHeadDim, kLocality>(p_.k + (page * p_.num_heads_k + hk) * kQkHeadDim);
    lanes::prefetch_bytes<kVHeadDim, kLocality>(p_.v + (page * p_.num_heads_k + hk) * kVHeadDim);
  }

  void run_work_head(const WorkInfo& w, int32_t h, Workspace& ws) const {
    const SeqInfo s = seq_info(p_, w.batch_idx);
    const int32_t hk = h / (p_.num_heads_q / p_.num_heads_k);
    const int32_t rows = w.qo_end - w.qo_start;
    const int32_t nb = (rows + kLanes - 1) / kLanes;
    ws.reserve(nb);

    // Q^T, state, and each lane's last visible key. Pad lanes repeat the last row, so they never force the
    // masked path; their results are discarded.
    int64_t lim_max = std::numeric_limits<int64_t>::min();
    for (int32_t bi = 0; bi < nb; ++bi) {
      const int lb = block_lanes(rows, bi);
      float* qt = ws.qt.get() + size_t(bi) * kQkHeadDim * kLanes;
      for (int x = 0; x < lb; ++x) {
        const int32_t r = w.qo_start + std::min(bi * kLanes + x, rows - 1);
        const uint8_t* q = p_.q + (int64_t{r} * p_.num_heads_q + h) * kQkHeadDim;
        // A turned-around block reads K^T in fp16 forms (the values times 2^-f16_shift): its Q carries
        // 2^f16_shift (exact; |Q| <= 448), so every product is the model's.
        const float qs = (MLAPS_KEYS_IN_LANES && lb == kShortLanes) ? f16_rebias() : 1.0f;
        for (int d = 0; d < kQkHeadDim; ++d) qt[d * lb + x] = lut_[q[d]] * qs;
        const int64_t i = r - s.row0;
        // visible(k) iff !causal || (k - kv0) <= i + kv_len - qo_len
        const int64_t lim =
            p_.causal ? int64_t{s.kv0} + i + s.kv_len - s.qo_len : std::numeric_limits<int32_t>::max();
        ws.lim[size_t(bi) * kLanes + x] = lim;
        lim_max = std::max(lim_max, lim);
        ws.m.get()[size_t(bi) * kLanes + x] = kNegInf;
        ws.l.get()[size_t(bi) * kLanes + x] = 0.0f;
      }
      float* acc = ws.acc.get() + size_t(bi) * kVCols * kLanes;
      std::memset(static_cast<void*>(acc), 0, sizeof(float) * kVCols * kLanes);
    }

    for (int32_t k0 = w.kv_start; k0 < w.kv_end; k0 += kTileKv) {
      const int32_t nk = std::min(kTileKv, w.kv_end - k0);
      // Keys visible to some row of the work: [k0, k0 + n_dec).
      const int32_t n_dec = static_cast<int32_t>(std::clamp<int64_t>(lim_max - k0 + 1, 0, nk));
      // The next sub-tile's K/V rows are prefetched while this one computes (the micro-tiles step it), so
      // its decode finds them in cache: decode and arithmetic no longer take turns on the memory system.
      const int32_t k1 = k0 + kTileKv;
      ws.ahead = {k1,
                  k1 + static_cast<int32_t>(std::clamp<int64_t>(
                           lim_max - k1 + 1, 0, std::max(0, std::min(kTileKv, w.kv_end - k1)))),
                  hk};
      if (p_.model.encoding == num::Fp8Encoding::kE4M3FN) {
        decode_subtile<true>(k0, n_dec, hk, rows, ws);
      } else {
        decode_subtile<false>(k0, n_dec, hk, rows, ws);
      }
      for (int32_t bi = 0; bi < nb; ++bi) {
        const int lb = block_lanes(rows, bi);
        if (lb == kLanes) {
          block_subtile<kLanes>(bi, k0, nk, ws);
        } else if (lb == kMidLanes) {
          block_subtile<kMidLanes>(bi, k0, nk, ws);
        } else {
          block_subtile<kShortLanes>(bi, k0, nk, ws);
        }
      }
    }

    for (int32_t bi = 0; bi < nb; ++bi) {
      const int lb = block_lanes(rows, bi);
      float* acc = ws.acc.get() + size_t(bi) * kVCols * kLanes;
      const float* l = ws.l.get() + size_t(bi) * kLanes;
      // row_out per lane, in place, vectorised across lanes: (acc / l) * v_scale, or the empty-row O where
      // row_is_empty(l) (the quotient is computed unconditionally so that the select vectorises).
      const float v_scale = p_.v_scale;
#if MLAPS_KEYS_IN_LANES
      if (lb == kShortLanes) {  // accumulators [row][kVCols]
        for (int x = 0; x < lb; ++x) {
          float* a = acc + x * kVCols;
          const float lx = l[x];
#pragma omp simd
          for (int d = 0; d < kVHeadDim; ++d) {
            const float q = (a[d] / lx) * v_scale;
            a[d] = row_is_empty(lx) ? empty_row_o() : q;
          }
        }
        for (int x = 0; x < lb && bi * kLanes + x < rows; ++x)
          finish_row(p_, w, w.qo_start + bi * kLanes + x, h, acc + x * kVCols, 1,
                     ws.m.get()[size_t(bi) * kLanes + x], l[x]);
        continue;
      }
#endif
      for (int d = 0; d < kVHeadDim; ++d) {
        float* a = acc + d * lb;
#pragma omp simd
        for (int x = 0; x < lb; ++x) {
          const float q = (a[x] / l[x]) * v_scale;
          a[x] = row_is_empty(l[x]) ? empty_row_o() : q;
        }
      }
      for (int x = 0; x < lb && bi * kLanes + x < rows; ++x)
        finish_row(p_, w, w.qo_start + bi * kLanes + x, h, acc + x, lb, ws.m.get()[size_t(bi) * kLanes + x],
                   l[x]);
    }
  }

  // The sub-tile's K/V rows [k0, k0 + n) as the work's blocks read them: K and V row-major (fp32) for blocks
  // of more than kShortLanes rows here; a turned-around block of <= kShortLanes rows makes its K^T (and, when
  // it is the work's only block, V in fp16 forms) per QK micro-tile (decode_kv_t), from the keys noted here.
  template <bool kFn>
  void decode_subtile(int32_t k0, int32_t n, int32_t hk, int32_t rows, Workspace& ws) const {
#if MLAPS_KEYS_IN_LANES
    const bool long_block = rows > kShortLanes;
    if (long_block) decode_kv<kFn>(k0, n, hk, ws);
    ws.v_half = !long_block;
    ws.sub_n = n;
    ws.sub_hk = hk;
#else
    (void)rows;
    decode_kv<kFn>(k0, n, hk, ws);
#endif
  }

#if MLAPS_KEYS_IN_LANES
  // K^T of the keys [k0 + t0, k0 + t0 + 32) of the sub-tile from k0: the codes transposed to [192][32] bytes
  // (pad keys, from n on, read a zero row), then turned into fp16 forms as one row of 6144 codes, the
  // micro-tile's [192][32] in kdt. With v_half, the same keys' V rows too (row-major fp16 forms, at their
  // place in the sub-tile's vdh).
  template <bool kFn>
  void decode_kv_t(int32_t k0, int32_t t0, Workspace& ws) const {
    const int32_t n = ws.sub_n, hk = ws.sub_hk;
    uint16_t* vdh = reinterpret_cast<uint16_t*>(ws.vdh.get());
    uint8_t* tb = reinterpret_cast<uint8_t*>(ws.kbt.get());
    const int32_t te = std::min(n, t0 + kKilTile);
    const uint8_t* krow[kKilTile];
    for (int32_t j = t0; j < te; ++j) {
      if (j + lanes::kKvPrefetchAhead < n) prefetch_key(k0 + j + lanes::kKvPrefetchAhead, hk);
      const int64_t page = p_.kv_page_indices[k0 + j];
      krow[j - t0] = p_.k + (page * p_.num_heads_k + hk) * kQkHeadDim;
      if (ws.v_half)
        lanes::fp8_f16_form_row<kFn, kVHeadDim>(p_.v + (page * p_.num_heads_k + hk) * kVHeadDim,
                                                vdh + j * kVCols);
    }
    for (int32_t j = te; j < t0 + kKilTile; ++j) krow[j - t0] = kZeroCodes;
    for (int g = 0; g < kKilTile / 16; ++g)
      for (int d0 = 0; d0 < kQkHeadDim; d0 += kByteVecBytes)
        transpose16_bytes(krow + 16 * g, d0, tb + 16 * g, kKilTile);
    lanes::fp8_f16_form_row<kFn, kQkHeadDim * kKilTile>(tb, reinterpret_cast<uint16_t*>(ws.kdt.get()));
  }
#endif

  template <bool kFn>
  void decode_kv(int32_t k0, int32_t n, int32_t hk, Workspace& ws) const {
    float* kd = ws.kd.get();
    float* vd = ws.vd.get();
    // Without the prefetch the decode waits on every scattered row (2x on the 8-row shapes, bench/README).
    for (int32_t j = 0; j < n; ++j) {
      if (j + lanes::kKvPrefetchAhead < n) prefetch_key(k0 + j + lanes::kKvPrefetchAhead, hk);
      const int64_t page = p_.kv_page_indices[k0 + j];
      decode_kv_row<kFn>(p_.k + (page * p_.num_heads_k + hk) * kQkHeadDim,
                         p_.v + (page * p_.num_heads_k + hk) * kVHeadDim, kd + j * kQkHeadDim,
                         vd + j * kVCols);
    }
  }

  // A share of the next sub-tile's keys, prefetched after each micro-tile: all of them within one block's
  // micro-tiles (QK and P.V) of a full sub-tile.
  template <int L>
  [[gnu::always_inline]] inline void prefetch_ahead(KeyRange& r) const {
    constexpr int kTiles = kKeyRows / keys_per_tile(L) + kVCols / dims_per_tile(L);
    constexpr int kPerTile = (kTileKv + kTiles - 1) / kTiles;
    // Into L2 (prefetcht2) for the turned-around <= 8-row blocks on AVX-512: a burst of them into L1
    // (prefetcht0) waits for L1 fill buffers (perf put ~45% of block_subtile<8>'s samples on those
    // prefetches); the decode's own prefetch, kKvPrefetchAhead keys ahead, brings the rows on to L1.
    // Measured: seed 1 thread 38.4-39.1 -> 35.8-37.1 ms, interleaved A/B on a 2-core AVX-512 Xeon; long
    // context unchanged, so other blocks keep prefetcht0.
    constexpr int kLocality = (MLAPS_KEYS_IN_LANES && L == kShortLanes) ? 1 : 3;
    for (int i = 0; i < kPerTile && r.next < r.end; ++i) prefetch_key<kLocality>(r.next++, r.hk);
  }

  // One block of L rows (L = kLanes, or kMidLanes / kShortLanes for a short last block) against one KV
  // sub-tile [k0, k0 + nk): the model's sub-tile step, per lane.
  template <int L>
  void block_subtile(int32_t bi, int32_t k0, int32_t nk, Workspace& ws) const {
    float* m = ws.m.get() + size_t(bi) * kLanes;
    float* l = ws.l.get() + size_t(bi) * kLanes;
    float* acc = ws.acc.get() + size_t(bi) * kVCols * kLanes;
    const int64_t* lim = ws.lim + size_t(bi) * kLanes;
    // rel[x]: the lane's last visible key relative to k0 (clamped); keys [0, n_all) are visible to every
    // lane, [0, n_any) to some lane.
    alignas(64) int32_t rel[L];
    int64_t rmin = std::numeric_limits<int64_t>::max(), rmax = std::numeric_limits<int64_t>::min();
    for (int x = 0; x < L; ++x) {
      const int64_t rr = std::clamp<int64_t>(lim[x] - k0, -1, kTileKv);
      rel[x] = static_cast<int32_t>(rr);
      rmin = std::min(rmin, rr);
      rmax = std::max(rmax, rr);
    }
    const int32_t n_all = static_cast<int32_t>(std::clamp<int64_t>(rmin + 1, 0, nk));
    const int32_t n_any = static_cast<int32_t>(std::clamp<int64_t>(rmax + 1, 0, nk));

    // Scores for keys [0, n_any), micro-tiles of keys_per_tile(L) keys (a partial last micro-tile computes
    // ignored keys from stale or pad rows of the workspace).
    float* t = ws.t.get();
    const float* qt = ws.qt.get() + size_t(bi) * kQkHeadDim * kLanes;
    for (int kb = 0; kb < n_any; kb += keys_per_tile(L)) {
#if MLAPS_KEYS_IN_LANES
      if constexpr (L == kShortLanes) {
        if (p_.model.encoding == num::Fp8Encoding::kE4M3FN) {
          decode_kv_t<true>(k0, kb, ws);
        } else {
          decode_kv_t<false>(k0, kb, ws);
        }
        qk_keys(qt, reinterpret_cast<const uint16_t*>(ws.kdt.get()), kb, scale_log2_, t);
      } else {
        qk_micro<L>(qt, ws.kd.get(), kb, scale_log2_, t);
      }
#else
      qk_micro<L>(qt, ws.kd.get(), kb, scale_log2_, t);
#endif
      prefetch_ahead<L>(ws.ahead);
    }
    for (int k = n_all; k < n_any; ++k)
#pragma omp simd
      for (int x = 0; x < L; ++x) {
        const float tv = t[k * L + x];
        t[k * L + x] = k <= rel[x] ? tv : kNegInf;
      }

    // Running max, key order per lane (invisible keys are -inf and never win; NaN never wins).
    alignas(64) float m_new[L];
#pragma omp simd
    for (int x = 0; x < L; ++x) m_new[x] = m[x];
    for (int k = 0; k < n_any; ++k)
#pragma omp simd
      for (int x = 0; x < L; ++x) m_new[x] = running_max(m_new[x], t[k * L + x]);

    // A lane whose m_new is -inf saw nothing yet: the reference skips the sub-tile for it (alpha 1, no
    // keys).
    alignas(64) int32_t active[L];
    alignas(64) float alpha[L];
    int32_t n_active = 0, n_rescale = 0;
#pragma omp simd reduction(+ : n_active, n_rescale)
    for (int x = 0; x < L; ++x) {
      active[x] = static_cast<int32_t>(m_new[x] != kNegInf);
      alpha[x] = lanes::select_lane(active[x] != 0, lanes::exp2_lane(m[x] - m_new[x]), 1.0f);
      n_active += active[x];
      n_rescale += static_cast<int32_t>(std::bit_cast<uint32_t>(alpha[x]) != 0x3F800000u);
    }
    const bool all_active = n_active == L, any_rescale = n_rescale > 0;
    if (any_rescale) {
#pragma omp simd
      for (int x = 0; x < L; ++x) l[x] = l[x] * alpha[x];
#if MLAPS_KEYS_IN_LANES
      if constexpr (L == kShortLanes) {  // accumulators [row][kVCols]
        for (int x = 0; x < L; ++x) {
          const float ax = alpha[x];
#pragma omp simd
          for (int d = 0; d < kVHeadDim; ++d) acc[x * kVCols + d] = acc[x * kVCols + d] * ax;
        }
      } else {
        for (int d = 0; d < kVHeadDim; ++d)
#pragma omp simd
          for (int x = 0; x < L; ++x) acc[d * L + x] = acc[d * L + x] * alpha[x];
      }
#else
      for (int d = 0; d < kVHeadDim; ++d)
#pragma omp simd
        for (int x = 0; x < L; ++x) acc[d * L + x] = acc[d * L + x] * alpha[x];
#endif
    }

    // P, the running sum (unrounded P, key order per lane) and the rounded P for P.V.
    const int32_t n_full = all_active ? n_all : 0;
    float* pv = ws.pv.get();
    alignas(64) float lsum[L];
#pragma omp simd
    for (int x = 0; x < L; ++x) lsum[x] = l[x];
    const bool fn = p_.model.encoding == num::Fp8Encoding::kE4M3FN;
    for (int k = 0; k < n_any; ++k) {
      float* pk = pv + k * L;
      const float* tk = t + k * L;
      if (k < n_full) {
#pragma omp simd
        for (int x = 0; x < L; ++x) {
          const float e = lanes::exp2_lane(tk[x] - m_new[x]);
          lsum[x] = lsum[x] + e;
          pk[x] = e;
        }
      } else {
#pragma omp simd
        for (int x = 0; x < L; ++x) {
          const float e = lanes::exp2_lane(tk[x] - m_new[x]);
          const bool c = (k <= rel[x]) & (active[x] != 0);
          lsum[x] = lanes::select_lane(c, lsum[x] + e, lsum[x]);  // the sum computed unconditionally
          pk[x] = e;
        }
      }
      if (p_.model.round_p_fp8) {
        if (fn) {
#pragma omp simd
          for (int x = 0; x < L; ++x) pk[x] = lanes::round_p_lane<true>(pk[x]);
        } else {
#pragma omp simd
          for (int x = 0; x < L; ++x) pk[x] = lanes::round_p_lane<false>(pk[x]);
        }
      }
      // V in fp16 forms: P for P.V carries their 2^f16_shift (exact: P is in [0, 1] or NaN).
#if MLAPS_KEYS_IN_LANES
      if (L == kShortLanes && ws.v_half) {
        const float ps = f16_rebias();
#pragma omp simd
        for (int x = 0; x < L; ++x) pk[x] = pk[x] * ps;
      }
#endif
    }
#pragma omp simd
    for (int x = 0; x < L; ++x) l[x] = lsum[x];

#if MLAPS_KEYS_IN_LANES
    if constexpr (L == kShortLanes) {
      for (int d0 = 0; d0 < kVHeadDim; d0 += kKilTile) {
        if (ws.v_half) {
          pv_dims(pv, reinterpret_cast<const uint16_t*>(ws.vdh.get()), d0, n_full, n_any, rel, active, acc);
        } else {
          pv_dims(pv, ws.vd.get(), d0, n_full, n_any, rel, active, acc);
        }
        prefetch_ahead<L>(ws.ahead);
      }
    } else {
      for (int d0 = 0; d0 < kVCols; d0 += dims_per_tile(L)) {
        pv_micro<L>(pv, ws.vd.get(), d0, n_full, n_any, rel, active, acc);
        prefetch_ahead<L>(ws.ahead);
      }
    }
#else
    for (int d0 = 0; d0 < kVCols; d0 += dims_per_tile(L)) {
      pv_micro<L>(pv, ws.vd.get(), d0, n_full, n_any, rel, active, acc);
      prefetch_ahead<L>(ws.ahead);
    }
#endif

#pragma omp simd
    for (int x = 0; x < L; ++x) m[x] = active[x] != 0 ? m_new[x] : m[x];
  }

  // The power of two between an fp16 form and its fp8 value (lanes::kF16FormScale).
  float f16_rebias() const {
    return p_.model.encoding == num::Fp8Encoding::kE4M3FN ? lanes::kF16FormScale<true>
                                                          : lanes::kF16FormScale<false>;
  }

  const PrefillParams& p_;
  float lut_[256];
  float scale_log2_ = 0.0f;
};

void prefill(const PrefillParams& p, int nt, ProgressFn progress, void* progress_ctx) {
  const FastPrefill fp(p);
  const int64_t total = p.work_indptr[p.num_tg];
  std::atomic<int64_t> done{0};
#pragma omp parallel num_threads(nt)
  {
    Workspace ws;
#pragma omp for schedule(dynamic, 1)
    for (int32_t tg = 0; tg < p.num_tg; ++tg) {
      for (int32_t wi = p.work_indptr[tg]; wi < p.work_indptr[tg + 1]; ++wi) fp.run_work(p.work_info[wi], ws);
      const int64_t n = done.fetch_add(p.work_indptr[tg + 1] - p.work_indptr[tg]) +
                        (p.work_indptr[tg + 1] - p.work_indptr[tg]);
      if (progress && omp_get_thread_num() == 0) progress(n, total, progress_ctx);
    }
  }
  if (progress) progress(total, total, progress_ctx);
}

}  // namespace
}  // namespace MLAPS_UNIT_NS

const PrefillUnit MLAPS_CAT(kUnit_, MLAPS_ISA) = {
    MLAPS_UNIT_NS::prefill, MLAPS_UNIT_NS::decode_kv_row_fn<true>, MLAPS_UNIT_NS::decode_kv_row_fn<false>,
    MLAPS_UNIT_NS::kFormFn, MLAPS_UNIT_NS::kFormFnuz};

}  // namespace mlaps::detail
