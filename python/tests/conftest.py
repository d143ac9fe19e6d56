"""Shared helpers of the Python tests: the `mlaps` binary (MLAPS_BIN, set by ctest) and small problems."""
import json
import os
import subprocess

import numpy as np
import pytest

import mlaps

MLAPS_BIN = os.environ.get("MLAPS_BIN", "mlaps")


def cli(*args, check=True):
    """Runs the mlaps command; returns (exit code, stdout)."""
    r = subprocess.run([MLAPS_BIN, *map(str, args)], capture_output=True, text=True)
    if check and r.returncode not in (0, 1):
        raise AssertionError(f"mlaps {' '.join(map(str, args))} exited {r.returncode}: {r.stderr}")
    return r.returncode, r.stdout


def dropin_args(p: "mlaps.Problem"):
    """The drop-in's granularity arguments that reproduce problem p (contract 1.2)."""
    return dict(qhead_granularity=p.gqa_ratio, qlen_granularity=p.tile_q // p.gqa_ratio,
                kvlen_granularity=max(p.tile_kv, p.block_size), block_size=p.block_size, is_causal=p.causal)


def buffers(p: "mlaps.Problem", policy="aiter"):
    """Upstream's buffers for problem p, sized by the policy's formula, as get_ps_metadata_info_v1 gives them."""
    qo = np.diff(np.asarray(p.qo_indptr))
    return mlaps.get_ps_metadata_info_v1(p.batch, p.num_heads_k, int(qo.max()) if len(qo) else 0,
                                         p.tile_q // p.gqa_ratio, num_cu=p.num_cu,
                                         max_kvlen=max(p.context_lens) if p.context_lens else 0,
                                         kvlen_granularity=max(p.tile_kv, p.block_size), policy=policy)


def indptrs(p: "mlaps.Problem"):
    return (np.asarray(p.qo_indptr, dtype=np.int32), np.asarray(p.kv_indptr, dtype=np.int32),
            np.asarray(p.context_lens, dtype=np.int32))


@pytest.fixture
def seed_problem():
    return mlaps.workload("seed_ctx1200_qo8_b16_h16_noncausal")
