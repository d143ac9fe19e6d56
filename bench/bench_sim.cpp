// Emulator suites: the fast prefill (1 and 2 threads), the plain per-row prefill (the oracle, small
// workloads), the reduce, and simulate() (plan already made: buffers, poison, prefill, reduce).
//
// Names: prefill/fast/t<threads>/<workload>, prefill/reference_order/t1/<workload>,
// reduce/t<threads>/<workload>, simulate/t<threads>/<workload>.
#include <map>
#include <string>

#include "bench/prepared.h"
#include "sim/emulate.h"

namespace mlaps::bench {

Prepared& prepared(const BenchWorkload& w) {
  static std::map<std::string, std::unique_ptr<Prepared>> cache;
  auto& slot = cache[w.name];
  if (!slot) {
    slot = std::make_unique<Prepared>();
    Prepared& p = *slot;
    p.workload = &w;
    p.plan = make_plan(w.problem, Policy::kAiter);
    InputOptions opt;
    opt.seed = 1;
    p.inputs = make_random_inputs(w.problem, opt);
    p.buffers.allocate(w.problem.num_tokens(), w.problem.num_heads_q(),
                       partial_rows_for(p.plan, w.problem.tile_q));
    p.buffers.poison();
    p.prefill = make_prefill_params(w.problem, p.plan, p.inputs, p.buffers, p.model);
    p.reduce = make_reduce_params(p.plan, p.buffers);
  }
  return *slot;
}

void ensure_partials(Prepared& p) {
  if (p.partials_ready) return;
  emulate_prefill(p.prefill, 0);
  p.partials_ready = true;
}

namespace {

void set_attention_counters(benchmark::State& state, const Problem& prob) {
  const double flops = attention_flops(prob);
  state.counters["GFLOP/s"] = gflops(flops);
  state.counters["GFLOP"] = flops * 1e-9;
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * visible_pairs_per_head(prob) *
                          prob.num_heads_q());
}

void bm_prefill_fast(benchmark::State& state, const BenchWorkload* w, int threads) {
  Prepared& p = prepared(*w);
  for (auto _ : state) {
    emulate_prefill(p.prefill, threads);
    benchmark::ClobberMemory();
  }
  p.partials_ready = true;
  set_attention_counters(state, w->problem);
}

void bm_prefill_reference_order(benchmark::State& state, const BenchWorkload* w) {
  Prepared& p = prepared(*w);
  for (auto _ : state) {
    emulate_prefill_reference_order(p.prefill);
    benchmark::ClobberMemory();
  }
  p.partials_ready = true;
  set_attention_counters(state, w->problem);
}

// Bytes the reduce moves: every partial (fp32 O row + LSE) read once, every finalised row written once
// (bf16 O + fp32 LSE), per head.
int64_t reduce_bytes(const Plan& plan, int32_t heads, int32_t tile_q) {
  int64_t partial_rows = 0, final_rows = 0;
  for (int32_t t = 0; t < plan.num_reduce_entries(); ++t) {
    const int64_t rows = plan.reduce_final_map[t].qo_end - plan.reduce_final_map[t].qo_start;
    final_rows += rows;
    partial_rows += rows * (plan.reduce_indptr[t + 1] - plan.reduce_indptr[t]);
  }
  (void)tile_q;
  return heads * (partial_rows * (128 * 4 + 4) + final_rows * (128 * 2 + 4));
}

void bm_reduce(benchmark::State& state, const BenchWorkload* w, int threads) {
  Prepared& p = prepared(*w);
  ensure_partials(p);
  for (auto _ : state) {
    emulate_reduce(p.reduce, threads);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          reduce_bytes(p.plan, w->problem.num_heads_q(), w->problem.tile_q));
  state.counters["entries"] = p.plan.num_reduce_entries();
  state.counters["partials"] = static_cast<double>(p.plan.reduce_partial_map.size());
}

void bm_simulate(benchmark::State& state, const BenchWorkload* w, int threads) {
  Prepared& p = prepared(*w);
  int64_t unwritten = 0;
  for (auto _ : state) {
    SimRun run = simulate(w->problem, p.plan, p.inputs, p.model, threads);
    unwritten = run.unwritten.output + run.unwritten.lse;
    benchmark::DoNotOptimize(run.buffers.out.data());
  }
  set_attention_counters(state, w->problem);
  state.counters["unwritten"] = static_cast<double>(unwritten);
}

}  // namespace

void register_sim_benchmarks() {
  for (const BenchWorkload& w : workloads()) {
    if (!w.emulate || (g_quick && !w.quick_emulate)) continue;
    for (int t : {1, 2}) {
      const std::string th = threads_part(t);
      benchmark::RegisterBenchmark(bench_name({"prefill/fast", th, w.name}).c_str(), bm_prefill_fast, &w, t)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->Repetitions(repetitions());
      benchmark::RegisterBenchmark(bench_name({"reduce", th, w.name}).c_str(), bm_reduce, &w, t)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime()
          ->Repetitions(repetitions());
      benchmark::RegisterBenchmark(bench_name({"simulate", th, w.name}).c_str(), bm_simulate, &w, t)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->Repetitions(repetitions());
    }
    if (w.reference_order) {
      benchmark::RegisterBenchmark(bench_name({"prefill/reference_order/t1", w.name}).c_str(),
                                   bm_prefill_reference_order, &w)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
}

}  // namespace mlaps::bench
