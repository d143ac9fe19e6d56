// Emulator suites: the fast prefill (1 and 2 threads), the plain per-row prefill (the oracle, small
// workloads), the reduce, and simulate() (plan already made: buffers, poison, prefill, reduce).
//
// Names: prefill/fast/t<threads>/<workload>, prefill/reference_order/t1/<workload>,
// reduce/t<threads>/<workload>, simulate/t<threads>/<workload>.
//
// And the emulator's floors: floor/kv_fetch/t<threads>/<workload>
// reads every K/V row the prefill decodes (same work order, same prefetch distance, no arithmetic), and
// floor/kv_decode/t<threads>/<workload> also decodes them as the prefill does (its ISA path's decode: fp32
// rows, or on the AVX-512 and AVX2 paths the fp16 forms that works of <= 8 rows keep and widen in their
// micro-kernels). Any emulator that decodes each (sequence, head)'s fp8 K/V once pays at least the latter.
#include <algorithm>
#include <cstring>
#include <map>
#include <string>

#include "bench/prepared.h"
#include "sim/emulate.h"
#include "sim/hd.h"
#include "sim/lanes.h"

namespace mlaps::bench {

Prepared& prepared(const BenchWorkload& w) {
  static std::map<std::string, std::unique_ptr<Prepared>> cache;
  auto& slot = cache[w.name];
  if (!slot) {
    slot = std::make_unique<Prepared>();
    Prepared& p = *slot;
    p.workload = &w;
    p.plan = make_plan(w.problem, default_policy());
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
    const int64_t rows = plan.reduce_final_map[t].rows();
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

// The K/V rows the prefill decodes, per work and head: keys [kv_start, kv_end) up to the last one the work's
// last row can see. fn(rows, k, kc, vc) for each (rows: the work's query rows), with the prefill's prefetch
// of the key lanes::kKvPrefetchAhead on.
template <typename Fn>
void for_each_decoded_key(const PrefillParams& p, int threads, Fn&& fn) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int32_t tg = 0; tg < p.num_tg; ++tg) {
    for (int32_t wi = p.work_indptr[tg]; wi < p.work_indptr[tg + 1]; ++wi) {
      const WorkInfo& w = p.work_info[wi];
      if (w.qo_end <= w.qo_start) continue;
      const int32_t b = w.batch_idx;
      const int32_t qo_len = p.qo_indptr[b + 1] - p.qo_indptr[b],
                    kv_len = p.kv_indptr[b + 1] - p.kv_indptr[b];
      int32_t k_end = w.kv_end;
      if (p.causal) {
        const int64_t last = int64_t{p.kv_indptr[b]} + (w.qo_end - 1 - p.qo_indptr[b]) + kv_len - qo_len;
        k_end = static_cast<int32_t>(std::clamp<int64_t>(last + 1, w.kv_start, w.kv_end));
      }
      for (int32_t h = w.q_head_lo(); h < w.q_head_hi(); ++h) {
        const int32_t hk = h / (p.num_heads_q / p.num_heads_k);
        auto rows = [&](int32_t k) {
          const int64_t page = p.kv_page_indices[k];
          return std::pair{p.k + (page * p.num_heads_k + hk) * kQkHeadDim,
                           p.v + (page * p.num_heads_k + hk) * kVHeadDim};
        };
        for (int32_t k = w.kv_start; k < k_end; ++k) {
          if (k + lanes::kKvPrefetchAhead < k_end) {
            const auto [kn, vn] = rows(k + lanes::kKvPrefetchAhead);
            lanes::prefetch_bytes<kQkHeadDim>(kn);
            lanes::prefetch_bytes<kVHeadDim>(vn);
          }
          const auto [kc, vc] = rows(k);
          fn(w.qo_end - w.qo_start, k, kc, vc);
        }
      }
    }
  }
}

// Bytes/s: the fp8 K/V rows read (keys x heads x 320 bytes).
void set_kv_counters(benchmark::State& state, const PrefillParams& p) {
  int64_t keys = 0;
  for_each_decoded_key(p, 1, [&keys](int32_t, int32_t, const uint8_t*, const uint8_t*) { ++keys; });
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * keys * (kQkHeadDim + kVHeadDim));
  state.counters["kv_rows"] = static_cast<double>(keys);
}

void bm_floor_kv_fetch(benchmark::State& state, const BenchWorkload* w, int threads) {
  const PrefillParams& p = prepared(*w).prefill;
  // 32-byte chunks, each loaded into a register: the 64-byte form (one memcpy of the 192 bytes into an array
  // of 64-byte vectors) went through the stack in 32-byte halves read back as 64-byte vectors, a
  // store-forwarding stall per chunk that made this floor slower than it is (17 against 3 ns per key in L2,
  // on a Xeon).
  typedef uint8_t Chunk __attribute__((vector_size(32)));
  for (auto _ : state) {
    for_each_decoded_key(p, threads, [](int32_t, int32_t, const uint8_t* kc, const uint8_t* vc) {
      Chunk any{}, c;
      for (int i = 0; i < kQkHeadDim; i += 32) {
        std::memcpy(&c, kc + i, sizeof c);
        any |= c;
      }
      for (int i = 0; i < kVHeadDim; i += 32) {
        std::memcpy(&c, vc + i, sizeof c);
        any |= c;
      }
      static thread_local Chunk sink;  // per thread: keeps the loads alive, no shared write
      sink |= any;
    });
    benchmark::ClobberMemory();
  }
  set_kv_counters(state, p);
}

void bm_floor_kv_decode(benchmark::State& state, const BenchWorkload* w, int threads) {
  const PrefillParams& p = prepared(*w).prefill;
  // The decode of the path the prefill runs (selected_isa_path(), named in the benchmark context).
  // Works of <= 8 rows keep fp16 forms where the path's turned-around blocks do (kv_row_f16_former; the
  // widening to fp32 is then part of the prefill's micro-kernels), others fp32 rows.
  const KvRowDecodeFn decode = kv_row_decoder(selected_isa_path(), p.model.encoding);
  const KvRowFormFn form = kv_row_f16_former(selected_isa_path(), p.model.encoding);
  for (auto _ : state) {
    for_each_decoded_key(
        p, threads, [decode, form](int32_t rows, int32_t k, const uint8_t* kc, const uint8_t* vc) {
          // One KV sub-tile per thread, as the prefill's workspace; the forms' K one micro-tile of keys.
          alignas(64) static thread_local float kd[kTileKv][kQkHeadDim], vd[kTileKv][kVHeadDim];
          alignas(64) static thread_local uint16_t kh[kF16FormKeyTile][kQkHeadDim], vh[kTileKv][kVHeadDim];
          if (form && rows <= kF16FormMaxRows) {
            uint16_t* kr = kh[k % kF16FormKeyTile];
            uint16_t* vr = vh[k % kTileKv];
            form(kc, vc, kr, vr);
            benchmark::DoNotOptimize(kr);
            benchmark::DoNotOptimize(vr);
          } else {
            float* kr = kd[k % kTileKv];
            float* vr = vd[k % kTileKv];
            decode(kc, vc, kr, vr);
            benchmark::DoNotOptimize(kr);
            benchmark::DoNotOptimize(vr);
          }
        });
    benchmark::ClobberMemory();
  }
  set_kv_counters(state, p);
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
      benchmark::RegisterBenchmark(bench_name({"floor/kv_fetch", th, w.name}).c_str(), bm_floor_kv_fetch, &w,
                                   t)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->Repetitions(repetitions());
      benchmark::RegisterBenchmark(bench_name({"floor/kv_decode", th, w.name}).c_str(), bm_floor_kv_decode,
                                   &w, t)
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
