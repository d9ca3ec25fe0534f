"""Serve MathJax 3 from the built book instead of a CDN.

``_config.yml`` sets ``mathjax_path: mathjax/tex-chtml.js``, which Sphinx resolves against
``_static/``.  This extension copies the part of MathJax that ``tex-chtml.js`` needs at run time
from the ``django-static-mathjax`` package (module ``mathjax``; it is a Django app, so it is located
with ``importlib.util.find_spec`` and never imported) into ``<outdir>/_static/mathjax/``.

Only files that are missing or changed are copied (Sphinx's ``copy_asset``), so incremental builds stay
cheap.

Two small fixes keep the pages free of JavaScript errors (the browser test fails on any):

* pydata-sphinx-theme logs ``Got invalid theme mode: .`` on a reader's first visit unless the template
  variable ``default_mode`` is set; it defaults here to ``"auto"`` (``html_context`` in ``_config.yml``
  still wins).
* Sphinx 7.4 re-adds inline scripts registered after ``Builder.init()`` with filename ``''`` instead of
  ``None``, so sphinx-thebe's ``const THEBE_JS_URL = ...`` appears twice and the second copy throws
  ``SyntaxError: Identifier 'THEBE_JS_URL' has already been declared``; duplicates are dropped.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx.util.fileutil import copy_asset, copy_asset_file

logger = logging.getLogger(__name__)

# Paths relative to MathJax's es5/ directory.  tex-chtml.js bundles the loader, startup, core, the TeX
# input (base + ams, newcommand, noundefined, require, autoload, configmacros), the CommonHTML output
# with the TeX font metrics, the context menu and assistive MathML.  At run time it fetches:
RUNTIME_FILES = (
    "tex-chtml.js",
    # the web fonts referenced by the CHTML stylesheet (only the ones a page uses are requested)
    "output/chtml/fonts/woff-v2",
    # TeX packages that \require or autoload pull in (\color, \cancel, \boldsymbol, \mathclap, ...)
    "input/tex/extensions",
    # loaded on demand by the context menu: Accessibility > explorer/speech/collapsible math
    "a11y",
    "input/mml.js",
    "sre/mathmaps/base.json",
    "sre/mathmaps/en.json",
    "sre/mathmaps/nemeth.json",
    # loaded on demand by the context menu: Math Settings > Math Renderer > SVG.  The menu remembers
    # that choice in localStorage, so every later page then loads the SVG output.
    "output/svg.js",
    "output/svg/fonts/tex.js",
)
# Shipped alongside the code, as the Apache 2.0 licence asks.
LICENSE_FILE = "LICENSE"


def mathjax_es5_dir() -> Path:
    """Return the ``es5/`` directory of the installed ``django-static-mathjax`` package."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionError(
            "offline_mathjax: the Python package 'mathjax' (pip install django-static-mathjax) is not "
            "installed, so MathJax cannot be served from the book. Install requirements.txt into the "
            "build environment (make book does) and rebuild."
        )
    for location in spec.submodule_search_locations:
        es5 = Path(location) / "static" / "mathjax" / "es5"
        if (es5 / "tex-chtml.js").is_file():
            return es5
    raise ExtensionError(
        "offline_mathjax: the 'mathjax' package was found at "
        f"{list(spec.submodule_search_locations)} but has no static/mathjax/es5/tex-chtml.js; "
        "reinstall django-static-mathjax."
    )


def _excluded(rel: str) -> bool:
    """Whether the path *rel* (relative to ``es5/``) is outside the run-time subset: neither one of
    :data:`RUNTIME_FILES`, inside one, nor a folder that holds one."""
    return not any(rel == keep or rel.startswith(f"{keep}/") or keep.startswith(f"{rel}/") for keep in RUNTIME_FILES)


def copy_mathjax(es5: Path, dest: Path) -> None:
    """Copy the run-time subset of MathJax from *es5* to *dest*.

    Sphinx's ``copy_asset`` rewrites only the files that are missing or differ, so incremental builds stay cheap.
    """
    missing = [rel for rel in RUNTIME_FILES if not (es5 / rel).exists()]
    if missing:
        raise ExtensionError(f"offline_mathjax: {es5 / missing[0]} is missing from the installed MathJax package")
    copy_asset(es5, dest, excluded=_excluded)
    copy_asset_file(es5.parent / LICENSE_FILE, dest)  # nothing when the package ships no licence


def check_config(app: Sphinx, config: Config) -> None:
    mathjax_es5_dir()  # fail before reading any source if the package is missing
    if "default_mode" not in config.html_context:
        config.html_context = {**config.html_context, "default_mode": "auto"}


def drop_duplicate_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for js in scripts:
        key = (
            getattr(js, "filename", js) or "",
            getattr(js, "priority", None),
            tuple(sorted(getattr(js, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(js)
    if len(unique) != len(scripts):
        # A new list: the builder restores its own after each page.
        context["script_files"] = unique


def on_build_finished(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    dest = Path(app.outdir) / "_static" / "mathjax"
    copy_mathjax(mathjax_es5_dir(), dest)
    logger.info("offline_mathjax: MathJax copied to %s", dest)


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", check_config)
    # After sphinx.ext.mathjax and the other extensions have added their scripts (priority 500).
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    app.connect("build-finished", on_build_finished)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
