#include "sim/invariance.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "sim/emulate.h"

namespace mlaps {
namespace {

double diff(float a, float b) {
  if (std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b)) return 0.0;
  if (std::isfinite(a) && std::isfinite(b)) return std::fabs(static_cast<double>(a) - b);
  return std::numeric_limits<double>::infinity();
}

float bf16_to_float(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

// Partials of the reduce entries whose rows lie in [r0, r1).
int32_t pieces_in(const Plan& plan, int32_t r0, int32_t r1) {
  int32_t n = 0;
  for (int32_t e = 0; e < plan.num_reduce_entries(); ++e) {
    if (plan.reduce_final_map[e].qo_start >= r0 && plan.reduce_final_map[e].qo_end <= r1)
      n += plan.reduce_indptr[e + 1] - plan.reduce_indptr[e];
  }
  return n;
}

}  // namespace

Problem single_request(const Problem& p, int32_t b) {
  Problem s = p;
  s.qo_indptr = {0, p.qo_len(b)};
  s.kv_indptr = {0, p.kv_indptr[b + 1] - p.kv_indptr[b]};
  s.context_lens = {p.kv_len(b)};
  return s;
}

AttnInputs single_request_inputs(const Problem& p, const AttnInputs& in, int32_t b) {
  AttnInputs s = in;
  const size_t row = static_cast<size_t>(in.num_heads_q) * kQkHeadDim;
  s.num_tokens = p.qo_len(b);
  s.q.assign(in.q.begin() + static_cast<ptrdiff_t>(p.qo_indptr[b] * row),
             in.q.begin() + static_cast<ptrdiff_t>(p.qo_indptr[b + 1] * row));
  s.kv_page_indices.assign(in.kv_page_indices.begin() + p.kv_indptr[b],
                           in.kv_page_indices.begin() + p.kv_indptr[b + 1]);
  return s;
}

InvarianceReport batch_invariance(const Problem& p, const AttnInputs& in, Policy policy,
                                  const NumericModel& model, int num_threads, const PlanningCosts* costs) {
  InvarianceReport rep;
  rep.policy = std::string(policy.name());
  const Plan batched = make_plan(p, policy, costs);
  const SimRun all = simulate(p, batched, in, model, num_threads);
  const int32_t hq = p.num_heads_q();
  for (int32_t b = 0; b < p.batch(); ++b) {
    const Problem one = single_request(p, b);
    const Plan plan = make_plan(one, policy, costs);
    const SimRun alone = simulate(one, plan, single_request_inputs(p, in, b), model, num_threads);
    InvarianceRow r;
    r.seq = b;
    r.qo = p.qo_len(b);
    r.kv = p.kv_len(b);
    r.pieces_alone = pieces_in(plan, 0, r.qo);
    r.pieces_batched = pieces_in(batched, p.qo_indptr[b], p.qo_indptr[b + 1]);
    const size_t q0 = static_cast<size_t>(p.qo_indptr[b]);
    for (size_t i = 0; i < static_cast<size_t>(r.qo) * hq * kVHeadDim; ++i) {
      const uint16_t x = alone.buffers.out[i], y = all.buffers.out[q0 * hq * kVHeadDim + i];
      if (x == y) continue;
      ++r.output_bits_changed;
      r.max_output_diff = std::max(r.max_output_diff, diff(bf16_to_float(x), bf16_to_float(y)));
    }
    for (size_t i = 0; i < static_cast<size_t>(r.qo) * hq; ++i) {
      const float x = alone.buffers.final_lse[i], y = all.buffers.final_lse[q0 * hq + i];
      if (std::bit_cast<uint32_t>(x) == std::bit_cast<uint32_t>(y)) continue;
      ++r.lse_bits_changed;
      r.max_lse_diff = std::max(r.max_lse_diff, diff(x, y));
    }
    rep.requests_changed += !r.invariant();
    rep.max_output_diff = std::max(rep.max_output_diff, r.max_output_diff);
    rep.max_lse_diff = std::max(rep.max_lse_diff, r.max_lse_diff);
    rep.rows.push_back(r);
  }
  return rep;
}

}  // namespace mlaps
