#!/usr/bin/env python3
"""Write each notebooks/*.ipynb from its py:percent twin (the file you edit), outputs stripped.

    python scripts/sync_notebooks.py            # all notebooks
    python scripts/sync_notebooks.py 26_1       # only those whose name contains 26_1
    python scripts/sync_notebooks.py --check    # exit 1 if any pair is out of sync (what the test does)
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def notebook_from_py(py: Path) -> nbformat.NotebookNode:
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
    ipynb = py.with_suffix(".ipynb")
    if not ipynb.exists():
        return f"{ipynb.name} is missing"
    stored = nbformat.read(ipynb, as_version=4)
    for c in stored.cells:
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count")):
            return f"{ipynb.name} has committed outputs"
    if cells_of(stored) != cells_of(notebook_from_py(py)):
        return f"{ipynb.name} differs from {py.name}"
    return None


def main(argv: list[str]) -> int:
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
