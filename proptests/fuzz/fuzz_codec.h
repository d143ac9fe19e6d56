#pragma once
// Byte codec of the fuzz targets: arbitrary bytes -> a scheduling problem (every byte string decodes to
// something; missing bytes read as 0), and the inverse for seed corpora built from the workload table.
//
// Layout (little endian):
//   [0]    flags: bit0 causal, bit1 allow_causal_qo_gt_kv, bit2 emulate (tiny problems only),
//          bits3-4 gqa selector {1, 1, 2, 4}
//   [1]    heads: < 8 -> {1, 2, 3, 16, 128, 5, 7, 12}[v], else v - 7 (up to 248)
//   [2..3] num_cu: < 8 -> {1, 2, 4, 16, 80, 132, 256, 304}[v], else (v - 8) % 1024 + 1
//   [4]    block_size = 1 << (v % 9)  (1 .. 256)
//   [5]    batch = 1 + v % 64
//   then per sequence: qo u16, kv u16; a length v <= 20000 is itself, else a boundary value
//   kBoundary[(v - 20001) % size] (0, 1, 127..129, 255..257, 511..513, ..., 16383..16385, 32767..32769).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/problem.h"

namespace mlaps::fuzz {

struct Decoded {
  Problem problem;
  bool emulate = false;  // the input asks for an emulated run too (done only when tiny)
};

// Throws InputError when the decoded lengths cannot form a problem (e.g. int32 overflow of the totals).
Decoded decode_problem(const uint8_t* data, size_t size, size_t* consumed = nullptr);

// nullopt when the problem is outside the codec's range (batch > 64, heads > 248, lengths that are
// neither <= 20000 nor boundary values, non-default tiles, non-contiguous pages).
std::optional<std::vector<uint8_t>> encode_problem(const Problem& p, bool emulate = false);

// Rough plan size (work items), to keep each fuzz input fast: heads * (query tiles + CUs).
int64_t estimated_works(const Problem& p);
// Visible (row, key) pairs times heads: the cost of an emulated run.
int64_t estimated_pairs(const Problem& p);

}  // namespace mlaps::fuzz
