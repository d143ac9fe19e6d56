"""plan, Plan (views, to_json), validate (the CLI's fields), policies, workloads, Problem errors, version."""
import json
import os
import re

import numpy as np
import pytest

import mlaps
from conftest import cli


def test_version_is_the_clis():
    assert re.fullmatch(r"\d+\.\d+\.\d+", mlaps.__version__)
    code, out = cli("--version")
    assert code == 0 and out.strip() == f"mlaps {mlaps.__version__}"


@pytest.mark.parametrize("policy", ["aiter", "aiter-legacy"])
def test_plan_to_json_is_the_clis(seed_problem, policy):
    plan = mlaps.plan(seed_problem, policy)
    assert plan.policy == policy
    _, out = cli("plan", "--workload", "seed_ctx1200_qo8_b16_h16_noncausal", "--policy", policy, "--format", "json")
    assert json.loads(plan.to_json()) == json.loads(out)


def test_plan_arrays_are_views(seed_problem):
    plan = mlaps.plan(seed_problem)
    a, b = plan.work_info, plan.work_info
    assert a.shape == (plan.num_works, 8) and a.dtype == np.int32
    assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]  # the plan's memory, twice
    assert not a.flags.owndata and a.base is not None
    assert plan.reduce_final_map.shape == (plan.num_reduce_entries, 2)
    assert plan.work_indptr.shape == (seed_problem.num_cu + 1,)
    assert plan.reduce_indptr[-1] == plan.reduce_partial_map.shape[0]
    del plan
    assert a.sum() == b.sum()  # the views keep the plan alive


def test_validate_has_the_clis_fields(seed_problem):
    legacy = mlaps.plan(seed_problem, "aiter-legacy")
    got = mlaps.validate(seed_problem, legacy)
    code, out = cli("check", "--workload", "seed_ctx1200_qo8_b16_h16_noncausal", "--policy", "aiter-legacy",
                    "--format", "json", "--max-violations", "0")  # all of them: validate() lists every one
    want = json.loads(out)
    assert code == 1 and not want["ok"]
    assert got == want["violations"] and len(got) == want["violations_total"]
    assert {v["invariant"] for v in got} == {"reduce.entry", "slot.policy"}
    assert mlaps.validate(seed_problem, legacy, contract="aiter-legacy", sizing="legacy") == []
    assert mlaps.validate(seed_problem, mlaps.plan(seed_problem)) == []


def test_validate_sees_a_mutated_plan(seed_problem):
    plan = mlaps.plan(seed_problem)
    plan.work_info[0, 1] = -1  # the views are writable: a hand-mutated plan, as the C++ tests do
    names = {v["invariant"] for v in mlaps.validate(seed_problem, plan)}
    assert "slot.policy" in names


def test_policies():
    pols = mlaps.policies()
    _, out = cli("policies", "--format", "json")
    assert pols == json.loads(out)  # the policy table, as the CLI prints it
    assert [p["name"] for p in pols][:2] == ["aiter", "aiter-legacy"]
    assert {p["name"]: (p["reduce"], p["sizing"]) for p in pols[:2]} == {"aiter": ("fixed", "pr3606"),
                                                                         "aiter-legacy": ("legacy", "legacy")}


def test_workloads_are_the_clis():
    _, out = cli("workloads", "--json")
    assert [w["name"] for w in mlaps.workloads()] == [w["name"] for w in json.loads(out)]
    with pytest.raises(ValueError, match="^workload"):
        mlaps.workload("nope")


def test_problem_errors_name_the_field():
    with pytest.raises(ValueError, match="^num_heads_k|^heads"):
        mlaps.plan(mlaps.Problem.from_lengths([8], [100], heads=0))
    p = mlaps.Problem.from_lengths([8], [100])
    p.num_cu = 0
    with pytest.raises(ValueError, match="^num_cu"):
        mlaps.plan(p)
    with pytest.raises(ValueError, match="^policy"):
        mlaps.plan(mlaps.Problem.from_lengths([8], [100]), "nope")


def test_problem_json_round_trip(seed_problem):
    q = mlaps.Problem.from_json(seed_problem.to_json())
    assert q.to_json() == seed_problem.to_json()


@pytest.mark.parametrize("profile", ["mi355x-asm", "h200-mlaps"])
@pytest.mark.parametrize("policy", ["aiter", "cost-balanced", "fixed-split"])
@pytest.mark.parametrize("name", ["seed_ctx1200_qo8_b16_h16_noncausal", "causal_1x8192_h16"])
def test_cost_is_the_clis(name, policy, profile):
    p = mlaps.workload(name)
    c = mlaps.cost(p, policy=policy, profile=profile)
    _, out = cli("cost", "--workload", name, "--policy", policy, "--profile", profile, "--format", "json")
    assert c == json.loads(out)  # the same keys and the same numbers (one JSON writer, cost/report.h)
    assert len(c["tg_us"]) == p.num_cu and c["lower_bound_us"] <= c["total_us"]
    assert "tg_us" not in mlaps.cost(p, policy=policy, profile=profile, tg_us=False)


def test_cost_of_a_plan(seed_problem, tmp_path):
    legacy = mlaps.plan(seed_problem, "aiter-legacy")
    c = mlaps.cost(seed_problem, legacy, profile="h200-mlaps")
    _, out = cli("cost", "--workload", "seed_ctx1200_qo8_b16_h16_noncausal", "--policy", "aiter-legacy",
                 "--profile", "h200-mlaps", "--format", "json")
    assert c == json.loads(out) and c["policy"] == "aiter-legacy" and c["reduce_us"] == 0  # n == 1: no reduce
    # A profile file of the same form; a hand-edited plan that no longer fits its problem is refused.
    code, prof = cli("cost", "fit", "--data", os.path.join(os.environ["MLAPS_SOURCE_DIR"],
                                                            "cost/profiles/h200-mlaps/calibration_data.json"),
                     "--out", tmp_path / "fit")
    assert code == 0
    # The refit's coefficients are least-squares solutions whose last bits depend on the host's vector code
    # (an AVX-512 host's differ from the committed AVX2 fit in the 15th digit), so numbers match to 1e-9.
    refit = mlaps.cost(seed_problem, legacy, profile=str(tmp_path / "fit" / "profile.json"))
    assert refit.keys() == c.keys() and refit["profile"] == c["profile"] == "h200-mlaps"
    for k, v in c.items():
        assert refit[k] == (v if isinstance(v, str) else pytest.approx(v, rel=1e-9, abs=1e-12)), k
    bad = mlaps.plan(seed_problem)
    bad.work_info[0, 0] = seed_problem.batch  # batch_idx out of range
    with pytest.raises(ValueError, match=r"^plan"):
        mlaps.cost(seed_problem, bad)


def test_cost_bad_arguments_name_them(seed_problem, tmp_path):
    with pytest.raises(ValueError, match=r"^profile: 'nosuch'"):
        mlaps.cost(seed_problem, profile="nosuch")
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x"}')
    with pytest.raises(ValueError, match=r"^profile"):
        mlaps.cost(seed_problem, profile=str(broken))
    with pytest.raises(ValueError, match=r"^policy"):
        mlaps.cost(seed_problem, policy="nosuch")
