#pragma once
// The plan's element types, in upstream's exact binary layout (csrc/include/ps.h, contract 2.3).
// These structs are memcpy'd to and from upstream's metadata dumps and device buffers: do not reorder.
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace mlaps {

// The length of [lo, hi): 0 for an empty or inverted range, in 64 bits (a dump's int32 fields may be
// anything, and INT32_MAX - INT32_MIN does not fit an int32). Host code; the device kernels read the fields
// directly.
constexpr int64_t clamped_len(int32_t lo, int32_t hi) {
  return hi > lo ? int64_t{hi} - lo : 0;
}

// One work item of a thread group: 8 x int32.
struct WorkInfo {
  int32_t batch_idx;  // sequence index b
  int32_t
      partial_o_loc;  // row offset into PartialO/PartialLSE (= tile_q * slot), or -1: write bf16 O directly
  int32_t qo_start;   // [qo_start, qo_end), global query rows (rows of Q and O)
  int32_t qo_end;
  int32_t kv_start;  // [kv_start, kv_end), indices into kv_page_indices (tokens when block_size == 1)
  int32_t kv_end;
  int32_t
      kv_offset;  // upstream's value: KV tokens after a non-last piece, 0 on a tile's last piece (see 2.3)
  int32_t q_head_range;  // q heads [lo, hi) packed as lo | hi << 16

  constexpr int64_t qo_rows() const { return clamped_len(qo_start, qo_end); }  // query rows it covers
  constexpr int64_t kv_len() const { return clamped_len(kv_start, kv_end); }   // KV entries (pages) it reads
  int32_t q_head_lo() const { return q_head_range & 0xFFFF; }
  int32_t q_head_hi() const { return (q_head_range >> 16) & 0xFFFF; }
  static int32_t pack_heads(int32_t lo, int32_t hi) {
    return static_cast<int32_t>((static_cast<uint32_t>(hi) << 16) | (static_cast<uint32_t>(lo) & 0xFFFFu));
  }
  friend bool operator==(const WorkInfo&, const WorkInfo&) = default;
};
static_assert(sizeof(WorkInfo) == 32, "WorkInfo must be 8 dwords");
static_assert(std::is_trivially_copyable_v<WorkInfo> && std::is_standard_layout_v<WorkInfo>);
static_assert(offsetof(WorkInfo, batch_idx) == 0);
static_assert(offsetof(WorkInfo, partial_o_loc) == 4);
static_assert(offsetof(WorkInfo, qo_start) == 8);
static_assert(offsetof(WorkInfo, qo_end) == 12);
static_assert(offsetof(WorkInfo, kv_start) == 16);
static_assert(offsetof(WorkInfo, kv_end) == 20);
static_assert(offsetof(WorkInfo, kv_offset) == 24);
static_assert(offsetof(WorkInfo, q_head_range) == 28);

// One reduce entry: the query rows [qo_start, qo_end) (global) that a reduce group finalises.
struct FinalLoc {
  int32_t qo_start;
  int32_t qo_end;
  constexpr int64_t rows() const { return clamped_len(qo_start, qo_end); }  // the rows it finalises
  friend bool operator==(const FinalLoc&, const FinalLoc&) = default;
};
static_assert(sizeof(FinalLoc) == 8);
static_assert(std::is_trivially_copyable_v<FinalLoc> && std::is_standard_layout_v<FinalLoc>);
static_assert(offsetof(FinalLoc, qo_start) == 0);
static_assert(offsetof(FinalLoc, qo_end) == 4);

}  // namespace mlaps
