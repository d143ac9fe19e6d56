#pragma once
// rapidcheck generators for scheduling problems that reach the corners: boundary lengths (0, 1, 127, 128,
// 129, 255, 256, 257, multiples of 128/256 +- 1), chunked-prefill shapes, causal with qo <= kv, odd head
// counts and gcds, real and random CU counts, block sizes, both policies.
//
// Problems are generated as a flat Spec (per-sequence lengths + options) and mapped to a Problem, so
// rapidcheck shrinks the parts that read well: fewer sequences, lengths towards 0 or the first boundary
// value, 1 head, 1 CU, block_size 1, non-causal/causal flipped, policy aiter. A counterexample prints as a
// ready-to-run `mlaps check ...` command (showValue below).
#include <rapidcheck.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "cli/flags.h"
#include "scheduler/policy.h"
#include "scheduler/problem.h"

namespace mlaps {

// A generated case: the problem, the policy that plans it, and the CLI verb that reproduces it.
struct Case {
  Problem problem;
  Policy policy;  // the default policy unless generated
  const char* verb = "check";
};

inline void showValue(const Case& c, std::ostream& os) {
  os << cli::cli_command(c.verb, c.problem, c.policy);
}
inline void showValue(const Problem& p, std::ostream& os) {
  os << cli::cli_flags(p);
}

namespace pgen {

struct SeqSpec {
  int32_t qo = 0;
  int32_t kv = 0;
};

// The flat form rapidcheck generates and shrinks.
struct Spec {
  std::vector<SeqSpec> seqs;
  int32_t heads = 1;
  int32_t gqa = 1;
  int32_t num_cu = 1;
  int32_t block_size = 1;
  bool causal = false;

  // Causal problems clamp qo to kv (a causal prefill has qo <= kv; contract 2.5.3 is the ledger's).
  Problem problem() const {
    std::vector<int32_t> qo, kv;
    for (const SeqSpec& s : seqs) {
      kv.push_back(s.kv);
      qo.push_back(causal ? std::min(s.qo, s.kv) : s.qo);
    }
    return Problem::from_lengths(qo, kv, heads, causal, num_cu, gqa, block_size);
  }
};

// What a problem generator draws from.
struct Options {
  int max_batch = 64;
  int32_t max_qo = 4096;
  int32_t max_kv = 16384;
  bool big_heads = true;    // include 128 and random heads up to 256
  bool all_cus = true;      // real CU counts and random ones up to 512; else small counts only
  bool block_sizes = true;  // block_size > 1 sometimes (reference/emulator need 1)
  bool gqa = true;          // gqa 2 and 4 sometimes
};

// rapidcheck's element/elementOf/weightedOneOf (this Debian version) never shrink; these do: `pick` shrinks
// towards the first element, `weighted` towards the first alternative (then shrinks inside it).
// rapidcheck scales inRange by the case size (small values first); choices and lengths here use the full
// range at every size (kFullSize), only the batch count grows with the size.
inline constexpr int kFullSize = 100;

template <typename T>
rc::Gen<T> uniform(T lo, T hi_exclusive) {
  return rc::gen::resize(kFullSize, rc::gen::inRange<T>(lo, hi_exclusive));
}

template <typename T>
rc::Gen<T> pick(std::vector<T> v) {
  const size_t n = v.size();
  return rc::gen::map(uniform<size_t>(0, n), [v = std::move(v)](size_t i) { return v[i]; });
}

template <typename T>
rc::Gen<T> weighted(std::vector<std::pair<int, rc::Gen<T>>> choices) {
  int total = 0;
  for (const auto& c : choices) total += c.first;
  return rc::gen::mapcat(uniform(0, total), [choices = std::move(choices)](int r) {
    for (const auto& [w, g] : choices) {
      if (r < w) return g;
      r -= w;
    }
    return choices.back().second;
  });
}

// Boundary lengths: 0, 1, tile edges (128, 256) +- 1 and multiples of them +- 1, up to `max`.
inline std::vector<int32_t> boundary_lengths(int32_t max) {
  std::vector<int32_t> v = {0, 1, 2, 127, 128, 129, 255, 256, 257};
  for (int32_t m : {384, 512, 640, 768, 1024, 1536, 2048, 4096, 8192, 16384}) {
    for (int32_t d : {-1, 0, 1}) v.push_back(m + d);
  }
  v.erase(std::remove_if(v.begin(), v.end(), [max](int32_t x) { return x > max; }), v.end());
  return v;
}

// A length in [0, max]: boundary values half the time, small random, or any.
inline rc::Gen<int32_t> length(int32_t max) {
  const int32_t small = std::min<int32_t>(max, 300);
  return weighted<int32_t>({
      {5, pick(boundary_lengths(max))},
      {3, uniform<int32_t>(0, small + 1)},
      {2, uniform<int32_t>(0, max + 1)},
  });
}

inline rc::Gen<int32_t> heads(bool big) {
  if (!big) return pick<int32_t>({1, 2, 3});
  return weighted<int32_t>({
      {6, pick<int32_t>({1, 2, 3, 16, 128})},
      {2, pick<int32_t>({5, 6, 7, 12, 15, 24, 33, 64})},  // odd and mixed gcds with the CU count
      {1, uniform<int32_t>(1, 257)},
  });
}

inline rc::Gen<int32_t> num_cu(bool all) {
  if (!all) {
    return weighted<int32_t>({
        {4, pick<int32_t>({1, 2, 3, 4, 16})},
        {1, pick<int32_t>({80, 132, 256, 304})},
    });
  }
  return weighted<int32_t>({
      {6, pick<int32_t>({1, 2, 4, 16, 80, 132, 256, 304})},
      {2, uniform<int32_t>(1, 513)},
  });
}

inline rc::Gen<int32_t> block_size(bool any) {
  if (!any) return rc::gen::just<int32_t>(1);
  return weighted<int32_t>({
      {4, rc::gen::just<int32_t>(1)},
      {1, pick<int32_t>({2, 4, 8, 16, 32, 64, 128, 256})},  // powers of two dividing 128, and 256
  });
}

inline rc::Gen<int32_t> gqa(bool any) {
  if (!any) return rc::gen::just<int32_t>(1);
  return weighted<int32_t>({{6, rc::gen::just<int32_t>(1)}, {1, pick<int32_t>({2, 4})}});
}

// 1..max_batch sequences; the count grows with rapidcheck's size (0..100) and shrinks by dropping sequences.
inline rc::Gen<std::vector<SeqSpec>> batch_of(int max_batch, rc::Gen<SeqSpec> seq) {
  const double scale = std::min(1.0, max_batch / 100.0);
  return rc::gen::map(rc::gen::nonEmpty(rc::gen::scale(scale, rc::gen::container<std::vector<SeqSpec>>(seq))),
                      [max_batch](std::vector<SeqSpec> v) {
                        if (static_cast<int>(v.size()) > max_batch) v.resize(static_cast<size_t>(max_batch));
                        return v;
                      });
}

inline rc::Gen<std::vector<SeqSpec>> seqs(int max_batch, rc::Gen<int32_t> qo, rc::Gen<int32_t> kv) {
  auto seq = rc::gen::apply([](int32_t q, int32_t k) { return SeqSpec{q, k}; }, qo, kv);
  return batch_of(max_batch, std::move(seq));
}

inline rc::Gen<Spec> spec_from(rc::Gen<std::vector<SeqSpec>> s, rc::Gen<bool> causal, const Options& o) {
  return rc::gen::apply(
      [](std::vector<SeqSpec> v, bool c, int32_t h, int32_t g, int32_t cu, int32_t bs) {
        Spec sp;
        sp.seqs = std::move(v);
        sp.causal = c;
        sp.heads = h;
        sp.gqa = g;
        sp.num_cu = cu;
        sp.block_size = bs;
        return sp;
      },
      std::move(s), std::move(causal), heads(o.big_heads), gqa(o.gqa), num_cu(o.all_cus),
      block_size(o.block_sizes));
}

// General prefill: any lengths (causal problems clamp qo <= kv).
inline rc::Gen<Spec> general_spec(const Options& o = {}) {
  return spec_from(seqs(o.max_batch, length(o.max_qo), length(o.max_kv)), rc::gen::arbitrary<bool>(), o);
}

// Chunked-prefill context chunk: few new tokens against a long context, non-causal.
inline rc::Gen<Spec> chunked_spec(const Options& o = {}) {
  return spec_from(seqs(o.max_batch, length(std::min<int32_t>(o.max_qo, 300)), length(o.max_kv)),
                   rc::gen::just(false), o);
}

// Causal prefill with qo == kv (new tokens only), the bug report's shape.
inline rc::Gen<Spec> causal_square_spec(const Options& o = {}) {
  auto len = length(std::min(o.max_qo, o.max_kv));
  auto seq = rc::gen::map(len, [](int32_t l) { return SeqSpec{l, l}; });
  return spec_from(batch_of(o.max_batch, std::move(seq)), rc::gen::just(true), o);
}

// The mix the scheduler properties use.
inline rc::Gen<Spec> any_spec(const Options& o = {}) {
  return weighted<Spec>({{4, general_spec(o)}, {2, chunked_spec(o)}, {2, causal_square_spec(o)}});
}

inline rc::Gen<Problem> problem(const Options& o = {}) {
  return rc::gen::map(any_spec(o), [](const Spec& s) { return s.problem(); });
}

// Every row of the policy table (shrinks towards the first, the default).
inline std::vector<Policy> all_policies() {
  std::vector<Policy> out;
  for (const PolicyDef& d : policies()) out.emplace_back(d);
  return out;
}
inline rc::Gen<Policy> policy() {
  return pick<Policy>(all_policies());
}

inline rc::Gen<Case> case_for(rc::Gen<Problem> p, rc::Gen<Policy> pol, const char* verb = "check") {
  return rc::gen::apply(
      [verb](Problem pr, Policy po) {
        return Case{std::move(pr), po, verb};
      },
      std::move(p), std::move(pol));
}

inline rc::Gen<Case> aiter_case(const Options& o = {}) {
  return case_for(problem(o), rc::gen::just(policy_named("aiter")));
}

// Small problems for the emulator and the float64 reference (block_size 1, gqa 1): batch <= 4, qo <= 257,
// kv <= 600, heads {1, 2, 3}, many CUs so that tiles split.
inline Options small_options() {
  Options o;
  o.max_batch = 4;
  o.max_qo = 257;
  o.max_kv = 600;
  o.big_heads = false;
  o.all_cus = false;
  o.block_sizes = false;
  o.gqa = false;
  return o;
}

inline rc::Gen<Case> small_case(Policy pol) {
  return case_for(problem(small_options()), rc::gen::just(pol), "run");
}

}  // namespace pgen
}  // namespace mlaps
