// Batch invariance (sim/invariance.h): a request emulated alone and co-batched. Batch-invariant policies
// must give the same bits; aiter must not, on a batch where its KV split of a request changes.
#include <gtest/gtest.h>

#include "scheduler/policy.h"
#include "sim/emulate.h"
#include "sim/invariance.h"

namespace mlaps {
namespace {

// A long non-causal request beside short ones, 2 heads on 8 CUs: co-batched, aiter's TG quota (total units
// / TGs) cuts the long request's tiles at other places than alone.
Problem mixed_batch() {
  Problem p = Problem::from_lengths({300, 40, 16, 90}, {2000, 700, 300, 1100}, 2, false, 8);
  validate_problem(p);
  return p;
}

InvarianceReport report(const Problem& p, const char* policy) {
  InputOptions io;
  io.seed = 7;
  return batch_invariance(p, make_random_inputs(p, io), policy_named(policy), NumericModel{}, 2);
}

TEST(BatchInvariance, SingleRequestSlicesTheBatch) {
  const Problem p = mixed_batch();
  InputOptions io;
  io.seed = 3;
  const AttnInputs in = make_random_inputs(p, io);
  const Problem one = single_request(p, 2);
  EXPECT_EQ(one.qo_indptr, (std::vector<int32_t>{0, 16}));
  EXPECT_EQ(one.context_lens, (std::vector<int32_t>{300}));
  const AttnInputs s = single_request_inputs(p, in, 2);
  EXPECT_EQ(s.num_tokens, 16);
  ASSERT_EQ(s.kv_page_indices.size(), 300u);
  EXPECT_EQ(s.kv_page_indices.front(), in.kv_page_indices[p.kv_indptr[2]]);
  EXPECT_EQ(s.q.front(), in.q[static_cast<size_t>(p.qo_indptr[2]) * p.num_heads_q() * kQkHeadDim]);
  EXPECT_EQ(s.q_scale, in.q_scale);
}

TEST(BatchInvariance, WholeTilesAndFixedSplitAreInvariant) {
  const Problem p = mixed_batch();
  for (const char* pol : {"whole-tiles", "fixed-split"}) {
    const InvarianceReport r = report(p, pol);
    ASSERT_EQ(r.rows.size(), 4u) << pol;
    EXPECT_EQ(r.requests_changed, 0) << pol;
    for (const InvarianceRow& row : r.rows) {
      EXPECT_TRUE(row.invariant()) << pol << " seq " << row.seq;
      EXPECT_EQ(row.pieces_alone, row.pieces_batched) << pol << " seq " << row.seq;
    }
  }
}

TEST(BatchInvariance, AiterIsNotWhereItsSplitChanges) {
  const InvarianceReport r = report(mixed_batch(), "aiter");
  ASSERT_EQ(r.rows.size(), 4u);
  // Alone, a short request is cut over the 8 TGs; co-batched, the quota of a TG holds it whole: its
  // split depends on its batch-mates, and so do its bits.
  int split_differs = 0;
  for (const InvarianceRow& row : r.rows) {
    if (row.pieces_alone == row.pieces_batched) continue;
    ++split_differs;
    EXPECT_GT(row.output_bits_changed, 0) << "seq " << row.seq;
    EXPECT_GT(row.lse_bits_changed, 0) << "seq " << row.seq;
  }
  EXPECT_GE(split_differs, 2);
  EXPECT_GT(r.requests_changed, 0);
  EXPECT_GT(r.max_lse_diff, 0.0);
  EXPECT_LT(r.max_lse_diff, 1e-3);  // a different merge order, not a different result
}

// A batch of one request is that request alone: invariant under every policy.
TEST(BatchInvariance, OneRequestIsItself) {
  Problem p = Problem::from_lengths({300}, {2000}, 2, true, 8);
  validate_problem(p);
  for (const PolicyDef& d : policies()) {
    if (d.traits.reduce != ReduceVersion::kFixed) continue;
    EXPECT_EQ(report(p, std::string(d.name).c_str()).requests_changed, 0) << d.name;
  }
}

}  // namespace
}  // namespace mlaps
