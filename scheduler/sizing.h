#pragma once
// PS buffer sizes: upstream's get_ps_metadata_info_v1 capacities (contract 1.3) in both forms, vLLM's hand
// bound, and the tight bound over every batch within an engine's limits (a proven maximum with a witness).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/plan.h"
#include "scheduler/problem.h"

namespace mlaps {

class Policy;  // scheduler/policy.h

enum class SizingFormula {
  kLegacy,  // pre-#3606: max_works = (B + cpc - 1) * mq * nhk, max_partials = min(B + cpc - 1, 2*(cpc-1)) *
            // mq
  kPr3606,  // PR #3606: wpc = qtc * (mks + cpc), max_works = nhk * wpc, max_partials = wpc
};

struct SizingInputs {
  int32_t batch_size = 0;  // B (vLLM passes max_num_seqs)
  int32_t max_qlen = 0;
  std::optional<int32_t> max_kvlen;  // PR form only; defaults to max_qlen as upstream does
  int32_t num_heads_k = 1;
  int32_t num_cu = 256;
  int32_t qlen_granularity = 256;
  int32_t kvlen_granularity = 128;
  static SizingInputs from_problem(const Problem& p);  // B, max qo len, max kv len of the problem
};

// Element counts of each buffer (rows for work_info / reduce_final_map).
struct Capacity {
  int64_t work_indptr = 0;
  int64_t work_info = 0;  // rows of 8 dwords
  int64_t reduce_indptr = 0;
  int64_t reduce_final_map = 0;  // rows of 2 dwords
  int64_t reduce_partial_map = 0;
  int64_t partial_rows(int32_t tile_q) const { return reduce_partial_map * tile_q; }  // logits rows
  friend bool operator==(const Capacity&, const Capacity&) = default;
};

Capacity compute_capacity(const SizingInputs& in, SizingFormula formula);

// What static sizes allow for, one home for every policy's bound: batch_size x ceil(max_qlen /
// qlen_granularity) query tiles, and ceil(max_kvlen / kvlen_granularity) KV units per tile (nullopt without
// a max_kvlen). The inputs as compute_capacity validates them (granularities > 0, sizes >= 0).
int64_t sizing_query_tiles(const SizingInputs& in);
std::optional<int64_t> sizing_kv_units(const SizingInputs& in);

// One message per buffer the plan overflows (empty when it fits), e.g.
// "reduce_partial_map: needs 64 entries, capacity 8".
std::vector<std::string> capacity_overflows(const Plan& plan, const Capacity& cap, int32_t tile_q);

// ---------------------------------------------------------------------------------------------------------------
// Sizing for an engine: buffers allocated once (CUDA-graph capture) for every batch within its limits.

struct EngineLimits {
  int32_t max_num_batched_tokens = 0;  // T: the batch's query tokens, summed
  int32_t max_num_seqs = 0;            // S: sequences in a batch
  int32_t num_heads_k = 1;
  int32_t gqa_ratio = 1;
  int32_t num_cu = 256;
  int32_t tile_q = 256;
  int32_t tile_kv = 128;
  bool causal = true;
  std::optional<int32_t> max_kvlen;  // L: the KV length of any sequence; unbounded when absent
  bool need_lse = true;
  // Throws InputError naming the field and the constraint.
  void validate() const;
  int32_t qlen_granularity() const { return tile_q / gqa_ratio; }
  // Upstream's formulas at these limits: batch_size = S, max_qlen = the longest sequence a batch can hold
  // (T; causal also <= L), max_kvlen = L (absent: upstream's default, max_qlen).
  SizingInputs upstream_inputs() const;
};

// Array lengths as `mlaps plan --format json` reports them (works = work_info rows, reduce_entries =
// reduce_final_map rows, reduce_partial_map entries) and partial_slots = partial O/LSE rows /
// qlen_granularity (slots restart in every cluster: the largest slot index + 1). nullopt: the formula gives
// no bound for it.
struct BufferCounts {
  std::optional<int64_t> works, partial_slots, reduce_entries, reduce_partial_map;
  friend bool operator==(const BufferCounts&, const BufferCounts&) = default;
};
BufferCounts counts_of(const Plan& plan, int32_t qlen_granularity);
BufferCounts counts_of(const Capacity& cap);  // upstream's formulas: partial_slots = reduce_partial_map

// Bytes of every buffer (partial O and LSE in fp32, [rows, q heads, v_head_dim] and [rows, q heads]);
// total is nullopt when any buffer is.
struct BufferBytes {
  std::optional<int64_t> work_indptr, work_info, reduce_indptr, reduce_final_map, reduce_partial_map,
      partial_o, partial_lse, total;
};
BufferBytes bytes_of(const BufferCounts& c, const EngineLimits& lim, int32_t v_head_dim);

// vLLM's AiterAsmPrefillBackend workspace: cdiv(T, 256) + S - 1 + cu_num partial tiles (it asserts
// cu_num == 256 and sizes only the partial O/LSE buffers by hand: the other counts are nullopt).
BufferCounts vllm_bound(const EngineLimits& lim);

struct Batch {
  std::vector<int32_t> qo_lens, kv_lens;
  friend bool operator==(const Batch&, const Batch&) = default;
};
// The batch as a problem at the limits' heads, CUs, tiles and need_lse (block_size 1).
Problem problem_of(const EngineLimits& lim, const Batch& b);

// Whether the plan gives every piece a partial slot (aiter with need_lse) or writes tiles taken whole by one
// TG straight to the output (aiter-legacy always; aiter with need_lse = false): the two slot rules the bound
// distinguishes.
bool every_piece_has_slot(Policy policy, bool need_lse);

struct TightBound {
  BufferCounts bound;     // the proven maximum over all batches within the limits (every count set)
  Batch witness;          // a batch within the limits: its plan needs `attained`
  BufferCounts attained;  // == bound for every count when the maximum is attained (exact)
  bool exact() const { return attained == bound; }
};
// The bound, and a witness constructed for it, planned by `policy` itself. Upstream's algorithm (policies
// claiming its shape): sizing_tight.cpp has the proof and the constructions; a policy with its own bound
// (PolicyDef::tight) gives it; any other policy: InputError("--policy", "... not derived ...").
TightBound tight_bound(const EngineLimits& lim, Policy policy);

// Theorem (1) of sizing_tight.cpp: the most query tiles a batch within the limits can have (validates lim).
int64_t max_query_tiles(const EngineLimits& lim);
// A batch within the limits with exactly `tiles` query tiles and the fewest query tokens (single-token
// sequences while they last, then G-token tiles on top), every kv_len L (without L: non-causal 1, causal
// qo_len); nullopt when no batch within the limits has that many tiles.
std::optional<Batch> fewest_tokens_batch(const EngineLimits& lim, int64_t tiles);

// The smallest batch (fewest query tokens) within the limits whose plan overflows `cap`.
struct OverflowSearch {
  enum class Status {
    kNone,      // proven: the tight bound fits cap, so no batch within the limits overflows it
    kFound,     // `batch` overflows cap (`overflows` says where)
    kNotFound,  // the bound exceeds cap but no constructed batch reached it
  } status = Status::kNone;
  Batch batch;
  std::vector<std::string> overflows;
  bool proven_smallest = false;  // no batch with fewer query tokens can overflow cap
};
OverflowSearch smallest_overflow(const EngineLimits& lim, Policy policy, const Capacity& cap);

}  // namespace mlaps
