#!/usr/bin/env python3
"""PyTorch scaled_dot_product_attention (bf16) on the conformance seed scenarios, for a TFLOP/s ratio.

Same shapes as the mlaps prefill (q/k head dim 192, v head dim 128), same FLOP count: 2 * (192 + 128) per
visible (row, key, head). SDPA's is_causal is top-left aligned; the seed scenarios that are causal have
qo_len == kv_len, where top-left and bottom-right alignment agree. Prints one JSON object.
"""
import json
import sys

import torch
import torch.nn.functional as F

SCENARIOS = [
    # name, batch, qo_len, kv_len, heads, causal
    ("seed_ctx1200_qo8_b16_h16_noncausal", 16, 8, 1200, 16, False),
    ("causal_1x8192_h1", 1, 8192, 8192, 1, True),
    ("causal_1x16384_h1", 1, 16384, 16384, 1, True),
    ("noncausal_1x8192_h1", 1, 8192, 8192, 1, False),
]


def flops(qo, kv, heads, batch, causal):
    if causal:
        pairs = sum(max(0, min(kv, i + kv - qo + 1)) for i in range(qo))
    else:
        pairs = qo * kv
    return pairs * heads * batch * 2.0 * (192 + 128)


def main():
    dev = torch.device("cuda")
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "results": []}
    for name, b, qo, kv, h, causal in SCENARIOS:
        g = torch.Generator(device=dev).manual_seed(0)
        q = torch.randn(b, h, qo, 192, device=dev, dtype=torch.bfloat16, generator=g)
        k = torch.randn(b, h, kv, 192, device=dev, dtype=torch.bfloat16, generator=g)
        v = torch.randn(b, h, kv, 128, device=dev, dtype=torch.bfloat16, generator=g)
        fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=192 ** -0.5)
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(20):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            e.synchronize()
            times.append(s.elapsed_time(e))
        times.sort()
        ms = times[len(times) // 2]
        fl = flops(qo, kv, h, b, causal)
        out["results"].append({"name": name, "ms_median": ms, "flops": fl, "tflops": fl / (ms * 1e-3) / 1e12})
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
