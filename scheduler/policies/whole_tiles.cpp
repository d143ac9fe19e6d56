// whole-tiles: a baseline that never splits a query tile. Tiles go longest-first to the least-loaded thread
// group of their cluster, load counted in KV units (LPT, longest processing time first), so every tile is
// one piece with one partial slot and one n == 1 reduce entry: the fewest partials and the least reduce
// work, and a request's KV split never depends on its batch-mates (it has none). The price is balance: one
// long tile bounds the makespan (e.g. 1 x 16384 causal, 256 CUs: 64 tiles on 256 TGs, the longest tile is
// 128 units while upstream's cut pieces are ~4 units each).
//
// Layout, as upstream's (contract 2.1, 2.3): gcd(K heads, CUs) clusters, cluster c owns TGs
// [c*tpc, (c+1)*tpc) and K heads [c*khpc, (c+1)*khpc); every cluster runs the same LPT over all query tiles
// on its tpc TGs, and every head of a TG repeats the TG's tiles with its q_head_range. So the plan is
// head-invariant, and each tile uses the same slot for every head, as mla_reduce_v1 needs (one partial list
// per tile serves every head).
// Pieces follow upstream's metadata rules: KV [kv_indptr[b], min(kv_indptr[b] + units * kvg / block_size,
// kv_indptr[b+1])) with units = ceil(effective_kv / kvg) (the extent of upstream's last piece: the tile's
// visible keys rounded up to the KV tile, at most the sequence end), kv_offset 0 (a tile's last piece),
// partial_o_loc = qlen_granularity * k for the k-th tile in global row order; reduce entries in row order.
// Tiles with no visible key (kv_len 0; causal effective_kv <= 0 where allowed) are scheduled too, with an
// empty KV range and zero load: their rows get O = 0 and LSE = -inf like any empty row, where upstream
// leaves trailing ones unscheduled (contract 2.5.2).
// Ties: equal units in row order; equal loads to the lower TG. Within a TG, tiles in assignment order.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "scheduler/error.h"
#include "scheduler/geometry.h"
#include "scheduler/policy.h"
#include "scheduler/sizing.h"

namespace mlaps::policy_impl {

PlanSizes plan_whole_tiles(const Problem& p, const ProblemTotals& totals, PlanOutput& out, PlanWorkspace& ws,
                           const PlanIntoOptions& opt) {
  const int32_t G = p.qlen_granularity();
  const KvUnits units_of(p);
  const int32_t bpu = p.kvlen_granularity() / p.block_size;
  const int32_t tpc = cluster_geometry(p).tgs_per_cluster;
  const int32_t ntiles = totals.num_tiles;

  // Query tiles in global row order, each as its one piece (q_head_range 0), and its KV units.
  std::vector<WorkInfo>& tile_work = ws.scratch.works[0];
  std::vector<int32_t>& units = ws.scratch.i32[0];
  tile_work.clear();
  units.clear();
  for (int32_t b = 0; b < p.batch(); ++b) {
    const int32_t q0 = p.qo_indptr[b];
    const int32_t qo_len = p.qo_len(b);
    const int32_t kv_len = p.kv_len(b);
    const int32_t kv_base = p.kv_indptr[b];
    for (int32_t start = 0; start < qo_len; start += G) {
      const int32_t end = std::min(start + G, qo_len);
      const int32_t eff = p.causal ? std::min(kv_len - qo_len + end, kv_len) : kv_len;
      const int32_t u = std::max(0, units_of(eff));  // no visible key: no load
      const int32_t kv_end = std::min(kv_base + u * bpu, p.kv_indptr[b + 1]);
      const int32_t slot = G * static_cast<int32_t>(tile_work.size());
      tile_work.push_back(WorkInfo{b, slot, q0 + start, q0 + end, kv_base, kv_end, 0, 0});
      units.push_back(u);
    }
  }

  // LPT: longest first onto a min-heap of (load, TG).
  std::vector<int32_t>& order = ws.scratch.i32[1];
  order.resize(static_cast<size_t>(ntiles));
  for (int32_t t = 0; t < ntiles; ++t) order[t] = t;
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return units[a] > units[b]; });
  std::vector<int64_t>& heap = ws.scratch.i64[0];  // load << 32 | tg: least load, then lowest TG, on top
  heap.clear();
  for (int32_t tg = 0; tg < tpc; ++tg) heap.push_back(int64_t{tg});
  std::vector<int32_t>& tg_of = ws.scratch.i32[2];
  tg_of.resize(static_cast<size_t>(ntiles));
  std::vector<int32_t>& tg_end = ws.scratch.i32[3];
  tg_end.assign(static_cast<size_t>(tpc), 0);
  for (int32_t t : order) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const int64_t top = heap.back();
    const int32_t tg = static_cast<int32_t>(top & 0xFFFFFFFF);
    tg_of[t] = tg;
    ++tg_end[tg];
    heap.back() = top + (int64_t{units[t]} << 32);  // total units fit int32 (validate_problem)
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  }
  for (int32_t tg = 1; tg < tpc; ++tg) tg_end[tg] += tg_end[tg - 1];

  // One cluster's pieces TG by TG (each TG's tiles in assignment order).
  std::vector<WorkInfo>& pieces = ws.scratch.works[1];
  pieces.resize(static_cast<size_t>(ntiles));
  for (int32_t tg = tpc - 1; tg > 0; --tg) tg_end[tg] = tg_end[tg - 1];  // now: start of each TG
  if (tpc > 0) tg_end[0] = 0;
  for (int32_t t : order) pieces[tg_end[tg_of[t]]++] = tile_work[t];  // ends again after the fill

  const PlanSizes sizes{p.num_heads_k * ntiles, ntiles, ntiles};  // bounded by validate_problem
  const PlanSpans spans = out.reserve(sizes);
  write_replicated_works(p, ClusterSchedule{pieces, tg_end}, spans, opt);
  for (int32_t k = 0; k < ntiles; ++k) {
    spans.reduce_indptr[k] = k;
    spans.reduce_final_map[k] = FinalLoc{tile_work[k].qo_start, tile_work[k].qo_end};
    spans.reduce_partial_map[k] = tile_work[k].partial_o_loc;
  }
  spans.reduce_indptr[ntiles] = ntiles;
  return sizes;
}

// What its plans need at most for a deployment's static sizes: one piece per query tile and K head, one
// slot and one reduce entry per tile (qtc = batch_size * ceil(max_qlen / qlen_granularity) tiles at most).
Capacity whole_tiles_capacity(const SizingInputs& in) {
  Capacity c = compute_capacity(in, SizingFormula::kPr3606);  // validates the inputs; shapes of the indptrs
  const int64_t qtc = sizing_query_tiles(in);
  c.work_info = qtc * in.num_heads_k;
  c.reduce_partial_map = qtc;
  return c;
}

// The exact worst case over every batch within an engine's limits. THEOREM: with n = max_query_tiles(lim)
// (theorem (1) of sizing_tight.cpp), works <= num_heads_k * n, partial_slots = reduce_entries =
// reduce_partial_map <= n, and a batch with n tiles attains all four. PROOF: the plan above has exactly one
// piece per query tile and K head (every tile, zero-KV ones included, is scheduled), tile k's slot is
// qlen_granularity * k in global row order (slots 0 .. E-1 for E tiles), and one reduce entry of one partial
// per tile: the counts are nhk * E, E, E, E for a batch of E tiles, whatever its KV lengths, and E <= n with
// equality for fewest_tokens_batch(lim, n). QED. need_lse changes nothing (LseRule::kAlwaysSlots).
TightBound whole_tiles_tight(const EngineLimits& lim) {
  const int64_t n = max_query_tiles(lim);
  if (int64_t{lim.num_heads_k} * n > std::numeric_limits<int32_t>::max()) {
    throw InputError("num_heads_k", "the bound's work rows (" + std::to_string(int64_t{lim.num_heads_k} * n) +
                                        ") overflow upstream's int32 indices");
  }
  TightBound t;
  t.bound = BufferCounts{int64_t{lim.num_heads_k} * n, n, n, n};
  if (const auto b = fewest_tokens_batch(lim, n)) t.witness = *b;
  return t;
}

}  // namespace mlaps::policy_impl
