// Problem construction, validate_problem's bad-input classes, JSON I/O.
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <random>

#include "scheduler/error.h"
#include "scheduler/geometry.h"
#include "scheduler/policy.h"
#include "scheduler/problem.h"
#include "test_util.h"

namespace mlaps {
namespace {

// The field an InputError names, or "" if none was thrown.
std::string field_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.field();
  }
  return "";
}

std::string rejects(Problem p) {
  return field_of([&] { validate_problem(p); });
}

Problem base() {
  return Problem::from_lengths({600, 10}, {600, 300}, 2, true, 4);
}

TEST(Problem, FromLengths) {
  const Problem p = Problem::from_lengths({3, 0, 5}, {10, 33, 0}, 4, false, 80, 2, 16);
  EXPECT_EQ(p.qo_indptr, (std::vector<int32_t>{0, 3, 3, 8}));
  EXPECT_EQ(p.kv_indptr, (std::vector<int32_t>{0, 1, 4, 4}));  // ceil(10/16) = 1, ceil(33/16) = 3, 0
  EXPECT_EQ(p.context_lens, (std::vector<int32_t>{10, 33, 0}));
  EXPECT_EQ(p.num_heads_q(), 8);
  EXPECT_EQ(p.qlen_granularity(), 128);
  EXPECT_EQ(p.kvlen_granularity(), 128);
  EXPECT_EQ(p.max_qo_len(), 5);
  EXPECT_EQ(p.max_kv_len(), 33);
  EXPECT_EQ(p.batch(), 3);
  EXPECT_EQ(field_of([] { Problem::from_lengths({1, 2}, {1}, 1, true); }), "kv_lens");
  EXPECT_EQ(field_of([] { Problem::from_lengths({1, -2}, {1, 5}, 1, true); }), "qo_lens[1]");
  EXPECT_EQ(field_of([] { Problem::from_lengths({1}, {-1}, 1, true); }), "kv_lens[0]");
  EXPECT_EQ(field_of([] { Problem::from_lengths({1}, {1}, 1, true, 256, 1, 0); }), "block_size");
}

// Upstream's cluster layout: gcd(K heads, CUs) clusters, the TG and K-head ranges of each.
TEST(ClusterGeometry, GcdClusters) {
  const ClusterGeometry g = cluster_geometry(12, 256);  // gcd 4: 4 clusters x 64 TGs, 3 K heads each
  EXPECT_EQ(g.num_clusters, 4);
  EXPECT_EQ(g.tgs_per_cluster, 64);
  EXPECT_EQ(g.kheads_per_cluster, 3);
  const ClusterGeometry one = cluster_geometry(Problem::from_lengths({1}, {1}, 3, false, 132));
  EXPECT_EQ(one.num_clusters, 3);
  EXPECT_EQ(one.tgs_per_cluster, 44);
  EXPECT_EQ(one.kheads_per_cluster, 1);
}

// Upstream's unit count: int32 (or int64) division truncating toward zero (0 down to eff = -2 kvg + 2).
TEST(KvUnits, TruncatingCeilDivision) {
  Problem p = Problem::from_lengths({1}, {1}, 1, false, 1);
  for (const int32_t tile_kv : {1, 16, 128, 256}) {
    p.tile_kv = tile_kv;
    const KvUnits units(p);
    for (int32_t eff = -3 * tile_kv - 2; eff <= 3 * tile_kv + 2; ++eff) {
      const int32_t want = (eff + tile_kv - 1) / tile_kv;  // C++ division truncates toward zero
      EXPECT_EQ(units(eff), want) << "tile_kv " << tile_kv << ", eff " << eff;
      EXPECT_EQ(units(int64_t{eff}), int64_t{want}) << "tile_kv " << tile_kv << ", eff " << eff;
    }
  }
  p.tile_kv = 128;
  EXPECT_EQ(KvUnits(p)(-254), 0);  // -127 / 128 truncates to 0
  EXPECT_EQ(KvUnits(p)(-255), -1);
  EXPECT_EQ(KvUnits(p)(129), 2);
}

TEST(ValidateProblem, AcceptsGoodProblems) {
  EXPECT_EQ(rejects(base()), "");
  EXPECT_EQ(rejects(test::seed_scenario()), "");
  EXPECT_EQ(rejects(Problem::from_lengths({0}, {0}, 1, true)), "");  // empty sequences are fine
}

TEST(ValidateProblem, NonPositiveScalars) {
  auto with = [](auto set) {
    Problem p = base();
    set(p);
    return rejects(p);
  };
  EXPECT_EQ(with([](Problem& p) { p.num_heads_k = 0; }), "num_heads_k");
  EXPECT_EQ(with([](Problem& p) { p.num_heads_k = -3; }), "num_heads_k");
  EXPECT_EQ(with([](Problem& p) { p.gqa_ratio = 0; }), "gqa_ratio");
  EXPECT_EQ(with([](Problem& p) { p.block_size = 0; }), "block_size");
  EXPECT_EQ(with([](Problem& p) { p.num_cu = 0; }), "num_cu");
  EXPECT_EQ(with([](Problem& p) { p.num_cu = -256; }), "num_cu");
  EXPECT_EQ(with([](Problem& p) { p.tile_q = 0; }), "tile_q");
  EXPECT_EQ(with([](Problem& p) { p.tile_kv = -128; }), "tile_kv");
}

TEST(ValidateProblem, TileSizesThatDoNotDivide) {
  auto with = [](auto set) {
    Problem p = base();
    set(p);
    return rejects(p);
  };
  EXPECT_EQ(with([](Problem& p) { p.gqa_ratio = 3; }), "tile_q");            // 256 % 3
  EXPECT_EQ(with([](Problem& p) { p.tile_kv = 96; }), "kvlen_granularity");  // not a power of two
  // block 48 < tile_kv 128: kvlen_granularity 128 is not a multiple of 48 (pages of 48 tokens).
  EXPECT_EQ(rejects(Problem::from_lengths({600, 10}, {600, 300}, 2, true, 4, 1, 48)), "block_size");
  // block 384 > tile_kv: kvlen_granularity = 384, not a power of two.
  EXPECT_EQ(rejects(Problem::from_lengths({600, 10}, {600, 300}, 2, true, 4, 1, 384)), "kvlen_granularity");
  EXPECT_EQ(rejects(Problem::from_lengths({600, 10}, {600, 300}, 2, true, 4, 1, 256)), "");
}

TEST(ValidateProblem, IndptrShapes) {
  Problem p = base();
  p.qo_indptr = {0};
  p.context_lens = {};
  p.kv_indptr = {0};
  EXPECT_EQ(rejects(p), "qo_indptr");
  p = base();
  p.context_lens.push_back(5);
  EXPECT_EQ(rejects(p), "context_lens");
  p = base();
  p.qo_indptr = {1, 601, 611};
  EXPECT_EQ(rejects(p), "qo_indptr[0]");
  p = base();
  p.qo_indptr = {0, 600, 590};
  EXPECT_EQ(rejects(p), "qo_indptr[2]");
  p = base();
  p.context_lens[1] = -1;
  EXPECT_EQ(rejects(p), "context_lens[1]");
  p = base();
  p.kv_indptr.pop_back();
  EXPECT_EQ(rejects(p), "kv_indptr");
  p = base();
  p.kv_indptr = {2, 602, 902};
  EXPECT_EQ(rejects(p), "kv_indptr[0]");
  p = base();
  p.kv_indptr = {0, 600, 500};
  EXPECT_EQ(rejects(p), "kv_indptr[2]");
  p = base();
  p.kv_indptr = {0, 599, 899};  // sequence 0 needs 600 pages
  EXPECT_EQ(rejects(p), "kv_indptr[1]");
  p = base();
  p.kv_indptr = {0, 700, 1000};  // spare pages are fine
  EXPECT_EQ(rejects(p), "");
  p = Problem::from_lengths({10}, {33}, 1, false, 4, 1, 16);
  p.kv_indptr = {0, 2};  // 33 tokens in pages of 16 need 3
  EXPECT_EQ(rejects(p), "kv_indptr[1]");
}

TEST(ValidateProblem, CausalQoLongerThanKv) {
  Problem p = Problem::from_lengths({600, 400}, {600, 300}, 1, true, 4);
  EXPECT_EQ(rejects(p), "qo_indptr[2]");
  p.allow_causal_qo_gt_kv = true;
  EXPECT_EQ(rejects(p), "");
  p = Problem::from_lengths({600, 400}, {600, 300}, 1, false, 4);  // fine without causality
  EXPECT_EQ(rejects(p), "");
}

TEST(ValidateProblem, Overflows) {
  constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
  Problem p = base();
  p.num_cu = kMax;
  EXPECT_EQ(rejects(p), "num_cu");
  EXPECT_EQ(rejects(Problem::from_lengths({1}, {1}, 40000, false, 4, 2)),
            "num_heads_k");  // 80000 q heads > 16 bits
  EXPECT_EQ(rejects(Problem::from_lengths({1}, {1}, 65535, false, 4)), "");
  // kv_len + kvlen_granularity - 1 overflows.
  p = Problem::from_lengths({1}, {kMax - 100}, 1, false, 4, 1, 1 << 20);
  EXPECT_EQ(rejects(p), "context_lens[0]");
  // 4096 tiles x 1024 units x 2^20 tokens per unit.
  EXPECT_EQ(rejects(Problem::from_lengths({1 << 20}, {1 << 30}, 1, false, 256, 1, 1 << 20)), "context_lens");
  // Query rows + qlen_granularity overflow.
  EXPECT_EQ(rejects(Problem::from_lengths({kMax - 100}, {1}, 1, false, 4)), "qo_indptr");
  // 65535 heads x (32768 tiles + 256 TGs) work items.
  EXPECT_EQ(rejects(Problem::from_lengths({1 << 23}, {1}, 65535, false, 256)), "num_heads_k");
}

// ---------------------------------------------------------------------------------------------------------------
// JSON

std::string json_rejects(const std::string& text) {
  return field_of([&] { problem_from_json_text(text); });
}

TEST(ProblemJson, ReadsLengthsAndOptions) {
  const Problem p = problem_from_json_text(
      R"({"qo_lens":[8,8],"kv_lens":[1200,1200],"heads":16,"causal":false,"num_cu":80,"gqa":1,"block_size":16})");
  EXPECT_EQ(p.qo_indptr, (std::vector<int32_t>{0, 8, 16}));
  EXPECT_EQ(p.kv_indptr, (std::vector<int32_t>{0, 75, 150}));
  EXPECT_EQ(p.num_heads_k, 16);
  EXPECT_FALSE(p.causal);
  EXPECT_EQ(p.num_cu, 80);
  EXPECT_EQ(p.block_size, 16);
  const Problem q =
      problem_from_json_text(R"({"qo_indptr":[0,5],"context_lens":[9],"kv_indptr":[0,12],"heads":1})");
  EXPECT_EQ(q.kv_indptr, (std::vector<int32_t>{0, 12}));
  EXPECT_TRUE(q.causal);
  EXPECT_EQ(q.num_cu, 256);
}

TEST(ProblemJson, RoundTrip) {
  Problem p = Problem::from_lengths({5, 0, 300}, {7, 3, 1000}, 3, true, 80, 2, 16);
  p.kv_indptr = {0, 4, 6, 70};  // spare pages: written explicitly
  p.allow_causal_qo_gt_kv = true;
  p.tile_kv = 64;
  const Problem q = problem_from_json_text(problem_to_json_text(p));
  EXPECT_EQ(q.qo_indptr, p.qo_indptr);
  EXPECT_EQ(q.kv_indptr, p.kv_indptr);
  EXPECT_EQ(q.context_lens, p.context_lens);
  EXPECT_EQ(q.num_heads_k, 3);
  EXPECT_EQ(q.gqa_ratio, 2);
  EXPECT_EQ(q.block_size, 16);
  EXPECT_EQ(q.num_cu, 80);
  EXPECT_EQ(q.tile_kv, 64);
  EXPECT_TRUE(q.allow_causal_qo_gt_kv);
  const Problem s = test::seed_scenario();
  EXPECT_EQ(problem_to_json_text(s).find("kv_indptr"), std::string::npos);  // default layout is implied
  const Problem t = problem_from_json_text(problem_to_json_text(s));
  EXPECT_EQ(t.kv_indptr, s.kv_indptr);
  EXPECT_FALSE(t.causal);
}

TEST(ProblemJson, SyntaxAndShapeErrors) {
  EXPECT_EQ(json_rejects("{"), "problem");
  EXPECT_EQ(json_rejects(""), "problem");
  EXPECT_EQ(json_rejects("[1,2]"), "problem");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"heads":1,"head":2})"), "head");  // unknown key
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1]})"), "heads");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"heads":1})"), "kv_lens");
  EXPECT_EQ(json_rejects(R"({"kv_lens":[1],"heads":1})"), "qo_lens");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"qo_indptr":[0,1],"kv_lens":[1],"heads":1})"), "qo_indptr");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"context_lens":[1],"heads":1})"), "context_lens");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1,2],"kv_lens":[1],"heads":1})"), "qo_lens");
  // Found by fuzz_inputs: a number out of double's range is a parse-time out_of_range, not a parse_error.
  EXPECT_EQ(json_rejects(R"({"qo_lens": [1e999]})"), "problem");
}

TEST(ProblemJson, TypeErrorsNameTheKey) {
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"heads":"16"})"), "heads");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"heads":1.5})"), "heads");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"heads":true})"), "heads");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"heads":1,"causal":1})"), "causal");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"heads":1,"num_cu":4294967296})"), "num_cu");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"heads":1,"num_cu":-9999999999})"), "num_cu");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1,"a"],"kv_lens":[1,1],"heads":1})"), "qo_lens[1]");
  EXPECT_EQ(json_rejects(R"({"qo_lens":7,"kv_lens":[1],"heads":1})"), "qo_lens");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[null],"heads":1})"), "kv_lens[0]");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"heads":1,"allow_causal_qo_gt_kv":"yes"})"),
            "allow_causal_qo_gt_kv");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"heads":1,"tile_q":{}})"), "tile_q");
}

TEST(ProblemJson, ValueErrorsNameTheField) {
  EXPECT_EQ(json_rejects(R"({"qo_lens":[-1],"kv_lens":[1],"heads":1})"), "qo_lens[0]");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[-1],"heads":1})"), "kv_lens[0]");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"heads":0})"), "heads");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"heads":1,"gqa":3})"), "tile_q");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"heads":1,"gqa":-1})"), "gqa");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"heads":1,"num_cu":0})"), "num_cu");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[5],"kv_lens":[1],"heads":1})"), "qo_indptr[1]");  // causal qo > kv
  EXPECT_EQ(json_rejects(R"({"qo_lens":[5],"kv_lens":[1],"heads":1,"allow_causal_qo_gt_kv":true})"), "");
  EXPECT_EQ(json_rejects(R"({"qo_indptr":[0,5],"kv_lens":[9],"kv_indptr":[0,3],"heads":1})"), "kv_indptr[1]");
  EXPECT_EQ(json_rejects(R"({"qo_lens":[1],"kv_lens":[1],"heads":1,"block_size":0})"), "block_size");
}

// validate_problem's totals (the scheduler's step 1 in closed form, computed by its branch-free fast pass
// where it applies) equal the query tiles' count and unit sum, and a single broken entry anywhere in a
// problem the fast pass would otherwise accept still sends it to the precise pass, which names the field.
TEST(ValidateProblem, TotalsMatchTheQueryTilesAndBrokenEntriesAreCaught) {
  std::mt19937 rng(20261127);
  int broken_checked = 0;
  for (int i = 0; i < 2000; ++i) {
    Problem p = test::random_problem(rng, i % 10 == 9);
    const ProblemTotals t = validate_problem(p);
    const std::vector<QTile> tiles = make_query_tiles(p);
    const int32_t bpu = p.kvlen_granularity() / p.block_size;
    int64_t units = 0;
    for (const QTile& q : tiles) units += q.num_blocks / bpu;
    ASSERT_EQ(t.num_tiles, static_cast<int32_t>(tiles.size())) << problem_to_json_text(p);
    ASSERT_EQ(t.total_units, units) << problem_to_json_text(p);

    const int32_t b = std::uniform_int_distribution<int32_t>(0, p.batch() - 1)(rng);
    std::string want;
    switch (i % 4) {
      case 0:  // a negative query length
        p.qo_indptr[b + 1] = p.qo_indptr[b] - 1;
        want = "qo_indptr[" + std::to_string(b + 1) + "]";
        break;
      case 1:  // a negative context
        p.context_lens[b] = -1;
        want = "context_lens[" + std::to_string(b) + "]";
        break;
      case 2:  // one page too few
        p.context_lens[b] = (p.kv_indptr[b + 1] - p.kv_indptr[b]) * p.block_size + 1;
        want = "kv_indptr[" + std::to_string(b + 1) + "]";
        break;
      default:  // a causal query longer than its context
        if (!p.causal || p.allow_causal_qo_gt_kv || p.qo_len(b) == 0) continue;
        p.context_lens[b] = p.qo_len(b) - 1;
        want = "qo_indptr[" + std::to_string(b + 1) + "]";
        break;
    }
    EXPECT_EQ(rejects(p), want) << problem_to_json_text(p);
    ++broken_checked;
  }
  EXPECT_GT(broken_checked, 1000);
}

}  // namespace
}  // namespace mlaps
