#!/usr/bin/env python3
"""get_ps_metadata_v1 from Python vs make_plan_into from C++, side by side in one session.

    PYTHONPATH=build/default/python python3 python/tools/time_dropin.py [--bench build/default/bench/mlaps_bench]

For each workload (the #3606 seed scenario and the largest plan of the table), times the drop-in with timeit
(best of --repeat runs of enough calls for ~0.2 s each) on buffers of the sizes the C++ benchmark
plan/into/aiter/<workload> has (so both write the same bytes, unused tails zeroed), then make_plan_into in a
C++ loop inside the same process on the same buffers (mlaps._mlaps._time_make_plan_into), then the benchmark
itself (fastest of its repetitions), in alternation, --rounds times. Prints per-call microseconds and the differences: the in-process one compares the
same memory, the benchmark one a separate process.
"""
import argparse
import json
import os
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


def python_us(name, repeat):
    p = mlaps.workload(name)
    qo, kv, ctx = (np.asarray(a, np.int32) for a in (p.qo_indptr, p.kv_indptr, p.context_lens))
    ptrs, wi, winfo, ri, rf, rp = bench_buffers(p)
    f = mlaps.get_ps_metadata_v1
    # Plain Python values, as a caller holds them (a Problem's fields are properties: each read is a call).
    heads, causal, cu = int(p.num_heads_k), bool(p.causal), int(p.num_cu)
    call = lambda: f(qo, kv, ctx, 1, heads, ptrs, wi, winfo, ri, rf, rp, 1, 256, 128, 1, causal, num_cu=cu)  # noqa: E731
    call()
    t = timeit.Timer(call)
    n, _ = t.autorange()
    n = max(n, int(n * 0.2 / max(t.timeit(n), 1e-9))) if n else 1
    py = min(t.repeat(repeat, n)) / n * 1e6
    # make_plan_into in a C++ loop inside this process, on the same problem and the same buffers.
    args = (qo, kv, ctx, 1, heads, ptrs, wi, winfo, ri, rf, rp, 1, 256, 128, 1, causal)
    inproc = min(mlaps._mlaps._time_make_plan_into(*args, num_cu=cu, calls=n) for _ in range(repeat))
    return py, inproc


def cpp_us(bench, name):
    out = subprocess.run([bench, f"--benchmark_filter=^plan/into/aiter/{name}(/|$)", "--benchmark_format=json",
                          "--benchmark_repetitions=10", "--benchmark_min_time=0.03"],
                         capture_output=True, text=True, check=True).stdout
    runs = [b for b in json.loads(out)["benchmarks"] if b.get("run_type") == "iteration"]
    return min(b["real_time"] for b in runs)  # microseconds (the benchmark's unit)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.environ.get("MLAPS_BENCH", "build/default/bench/mlaps_bench"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"CPU: {cpu}, {os.cpu_count()} cores; mlaps {mlaps.__version__}")
    for name in WORKLOADS:
        py, ip, cc = [], [], []
        for _ in range(a.rounds):
            p_us, i_us = python_us(name, a.repeat)
            py.append(p_us)
            ip.append(i_us)
            cc.append(cpp_us(a.bench, name))
        fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
        print(f"{name}: Python get_ps_metadata_v1 {min(py):.2f} us; C++ make_plan_into in this process on the "
              f"same buffers {min(ip):.2f} us (difference {min(py) - min(ip):+.2f} us), in the benchmark "
              f"{min(cc):.2f} us (difference {min(py) - min(cc):+.2f} us) (rounds: py {fmt(py)}; in-process "
              f"{fmt(ip)}; benchmark {fmt(cc)})")


if __name__ == "__main__":
    main()
