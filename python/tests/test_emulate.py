"""emulate is the C++ emulator bit for bit (`mlaps run --dump`'s out.bin / lse.bin); reference and compare give
`mlaps run --json`'s figures."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import mlaps
from conftest import cli

CASES = [("seed_ctx1200_qo8_b16_h16_noncausal", "aiter"), ("seed_ctx1200_qo8_b16_h16_noncausal", "aiter-legacy"),
         ("worked_example_qo600_cu4", "aiter"), ("worked_example_qo600_cu4", "aiter-legacy"),
         ("heads3_odd_gcd", "aiter"), ("boundary_lengths_b8", "aiter"), ("trailing_empty_kv", "aiter")]


def load_dump(d, p):
    m = json.loads((d / "manifest.json").read_text())
    T, HQ, HK = p.num_tokens, p.num_heads_q, p.num_heads_k
    q = np.fromfile(d / "q.bin", np.uint8).reshape(T, HQ, 192)
    k = np.fromfile(d / "k.bin", np.uint8).reshape(-1, HK, 192)
    v = np.fromfile(d / "v.bin", np.uint8).reshape(-1, HK, 128)
    pages = np.fromfile(d / "kv_page_indices.bin", np.int32)
    return m, q, k, v, pages


@pytest.mark.parametrize("name,policy", CASES)
def test_emulate_is_the_cpp_emulator(tmp_path, name, policy):
    code, out = cli("run", "--workload", name, "--policy", policy, "--seed", 7, "--json", "--quiet",
                    "--dump", tmp_path / "d")
    run = json.loads(out)
    p = mlaps.workload(name)
    m, q, k, v, pages = load_dump(tmp_path / "d", p)
    plan = mlaps.plan(p, policy)
    o, lse = mlaps.emulate(q, k, v, pages, plan, p, m["q_scale"], m["k_scale"], m["v_scale"], m["softmax_scale"],
                           m["encoding"])
    assert o.dtype == np.uint16 and o.shape == (p.num_tokens, p.num_heads_q, 128)
    assert lse.dtype == np.float32 and lse.shape == (p.num_tokens, p.num_heads_q)
    assert o.tobytes() == (tmp_path / "d" / "out.bin").read_bytes()
    assert lse.tobytes() == (tmp_path / "d" / "lse.bin").read_bytes()

    ref_o, ref_lse = mlaps.reference(q, k, v, pages, p, m["q_scale"], m["k_scale"], m["v_scale"],
                                     m["softmax_scale"], m["encoding"], round_p=True)
    assert ref_o.dtype == np.float64 and ref_lse.shape == lse.shape
    c = mlaps.compare(ref_o, ref_lse, o, lse)
    assert c["pass"] == run["pass"] == (code == 0)
    for key in ("unwritten_output", "unwritten_lse"):
        assert c[key] == run[key]
    # Counts agree exactly; the errors to 1e-12 relative: the float64 reference's last bits follow Eigen's
    # blocking over where its buffers lie (the CLI's and the module's copies differ; seen on the H200's
    # AVX-512 host: 0.016663237073001436 vs ...658).
    for key in ("mismatch_fraction", "mismatches", "elements"):
        assert c["output"][key] == run["output"][key]
    for key in ("compared", "mask_mismatch"):
        assert c["lse"][key] == run["lse"][key]
    for part in ("output", "lse"):
        assert c[part]["max_abs_err"] == pytest.approx(run[part]["max_abs_err"], rel=1e-12, abs=0)


def test_emulate_float32_and_bad_arguments(seed_problem):
    p = seed_problem
    plan = mlaps.plan(p)
    rng = np.random.default_rng(0)
    q, qs = mlaps.per_tensor_quant(rng.standard_normal((p.num_tokens, p.num_heads_q, 192), np.float32))
    k, ks = mlaps.per_tensor_quant(rng.standard_normal((p.kv_indptr[-1], p.num_heads_k, 192), np.float32))
    v, vs = mlaps.per_tensor_quant(rng.standard_normal((p.kv_indptr[-1], p.num_heads_k, 128), np.float32))
    assert q.dtype == np.uint8 and q.shape == (p.num_tokens, p.num_heads_q, 192) and qs > 0
    pages = np.arange(p.kv_indptr[-1], dtype=np.int32)
    bits, lse = mlaps.emulate(q, k, v, pages, plan, p, qs, ks, vs)
    f, lse2 = mlaps.emulate(q, k, v, pages, plan, p, qs, ks, vs, out="float32")
    assert np.array_equal(lse, lse2)
    assert np.array_equal((f.view(np.uint32) >> 16).astype(np.uint16), bits)
    for args, name in [((q[:, :, :128], k, v, pages), "q"), ((q, k.astype(np.int8), v, pages), "k"),
                       ((q, k, v[:-1], pages), "v"), ((q, k, v, pages.astype(np.int64)), "kv_page_indices")]:
        with pytest.raises(ValueError, match=rf"^{name}\b"):
            mlaps.emulate(*args, plan, p, qs, ks, vs)
    with pytest.raises(ValueError, match="^q_scale"):
        mlaps.emulate(q, k, v, pages, plan, p, 0.0, ks, vs)
    with pytest.raises(ValueError, match="^encoding"):
        mlaps.emulate(q, k, v, pages, plan, p, qs, ks, vs, encoding="e5m2")
    with pytest.raises(ValueError, match="^kv_page_indices"):
        mlaps.emulate(q, k, v, pages + 10**6, plan, p, qs, ks, vs)


def _in_subprocess(code, isa):
    """Runs `code` in a fresh interpreter with MLAPS_ISA_PATH=isa (the path is read once per process)."""
    env = dict(os.environ, MLAPS_ISA_PATH=isa)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_isa_path_env_picks_the_path_with_the_same_bits():
    code = ("import hashlib, mlaps\n"
            "p = mlaps.workload('heads3_odd_gcd')\n"
            "import numpy as np\n"
            "rng = np.random.default_rng(3)\n"
            "T, HQ, HK = p.num_tokens, p.num_heads_q, p.num_heads_k\n"
            "pages = np.arange(p.kv_indptr[-1], dtype=np.int32)\n"
            "q = rng.integers(0, 120, (T, HQ, 192), dtype=np.uint8)\n"
            "k = rng.integers(0, 120, (len(pages), HK, 192), dtype=np.uint8)\n"
            "v = rng.integers(0, 120, (len(pages), HK, 128), dtype=np.uint8)\n"
            "o, lse = mlaps.emulate(q, k, v, pages, mlaps.plan(p), p, 0.02, 0.02, 0.02)\n"
            "print(mlaps.isa_path(), hashlib.sha256(o.tobytes() + lse.tobytes()).hexdigest())\n")
    default = _in_subprocess(code, "")
    assert default.returncode == 0, default.stderr
    best, digest = default.stdout.split()
    assert best == mlaps.isa_path() and best in ("generic", "avx2", "avx512")
    generic = _in_subprocess(code, "generic")
    assert generic.returncode == 0, generic.stderr
    assert generic.stdout.split() == ["generic", digest]
    bad = _in_subprocess("import mlaps\nmlaps.isa_path()\n", "avx3")
    assert bad.returncode != 0 and "ValueError: MLAPS_ISA_PATH: 'avx3' is not an ISA path" in bad.stderr, bad.stderr
