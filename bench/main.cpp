// mlaps_bench: every suite in one binary, so each ratio in scripts/bench.sh's table comes from one run.
//   mlaps_bench [--quick] [Google Benchmark flags, e.g. --benchmark_filter=plan/ --benchmark_format=json]
// --quick registers the small workloads and sizes only (the CI smoke run).
#include <cstring>
#include <vector>

#include "bench/common.h"

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::strcmp(argv[i], "--quick") == 0) {
      mlaps::bench::g_quick = true;
      continue;
    }
    args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);

  mlaps::bench::register_plan_benchmarks();
  mlaps::bench::register_fuzz_benchmarks();
  mlaps::bench::register_gemm_benchmarks();
  mlaps::bench::register_sim_benchmarks();
  mlaps::bench::register_reference_benchmarks();
  // SGEMM again after the emulator: the box's speed drifts over minutes, so the peak is sampled on both
  // sides of the runs it is compared with (same names; the report takes the best of all).
  if (!mlaps::bench::g_quick) mlaps::bench::register_gemm_benchmarks();

  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::AddCustomContext("mlaps_quick", mlaps::bench::g_quick ? "1" : "0");
  benchmark::AddCustomContext("mlaps_build_type", MLAPS_BENCH_BUILD_TYPE);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
