#pragma once
// Upstream's cluster layout and unit count, computed here once for every user (scheduler, sizing, validate,
// the policies, the cost model, the CLI). ClusterGeometry itself is declared in plan.h.
#include <bit>
#include <cstdint>

#include "scheduler/plan.h"
#include "scheduler/problem.h"

namespace mlaps {

// gcd(K heads, CUs) clusters of num_cu / gcd TGs and num_heads_k / gcd K heads (contract 2.1): cluster c
// owns TGs [c * tgs_per_cluster, (c + 1) * tgs_per_cluster), so TG t is in cluster t / tgs_per_cluster at
// index t % tgs_per_cluster, and K head h in cluster h / kheads_per_cluster. num_heads_k >= 1, num_cu >= 1
// (a validated problem's, or engine limits'). cluster_geometry(const Problem&) (plan.h) forwards here.
ClusterGeometry cluster_geometry(int32_t num_heads_k, int32_t num_cu);

// Upstream's KV unit count of a query tile whose last row sees `eff` keys (contract 2.2, 2.5.3):
// (eff + kvg - 1) / kvg with kvg = kvlen_granularity(), integer division truncating toward zero, so 0 for
// eff in [-2 kvg + 2, 0] and negative below (causal qo > kv, where allowed). kvg is a power of two in a
// validated problem, so it is a shift where the numerator is >= 0. `I`: int32_t in the scheduler
// (upstream's arithmetic), int64_t in validation.
struct KvUnits {
  int32_t kvg;
  int shift;
  explicit KvUnits(const Problem& p)
      : kvg(p.kvlen_granularity()), shift(std::countr_zero(static_cast<uint32_t>(p.kvlen_granularity()))) {}
  template <class I>
  I operator()(I eff) const {
    const I num = eff + kvg - 1;
    return num >= 0 ? num >> shift : num / kvg;
  }
};

}  // namespace mlaps
