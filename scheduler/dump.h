#pragma once
// Upstream's metadata dump format (test_mla_prefill_ps.py --dump_metadata / --load_metadata): one raw
// little-endian uint32 file per buffer, padded to the allocated capacity. Beside them mlaps writes
// problem.json, which records every option of the problem and the plan (upstream ignores extra files).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/files.h"
#include "scheduler/plan.h"
#include "scheduler/policy.h"
#include "scheduler/problem.h"
#include "scheduler/sizing.h"

namespace mlaps {

inline constexpr const char* kDumpFiles[] = {
    "qo_indptr.bin", "kv_indptr.bin",     "seq_lens_kv.bin",      "work_indptr.bin",
    "work_info.bin", "reduce_indptr.bin", "reduce_final_map.bin", "reduce_partial_map.bin",
};
inline constexpr const char* kDumpProblemFile = "problem.json";
// Largest dump file read (256 MiB: 8M work rows, 128x the largest named workload's plan); larger files are
// refused before they are read. Sizes that follow from other files (kv_indptr, seq_lens_kv, reduce_final_map,
// problem.json) are held to exactly that or their derived bound.
inline constexpr uint64_t kMaxDumpFileBytes = uint64_t{256} << 20;

// What problem.json records: the whole problem (every option, in the --problem JSON form), the policy that
// made the plan and the buffer formula with its overrides.
struct DumpRecord {
  Problem problem;
  Policy policy;  // the default policy unless recorded
  SizingFormula sizing = SizingFormula::kPr3606;
  std::optional<int32_t> max_kvlen, batch_size;  // sizing overrides, when given
};
std::string dump_record_json(const DumpRecord& r);
// Throws InputError("problem.json", ...) / naming the key.
DumpRecord parse_dump_record(const std::string& text);

// The dump's files: the eight padded buffers as upstream allocates them (capacity from `cap`; padding follows
// upstream: reduce_indptr tail = total partials, other tails 0), and problem.json when `record` is given.
// Throws InputError if the plan overflows `cap`.
std::vector<DirFile> aiter_dump_files(const Problem& p, const Plan& plan, const Capacity& cap,
                                      const DumpRecord* record);

// Writes the dump into `dir` through OutputSet: each file complete or absent; only the dump's own names are
// touched; a folder holding other entries is refused unless `force`. `record` defaults to {p, plan.policy,
// the policy's sizing formula}.
void write_aiter_dump(const std::filesystem::path& dir, const Problem& p, const Plan& plan,
                      const Capacity& cap, bool force = false, const DumpRecord* record = nullptr);

struct AiterDump {
  // qo_indptr, kv_indptr, context_lens, num_cu (= work_indptr entries - 1) filled; without problem.json
  // num_heads_k is guessed as the largest q_head_range hi (right for gqa 1), the rest left at the defaults.
  // With problem.json: its problem, checked against the *.bin files.
  Problem problem;
  // Trimmed to used lengths (n_final = first j with reduce_indptr[j] == reduce_indptr[last]); policy: the
  // recorded one, else the upstream row of the table whose reduce version the -1 works imply (legacy if any
  // partial_o_loc is -1, else fixed).
  Plan plan;
  Capacity capacity;                 // the sizes found on disk
  std::optional<DumpRecord> record;  // problem.json, when present
  int32_t direct_write_works = 0;    // works with partial_o_loc -1 (what the policy guess is based on)
};

// Reads a dump. Missing files, sizes that are not a multiple of the element size, files larger than a real
// problem needs, truncated or inconsistent buffers, and a problem.json that disagrees with the buffers give
// InputError naming the file.
AiterDump read_aiter_dump(const std::filesystem::path& dir);

}  // namespace mlaps
