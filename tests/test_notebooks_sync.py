"""Every notebook is a stripped .ipynb paired with the py:percent file it is written from."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("sync_notebooks", ROOT / "scripts" / "sync_notebooks.py")
sync = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync)

PYS = sorted((ROOT / "notebooks").glob("*.py"))
IPYNBS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert PYS, "no notebooks found"


@pytest.mark.parametrize("py", PYS, ids=lambda p: p.name)
def test_pair_in_sync_and_stripped(py):
    assert sync.out_of_sync(py) is None, sync.out_of_sync(py)


@pytest.mark.parametrize("ipynb", IPYNBS, ids=lambda p: p.name)
def test_every_ipynb_has_a_py_twin(ipynb):
    assert ipynb.with_suffix(".py").exists(), f"{ipynb.name} has no py:percent twin"


def test_detects_a_stale_pair(tmp_path, monkeypatch):
    py = tmp_path / "x.py"
    py.write_text("# %%\nprint(1)\n")
    nb = sync.notebook_from_py(py)
    import nbformat

    nbformat.write(nb, tmp_path / "x.ipynb")
    assert sync.out_of_sync(py) is None
    py.write_text("# %%\nprint(2)\n")
    assert "differs" in sync.out_of_sync(py)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="1")]
    py.write_text("# %%\nprint(1)\n")
    nbformat.write(nb, tmp_path / "x.ipynb")
    assert "outputs" in sync.out_of_sync(py)
