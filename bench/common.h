#pragma once
// Shared pieces of the benchmark suites: the workloads they run over, FLOP and byte counts, and the
// quick (CI smoke) switch.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/policy.h"
#include "scheduler/problem.h"

namespace mlaps::bench {

// Set by `--quick` (CI smoke): small sizes only, so the whole binary runs in seconds.
extern bool g_quick;

// What a workload is used for. Emulation costs 2*(192+128) FLOPs per visible (row, key, head): the large
// scheduler workloads (1e13 FLOPs and more) are planned, never emulated, on a 2-core box.
struct BenchWorkload {
  std::string name;
  Problem problem;
  bool plan = true;                   // plan / validate / write-bytes suites
  bool emulate = false;               // fast prefill, reduce, reference, whole run
  bool reference_order = false;       // the plain per-row prefill (much slower): small workloads only
  bool quick = false;                 // planned in the CI smoke run
  bool quick_emulate = false;         // emulated in the CI smoke run
  std::optional<double> upstream_us;  // upstream host path, quoted in issue 6 (measured elsewhere)
};

// The named workload table (workloads/workloads.h), with what each suite runs on.
const std::vector<BenchWorkload>& workloads();

// Visible (row, key) pairs of one head: bottom-right causal mask (row i of a sequence sees key j iff
// j <= i + kv_len - qo_len), or every key when not causal.
int64_t visible_pairs_per_head(const Problem& p);
// 2*(192+128) FLOPs per visible (row, key) pair and q head: QK^T over 192 dims, PV over 128.
double attention_flops(const Problem& p);

// Bytes of the plan's used arrays (work_indptr, work_info, reduce_indptr, reduce_final_map,
// reduce_partial_map): what any scheduler has to write at the least.
int64_t plan_bytes(const Plan& plan);

// Repetitions of the emulator and reference benchmarks whose ratios the report prints (1 in --quick): the
// report takes the fastest, the estimate least disturbed by other load on a shared machine.
inline int repetitions() {
  return g_quick ? 1 : 5;
}

// Counter helpers: a value per iteration, reported as a rate (per second of the benchmark's time).
inline benchmark::Counter rate(double per_iteration) {
  return benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}
inline benchmark::Counter gflops(double flops_per_iteration) {
  return rate(flops_per_iteration * 1e-9);
}

// "a/b/c": a benchmark name from its parts (appends only; GCC 12's -Wrestrict misfires on "x" + std::string).
inline std::string bench_name(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (std::string_view part : parts) {
    if (!s.empty()) s += '/';
    s.append(part);
  }
  return s;
}
// "t2": the thread-count part of a name.
inline std::string threads_part(int threads) {
  std::string s = "t";
  s += std::to_string(threads);
  return s;
}

// Registration of each suite (called from main once the flags are parsed).
void register_plan_benchmarks();
void register_sim_benchmarks();
void register_reference_benchmarks();
void register_gemm_benchmarks();
void register_fuzz_benchmarks();

// The vector width Eigen's SGEMM was compiled for (bench_gemm.cpp): "avx512", "avx2" (AVX with FMA), "avx",
// "sse2" or "none". The report sets it beside the emulator's ISA path: a share of an AVX-512 SGEMM is not
// a share of what an AVX2 host's SGEMM reaches.
const char* sgemm_isa();

}  // namespace mlaps::bench
