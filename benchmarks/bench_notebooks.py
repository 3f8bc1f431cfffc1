#!/usr/bin/env python3
"""Every notebook as a reader runs it: default mode, one at a time, CPU and wall time each (#17).

    python benchmarks/bench_notebooks.py               # every notebooks/*.ipynb
    python benchmarks/bench_notebooks.py 26_1 26_5     # only those whose name contains 26_1 or 26_5
    python benchmarks/bench_notebooks.py --quick       # only the first notebook (a smoke test)
    python benchmarks/bench_notebooks.py --out outputs/bench   # where notebooks.json / .md go
    python benchmarks/bench_notebooks.py 26_5 --executed outputs/bench/executed   # keep the run notebooks

A reader opens a notebook and presses Run All: no ``COMPANION_FAST`` (this script removes it from
the environment it passes on), and no thread limit forced (``OMP_NUM_THREADS`` is passed on as the
caller has it; the table says which). Each notebook runs in a fresh Python subprocess that executes
it with ``nbclient`` in a fresh kernel; the CPU time is user + sys of that whole process tree (the
runner, the kernel and anything the kernel started), taken from ``resource.getrusage(RUSAGE_CHILDREN)``
before and after. The runner's own share (start-up, reading and writing the notebook) is measured
once on an empty notebook and reported as ``overhead``; it is included in every figure.

Budget (exit 1 if any notebook misses it, fails, or is stopped): at most 180 CPU-seconds and 300
wall-seconds per notebook. A notebook still running after ``--timeout`` wall-seconds (default 600),
or after ``--cpu-timeout`` CPU-seconds of its process tree (default 900), is stopped and reported as
``> limit``. This is a benchmark for a human to run on a quiet machine (it takes minutes per
notebook), not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
CPU_BUDGET_S = 180.0
WALL_BUDGET_S = 300.0

RUNNER = r"""
import sys, nbformat
from nbclient import NotebookClient
src, dst, cwd = sys.argv[1:4]
nb = nbformat.read(src, as_version=4)
NotebookClient(nb, timeout=None, kernel_name="python3", resources={"metadata": {"path": cwd}}).execute()
nbformat.write(nb, dst)
"""


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _tree_cpu(proc: psutil.Process) -> float:
    """CPU seconds of a live process tree so far (for the runaway guard only)."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


def _kill_tree(proc: psutil.Process) -> None:
    """Kill the runner and every process it started (the kernel runs in its own session)."""
    try:
        family = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        family = [proc]
    for p in reversed(family):
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(family, timeout=10)


def run_one(path: Path, env: dict, timeout: float, cpu_timeout: float, out_dir: Path) -> dict:
    """Execute one notebook in a subprocess; CPU (user + sys of the tree) and wall seconds."""
    dst = out_dir / path.name
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    popen = subprocess.Popen([sys.executable, "-c", RUNNER, str(path), str(dst), str(path.parent)],
                             env=env, cwd=str(path.parent), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    proc = psutil.Process(popen.pid)
    stopped = None
    while True:
        try:
            popen.wait(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            pass
        wall = time.perf_counter() - t0
        if wall > timeout:
            stopped = f"> {timeout:.0f} wall-s"
        elif _tree_cpu(proc) > cpu_timeout:
            stopped = f"> {cpu_timeout:.0f} CPU-s"
        if stopped:
            _kill_tree(proc)
            popen.wait()
            break
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    log = popen.stdout.read().decode(errors="replace") if popen.stdout else ""
    error = None
    if stopped:
        error = f"stopped: {stopped}"
    elif popen.returncode != 0:
        lines = [ln for ln in re.sub(r"\x1b\[[0-9;]*m", "", log).strip().splitlines() if ln.strip()]
        error = "failed: " + (lines[-1] if lines else f"exit code {popen.returncode}")
    return {"notebook": path.stem, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
            "stopped": stopped, "error": error,
            "ok": error is None and cpu <= CPU_BUDGET_S and wall <= WALL_BUDGET_S}


def _empty_notebook(tmp: Path) -> Path:
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    p = tmp / "empty.ipynb"
    nbformat.write(nb, p)
    return p


def markdown_table(rows: list[dict]) -> str:
    lines = ["| notebook | CPU s (user+sys) | wall s | within budget |", "|---|---:|---:|---|"]
    for r in rows:
        cpu = f"> {CPU_BUDGET_S:.0f}" if r["stopped"] else f"{r['cpu_s']:.1f}"
        wall = r["stopped"] if r["stopped"] else f"{r['wall_s']:.1f}"
        verdict = "yes" if r["ok"] else ("NO: " + r["error"] if r["error"] else "NO: over budget")
        lines.append(f"| `{r['notebook']}` | {cpu} | {wall} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="run only notebooks whose name contains one of these")
    ap.add_argument("--quick", action="store_true", help="run only the first selected notebook")
    ap.add_argument("--timeout", type=float, default=600.0, help="wall seconds before a notebook is stopped")
    ap.add_argument("--cpu-timeout", type=float, default=900.0,
                    help="CPU seconds of its process tree before a notebook is stopped")
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench",
                    help="folder for notebooks.json and notebooks.md")
    ap.add_argument("--executed", type=Path, default=None,
                    help="also keep the executed notebooks (with their outputs) in this folder")
    args = ap.parse_args(argv)

    paths = sorted(NB_DIR.glob("*.ipynb"))
    if args.names:
        paths = [p for p in paths if any(n in p.stem for n in args.names)]
    if args.quick:
        paths = paths[:1]
    if not paths:
        print(f"no notebook in {NB_DIR} matches {args.names}; names look like 26_1_1_video_tensors",
              file=sys.stderr)
        return 2

    env = dict(os.environ)
    env.pop("COMPANION_FAST", None)
    env.setdefault("PYTHONPATH", str(ROOT))
    threads = env.get("OMP_NUM_THREADS", "not set")
    print(f"default mode (COMPANION_FAST unset), OMP_NUM_THREADS {threads}, {psutil.cpu_count()} CPUs, "
          f"budget {CPU_BUDGET_S:.0f} CPU-s / {WALL_BUDGET_S:.0f} wall-s per notebook")

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_notebooks_") as tmp:
        tmp = Path(tmp)
        overhead = run_one(_empty_notebook(tmp), env, 120, 120, tmp)
        print(f"overhead (runner + kernel start on an empty notebook): {overhead['cpu_s']:.1f} CPU-s, "
              f"{overhead['wall_s']:.1f} wall-s")
        print(f"{'notebook':40s} {'CPU s':>8s} {'wall s':>8s}  budget")
        keep = tmp
        if args.executed:
            args.executed.mkdir(parents=True, exist_ok=True)
            keep = args.executed
        for path in paths:
            r = run_one(path, env, args.timeout, args.cpu_timeout, keep)
            rows.append(r)
            cpu = f"> {args.cpu_timeout:.0f}" if r["stopped"] else f"{r['cpu_s']:.1f}"
            print(f"{r['notebook']:40s} {cpu:>8s} {r['wall_s']:8.1f}  "
                  f"{'ok' if r['ok'] else 'OVER' if not r['error'] else r['error']}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    result = {"cpu_budget_s": CPU_BUDGET_S, "wall_budget_s": WALL_BUDGET_S, "omp_num_threads": threads,
              "cpus": psutil.cpu_count(), "python": platform.python_version(),
              "overhead": {"cpu_s": overhead["cpu_s"], "wall_s": overhead["wall_s"]},
              "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "notebooks": rows}
    (args.out / "notebooks.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "notebooks.md").write_text(markdown_table(rows) + "\n")
    print(f"wrote {args.out / 'notebooks.json'} and {args.out / 'notebooks.md'}")
    bad = [r["notebook"] for r in rows if not r["ok"]]
    if bad:
        print(f"over budget or failed: {', '.join(bad)}")
        return 1
    print(f"all {len(rows)} notebooks within {CPU_BUDGET_S:.0f} CPU-s and {WALL_BUDGET_S:.0f} wall-s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
