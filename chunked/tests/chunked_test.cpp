// vLLM's chunked-prefill consumer (chunked/chunked.h) on the emulated kernels against float64 full
// attention, under both policies. Small problems: CI has 2 cores.
#include <gtest/gtest.h>

#include <vector>

#include "chunked/chunked.h"
#include "scheduler/policy.h"

namespace mlaps {
namespace {

// vLLM chunked prefill: 3 context chunks of 256 (sequence 0's context ends in chunk 1, so it has kv_len 0
// in chunk 2 between scheduled tiles, not trailing).
ChunkedProblem chunked_case(int32_t num_cu) {
  ChunkedProblem cp;
  cp.new_lens = {8, 20};
  cp.context_lens = {300, 700};
  cp.chunk_size = 256;
  cp.num_heads_k = 2;
  cp.num_cu = num_cu;
  return cp;
}

TEST(Chunked, ChunkLengths) {
  const ChunkedProblem cp = chunked_case(4);
  EXPECT_EQ(chunked_num_chunks(cp), 3);
  EXPECT_EQ(chunk_kv_lens(cp, 0), (std::vector<int32_t>{256, 256}));
  EXPECT_EQ(chunk_kv_lens(cp, 1), (std::vector<int32_t>{44, 256}));
  EXPECT_EQ(chunk_kv_lens(cp, 2), (std::vector<int32_t>{0, 188}));
  const Problem full = chunked_full_problem(cp);
  EXPECT_EQ(full.context_lens, (std::vector<int32_t>{308, 720}));
  EXPECT_TRUE(full.causal);
}

TEST(Chunked, FixedPolicyMatchesFullAttention) {
  for (int32_t cu : {1, 4, 16}) {
    ChunkedOptions opt;
    opt.policy = policy_named("aiter");
    opt.inputs.seed = 99;
    opt.num_threads = 2;
    const ChunkedResult r = run_chunked(chunked_case(cu), opt);
    SCOPED_TRACE(r.summary());
    ASSERT_EQ(r.parts.size(), 4u);
    EXPECT_EQ(r.garbage_entries, 0);
    EXPECT_FALSE(r.garbage_changed_output());
    EXPECT_TRUE(r.pass);
    // bf16-level error only: a few bf16 ulps of outputs of magnitude <~ 1, plus fp8-P rounding.
    EXPECT_LT(r.merged.output.max_abs_err, 0.05);
  }
}

TEST(Chunked, LegacyPolicyGarbageLseCorruptsTheOutput) {
  ChunkedOptions opt;
  opt.policy = policy_named("aiter-legacy");
  opt.inputs.seed = 99;
  opt.num_threads = 2;
  // 4 CUs: every part has tiles absorbed whole (context chunks included), so garbage LSE 0 meets true
  // LSEs of ~5..7 and the mixing weights go badly wrong (measured: ~45% of output elements mismatch).
  const ChunkedResult r = run_chunked(chunked_case(4), opt);
  SCOPED_TRACE(r.summary());
  EXPECT_GT(r.garbage_entries, 0);
  EXPECT_TRUE(r.garbage_changed_output());
  EXPECT_FALSE(r.pass);
  EXPECT_GT(r.merged.output.mismatch_fraction, 0.05);  // upstream's "failed" threshold
  for (const ChunkedPart& part : r.parts) EXPECT_GT(part.num_direct_works, 0) << part.name;
  // With the unwritten LSEs replaced by their true values the same merge is right: the garbage is the cause.
  EXPECT_TRUE(r.merged_clean.pass);
  for (const ChunkedPart& part : r.parts) EXPECT_EQ(part.trailing_zero_kv_rows, 0) << part.name;
}

// Contract 2.5.2: sequence 1's context (100) is exhausted after chunk 0; in chunks 1 and 2 its zero-KV
// tile is the last one and is never scheduled, under either policy. Its rows are read as garbage and
// counted separately from the #3606 rows.
TEST(Chunked, TrailingZeroKvIsCountedSeparately) {
  ChunkedProblem cp;
  cp.new_lens = {8, 8};
  cp.context_lens = {700, 100};
  cp.chunk_size = 256;
  cp.num_heads_k = 1;
  cp.num_cu = 4;
  ChunkedOptions opt;
  opt.policy = policy_named("aiter");
  opt.num_threads = 2;
  const ChunkedResult r = run_chunked(cp, opt);
  SCOPED_TRACE(r.summary());
  ASSERT_EQ(r.parts.size(), 4u);
  EXPECT_EQ(r.parts[0].trailing_zero_kv_rows, 0);
  EXPECT_EQ(r.parts[1].trailing_zero_kv_rows, 8);
  EXPECT_EQ(r.parts[2].trailing_zero_kv_rows, 8);
  EXPECT_EQ(r.parts[3].trailing_zero_kv_rows, 0);
  for (const ChunkedPart& part : r.parts)
    EXPECT_EQ(part.unwritten.lse, part.trailing_zero_kv_rows) << part.name;
  // Reading unwritten memory fails the run, although garbage 0.0 barely shows here: the empty chunk's
  // garbage LSE 0 weighs e^0 against the true context LSE of ~5 (100 keys), < 1% of the output.
  EXPECT_EQ(r.garbage_entries, 32);  // chunks 1 and 2: 8 output pairs + 8 LSE entries each
  EXPECT_FALSE(r.pass);
  EXPECT_LT(r.garbage_max_abs_change, 0.05);
}

}  // namespace
}  // namespace mlaps
