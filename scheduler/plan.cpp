// The PS scheduler (contract 2 and 3): a plain transcription of upstream's host loop, and a fast version that
// computes one cluster's partition once and replicates it.
#include "scheduler/plan.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <numeric>
#include <set>
#include <utility>

#include "scheduler/error.h"
#include "scheduler/geometry.h"
#include "scheduler/policy.h"

namespace mlaps {

namespace {

// ceil(a / d) for a >= 0, d > 0; a shift when d is a power of two (the usual qlen_granularity 256 / gqa).
struct CeilDiv {
  int32_t d;
  int shift;  // -1 when d is not a power of two
  explicit CeilDiv(int32_t divisor)
      : d(divisor),
        shift(std::has_single_bit(static_cast<uint32_t>(divisor))
                  ? std::countr_zero(static_cast<uint32_t>(divisor))
                  : -1) {}
  int32_t operator()(int32_t a) const { return shift >= 0 ? (a + d - 1) >> shift : (a + d - 1) / d; }
};

// Step 1 (contract 2.2) into `tiles`; returns total_units. int32 arithmetic throughout, as upstream (the
// problem's validation guarantees it cannot overflow).
int32_t fill_query_tiles(const Problem& p, std::vector<QTile>& tiles) {
  tiles.clear();
  const int32_t G = p.qlen_granularity();
  const int32_t bpu = p.kvlen_granularity() / p.block_size;
  const KvUnits units_of(p);
  const CeilDiv ranges_of(G);
  int32_t total_units = 0;
  for (int32_t b = 0; b < p.batch(); ++b) {
    const int32_t qo_len = p.qo_indptr[b + 1] - p.qo_indptr[b];
    const int32_t kv_len = p.context_lens[b];
    const int32_t n = ranges_of(qo_len);
    for (int32_t i = 0; i < n; ++i) {
      const int32_t r = (i % 2 == 0) ? i / 2 : n - 1 - i / 2;  // ping-pong: 0, n-1, 1, n-2, ...
      const int32_t local_start = r * G;
      const int32_t local_end = std::min(local_start + G, qo_len);
      const int32_t eff = p.causal ? std::min(kv_len - qo_len + local_end, kv_len) : kv_len;
      const int32_t units = units_of(eff);  // may be negative (2.5.3)
      tiles.push_back(QTile{b, local_start + p.qo_indptr[b], local_end + p.qo_indptr[b], units * bpu, eff});
      total_units += units;
    }
  }
  return total_units;
}

struct Geometry {
  int32_t G, bs, bpu, qhg;
  int32_t nc, tpc, khpc;
};

Geometry geometry(const Problem& p) {
  Geometry g{};
  g.G = p.qlen_granularity();
  g.bs = p.block_size;
  g.bpu = p.kvlen_granularity() / p.block_size;
  g.qhg = p.qhead_granularity();
  const ClusterGeometry c = cluster_geometry(p);
  g.nc = c.num_clusters;
  g.tpc = c.tgs_per_cluster;
  g.khpc = c.kheads_per_cluster;
  return g;
}

}  // namespace

ClusterGeometry cluster_geometry(const Problem& p) {
  return cluster_geometry(p.num_heads_k, p.num_cu);
}

std::vector<QTile> make_query_tiles(const Problem& p) {
  std::vector<QTile> tiles;
  fill_query_tiles(p, tiles);
  return tiles;
}

// ---------------------------------------------------------------------------------------------------------------
// Plain version: the upstream loop, literally (contract 2.3), one call of the kernel per cluster.

Plan make_plan_plain(const Problem& p, Policy policy) {
  if (!policy.traits().upstream_shape) {
    throw InputError("policy",
                     "the plain upstream loop models only policies claiming upstream's shape, not '" +
                         std::string(policy.name()) + "'");
  }
  validate_problem(p);
  const bool legacy = writes_whole_tiles_direct(policy, p.need_lse);
  const Geometry g = geometry(p);
  std::vector<QTile> tiles;
  Plan plan;
  plan.policy = std::string(policy.name());
  plan.reduce = policy.traits().reduce;
  plan.work_indptr.assign(static_cast<size_t>(p.num_cu) + 1, 0);
  std::vector<WorkInfo> works;
  for (int32_t cluster = 0; cluster < g.nc; ++cluster) {
    // kn_generate_ps_metadata(num_heads_k = khpc, available_tgs = tpc, cluster_id, current_work_idx)
    int32_t current_work_idx = plan.work_indptr[static_cast<size_t>(cluster) * g.tpc];
    const int32_t total_units = fill_query_tiles(p, tiles);
    const int32_t average = total_units / g.tpc;
    const int32_t reminder = total_units % g.tpc;
    const int32_t ntiles = static_cast<int32_t>(tiles.size());
    int32_t tile = 0, block = 0, partial = 0;
    for (int32_t tg = 0; tg < g.tpc; ++tg) {
      for (int32_t kho = 0; kho < g.khpc; ++kho) {
        const int32_t khi = cluster * g.khpc + kho;
        const int32_t qhr = WorkInfo::pack_heads(khi * g.qhg, (khi + 1) * g.qhg);
        const int32_t saved_tile = tile, saved_block = block, saved_partial = partial;
        int32_t cap = (tg < reminder ? average + 1 : average) * g.bpu;
        while (tile < ntiles && cap > 0) {
          const QTile& t = tiles[tile];
          const int32_t rem_blocks = t.num_blocks - block;
          const int32_t rem_kv = t.effective_kv - block * g.bs;
          const int32_t kv_start = block + p.kv_indptr[t.batch];
          int32_t consume;
          if (rem_kv <= cap * g.bs) {  // the tile finishes in this TG
            consume = rem_blocks;
            const int32_t pol = (legacy && block == 0) ? -1 : g.G * partial++;
            const int32_t kv_end = std::min(kv_start + consume, p.kv_indptr[t.batch + 1]);
            works.push_back(WorkInfo{t.batch, pol, t.qo_start, t.qo_end, kv_start, kv_end, 0, qhr});
            ++tile;
            block = 0;
          } else {  // the tile is cut here
            consume = cap;
            const int32_t pol = g.G * partial++;
            const int32_t kv_end = std::min(kv_start + consume, p.kv_indptr[t.batch + 1]);
            const int32_t kv_offset = p.context_lens[t.batch] - (kv_end - p.kv_indptr[t.batch]) * g.bs;
            works.push_back(WorkInfo{t.batch, pol, t.qo_start, t.qo_end, kv_start, kv_end, kv_offset, qhr});
            block += consume;
          }
          ++current_work_idx;
          cap -= consume;
        }
        if (kho != g.khpc - 1) {
          tile = saved_tile;
          block = saved_block;
          partial = saved_partial;
        }
      }
      plan.work_indptr[static_cast<size_t>(cluster) * g.tpc + tg + 1] = current_work_idx;
    }
  }
  plan.work_info = std::move(works);
  // The -1 skip of generate_reduce_info goes with the -1 writes (HEAD; the merged form's need_lse = false).
  build_reduce_info(legacy ? ReduceVersion::kLegacy : ReduceVersion::kFixed, plan.work_info, plan);
  return plan;
}

void build_reduce_info(ReduceVersion version, const std::vector<WorkInfo>& works, Plan& plan) {
  std::map<std::pair<int32_t, int32_t>, std::set<int32_t>> reduce_map;
  for (const WorkInfo& w : works) {
    if (version == ReduceVersion::kLegacy && w.partial_o_loc == -1)
      continue;  // HEAD's skip; PR-head removes it
    reduce_map[{w.qo_start, w.qo_end}].insert(w.partial_o_loc);
  }
  plan.reduce_indptr.assign(1, 0);
  plan.reduce_final_map.clear();
  plan.reduce_partial_map.clear();
  for (const auto& [key, slots] : reduce_map) {
    plan.reduce_final_map.push_back(FinalLoc{key.first, key.second});
    plan.reduce_partial_map.insert(plan.reduce_partial_map.end(), slots.begin(), slots.end());
    plan.reduce_indptr.push_back(static_cast<int32_t>(plan.reduce_partial_map.size()));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Fast version.

namespace {

// dst[k] = src[k] with q_head_range + delta. A row is written as two 16-byte vectors (GCC/Clang vector
// extension): a caller's buffer is typically 16-byte aligned (malloc), and 32-byte stores to it would split a
// cache line on every second row, which costs ~1.4x on a 2 MB plan; 16-byte stores never split there. (A
// scalar field update here made GCC 12 emit stack round trips that stall on store forwarding.)
typedef uint32_t HalfRow __attribute__((vector_size(16)));
static_assert(2 * sizeof(HalfRow) == sizeof(WorkInfo));
void copy_shifting_heads(WorkInfo* dst, const WorkInfo* src, int32_t n, uint32_t delta) {
  const HalfRow add = {0, 0, 0, delta};
  auto* d = reinterpret_cast<unsigned char*>(dst);
  const auto* s = reinterpret_cast<const unsigned char*>(src);
  for (int32_t k = 0; k < n; ++k, d += sizeof(WorkInfo), s += sizeof(WorkInfo)) {
    HalfRow lo, hi;
    std::memcpy(&lo, s, sizeof(lo));
    std::memcpy(&hi, s + sizeof(lo), sizeof(hi));
    hi += add;
    std::memcpy(d, &lo, sizeof(lo));
    std::memcpy(d + sizeof(lo), &hi, sizeof(hi));
  }
}

// work_info rows and work_indptr entries of clusters [c0, c1): cluster by cluster, TG by TG, head by head.
// Cluster c, head kho of the cluster is the pieces with q_head_range = pack(lo, hi) for K head
// c * khpc + kho, i.e. the pieces' q_head_range 0 plus (c * khpc + kho) * qhg * (1 + 2^16) (hi <= 0xFFFF,
// so no carry). Every cluster holds khpc * npieces rows, so a cluster's rows start at c * khpc * npieces
// and disjoint cluster ranges can be written concurrently.
void write_works(const Geometry& g, const ClusterSchedule& sched, const PlanSpans& out, int32_t c0,
                 int32_t c1) {
  int32_t* indptr = out.work_indptr.data();
  WorkInfo* dst = out.work_info.data();
  const WorkInfo* pieces = sched.pieces.data();
  const int32_t* tg_end = sched.tg_end.data();
  const int32_t npieces = static_cast<int32_t>(sched.pieces.size());
  const uint32_t head_step = static_cast<uint32_t>(g.qhg) * 0x10001u;
  const uint32_t head_hi = static_cast<uint32_t>(g.qhg) << 16;
  for (int32_t c = c0; c < c1; ++c) {
    int32_t idx = c * g.khpc * npieces;  // < num_works, an int32_t
    int32_t* ip = indptr + static_cast<size_t>(c) * g.tpc;
    const uint32_t kh0 = static_cast<uint32_t>(c * g.khpc);
    if (g.khpc == 1) {
      const uint32_t delta = kh0 * head_step + head_hi;
      copy_shifting_heads(dst + idx, pieces, npieces, delta);
      for (int32_t tg = 0; tg < g.tpc; ++tg) ip[tg + 1] = idx + tg_end[tg];
      continue;
    }
    int32_t begin = 0;
    for (int32_t tg = 0; tg < g.tpc; ++tg) {
      const int32_t end = tg_end[tg];
      const int32_t cnt = end - begin;
      for (int32_t kho = 0; kho < g.khpc; ++kho) {
        const uint32_t delta = (kh0 + static_cast<uint32_t>(kho)) * head_step + head_hi;
        copy_shifting_heads(dst + idx, pieces + begin, cnt, delta);
        idx += cnt;
      }
      ip[tg + 1] = idx;
      begin = end;
    }
  }
}

}  // namespace

void write_replicated_works(const Problem& p, const ClusterSchedule& sched, const PlanSpans& out,
                            const PlanIntoOptions& opt) {
  const Geometry g = geometry(p);
  out.work_indptr[0] = 0;
  const int64_t work_bytes = int64_t{p.num_heads_k} * static_cast<int64_t>(sched.pieces.size()) *
                             static_cast<int64_t>(sizeof(WorkInfo));
  const int nt = static_cast<int>(std::min<int64_t>(opt.num_threads, g.nc));
  if (nt > 1 && work_bytes >= opt.parallel_min_bytes) {
    // Clusters split into nt contiguous ranges, one per thread: each thread's rows are one contiguous span.
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), n = omp_get_num_threads();
      write_works(g, sched, out, static_cast<int32_t>(int64_t{g.nc} * t / n),
                  static_cast<int32_t>(int64_t{g.nc} * (t + 1) / n));
    }
  } else {
    write_works(g, sched, out, 0, g.nc);
  }
}

struct PlanCore {
  const Problem& p;
  bool legacy;  // HEAD's -1 fast path (aiter-legacy)
  PlanWorkspace& ws;
  Geometry g;
  PlanSizes sizes;
  int32_t npieces = 0;
  int32_t touched = 0;  // tiles [0, touched) got at least one piece (the scheduled tiles are a prefix)

  PlanCore(const Problem& prob, bool legacy_fast_path, PlanWorkspace& w)
      : p(prob), legacy(legacy_fast_path), ws(w), g(geometry(prob)) {}

  // One cluster, one head: the distribution loop of contract 2.3 with q_head_range 0. Pieces go to
  // ws.pieces_[0, npieces); tile t's pieces are [tile_first_piece_[t], tile_first_piece_[t + 1]) for
  // t < touched (tile_first_piece_[touched] = npieces). `totals` comes from validate_problem (step 1's tile
  // count and total_units in closed form); the tiles themselves are generated as the loop reaches them.
  void schedule(const ProblemTotals& totals) {
    const int32_t ntiles = totals.num_tiles;
    // Each TG cuts at most one tile, so pieces <= tiles + TGs (bounded by validate_problem).
    const size_t max_pieces = static_cast<size_t>(ntiles) + static_cast<size_t>(g.tpc);
    if (ws.pieces_.size() < max_pieces) ws.pieces_.resize(max_pieces);
    if (ws.tile_first_piece_.size() < static_cast<size_t>(ntiles) + 1)
      ws.tile_first_piece_.resize(static_cast<size_t>(ntiles) + 1);
    ws.tg_end_.resize(static_cast<size_t>(g.tpc));
    // Specialised on the two flags the per-tile path tests, so the hot loop keeps its state in registers.
    Distributed d;
    if (p.causal) {
      d = legacy ? distribute<true, true>(totals.total_units) : distribute<true, false>(totals.total_units);
    } else {
      d = legacy ? distribute<false, true>(totals.total_units) : distribute<false, false>(totals.total_units);
    }
    npieces = d.npieces;
    touched = d.touched;
    ws.tile_first_piece_[static_cast<size_t>(touched)] = npieces;
    // Cannot overflow: validate_problem bounds heads * (tiles + tpc).
    sizes.num_works = p.num_heads_k * npieces;
    // A skipped piece (legacy, pol -1) is a whole tile on its own: it drops one entry and one partial.
    sizes.num_reduce_entries = touched - d.nskipped;
    sizes.num_partials = npieces - d.nskipped;
  }

  struct Distributed {
    int32_t npieces = 0, touched = 0, nskipped = 0;
  };

  template <bool kCausal, bool kLegacy>
  Distributed distribute(int32_t total_units) const {
    const int32_t G = g.G, bs = g.bs, bpu = g.bpu, tpc = g.tpc;
    const KvUnits units_of(p);  // truncating toward zero, as upstream (2.5.3)
    const CeilDiv ranges_of(G);
    const int32_t* qo_indptr = p.qo_indptr.data();
    const int32_t* kv_indptr = p.kv_indptr.data();
    const int32_t* ctx = p.context_lens.data();
    const int32_t B = p.batch();
    const int32_t average = total_units / tpc;
    const int32_t reminder = total_units % tpc;
    WorkInfo* pieces = ws.pieces_.data();
    int32_t* first_piece = ws.tile_first_piece_.data();
    int32_t* tg_end = ws.tg_end_.data();

    // Emission order (sequence by sequence, ping-pong within a sequence); the TG state (tg, cap) carries
    // across tiles: a TG whose capacity is spent hands over to the next, as upstream's while loop does.
    // Few live values (pointers instead of counters, `slot` = G * partial) so GCC keeps them in registers.
    WorkInfo* out = pieces;     // next piece
    int32_t* fp = first_piece;  // next tile's first-piece entry
    int32_t block = 0, slot = 0, nskipped = 0;
    int32_t tg = 0;
    int32_t cap = (0 < reminder ? average + 1 : average) * bpu;
    auto next_tg = [&]() {  // false when every TG is full
      do {
        tg_end[tg] = static_cast<int32_t>(out - pieces);
        if (++tg == tpc) return false;
        cap = (tg < reminder ? average + 1 : average) * bpu;
      } while (cap <= 0);
      return true;
    };
    for (int32_t b = 0; b < B; ++b) {
      const int32_t q0 = qo_indptr[b];
      const int32_t qo_len = qo_indptr[b + 1] - q0;
      const int32_t kv_len = ctx[b];
      const int32_t n = ranges_of(qo_len);
      const int32_t kv_base = kv_indptr[b];
      const int32_t kv_limit = kv_indptr[b + 1];
      int32_t eff = kv_len;  // a non-causal sequence's tiles all see the whole context
      int32_t blocks = units_of(eff) * bpu;
      for (int32_t i = 0; i < n; ++i) {
        const int32_t r = (i & 1) == 0 ? i >> 1 : n - 1 - (i >> 1);
        const int32_t local_start = r * G;
        const int32_t local_end = std::min(local_start + G, qo_len);
        if constexpr (kCausal) {
          eff = std::min(kv_len - qo_len + local_end, kv_len);
          blocks = units_of(eff) * bpu;
        }
        const int32_t qs = local_start + q0, qe = local_end + q0;
        if (cap <= 0 && !next_tg()) [[unlikely]]
          goto scheduled;
        *fp++ = static_cast<int32_t>(out - pieces);
        if (eff <= cap * bs) [[likely]] {  // the whole tile finishes in this TG
          int32_t pol;
          if constexpr (kLegacy) {
            pol = -1;
            ++nskipped;
          } else {
            pol = slot;
            slot += G;
          }
          *out++ = WorkInfo{b, pol, qs, qe, kv_base, std::min(kv_base + blocks, kv_limit), 0, 0};
          cap -= blocks;
          continue;
        }
        // The tile is cut: each TG takes its whole capacity until one can finish it.
        for (;;) {
          const int32_t kv_start = kv_base + block;
          const int32_t kv_end = std::min(kv_start + cap, kv_limit);
          *out++ = WorkInfo{b, slot, qs, qe, kv_start, kv_end, kv_len - (kv_end - kv_base) * bs, 0};
          slot += G;
          block += cap;
          if (!next_tg()) goto scheduled;
          if (eff - block * bs <= cap * bs) {  // finishes here
            const int32_t consume = blocks - block;
            const int32_t start = kv_base + block;
            *out++ = WorkInfo{b, slot, qs, qe, start, std::min(start + consume, kv_limit), 0, 0};
            slot += G;
            cap -= consume;
            block = 0;
            break;
          }
        }
      }
    }
    for (; tg < tpc; ++tg) tg_end[tg] = static_cast<int32_t>(out - pieces);
  scheduled:
    // A tile cut by the last TG was touched although its loop iteration did not finish.
    return Distributed{static_cast<int32_t>(out - pieces), static_cast<int32_t>(fp - first_piece), nskipped};
  }

  // Emission index of the tile covering range r of a sequence with n ranges (inverse of the ping-pong order).
  static int32_t emission_of_range(int32_t r, int32_t n) {
    return r < (n + 1) / 2 ? 2 * r : 2 * (n - 1 - r) + 1;
  }

  void write(const PlanSpans& out, const PlanIntoOptions& opt) const {
    write_replicated_works(
        p,
        ClusterSchedule{std::span<const WorkInfo>(ws.pieces_.data(), static_cast<size_t>(npieces)),
                        std::span<const int32_t>(ws.tg_end_.data(), static_cast<size_t>(g.tpc))},
        out, opt);
    // Reduce info: tiles in global row order (batch by batch, range by range), slots ascending (= piece
    // order).
    const WorkInfo* pieces = ws.pieces_.data();
    const int32_t* first_piece = ws.tile_first_piece_.data();
    int32_t* rip = out.reduce_indptr.data();
    FinalLoc* rfm = out.reduce_final_map.data();
    int32_t* rpm = out.reduce_partial_map.data();
    int32_t entry = 0, total = 0;
    rip[0] = 0;
    int32_t base = 0;
    const CeilDiv ranges_of(g.G);
    const int32_t* qo_indptr = p.qo_indptr.data();
    const int32_t B = p.batch();
    const int32_t G = g.G;
    for (int32_t b = 0; b < B && base < touched; ++b) {
      const int32_t q0 = qo_indptr[b];
      const int32_t qo_len = qo_indptr[b + 1] - q0;
      const int32_t n = ranges_of(qo_len);
      if (!legacy && base + n <= touched) {
        // Every tile of the sequence scheduled, every piece a slot: piece k's slot is G * k.
        for (int32_t r = 0; r < n; ++r) {
          const int32_t t = base + emission_of_range(r, n);
          const int32_t first = first_piece[t];
          const int32_t cnt = first_piece[t + 1] - first;
          rpm[total] = G * first;
          if (cnt != 1) [[unlikely]] {  // a cut tile (at most one per TG)
            for (int32_t k = 1; k < cnt; ++k) rpm[total + k] = G * (first + k);
          }
          total += cnt;
          rfm[entry] = FinalLoc{q0 + r * G, q0 + std::min(r * G + G, qo_len)};
          rip[++entry] = total;
        }
        base += n;
        continue;
      }
      for (int32_t r = 0; r < n; ++r) {
        const int32_t t = base + emission_of_range(r, n);
        if (t >= touched) continue;
        const int32_t first = first_piece[t];
        const int32_t last = first_piece[t + 1];
        if (legacy && pieces[first].partial_o_loc == -1) continue;  // a whole tile, skipped (one piece)
        for (int32_t k = first; k < last; ++k) rpm[total++] = pieces[k].partial_o_loc;
        rfm[entry] = FinalLoc{q0 + r * G, q0 + std::min(r * G + G, qo_len)};
        rip[++entry] = total;
      }
      base += n;
    }
  }
};

PlanSizes plan_upstream(const Problem& p, const ProblemTotals& totals, bool legacy, PlanOutput& out,
                        PlanWorkspace& ws, const PlanIntoOptions& opt) {
  PlanCore core(p, legacy, ws);
  core.schedule(totals);
  core.write(out.reserve(core.sizes), opt);
  return core.sizes;
}

}  // namespace mlaps
