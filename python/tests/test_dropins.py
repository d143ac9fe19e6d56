"""The drop-ins get_ps_metadata_info_v1 / get_ps_metadata_v1: upstream's bytes, shapes, defaults, errors."""
import json
import os

import numpy as np
import pytest

import mlaps
from conftest import buffers, cli, dropin_args, indptrs

DUMP_BUFFERS = ["work_indptr", "work_info", "reduce_indptr", "reduce_final_map", "reduce_partial_map"]


def run_dropin(p, policy, bufs=None):
    bufs = bufs if bufs is not None else buffers(p, policy)
    qo, kv, ctx = indptrs(p)
    r = mlaps.get_ps_metadata_v1(qo, kv, ctx, p.gqa_ratio, p.num_heads_k, *bufs, **dropin_args(p),
                                 num_cu=p.num_cu, policy=policy,
                                 allow_causal_qo_gt_kv=p.allow_causal_qo_gt_kv)
    assert r is None  # upstream returns None: the plan is in the buffers
    return bufs


@pytest.mark.parametrize("policy", ["aiter", "aiter-legacy"])
@pytest.mark.parametrize("name", [w["name"] for w in mlaps.workloads()])
def test_equals_cli_dump_bytes(tmp_path, name, policy):
    """The drop-ins' buffers are byte for byte the CLI's --write-aiter-dump files, padding included."""
    p = mlaps.workload(name)
    cli("plan", "--workload", name, "--policy", policy, "--write-aiter-dump", tmp_path / "d", "--format", "json")
    bufs = run_dropin(p, policy)
    assert bufs[0].dtype == np.uint64 and bufs[0].shape == (2,)
    for arr, file in zip(bufs[1:], DUMP_BUFFERS):
        assert arr.dtype == np.int32
        data = (tmp_path / "d" / f"{file}.bin").read_bytes()
        assert len(data) == arr.nbytes, f"{file}: dump has {len(data)} bytes, drop-in buffer {arr.nbytes}"
        assert arr.tobytes() == data, f"{name} {policy}: {file} differs from the CLI's dump"


def test_need_lse_false_is_the_clis_no_need_lse(tmp_path):
    """need_lse=False (the merged #3606 form): the seed scenario's whole tiles keep -1, byte for byte the CLI's
    `--no-need-lse` dump; need_lse=True gives every piece a slot."""
    name = "seed_ctx1200_qo8_b16_h16_noncausal"
    p = mlaps.workload(name)
    cli("plan", "--workload", name, "--no-need-lse", "--write-aiter-dump", tmp_path / "d", "--format", "json")
    qo, kv, ctx = indptrs(p)
    for need_lse in (False, True):
        bufs = buffers(p, "aiter")
        mlaps.get_ps_metadata_v1(qo, kv, ctx, p.gqa_ratio, p.num_heads_k, *bufs, **dropin_args(p),
                                 num_cu=p.num_cu, policy="aiter", need_lse=need_lse)
        direct = int((bufs[2][:, 1] == -1).sum())
        if need_lse:
            assert direct == 0
        else:
            assert direct == 256, name
            for arr, file in zip(bufs[1:], DUMP_BUFFERS):
                assert arr.tobytes() == (tmp_path / "d" / f"{file}.bin").read_bytes(), file


@pytest.mark.parametrize("policy", ["aiter", "aiter-legacy"])
def test_info_shapes_are_upstreams(policy):
    """(2,) uint64, (num_cu+1,), (max_works, 8), (qo_tile_cnt+1,), (qo_tile_cnt, 2), (max_partials,) int32."""
    p = mlaps.workload("h128_b16_L1024")
    bufs = buffers(p, policy)
    cap = json.loads(cli("plan", "--workload", "h128_b16_L1024", "--policy", policy, "--format", "json")[1])["capacity"]
    assert [b.shape for b in bufs] == [(2,), (cap["work_indptr"],), (cap["work_info"], 8), (cap["reduce_indptr"],),
                                       (cap["reduce_final_map"], 2), (cap["reduce_partial_map"],)]
    assert [b.dtype for b in bufs] == [np.uint64] + [np.int32] * 5
    assert bufs[1].shape == (257,) and bufs[3].shape == (16 * 4 + 1,)
    # contract 1.3: 128 heads at 256 CUs -> cpc 2; the pre-#3606 formula gives 8 partial slots
    if policy == "aiter-legacy":
        assert bufs[5].shape == (8,)
    info = mlaps.get_ps_metadata_info_v1(16, 128, 1024)  # upstream's positional form, defaults
    assert info[1].shape == (257,)


def grid_problem(block_size, kvlen_granularity):
    p = mlaps.Problem.from_lengths([300, 40, 1000], [900, 40, 1000], heads=2, causal=True, num_cu=16,
                                   block_size=block_size)
    p.tile_kv = kvlen_granularity
    return p


def test_granularity_defaults_are_the_python_stubs_16_16():
    """Defaults follow upstream's Python stub: kvlen_granularity=16, block_size=16 (pages of 16 tokens)."""
    p = grid_problem(16, 16)
    qo, kv, ctx = indptrs(p)
    bufs = buffers(p)
    mlaps.get_ps_metadata_v1(qo, kv, ctx, 1, 2, *bufs, num_cu=16)  # everything else defaulted
    want = mlaps.plan(p)
    n = want.num_works
    assert n > 0
    assert np.array_equal(bufs[1], want.work_indptr)
    assert np.array_equal(bufs[2][:n], want.work_info) and not bufs[2][n:].any()
    assert np.array_equal(bufs[4][:want.num_reduce_entries], want.reduce_final_map)


def test_signature_is_upstreams():
    """get_ps_metadata_v1's parameters, order, defaults and keyword-only flags (bound in Python, mlaps/_dropins.py),
    and the same call spelled with keywords for the positional parameters writes the same plan."""
    import inspect
    sig = inspect.signature(mlaps.get_ps_metadata_v1)
    P = inspect.Parameter
    want = [("seqlens_qo_indptr", P.empty), ("pages_kv_indptr", P.empty), ("context_lens", P.empty),
            ("gqa_ratio", P.empty), ("num_heads_k", P.empty), ("work_metadata_ptrs", P.empty),
            ("work_indptr", P.empty), ("work_info", P.empty), ("reduce_indptr", P.empty),
            ("reduce_final_map", P.empty), ("reduce_partial_map", P.empty), ("qhead_granularity", 1),
            ("qlen_granularity", 256), ("kvlen_granularity", 16), ("block_size", 16), ("is_causal", True)]
    kw_only = [("num_cu", 256), ("policy", "aiter"), ("need_lse", True), ("allow_causal_qo_gt_kv", False)]
    got = [(q.name, q.default, q.kind) for q in sig.parameters.values()]
    assert got == [(n, d, P.POSITIONAL_OR_KEYWORD) for n, d in want] + [(n, d, P.KEYWORD_ONLY) for n, d in kw_only]
    p = grid_problem(16, 16)
    qo, kv, ctx = indptrs(p)
    a, b = buffers(p), buffers(p)
    mlaps.get_ps_metadata_v1(qo, kv, ctx, 1, 2, *a, num_cu=16)
    names = [n for n, _ in want[5:11]]
    mlaps.get_ps_metadata_v1(seqlens_qo_indptr=qo, pages_kv_indptr=kv, context_lens=ctx, gqa_ratio=1, num_heads_k=2,
                             num_cu=16, **dict(zip(names, b)))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    with pytest.raises(TypeError):
        mlaps.get_ps_metadata_v1(qo, kv, ctx, 1, 2, *a, 1, 256, 16, 16, True, 16)  # num_cu is keyword-only


def test_gqa_ratio_is_unused():
    """Upstream reads gqa_ratio nowhere (v1_2_host.cuh:275; ledger gqa_ratio_unused): the plan is the same for every
    gqa_ratio, and q-head ranges follow qhead_granularity alone."""
    p = mlaps.Problem.from_lengths([300, 40], [900, 40], heads=4, causal=True, num_cu=16)
    qo, kv, ctx = indptrs(p)

    def plan(gqa_ratio, qhead_granularity):
        bufs = buffers(p)
        mlaps.get_ps_metadata_v1(qo, kv, ctx, gqa_ratio, 4, *bufs, qhead_granularity=qhead_granularity,
                                 kvlen_granularity=128, block_size=1, num_cu=16)
        return bufs

    one = plan(1, 1)
    for gqa in (2, 8, 16):
        assert all(np.array_equal(a, b) for a, b in zip(one[1:], plan(gqa, 1)[1:])), gqa
    two = plan(1, 2)
    widths = {(int(w[7]) >> 16) - (int(w[7]) & 0xFFFF) for w in two[2][:int(two[1][-1])]}
    assert widths == {2}
    assert {(int(w[7]) >> 16) - (int(w[7]) & 0xFFFF) for w in one[2][:int(one[1][-1])]} == {1}


def test_granularity_pybind_spelling_1_1():
    """Upstream's pybind layer has kvlen_granularity=1, block_size=1 in effect: spelled out, the same plan as a
    problem with 1-token pages and 1-token KV units, and a different one from the 16/16 default."""
    p = grid_problem(1, 1)
    qo, kv, ctx = indptrs(p)
    bufs = buffers(p)
    mlaps.get_ps_metadata_v1(qo, kv, ctx, 1, 2, *bufs, 1, 256, 1, 1, True, num_cu=16)  # positional spelling
    want = mlaps.plan(p)
    assert np.array_equal(bufs[2][:want.num_works], want.work_info)
    bufs16 = buffers(p)
    mlaps.get_ps_metadata_v1(qo, kv, ctx, 1, 2, *bufs16, kvlen_granularity=16, block_size=1, num_cu=16)
    assert not np.array_equal(bufs16[2], bufs[2])


# --- bad arguments: every class gets a ValueError naming the argument, and nothing is written -----------------

SENTINEL = 0x5A5A5A5A


def fresh(p, policy="aiter"):
    bufs = list(buffers(p, policy))
    for b in bufs[1:]:
        b.fill(SENTINEL)
    bufs[0].fill(0x1234)
    return bufs


def untouched(bufs):
    return all((b == SENTINEL).all() for b in bufs[1:]) and (bufs[0] == 0x1234).all()


def call(p, bufs, qo=None, kv=None, ctx=None, **kw):
    q0, k0, c0 = indptrs(p)
    args = dict(dropin_args(p), num_cu=p.num_cu)
    args.update(kw)
    mlaps.get_ps_metadata_v1(q0 if qo is None else qo, k0 if kv is None else kv, c0 if ctx is None else ctx,
                             args.pop("gqa_ratio", 1), args.pop("num_heads_k", p.num_heads_k), *bufs, **args)


def replace(bufs, i, new):
    b = list(bufs)
    b[i] = new
    return b


BAD_BUFFERS = {
    # class: (index in the six buffers, make the bad one from the good one, argument name)
    "dtype float32": (2, lambda b: b.astype(np.float32), "work_info"),
    "dtype int64": (3, lambda b: b.astype(np.int64), "reduce_indptr"),
    "dtype uint32 ptrs": (0, lambda b: b.astype(np.uint32), "work_metadata_ptrs"),
    "shape rows of 7": (2, lambda b: np.zeros((b.shape[0], 7), np.int32), "work_info"),
    "shape 1-d work_info": (2, lambda b: b.reshape(-1), "work_info"),
    "shape final pairs of 3": (4, lambda b: np.zeros((b.shape[0], 3), np.int32), "reduce_final_map"),
    "shape work_indptr != num_cu + 1": (1, lambda b: np.zeros(b.shape[0] + 1, np.int32), "work_indptr"),
    "shape ptrs": (0, lambda b: np.zeros(3, np.uint64), "work_metadata_ptrs"),
    "stride work_info": (2, lambda b: np.zeros((b.shape[0], 16), np.int32)[:, :8], "work_info"),
    "stride partial map": (5, lambda b: np.zeros(2 * b.shape[0], np.int32)[::2], "reduce_partial_map"),
    "fortran order": (4, lambda b: np.asfortranarray(np.zeros((b.shape[0], 2), np.int32)), "reduce_final_map"),
    "size work_info": (2, lambda b: b[:1], "work_info"),
    "size reduce_final_map": (4, lambda b: b[:1], "reduce_final_map"),
    "size reduce_partial_map": (5, lambda b: b[:1], "reduce_partial_map"),
    "size reduce_indptr": (3, lambda b: b[:1], "reduce_indptr"),
    "read-only": (2, lambda b: readonly(b), "work_info"),
    "not an array": (1, lambda b: list(b), "work_indptr"),
    "big-endian": (2, lambda b: b.astype(">i4"), "work_info"),
}


def readonly(b):
    b = b.copy()
    b.flags.writeable = False
    return b


@pytest.mark.parametrize("case", list(BAD_BUFFERS))
def test_bad_buffer(seed_problem, case):
    i, make, name = BAD_BUFFERS[case]
    bufs = fresh(seed_problem)
    bad = make(bufs[i].copy())
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call(seed_problem, replace(bufs, i, bad))
    assert untouched(bufs), f"{case}: a buffer was written before the error"


def test_bad_buffer_writes_nothing_into_the_bad_one(seed_problem):
    bufs = fresh(seed_problem)
    small = bufs[2][:3].copy()  # too few rows: must stay untouched too
    with pytest.raises(ValueError, match="^work_info"):
        call(seed_problem, replace(bufs, 2, small))
    assert (small == SENTINEL).all() and untouched(bufs)


BAD_INPUTS = {
    "qo dtype": (dict(qo=lambda q: q.astype(np.int64)), "seqlens_qo_indptr"),
    "kv dtype": (dict(kv=lambda k: k.astype(np.float64)), "pages_kv_indptr"),
    "ctx dtype": (dict(ctx=lambda c: c.astype(np.uint32)), "context_lens"),
    "qo length": (dict(qo=lambda q: q[:-1]), "seqlens_qo_indptr"),
    "kv length": (dict(kv=lambda k: np.append(k, k[-1])), "pages_kv_indptr"),
    "qo 2-d": (dict(qo=lambda q: q.reshape(1, -1)), "seqlens_qo_indptr"),
    "qo stride": (dict(qo=lambda q: np.repeat(q, 2)[::2]), "seqlens_qo_indptr"),
    "qo decreasing": (dict(qo=lambda q: q[::-1].copy()), "seqlens_qo_indptr"),
    "ctx negative": (dict(ctx=lambda c: -c), "context_lens"),
    "kv pages short": (dict(kv=lambda k: k // 2), "pages_kv_indptr"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_array(seed_problem, case):
    mods, name = BAD_INPUTS[case]
    q0, k0, c0 = indptrs(seed_problem)
    arrays = dict(qo=q0, kv=k0, ctx=c0)
    for k, f in mods.items():
        arrays[k] = f(arrays[k])
    bufs = fresh(seed_problem)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call(seed_problem, bufs, **arrays)
    assert untouched(bufs)


BAD_SCALARS = {
    "num_cu 0": (dict(num_cu=0), "num_cu"),
    "num_heads_k 0": (dict(num_heads_k=0), "num_heads_k"),
    "gqa_ratio 0": (dict(gqa_ratio=0), "gqa_ratio"),
    "qhead_granularity 0": (dict(qhead_granularity=0), "qhead_granularity"),
    "qlen_granularity -1": (dict(qlen_granularity=-1), "qlen_granularity"),
    "kvlen_granularity not a power of two": (dict(kvlen_granularity=96, block_size=1), "kvlen_granularity"),
    "kvlen_granularity not a multiple of block_size": (dict(kvlen_granularity=16, block_size=32), "kvlen_granularity"),
    "block_size 0": (dict(block_size=0), "block_size"),
    "int32 overflow": (dict(qlen_granularity=1 << 40), "qlen_granularity"),
    "policy": (dict(policy="fastest"), "policy"),
}


@pytest.mark.parametrize("case", list(BAD_SCALARS))
def test_bad_scalar(seed_problem, case):
    kw, name = BAD_SCALARS[case]
    bufs = fresh(seed_problem)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call(seed_problem, bufs, **kw)
    assert untouched(bufs)


def test_causal_qo_gt_kv_needs_the_flag():
    p = mlaps.workload("causal_qo_gt_kv_1024_512")
    bufs = fresh(p)
    q0, k0, c0 = indptrs(p)
    with pytest.raises(ValueError, match=r"^(seqlens_qo_indptr|context_lens)"):
        mlaps.get_ps_metadata_v1(q0, k0, c0, 1, 1, *bufs, **dropin_args(p), num_cu=p.num_cu)
    assert untouched(bufs)


def test_info_bad_arguments():
    for kw, name in [(dict(batch_size=0), "batch_size"), (dict(num_head_k=0), "num_head_k"),
                     (dict(max_qlen=-1), "max_qlen"), (dict(num_cu=0), "num_cu"),
                     (dict(policy="x"), "policy"), (dict(qlen_granularity=0), "qlen_granularity")]:
        args = dict(batch_size=4, num_head_k=16, max_qlen=256)
        args.update(kw)
        with pytest.raises(ValueError, match=rf"^{name}\b"):
            mlaps.get_ps_metadata_info_v1(**args)


def test_written_in_place(seed_problem):
    """The caller's arrays are the ones written (views, not copies), and a second call rewrites them whole."""
    bufs = fresh(seed_problem)
    ptrs = [b.__array_interface__["data"][0] for b in bufs]
    call(seed_problem, bufs)
    assert [b.__array_interface__["data"][0] for b in bufs] == ptrs
    first = [b.copy() for b in bufs]
    bufs[2][...] = -7
    call(seed_problem, bufs)
    assert all(np.array_equal(a, b) for a, b in zip(first, bufs))
    assert (bufs[0] == 0x1234).all()  # work_metadata_ptrs is never written on the PS path (contract 1.1)


def test_memoryview_buffers(seed_problem):
    """Objects with the buffer protocol are written through without a copy."""
    bufs = fresh(seed_problem)
    ref = fresh(seed_problem)
    call(seed_problem, ref)
    raw = bytearray(bufs[5].tobytes())
    view = memoryview(raw).cast("i")
    call(seed_problem, replace(bufs, 5, view))
    assert bytes(raw) == ref[5].tobytes()


def test_torch_cpu_tensors(seed_problem):
    """torch CPU tensors in and out, no copy (runs where torch is installed: the GPU machine)."""
    torch = pytest.importorskip("torch")
    p = seed_problem
    want = fresh(p)
    call(p, want)
    qo, kv, ctx = (torch.from_numpy(a.copy()) for a in indptrs(p))
    bufs = [torch.zeros(b.shape, dtype=torch.int32) for b in want[1:]]
    ptrs = [t.data_ptr() for t in bufs]
    wmp = torch.zeros(2, dtype=torch.uint64) if hasattr(torch, "uint64") else np.zeros(2, np.uint64)
    mlaps.get_ps_metadata_v1(qo, kv, ctx, 1, p.num_heads_k, wmp, *bufs, **dropin_args(p), num_cu=p.num_cu)
    assert [t.data_ptr() for t in bufs] == ptrs
    for t, w in zip(bufs, want[1:]):
        assert np.array_equal(t.numpy(), w)
    with pytest.raises(ValueError, match="^work_info"):
        mlaps.get_ps_metadata_v1(qo, kv, ctx, 1, p.num_heads_k, wmp, bufs[0], bufs[1].to(torch.int64), *bufs[2:],
                                 **dropin_args(p), num_cu=p.num_cu)
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="^work_info.*host memory"):
            mlaps.get_ps_metadata_v1(qo, kv, ctx, 1, p.num_heads_k, wmp, bufs[0], bufs[1].cuda(), *bufs[2:],
                                     **dropin_args(p), num_cu=p.num_cu)


@pytest.mark.parametrize("name", ["seed_ctx1200_qo8_b16_h16_noncausal", "causal_1x8192_h16"])
def test_timing_helper_plans_as_the_dropin(name):
    """mlaps._dropins._time_make_plan_into (python/tools/time_dropin.py's in-process C++ loops, with and without
    the argument checks) leaves the buffers as get_ps_metadata_v1 writes them, returns a positive time per call,
    and checks its arguments the same way."""
    p = mlaps.workload(name)
    expect = run_dropin(p, "aiter")
    bufs = buffers(p, "aiter")
    qo, kv, ctx = indptrs(p)
    for whole in (False, True):  # make_plan_into alone, or the whole C++ side of the drop-in
        for b in bufs:
            b.fill(0)
        us = mlaps._dropins._time_make_plan_into(qo, kv, ctx, p.gqa_ratio, p.num_heads_k, *bufs, **dropin_args(p),
                                               num_cu=p.num_cu, calls=20, with_arguments=whole)
        assert us > 0
        for got, want in zip(bufs, expect):
            assert got.tobytes() == want.tobytes()
    with pytest.raises(ValueError, match="work_indptr"):
        mlaps._dropins._time_make_plan_into(qo, kv, ctx, p.gqa_ratio, p.num_heads_k, bufs[0], bufs[1][:-1],
                                          *bufs[2:], **dropin_args(p), num_cu=p.num_cu, calls=20)
