"""Sphinx configuration of the companion's book (sources staged by book/build.py; read that first).

Everything a page loads is served from the site itself: MathJax, require.js and the Jupyter widget
HTML manager come from ``_static/vendor`` (npm tarballs pinned in book/vendor.json), the theme's
fonts and icons ship with the theme. The browser test (tests/test_book.py) fails on any request to
another host.
"""

import os

project = "Video Understanding — executable companion"
author = "companion contributors"
copyright = "the companion contributors"

extensions = ["myst_nb"]
myst_enable_extensions = ["dollarmath", "amsmath"]
exclude_patterns = ["jupyter_execute", ".jupyter_cache", "**.ipynb_checkpoints"]

# --- execution: jupyter-cache, keyed by book/build.py on companion/ + the mode --------------------
nb_execution_mode = "cache"
nb_execution_cache_path = os.environ.get("COMPANION_BOOK_CACHE", "../cache")
nb_execution_timeout = 3600 if os.environ.get("COMPANION_FAST", "0") == "0" else 900
nb_execution_raise_on_error = True   # a notebook that fails makes the build fail
nb_execution_show_tb = True
nb_execution_in_temp = True          # notebooks that write outputs/ do it in a scratch folder
nb_merge_streams = True
companion_key = os.environ.get("COMPANION_BOOK_KEY", "")  # a change re-reads every page

# --- assets: nothing from a CDN -------------------------------------------------------------------
html_static_path = ["_static"] + ([os.environ["COMPANION_BOOK_STATIC"]] if os.environ.get("COMPANION_BOOK_STATIC") else [])
mathjax_path = "vendor/mathjax/es5/tex-mml-chtml.js"
nb_ipywidgets_js = {
    "vendor/requirejs/require.js": {},
    "widgets-config.js": {},
    "vendor/html-manager/dist/embed-amd.js": {"data-jupyter-widgets-cdn": "_static/vendor/npm/"},
}

# --- look -----------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "Video Understanding — companion"
html_favicon = "_static/favicon.svg"  # else the browser asks for /favicon.ico (a 404 in the console)
html_context = {"default_mode": "light"}  # else the theme logs "invalid theme mode" on first visit
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "navigation_with_keys": False,
}
html_last_updated_fmt = None
html_show_sourcelink = False


def setup(app):
    app.add_config_value("companion_key", "", "env")
