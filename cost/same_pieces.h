#pragma once
// Internal to cost/ (model.cpp and cost/tests): whether two ranges of work items hold the same pieces, the
// test behind evaluate()'s cluster memo. Two forms of one compare: item by item (32-byte vectors, any ISA)
// and as words in aligned 64-byte vectors (the AVX-512 build's form where the ranges allow it); the test
// runs both on every host.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "scheduler/work_info.h"

namespace mlaps::cost::detail {

// The first item's field differences a[0] - b[0] and the verdict's first terms: fields 0-6 must not differ
// (any), and a range whose q_head_range widths differ is unequal (false).
struct RangeStart {
  uint32_t d0[8];
  bool widths_equal;
};
inline RangeStart range_start(const WorkInfo* a, const WorkInfo* b) {
  static_assert(sizeof(WorkInfo) == 8 * sizeof(uint32_t));
  RangeStart r;
  uint32_t x[8], y[8];
  std::memcpy(x, a, sizeof x);
  std::memcpy(y, b, sizeof y);
  for (int k = 0; k < 8; ++k) r.d0[k] = x[k] - y[k];
  r.widths_equal = a[0].q_head_hi() - a[0].q_head_lo() == b[0].q_head_hi() - b[0].q_head_lo();
  return r;
}

// The compare, as same_pieces() states it below, item by item: one 32-byte vector per item.
inline bool same_pieces_items(const WorkInfo* a, const WorkInfo* b, int32_t n, int32_t check_b) {
  if (n == 0) return true;
  const RangeStart r = range_start(a, b);
  if (!r.widths_equal) return false;
  using V = uint32_t __attribute__((vector_size(32)));  // GCC/Clang vector extension: one AVX2 register
  static_assert(sizeof(V) == sizeof(WorkInfo));
  V d0;
  std::memcpy(&d0, r.d0, sizeof d0);
  V diff = {}, bits = {};
  const int32_t m = std::clamp(check_b, 0, n);
  for (int32_t i = 0; i < m; ++i) {
    V x, y;
    std::memcpy(&x, a + i, sizeof x);
    std::memcpy(&y, b + i, sizeof y);
    diff |= (x - y) ^ d0;
    bits |= x | y;
  }
#pragma GCC unroll 4
  for (int32_t i = m; i < n; ++i) {
    V x, y;
    std::memcpy(&x, a + i, sizeof x);
    std::memcpy(&y, b + i, sizeof y);
    diff |= (x - y) ^ d0;
    bits |= x;
  }
  uint32_t any = bits[7] & 0x80008000u;  // a lo or hi >= 2^15: not decided here
  for (int k = 0; k < 7; ++k) any |= d0[k];
  for (int k = 0; k < 8; ++k) any |= diff[k];
  return any == 0;
}

// The same compare as uint32 words in aligned 64-byte vectors, two items each; a and b must sit at the same
// offset from a 64-byte boundary (words64_applies). Word j of a vector is field (j + head) % 8 of some item,
// head being the words before the first boundary, so a - b is compared with d0 rotated by head; those words
// and the ones after the last pair of vectors are compared one by one. b's field-7 words beyond check_b may
// be or'ed into the lo/hi bound too: that can only make a range compare unequal, never equal. Why: a plan's
// work_info from malloc sits 16 bytes off a cache line, so the item form's 32-byte loads split a line every
// second item; on the Xeon (AVX-512) the item form ran at 1.4-1.8x a plain read of the same bytes and this
// one at or below it (0.54-0.68x the item form). On the AMD box (AVX2) this form measured 5-8% slower than
// the item form, which that build keeps.
inline bool words64_applies(const WorkInfo* a, const WorkInfo* b) {
  return reinterpret_cast<uintptr_t>(a) % 64 == reinterpret_cast<uintptr_t>(b) % 64;
}
inline bool same_pieces_words64(const WorkInfo* a, const WorkInfo* b, int32_t n, int32_t check_b) {
  if (n == 0) return true;
  const RangeStart r = range_start(a, b);
  if (!r.widths_equal) return false;
  typedef uint32_t V __attribute__((vector_size(64), may_alias));  // may alias the items' int32 fields
  constexpr int64_t kW = 16;                                       // words per vector
  const auto* x = reinterpret_cast<const unsigned char*>(a);
  const auto* y = reinterpret_cast<const unsigned char*>(b);
  const int64_t total = int64_t{n} * 8, y_words = int64_t{std::clamp(check_b, 0, n)} * 8;
  uint32_t any = 0, bits = 0;  // bits: the field-7 words checked, or'ed
  for (int k = 0; k < 7; ++k) any |= r.d0[k];
  auto one_word = [&](int64_t i) {
    uint32_t xi, yi;
    std::memcpy(&xi, x + i * 4, 4);
    std::memcpy(&yi, y + i * 4, 4);
    any |= (xi - yi) ^ r.d0[i % 8];
    if (i % 8 == 7) bits |= xi | (i < y_words ? yi : 0u);
  };
  const uintptr_t off = reinterpret_cast<uintptr_t>(x) % 64;
  const int64_t head = std::min<int64_t>(total, static_cast<int64_t>((64 - off) % 64) / 4);
  int64_t i = 0;
  for (; i < head; ++i) one_word(i);
  V rot, f7;  // d0 rotated to the vectors' phase; the words that are field 7
  for (int64_t j = 0; j < kW; ++j) {
    rot[j] = r.d0[(head + j) % 8];
    f7[j] = (head + j) % 8 == 7 ? ~0u : 0u;
  }
  V diff[2] = {}, seen[2] = {};  // two chains
  auto vectors = [&](int64_t end, auto with_y) {
    for (; i + 2 * kW <= end; i += 2 * kW) {
      const V* xp = static_cast<const V*>(__builtin_assume_aligned(x + i * 4, 64));
      const V* yp = static_cast<const V*>(__builtin_assume_aligned(y + i * 4, 64));
      V x0 = xp[0], x1 = xp[1], y0 = yp[0], y1 = yp[1];
#if defined(__AVX512F__)  // each loaded once: without the empty asm GCC 12 loads x again for `seen`
      __asm__("" : "+v"(x0), "+v"(x1), "+v"(y0), "+v"(y1));
#endif
      diff[0] |= (x0 - y0) ^ rot;
      diff[1] |= (x1 - y1) ^ rot;
      if constexpr (decltype(with_y)::value) {
        seen[0] |= x0 | y0;
        seen[1] |= x1 | y1;
      } else {
        seen[0] |= x0;
        seen[1] |= x1;
      }
    }
  };
  // The vectors that hold any of b's first y_words or y in too, the later ones x only.
  vectors(std::min(total, y_words + 2 * kW - 1), std::true_type{});
  vectors(total, std::false_type{});
  for (; i < total; ++i) one_word(i);
  const V dv = diff[0] | diff[1], sv = (seen[0] | seen[1]) & f7;
  for (int64_t j = 0; j < kW; ++j) {
    any |= dv[j];
    bits |= sv[j];
  }
  return (any | (bits & 0x80008000u)) == 0;  // a lo or hi >= 2^15: not decided here
}

// Whether ranges a[0, n) and b[0, n) hold the same pieces: every field but q_head_range equal and
// q_head_range's hi - lo equal (the number of heads, item_heads()), item by item; more than the cost needs,
// so equal pieces always cost the same. Branch-free over the items: they are 8 x uint32 (work_info.h), and a
// - b must equal a[0] - b[0] in every field. Fields 0-6 thus equal; in field 7 (lo | hi << 16) the difference
// is (lo_a - lo_b) + 2^16 (hi_a - hi_b) (mod 2^32), and with every lo and hi below 2^15 (checked) equal
// differences mean equal (lo_a - lo_b, hi_a - hi_b) pairs, so item i's widths agree when item 0's do (checked
// directly). Any other range compares unequal and is recomputed. The lo/hi bound is checked on all of a and
// on b[0, check_b): a caller whose b[check_b, n) lies inside a passes less (the common case, b = work_info
// and a = b + shift: only b's first shift items are not a's). The AVX-512 build compares ranges at the same
// offset from a 64-byte boundary (in one work_info: an even number of items apart) as words.
inline bool same_pieces(const WorkInfo* a, const WorkInfo* b, int32_t n, int32_t check_b) {
#if defined(__AVX512F__)
  if (words64_applies(a, b)) return same_pieces_words64(a, b, n, check_b);
#endif
  return same_pieces_items(a, b, n, check_b);
}

}  // namespace mlaps::cost::detail
