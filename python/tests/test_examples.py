"""The examples run (small shapes for the accuracy example; the README's figures come from its full run)."""
import os
import subprocess
import sys

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=dict(os.environ))


def test_check_plan_shows_the_3606_failure():
    r = run(os.path.join(EXAMPLES, "check_plan.py"))
    assert r.returncode == 0, r.stdout + r.stderr
    legacy = r.stdout.split("=== policy aiter-legacy")[1]
    aiter = r.stdout.split("=== policy aiter-legacy")[0]
    assert "PASS" in aiter and "FAIL" not in aiter
    assert "FAIL" in legacy and "2048 (row, head) entries never written" in legacy
    assert "reduce.entry" in legacy


def test_check_plan_causal_small():
    r = run(os.path.join(EXAMPLES, "check_plan.py"), "--batch", "2", "--qo-len", "300", "--kv-len", "700",
            "--heads", "2", "--num-cu", "8", "--causal")
    assert r.returncode == 0, r.stdout + r.stderr


def test_accuracy_example_runs():
    r = run(os.path.join(EXAMPLES, "accuracy_vs_upstream.py"), "--lengths", "512")
    assert r.returncode == 0, r.stdout + r.stderr
    rows = [l for l in r.stdout.splitlines() if l.startswith("| 1 x 512")]
    assert len(rows) == 2 and not any("FAILED" in l for l in rows), r.stdout


def test_readme_python_example_runs():
    """The README's five-line Python example, as written."""
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    fence = "`" * 3
    code = readme.split(fence + "python\n", 1)[1].split(fence, 1)[0]
    assert len(code.strip().splitlines()) == 5
    r = run("-c", code)
    assert r.returncode == 0 and "slot.policy" in r.stdout, r.stdout + r.stderr


def test_time_dropin_tool_runs():
    """python/tools/time_dropin.py (the README's drop-in speed figures) runs and reports both workloads."""
    tool = os.path.join(os.path.dirname(__file__), "..", "tools", "time_dropin.py")
    r = run(tool, "--pairs", "2", "--bench", "/nonexistent/mlaps_bench")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("seed_ctx1200_qo8_b16_h16_noncausal", "causal_b64_qo2048_kv16384_h128"):
        line = next(l for l in r.stdout.splitlines() if l.startswith(name + ":"))
        assert "median of 2 pairs" in line and "argument checks" in line and "fastest blocks" in line
