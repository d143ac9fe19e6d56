// mlaps_bench: every suite in one binary, so each ratio in scripts/bench.sh's table comes from one run.
//   mlaps_bench [--quick] [Google Benchmark flags, e.g. --benchmark_filter=plan/ --benchmark_format=json]
// --quick registers the small workloads and sizes only (the CI smoke run).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench/common.h"
#include "scheduler/error.h"
#include "sim/emulate.h"

namespace {

// The CPU, from /proc/cpuinfo's first processor: "model name (family F, model M)", or "?" where there is no
// such file. Every figure names the CPU it came from.
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, name = "?", family, model;
  while (std::getline(in, line) && !line.empty()) {  // the first processor's block ends at a blank line
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    const std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : std::string();
    if (key == "model name") name = value;
    if (key == "cpu family") family = value;
    if (key == "model") model = value;
  }
  if (!family.empty()) name += " (family " + family + ", model " + model + ")";
  return name;
}

}  // namespace

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
  const char* isa = nullptr;
  try {
    isa = mlaps::isa_path_name(mlaps::selected_isa_path());  // MLAPS_ISA_PATH may pick a lower path
  } catch (const mlaps::InputError& e) {
    std::fprintf(stderr, "mlaps_bench: error: %s\n", e.what());
    return 2;
  }
  benchmark::AddCustomContext("mlaps_quick", mlaps::bench::g_quick ? "1" : "0");
  benchmark::AddCustomContext("mlaps_build_type", MLAPS_BENCH_BUILD_TYPE);
  // The emulator's ISA path (sim/emulate.h): the report names it beside every emulator figure.
  benchmark::AddCustomContext("mlaps_isa_path", isa);
  benchmark::AddCustomContext("mlaps_sgemm_isa", mlaps::bench::sgemm_isa());
  benchmark::AddCustomContext("mlaps_cpu", cpu_model());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
