#!/usr/bin/env python3
"""One-file bootstrap: the README's two commands.

    python3 tasks.py lab    [lab options]     # the capstone lab on the real street clip
    python3 tasks.py test   [pytest options]  # every unit test and every notebook (nbmake)

Each command creates or updates ``.venv`` (idempotent: it reinstalls only when
``pyproject.toml`` changed), installs FFmpeg with apt when it can (torchcodec needs it; the
other decoders bundle their own), fetches the street clip into ``data/`` and then runs.
Only the Python standard library is used here, so a bare Python 3.11 is enough.

Other commands: ``setup`` (environment only), ``bench`` (benchmarks/), ``sync`` (pair the
notebooks with their py:percent files and strip outputs), ``lab-notebook`` (open JupyterLab).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("COMPANION_VENV", ROOT / ".venv"))
STAMP = VENV / ".companion-installed"


def say(msg: str) -> None:
    print(f"[companion] {msg}", flush=True)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(cmd: list[str], **kw) -> int:
    return subprocess.call([str(c) for c in cmd], **kw)


def pip(py: Path, *args: str) -> int:
    """pip, with the noise of this machine's local package mirrors filtered out of stderr."""
    proc = subprocess.Popen([str(py), "-m", "pip", *args], stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if not line.startswith("WARNING: Location") and "is ignored: it is neither" not in line:
            sys.stderr.write(line)
    return proc.wait()


def ensure_ffmpeg() -> None:
    """torchcodec needs the system FFmpeg libraries; install them with apt when possible."""
    if shutil.which("ffmpeg"):
        return
    apt = shutil.which("apt-get")
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if apt and is_root:
        say("installing FFmpeg (for torchcodec) with apt-get ...")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        quiet = {"stdout": subprocess.DEVNULL}
        if run([apt, "install", "-y", "-qq", "--no-install-recommends", "ffmpeg"], env=env, **quiet) != 0:
            run([apt, "update", "-qq"], env=env, **quiet)
            run([apt, "install", "-y", "-qq", "--no-install-recommends", "ffmpeg"], env=env, **quiet)
    if not shutil.which("ffmpeg"):
        say("FFmpeg is not installed: the torchcodec backend will be unavailable "
            "(decord and PyAV still work). On Debian/Ubuntu: sudo apt-get install ffmpeg")


def ensure_env(extras: str = "dev") -> Path:
    """Create/refresh .venv with the companion installed in editable mode."""
    if sys.version_info < (3, 11):
        sys.exit(f"companion needs Python >= 3.11, this is {sys.version.split()[0]}")
    ensure_ffmpeg()
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if not venv_python().exists():
        say(f"creating the virtual environment {VENV} ...")
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    if STAMP.exists() and STAMP.read_text().strip() == key:
        return venv_python()
    say("installing the companion and its dependencies (first run takes a few minutes) ...")
    spec = f"{ROOT}[{extras}]" if extras else str(ROOT)
    code = pip(venv_python(), "install", "-q", "--upgrade", "pip")
    code = code or pip(venv_python(), "install", "-q", "-e", spec)
    if code:
        sys.exit("pip install failed; see the messages above")
    STAMP.write_text(key)
    return venv_python()


def fetch_clip(py: Path) -> bool:
    """Fetch + verify the street clip; False (with a clear message) if it cannot be had."""
    code = run([py, "-c", "from companion.data import street_clip; print(street_clip())"], cwd=ROOT)
    return code == 0


def cmd_lab(args: list[str]) -> int:
    py = ensure_env()
    return run([py, "-m", "companion", "lab", *args], cwd=ROOT)


def cmd_test(args: list[str]) -> int:
    py = ensure_env()
    if not fetch_clip(py):
        say("the real street clip is unavailable: tests that need it will be skipped, not passed")
    # Two pytest workers share the cores: one torch thread each avoids oversubscription.
    env = dict(os.environ, COMPANION_FAST="1", MPLBACKEND="Agg", PYTHONHASHSEED="0",
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    workers = os.environ.get("COMPANION_TEST_WORKERS", "2")
    cmd = [py, "-m", "pytest", "tests", "notebooks", "--nbmake", "--nbmake-timeout=600", "--durations=15",
           "-n", workers, "-p", "no:cacheprovider", *args]
    say("running: " + " ".join(str(c) for c in cmd[1:]))
    code = run(cmd, cwd=ROOT, env=env)
    if code == 5:
        say("pytest collected no tests: that is a failure")
        return 1
    return code


def cmd_bench(args: list[str]) -> int:
    py = ensure_env()
    fetch_clip(py)
    code = 0
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        say(f"benchmark {script.name}")
        code |= run([py, script, *args], cwd=ROOT)
    return code


def cmd_sync(args: list[str]) -> int:
    py = ensure_env()
    return run([py, ROOT / "scripts" / "sync_notebooks.py", *args], cwd=ROOT)


def cmd_setup(args: list[str]) -> int:
    py = ensure_env()
    fetch_clip(py)
    return 0


def cmd_lab_notebook(args: list[str]) -> int:
    py = ensure_env()
    return run([py, "-m", "jupyter", "lab", str(ROOT / "notebooks"), *args], cwd=ROOT)


COMMANDS = {"lab": cmd_lab, "test": cmd_test, "bench": cmd_bench, "sync": cmd_sync,
            "setup": cmd_setup, "lab-notebook": cmd_lab_notebook}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
