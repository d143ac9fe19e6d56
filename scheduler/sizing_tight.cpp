// The tight bound on the PS buffers over every batch within an engine's limits, and its witnesses.
//
// Notation: T = max_num_batched_tokens, S = max_num_seqs, G = qlen_granularity = tile_q / gqa, kvg = tile_kv
// (block_size 1, so one block is one token and a unit is kvg tokens), nc = gcd(num_heads_k, num_cu) clusters
// of tpc = num_cu / nc thread groups, L = max_kvlen (optional), M = ceil(L / kvg) (infinite without L).
// A batch within the limits has B <= S sequences, sum(qo_len) <= T, kv_len <= L, and, causal, qo_len <=
// kv_len.
//
// THEOREM. Let m = min(S, T) and n = m + min(floor((T - m) / G), m * (ceil(L / G) - 1)) when causal with L,
// n = m + floor((T - m) / G) otherwise; C = min(tpc - 1, n * (M - 1)); P = n + C. Every plan of a batch
// within the limits has
//   every piece a slot (aiter, need_lse):  works <= num_heads_k * P, partial_slots <= P,
//                                          reduce_entries <= n, reduce_partial_map <= P;
//   whole tiles direct (aiter-legacy; aiter without need_lse), with K = min(C, n):
//                                          works <= num_heads_k * P, partial_slots <= C + K,
//                                          reduce_entries <= K, reduce_partial_map <= C + K.
// PROOF. (1) Tiles. A sequence cut into k tiles has qo_len >= (k - 1) G + 1, so b non-empty sequences with N
// tiles need (N - b) G + b <= T tokens: N <= b + floor((T - b) / G), which does not decrease with b, and
// b <= m (b <= S, and each needs a token). Causal with L, each sequence also has qo_len <= kv_len <= L, so at
// most ceil(L / G) tiles: N <= m ceil(L / G). Both hold, so the emitted tiles E <= N <= n.
// (2) Pieces. Every cluster runs the same distribution on the same tiles (contract 2.1), so each count below
// is per cluster and head; works = num_heads_k * pieces. A TG's capacity is a whole number of units and the
// capacities sum to the total units, which the tiles consume exactly (a tile consumes units * kvg blocks, its
// last piece clamped only in kv_end): so the last TG never cuts a tile, and a TG cuts at most one (it ends
// when its capacity runs out inside that tile). A TG ends inside a tile at one of the tile's units - 1 inner
// unit boundaries, a different one for each TG (TG ends are distinct when the TG's capacity is > 0; a TG of
// capacity 0 ends nowhere). So cuts <= tpc - 1 and cuts <= sum over tiles (units - 1) <= E (M - 1) (a tile
// has at most M units: causal eff <= kv_len <= L). A tile with c cuts has c + 1 pieces: pieces = E + cuts <=
// n + C = P. (3) Slots. With every piece a slot, slots are handed out in order, 0.. pieces - 1: partial_slots
// = reduce_partial_map = pieces <= P, and reduce_entries = E <= n (one per emitted tile). With whole tiles
// written directly, only the pieces of the K' tiles that are cut get a slot (again in order): partial_slots =
// reduce_partial_map = cuts + K' and reduce_entries = K'; a cut tile holds a cut of its own, so K' <= cuts <=
// C and K' <= E <= n. QED.
//
// EXACTNESS is shown per configuration by a witness: a batch within the limits, constructed below, whose plan
// (made by the scheduler itself) needs exactly the bound. TightBound::exact() reports it; where no
// construction reaches the bound, the bound stays proven but is not shown attained (`mlaps sizing` says so).
//
// The carrier construction (the one that attains the bound whenever the carriers fit in L). Let a >= 2 and
// take U = a * tpc units in all: every TG then has exactly a units, and the TG ends ("marks") lie at a, 2a,
// ..., (tpc - 1) a. The tiles are laid out in emission order as: a prefix of tiles of few units (non-causal:
// KV 0, zero units; causal: one unit per single-token sequence and the multi-tile sequences at kv_len =
// qo_len), all inside [0, a), then k single-token "carriers" whose boundaries sit at p0 + a * (g_1 + ... +
// g_j), with p0 = max(prefix, 1) < a and g_j >= 1 marks each (sum g_j = tpc - 1), the last ending at U. No
// tile boundary is a mark (each is p0 mod a, or below a, or U), so every mark cuts: cuts = tpc - 1, every
// tile is emitted (the zero-unit ones come before the last unit), pieces = n + tpc - 1, and the k carriers
// are exactly the cut tiles: K' = k. With k = min(tpc - 1, n) (enough single-token sequences) this attains
// both slot rules' bounds at once. Carrier j has a * g_j (+1 for the first when the prefix is empty) units,
// so it fits in L when that is <= M. Where M is small, the batch with every kv_len = L (U = n M <= tpc: every
// unit its own piece, pieces = n M) and a seeded local search over KV lengths are tried as well.
#include <algorithm>
#include <array>
#include <limits>
#include <numeric>
#include <random>

#include "scheduler/error.h"
#include "scheduler/geometry.h"
#include "scheduler/policy.h"
#include "scheduler/sizing.h"

namespace mlaps {
namespace {

constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max() / 4;

struct Ctx {
  const EngineLimits& lim;
  Policy policy;
  bool every;  // every piece a slot
  int64_t G, kvg, tpc, nhk;
  int64_t M;              // units per tile, at most
  int64_t m, n;           // sequences, tiles (theorem (1))
  int64_t tiles_per_seq;  // causal with L: ceil(L / G); else unbounded
  BufferCounts bound;
};

int64_t cdiv(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// The limits' geometry and theorem (1)'s tile count; no bound yet.
Ctx base_ctx(const EngineLimits& lim, Policy policy) {
  lim.validate();
  Ctx c{lim, policy, every_piece_has_slot(policy, lim.need_lse), 0, 0, 0, 0, 0, 0, 0, 0, {}};
  c.G = lim.qlen_granularity();
  c.kvg = lim.tile_kv;
  c.tpc = cluster_geometry(lim.num_heads_k, lim.num_cu).tgs_per_cluster;
  c.nhk = lim.num_heads_k;
  c.M = lim.max_kvlen ? cdiv(*lim.max_kvlen, c.kvg) : kUnbounded;
  const int64_t T = lim.max_num_batched_tokens;
  c.m = std::min<int64_t>(lim.max_num_seqs, T);
  c.tiles_per_seq = lim.causal && lim.max_kvlen ? cdiv(*lim.max_kvlen, c.G) : kUnbounded;
  const int64_t extras = (T - c.m) / c.G;
  c.n = c.m + (c.tiles_per_seq == kUnbounded ? extras : std::min(extras, c.m * (c.tiles_per_seq - 1)));
  return c;
}

// Upstream's algorithm (the policy claims its shape; it plans with its own slot rule for lim.need_lse).
Ctx make_ctx(const EngineLimits& lim, Policy policy) {
  if (!policy.traits().upstream_shape) {
    throw InputError("--policy",
                     "the tight bound of upstream's algorithm models policies claiming its "
                     "shape; '" +
                         std::string(policy.name()) + "' does not");
  }
  Ctx c = base_ctx(lim, policy);
  const int64_t cuts = c.M == kUnbounded ? c.tpc - 1 : std::min(c.tpc - 1, c.n * (c.M - 1));
  const int64_t pieces = c.n + cuts;
  if (c.nhk * pieces > std::numeric_limits<int32_t>::max()) {
    throw InputError("num_heads_k", "the bound's work rows (" + std::to_string(c.nhk * pieces) +
                                        ") overflow upstream's int32 indices");
  }
  if (c.every) {
    c.bound = BufferCounts{c.nhk * pieces, pieces, c.n, pieces};
  } else {
    const int64_t cut_tiles = std::min(cuts, c.n);
    c.bound = BufferCounts{c.nhk * pieces, cuts + cut_tiles, cut_tiles, cuts + cut_tiles};
  }
  return c;
}

// The plan's counts, made on one cluster (1 K head, tpc CUs: the same partition, contract 2.1), works scaled
// to every head. nullopt when the batch is no valid problem.
std::optional<BufferCounts> evaluate(const Ctx& c, const Batch& b) {
  try {
    Problem p = Problem::from_lengths(b.qo_lens, b.kv_lens, 1, c.lim.causal, static_cast<int32_t>(c.tpc),
                                      c.lim.gqa_ratio, 1);
    p.tile_q = c.lim.tile_q;
    p.tile_kv = c.lim.tile_kv;
    p.need_lse = c.lim.need_lse;
    BufferCounts r = counts_of(make_plan(p, c.policy), static_cast<int32_t>(c.G));
    r.works = *r.works * c.nhk;
    return r;
  } catch (const InputError&) {
    return std::nullopt;
  }
}

// How close counts come to the bound: counts attained, then the counts themselves (slots first).
std::array<int64_t, 5> score(const Ctx& c, const BufferCounts& r) {
  const int64_t hit = (r.works == c.bound.works) + (r.partial_slots == c.bound.partial_slots) +
                      (r.reduce_entries == c.bound.reduce_entries) +
                      (r.reduce_partial_map == c.bound.reduce_partial_map);
  return {hit, *r.partial_slots, *r.works, *r.reduce_entries, *r.reduce_partial_map};
}

// Query lengths of a batch with `tiles` tiles and the fewest query tokens: single-token sequences while they
// last (at most m), the remaining tiles G tokens each on top (one sequence, or ceil(L / G) tiles per sequence
// causal with L). nullopt when the limits hold no such batch.
std::optional<std::vector<int32_t>> shape(const Ctx& c, int64_t tiles) {
  if (tiles < 1) return std::nullopt;
  if (tiles <= c.m) return std::vector<int32_t>(static_cast<size_t>(tiles), 1);
  int64_t extras = tiles - c.m;
  if (c.m + extras * c.G > c.lim.max_num_batched_tokens) return std::nullopt;
  std::vector<int32_t> q(static_cast<size_t>(c.m), 1);
  for (auto& v : q) {
    const int64_t take = std::min(extras, c.tiles_per_seq - 1);
    v = static_cast<int32_t>(1 + take * c.G);
    extras -= take;
    if (extras == 0) break;
  }
  if (extras > 0) return std::nullopt;
  return q;
}

// Units of a sequence's tiles at the given lengths (contract 2.2).
int64_t sequence_units(const Ctx& c, int64_t q, int64_t kv) {
  int64_t u = 0;
  for (int64_t start = 0; start < q; start += c.G) {
    const int64_t end = std::min(start + c.G, q);
    const int64_t eff = c.lim.causal ? std::min(kv - q + end, kv) : kv;
    u += cdiv(eff, c.kvg);
  }
  return u;
}

// The carrier construction (file comment) with k carriers, at the smallest TG width a that fits the prefix
// (the carriers grow with a); nullopt where it does not fit. `framed`: a one-unit single-token tile opens the
// carriers (non-causal: p0 = 1 without widening the first carrier) and another closes them (the last carrier
// ends at p0 + a (tpc - 1), the closing tile takes the a - p0 units up to U), so every carrier has exactly
// a * g_j units: the form for a small L.
std::optional<Batch> carrier_layout(const Ctx& c, const std::vector<int32_t>& q, int64_t k, bool framed) {
  std::vector<int32_t> singles, multi;
  for (int32_t v : q) (v <= c.G ? singles : multi).push_back(v);
  const int64_t fillers = framed ? (c.lim.causal ? 1 : 2) : 0;
  if (k < 1 || k + fillers > static_cast<int64_t>(singles.size()) || k > c.tpc - 1) return std::nullopt;
  Batch b;
  int64_t prefix = 0;
  auto add = [&](int32_t qo, int64_t kv) {
    b.qo_lens.push_back(qo);
    b.kv_lens.push_back(static_cast<int32_t>(kv));
    prefix += sequence_units(c, qo, kv);
  };
  auto kv_of = [&](int64_t units) -> std::optional<int64_t> {
    if (units < 1 || units > c.M) return std::nullopt;
    int64_t kv = units * c.kvg;
    if (c.lim.max_kvlen) kv = std::min<int64_t>(kv, *c.lim.max_kvlen);
    if (kv > std::numeric_limits<int32_t>::max() / 2) return std::nullopt;
    return kv;
  };
  size_t next = 0;  // next single to place
  const size_t small = singles.size() - static_cast<size_t>(k + fillers);
  for (; next < small; ++next) add(singles[next], c.lim.causal ? singles[next] : 0);
  for (int32_t v : multi) add(v, c.lim.causal ? v : 0);
  if (framed && !c.lim.causal) add(singles[next++], 1);  // the opening one-unit tile
  const int64_t p0 = std::max<int64_t>(prefix, 1);
  const int64_t a = p0 + 1;
  int64_t at = prefix, marks = 0;
  const int64_t total_marks = c.tpc - 1;
  for (int64_t j = 0; j < k; ++j) {
    marks += total_marks / k + (j < total_marks % k ? 1 : 0);
    const int64_t end = j == k - 1 && !framed ? a * c.tpc : p0 + a * marks;
    const auto kv = kv_of(end - at);
    if (!kv) return std::nullopt;
    b.qo_lens.push_back(singles[next++]);
    b.kv_lens.push_back(static_cast<int32_t>(*kv));
    at = end;
  }
  if (framed) {  // the closing tile
    const auto kv = kv_of(a * c.tpc - at);
    if (!kv) return std::nullopt;
    b.qo_lens.push_back(singles[next++]);
    b.kv_lens.push_back(static_cast<int32_t>(*kv));
  }
  return b;
}

// Every sequence at kv_len = L (or, without L, at its smallest valid length: non-causal 1, causal qo_len).
Batch uniform_layout(const Ctx& c, const std::vector<int32_t>& q) {
  Batch b;
  b.qo_lens = q;
  for (int32_t v : q) {
    b.kv_lens.push_back(c.lim.max_kvlen ? *c.lim.max_kvlen : (c.lim.causal ? v : 1));
  }
  return b;
}

struct Best {
  Batch batch;
  BufferCounts counts;
  std::array<int64_t, 5> s{-1, 0, 0, 0, 0};
  bool offer(const Ctx& c, const Batch& b) {
    const auto r = evaluate(c, b);
    if (!r) return false;
    const auto sc = score(c, *r);
    if (sc > s) {
      s = sc;
      batch = b;
      counts = *r;
    }
    return s[0] == 4;
  }
};

// Seeded local search over KV lengths (and sequence order) from `best`, for configurations the constructions
// do not reach.
void local_search(const Ctx& c, Best& best, int iterations) {
  std::mt19937_64 rng(0x5eed'13);
  const int64_t hi_cap =
      c.lim.max_kvlen ? *c.lim.max_kvlen : std::min<int64_t>(int64_t{1} << 24, 2 * c.kvg * c.tpc * (c.n + 1));
  Batch cur = best.batch;
  auto cur_score = best.s;
  for (int it = 0; it < iterations && best.s[0] < 4; ++it) {
    Batch cand = cur;
    const size_t B = cand.qo_lens.size();
    if (B == 0) return;
    const int changes = 1 + static_cast<int>(rng() % 3);
    for (int ch = 0; ch < changes; ++ch) {
      const size_t i = rng() % B;
      if (rng() % 4 == 0 && B > 1) {
        const size_t j = rng() % B;
        std::swap(cand.qo_lens[i], cand.qo_lens[j]);
        std::swap(cand.kv_lens[i], cand.kv_lens[j]);
        continue;
      }
      const int64_t lo = c.lim.causal ? cand.qo_lens[i] : 0;
      if (hi_cap < lo) continue;
      int64_t kv;
      switch (rng() % 3) {
        case 0:
          kv = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi_cap - lo + 1));
          break;
        case 1:
          kv = std::clamp<int64_t>(cand.kv_lens[i] + static_cast<int64_t>(rng() % (2 * c.kvg + 1)) - c.kvg,
                                   lo, hi_cap);
          break;
        default:
          kv = std::clamp<int64_t>(
              ((rng() % static_cast<uint64_t>(std::max<int64_t>(1, c.M == kUnbounded ? 4 * c.tpc : c.M))) +
               1) *
                  c.kvg,
              lo, hi_cap);
      }
      cand.kv_lens[i] = static_cast<int32_t>(kv);
    }
    const auto r = evaluate(c, cand);
    if (!r) continue;
    const auto sc = score(c, *r);
    if (sc >= cur_score) {
      cur = cand;
      cur_score = sc;
    }
    if (sc > best.s) {
      best.s = sc;
      best.batch = cand;
      best.counts = *r;
    }
  }
}

// Offers `visit` the constructed batches with `tiles` tiles: the carrier construction (the fewest carriers
// first with every piece a slot, the most first with whole tiles direct, where the carriers are the cut
// tiles), then the uniform layout. Stops when `visit` returns true.
template <typename Visit>
void construct(const Ctx& c, int64_t tiles, Visit visit) {
  const auto q = shape(c, tiles);
  if (!q) return;
  const int64_t singles = std::count_if(q->begin(), q->end(), [&](int32_t v) { return v <= c.G; });
  const int64_t kmax = std::min(singles, c.tpc - 1);
  for (bool framed : {false, true}) {
    for (int64_t i = 0; i < kmax; ++i) {
      const std::optional<Batch> b = carrier_layout(c, *q, c.every ? 1 + i : kmax - i, framed);
      if (b && visit(*b)) return;
    }
  }
  visit(uniform_layout(c, *q));
}

}  // namespace

int64_t max_query_tiles(const EngineLimits& lim) {
  return base_ctx(lim, default_policy()).n;
}

std::optional<Batch> fewest_tokens_batch(const EngineLimits& lim, int64_t tiles) {
  const Ctx c = base_ctx(lim, default_policy());
  const auto q = shape(c, tiles);
  if (!q) return std::nullopt;
  return uniform_layout(c, *q);
}

TightBound tight_bound(const EngineLimits& lim, Policy policy) {
  if (policy->tight) {  // the policy's own theorem; its witness planned by the policy
    lim.validate();
    TightBound t = policy->tight(lim);
    t.attained = BufferCounts{0, 0, 0, 0};
    if (!t.witness.qo_lens.empty()) {
      t.attained = counts_of(make_plan(problem_of(lim, t.witness), policy), lim.qlen_granularity());
    }
    return t;
  }
  if (!policy.traits().upstream_shape) {
    throw InputError("--policy", "no tight bound is derived for '" + std::string(policy.name()) +
                                     "' (neither upstream's shape nor a bound of its own, PolicyDef::tight)");
  }
  const Ctx c = make_ctx(lim, policy);
  Best best;
  construct(c, c.n, [&](const Batch& b) { return best.offer(c, b); });
  if (best.s[0] < 4) {
    if (best.s[0] < 0) {  // nothing valid yet: start the search from the uniform layout
      if (const auto q = shape(c, c.n)) best.offer(c, uniform_layout(c, *q));
    }
    if (best.s[0] >= 0) local_search(c, best, 3000);
  }
  TightBound t;
  t.bound = c.bound;
  t.witness = best.batch;
  t.attained = best.s[0] >= 0 ? best.counts : BufferCounts{0, 0, 0, 0};
  return t;
}

OverflowSearch smallest_overflow(const EngineLimits& lim, Policy policy, const Capacity& cap) {
  OverflowSearch out;
  if (policy->tight) {
    // A policy with its own bound: the fewest-token batch of each tile count in turn, planned by the policy
    // (the first that overflows is the smallest of those; proven smallest only for upstream's algorithm).
    const TightBound t = tight_bound(lim, policy);
    const BufferCounts& b = t.bound;
    const int64_t slot_cap =
        std::min(cap.reduce_partial_map, cap.partial_rows(lim.tile_q) / lim.qlen_granularity());
    if (*b.works <= cap.work_info && *b.reduce_entries <= cap.reduce_final_map &&
        *b.reduce_entries + 1 <= cap.reduce_indptr && *b.reduce_partial_map <= cap.reduce_partial_map &&
        *b.partial_slots <= slot_cap && int64_t{lim.num_cu} + 1 <= cap.work_indptr) {
      return out;  // kNone: the bound fits
    }
    out.status = OverflowSearch::Status::kNotFound;
    const int64_t n = max_query_tiles(lim);
    for (int64_t tiles = 1, evaluations = 0; tiles <= n && evaluations < 2000; ++tiles, ++evaluations) {
      const auto batch = fewest_tokens_batch(lim, tiles);
      if (!batch) continue;
      auto over = capacity_overflows(make_plan(problem_of(lim, *batch), policy), cap, lim.tile_q);
      if (over.empty()) continue;
      out.status = OverflowSearch::Status::kFound;
      out.batch = *batch;
      out.overflows = std::move(over);
      return out;
    }
    return out;
  }
  const Ctx c = make_ctx(lim, policy);
  const int64_t G = c.G;
  const int64_t slot_cap = std::min(cap.reduce_partial_map, cap.partial_rows(lim.tile_q) / G);
  const bool fits = *c.bound.works <= cap.work_info && *c.bound.reduce_entries <= cap.reduce_final_map &&
                    *c.bound.reduce_entries + 1 <= cap.reduce_indptr &&
                    *c.bound.reduce_partial_map <= cap.reduce_partial_map &&
                    *c.bound.partial_slots <= slot_cap && int64_t{lim.num_cu} + 1 <= cap.work_indptr;
  if (fits) return out;  // kNone: proven by the theorem
  // Fewest tiles an overflowing batch can have (every piece a slot: pieces <= tiles + C).
  const int64_t C = *c.bound.works / c.nhk - c.n;
  int64_t lb = 1;
  if (c.every) {
    int64_t need = cap.reduce_final_map + 1;  // reduce entries = tiles
    need = std::min(need, slot_cap + 1 - C);  // slots = pieces
    need = std::min(need, std::min(cap.reduce_partial_map, cap.work_info / c.nhk) + 1 - C);
    lb = std::max<int64_t>(1, need);
  }
  out.status = OverflowSearch::Status::kNotFound;
  int evaluations = 0;
  const Policy plan_policy = c.policy;  // problem_of carries lim.need_lse
  for (int64_t tiles = lb; tiles <= c.n && evaluations < 2000; ++tiles) {
    bool found = false;
    construct(c, tiles, [&](const Batch& b) {
      ++evaluations;
      try {
        auto over = capacity_overflows(make_plan(problem_of(lim, b), plan_policy), cap, lim.tile_q);
        if (over.empty()) return evaluations >= 2000;
        out.batch = b;
        out.overflows = std::move(over);
        found = true;
        return true;
      } catch (const InputError&) {
        return false;
      }
    });
    if (found) {
      out.status = OverflowSearch::Status::kFound;
      out.proven_smallest = c.every && tiles == lb;
      return out;
    }
  }
  return out;
}

}  // namespace mlaps
