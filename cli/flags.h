#pragma once
// The `mlaps` command line's problem syntax, in one place: the length lists of --qo-lens / --kv-lens
// ("8x16,1200,0x2": LEN or LENxCOUNT, comma separated), their one parser, and the flags that rebuild a
// problem ("reproduce:" lines of the property tests and fuzzers, `mlaps workloads`).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/policy.h"
#include "scheduler/problem.h"

namespace mlaps::cli {

// "8x16,1200,3" -> {8 x16, 1200, 3}: the parser of --qo-lens / --kv-lens. Throws InputError(field, ...) on
// anything else (empty text or item, negative, non-numeric, COUNT 0, > 2^20 sequences, beyond int32).
std::vector<int32_t> parse_length_list(const std::string& field, const std::string& text);
// Run-length form of a length list, the inverse of parse_length_list: {8, 8, 8, 0} -> "8x3,0".
std::string format_lengths(std::span<const int32_t> lens);

// The spelling of the need_lse flags (Problem::need_lse), read by every command that takes them
// (args.h's add_need_lse_flags) and written by cli_flags.
inline constexpr const char* kNeedLseFlag = "--need-lse";
inline constexpr const char* kNoNeedLseFlag = "--no-need-lse";

// Per-sequence lengths of a problem.
std::vector<int32_t> qo_lengths(const Problem& p);
std::vector<int32_t> kv_lengths(const Problem& p);

// Whether a problem is exactly Problem::from_lengths(...) of its own lengths and options (kv pages back to
// back, default tiles): then the flags below reproduce it exactly.
bool is_cli_representable(const Problem& p);

// The flags that rebuild `p`: "--qo-lens 8x16 --kv-lens 1200x16 --heads 16 --num-cu 256 --no-causal"
// (+ --gqa / --block-size when not 1, + --allow-causal-qo-gt-kv when set, + --no-need-lse when unset).
std::string cli_flags(const Problem& p);
// A ready-to-run command: "mlaps <verb> <cli_flags> --policy <policy>".
std::string cli_command(std::string_view verb, const Problem& p, Policy policy);

}  // namespace mlaps::cli
