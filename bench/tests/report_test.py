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


def run_bench_sh(*args):
    return subprocess.run(["bash", str(SOURCE / "scripts" / "bench.sh"), *args], capture_output=True, text=True)


def snapshot(path):
    """What is at `path`: None, a file's bytes, "fifo", or a folder's entries, each by the same rule."""
    if not os.path.lexists(path):
        return None
    if path.is_fifo():
        return "fifo"
    if path.is_dir():
        return {child.name: snapshot(child) for child in path.iterdir()}
    return path.read_bytes()


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

    def refuse(self, *args, prepare=None):
        """bench.sh's stderr; `prepare(out)` puts something at --out first, which must stay as it was."""
        with tempfile.TemporaryDirectory() as tmp:
            out = pathlib.Path(tmp) / "results"
            build = pathlib.Path(tmp) / "build"
            if prepare:
                prepare(out)
            before = snapshot(out)
            p = run_bench_sh("--out", str(out), "--build", str(build), *args)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertEqual(snapshot(out), before, "bench.sh changed --out before refusing")
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

    def test_bad_numbers_and_missing_values(self):
        self.assertIn("--repetitions must be a whole number", self.refuse("--repetitions", "five"))
        self.assertIn("--jobs must be a whole number", self.refuse("--jobs", "0"))
        self.assertIn("--filter needs a value", self.refuse("--filter"))

    def test_an_out_that_holds_what_the_script_did_not_write(self):
        def users_file(out):
            out.write_text("a user's notes\n")

        def users_folder(out):
            out.mkdir()
            (out / "notes.txt").write_text("a user's notes\n")
            (out / "bench.json").write_text("{}")

        def fifo_named_like_a_result(out):
            out.mkdir()
            os.mkfifo(out / "bench.json")

        def folder_named_like_a_result(out):
            (out / "bench.md").mkdir(parents=True)

        self.assertIn("is not a folder", self.refuse("--quick", prepare=users_file))
        self.assertIn("holds 'notes.txt', which this script did not write", self.refuse("--quick", "--no-build", prepare=users_folder))
        self.assertIn("holds 'bench.json' that is not a regular file", self.refuse(prepare=fifo_named_like_a_result))
        self.assertIn("holds 'bench.md' that is not a regular file", self.refuse(prepare=folder_named_like_a_result))

    def test_a_build_folder_that_is_not_one(self):
        with tempfile.TemporaryDirectory() as tmp:
            build = pathlib.Path(tmp) / "mine"
            build.mkdir()
            (build / "notes.txt").write_text("a user's notes\n")
            before = snapshot(build)
            p = run_bench_sh("--out", str(pathlib.Path(tmp) / "results"), "--build", str(build), "--quick")
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("is neither a new or empty folder nor a CMake build folder", p.stderr)
            self.assertEqual(snapshot(build), before)
            self.assertFalse((pathlib.Path(tmp) / "results").exists())


@unittest.skipUnless(os.environ.get("MLAPS_BENCH"), "MLAPS_BENCH (the built mlaps_bench) not set")
class BenchScriptResults(unittest.TestCase):
    """A run replaces its own earlier results only once the new ones are complete."""

    def run_into(self, out, *args):
        build = pathlib.Path(os.environ["MLAPS_BENCH"]).parents[1]  # <build>/bench/mlaps_bench
        return run_bench_sh("--no-build", "--build", str(build), "--quick", "--out", str(out), *args)

    def test_a_run_replaces_the_earlier_results(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = pathlib.Path(tmp) / "results"
            out.mkdir()
            (out / "bench.json").write_text("earlier")
            p = self.run_into(out, "--filter", "sgemm/t1/")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(sorted(x.name for x in out.iterdir()), ["bench.json", "bench.log", "bench.md"])
            self.assertIn("mlaps_sgemm_isa", json.loads((out / "bench.json").read_text())["context"])
            self.assertIn("Eigen SGEMM built for", (out / "bench.md").read_text())

    def test_a_failed_run_leaves_the_earlier_results(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = pathlib.Path(tmp) / "results"
            out.mkdir()
            for name in ("bench.json", "bench.md", "bench.log"):
                (out / name).write_text("earlier " + name)
            before = snapshot(out)
            p = self.run_into(out, "--filter", "no-such-benchmark/")  # Google Benchmark fails: nothing matches
            self.assertNotEqual(p.returncode, 0)
            self.assertEqual(snapshot(out), before)


if __name__ == "__main__":
    unittest.main()
