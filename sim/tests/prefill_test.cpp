// The prefill emulation: the mask and the empty-row rule on hand-made one-work plans, the fast path against
// the reference-order oracle bit for bit, thread-count independence, poison counting, and a float64 check.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "hand_plan.h"
#include "sim/emulate.h"
#include "sim/model.h"
#include "sim/numerics.h"

namespace mlaps {
namespace {

using testing::make_hand_plan;
using testing::make_problem;

constexpr float kInf = std::numeric_limits<float>::infinity();

// e4m3fn codes of small integers: 1 = 0x38, 2 = 0x40, 3 = 0x44, 448 = 0x7E.
constexpr uint8_t kOne = 0x38, kTwo = 0x40, kThree = 0x44, kMax = 0x7E;

// Inputs with Q = 0 (every score 0, so every visible key has p = 1) and V rows given per page.
AttnInputs zero_q_inputs(const Problem& p, const std::vector<uint8_t>& v_codes_per_page) {
  AttnInputs in;
  in.num_tokens = p.num_tokens();
  in.num_heads_q = p.num_heads_q();
  in.num_heads_k = p.num_heads_k;
  in.num_pages = p.num_used_pages();
  in.q.assign(size_t(in.num_tokens) * in.num_heads_q * 192, 0x00);
  in.k.assign(size_t(in.num_pages) * in.num_heads_k * 192, kOne);
  in.v.resize(size_t(in.num_pages) * in.num_heads_k * 128);
  for (int32_t pg = 0; pg < in.num_pages; ++pg)
    for (int32_t h = 0; h < in.num_heads_k; ++h)
      for (int d = 0; d < 128; ++d) in.v[(size_t(pg) * in.num_heads_k + h) * 128 + d] = v_codes_per_page[pg];
  for (int32_t i = 0; i < in.num_pages; ++i) in.kv_page_indices.push_back(i);
  in.softmax_scale = 1.0f / std::sqrt(192.0f);
  return in;
}

Plan one_work_plan(int32_t b, int32_t pol, int32_t qs, int32_t qe, int32_t ks, int32_t ke, int32_t heads) {
  Plan plan;
  plan.work_indptr = {0, 1};
  plan.work_info = {WorkInfo{b, pol, qs, qe, ks, ke, 0, WorkInfo::pack_heads(0, heads)}};
  plan.reduce_indptr = {0};
  return plan;
}

// Owns the plan and buffers that the lowered params point into (inputs and problem must outlive it).
struct TestRun {
  Plan plan;
  RunBuffers buf;
  PrefillParams pp;
  TestRun(const Problem& p, Plan pl, const AttnInputs& in, const NumericModel& m = {}) : plan(std::move(pl)) {
    buf.allocate(p.num_tokens(), p.num_heads_q(), partial_rows_for(plan, p.tile_q));
    pp = make_prefill_params(p, plan, in, buf, m);
  }
  float o(int32_t prow, int32_t h, int d) const {
    return buf.partial_o[(size_t(prow) * buf.num_heads_q + h) * 128 + d];
  }
  float lse(int32_t prow, int32_t h) const { return buf.partial_lse[size_t(prow) * buf.num_heads_q + h]; }
};

// Bottom-right causal by absolute position: qo_len 2, kv_len 3 -> row 0 sees keys j <= 0 + 3 - 2 = 1, row 1
// sees j <= 2. V page j holds (1, 2, 448): key 2 is invisible to row 0, and would dominate if it leaked in.
// Scores are 0, so p = exp2(0) = 1 exactly (fp8-exact) and O is the mean of the visible V rows:
//   row 0: (1 + 2) / 2 = 1.5, LSE = ln 2;  row 1: (1 + 2 + 448) / 3, LSE = ln 3.
TEST(PrefillMask, BottomRightCausalByAbsolutePosition) {
  // Sequence 0 (qo 3, kv 5) sits before the one under test, so rows and pages carry offsets 3 and 5.
  const Problem p = make_problem({3, 2}, {5, 3}, 1, true);
  const AttnInputs in = zero_q_inputs(p, {kOne, kOne, kOne, kOne, kOne, kOne, kTwo, kMax});
  for (bool fast : {false, true}) {
    TestRun r(p, one_work_plan(1, 0, 3, 5, 5, 8, 1), in);
    fast ? emulate_prefill(r.pp, 1) : emulate_prefill_reference_order(r.pp);
    for (int d = 0; d < 128; ++d) {
      ASSERT_EQ(r.o(0, 0, d), 1.5f) << fast;
      ASSERT_EQ(r.o(1, 0, d), (1.0f + 2.0f + 448.0f) / 3.0f) << fast;
    }
    EXPECT_NEAR(r.lse(0, 0), std::log(2.0), 1e-6);
    EXPECT_NEAR(r.lse(1, 0), std::log(3.0), 1e-6);
    EXPECT_TRUE(num::is_poison_f32(r.lse(2, 0)));  // rows past the work's 2 rows are never written
  }
}

TEST(PrefillMask, NonCausalSeesEverything) {
  const Problem p = make_problem({2}, {3}, 1, false);
  const AttnInputs in = zero_q_inputs(p, {kOne, kTwo, kThree});
  TestRun r(p, one_work_plan(0, 0, 0, 2, 0, 3, 1), in);
  emulate_prefill(r.pp, 1);
  for (int row = 0; row < 2; ++row) {
    EXPECT_EQ(r.o(row, 0, 7), 2.0f);
    EXPECT_NEAR(r.lse(row, 0), std::log(3.0), 1e-6);
  }
}

// The empty-row rule: no visible key -> O = +0, LSE = -inf. Causal qo 3 > kv 1: rows 0 and 1 see nothing
// (j <= -2, j <= -1), row 2 sees key 0 (O = v_0 = 2, LSE = ln 1 = 0).
TEST(PrefillEmptyRows, FullyMaskedRows) {
  const Problem p = make_problem({3}, {1}, 1, true);
  const AttnInputs in = zero_q_inputs(p, {kTwo});
  for (bool fast : {false, true}) {
    TestRun r(p, one_work_plan(0, 0, 0, 3, 0, 1, 1), in);
    fast ? emulate_prefill(r.pp, 1) : emulate_prefill_reference_order(r.pp);
    for (int row = 0; row < 2; ++row) {
      EXPECT_EQ(r.lse(row, 0), -kInf);
      for (int d = 0; d < 128; ++d) ASSERT_EQ(num::f2u(r.o(row, 0, d)), 0u);
    }
    EXPECT_EQ(r.lse(2, 0), 0.0f);
    EXPECT_EQ(r.o(2, 0, 0), 2.0f);
  }
}

TEST(PrefillEmptyRows, EmptyKvRangeAndNegativeRange) {
  const Problem p = make_problem({4}, {6}, 1, false);
  const AttnInputs in = zero_q_inputs(p, {kOne, kOne, kOne, kOne, kOne, kOne});
  for (int32_t ke : {2, 1}) {  // [2, 2) empty; [2, 1) upstream's negative range (contract 2.5.3): empty too
    TestRun r(p, one_work_plan(0, 0, 0, 4, 2, ke, 1), in);
    emulate_prefill(r.pp, 1);
    for (int row = 0; row < 4; ++row) {
      EXPECT_EQ(r.lse(row, 0), -kInf);
      EXPECT_EQ(num::f2u(r.o(row, 0, 3)), 0u);
    }
  }
}

// partial_o_loc == -1: bf16 O straight to the output, no LSE anywhere, partial buffers untouched.
TEST(PrefillDirect, WritesBf16OutputAndNoLse) {
  const Problem p = make_problem({2}, {3}, 1, true);
  const AttnInputs in = zero_q_inputs(p, {kOne, kTwo, kMax});
  TestRun r(p, one_work_plan(0, -1, 0, 2, 0, 3, 1), in);
  emulate_prefill(r.pp, 1);
  for (int d = 0; d < 128; ++d) {
    EXPECT_EQ(r.buf.out[d], num::bf16_encode(1.5f));
    EXPECT_EQ(r.buf.out[128 + d], num::bf16_encode(451.0f / 3.0f));
  }
  for (float v : r.buf.final_lse) EXPECT_TRUE(num::is_poison_f32(v));
  for (float v : r.buf.partial_lse) ASSERT_TRUE(num::is_poison_f32(v));
  for (float v : r.buf.partial_o) ASSERT_TRUE(num::is_poison_f32(v));
}

// ---------------------------------------------------------------------------------------------------
// Fast path == reference order, bit for bit (NaN compared as NaN: payloads are not part of the model).
bool same_f32(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || num::f2u(a) == num::f2u(b);
}
bool same_bf16(uint16_t a, uint16_t b) {
  return a == b || (std::isnan(num::bf16_decode(a)) && std::isnan(num::bf16_decode(b)));
}
void expect_same_buffers(const RunBuffers& a, const RunBuffers& b, const std::string& what) {
  int64_t bad = 0;
  for (size_t i = 0; i < a.partial_o.size(); ++i) bad += !same_f32(a.partial_o[i], b.partial_o[i]);
  for (size_t i = 0; i < a.partial_lse.size(); ++i) bad += !same_f32(a.partial_lse[i], b.partial_lse[i]);
  for (size_t i = 0; i < a.out.size(); ++i) bad += !same_bf16(a.out[i], b.out[i]);
  EXPECT_EQ(bad, 0) << what;
}

struct FastCase {
  const char* name;
  std::vector<int32_t> qo, kv;
  int32_t heads_k = 1, gqa = 1;
  bool causal = false;
  int32_t piece = 128;
  bool direct = false;  // legacy-style plans: single-piece tiles write bf16 O directly
  num::Fp8Encoding enc = num::Fp8Encoding::kE4M3FN;
  bool round_p = true;
  float softmax_scale = 0;  // 0: default
  bool nan_codes = false;
};

void PrintTo(const FastCase& c, std::ostream* os) {
  *os << c.name;
}

// The fast-vs-oracle cases, run on every ISA path (FastVsReference) and by the test-only keys-in-lanes unit.
const FastCase kFastCases[] = {
    FastCase{.name = "noncausal_qo37_kv300_h2", .qo = {37}, .kv = {300}, .heads_k = 2},
    FastCase{.name = "causal_300_piece100", .qo = {300}, .kv = {300}, .causal = true, .piece = 100},
    FastCase{.name = "causal_varlen_gqa2",
             .qo = {100, 5, 64},
             .kv = {130, 200, 64},
             .heads_k = 2,
             .gqa = 2,
             .causal = true,
             .piece = 256},
    FastCase{.name = "direct_writes",
             .qo = {70, 33},
             .kv = {90, 400},
             .causal = true,
             .piece = 1000,
             .direct = true},
    FastCase{.name = "fnuz", .qo = {50}, .kv = {260}, .causal = true, .enc = num::Fp8Encoding::kE4M3FNUZ},
    FastCase{.name = "no_p_rounding", .qo = {45}, .kv = {200}, .causal = true, .piece = 64, .round_p = false},
    FastCase{.name = "causal_qo_gt_kv", .qo = {200}, .kv = {40}, .causal = true},
    // Works of <= 8 rows (the 8-token chunks: AVX-512's turned-around blocks); kv pieces of 200 keys
    // end off the 32-key micro-tiles and the 128-key sub-tiles.
    FastCase{.name = "short_rows_causal",
             .qo = {8, 3, 7, 1},
             .kv = {1200, 300, 129, 40},
             .heads_k = 2,
             .causal = true,
             .piece = 200},
    FastCase{.name = "short_rows_fnuz_gqa2",
             .qo = {8, 5},
             .kv = {1000, 77},
             .gqa = 2,
             .piece = 300,
             .enc = num::Fp8Encoding::kE4M3FNUZ},
    FastCase{.name = "short_rows_no_p_rounding",
             .qo = {8, 2},
             .kv = {700, 90},
             .causal = true,
             .piece = 256,
             .round_p = false},
    // 8 rows over 172 keys: row i sees keys j <= i + 164, so the NaN V at key 170 (in the sub-tile at
    // 128) reaches rows 6 and 7 only; rows 0..5 stay finite only if the short block's P.V skips its
    // masked keys (nan_codes above never masks a key for its short last block).
    FastCase{.name = "short_rows_nan_codes", .qo = {8}, .kv = {172}, .causal = true, .nan_codes = true},
    FastCase{
        .name = "huge_scale_alpha_underflow", .qo = {40}, .kv = {300}, .piece = 300, .softmax_scale = 50.0f},
    FastCase{.name = "negative_scale", .qo = {40}, .kv = {200}, .causal = true, .softmax_scale = -0.3f},
    FastCase{.name = "tiny_scale", .qo = {33}, .kv = {150}, .softmax_scale = 1e-30f},
    FastCase{.name = "nan_codes", .qo = {40}, .kv = {200}, .causal = true, .nan_codes = true},
};

// One case: the reference-order oracle and run_fast(params) on the same plan and inputs, bit for bit.
template <typename RunFast>
void expect_fast_matches_oracle(const FastCase& c, RunFast&& run_fast) {
  const Problem p = make_problem(c.qo, c.kv, c.heads_k, c.causal, c.gqa);
  testing::HandPlanOptions ho;
  ho.num_tg = 5;
  ho.piece = c.piece;
  ho.whole_is_direct = c.direct;
  const Plan plan = make_hand_plan(p, ho);
  InputOptions io;
  io.seed = 1234;
  io.encoding = c.enc;
  io.softmax_scale = c.softmax_scale;
  AttnInputs in = make_random_inputs(p, io);
  if (c.nan_codes) {
    // Identity pages, so each NaN sits at one key, inside the causal band of rows 0..31 (row i sees keys
    // j <= i + 160): K's at key 165 (rows 5.. get a NaN score), V's at key 170 (rows 10.. see it). Rows 0..4
    // stay finite only if masked keys are skipped, not multiplied by zero.
    const uint8_t nan = c.enc == num::Fp8Encoding::kE4M3FN ? 0x7F : 0x80;
    for (int32_t i = 0; i < in.num_pages; ++i) in.kv_page_indices[i] = i;
    in.k[165 * 192 + 17] = nan;
    in.v[170 * 128 + 3] = nan;
  }
  NumericModel m;
  m.round_p_fp8 = c.round_p;
  TestRun ref(p, plan, in, m), fast(p, plan, in, m);
  emulate_prefill_reference_order(ref.pp);
  run_fast(fast.pp);
  expect_same_buffers(ref.buf, fast.buf, c.name);
}

// Every case on every ISA path (sim/emulate.h) this CPU supports; the others are skipped.
class FastVsReference : public ::testing::TestWithParam<std::tuple<FastCase, IsaPath>> {};

TEST_P(FastVsReference, BitIdentical) {
  const FastCase& c = std::get<0>(GetParam());
  const IsaPath path = std::get<1>(GetParam());
  if (!isa_path_available(path)) GTEST_SKIP() << isa_path_name(path) << " is not available here";
  expect_fast_matches_oracle(c, [path](const PrefillParams& pp) { emulate_prefill_on(path, pp, 2); });
}

INSTANTIATE_TEST_SUITE_P(Cases, FastVsReference,
                         ::testing::Combine(::testing::ValuesIn(kFastCases),
                                            ::testing::ValuesIn(kAllIsaPaths)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) + "_" +
                                  isa_path_name(std::get<1>(info.param));
                         });

TEST(Prefill, ThreadCountIndependent) {
  const Problem p = make_problem({300, 77}, {500, 260}, 2, true, 1);
  testing::HandPlanOptions ho;
  ho.num_tg = 16;
  ho.piece = 128;
  const Plan plan = make_hand_plan(p, ho);
  const AttnInputs in = make_random_inputs(p, {});
  TestRun one(p, plan, in), two(p, plan, in);
  emulate_prefill(one.pp, 1);
  emulate_prefill(two.pp, 2);
  EXPECT_EQ(std::memcmp(one.buf.partial_o.data(), two.buf.partial_o.data(), one.buf.partial_o.size() * 4), 0);
  EXPECT_EQ(
      std::memcmp(one.buf.partial_lse.data(), two.buf.partial_lse.data(), one.buf.partial_lse.size() * 4), 0);
  EXPECT_EQ(one.buf.out, two.buf.out);
}

TEST(Prefill, ProgressReportsEveryWork) {
  const Problem p = make_problem({64}, {256}, 1, false);
  testing::HandPlanOptions ho;
  ho.num_tg = 3;
  ho.piece = 64;
  const Plan plan = make_hand_plan(p, ho);
  const AttnInputs in = make_random_inputs(p, {});
  TestRun r(p, plan, in);
  struct Seen {
    int64_t last = -1, total = -1, calls = 0;
  } seen;
  emulate_prefill(
      r.pp, 2,
      [](int64_t done, int64_t total, void* ctx) {
        auto* s = static_cast<Seen*>(ctx);
        s->last = done;
        s->total = total;
        ++s->calls;
      },
      &seen);
  EXPECT_EQ(seen.total, 4);
  EXPECT_EQ(seen.last, 4);
  EXPECT_GE(seen.calls, 1);
}

// ---------------------------------------------------------------------------------------------------
// simulate(): poison counting.
TEST(Simulate, FixedPlanWritesEverything) {
  const Problem p = make_problem({300, 20}, {300, 700}, 2, true);
  testing::HandPlanOptions ho;
  ho.piece = 256;
  const Plan plan = make_hand_plan(p, ho);
  const SimRun run = simulate(p, plan, make_random_inputs(p, {}), {}, 2);
  EXPECT_EQ(run.unwritten.output, 0);
  EXPECT_EQ(run.unwritten.lse, 0);
}

// A legacy plan: a tile taken whole writes bf16 O directly and gets no reduce entry, so its final LSE rows
// are never written (the #3606 bug): here tile [256, 300) (44 rows x 2 heads) is whole, tile [0, 256) is
// split.
TEST(Simulate, LegacyWholeTileLeavesLseUnwritten) {
  const Problem p = make_problem({300}, {300}, 2, false);
  testing::HandPlanOptions ho;
  ho.piece = 300;
  ho.whole_is_direct = true;
  Plan plan = make_hand_plan(p, ho);
  // Split the first tile into two pieces by hand (slots 0 and 1), keep the second whole.
  plan = Plan{};
  plan.reduce = ReduceVersion::kLegacy;
  plan.work_indptr = {0, 4, 6};
  for (int h = 0; h < 2; ++h)
    plan.work_info.push_back(WorkInfo{0, 0, 0, 256, 0, 128, 172, WorkInfo::pack_heads(h, h + 1)});
  for (int h = 0; h < 2; ++h)
    plan.work_info.push_back(WorkInfo{0, 256, 0, 256, 128, 300, 0, WorkInfo::pack_heads(h, h + 1)});
  for (int h = 0; h < 2; ++h)
    plan.work_info.push_back(WorkInfo{0, -1, 256, 300, 0, 300, 0, WorkInfo::pack_heads(h, h + 1)});
  plan.reduce_indptr = {0, 2};
  plan.reduce_final_map = {{0, 256}};
  plan.reduce_partial_map = {0, 256};
  const SimRun run = simulate(p, plan, make_random_inputs(p, {}), {}, 2);
  EXPECT_EQ(run.unwritten.output, 0);
  EXPECT_EQ(run.unwritten.lse, 44 * 2);
}

TEST(Simulate, UnscheduledTileCountsOutputAndLse) {
  const Problem p = make_problem({300}, {300}, 1, false);
  testing::HandPlanOptions ho;
  ho.piece = 512;
  Plan plan = make_hand_plan(p, ho);
  // Drop tile [256, 300) entirely (as upstream drops trailing zero-KV tiles, contract 2.5.2).
  std::vector<WorkInfo> keep;
  for (const WorkInfo& w : plan.work_info)
    if (w.qo_start == 0) keep.push_back(w);
  plan.work_info = keep;
  plan.work_indptr.assign(plan.work_indptr.size(), static_cast<int32_t>(keep.size()));
  plan.work_indptr[0] = 0;
  plan.reduce_indptr = {0, 1};
  plan.reduce_final_map = {{0, 256}};
  plan.reduce_partial_map = {keep[0].partial_o_loc};
  const SimRun run = simulate(p, plan, make_random_inputs(p, {}), {}, 1);
  EXPECT_EQ(run.unwritten.output, 44);
  EXPECT_EQ(run.unwritten.lse, 44);
}

// ---------------------------------------------------------------------------------------------------
// End to end against float64 attention over the dequantized inputs (written here from the definition).
// Tolerances: LSE is unaffected by P rounding (l sums unrounded p), so only fp32 rounding remains:
// 1e-5 * (1 + |L|) covers ~200 keys' worth of accumulated relative error (a few 1e-7 each, partly
// cancelling). O: fp8 P has 2^-4 relative rounding per key and bf16 adds 2^-8; averaged over the keys this
// is far inside upstream's atol = rtol = 0.05.
TEST(Simulate, MatchesFloat64Attention) {
  const Problem p = make_problem({70, 300}, {200, 300}, 2, true, 2);
  testing::HandPlanOptions ho;
  ho.piece = 128;
  const Plan plan = make_hand_plan(p, ho);
  const AttnInputs in = make_random_inputs(p, {});
  const SimRun run = simulate(p, plan, in, {}, 2);
  ASSERT_EQ(run.unwritten.output, 0);
  ASSERT_EQ(run.unwritten.lse, 0);
  double lut[256];
  for (int c = 0; c < 256; ++c) lut[c] = num::fp8_decode(static_cast<uint8_t>(c), in.encoding);
  auto dec = [&](uint8_t c) { return lut[c]; };
  const double scale = double(in.softmax_scale) * in.q_scale * in.k_scale;
  int64_t mismatches = 0;
  for (int32_t b = 0; b < p.batch(); ++b) {
    const int32_t qo_len = p.qo_len(b), kv_len = p.kv_indptr[b + 1] - p.kv_indptr[b];
    for (int32_t i = 0; i < qo_len; ++i) {
      const int32_t r = p.qo_indptr[b] + i;
      for (int32_t h = 0; h < p.num_heads_q(); ++h) {
        const int32_t hk = h / p.gqa_ratio;
        std::vector<double> s;
        double mx = -INFINITY;
        for (int32_t j = 0; j < kv_len && j <= i + kv_len - qo_len; ++j) {
          const int32_t pg = in.kv_page_indices[p.kv_indptr[b] + j];
          double dot = 0;
          for (int d = 0; d < 192; ++d)
            dot += dec(in.q[(size_t(r) * p.num_heads_q() + h) * 192 + d]) *
                   dec(in.k[(size_t(pg) * p.num_heads_k + hk) * 192 + d]);
          s.push_back(dot * scale);
          mx = std::max(mx, s.back());
        }
        double l = 0, o[128] = {};
        for (size_t j = 0; j < s.size(); ++j) {
          const double e = std::exp(s[j] - mx);
          l += e;
          const int32_t pg = in.kv_page_indices[p.kv_indptr[b] + int32_t(j)];
          for (int d = 0; d < 128; ++d) o[d] += e * dec(in.v[(size_t(pg) * p.num_heads_k + hk) * 128 + d]);
        }
        const double lse = mx + std::log(l);
        const float got_lse = run.buffers.final_lse[size_t(r) * p.num_heads_q() + h];
        ASSERT_NEAR(got_lse, lse, 1e-5 * (1 + std::fabs(lse))) << r << " " << h;
        for (int d = 0; d < 128; ++d) {
          const double want = o[d] / l * in.v_scale;
          const double got = num::bf16_decode(run.buffers.out[(size_t(r) * p.num_heads_q() + h) * 128 + d]);
          mismatches += !(std::fabs(got - want) <= 0.05 + 0.05 * std::fabs(got));
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace mlaps

// ---------------------------------------------------------------------------------------------------
// With the scheduler's real plans.
namespace mlaps {
namespace {

// The seed scenario: 16 sequences of 8 new tokens over 1200 cached, 16 heads, non-causal, 256 CUs.
// Each tile fits one thread group, so aiter-legacy writes bf16 O directly and never a final LSE: every one of
// the 128 x 16 (row, head) LSE entries stays poisoned. aiter (post-#3606) writes everything.
TEST(SimulateRealPlan, SeedScenarioLegacyLeavesEveryLseUnwritten) {
  const Problem p = make_problem(std::vector<int32_t>(16, 8), std::vector<int32_t>(16, 1200), 16, false);
  const AttnInputs in = make_random_inputs(p, {});
  const SimRun legacy = simulate(p, make_plan(p, policy_named("aiter-legacy")), in, {}, 2);
  EXPECT_EQ(legacy.unwritten.output, 0);
  EXPECT_EQ(legacy.unwritten.lse, 128 * 16);
  const SimRun fixed = simulate(p, make_plan(p, policy_named("aiter")), in, {}, 2);
  EXPECT_EQ(fixed.unwritten.output, 0);
  EXPECT_EQ(fixed.unwritten.lse, 0);
  // Same attention either way: the legacy direct bf16 rows equal the fixed version's n == 1 reduce rows.
  EXPECT_EQ(legacy.buffers.out, fixed.buffers.out);
}

// Contract 2.4's worked example (qo = kv = 600, causal, 4 CUs) and a multi-head varlen case, both policies:
// fast path == reference order on real plans (cut tiles, clamped last pieces, -1 slots).
TEST(SimulateRealPlan, FastMatchesReferenceOnRealPlans) {
  for (Policy pol : {policy_named("aiter"), policy_named("aiter-legacy")}) {
    for (const Problem& p0 :
         {make_problem({600}, {600}, 1, true), make_problem({100, 300}, {250, 700}, 3, true)}) {
      Problem p = p0;
      p.num_cu = 4;
      const AttnInputs in = make_random_inputs(p, {});
      TestRun ref(p, make_plan(p, pol), in), fast(p, make_plan(p, pol), in);
      emulate_prefill_reference_order(ref.pp);
      emulate_prefill(fast.pp, 2);
      expect_same_buffers(ref.buf, fast.buf, std::string(pol.name()));
    }
  }
}

}  // namespace
}  // namespace mlaps
