#!/usr/bin/env python3
"""get_ps_metadata_v1 from Python vs make_plan_into from C++, side by side in one process.

    PYTHONPATH=build/default/python python3 python/tools/time_dropin.py [--bench build/default/bench/mlaps_bench]

For each workload (the #3606 seed scenario and the largest plan of the table), on buffers of the sizes the C++
benchmark plan/into/aiter/<workload> has (so both write the same bytes, unused tails zeroed), it alternates
blocks of n calls (~10 ms each), --pairs times:
  1. the drop-in from Python (timeit, plain Python ints for the scalar arguments, as a caller holds them);
  2. make_plan_into in a C++ loop inside this process on the same problem and buffers
     (mlaps._dropins._time_make_plan_into);
  3. the whole C++ side of the drop-in in a C++ loop (argument checks and the problem refilled, no pybind11
     dispatch: with_arguments=True).
The figure is the median over the pairs of (1) - (2): blocks next to each other share the host's state of the
moment, so a shared or throttled machine moves both (a fastest-of-rounds comparison of two separate minima
moved by several microseconds from run to run on a shared 2-core VM). Then the benchmark itself in its own
process (fastest of its repetitions), for reference.
"""
import argparse
import json
import os
import statistics
import subprocess
import timeit

import numpy as np

import mlaps

WORKLOADS = ["seed_ctx1200_qo8_b16_h16_noncausal", "causal_b64_qo2048_kv16384_h128"]


def bench_buffers(p):
    """Buffers of the sizes plan/into/aiter/<workload> uses: upstream's pre-#3606 get_ps_metadata_info_v1
    sizes (aiter-legacy), or the plan's exact size where that is larger (bench/bench_plan.cpp, PlanBuffers)."""
    plan = mlaps.plan(p)
    qo_lens = np.diff(np.asarray(p.qo_indptr))
    legacy = mlaps.get_ps_metadata_info_v1(len(p.context_lens), p.num_heads_k, int(qo_lens.max()), 256,
                                           num_cu=p.num_cu, max_kvlen=int(max(p.context_lens)),
                                           kvlen_granularity=128, policy="aiter-legacy")
    need = (2, p.num_cu + 1, plan.num_works, plan.num_reduce_entries + 1, plan.num_reduce_entries,
            plan.reduce_partial_map.shape[0])
    return tuple(np.zeros((max(a.shape[0], n),) + a.shape[1:], a.dtype) for a, n in zip(legacy, need))


def paired(name, pairs):
    """Per-call microseconds of the three kinds of block, alternated: lists of (python, core, whole)."""
    p = mlaps.workload(name)
    qo, kv, ctx = (np.asarray(a, np.int32) for a in (p.qo_indptr, p.kv_indptr, p.context_lens))
    ptrs, wi, winfo, ri, rf, rp = bench_buffers(p)
    f = mlaps.get_ps_metadata_v1
    # Plain Python values, as a caller holds them (a Problem's fields are properties: each read is a call).
    heads, causal, cu = int(p.num_heads_k), bool(p.causal), int(p.num_cu)
    call = lambda: f(qo, kv, ctx, 1, heads, ptrs, wi, winfo, ri, rf, rp, 1, 256, 128, 1, causal, num_cu=cu)  # noqa: E731
    call()
    t = timeit.Timer(call)
    n = max(1, int(0.01 / max(t.timeit(100) / 100, 1e-9)))
    args = (qo, kv, ctx, 1, heads, ptrs, wi, winfo, ri, rf, rp, 1, 256, 128, 1, causal)
    timed = mlaps._dropins._time_make_plan_into
    out = []
    for _ in range(pairs):
        py = t.timeit(n) / n * 1e6
        core = timed(*args, num_cu=cu, calls=n)
        whole = timed(*args, num_cu=cu, calls=n, with_arguments=True)
        out.append((py, core, whole))
    return n, out


def cpp_us(bench, name):
    out = subprocess.run([bench, f"--benchmark_filter=^plan/into/aiter/{name}(/|$)", "--benchmark_format=json",
                          "--benchmark_repetitions=10", "--benchmark_min_time=0.03"],
                         capture_output=True, text=True, check=True).stdout
    runs = [b for b in json.loads(out)["benchmarks"] if b.get("run_type") == "iteration"]
    return min(b["real_time"] for b in runs)  # microseconds (the benchmark's unit)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.environ.get("MLAPS_BENCH", "build/default/bench/mlaps_bench"))
    ap.add_argument("--pairs", type=int, default=60)
    a = ap.parse_args()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"CPU: {cpu}, {os.cpu_count()} cores; mlaps {mlaps.__version__}")
    for name in WORKLOADS:
        n, rows = paired(name, a.pairs)
        py, core, whole = zip(*rows)
        d = [x - y for x, y, _ in rows]
        q = statistics.quantiles(d, n=4)
        args_us = statistics.median(w - c for _, c, w in rows)
        bench = f", the benchmark in its own process {cpp_us(a.bench, name):.2f} us" if os.path.exists(a.bench) else ""
        print(f"{name}: Python get_ps_metadata_v1 - C++ make_plan_into, median of {a.pairs} pairs of {n}-call "
              f"blocks: {statistics.median(d):+.2f} us (quartiles {q[0]:+.2f} .. {q[2]:+.2f}); of which the C++ "
              f"side's argument checks {args_us:+.2f} us; fastest blocks: Python {min(py):.2f} us, C++ "
              f"{min(core):.2f} us{bench}")


if __name__ == "__main__":
    main()
