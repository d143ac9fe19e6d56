#pragma once
// Upstream's metadata dump format (test_mla_prefill_ps.py --dump_metadata / --load_metadata): one raw
// little-endian uint32 file per buffer, padded to the allocated capacity.
#include <filesystem>
#include <string>

#include "scheduler/plan.h"
#include "scheduler/problem.h"
#include "scheduler/sizing.h"

namespace mlaps {

inline constexpr const char* kDumpFiles[] = {
    "qo_indptr.bin", "kv_indptr.bin",     "seq_lens_kv.bin",      "work_indptr.bin",
    "work_info.bin", "reduce_indptr.bin", "reduce_final_map.bin", "reduce_partial_map.bin",
};

// Writes the padded buffers as upstream allocates them (capacity from `cap`; padding follows upstream:
// reduce_indptr tail = total partials, other tails 0). Writes into a temporary sibling directory and renames
// it into place, so `dir` is either complete or untouched. Throws InputError if the plan overflows `cap`.
void write_aiter_dump(const std::filesystem::path& dir, const Problem& p, const Plan& plan,
                      const Capacity& cap);

struct AiterDump {
  // qo_indptr, kv_indptr, context_lens, num_cu (= work_indptr entries - 1) filled; num_heads_k guessed as the
  // largest q_head_range hi (right for gqa 1); heads/causal/gqa/block_size are the caller's to set.
  Problem problem;
  // Trimmed to used lengths (n_final = first j with reduce_indptr[j] == reduce_indptr[last]); reduce version
  // legacy if any partial_o_loc is -1, else fixed; policy: the upstream row of the table with that version.
  Plan plan;
  Capacity capacity;  // the sizes found on disk
};

// Reads a dump. Missing files, sizes that are not a multiple of the element size, truncated or
// inconsistent buffers give InputError naming the file.
AiterDump read_aiter_dump(const std::filesystem::path& dir);

}  // namespace mlaps
