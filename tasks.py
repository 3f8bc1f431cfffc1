#!/usr/bin/env python3
"""One-file bootstrap: the README's two commands.

    python3 tasks.py lab    [lab options]     # the capstone lab on the real street clip
    python3 tasks.py test   [pytest options]  # every unit test and every notebook (nbmake)

Each command creates or updates ``.venv`` (idempotent: it reinstalls only when
``pyproject.toml`` changed), installs FFmpeg with apt when it can (torchcodec needs it; the
other decoders bundle their own), fetches the street clip into ``data/`` and then runs.
Only the Python standard library is used here, so a bare Python 3.11 is enough.

Other commands: ``setup`` (environment only), ``bench`` (benchmarks/), ``sync`` (pair the
notebooks with their py:percent files and strip outputs), ``lab-notebook`` (open JupyterLab),
``book [--fast]`` (execute every notebook and build the static HTML book in build/book/).

Every command also registers git's clean filter for notebooks (outputs never reach a commit, see
scripts/sync_notebooks.py); ``test`` installs Debian's Chromium (the browser test) when root.
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


def apt_install(*packages: str) -> bool:
    """``apt-get install`` (with ``apt-get update`` if the first try fails) when root on Debian."""
    apt = shutil.which("apt-get")
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if not (apt and is_root):
        return False
    say(f"installing {' '.join(packages)} with apt-get ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    quiet = {"stdout": subprocess.DEVNULL}
    cmd = [apt, "install", "-y", "-qq", "--no-install-recommends", *packages]
    if run(cmd, env=env, **quiet) != 0:
        run([apt, "update", "-qq"], env=env, **quiet)
        return run(cmd, env=env, **quiet) == 0
    return True


def ensure_ffmpeg() -> None:
    """torchcodec needs the system FFmpeg libraries; install them with apt when possible."""
    if shutil.which("ffmpeg"):
        return
    apt_install("ffmpeg")
    if not shutil.which("ffmpeg"):
        say("FFmpeg is not installed: the torchcodec backend will be unavailable "
            "(decord and PyAV still work). On Debian/Ubuntu: sudo apt-get install ffmpeg")


CHROMIUM = "/usr/bin/chromium"


def ensure_chromium() -> None:
    """The browser test drives Debian's Chromium (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        apt_install("chromium")
    if not Path(CHROMIUM).exists():
        say("Chromium is not installed: the browser test of the book will be skipped. "
            "On Debian/Ubuntu: sudo apt-get install chromium")


def ensure_npm() -> None:
    """The book fetches MathJax, require.js and the widget manager once with `npm pack`."""
    if not shutil.which("npm"):
        apt_install("npm")


def install_git_filter(root: Path = ROOT) -> None:
    """Register the clean filter that .gitattributes names for notebooks/*.ipynb, so that what
    git commits never has outputs, whatever JupyterLab saved (idempotent; no-op outside git)."""
    git = shutil.which("git")
    if git is None or run([git, "rev-parse", "--git-dir"], cwd=root, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) != 0:
        return
    py = Path(sys.executable).name if os.name == "nt" else "python3"
    for key, value in (("clean", f"{py} scripts/sync_notebooks.py --clean"), ("smudge", "cat"),
                       ("required", "true")):
        run([git, "config", f"filter.companion-nbstrip.{key}", value], cwd=root)


def ensure_env(extras: str = "dev,book") -> Path:
    """Create/refresh .venv with the companion installed in editable mode."""
    if sys.version_info < (3, 11):
        sys.exit(f"companion needs Python >= 3.11, this is {sys.version.split()[0]}")
    ensure_ffmpeg()
    install_git_filter()
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
    ensure_chromium()
    ensure_npm()
    if not fetch_clip(py):
        say("the real street clip is unavailable: tests that need it will be skipped, not passed")
    # Two pytest workers share the cores: one torch thread each avoids oversubscription.
    # COMPANION_HEADLESS: nbmake runs a kernel with no front end, so explorers draw their static figure.
    env = dict(os.environ, COMPANION_FAST="1", MPLBACKEND="Agg", PYTHONHASHSEED="0", COMPANION_HEADLESS="1",
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    workers = os.environ.get("COMPANION_TEST_WORKERS", "2")
    cmd = [py, "-m", "pytest", "tests", "notebooks", "--nbmake", "--nbmake-timeout=600", "--durations=15",
           "-n", workers, "--dist", "loadgroup", "-p", "no:cacheprovider", *args]
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


def lab_command(py: Path, args: list[str], euid: int | None = None) -> list:
    """``jupyter lab notebooks/ ...``; as root (containers) Jupyter refuses to start without
    ``--allow-root``, so it is added then."""
    if euid is None:
        euid = os.geteuid() if hasattr(os, "geteuid") else 1
    extra = ["--allow-root"] if euid == 0 and "--allow-root" not in args else []
    return [py, "-m", "jupyter", "lab", str(ROOT / "notebooks"), *extra, *args]


def cmd_lab_notebook(args: list[str]) -> int:
    py = ensure_env()
    return run(lab_command(py, args), cwd=ROOT)


def cmd_book(args: list[str]) -> int:
    """Execute every notebook (cached) and build the static HTML book: book/build.py."""
    py = ensure_env()
    ensure_npm()
    if not fetch_clip(py):
        say("the real street clip is unavailable: the notebooks that need it cannot run")
        return 1
    env = dict(os.environ, PYTHONHASHSEED="0")
    return run([py, ROOT / "book" / "build.py", *args], cwd=ROOT, env=env)


COMMANDS = {"lab": cmd_lab, "test": cmd_test, "bench": cmd_bench, "sync": cmd_sync,
            "setup": cmd_setup, "lab-notebook": cmd_lab_notebook, "book": cmd_book}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
