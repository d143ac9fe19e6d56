// The float64 reference, and the whole run: plan + simulate (prefill + reduce on poisoned buffers) +
// reference + comparison (reference/compare.h), as `mlaps run` does it (inputs generated once, outside the
// timing).
//
// Names: reference/t<threads>/<workload>, run/t<threads>/<workload>.
#include <string>

#include "bench/prepared.h"
#include "bridge/reference_bridge.h"

namespace mlaps::bench {
namespace {

void bm_reference(benchmark::State& state, const BenchWorkload* w, int threads) {
  Prepared& p = prepared(*w);
  RefOptions opt;
  opt.num_threads = threads;
  for (auto _ : state) {
    RefResult ref = reference_attention(reference_inputs(w->problem, p.inputs), opt);
    benchmark::DoNotOptimize(ref.out.data());
  }
  const double flops = attention_flops(w->problem);
  state.counters["GFLOP/s"] = gflops(flops);
  state.counters["GFLOP"] = flops * 1e-9;
}

void bm_run(benchmark::State& state, const BenchWorkload* w, int threads) {
  Prepared& p = prepared(*w);
  RefOptions opt;
  opt.num_threads = threads;
  CompareResult c;
  for (auto _ : state) {
    const Plan plan = make_plan(w->problem, default_policy());
    SimRun run = simulate(w->problem, plan, p.inputs, p.model, threads);
    RefResult ref = reference_attention(reference_inputs(w->problem, p.inputs), opt);
    c = compare_run(ref, run.buffers);
    benchmark::DoNotOptimize(c.pass);
  }
  const double flops = attention_flops(w->problem);
  state.counters["GFLOP"] = flops * 1e-9;
  state.counters["unwritten"] = static_cast<double>(c.unwritten.output + c.unwritten.lse);
  state.counters["max_abs_err"] = c.output.max_abs_err;
  state.counters["mismatch_fraction"] = c.output.mismatch_fraction;
  state.counters["lse_max_abs_err"] = c.lse.max_abs_err;
  state.counters["pass"] = c.pass ? 1 : 0;
}

}  // namespace

void register_reference_benchmarks() {
  for (const BenchWorkload& w : workloads()) {
    if (!w.emulate || (g_quick && !w.quick_emulate)) continue;
    for (int t : {1, 2}) {
      benchmark::RegisterBenchmark(bench_name({"reference", threads_part(t), w.name}).c_str(), bm_reference,
                                   &w, t)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->Repetitions(repetitions());
    }
    benchmark::RegisterBenchmark(bench_name({"run/t2", w.name}).c_str(), bm_run, &w, 2)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
}

}  // namespace mlaps::bench
