#pragma once
// Serving-shaped workload sets and traces. A batch is what one engine step hands the attention backend:
// a list of (qo_len, kv_len, causal) sequences with the heads and CUs, run as one or more kernel calls
// (vLLM runs new tokens causally in one call and each context chunk non-causally in another). A set is a
// named generator of batches from documented length distributions (sets.cpp), deterministic in its seed,
// so every figure can be regenerated. A trace is JSONL, one batch per line:
//   {"heads": 16, "num_cu": 256, "seqs": [[qo, kv, causal], ...], "calls": [n0, n1, ...]}
// "calls" (optional) counts the consecutive sequences of each kernel call; every call's sequences share
// the causal flag. Without it, each maximal run of one causal flag is one call.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/problem.h"

namespace mlaps {

struct TraceSeq {
  int32_t qo = 0, kv = 0;
  bool causal = true;
  friend bool operator==(const TraceSeq&, const TraceSeq&) = default;
};

struct TraceBatch {
  int32_t heads = 16;
  int32_t num_cu = 256;
  std::vector<TraceSeq> seqs;
  std::vector<int32_t> calls;  // sequences per kernel call (sums to seqs.size()); empty: runs of one flag
  friend bool operator==(const TraceBatch&, const TraceBatch&) = default;

  // One problem per kernel call (validated: throws InputError naming the batch field).
  std::vector<Problem> problems() const;
};

std::string batch_to_json_line(const TraceBatch& b);  // no trailing newline
// Checks structure and bounds (heads, CUs, lengths, calls) and throws InputError("trace:LINE", ...).
TraceBatch batch_from_json_line(std::string_view line, int64_t line_no);
// The largest trace read: 1 GiB, 10^7 lines (a 10,000-batch trace is ~2 MB).
inline constexpr uint64_t kMaxTraceBytes = uint64_t{1} << 30;
inline constexpr int64_t kMaxTraceLines = 10'000'000;
// Reads a JSONL trace (bounded before reading: InputError("--trace", ...) past kMaxTraceBytes or
// kMaxTraceLines); blank lines skipped.
std::vector<TraceBatch> read_trace(const std::string& path);

struct WorkloadSet {
  std::string name;
  std::string description;                                        // the distributions, in words
  std::function<TraceBatch(uint64_t seed, int64_t index)> batch;  // batch `index` of the set for `seed`
  int64_t default_batches = 64;  // `--set NAME` (compare) uses seed 1 and this many batches
};
const std::vector<WorkloadSet>& workload_sets();
// Throws InputError("--set", ...) listing the known names if unknown.
const WorkloadSet& workload_set(std::string_view name);
std::vector<TraceBatch> generate_set(const WorkloadSet& s, uint64_t seed, int64_t batches);

}  // namespace mlaps
