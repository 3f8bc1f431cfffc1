"""The static HTML book (book/build.py) in headless Chromium (book/check.py).

The browser tests open a fast-mode build: ``COMPANION_BOOK_HTML`` names one already built, else
the session builds it once (``book/build.py --fast``; its execution cache makes a rebuild with
unchanged notebooks and package cheap). Without Debian's Chromium they are skipped, never passed.
"""

import fcntl
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("companion_book_check", ROOT / "book" / "check.py")
check = importlib.util.module_from_spec(_spec)
sys.modules["companion_book_check"] = check
_spec.loader.exec_module(check)   # book/check.py
build = check.load_book_module("build")  # book/build.py

needs_browser = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.xdist_group("book"),
    pytest.mark.skipif(not Path(check.CHROMIUM).exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright is not installed"),
]


@pytest.fixture(scope="session")
def book_html():
    given = os.environ.get("COMPANION_BOOK_HTML")
    if given:
        return Path(given)
    build.BUILD.mkdir(parents=True, exist_ok=True)
    with open(build.BUILD / ".lock", "w") as lock:  # one build even with several pytest workers
        fcntl.flock(lock, fcntl.LOCK_EX)
        env = {k: v for k, v in os.environ.items() if k != "COMPANION_FAST"}
        done = subprocess.run([sys.executable, str(ROOT / "book" / "build.py"), "--fast"], cwd=ROOT,
                              env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"book build failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return build.BUILD / "fast" / "html"


# --- the book's structure (no browser) -----------------------------------------------------------

def test_every_notebook_is_in_exactly_one_chapter():
    chs = build.chapters()
    assert [c.key for c in chs] == ["26_1", "26_2", "26_3", "26_4", "26_5", "lab"]
    listed = [nb.name for c in chs for nb in c.notebooks]
    assert sorted(listed) == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert len(listed) == len(set(listed)) and all(c.notebooks for c in chs)


def test_a_notebook_no_chapter_claims_is_an_error(tmp_path):
    (tmp_path / "26_9_1_new.ipynb").write_text(json.dumps({"cells": []}))
    with pytest.raises(SystemExit, match="26_9_1_new.ipynb"):
        build.chapters(nb_dir=tmp_path)


def test_new_notebooks_are_picked_up_by_their_glob(tmp_path):
    for p in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy(p, tmp_path / p.name)
    shutil.copy(tmp_path / "26_1_1_video_tensors.ipynb", tmp_path / "26_1_9_extra.ipynb")
    ch = build.chapters(nb_dir=tmp_path)[0]
    assert ch.notebooks[-1].name == "26_1_9_extra.ipynb"
    assert "26_1_9_extra" in build.chapter_page(ch) and "26_1_9_extra" in build.landing_page([ch])


def test_cache_key_follows_the_package_and_the_mode(tmp_path, monkeypatch):
    (tmp_path / "companion").mkdir()
    (tmp_path / "companion" / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(build, "ROOT", tmp_path)
    key = build.package_key("fast")
    assert build.package_key("full") != key
    (tmp_path / "companion" / "a.py").write_text("x = 2\n")
    assert build.package_key("fast") != key


def test_expected_outputs_counts_what_a_page_must_show(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [
        {"output_type": "display_data", "data": {"image/png": "..."}},
        {"output_type": "display_data", "data": {"text/html": '<div class="animation">', "text/plain": ""}},
        {"output_type": "execute_result", "data": {"text/html": "<table></table>"}},
        {"output_type": "display_data", "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "a"}}},
        {"output_type": "display_data", "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "closed"}}},
        {"output_type": "stream", "text": "hi"}]}],
          "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {"a": {}}}}}}
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    assert check.expected_outputs(path) == {"figures": 1, "tables": 1, "animations": 1, "widgets": 1}


# --- the built book in Chromium -------------------------------------------------------------------

def browser_test(fn):
    for mark in needs_browser:
        fn = mark(fn)
    return fn


@browser_test
def test_every_page_of_the_book_is_whole(book_html):
    """Every page: no console error, no request off the machine, every image loaded, every
    internal link resolves, each notebook page shows all the figures / tables / animations /
    widgets its executed notebook produced, each chapter page links all its notebooks."""
    pages = sorted(p.stem for p in book_html.glob("*.html"))
    chs = build.chapters()
    assert {"index", *[c.key for c in chs], *[nb.stem for c in chs for nb in c.notebooks]} <= set(pages)
    problems = check.check_site(book_html)
    assert problems == [], "\n".join(problems)
    executed = book_html.parent / "executed"
    # the explorer's static figure (timeline + frames) is among 26.1.4's figures
    assert check.expected_outputs(executed / "26_1_4_sampling.ipynb")["figures"] >= 5
    assert sum(check.expected_outputs(executed / f"{nb.stem}.ipynb")["animations"]
               for c in chs for nb in c.notebooks) >= 3  # 26.5.3, 26.5.5 and the lab animate


@browser_test
def test_the_checker_catches_a_broken_page(book_html, tmp_path):
    """A copy of the built book with one figure deleted, one link broken, one CDN script and one
    script error planted, and one page's widget state removed: the checker names each, and an
    untouched page stays clean."""
    site = tmp_path / "html"
    shutil.copytree(book_html, site, ignore=shutil.ignore_patterns("_static"))
    (site / "_static").symlink_to(book_html / "_static")
    shutil.copytree(book_html.parent / "executed", tmp_path / "executed")

    figures_page = site / "26_1_4_sampling.html"
    first_image = re.search(r'<img [^>]*src="(_images/[^"]+)"', figures_page.read_text()).group(1)
    (site / first_image).unlink()

    index = site / "index.html"
    html = index.read_text()
    target = re.search(r'href="(26_2_1_[^"#]+\.html)"', html).group(1)
    index.write_text(html.replace(f'href="{target}"', 'href="26_2_1_no_such_page.html"', 1))

    lab = site / "lab.html"
    lab.write_text(lab.read_text().replace(
        "</head>", '<script src="https://cdn.example.org/mathjax.js"></script>\n'
                   '<script>throw new Error("planted failure")</script></head>', 1))

    widgets_page = site / "26_1_3_redundancy.html"  # progress bars: drop the saved widget state
    html, n = re.subn(r'<script type="application/vnd.jupyter.widget-state\+json">.*?</script>', "",
                      widgets_page.read_text(), flags=re.S)
    assert n == 1
    widgets_page.write_text(html)

    problems = check.check_site(site, pages=["26_1_4_sampling", "index", "lab", "26_1", "26_1_3_redundancy"])
    text = "\n".join(problems)
    assert f"26_1_4_sampling.html: missing image: {first_image}" in problems, text
    assert re.search(r"26_1_4_sampling.html: shows \d+ figures, its notebook produced \d+", text), text
    assert "index.html: broken link: 26_2_1_no_such_page.html" in problems, text
    assert "lab.html: request to a non-local host: https://cdn.example.org/mathjax.js" in problems, text
    assert re.search(r"lab.html: page exception: .*planted failure", text), text
    assert re.search(r"26_1_3_redundancy.html: shows 0 widgets, its notebook produced [1-9]", text), text
    assert not [p for p in problems if p.startswith("26_1.html")], text


def test_staging_follows_the_notebooks_and_drops_stale_pages(tmp_path):
    chs = build.chapters()
    src = tmp_path / "src"
    build.stage(src, chs)
    names = {p.name for p in src.iterdir()}
    assert {"index.md", "lab.md", "26_1.md", "26_1_4_sampling.ipynb"} <= names
    assert (src / "26_1_4_sampling.ipynb").read_bytes() == (ROOT / "notebooks" / "26_1_4_sampling.ipynb").read_bytes()
    mtime = (src / "26_1_1_video_tensors.ipynb").stat().st_mtime_ns
    chs[0].notebooks = chs[0].notebooks[:-1]  # 26_1_4 gone
    build.stage(src, chs)
    assert not (src / "26_1_4_sampling.ipynb").exists()
    assert "26_1_4_sampling" not in (src / "26_1.md").read_text()
    assert (src / "26_1_1_video_tensors.ipynb").stat().st_mtime_ns == mtime  # unchanged: not rewritten
