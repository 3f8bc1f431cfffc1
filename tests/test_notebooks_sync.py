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


# --- saving in JupyterLab: outputs and jupytext's header never break the pair --------------------

def _tasks():
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _git(repo, *args):
    import subprocess

    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def _lab_save(py, ipynb):
    """What JupyterLab + jupytext do on save: outputs, counts and widget state in the .ipynb, a
    refreshed jupytext header (text_representation, version) in the .py."""
    import jupytext
    import nbformat

    nb = nbformat.read(ipynb, as_version=4)
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.outputs = [nbformat.v4.new_output("stream", text=f"run {i}\n")]
        cell.execution_count = i + 1
        cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    nbformat.write(nb, ipynb)
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent", "text_representation": {
        "extension": ".py", "format_name": "percent", "format_version": "1.3", "jupytext_version": "1.16.4"}}
    jupytext.write(nb, py, fmt="py:percent")


@pytest.mark.skipif(not __import__("shutil").which("git"), reason="needs git")
def test_saving_in_lab_never_breaks_the_sync_test(tmp_path):
    """In a fresh repository set up by tasks.py's install_git_filter: a notebook saved by Lab
    (outputs, widget state, rewritten .py header) still passes out_of_sync, and the blob git
    stages has no outputs; without the filter the same file is reported as committing outputs."""
    import json

    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "notebooks").mkdir()
    (repo / "scripts" / "sync_notebooks.py").write_text((ROOT / "scripts" / "sync_notebooks.py").read_text())
    (repo / ".gitattributes").write_text((ROOT / ".gitattributes").read_text())
    src = ROOT / "notebooks" / "26_1_4_sampling"
    py, ipynb = repo / "notebooks" / "n.py", repo / "notebooks" / "n.ipynb"
    py.write_text(src.with_suffix(".py").read_text())
    ipynb.write_text(src.with_suffix(".ipynb").read_text())
    _git(repo, "init", "-q")

    _lab_save(py, ipynb)
    assert "committed outputs" in sync.out_of_sync(py)  # no filter registered yet: caught
    _tasks().install_git_filter(repo)
    assert sync.out_of_sync(py) is None
    assert "jupytext_version" in py.read_text()  # the header really was rewritten
    _git(repo, "add", "notebooks")
    staged = json.loads(_git(repo, "show", ":notebooks/n.ipynb"))
    code = [c for c in staged["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert "widgets" not in staged["metadata"] and "execution" not in code[0]["metadata"]
    assert _git(repo, "show", ":notebooks/n.ipynb") == src.with_suffix(".ipynb").read_text()
    # an edit to the .py alone is still reported
    py.write_text(py.read_text().replace("K, STRIDE = 8, 4", "K, STRIDE = 8, 5"))
    assert "differs" in sync.out_of_sync(py)


def test_clean_filter_leaves_every_committed_notebook_unchanged():
    """Stripping a stripped notebook is the identity (else git would show every notebook as
    modified once the filter is installed)."""
    for ipynb in IPYNBS:
        text = ipynb.read_text(encoding="utf-8")
        assert sync.strip_text(text) == text, ipynb.name


def test_gitattributes_routes_notebooks_through_the_filter():
    lines = (ROOT / ".gitattributes").read_text().splitlines()
    assert f"notebooks/*.ipynb filter={sync.FILTER}" in lines


def test_lab_notebook_allows_root():
    tasks = _tasks()
    as_root = tasks.lab_command(Path("py"), [], euid=0)
    assert "--allow-root" in as_root and as_root[1:4] == ["-m", "jupyter", "lab"]
    assert "--allow-root" not in tasks.lab_command(Path("py"), [], euid=1000)
    assert tasks.lab_command(Path("py"), ["--allow-root"], euid=0).count("--allow-root") == 1
