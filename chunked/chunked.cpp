#include "chunked/chunked.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "bridge/reference_bridge.h"
#include "reference/merge.h"
#include "scheduler/error.h"
#include "scheduler/validate.h"
#include "sim/numerics.h"

namespace mlaps {
namespace {

void check(const ChunkedProblem& cp) {
  if (cp.new_lens.size() != cp.context_lens.size())
    throw InputError("context_lens", "must have one entry per sequence, like new_lens");
  if (cp.new_lens.empty()) throw InputError("new_lens", "must name at least one sequence");
  bool any_context = false;
  for (size_t b = 0; b < cp.new_lens.size(); ++b) {
    if (cp.new_lens[b] < 0) throw InputError("new_lens", "must be >= 0");
    if (cp.context_lens[b] < 0) throw InputError("context_lens", "must be >= 0");
    any_context = any_context || cp.context_lens[b] > 0;
  }
  if (any_context && cp.chunk_size < 1) throw InputError("chunk_size", "must be >= 1 when there is context");
  if (any_context && !cp.need_lse) {
    throw InputError(
        "need_lse",
        "must be true when there is context: each context chunk's state is merged by its LSE "
        "(merge_attn_states), and with need_lse = false the tiles taken whole by one TG get no LSE, so the "
        "merge reads garbage (the #3606 garbage-LSE merge; `mlaps ledger`, need_lse_false_merge). vLLM "
        "asserts num_partial_tiles > 0 or not need_lse");
  }
}

Problem part_problem(const ChunkedProblem& cp, const std::vector<int32_t>& kv, bool causal) {
  Problem p = Problem::from_lengths(cp.new_lens, kv, cp.num_heads_k, causal, cp.num_cu, cp.gqa_ratio);
  p.tile_q = cp.tile_q;
  p.tile_kv = cp.tile_kv;
  p.need_lse = cp.need_lse;
  return p;
}

// One attention state as the consumer holds it: output [T, H, 128] and natural-log LSE [T, H].
struct State {
  std::vector<double> out, lse;
};

// vLLM stores a merged state as bf16 output and fp32 LSE.
void store_like_vllm(State& s) {
  for (double& x : s.out) x = num::bf16_decode(num::bf16_encode(static_cast<float>(x)));
  for (double& x : s.lse) x = static_cast<float>(x);
}

}  // namespace

Problem chunked_full_problem(const ChunkedProblem& cp) {
  check(cp);
  std::vector<int32_t> kv(cp.new_lens.size());
  for (size_t b = 0; b < kv.size(); ++b) kv[b] = cp.context_lens[b] + cp.new_lens[b];
  return part_problem(cp, kv, true);
}

int32_t chunked_num_chunks(const ChunkedProblem& cp) {
  check(cp);
  const int32_t max_ctx = *std::max_element(cp.context_lens.begin(), cp.context_lens.end());
  return max_ctx == 0 ? 0 : (max_ctx + cp.chunk_size - 1) / cp.chunk_size;
}

std::vector<int32_t> chunk_kv_lens(const ChunkedProblem& cp, int32_t c) {
  std::vector<int32_t> kv(cp.context_lens.size());
  for (size_t b = 0; b < kv.size(); ++b) {
    const int64_t start = int64_t{c} * cp.chunk_size;
    kv[b] = static_cast<int32_t>(std::clamp<int64_t>(cp.context_lens[b] - start, 0, cp.chunk_size));
  }
  return kv;
}

ChunkedResult run_chunked(const ChunkedProblem& cp, const ChunkedOptions& opt) {
  ChunkedResult res;
  res.full = chunked_full_problem(cp);
  const int32_t num_chunks = chunked_num_chunks(cp);
  // One pool per run: the parts reuse its Q, K and V (no copies) with their own slice of its page indices.
  AttnInputs pool = make_random_inputs(res.full, opt.inputs);
  const std::vector<int32_t> full_indices = pool.kv_page_indices;
  RefOptions ref_opt = opt.ref;
  if (opt.ref_p_like_model) ref_opt.round_p_fp8 = opt.model.round_p_fp8;
  const RefResult truth = reference_attention(reference_inputs(res.full, pool), ref_opt);
  const int32_t tokens = res.full.num_tokens(), heads = res.full.num_heads_q();
  const size_t n_lse = static_cast<size_t>(tokens) * static_cast<size_t>(heads);
  NumericModel model = opt.model;
  model.encoding = pool.encoding;

  std::vector<uint8_t> final_not_promised;  // the last part's lse_not_promised
  // Part p covers, in sequence b, the pool's keys [kv_off[b], kv_off[b] + kv[b]).
  auto run_part = [&](const std::string& name, const std::vector<int32_t>& kv,
                      const std::vector<int32_t>& kv_off, bool causal, State& seen, State& clean) {
    ChunkedPart part;
    part.name = name;
    part.problem = part_problem(cp, kv, causal);
    std::vector<int32_t> indices;
    for (size_t b = 0; b < kv.size(); ++b) {
      const auto base = full_indices.begin() + res.full.kv_indptr[b] + kv_off[b];
      indices.insert(indices.end(), base, base + kv[b]);
    }
    pool.kv_page_indices = std::move(indices);
    const AttnInputs& in = pool;
    const Plan plan = make_plan(part.problem, opt.policy);
    part.num_works = plan.num_works();
    part.num_direct_works =
        static_cast<int32_t>(std::count_if(plan.work_info.begin(), plan.work_info.end(),
                                           [](const WorkInfo& w) { return w.partial_o_loc == -1; }));
    part.num_reduce_entries = plan.num_reduce_entries();
    const SimRun run = simulate(part.problem, plan, in, model, opt.num_threads);
    FinalState fs = final_state_from_buffers(run.buffers);
    // need_lse = false (no context: the new-token call is the output): the direct-write rows' LSE is not
    // promised, so it is no garbage read; the final comparison skips it (final_not_promised).
    const std::vector<uint8_t> not_promised = lse_not_promised(part.problem, plan);
    for (size_t th = 0; th < n_lse; ++th) {
      if (not_promised[th] && fs.lse_unwritten[th]) {
        fs.lse_unwritten[th] = 0;
        ++part.lse_not_promised;
      }
    }
    final_not_promised = not_promised;

    seen.out = fs.out;
    seen.lse = fs.lse_ln;
    bool any_unwritten = false;
    for (size_t th = 0; th < n_lse; ++th) {
      bool row_unwritten = false;
      for (size_t d = 0; d < kVHeadDim; ++d) {
        const size_t i = th * kVHeadDim + d;
        if (fs.out_unwritten[i]) {
          seen.out[i] = opt.garbage_out;
          row_unwritten = true;
        }
      }
      if (row_unwritten) ++part.unwritten.output;
      if (fs.lse_unwritten[th]) {
        seen.lse[th] = opt.garbage_lse;
        ++part.unwritten.lse;
        // Neither O nor LSE written and no keys: a zero-KV tile that was never scheduled (2.5.2), not
        // the #3606 fast path (which writes O).
        const int32_t row = static_cast<int32_t>(th / static_cast<size_t>(heads));
        const auto b = std::upper_bound(part.problem.qo_indptr.begin(), part.problem.qo_indptr.end(), row) -
                       part.problem.qo_indptr.begin() - 1;
        if (row_unwritten && kv[static_cast<size_t>(b)] == 0) ++part.trailing_zero_kv_rows;
      }
      any_unwritten = any_unwritten || row_unwritten || fs.lse_unwritten[th];
    }
    res.garbage_entries += part.unwritten.output + part.unwritten.lse;

    clean = seen;
    if (any_unwritten) {  // what a correct kernel would have written there: the part's own truth
      const RefResult pr = reference_attention(reference_inputs(part.problem, in), ref_opt);
      for (size_t i = 0; i < clean.out.size(); ++i)
        if (fs.out_unwritten[i])
          clean.out[i] = num::bf16_decode(num::bf16_encode(static_cast<float>(pr.out[i])));
      for (size_t th = 0; th < n_lse; ++th)
        if (fs.lse_unwritten[th]) clean.lse[th] = static_cast<float>(pr.lse_ln[th]);
    }
    res.parts.push_back(std::move(part));
  };

  auto merge_into = [&](State& acc, const State& next) {
    merge_attn_states(acc.out, acc.lse, next.out, next.lse, tokens, heads, kVHeadDim);
    if (opt.store_like_vllm) store_like_vllm(acc);
  };

  State ctx_seen, ctx_clean;
  for (int32_t c = 0; c < num_chunks; ++c) {
    std::vector<int32_t> off(cp.context_lens.size(), c * cp.chunk_size);
    State s, k;
    run_part("context_chunk_" + std::to_string(c), chunk_kv_lens(cp, c), off, false, s, k);
    if (c == 0) {
      ctx_seen = std::move(s);
      ctx_clean = std::move(k);
    } else {
      merge_into(ctx_seen, s);
      merge_into(ctx_clean, k);
    }
  }
  State suf_seen, suf_clean;
  run_part("new_tokens", cp.new_lens, cp.context_lens, true, suf_seen, suf_clean);
  State final_seen = std::move(suf_seen), final_clean = std::move(suf_clean);
  if (num_chunks > 0) {  // vLLM: merge_attn_states(output, context_out, context_lse, suffix_out, suffix_lse)
    merge_into(ctx_seen, final_seen);
    merge_into(ctx_clean, final_clean);
    final_seen = std::move(ctx_seen);
    final_clean = std::move(ctx_clean);
  }

  auto as_final = [&](State& s) {
    FinalState f;
    f.num_tokens = tokens;
    f.num_heads = heads;
    f.out = std::move(s.out);
    f.lse_ln = std::move(s.lse);
    f.out_unwritten.assign(f.out.size(), 0);  // the consumer sees no poison: garbage was read as values
    f.lse_unwritten.assign(f.lse_ln.size(), 0);
    return f;
  };
  FinalState fs_seen = as_final(final_seen), fs_clean = as_final(final_clean);
  if (num_chunks == 0) {  // the new-token part is the output: its unpromised LSE is no result
    for (size_t th = 0; th < n_lse; ++th) {
      if (final_not_promised[th]) fs_seen.lse_unwritten[th] = fs_clean.lse_unwritten[th] = 1;
    }
  }
  const std::span<const uint8_t> mask =
      num_chunks == 0 ? std::span<const uint8_t>(final_not_promised) : std::span<const uint8_t>();
  res.merged = compare_final(truth, fs_seen, opt.compare, mask);
  res.merged_clean = compare_final(truth, fs_clean, opt.compare, mask);
  for (size_t i = 0; i < fs_seen.out.size(); ++i) {
    const double a = fs_seen.out[i], b = fs_clean.out[i];
    if (a == b || (std::isnan(a) && std::isnan(b))) continue;
    ++res.garbage_changed_elements;
    const double d = std::fabs(a - b);
    res.garbage_max_abs_change = std::max(res.garbage_max_abs_change, std::isnan(d) ? HUGE_VAL : d);
  }
  res.pass = res.merged.pass && res.garbage_entries == 0;
  return res;
}

std::string ChunkedResult::summary() const {
  std::ostringstream s;
  s << (pass ? "PASS" : "FAIL") << ": " << parts.size() << " parts, garbage entries read " << garbage_entries
    << ", output elements changed by garbage " << garbage_changed_elements << " (max "
    << garbage_max_abs_change << "); merged: " << merged.summary() << "; clean: " << merged_clean.summary();
  return s.str();
}

}  // namespace mlaps
