#pragma once
// Helpers shared by the scheduler tests.
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "scheduler/policy.h"
#include "scheduler/problem.h"
#include "scheduler/validate.h"

namespace mlaps::test {

inline int32_t heads(int32_t lo, int32_t hi) {
  return WorkInfo::pack_heads(lo, hi);
}

// The contract's worked example (2.4): 4 CUs, 1 head, one sequence qo = kv = 600, causal.
inline Problem worked_example() {
  return Problem::from_lengths({600}, {600}, 1, true, 4);
}

// The seed scenario: qo 8 x 16 sequences, context 1200, 16 heads, non-causal, 256 CUs.
inline Problem seed_scenario() {
  return Problem::from_lengths(std::vector<int32_t>(16, 8), std::vector<int32_t>(16, 1200), 16, false, 256);
}

inline std::vector<std::string> names(const std::vector<Violation>& v) {
  std::vector<std::string> out;
  for (const auto& x : v) out.push_back(x.invariant);
  return out;
}
inline bool has(const std::vector<Violation>& v, const std::string& name) {
  return std::any_of(v.begin(), v.end(), [&](const Violation& x) { return x.invariant == name; });
}
inline int count(const std::vector<Violation>& v, const std::string& name) {
  return static_cast<int>(
      std::count_if(v.begin(), v.end(), [&](const Violation& x) { return x.invariant == name; }));
}
inline std::string dump(const std::vector<Violation>& v) {
  std::string s;
  for (const auto& x : v) s += format_violation(x) + "\n";
  return s;
}

// A random problem over the boundary values of contract 9; `edge` lets causal qo > kv through.
inline Problem random_problem(std::mt19937& rng, bool edge) {
  auto pick = [&](std::initializer_list<int32_t> v) {
    return *(v.begin() + std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng));
  };
  auto len = [&]() {
    switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
      case 0:
        return pick({0, 1, 127, 128, 129, 255, 256, 257, 383, 384, 385, 511, 512, 513});
      case 1:
        return std::uniform_int_distribution<int32_t>(0, 300)(rng);
      default:
        return std::uniform_int_distribution<int32_t>(0, 3000)(rng);
    }
  };
  const int32_t B = std::uniform_int_distribution<int32_t>(1, 6)(rng);
  const bool causal = std::uniform_int_distribution<int>(0, 1)(rng) == 1;
  std::vector<int32_t> qo(B), kv(B);
  for (int32_t b = 0; b < B; ++b) {
    qo[b] = len();
    kv[b] = len();
    if (causal && !edge && qo[b] > kv[b]) std::swap(qo[b], kv[b]);
  }
  const int32_t heads = pick({1, 2, 3, 5, 16, 128});
  const int32_t cu = std::uniform_int_distribution<int>(0, 1)(rng)
                         ? pick({1, 2, 4, 16, 80, 132, 256, 304})
                         : std::uniform_int_distribution<int32_t>(1, 300)(rng);
  const int32_t gqa = pick({1, 1, 1, 2, 4});
  const int32_t bs = pick({1, 1, 1, 2, 16, 64, 256});
  Problem p = Problem::from_lengths(qo, kv, heads, causal, cu, gqa, bs);
  p.allow_causal_qo_gt_kv = edge;
  if (std::uniform_int_distribution<int>(0, 7)(rng) == 0) {  // spare pages at the end of some sequences
    int32_t extra = 0;
    for (int32_t b = 0; b < B; ++b) {
      extra += std::uniform_int_distribution<int32_t>(0, 3)(rng);
      p.kv_indptr[b + 1] += extra;
    }
  }
  return p;
}

}  // namespace mlaps::test
