#!/usr/bin/env python3
"""Build the companion as a static HTML book (Sphinx + myst-nb), every asset served locally.

    python book/build.py            # full mode: the notebooks as a reader runs them
    python book/build.py --fast     # COMPANION_FAST=1 (what CI builds and the browser test opens)

Run it through ``python3 tasks.py book [--fast]``, which installs the ``book`` extra first.

What it does, top to bottom:

1. **Chapters** come from the README's chapter map (one row per section: its title and a
   notebook glob such as ``26_1_*``) and the notebooks from ``notebooks/*.ipynb``: a new notebook
   or section appears in the book without touching this file.
2. **Sources** are staged in ``build/book/<mode>/src``: a landing page with the chapter map, one
   chapter page per section listing its notebooks, and the notebooks themselves.
3. **Vendor assets** (MathJax, require.js, the Jupyter widget HTML manager with its fonts) are
   fetched once with ``npm pack``, checked against the sha512 integrities in ``book/vendor.json``
   and copied into the site: the pages request nothing from another host.
4. **Execution** is myst-nb's ``cache`` mode (jupyter-cache): a notebook is re-run only when its
   code changed. The cache folder is keyed by a hash of ``companion/`` and the mode, so editing
   the package re-runs everything. Notebooks run with ``COMPANION_HEADLESS=1`` (no widget front
   end: explorers draw their static figure) and the inline matplotlib backend.

The HTML lands in ``build/book/<mode>/html`` (git-ignored; open ``index.html``), the executed
notebooks in ``build/book/<mode>/executed`` (what book/check.py compares each page against).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build" / "book"


@dataclass
class Chapter:
    key: str          # "26_1" or "lab": the page's name
    title: str        # "26.1 Frames to clips"
    blurb: str        # "video tensors, decoding, redundancy, sampling"
    pattern: str      # "26_1_*"
    modules: str      # the companion modules, as the README writes them
    notebooks: list[Path] = field(default_factory=list)


def chapters(readme: Path = ROOT / "README.md", nb_dir: Path = NOTEBOOKS) -> list[Chapter]:
    """The README's chapter map rows, each with the notebooks its glob matches (sorted)."""
    text = readme.read_text(encoding="utf-8")
    if "## Chapter map" not in text:
        raise SystemExit(f"{readme} has no '## Chapter map' table: the book takes its chapters from it")
    table = text.split("## Chapter map", 1)[1].split("\n## ", 1)[0]
    out = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[1].startswith("`") or "*" not in cells[1]:
            continue
        pattern = cells[1].strip("`")
        name, _, blurb = cells[0].partition(":")
        # "26.1 Frames to clips" -> page 26_1 (from its glob); "Lab" -> page lab
        key = pattern.rstrip("_*") if name[:1].isdigit() else re.sub(r"\W+", "_", name.strip().lower())
        nbs = sorted(nb_dir.glob(pattern + ".ipynb"))
        out.append(Chapter(key, name.strip(), blurb.strip(), pattern, cells[2], nbs))
    listed = {nb for ch in out for nb in ch.notebooks}
    stray = sorted(p.name for p in nb_dir.glob("*.ipynb") if p not in listed)
    if stray:
        raise SystemExit(f"notebooks not matched by any row of the README's chapter map: {stray}; "
                         f"add a row whose second cell is their glob (e.g. `26_6_*`)")
    if not out:
        raise SystemExit(f"the chapter map in {readme} has no rows with a notebook glob")
    return out


def notebook_title(ipynb: Path) -> str:
    """The first Markdown heading of a notebook (what the page is called)."""
    nb = json.loads(ipynb.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ipynb.stem


def package_key(mode: str) -> str:
    """Hash of everything under companion/ (code, weights, json) and the mode: the cache key."""
    h = hashlib.sha256(mode.encode())
    for p in sorted((ROOT / "companion").rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
            h.update(str(p.relative_to(ROOT)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def write_if_changed(path: Path, data: bytes) -> None:
    """Keep the file (and its mtime) when unchanged, so Sphinx re-reads only what changed."""
    if not path.exists() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def landing_page(chs: list[Chapter]) -> str:
    intro = (ROOT / "README.md").read_text(encoding="utf-8").split("\n\n", 2)[1]
    lines = ["# Video Understanding — the executable companion", "", intro, "",
             "Every page below is a notebook of the companion, executed when this book was built: "
             "the figures, tables and animations are its real outputs.", "",
             "## Chapter map", "", "| section | notebooks | companion module |", "|---|---|---|"]
    for ch in chs:
        links = "<br>".join(f"{{doc}}`{notebook_title(nb)} <{nb.stem}>`" for nb in ch.notebooks) or "—"
        lines.append(f"| {{doc}}`{ch.title} <{ch.key}>` — {ch.blurb} | {links} | {ch.modules} |")
    lines += ["", "```{toctree}", ":hidden:", ":maxdepth: 2", "", *[ch.key for ch in chs], "```", ""]
    return "\n".join(lines)


def chapter_page(ch: Chapter) -> str:
    lines = [f"# {ch.title}", "", f"{ch.blurb[:1].upper()}{ch.blurb[1:]}." if ch.blurb else "", "",
             f"Reference code: {ch.modules}. Notebooks (`{ch.pattern}`):", ""]
    lines += ["```{toctree}", ":maxdepth: 1", "", *[nb.stem for nb in ch.notebooks], "```", ""]
    return "\n".join(lines)


def stage(src: Path, chs: list[Chapter]) -> None:
    """Write the book's sources into ``src``; remove whatever a previous build left that is gone."""
    wanted = {"index.md": landing_page(chs).encode()}
    for ch in chs:
        wanted[f"{ch.key}.md"] = chapter_page(ch).encode()
        for nb in ch.notebooks:
            wanted[nb.name] = nb.read_bytes()
    src.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        if p.is_file() and p.suffix in {".md", ".ipynb"} and p.name not in wanted:
            p.unlink()
    for name, data in wanted.items():
        write_if_changed(src / name, data)


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def vendor(static: Path) -> None:
    """Fetch (npm pack), verify and unpack the browser assets into ``static/vendor``."""
    spec = json.loads((BOOK / "vendor.json").read_text())
    cache = BUILD / "npm"
    cache.mkdir(parents=True, exist_ok=True)
    for pkg in spec["packages"]:
        tgz = cache / pkg["tarball"]
        if not tgz.exists() or _integrity(tgz) != pkg["integrity"]:
            npm = shutil.which("npm")
            if npm is None:
                raise SystemExit("npm is needed once to fetch the book's browser assets "
                                 "(MathJax, require.js, the widget manager): apt-get install npm")
            print(f"[book] npm pack {pkg['spec']}", flush=True)
            subprocess.run([npm, "pack", pkg["spec"], "--pack-destination", str(cache), "--loglevel=error"], check=True,
                           stdout=subprocess.DEVNULL)
        got = _integrity(tgz)
        if got != pkg["integrity"]:
            tgz.unlink()
            raise SystemExit(f"{tgz.name}: integrity {got} is not the pinned {pkg['integrity']} "
                             f"(book/vendor.json); refusing to serve it")
        dest = static / "vendor" / pkg["name"]
        stamp = dest / ".integrity"
        if stamp.exists() and stamp.read_text() == got:
            continue
        shutil.rmtree(dest, ignore_errors=True)
        prefix = f"package/{pkg['files']}"
        with tarfile.open(tgz) as tar:
            for m in tar.getmembers():
                if m.isfile() and (m.name == prefix or m.name.startswith(prefix + "/")):
                    target = dest / m.name[len("package/"):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(m).read())
        stamp.write_text(got)


def build(fast: bool, jobs: int = 1) -> Path:
    mode = "fast" if fast else "full"
    base = BUILD / mode
    chs = chapters()
    stage(base / "src", chs)
    vendor(base / "static")
    key = package_key(mode)
    cache = base / f"cache-{key}"
    for old in base.glob("cache-*"):
        if old != cache:
            shutil.rmtree(old, ignore_errors=True)
    env = dict(os.environ, COMPANION_FAST="1" if fast else "0", COMPANION_HEADLESS="1",
               COMPANION_BOOK_CACHE=str(cache), COMPANION_BOOK_STATIC=str(base / "static"),
               COMPANION_BOOK_KEY=key, PYTHONHASHSEED="0")
    env.pop("MPLBACKEND", None)  # the kernel must use the inline backend, or no figure is recorded
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    html = base / "html"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "--keep-going", "-j", str(jobs),
           "-c", str(BOOK), "-d", str(base / "doctrees"), str(base / "src"), str(html)]
    t0 = time.perf_counter()
    print(f"[book] {mode} mode: {sum(len(c.notebooks) for c in chs)} notebooks in {len(chs)} chapters; "
          f"execution cache {cache.relative_to(ROOT)}", flush=True)
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    if code:
        raise SystemExit(f"sphinx-build failed (exit {code}); see the messages above")
    export_executed(base / "src", cache, base / "executed")
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"[book] built {html.relative_to(ROOT)}/index.html in {time.perf_counter() - t0:.0f} s "
          f"(CPU {use.ru_utime + use.ru_stime:.0f} s, kernels included)", flush=True)
    return html


def export_executed(src: Path, cache_path: Path, dest: Path) -> None:
    """Write each notebook as executed (its outputs from the execution cache) to ``dest``: what
    the browser check counts a page's figures, tables and animations against. (myst-nb's own
    jupyter_execute copy lacks the outputs of notebooks it took from the cache.)"""
    import nbformat
    from jupyter_cache import get_cache

    cache = get_cache(str(cache_path))
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.ipynb"):
        old.unlink()
    for nb_path in sorted(src.glob("*.ipynb")):
        _, merged = cache.merge_match_into_notebook(nbformat.read(nb_path, as_version=4))
        nbformat.write(merged, dest / nb_path.name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fast", action="store_true", help="COMPANION_FAST=1: the CI build")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="Sphinx worker processes (default 1)")
    args = ap.parse_args(argv)
    build(args.fast, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
