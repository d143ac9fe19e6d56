// fixed-split: batch-invariant. A tile's KV split depends on the tile alone, never on its batch-mates: a
// tile of U units is cut into n = min(ceil(U / S), T) pieces of near-equal size (the first U mod n one
// unit longer), S the fewest units whose modelled work is at least kWorkPerSetup times a piece's set-up
// (its own rows decide: a 256-row tile on mi355x-asm gets 9 units, a 16-row one 3), the split size
// FlashInfer's fixed_split_size and FA3's batch_invariant fix, made cost-aware. Each piece
// is computed over the same keys, and the reduce merges the same n partials on the same path, whatever
// else the batch holds, so a request's output and LSE bits are those it gets alone (`mlaps invariance`
// checks it). The number of pieces depends on the deployment through T, the TGs of a cluster in use (CUs, K
// heads and the profile's slots, tile_prices.h: fixed for an engine), which keeps every piece of a tile on
// its own TG (the contract's one work per tile and TG).
//
// Placement is cost-aware (the cost model's terms, tile_prices.h): tiles in descending order of their
// largest piece's modelled cost, each tile's n pieces onto the n least-loaded TGs of its cluster (the
// largest piece to the least-loaded one; n distinct TGs by construction), the LPT rule.
//
// Layout and metadata as cost-balanced and whole-tiles: gcd(K heads, CUs) clusters with the same schedule,
// each head repeating its TG's pieces with its q_head_range; slots G x k for the k-th piece in TG order;
// one reduce entry per tile in global row order listing its pieces' slots in KV order; upstream's kv_offset
// rule; tiles with no visible key scheduled as one empty piece.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <vector>

#include "scheduler/geometry.h"
#include "scheduler/policies/tile_prices.h"
#include "scheduler/policy.h"

namespace mlaps::policy_impl {

// A piece's work is at least this many times its set-up (item, Q load, partial write): the split measured
// over the workload sets on the cost model (README, "Batch invariance").
inline constexpr double kWorkPerSetup = 8;

// The split size of a tile, in units: from its own prices only.
int32_t split_units(const TilePrice& t) {
  const double unit = t.full > 0 ? t.uf : t.um;
  if (!(unit > 0)) return std::max(1, t.units);  // units cost nothing: no reason to cut
  return std::max(1, static_cast<int32_t>(std::ceil(kWorkPerSetup * t.base / unit)));
}

PlanSizes plan_fixed_split(const Problem& p, const ProblemTotals& totals, PlanOutput& out, PlanWorkspace& ws,
                           const PlanIntoOptions& opt) {
  const PlanningCosts& pc = planning_costs_in_effect();
  const int32_t G = p.qlen_granularity();
  const int32_t bpu = p.kvlen_granularity() / p.block_size;
  const int32_t bs = p.block_size;
  const int32_t tpc = cluster_geometry(p).tgs_per_cluster;
  const int32_t used = tgs_in_use(p, pc);  // LPT's TGs; the rest of the cluster stays empty
  const int32_t ntiles = totals.num_tiles;
  static thread_local std::vector<TilePrice> prices;
  price_tiles(p, pc, ntiles, prices, nullptr);

  // Each tile's split: pieces n_t and the cost of its first (largest) piece.
  std::vector<int32_t>& npieces_of = ws.scratch.i32[0];
  npieces_of.resize(static_cast<size_t>(ntiles) + 1);
  static thread_local std::vector<double> lead;
  lead.resize(static_cast<size_t>(ntiles));
  int32_t npieces = 0;
  for (int32_t t = 0; t < ntiles; ++t) {
    const TilePrice& tp = prices[t];
    const int32_t S = split_units(tp);
    const int32_t n = std::clamp((tp.units + S - 1) / S, 1, used);
    npieces_of[t] = n;
    npieces += n;
    const int32_t k = (tp.units + n - 1) / n;  // the first piece's units
    const int32_t nf = std::min(tp.full, k);
    lead[t] = (n == 1 ? tp.base_whole : tp.base) + nf * tp.uf + (k - nf) * tp.um;
  }
  std::vector<int32_t>& order = ws.scratch.i32[1];
  order.resize(static_cast<size_t>(ntiles));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int32_t x, int32_t y) { return lead[x] > lead[y] || (lead[x] == lead[y] && x < y); });

  // LPT: a min-heap of (load, TG); a tile's n pieces (KV order) onto the n least-loaded TGs.
  using Slot = std::pair<double, int32_t>;
  static thread_local std::vector<Slot> heap, taken;
  heap.clear();
  for (int32_t tg = 0; tg < used; ++tg) heap.emplace_back(0.0, tg);
  std::vector<int32_t>& tg_of = ws.scratch.i32[2];  // per piece (tile-major, KV order): its TG
  tg_of.resize(static_cast<size_t>(npieces));
  std::vector<int32_t>& first = ws.scratch.i32[3];  // per tile: its first piece in tile-major order
  first.resize(static_cast<size_t>(ntiles) + 1);
  first[0] = 0;
  for (int32_t t = 0; t < ntiles; ++t) first[t + 1] = first[t] + npieces_of[t];
  for (const int32_t t : order) {
    const TilePrice& tp = prices[t];
    const int32_t n = npieces_of[t];
    taken.clear();
    for (int32_t i = 0; i < n; ++i) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<>());
      taken.push_back(heap.back());
      heap.pop_back();
    }
    int32_t a = 0;
    for (int32_t i = 0; i < n; ++i) {
      const int32_t k = tp.units / n + (i < tp.units % n ? 1 : 0);
      const int32_t nf = std::clamp(tp.full - a, 0, k);
      Slot s = taken[i];
      s.first += (n == 1 ? tp.base_whole : tp.base) + nf * tp.uf + (k - nf) * tp.um;
      tg_of[first[t] + i] = s.second;
      heap.push_back(s);
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
      a += k;
    }
  }

  // Pieces TG by TG (each TG's in tile-major order); slots G x k for the k-th piece with one in TG order
  // (a tile written whole straight to the output, when the problem needs no LSE, has -1 and no entry);
  // reduce lists in KV order.
  const bool direct = whole_tiles_direct(p);
  static thread_local std::vector<int32_t> tg_end, pos;  // beyond the workspace's four int vectors
  tg_end.assign(static_cast<size_t>(tpc) + 1, 0);
  for (int32_t k = 0; k < npieces; ++k) ++tg_end[tg_of[k] + 1];
  for (int32_t tg = 0; tg < tpc; ++tg) tg_end[tg + 1] += tg_end[tg];
  // pos: per piece (tile-major), its position in TG order
  pos.resize(static_cast<size_t>(npieces));
  std::vector<WorkInfo>& pieces = ws.scratch.works[1];
  pieces.resize(static_cast<size_t>(npieces));
  int32_t nwhole_direct = 0;
  for (int32_t t = 0; t < ntiles; ++t) {
    const TilePrice& tp = prices[t];
    const int32_t n = npieces_of[t];
    nwhole_direct += direct && n == 1;
    int32_t a = 0;
    for (int32_t i = 0; i < n; ++i) {
      const int32_t k = tp.units / n + (i < tp.units % n ? 1 : 0);
      const int32_t at = tg_end[tg_of[first[t] + i]]++;
      pos[first[t] + i] = at;
      const int32_t kv_start = tp.kv_start + a * bpu;
      if (i + 1 < n) {  // a cut: upstream's kv_offset, the tokens after the piece
        const int32_t kv_end = std::min(kv_start + k * bpu, p.kv_indptr[tp.batch + 1]);
        pieces[at] = WorkInfo{tp.batch,
                              0,
                              tp.qo_start,
                              tp.qo_end,
                              kv_start,
                              kv_end,
                              p.context_lens[tp.batch] - (kv_end - tp.kv_start) * bs,
                              0};
      } else {
        pieces[at] =
            WorkInfo{tp.batch, direct && n == 1 ? -1 : 0, tp.qo_start, tp.qo_end, kv_start, tp.kv_end, 0, 0};
      }
      a += k;
    }
  }
  // tg_end[tg] is now the end of TG tg's pieces (each start moved past its pieces).
  int32_t nslots = 0;
  for (WorkInfo& w : pieces) {
    if (w.partial_o_loc == 0) w.partial_o_loc = G * nslots++;
  }

  const PlanSizes sizes{p.num_heads_k * npieces, ntiles - nwhole_direct,
                        nslots};  // bounded by validate_problem
  const PlanSpans spans = out.reserve(sizes);
  write_replicated_works(p, ClusterSchedule{pieces, std::span<const int32_t>(tg_end.data(), tpc)}, spans,
                         opt);
  write_reduce_maps(ntiles, prices, first, pos, pieces, direct, spans);
  return sizes;
}

// What its plans need at most for a deployment's static sizes: qtc = batch_size x ceil(max_qlen / G) tiles
// of at most min(M, tpc) pieces each (S >= 1 unit), M = ceil(max_kvlen / kvg) units (tpc pieces without a
// max_kvlen).
Capacity fixed_split_capacity(const SizingInputs& in) {
  Capacity c = compute_capacity(in, SizingFormula::kPr3606);  // validates the inputs; shapes of the indptrs
  const int64_t qtc = sizing_query_tiles(in);
  const int64_t tpc = cluster_geometry(in.num_heads_k, in.num_cu).tgs_per_cluster;
  int64_t per_tile = tpc;
  if (const auto M = sizing_kv_units(in)) per_tile = std::clamp<int64_t>(*M, 1, tpc);
  c.work_info = qtc * per_tile * in.num_heads_k;
  c.reduce_partial_map = qtc * per_tile;
  return c;
}

}  // namespace mlaps::policy_impl
