#!/usr/bin/env python3
"""Upstream's op test (op_tests/test_mla_prefill_ps.py) on the CPU: random fp8 inputs, the plan from the drop-in
get_ps_metadata_v1, the emulated prefill + reduce, and the comparison with the float64 reference under
upstream's checkAllclose tolerances (atol = rtol = 0.05) and the #3606 LSE bound (0.03).

Default: the #3606 seed scenario (16 x 8 new tokens over 1200 of context, 16 heads, non-causal, 256 CUs) under
both policies. aiter-legacy fails: its tiles taken whole by one thread group get partial_o_loc = -1, no reduce
entry, and their final LSE is never written (the poison pattern survives).

    PYTHONPATH=build/default/python python3 python/examples/check_plan.py [--qo-len 8 --kv-len 1200 --batch 16
        --heads 16 --num-cu 256 --causal --seed 0 --policy aiter-legacy]
Exit code: 0 when every policy run behaves as expected (aiter passes, aiter-legacy shows the #3606 failure).
"""
import argparse
import sys

import numpy as np

import mlaps


def bf16(x):
    """Rounds float32 values to bfloat16 (RNE), as upstream's torch.randn(..., dtype=bfloat16) inputs are."""
    b = x.astype(np.float32).view(np.uint32)
    b = (b + 0x7FFF + ((b >> 16) & 1)) & 0xFFFF0000
    return b.view(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--qo-len", type=int, default=8)
    ap.add_argument("--kv-len", type=int, default=1200)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--num-cu", type=int, default=256)
    ap.add_argument("--causal", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--policy", action="append", choices=[p["name"] for p in mlaps.policies()])
    a = ap.parse_args()
    policies = a.policy or ["aiter", "aiter-legacy"]

    # 1. random inputs, bf16 then per-tensor fp8 (V = the first 128 dims of K, quantized on its own)
    B, H = a.batch, a.heads
    qo_indptr = np.arange(B + 1, dtype=np.int32) * a.qo_len
    kv_indptr = np.arange(B + 1, dtype=np.int32) * a.kv_len  # block_size 1: a page is a token
    context_lens = np.full(B, a.kv_len, dtype=np.int32)
    rng = np.random.default_rng(a.seed)
    q_bf16 = bf16(rng.standard_normal((B * a.qo_len, H, 192), dtype=np.float32))
    k_bf16 = bf16(rng.standard_normal((B * a.kv_len, H, 192), dtype=np.float32))
    q, q_scale = mlaps.per_tensor_quant(q_bf16)
    k, k_scale = mlaps.per_tensor_quant(k_bf16)
    v, v_scale = mlaps.per_tensor_quant(np.ascontiguousarray(k_bf16[:, :, :128]))
    kv_page_indices = rng.permutation(B * a.kv_len).astype(np.int32)  # scattered pages, as a paged KV cache

    problem = mlaps.Problem.from_lengths([a.qo_len] * B, [a.kv_len] * B, heads=H, causal=a.causal,
                                         num_cu=a.num_cu)
    ok = True
    for policy in policies:
        print(f"=== policy {policy}")
        # 2. the plan, as upstream's callers make it (tile_q 256, tile_kv 128, block_size 1, num_cu a keyword)
        bufs = mlaps.get_ps_metadata_info_v1(B, H, a.qo_len, 256, num_cu=a.num_cu, max_kvlen=a.kv_len,
                                             kvlen_granularity=128, policy=policy)
        mlaps.get_ps_metadata_v1(qo_indptr, kv_indptr, context_lens, 1, H, *bufs, qhead_granularity=1,
                                 qlen_granularity=256, kvlen_granularity=128, block_size=1, is_causal=a.causal,
                                 num_cu=a.num_cu, policy=policy)
        plan = mlaps.plan(problem, policy)  # the same plan as an object (the drop-in's buffers, trimmed)
        assert np.array_equal(bufs[2][:plan.num_works], plan.work_info)
        direct = int((plan.work_info[:, 1] == -1).sum())
        print(f"plan: {plan.num_works} works ({direct} direct-write, partial_o_loc -1), "
              f"{plan.num_reduce_entries} reduce entries")
        violations = mlaps.validate(problem, plan)
        if violations:
            kinds = sorted({v["invariant"] for v in violations})
            print(f"check: {len(violations)} violation(s) of the #3606 contract: {', '.join(kinds)}; first: "
                  f"{violations[0]['detail']}")
        # 3. emulate prefill + reduce on poisoned buffers
        out, lse = mlaps.emulate(q, k, v, kv_page_indices, plan, problem, q_scale, k_scale, v_scale)
        # 4. compare with the float64 reference (P rounded to fp8 as the model does, like `mlaps run`)
        ref_out, ref_lse = mlaps.reference(q, k, v, kv_page_indices, problem, q_scale, k_scale, v_scale,
                                           round_p=True)
        c = mlaps.compare(ref_out, ref_lse, out, lse)
        print(f"output: checkAllclose {'passed' if c['output']['mismatches'] == 0 else 'FAILED'}, max |err| "
              f"{c['output']['max_abs_err']:.3g}, mismatch fraction {c['output']['mismatch_fraction']:.3g}")
        print(f"final LSE: {c['unwritten_lse']} (row, head) entries never written; max |err| "
              f"{c['lse']['max_abs_err']:.3g} over {c['lse']['compared']} (bound {c['lse']['bound']})")
        print("PASS" if c["pass"] else "FAIL")
        # aiter-legacy fails exactly when some tile went to one thread group whole (partial_o_loc -1)
        expected = c["pass"] if policy != "aiter-legacy" else c["pass"] == (direct == 0)
        if direct and not c["pass"] and c["unwritten_lse"] > 0:
            print("(the #3606 failure, as expected: aiter-legacy leaves final LSE rows unwritten)")
        ok = ok and expected
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
