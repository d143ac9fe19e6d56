#pragma once
// Plans from outside: reading an upstream/mlaps metadata dump with the user's explicit options, the
// structural checks every consumer of such a plan runs before indexing it, and the ledger lookup of
// `mlaps check`. Free of CLI11, so the fuzz target `fuzz_dump` drives exactly these entry points.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/dump.h"
#include "scheduler/plan.h"
#include "scheduler/problem.h"
#include "scheduler/validate.h"

namespace mlaps::cli {

// The flag that sets a problem field, from validate_problem's names (num_heads_k, tile_q, kv_indptr[3], ...)
// or the problem JSON's keys (heads, qo_lens, ...); "" when none does.
std::string flag_for_field(const std::string& field);

// Options the user gave explicitly (absent = take the dump's record, else the default / the inference).
struct DumpOverrides {
  std::optional<int32_t> heads, gqa, block_size, tile_q, tile_kv, num_cu;
  std::optional<bool> causal, allow_causal_qo_gt_kv, need_lse;
  std::optional<Policy> policy;
};

struct LoadedDump {
  Problem problem;
  Plan plan;
  Capacity capacity;                 // the sizes found on disk
  std::optional<DumpRecord> record;  // problem.json, when present
  // What was not recorded and not given: "assumed causal (the default; --no-causal overrides)", ...
  std::vector<std::string> notes;
};

// Reads the dump at `dir` (problem.json when present), applies the overrides and validates the problem.
// Throws InputError naming the file or the flag.
LoadedDump load_dump(const std::string& dir, const DumpOverrides& o);

// The invariants whose breach makes indexing a plan unsafe (work_indptr: num_cu + 1 entries from 0,
// non-decreasing, ending at the number of works; reduce_indptr: one more entry than reduce_final_map, from 0,
// non-decreasing, ending at the length of reduce_partial_map). Throws InputError naming `source`'s file
// (`source` empty: the buffer) on the first breach. Every consumer of a plan read from outside runs it first.
void require_safe_structure(const Plan& plan, int32_t num_cu, const std::string& source);

// The upstream-defects ledger entry a set of violations matches ("" if none): "id: title (reference)".
// An entry is named only where its symptom is in the plan (legacy_minus1_fast_path: a partial_o_loc -1).
std::string ledger_lookup(const Problem& p, const Plan& plan, const std::vector<Violation>& v);

}  // namespace mlaps::cli
