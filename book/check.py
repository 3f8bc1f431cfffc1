#!/usr/bin/env python3
"""Open a built book in headless Chromium and list everything wrong with it.

    python book/check.py build/book/fast/html                 # exit 1 and list the problems
    python book/check.py build/book/fast/html --shots DIR 26_1_4_sampling#explore lab ...  # + screenshots

Debian's Chromium (/usr/bin/chromium) is driven by the ``playwright`` package (no browser
download); the site is served on 127.0.0.1. For every page it reports:

* a console error or an uncaught page exception;
* a request to any host other than the local server (the book must work offline), and any
  local request that fails or answers >= 400;
* an image that did not load (``naturalWidth == 0``);
* an internal link whose target page, or ``#anchor`` in it, does not exist;
* a notebook page that shows fewer figures, tables, animations or widgets than its executed
  notebook (``<build>/executed/<page>.ipynb``, written by book/build.py) produced; a chapter page that does not
  link every notebook of its chapter (from book/build.py's chapter map).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import re
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# What one executed notebook should show, counted from its outputs, and the DOM query that finds
# the rendered thing on its page (inside a cell output).
_COUNT_JS = """() => {
  const outs = [...document.querySelectorAll('.cell_output')];
  const q = (s) => outs.flatMap(o => [...o.querySelectorAll(s)]);
  const img = q('img').filter(i => !i.closest('.animation'));
  return {
    figures: img.filter(i => i.complete && i.naturalWidth > 0).length,
    tables: q('table').length,
    animations: q('.animation img').filter(i => i.complete && i.naturalWidth > 0).length,
    widgets: q('script[type="application/vnd.jupyter.widget-view+json"]').filter(s =>
                 [...s.parentElement.querySelectorAll('.jupyter-widgets')].some(
                     e => e.getBoundingClientRect().height > 0)).length,
    broken: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
              .map(i => i.getAttribute('src') || '(no src)'),
    links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  };
}"""


_WIDGETS_DONE_JS = """() => {
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  return views.length === 0 || [...views].every(s => s.parentElement.querySelector('.jupyter-widgets'));
}"""


def expected_outputs(ipynb: Path) -> dict[str, int]:
    """Figures, tables, animations and widget views among an executed notebook's outputs."""
    nb = json.loads(ipynb.read_text(encoding="utf-8"))
    n = {"figures": 0, "tables": 0, "animations": 0, "widgets": 0}
    # a widget closed before the notebook ended (tqdm(leave=False)) has no saved state: not shown
    saved = nb.get("metadata", {}).get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for cell in nb["cells"]:
        if "remove-output" in cell.get("metadata", {}).get("tags", []):
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            html = "".join(data.get("text/html", ""))
            if "application/vnd.jupyter.widget-view+json" in data:
                n["widgets"] += data["application/vnd.jupyter.widget-view+json"].get("model_id") in saved
            elif any(k in data for k in ("image/png", "image/jpeg", "image/svg+xml")):
                n["figures"] += 1
            elif 'class="animation"' in html:
                n["animations"] += 1
            elif "<table" in html:
                n["tables"] += html.count("<table")
    return n


@contextmanager
def serve(root: Path):
    """A static file server for ``root`` on 127.0.0.1 (ephemeral port), in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _anchors(html_file: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html_file.read_text(encoding="utf-8", errors="replace")))


def load_book_module(name: str):
    """book/<name>.py as a module (``companion_book_<name>``: no clash with PyPI's ``build``)."""
    import importlib.util

    full = f"companion_book_{name}"
    if full not in sys.modules:
        spec = importlib.util.spec_from_file_location(full, Path(__file__).resolve().parent / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
    return sys.modules[full]


def _chapter_notebooks() -> dict[str, list[str]]:
    build = load_book_module("build")
    return {ch.key: [nb.stem for nb in ch.notebooks] for ch in build.chapters()}


def check_site(html_dir: Path, pages: list[str] | None = None, *, executed: Path | None = None,
               shots: Path | None = None, shot_pages: tuple[str, ...] = ()) -> list[str]:
    """Every problem found on the site's pages (all ``*.html`` at the top, or ``pages``), as lines
    ``page: what``. ``executed`` is the folder of executed notebooks (default: the build's
    ``executed`` beside ``html_dir``). Screenshots of ``shot_pages`` go to ``shots``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    html_dir = Path(html_dir).resolve()
    executed = Path(executed) if executed else html_dir.parent / "executed"
    if not executed.is_dir():
        return [f"{executed}: no executed notebooks to compare the pages with (build with book/build.py)"]
    names = sorted(p.stem for p in html_dir.glob("*.html")) if pages is None else list(pages)
    if not names:
        return [f"{html_dir}: no pages"]
    chapter_nbs = _chapter_notebooks()
    problems: list[str] = []
    anchor_cache: dict[Path, set[str]] = {}
    with serve(html_dir) as base, sync_playwright() as pw:
        host = urlparse(base).netloc
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            for name in names:
                page = context.new_page()
                found: list[str] = []
                page.on("console", lambda m: m.type == "error" and found.append(f"console error: {m.text}"))
                page.on("pageerror", lambda e: found.append(f"page exception: {e}"))

                def on_request(req, found=found):
                    u = urlparse(req.url)
                    if u.scheme in ("data", "blob", "about") or u.netloc == host:
                        return
                    found.append(f"request to a non-local host: {req.url}")

                page.on("request", on_request)
                page.on("requestfailed", lambda r: urlparse(r.url).netloc == host and
                        found.append(f"request failed: {r.url} ({r.failure})"))
                page.on("response", lambda r: urlparse(r.url).netloc == host and r.status >= 400 and
                        found.append(f"HTTP {r.status}: {r.url}"))
                # Requests elsewhere are recorded above and never leave the machine.
                page.route(re.compile(r"^(?!" + re.escape(base) + ").*"),
                           lambda route: route.abort() if urlparse(route.request.url).scheme in
                           ("http", "https", "ws", "wss") else route.continue_())
                page.goto(base + name + ".html", wait_until="networkidle")
                try:  # the widget manager renders after load: wait for it (or time out and report)
                    page.wait_for_function(_WIDGETS_DONE_JS, timeout=15000)
                except PlaywrightTimeout:
                    pass
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(500)  # late console errors (fonts, favicon) still land
                seen = page.evaluate(_COUNT_JS)
                found += [f"missing image: {src}" for src in seen["broken"]]
                for href in seen["links"]:
                    found += _check_link(html_dir, name, href, anchor_cache)
                nb = executed / f"{name}.ipynb"
                if nb.exists():
                    want = expected_outputs(nb)
                    for kind, count in want.items():
                        if seen[kind] < count:
                            found.append(f"shows {seen[kind]} {kind}, its notebook produced {count}")
                if name in chapter_nbs:
                    linked = {Path(urlparse(h).path).stem for h in seen["links"]}
                    missing = [s for s in chapter_nbs[name] if s not in linked]
                    if missing:
                        found.append(f"chapter page does not link its notebooks {missing}")
                for shot in (s for s in shot_pages if s.split("#")[0] == name and shots is not None):
                    shots.mkdir(parents=True, exist_ok=True)
                    page.set_viewport_size({"width": 1280, "height": 1500})
                    if "#" in shot:  # "page#anchor": the part of the page at that heading
                        page.locator(f"[id='{shot.split('#')[1]}']").first.scroll_into_view_if_needed()
                        page.evaluate("() => window.scrollBy(0, document.querySelector('header') ? -70 : 0)")
                    page.screenshot(path=str(shots / f"{shot.replace('#', '--')}.png"))
                problems += [f"{name}.html: {f}" for f in dict.fromkeys(found)]
                page.close()
        finally:
            browser.close()
    return problems


def _check_link(html_dir: Path, page: str, href: str, cache: dict) -> list[str]:
    u = urlparse(href)
    if u.scheme in ("http", "https", "mailto", "javascript", "data") or u.netloc:
        return []  # an outbound link is not a request; only requests must stay local
    url, frag = urldefrag(urljoin(f"{page}.html", href))
    target = html_dir / unquote(url) if url else html_dir / f"{page}.html"
    if target.is_dir():
        target = target / "index.html"
    if not target.exists():
        return [f"broken link: {href}"]
    if frag and target.suffix == ".html":
        if target not in cache:
            cache[target] = _anchors(target)
        if unquote(frag) not in cache[target]:
            return [f"broken link: {href} (no #{frag} in {target.name})"]
    return []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html", type=Path)
    ap.add_argument("--shots", type=Path, help="folder for screenshots of the pages named after it")
    ap.add_argument("shot_pages", nargs="*")
    args = ap.parse_intermixed_args(argv)
    problems = check_site(args.html, shots=args.shots, shot_pages=tuple(args.shot_pages))
    print("\n".join(problems) or f"{args.html}: no problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
