// The workload sets and traces: vllm#50613's packing, determinism, the JSONL round trip, bad lines.
#include <gtest/gtest.h>

#include "scheduler/error.h"
#include "workloads/sets.h"

namespace mlaps {
namespace {

TEST(WorkloadSets, Vllm50613PackingTurns30ChunksInto1) {
  const TraceBatch unpacked = workload_set("vllm50613-example").batch(1, 0);
  const TraceBatch packed = workload_set("vllm50613-example-packed").batch(1, 0);
  // One causal call over the new tokens, then the context chunks.
  EXPECT_EQ(unpacked.problems().size(), 1u + 30u);
  EXPECT_EQ(packed.problems().size(), 1u + 1u);
  const auto p = packed.problems();
  EXPECT_TRUE(p[0].causal);
  EXPECT_FALSE(p[1].causal);
  EXPECT_EQ(p[1].batch(), 32);
  EXPECT_EQ(p[1].kv_len(0), 60000);
}

TEST(WorkloadSets, EverySetIsDeterministicAndPlannable) {
  for (const WorkloadSet& s : workload_sets()) {
    const auto a = generate_set(s, 7, 3), b = generate_set(s, 7, 3), c = generate_set(s, 8, 3);
    EXPECT_EQ(a, b) << s.name;
    if (s.default_batches > 1) {
      EXPECT_NE(a, c) << s.name;
    }
    for (const TraceBatch& x : a) {
      EXPECT_FALSE(x.problems().empty()) << s.name;
      EXPECT_EQ(batch_from_json_line(batch_to_json_line(x), 1), x) << s.name;
    }
  }
}

TEST(WorkloadSets, TokenBudgetsAndHeads) {
  for (const char* name : {"vllm-chunked-8k", "vllm-chunked-16k"}) {
    const int32_t budget = std::string(name).find("16k") != std::string::npos ? 16384 : 8192;
    for (const TraceBatch& b : generate_set(workload_set(name), 1, 20)) {
      int64_t new_tokens = 0;
      for (int32_t i = 0; i < b.calls[0]; ++i) new_tokens += b.seqs[i].qo;
      EXPECT_LE(new_tokens, budget) << name;
    }
  }
  EXPECT_EQ(workload_set("deepseek-tp1").batch(1, 0).heads, 128);
  EXPECT_EQ(workload_set("deepseek-tp2").batch(1, 0).heads, 64);
  EXPECT_EQ(workload_set("deepseek-tp4").batch(1, 0).heads, 32);
  EXPECT_EQ(workload_set("deepseek-tp8").batch(1, 0).heads, 16);
  EXPECT_EQ(workload_set("kimi-h16").batch(1, 0).heads, 16);
}

TEST(WorkloadSets, BadTraceLinesNameTheLine) {
  for (const char* bad : {"", "[1]", "{\"heads\": 16}", "{\"heads\": 16, \"num_cu\": 256, \"seqs\": []}",
                          "{\"heads\": 16, \"num_cu\": 256, \"seqs\": [[1, 2]]}",
                          "{\"heads\": 16, \"num_cu\": 256, \"seqs\": [[-1, 2, true]]}",
                          "{\"heads\": 16, \"num_cu\": 256, \"seqs\": [[1, 2, true]], \"calls\": [2]}"}) {
    try {
      batch_from_json_line(bad, 9);
      FAIL() << bad;
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), "trace:9") << bad;
    }
  }
  // Causal qo > kv is no valid prefill: the batch's problem is rejected.
  const TraceBatch b = batch_from_json_line("{\"heads\": 1, \"num_cu\": 4, \"seqs\": [[10, 5, true]]}", 1);
  EXPECT_THROW(b.problems(), InputError);
  EXPECT_THROW(workload_set("nosuch"), InputError);
}

}  // namespace
}  // namespace mlaps
