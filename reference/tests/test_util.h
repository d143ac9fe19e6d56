#pragma once
// Small hand-built problems and inputs for the reference tests (no emulator needed), in the executors' types
// (Problem, AttnInputs): the tests hand them to the reference through bridge/, as every caller does.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "scheduler/problem.h"
#include "sim/model.h"
#include "sim/numerics.h"
#include "sim/tensors.h"

namespace mlaps::testing {

// Problem with block_size-1 pages back to back (the same layout as Problem::from_lengths).
inline Problem tiny_problem(const std::vector<int32_t>& qo, const std::vector<int32_t>& kv, int32_t heads_k,
                            int32_t gqa, bool causal) {
  Problem p = Problem::from_lengths(qo, kv, heads_k, causal, /*num_cu=*/256, gqa);
  p.allow_causal_qo_gt_kv = true;
  return p;
}

// Random codes of N(0, 1) values quantized with a fixed scale; random page indices with repeats.
inline AttnInputs tiny_inputs(const Problem& p, uint64_t seed,
                              num::Fp8Encoding enc = num::Fp8Encoding::kE4M3FN) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  AttnInputs in;
  in.encoding = enc;
  in.num_tokens = p.num_tokens();
  in.num_heads_q = p.num_heads_q();
  in.num_heads_k = p.num_heads_k;
  in.num_pages = p.num_used_pages() + 3;
  in.q_scale = 1.0f / 64;
  in.k_scale = 1.0f / 32;
  in.v_scale = 1.0f / 16;
  in.softmax_scale = 1.0f / std::sqrt(192.0f);
  auto codes = [&](size_t n, float scale) {
    std::vector<uint8_t> c(n);
    for (auto& x : c) x = num::fp8_encode(nd(rng) / scale, enc, true);
    return c;
  };
  in.q = codes(static_cast<size_t>(in.num_tokens) * in.num_heads_q * kQkHeadDim, in.q_scale);
  in.k = codes(static_cast<size_t>(in.num_pages) * in.num_heads_k * kQkHeadDim, in.k_scale);
  in.v = codes(static_cast<size_t>(in.num_pages) * in.num_heads_k * kVHeadDim, in.v_scale);
  std::uniform_int_distribution<int32_t> pd(0, in.num_pages - 1);
  in.kv_page_indices.resize(static_cast<size_t>(p.num_used_pages()));
  for (auto& x : in.kv_page_indices) x = pd(rng);
  return in;
}

}  // namespace mlaps::testing
