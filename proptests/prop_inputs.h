#pragma once
// Fast attention inputs for the end-to-end properties. make_random_inputs draws and quantizes every value
// (~0.2 s for a 257 x 600 x 3-head case on this box, more than the emulator and the reference together), so
// the properties slice fp8 codes out of pools quantized once by make_random_inputs itself: same value
// distribution (bf16 randn, per-tensor fp8 quantization), a seed-dependent offset, random pages with repeats.
#include <cstdint>
#include <random>
#include <vector>

#include "scheduler/problem.h"
#include "sim/model.h"
#include "sim/tensors.h"

namespace mlaps::prop {

inline const AttnInputs& input_pool() {
  static const AttnInputs pool = [] {
    InputOptions o;
    o.seed = 0x5eed;
    // 8192 tokens x 1 head: 1.5 M Q codes, 1.5 M K codes, 1 M V codes.
    return make_random_inputs(Problem::from_lengths({8192}, {8192}, 1, false, 1), o);
  }();
  return pool;
}

inline AttnInputs pooled_inputs(const Problem& p, uint64_t seed) {
  const AttnInputs& pool = input_pool();
  std::mt19937_64 rng(seed);
  auto fill = [&](std::vector<uint8_t>& dst, const std::vector<uint8_t>& src, size_t n) {
    dst.resize(n);
    size_t off = static_cast<size_t>(rng() % src.size());
    for (size_t i = 0; i < n;) {
      const size_t take = std::min(n - i, src.size() - off);
      std::copy_n(src.begin() + static_cast<std::ptrdiff_t>(off), take,
                  dst.begin() + static_cast<std::ptrdiff_t>(i));
      i += take;
      off = 0;
    }
  };
  AttnInputs in;
  in.encoding = pool.encoding;
  in.num_tokens = p.num_tokens();
  in.num_heads_q = p.num_heads_q();
  in.num_heads_k = p.num_heads_k;
  in.num_pages = p.num_used_pages();
  in.softmax_scale = pool.softmax_scale;
  in.q_scale = pool.q_scale;
  in.k_scale = pool.k_scale;
  in.v_scale = pool.v_scale;
  fill(in.q, pool.q, static_cast<size_t>(in.num_tokens) * in.num_heads_q * kQkHeadDim);
  fill(in.k, pool.k, static_cast<size_t>(in.num_pages) * in.num_heads_k * kQkHeadDim);
  fill(in.v, pool.v, static_cast<size_t>(in.num_pages) * in.num_heads_k * kVHeadDim);
  in.kv_page_indices.resize(static_cast<size_t>(in.num_pages));
  for (int32_t& k : in.kv_page_indices) k = static_cast<int32_t>(rng() % static_cast<uint64_t>(in.num_pages));
  return in;
}

}  // namespace mlaps::prop
