#pragma once
// The named workload table: one name -> one scheduling problem, shared by property tests, benchmarks and
// GPU conformance runs, so that a number and a failure share a name.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/policy.h"
#include "scheduler/problem.h"

namespace mlaps {

struct Workload {
  std::string name;
  std::string description;
  Problem problem;
  Policy policy_hint = default_policy();  // the policy the workload is meant to be run with
  // true: the aiter plan validates clean (no violation under the aiter contract and the PR #3606 buffer
  // formula). false: a known-defect case; `ledger_id` names the upstream-defects ledger entry
  // (ledger/ledger.json) that records what goes wrong.
  bool valid_for_aiter = true;
  std::string
      ledger_id;  // related ledger entry, also for valid workloads (e.g. the legacy formula overflows)
  // For the chunked pipeline: the problem is attention of the new tokens over context + new tokens
  // (causal, kv_len = context + qo_len); the context is processed in chunks of this many tokens
  // (non-causal), the new tokens causally over themselves, and the states merged. 0: not chunked.
  int32_t chunk_context = 0;
  // Small enough for the float64 reference and the emulator in a unit test (< ~1 s on one core).
  bool small = false;
};

// All workloads, in a fixed order.
const std::vector<Workload>& workloads();

// nullptr if unknown.
const Workload* find_workload(std::string_view name);
// Throws InputError("workload", ...) listing the known names if unknown.
const Workload& workload(std::string_view name);

// The scheduler-speed set of issue 6 (256 CUs, block 1), in the order.
std::vector<std::string> scheduler_bench_workload_names();

}  // namespace mlaps
