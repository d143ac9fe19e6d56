"""Tests of bench/report.py's machine line and of scripts/bench.sh's refusals (standard library only).

Run by ctest as bench_report: MLAPS_BENCH names the built mlaps_bench, MLAPS_SOURCE_DIR the source tree.
"""
import contextlib
import io
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import unittest

SOURCE = pathlib.Path(os.environ.get("MLAPS_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(SOURCE / "bench"))
import report  # noqa: E402

WIDTHS = {"avx512", "avx2", "avx", "sse2", "none"}  # bench/common.h, sgemm_isa()


def machine_line(context):
    """report.py's first line for a run with this context and one SGEMM figure."""
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "bench.json"
        run = {"name": "sgemm/t1/256/real_time", "run_name": "sgemm/t1/256/real_time", "run_type": "iteration",
               "real_time": 1.0, "cpu_time": 1.0, "time_unit": "ms", "GFLOP/s": 33.5}
        path.write_text(json.dumps({"context": context, "benchmarks": [run]}))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = report.main(["report.py", str(path)])
        assert rc == 0
        return out.getvalue().splitlines()[0]


class MachineLine(unittest.TestCase):
    def test_names_both_widths(self):
        line = machine_line({"mlaps_isa_path": "avx2", "mlaps_sgemm_isa": "avx2"})
        self.assertIn("emulator ISA path avx2", line)
        self.assertIn("Eigen SGEMM built for avx2", line)
        self.assertNotIn("wider", line)

    def test_warns_where_the_sgemm_is_wider_than_the_path(self):
        line = machine_line({"mlaps_isa_path": "avx2", "mlaps_sgemm_isa": "avx512"})
        self.assertIn("the SGEMM is wider than the emulator's path (avx512 against avx2)", line)
        self.assertIn("scripts/bench.sh --march", line)
        line = machine_line({"mlaps_isa_path": "generic", "mlaps_sgemm_isa": "avx2"})
        self.assertIn("(avx2 against generic)", line)

    def test_no_warning_where_the_path_is_as_wide_or_a_width_unknown(self):
        for isa, sgemm in (("avx512", "avx512"), ("avx512", "avx2"), ("generic", "sse2"), ("avx2", "?"),
                           ("?", "avx512")):
            self.assertNotIn("wider", machine_line({"mlaps_isa_path": isa, "mlaps_sgemm_isa": sgemm}),
                             (isa, sgemm))

    def test_an_older_run_without_the_key(self):
        self.assertIn("Eigen SGEMM built for ?", machine_line({"mlaps_isa_path": "avx2"}))


@unittest.skipUnless(os.environ.get("MLAPS_BENCH"), "MLAPS_BENCH (the built mlaps_bench) not set")
class BenchBinary(unittest.TestCase):
    def test_the_run_names_its_sgemm_width(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = pathlib.Path(tmp) / "bench.json"
            subprocess.run([os.environ["MLAPS_BENCH"], "--quick", "--benchmark_filter=sgemm/t1/",
                            "--benchmark_min_time=0.01", f"--benchmark_out={out}", "--benchmark_out_format=json"],
                           check=True, stdout=subprocess.DEVNULL)
            context = json.loads(out.read_text())["context"]
        self.assertIn(context.get("mlaps_sgemm_isa"), WIDTHS)
        line = machine_line(context)
        self.assertIn(f"Eigen SGEMM built for {context['mlaps_sgemm_isa']}", line)


class BenchScriptRefuses(unittest.TestCase):
    """Bad options stop scripts/bench.sh with exit 2, naming the option, before it builds or writes."""

    def refuse(self, *args):
        with tempfile.TemporaryDirectory() as tmp:
            out = pathlib.Path(tmp) / "results"
            build = pathlib.Path(tmp) / "build"
            p = subprocess.run(["bash", str(SOURCE / "scripts" / "bench.sh"), "--out", str(out), "--build",
                                str(build), *args], capture_output=True, text=True)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertFalse(out.exists(), "bench.sh wrote its results folder before refusing")
            self.assertFalse(build.exists(), "bench.sh configured a build before refusing")
            return p.stderr

    def test_a_cpu_the_compiler_does_not_know(self):
        self.assertIn("--march must be a CPU", self.refuse("--march", "no-such-cpu"))
        self.assertIn("--march must be a CPU", self.refuse("--march", "znver3;true"))

    def test_a_cpu_with_instruction_sets_this_one_lacks(self):
        # Sapphire Rapids has AMX, which Zen and pre-2023 Intel cores lack; the test skips on a CPU with AMX.
        probe = subprocess.run(["c++", "-march=sapphirerapids", "-x", "c++", "-E", "-"], input="",
                               capture_output=True, text=True)
        if probe.returncode != 0:
            self.skipTest("the compiler does not know -march=sapphirerapids")
        with open("/proc/cpuinfo") as f:
            if "amx_tile" in f.read():
                self.skipTest("this CPU has AMX")
        err = self.refuse("--march", "sapphirerapids")
        self.assertIn("uses what this CPU lacks", err)
        self.assertIn("__AMX_TILE__", err)

    def test_a_bad_isa_path(self):
        self.assertIn("--isa must be generic, avx2 or avx512", self.refuse("--isa", "avx1024"))

    def test_no_binary_to_run(self):
        self.assertIn("no ", self.refuse("--no-build"))


if __name__ == "__main__":
    unittest.main()
