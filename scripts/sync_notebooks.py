#!/usr/bin/env python3
"""Write each notebooks/*.ipynb from its py:percent twin (the file you edit), outputs stripped.

    python scripts/sync_notebooks.py            # all notebooks
    python scripts/sync_notebooks.py 26_1       # only those whose name contains 26_1
    python scripts/sync_notebooks.py --check    # exit 1 if any pair is out of sync (what the test does)
    python scripts/sync_notebooks.py --clean < x.ipynb   # x.ipynb stripped, on stdout (git's clean filter)

Saving in JupyterLab writes outputs into the .ipynb (and jupytext refreshes the .py header): that
never reaches a commit, because ``.gitattributes`` runs every ``notebooks/*.ipynb`` through the
``companion-nbstrip`` clean filter (``--clean`` above, standard library only), which
``python3 tasks.py setup`` (and every other tasks.py command) registers in ``.git/config``.
``tests/test_notebooks_sync.py`` checks what git would commit: the filtered file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


FILTER = "companion-nbstrip"
#: Notebook metadata a front end adds while running: never committed.
RUNTIME_METADATA = ("widgets", "language_info", "toc", "varInspector")
#: Cell metadata a front end adds while running: never committed.
RUNTIME_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime", "jp-MarkdownHeadingCollapsed")


def strip_text(text: str) -> str:
    """A notebook's JSON with outputs, execution counts and run-time metadata removed, written the
    way nbformat writes it (so a stripped notebook passes through unchanged). Standard library only:
    this is git's clean filter."""
    nb = json.loads(text)
    for key in RUNTIME_METADATA:
        nb.get("metadata", {}).pop(key, None)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        for key in RUNTIME_CELL_METADATA:
            cell.get("metadata", {}).pop(key, None)
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def committed_text(ipynb: Path) -> str:
    """What ``git add`` would store for ``ipynb``: the file through its clean filter when
    .gitattributes and git's config declare one, else the file as it is."""
    text = ipynb.read_text(encoding="utf-8")
    git = shutil.which("git")
    if git is None:
        return text
    run = lambda *a: subprocess.run([git, *a], cwd=ipynb.parent, capture_output=True, text=True)
    attr = run("check-attr", "filter", "--", ipynb.name).stdout.strip().rsplit(": ", 1)[-1]
    if attr in ("", "unspecified", "unset"):
        return text
    clean = run("config", "--get", f"filter.{attr}.clean").stdout.strip()
    if not clean:
        return text
    top = run("rev-parse", "--show-toplevel").stdout.strip()
    done = subprocess.run(clean, shell=True, cwd=top, input=text, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"git's clean filter {clean!r} failed on {ipynb.name}: {done.stderr.strip()}")
    return done.stdout


def notebook_from_py(py: Path):
    import jupytext

    nb = jupytext.read(py)
    nb.metadata["kernelspec"] = KERNEL
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("lines_to_next_cell", None)
        cell.pop("id", None)
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def cells_of(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def out_of_sync(py: Path) -> str | None:
    """Why the pair (py, its .ipynb as git would commit it) is not in sync, or None."""
    import nbformat

    ipynb = py.with_suffix(".ipynb")
    if not ipynb.exists():
        return f"{ipynb.name} is missing"
    stored = nbformat.reads(committed_text(ipynb), as_version=4)
    for c in stored.cells:
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count")):
            return (f"{ipynb.name} has committed outputs (git's clean filter {FILTER} is not installed: "
                    f"run python3 tasks.py setup, or python3 tasks.py sync to strip it)")
    if cells_of(stored) != cells_of(notebook_from_py(py)):
        return f"{ipynb.name} differs from {py.name}"
    return None


def main(argv: list[str]) -> int:
    if "--clean" in argv:
        sys.stdout.write(strip_text(sys.stdin.read()))
        return 0
    import nbformat

    check = "--check" in argv
    pattern = next((a for a in argv if not a.startswith("-")), "")
    pys = sorted(p for p in NB_DIR.glob("*.py") if pattern in p.name)
    bad = 0
    for py in pys:
        if check:
            msg = out_of_sync(py)
            if msg:
                print(msg)
                bad += 1
            continue
        nb = notebook_from_py(py)
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"{py.stem[:40]}-{i}"
        nbformat.write(nb, py.with_suffix(".ipynb"))
        print(f"wrote {py.with_suffix('.ipynb').relative_to(ROOT)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
