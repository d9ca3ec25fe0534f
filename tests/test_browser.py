"""Open every page of the built book in headless Chromium and check that it works offline.

For each page: no request leaves the machine, no JavaScript error, all math typeset by the MathJax that
the book serves itself, every image loaded, no local resource missing.

Needs ``make book`` (``_build/html``) and Debian's ``/usr/bin/chromium``; Playwright drives that
binary, its own browser download is never used.  ``BOOK_HTML=/some/dir`` tests another copy of the
built site (used to check that the test catches a broken one); ``BROWSER_SCREENSHOTS=/some/dir`` saves
a full-page screenshot of every page.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SKIP_FILES = {"genindex.html", "search.html"}
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads", "reports"}
LOCAL_HOST = "127.0.0.1"
TIMEOUT_MS = 15_000
MATHJAX_START_MS = 5_000
MISSING_BUILD = f"{HTML} does not exist: run `make book` first"
MISSING_CHROMIUM = f"{CHROMIUM} is missing: install Debian's chromium (`make chromium`)"


def book_pages() -> list[str]:
    if not HTML.is_dir():
        return []
    pages = []
    for path in HTML.rglob("*.html"):
        rel = path.relative_to(HTML)
        if rel.name in SKIP_FILES and len(rel.parts) == 1:
            continue
        if rel.parts[0] in SKIP_DIRS:
            continue
        pages.append(rel.as_posix())
    return sorted(pages)


# Without a build there is one "page" whose test fails with MISSING_BUILD (a skip would hide it).
PAGES = book_pages() or [None]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """Base URL of ``_build/html`` served on the loopback interface."""
    if not HTML.is_dir():
        pytest.fail(MISSING_BUILD)
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer((LOCAL_HOST, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="book-http", daemon=True)
    thread.start()
    try:
        yield f"http://{LOCAL_HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium (fresh profile) shared by every page of the module."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(MISSING_CHROMIUM)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            service_workers="block",
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()
    finally:
        playwright.stop()


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname == LOCAL_HOST


def _is_implicit_favicon(url: str) -> bool:
    # Chromium asks for /favicon.ico by itself when a page declares no icon; the book never links it.
    return urlsplit(url).path == "/favicon.ico"


def _meta_refresh_target(path: Path) -> str | None:
    match = re.search(
        r"""<meta\s+http-equiv=["']refresh["']\s+content=["'][^"']*url=([^"']+)["']""",
        path.read_text(encoding="utf-8", errors="replace"),
        re.IGNORECASE,
    )
    return match.group(1).strip() if match else None


UNLOADED_IMAGES_JS = """
async () => {
  const images = Array.from(document.images);
  for (const img of images) { if (img.loading === "lazy") img.loading = "eager"; }
  await Promise.all(images.map((img) => img.complete ? null : new Promise((done) => {
    img.addEventListener("load", done, {once: true});
    img.addEventListener("error", done, {once: true});
  })));
  return images.filter((img) => !(img.complete && img.naturalWidth > 0))
               .map((img) => img.getAttribute("src"));
}
"""

UNTYPESET_MATH_JS = """
() => Array.from(document.querySelectorAll(".math"))
  .filter((el) => !el.querySelector("mjx-container"))
  .map((el) => el.textContent.trim().slice(0, 80))
"""

MATH_ERRORS_JS = """
() => Array.from(document.querySelectorAll("mjx-merror"))
  .map((el) => (el.getAttribute("data-mjx-error") || el.textContent).slice(0, 120))
"""


@pytest.mark.parametrize("page_path", PAGES, ids=[p or "missing-build" for p in PAGES])
def test_page_works_offline(page_path, request):
    # Checked here, before the fixtures, so that a missing build or browser is a test failure.
    if page_path is None:
        pytest.fail(MISSING_BUILD)
    if not CHROMIUM.is_file():
        pytest.fail(MISSING_CHROMIUM)
    site = request.getfixturevalue("site")
    browser = request.getfixturevalue("browser")
    from playwright.sync_api import Error as PlaywrightError

    external: list[str] = []
    problems: list[str] = []
    bad_status: set[str] = set()

    def route(route, request):
        if _is_local(request.url):
            route.continue_()
        else:
            external.append(request.url)
            route.abort("blockedbyclient")

    def on_console(msg):
        if msg.type != "error":
            return
        where = msg.location.get("url", "") if msg.location else ""
        if _is_implicit_favicon(where) or where in external or where in bad_status:
            return  # the favicon is not the book's; blocked requests are reported on their own
        problems.append(f"console error: {msg.text} ({where})")

    def on_response(response):
        if response.status >= 400 and _is_local(response.url) and not _is_implicit_favicon(response.url):
            bad_status.add(response.url)
            problems.append(f"HTTP {response.status}: {response.url}")

    def on_request_failed(request):
        if _is_local(request.url) and request.url not in bad_status and not _is_implicit_favicon(request.url):
            problems.append(f"request failed ({request.failure}): {request.url}")

    page = browser.new_page()
    page.route("**/*", route)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("response", on_response)
    page.on("requestfailed", on_request_failed)
    try:
        url = urljoin(site, page_path)
        page.goto(url, wait_until="load")
        target = _meta_refresh_target(HTML / page_path)
        if target:  # e.g. the root index.html that Jupyter Book writes as a redirect
            page.wait_for_url(urljoin(url, target))
            page.wait_for_load_state("load")

        math_count = page.locator(".math").count()
        if math_count:
            try:
                # tex-chtml.js is a deferred script: it has run by the "load" event if it could load.
                page.wait_for_function(
                    "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                    timeout=MATHJAX_START_MS,
                )
                page.evaluate("() => MathJax.startup.promise.then(() => true)")
            except PlaywrightError as exc:
                problems.append(f"MathJax did not start on a page with {math_count} .math element(s): {exc}")
            else:
                untypeset = page.evaluate(UNTYPESET_MATH_JS)
                if untypeset:
                    problems.append(
                        f"{len(untypeset)}/{math_count} .math element(s) not typeset: {untypeset}"
                    )
                merrors = page.evaluate(MATH_ERRORS_JS)
                if merrors:
                    problems.append(f"MathJax errors (mjx-merror): {merrors}")

        broken_images = page.evaluate(UNLOADED_IMAGES_JS)
        if broken_images:
            problems.append(f"images not loaded: {broken_images}")

        shots = os.environ.get("BROWSER_SCREENSHOTS")
        if shots:
            page.evaluate("() => document.fonts.ready.then(() => true)")
            out = Path(shots) / (page_path.replace("/", "__") + ".png")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
    finally:
        page.close()

    if external:
        asked = "\n  ".join(external)
        problems.insert(0, f"no request leaves the machine, but the page asked for:\n  {asked}")
    assert not problems, f"{page_path}:\n" + "\n".join(problems)
