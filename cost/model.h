#pragma once
// The cost model: what a plan costs on a device profile. The one written-down definition that `mlaps cost`,
// `mlaps compare`, the plan table and the GPU calibration all use; every coefficient lives in a profile
// (cost/profile.h, JSON), each with where it came from.
//
// Units: microseconds. A plan's work items are read once, in work_info order.
//
// Prefill. For work item w of sequence b (rows [qo_start, qo_end), keys [kv_start, kv_end)) and each q head
// of its q_head_range (H_w = hi - lo heads, processed one after another):
//   R     = qo_end - qo_start                              rows
//   Rpad  = ceil(R / row_quantum) * row_quantum            rows as the kernel pads them
//   P     = ceil(R / rows_per_pass)                        row passes over every sub-tile
//   sub-tiles: [kv_start + 128 t, min(kv_start + 128 (t + 1), kv_end)), t = 0 .. ceil(K / 128) - 1, each
//   one of (i = local query row, j = key position, d = kv_len - qo_len, bottom-right causal, as sim/model.h):
//     full    every row of w sees every key:   last key j1 - 1 <= i0 + d   (always, when not causal)
//     empty   no row of w sees any key:        first key j0 > (i1 - 1) + d
//     masked  otherwise (the causal diagonal crosses the sub-tile)
//   item_head_us = item_us + q_row_us * Rpad
//                + sum over kinds k of n_k * (P * pass_k_us + Rpad * row_k_us)
//                + (partial_o_loc >= 0 ? write_partial_row_us : write_direct_row_us) * R
// A TG's busy time  T_g = tg_us + sum over its items of H_w * item_head_us(w)     (items run one after
// another) TGs run on `slots` places at once (profile: SMs/CUs x TGs per SM). TGs are placed in launch order
// (TG id ascending), each on the place that frees first (lowest index on a tie): start_g, end_g = start_g +
// T_g. With num_tg <= slots every start is 0.
//   prefill_us = launch_us + max_g end_g
//
// Reduce (mla_reduce_v1's grid: one block per (reduce entry e, q head)). n_e = partials of e, rows R_e:
//   processed: n_e >= 2; n_e == 1 only under the fixed reduce (post-#3606) and with a real slot; n_e == 0
//   never block_us(e) = reduce_block_us + R_e * (n_e * (n_e < 4 ? reduce_simple_read_us :
//   reduce_massive_read_us)
//                                          + reduce_write_row_us)
//   with reduce_fill (upstream's NumWgPerBh): each entry's rows are split over wg blocks, wg the smallest of
//   {1, 2, 4, 8, 16, 64, 256} with processed entries x heads x wg >= reduce_slots (at most R_e), and a block
//   costs reduce_block_us + ceil(R_e / wg) x (...) as above
//   reduce_us = 0 with no processed entry, else
//               reduce_launch_us + max(sum over processed blocks / reduce_slots, max block_us)
//   (the blocks are many and short: the list-scheduling bound, tight when #blocks >> reduce_slots)
// total_us = prefill_us + reduce_us.
//
// reduce_slots is the reduce's concurrency for that bound: how many blocks run at a lone block's speed at
// once, one per SM/CU (mi355x-asm: 256 CUs; h200-mlaps: 132 SMs), not how many are resident. On the H200
// (gpu/reduce.hip: a 512-thread block per (entry, head), 4 rows at a time, every thread recomputing its row's
// LSE merge and merging its dim over the n partials in a serial loop) an SM holds four (2048 threads), but
// co-resident blocks do not each run at one block's speed. The committed calibration shows it: 128-row
// blocks with one partial took 24.1 us in grids of 90 and 102 blocks (random29_b2_noncausal_hk3_gqa2 at 1 CU,
// random30_b4_causal_hk3_gqa2 at 7, whole-tiles) and 35.0-35.1 us in a grid of 174 (random6_b4_noncausal_
// hk3_gqa2 at 2 CUs, whole-tiles and cost-balanced), medians of 10 in the same run. With 528 slots
// (4 x 132) every reduce of the suite took the slowest-block branch and random6's was predicted 24.1 us
// (-31%, the fit's worst held-out time); with 132 the bound predicts 28.5 us (-19%; it assumes the 174 blocks
// spread evenly, while 42 SMs run two and 90 one) and the held-out max falls from 31.4% to 20.6%
// (cost/profiles/h200-mlaps/holdout.md); out of sample, fixed-split / aiter on the GPU policy timings of
// deepseek-tp8 (README) is predicted 1.048 (528 slots: 0.995), measured 1.049. In 388 of the suite's 412
// reduces the slowest block still decides: its serial loop (rows x n reads on its path, rows writes, a
// fixed part).
// The runner (gpu::time_plan) times the reduce queued behind its prefill, as a serving stream runs it, and
// launched alone after a host sync as reduce_isolated_us (a diagnostic: its event pair also spans the host's
// launch, and its excess grows with the prefill waited for); holdout.md tabulates the reduce error by the
// prefill's length.
//
// Metrics (PlanCost): lower_bound_us = launch_us + max(sum_g T_g / min(num_tg, slots), tg_us + the largest
// item_head_us) + reduce_us: no placement of the plan's indivisible pieces (a work item for one head) onto
// the TGs beats it, so it is <= total_us in exact arithmetic; evaluate() caps it at total_us, where the float
// mean of equal TG times lands a rounding step above their max (the uncapped bound is tested on random plans
// to stay within that step). imbalance = max_g T_g /
// mean_g T_g (1.0 when balanced). idle_fraction = 1 - sum_g T_g / (min(num_tg, slots) * (prefill_us -
// launch_us)). partial_bytes = partial rows written (prefill, pol >= 0) + read (reduce), (128 x 4 + 4) B per
// row and head.
//
// Worked example (contract 2.4; qo = kv = 600, causal, 1 head, 4 TGs, policy aiter; a toy profile with
// item_us = 1, pass_full_us = pass_masked_us = 2, pass_empty_us = 0.5, write_partial_row_us = 0.01,
// rows_per_pass = row_quantum = 256, every other coefficient 0, slots 4):
//   TG0: (0,256) kv [0,256):   rows 0..255 see j <= i: sub-tile [0,128) masked (row 0 sees key 0 only),
//        [128,256) masked                                   -> 1 + 2*2 + 2.56  = 7.56
//        (512,600) kv [0,128): row 512 sees j <= 512: full  -> 1 + 2   + 0.88  = 3.88   T_0 = 11.44
//   TG1: (512,600) kv [128,512): 3 sub-tiles, all full      -> 1 + 3*2 + 0.88  = 7.88   T_1 =  7.88
//   TG2: (512,600) kv [512,640) clamped to [512,600): keys 512..599, row 512 sees j <= 512: masked
//                                                           -> 1 + 2   + 0.88  = 3.88
//        (256,512) kv [0,256): row 256 sees j <= 256: both full -> 1 + 2*2 + 2.56 = 7.56  T_2 = 11.44
//   TG3: (256,512) kv [256,512): [256,384) masked, [384,512) masked -> 1 + 4 + 2.56  T_3 =  7.56
//   prefill = max = 11.44; sum = 38.32, mean 9.58: imbalance 11.44 / 9.58 = 1.194; lower bound
//   max(38.32 / 4, 7.88) = 9.58. (cost/tests/cost_test.cpp holds this example, with the reduce.)
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "scheduler/plan.h"
#include "scheduler/problem.h"

namespace mlaps::cost {

inline constexpr int kSubTileKeys = 128;  // keys per sub-tile (n128x1 / sim/model.h kTileKv)
inline constexpr int kMassiveFrom = 4;    // reduce: n >= 4 takes the massive path (kMassiveThreshold)
inline constexpr int64_t kPartialRowBytes = 128 * 4 + 4;  // one (row, head) of fp32 partial O + LSE

// The coefficients, in one table: the index is the position in CostProfile::c and in a feature vector.
enum Coeff : int {
  kLaunch,             // launch_us: prefill kernel launch to the first TG's start (and the tail)
  kTg,                 // tg_us: per TG (block start, tables)
  kItem,               // item_us: per (work item, head): set-up, Q tile address, softmax state
  kQRow,               // q_row_us: per padded row per (work item, head): Q load
  kPassFull,           // pass_full_us: per row pass of a full sub-tile (K/V load, QK, PV issue)
  kRowFull,            // row_full_us: per padded row of a full sub-tile
  kPassMasked,         // pass_masked_us
  kRowMasked,          // row_masked_us
  kPassEmpty,          // pass_empty_us: a sub-tile no row sees (causal tails past eff)
  kRowEmpty,           // row_empty_us
  kWritePartialRow,    // write_partial_row_us: fp32 O (128) + LSE of one row
  kWriteDirectRow,     // write_direct_row_us: bf16 O (128) of one row, no LSE
  kReduceLaunch,       // reduce_launch_us
  kReduceBlock,        // reduce_block_us: per (entry, head) block
  kReduceSimpleRead,   // reduce_simple_read_us: per row per partial, n < 4
  kReduceMassiveRead,  // reduce_massive_read_us: per row per partial, n >= 4
  kReduceWriteRow,     // reduce_write_row_us: bf16 O + LSE of one row
  kNumCoeffs
};
// "launch_us", "tg_us", ... (the JSON keys of a profile).
const char* coeff_name(int c);
inline constexpr int kFirstReduceCoeff = kReduceLaunch;

struct CostProfile {
  std::string name;             // "mi355x-asm"
  std::string device;           // "AMD Instinct MI355X (gfx950), 256 CUs"
  std::string kernel;           // what executes the plan
  std::string status;           // "derived" | "fitted" | "uncalibrated"
  std::string note;             // free text: what the profile is good for
  std::string date;             // when it was made (fitted: the calibration run)
  int32_t slots = 256;          // TGs resident at once (SMs/CUs x TGs per SM)
  int32_t reduce_slots = 256;   // reduce blocks at full speed at once: SMs/CUs (the reduce bound above)
  int32_t rows_per_pass = 256;  // query rows one pass over a sub-tile handles
  int32_t row_quantum = 256;    // rows are padded to a multiple of this
  bool reduce_fill = false;     // the reduce splits an entry's rows over blocks to fill the device (model.h)
  std::array<double, kNumCoeffs> c{};
  std::array<std::string, kNumCoeffs> source{};  // where each coefficient came from
  std::string fit_json;  // the fit's report (residuals, holdout), verbatim JSON; empty if none

  bool calibrated() const { return status != "uncalibrated"; }
};

// The features of one (work item, head): cost = sum_k c[k] * f[k] over the prefill coefficients kItem..
// kWriteDirectRow (kLaunch, kTg and the reduce ones are 0 here). Shared by the evaluation and the fit.
using Features = std::array<double, kNumCoeffs>;
struct SubTileCounts {
  int32_t full = 0, masked = 0, empty = 0;
};
// Classifies the sub-tiles of work item w (bounds of w.batch_idx checked by the caller).
SubTileCounts sub_tiles(const Problem& p, const WorkInfo& w);
Features item_head_features(const Problem& p, const WorkInfo& w, const CostProfile& prof);
double item_head_us(const Problem& p, const WorkInfo& w, const CostProfile& prof);
// Heads a work item carries (hi - lo, 0 when empty or inverted).
int32_t item_heads(const WorkInfo& w);

struct PlanCost {
  std::string policy, profile;
  double prefill_us = 0, reduce_us = 0, total_us = 0, lower_bound_us = 0;
  double imbalance = 1, idle_fraction = 0;
  int64_t works = 0, partial_slots = 0, reduce_entries = 0, partial_bytes = 0;
  int64_t direct_writes = 0;     // works with partial_o_loc == -1
  int64_t reduce_processed = 0;  // reduce entries the reduce processes (blocks / heads)
  double max_piece_us = 0;       // tg_us + the largest item_head_us
  double max_tg_us = 0, mean_tg_us = 0, busy_sum_us = 0;
  double area_us = 0;               // places x (prefill_us - launch_us): what idle_fraction divides by
  int32_t places = 0;               // min(num_tg, slots)
  int32_t calls = 1;                // kernel calls summed (combine)
  std::vector<double> tg_us;        // busy time T_g per TG
  std::vector<double> tg_start_us;  // start of each TG after the launch (placement onto slots)
};

// One pass over work_info (TGs that repeat another cluster's pieces reuse its time: same fields except
// q_head_range, compared, never assumed). Throws InputError("plan", ...) for a plan that does not fit the
// problem (batch index or reduce map out of range).
PlanCost evaluate(const Problem& p, const Plan& plan, const CostProfile& prof);
// evaluate() into `pc`, keeping its vectors' storage: no allocation once they have grown, for loops over
// many plans (make_plan_into's counterpart). On InputError `pc` holds no meaningful result.
void evaluate_into(const Problem& p, const Plan& plan, const CostProfile& prof, PlanCost& pc);

// A batch run as several kernel calls (new tokens, context chunks): times, counts and bytes add up;
// imbalance = sum of slowest TGs / sum of mean TGs; idle_fraction over the summed places x makespans; tg_us
// holds the calls' TG times one call after another (each call's tg_us, in call order; clear them first for
// none) and tg_start_us is left empty. Profile and policy from the first call.
PlanCost combine(const std::vector<PlanCost>& calls);

// Reduce part only: the features of the whole reduce under the list-scheduling branch (sum / slots) for
// the fit, and the reduce time. `fixed`: post-#3606 n == 1 rule.
struct ReduceCost {
  double us = 0;
  int64_t processed = 0;
  int64_t partial_bytes_read = 0;
  Features features{};            // reduce coefficients: launch 1, others sum over blocks / reduce_slots
  Features max_block_features{};  // launch 1 + the slowest block's own counts
  bool sum_branch = true;         // sum / reduce_slots >= the slowest block (which term of the max won)
};
ReduceCost reduce_cost(const Problem& p, const Plan& plan, const CostProfile& prof);

}  // namespace mlaps::cost
