#pragma once
// Bounds on problems read from outside (command lines, problem files, dumps).
#include <cstdint>

namespace mlaps {

// Bounds on problems read from outside (command lines, problem files, dumps): the most sequences a length
// list or a dump may describe, and the most CUs (thread groups) a problem may name.
inline constexpr int32_t kMaxSequences = 1 << 20;
inline constexpr int32_t kMaxNumCu = 1 << 16;
// A problem file holds at most three lists of kMaxSequences (+1) integers of <= 11 characters and a few
// options: 64 MiB bounds it; a larger file (or /dev/zero) is refused before it is read whole.
inline constexpr uint64_t kMaxProblemFileBytes = uint64_t{64} << 20;

}  // namespace mlaps
