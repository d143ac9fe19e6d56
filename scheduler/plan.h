#pragma once
// The plan: upstream's PS metadata, trimmed to used lengths.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/problem.h"
#include "scheduler/work_info.h"

namespace mlaps {

// Which reduce semantics a plan is correct under (contract 5.2/5.3); a policy trait (policy.h).
enum class ReduceVersion {
  kLegacy,  // n == 1 skipped
  kFixed,   // n == 1 processed unless reduce_partial_map[start] == -1 (merged #3606 guard)
};

struct Plan {
  std::string policy;                            // the policy's name (policy.h); empty if unknown
  ReduceVersion reduce = ReduceVersion::kFixed;  // the reduce its executors run (the policy's trait)
  std::vector<int32_t> work_indptr;              // [num_cu + 1]
  std::vector<WorkInfo> work_info;               // [work_indptr.back()]
  std::vector<int32_t> reduce_indptr;            // [n_final + 1]
  std::vector<FinalLoc> reduce_final_map;        // [n_final]
  std::vector<int32_t> reduce_partial_map;       // [reduce_indptr.back()]

  int32_t num_tg() const { return static_cast<int32_t>(work_indptr.size()) - 1; }
  int32_t num_works() const { return static_cast<int32_t>(work_info.size()); }
  int32_t num_reduce_entries() const { return static_cast<int32_t>(reduce_final_map.size()); }
  friend bool operator==(const Plan&, const Plan&) = default;
};

// A query tile as the scheduler cuts it (contract 2.2), in ping-pong emission order.
struct QTile {
  int32_t batch;
  int32_t qo_start;  // [qo_start, qo_end), global rows
  int32_t qo_end;
  int32_t num_blocks;    // may be negative for causal qo > kv (contract 2.5.3)
  int32_t effective_kv;  // tokens the tile's last row sees
};
std::vector<QTile> make_query_tiles(const Problem& p);

// Scratch reused across plan calls: after warm-up a call allocates nothing. The private part belongs to the
// upstream scheduler; `scratch` is for any other policy's own use.
class PlanWorkspace {
 public:
  PlanWorkspace() = default;

  struct Scratch {
    std::vector<WorkInfo> works[2];
    std::vector<int32_t> i32[4];
    std::vector<int64_t> i64[2];
  } scratch;

 private:
  friend struct PlanCore;
  std::vector<QTile> tiles_;               // emission (ping-pong) order
  std::vector<WorkInfo> pieces_;           // one cluster, one head: pieces in schedule order (q_head_range 0)
  std::vector<int32_t> tg_end_;            // [tpc]: end of each TG's pieces in pieces_
  std::vector<int32_t> tile_first_piece_;  // [tiles]: first piece of each emitted tile, -1 if never emitted
};

// Caller-provided output buffers, as upstream's get_ps_metadata_v1 takes them (sized by
// get_ps_metadata_info_v1, see sizing.h, or exactly by a previous PlanSizes).
struct PlanSpans {
  std::span<int32_t> work_indptr;    // >= num_cu + 1
  std::span<WorkInfo> work_info;     // >= num_works
  std::span<int32_t> reduce_indptr;  // >= num_reduce_entries + 1; the tail is set to num_partials (upstream)
  std::span<FinalLoc> reduce_final_map;   // >= num_reduce_entries
  std::span<int32_t> reduce_partial_map;  // >= num_partials
};
struct PlanSizes {
  int32_t num_works = 0;
  int32_t num_reduce_entries = 0;
  int32_t num_partials = 0;
  friend bool operator==(const PlanSizes&, const PlanSizes&) = default;
};

struct PlanIntoOptions {
  // Zero every unused entry as upstream's zero-filled buffers read (false: skip that O(capacity) pass when
  // the consumer only reads the used prefix).
  bool zero_tails = true;
  // Threads that write work_info (OpenMP; clusters split into contiguous ranges, at most one thread per
  // cluster). Used only when the plan has at least parallel_min_bytes of work rows; the output is
  // byte-identical for any value. 1, the default, is upstream's single-threaded host path.
  int num_threads = 1;
  // Below ~512 KiB of work rows a parallel region costs more than the write it splits (bench/README.md);
  // tests set 0 to run the parallel path on small plans.
  int64_t parallel_min_bytes = int64_t{512} << 10;
};

// Upstream's cluster layout (contract 2.1): gcd(K heads, CUs) clusters; cluster c owns TGs
// [c*tgs_per_cluster, (c+1)*tgs_per_cluster) and K heads [c*kheads_per_cluster, (c+1)*kheads_per_cluster).
struct ClusterGeometry {
  int32_t num_clusters;
  int32_t tgs_per_cluster;
  int32_t kheads_per_cluster;
};
ClusterGeometry cluster_geometry(const Problem& p);

class PlanOutput;  // policy.h
// The scheduler of the upstream rows of the policy table (policy.h: make_plan, make_plan_into): upstream's
// get_ps_metadata_v1 host path, byte for byte; `legacy` = HEAD e4048607a5 (a tile absorbed whole by one TG
// gets partial_o_loc = -1 and no reduce entry), otherwise PR #3606 (every piece a slot).
// Fast: every cluster and every head of a cluster repeat the same KV partition (contract 2.1), so one
// cluster's pieces are computed once and replicated with each head's q_head_range.
PlanSizes plan_upstream(const Problem& p, const ProblemTotals& totals, bool legacy, PlanOutput& out,
                        PlanWorkspace& ws, const PlanIntoOptions& opt);

// One cluster's schedule for one K head (q_head_range 0), TG by TG: TG t's pieces are
// pieces[tg_end[t-1], tg_end[t]) (tg_end[-1] = 0), tg_end has one entry per TG of a cluster.
struct ClusterSchedule {
  std::span<const WorkInfo> pieces;
  std::span<const int32_t> tg_end;
};

// Writes work_indptr[0, num_cu] and work_info[0, num_works) of a head-invariant plan in upstream's layout
// (contract 2.1, 2.3): cluster c owns TGs [c*tpc, (c+1)*tpc) and K heads [c*khpc, (c+1)*khpc); each TG lists
// its pieces for the cluster's first K head, then the same pieces for the next, ... with that head's
// q_head_range. num_works = num_heads_k * pieces.size(). Honours opt.num_threads / parallel_min_bytes
// (byte-identical output for any thread count).
void write_replicated_works(const Problem& p, const ClusterSchedule& s, const PlanSpans& out,
                            const PlanIntoOptions& opt);

// generate_reduce_info (contract 3) over the given works; exposed for tests and dump round trips. kLegacy
// skips -1 works (HEAD); kFixed lists every work's partial_o_loc (PR #3606).
void build_reduce_info(ReduceVersion version, const std::vector<WorkInfo>& works, Plan& plan);

}  // namespace mlaps
