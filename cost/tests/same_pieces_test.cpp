// The cluster memo's range compare (cost/same_pieces.h): its item form and its 64-byte word form (the AVX-512
// build's) agree with the definition on every start offset from a 64-byte boundary, for equal ranges and for
// a change of one field of any item, on any host (the word form compiles to narrower vectors elsewhere).
#include "cost/same_pieces.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <random>

namespace mlaps::cost::detail {
namespace {

// n items at 4-byte offset `off` from a 64-byte boundary (malloc'd storage: implicit-lifetime objects).
struct Items {
  void* raw = nullptr;
  WorkInfo* w = nullptr;
  Items(int32_t n, size_t off) {
    raw = std::aligned_alloc(64, ((static_cast<size_t>(n) * sizeof(WorkInfo) + off + 63) / 64 + 1) * 64);
    w = reinterpret_cast<WorkInfo*>(static_cast<unsigned char*>(raw) + off);
  }
  Items(const Items&) = delete;
  Items& operator=(const Items&) = delete;
  ~Items() { std::free(raw); }
};

int32_t field(const WorkInfo& w, int f) {
  int32_t v;
  std::memcpy(&v, reinterpret_cast<const unsigned char*>(&w) + 4 * f, 4);
  return v;
}
void set_field(WorkInfo& w, int f, int32_t v) {
  std::memcpy(reinterpret_cast<unsigned char*>(&w) + 4 * f, &v, 4);
}

// The definition, field by field: a[i] - b[i] == a[0] - b[0] in every field, fields 0-6 of a[0] and b[0]
// equal, the widths of a[0] and b[0] equal, every lo and hi of a and of b[0, check_b) below 2^15.
bool reference(const WorkInfo* a, const WorkInfo* b, int32_t n, int32_t check_b) {
  if (n == 0) return true;
  if (a[0].q_head_hi() - a[0].q_head_lo() != b[0].q_head_hi() - b[0].q_head_lo()) return false;
  for (int f = 0; f < 7; ++f)
    if (field(a[0], f) != field(b[0], f)) return false;
  auto small = [](const WorkInfo& w) { return (static_cast<uint32_t>(w.q_head_range) & 0x80008000u) == 0; };
  for (int32_t i = 0; i < n; ++i) {
    for (int f = 0; f < 8; ++f) {
      const uint32_t d = static_cast<uint32_t>(field(a[i], f)) - static_cast<uint32_t>(field(b[i], f));
      if (d != static_cast<uint32_t>(field(a[0], f)) - static_cast<uint32_t>(field(b[0], f))) return false;
    }
    if (!small(a[i]) || (i < check_b && !small(b[i]))) return false;
  }
  return true;
}

// A work_info whose items repeat every `shift` items with the head range moved by `heads` per repeat (the
// clusters of a plan), in storage at offset `off`; the compare is of [shift, shift + n) against [0, n).
void fill(WorkInfo* w, int32_t total, int32_t shift, int32_t heads, std::mt19937& rng) {
  for (int32_t i = 0; i < total; ++i) {
    if (i < shift) {
      WorkInfo x{};
      for (int f = 0; f < 7; ++f) set_field(x, f, static_cast<int32_t>(rng() % 5000) - 1);
      const int32_t lo = static_cast<int32_t>(rng() % 8);
      x.q_head_range = lo | (lo + heads) << 16;
      w[i] = x;
    } else {
      w[i] = w[i - shift];
      w[i].q_head_range += heads * 0x10001;
    }
  }
}

void expect_forms(const WorkInfo* a, const WorkInfo* b, int32_t n, int32_t check_b, bool want,
                  const char* what) {
  ASSERT_EQ(reference(a, b, n, check_b), want) << what;
  EXPECT_EQ(same_pieces_items(a, b, n, check_b), want) << what << " (item form)";
  if (words64_applies(a, b)) {
    EXPECT_EQ(same_pieces_words64(a, b, n, check_b), want) << what << " (word form)";
  }
  EXPECT_EQ(same_pieces(a, b, n, check_b), want) << what << " (this build's choice)";
}

TEST(SamePieces, BothFormsAgreeWithTheDefinitionAtEveryOffset) {
  std::mt19937 rng(7);
  int word_form_runs = 0;
  for (size_t off = 0; off < 64; off += 4) {
    for (int32_t shift : {1, 2, 3, 4, 6}) {
      for (int32_t n : {0, 1, 2, 3, 5, 8, 9, 17, 40}) {
        const int32_t total = shift + n;
        Items buf(total, off);
        fill(buf.w, total, shift, 2, rng);
        const WorkInfo* a = buf.w + shift;
        const WorkInfo* b = buf.w;
        word_form_runs += words64_applies(a, b) && n > 0;
        expect_forms(a, b, n, shift, true, "repeated clusters");
        // One field of one item changed (a's copy, or b's item in b[0, check_b) that a does not hold).
        for (int32_t i = 0; i < total; ++i) {
          for (int f = 0; f < 8; ++f) {
            WorkInfo& w = buf.w[i];
            const int32_t keep = field(w, f);
            set_field(w, f, keep + (f == 7 ? 0x10000 : 1));  // field 7: one head more (hi + 1)
            const bool want = reference(a, b, n, shift);
            expect_forms(a, b, n, shift, want, "one field changed");
            if (n > 0 && i >= shift) {
              EXPECT_FALSE(want);  // a change inside a is always seen
            }
            set_field(w, f, keep);
          }
        }
        // b's own prefix b[1, shift) with hi = 0xFFFF, its copy in a one repeat later wrapped to a small hi
        // (the same difference mod 2^32): only the check of b's prefix sees it.
        for (int32_t i = 1; i < shift && i < n; ++i) {
          WorkInfo& wb = buf.w[i];
          WorkInfo& wa = buf.w[i + shift];
          const int32_t kb = wb.q_head_range, ka = wa.q_head_range;
          wb.q_head_range = static_cast<int32_t>(0xFFFF0000u | (static_cast<uint32_t>(kb) & 0xFFFFu));
          wa.q_head_range = static_cast<int32_t>(static_cast<uint32_t>(wb.q_head_range) + 2u * 0x10001u);
          ASSERT_EQ(static_cast<uint32_t>(wa.q_head_range) & 0x80008000u, 0u);
          expect_forms(a, b, n, shift, false, "b's prefix hi >= 2^15, a's copy wrapped");
          wb.q_head_range = kb;
          wa.q_head_range = ka;
        }
        // A lo or hi of 2^15 or more is never decided here, in a or in b's unchecked-by-a prefix.
        if (n > 0) {
          for (int32_t i : {int32_t{0}, total - 1}) {
            WorkInfo& w = buf.w[i];
            const int32_t keep = w.q_head_range;
            w.q_head_range = 0x7FFF0000 | (keep & 0xFFFF);
            expect_forms(a, b, n, shift, reference(a, b, n, shift), "hi >= 2^15");
            w.q_head_range = keep;
          }
        }
      }
    }
  }
  EXPECT_GT(word_form_runs, 100);  // the word form ran (both offsets alike) on many of the ranges
}

TEST(SamePieces, RandomRangesAgree) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 3000; ++trial) {
    const size_t off = 4 * (rng() % 16);
    const int32_t shift = 2 * static_cast<int32_t>(rng() % 4 + 1), n = static_cast<int32_t>(rng() % 70);
    Items buf(shift + n, off);
    fill(buf.w, shift + n, shift, static_cast<int32_t>(rng() % 4), rng);
    if (rng() % 2) {  // a few random words anywhere
      for (int k = static_cast<int>(rng() % 3); k >= 0; --k) {
        const int32_t i = static_cast<int32_t>(rng() % static_cast<uint32_t>(shift + n));
        set_field(buf.w[i], static_cast<int>(rng() % 8), static_cast<int32_t>(rng()));
      }
    }
    const WorkInfo* a = buf.w + shift;
    const WorkInfo* b = buf.w;
    const int32_t check_b = static_cast<int32_t>(rng() % static_cast<uint32_t>(n + 2));
    expect_forms(a, b, n, check_b, reference(a, b, n, check_b), "random words");
  }
}

}  // namespace
}  // namespace mlaps::cost::detail
