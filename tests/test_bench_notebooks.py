"""benchmarks/bench_notebooks.py: the kernel's CPU time (and its children's) is counted, a runaway
notebook is stopped and reported, and a failing one is reported as failed (#17)."""

import importlib.util
import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_notebooks", ROOT / "benchmarks" / "bench_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _notebook(tmp_path, name, source):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


BURN = """import subprocess, sys, time
t = time.process_time()
while time.process_time() - t < 1.5:
    pass
subprocess.run([sys.executable, "-c", "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 1.0: pass"])
"""


def test_cpu_of_kernel_and_its_children_is_counted(bench, tmp_path):
    r = bench.run_one(_notebook(tmp_path, "burn", BURN), dict(os.environ), 300, 300, tmp_path)
    assert r["error"] is None, r
    assert r["cpu_s"] >= 2.5  # 1.5 s in the kernel + 1.0 s in a process it started


def test_runaway_notebook_is_stopped_and_reported(bench, tmp_path):
    path = _notebook(tmp_path, "forever", "while True:\n    pass")
    r = bench.run_one(path, dict(os.environ), 300, 4.0, tmp_path)  # stop at 4 CPU-seconds
    assert r["stopped"] == "> 4 CPU-s" and not r["ok"]
    assert "> 180" in bench.markdown_table([r])


def test_failing_notebook_is_reported(bench, tmp_path):
    r = bench.run_one(_notebook(tmp_path, "boom", "raise RuntimeError('boom here')"), dict(os.environ), 300, 300,
                      tmp_path)
    assert not r["ok"] and "boom here" in r["error"]
