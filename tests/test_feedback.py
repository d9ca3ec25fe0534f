"""What the student gets back, through the real path (release -> submitted -> grade -> gradebook -> feedback) and
through plain nbgrader commands run in the course directory, on one batch of loss_family submissions:

- ``a-noisy``: correct functions that write to stderr (print, logging, warnings turned back on) and print where
  the grader's Python lives;
- ``b-stub``: the released notebook, untouched;
- ``c-long``: mse_loss prints long lines, l1_loss fails with a long message, huber_loss is not attempted;
- ``d-stray``: the solution, with the files a student's computer adds (``.DS_Store``, ``__MACOSX``, ...);
- ``e-folder``: a folder where the notebook should be, whose error names the server's path.

The feedback page is opened in Debian's Chromium, from the file, as a student opens it.
"""

from __future__ import annotations

import csv
import html
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, autograder, points_per_function, submit, with_solutions

from autograder.feedback import MATHJAX_BUNDLE, cell_heading, mathjax_source

pytestmark = pytest.mark.slow

ASSIGNMENT = "loss_family"
NOTEBOOK = f"{ASSIGNMENT}.html"
REDUCE = '    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()\n'

NOISY = {
    "mse_loss": """import sys, torch
def mse_loss(input, target, reduction="mean"):
    print("mse_loss: debugging, torch is at", torch.__file__, "in", sys.prefix, file=sys.stderr)
    loss = (input - target) ** 2
""" + REDUCE,
    "l1_loss": """import logging
def l1_loss(input, target, reduction="mean"):
    logging.warning("l1_loss was called")
    loss = (input - target).abs()
""" + REDUCE,
    "smooth_l1_loss": """import warnings, torch
warnings.simplefilter("always")
def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    warnings.warn("smooth_l1_loss: a warning is not a mistake")
    diff = (input - target).abs()
    loss = diff - 0.5 * beta if beta == 0 else torch.where(diff < beta, 0.5 * diff**2 / beta, diff - 0.5 * beta)
""" + REDUCE,
}
UNBROKEN = "x" * 3000
LONG = {
    "mse_loss": f"""def mse_loss(input, target, reduction="mean"):
    print({UNBROKEN!r})
    print("a long line of words " * 150)
    loss = (input - target) ** 2
""" + REDUCE,
    "l1_loss": """def l1_loss(input, target, reduction="mean"):
    raise ValueError("a long message " * 150 + "y" * 2000)
""",
    "huber_loss": """def huber_loss(input, target, reduction="mean", delta=1.0):
    # YOUR CODE HERE
    raise NotImplementedError()
""",
}
STRAY = [".DS_Store", "._loss_family.ipynb", "__MACOSX/._loss_family.ipynb", "__MACOSX/.DS_Store",
         ".ipynb_checkpoints/loss_family-checkpoint.ipynb", "Thumbs.db"]


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course_dir = tmp_path_factory.mktemp("feedback")
    assert autograder("release", ASSIGNMENT, "--course-dir", str(course_dir)).returncode == 0
    (released,) = (course_dir / "release" / ASSIGNMENT).glob("*.ipynb")
    submit(course_dir, "a-noisy", released, with_solutions(released, NOISY))
    submit(course_dir, "b-stub", released, nbformat.read(released, as_version=4))
    submit(course_dir, "c-long", released, with_solutions(released, LONG))
    folder = submit(course_dir, "d-stray", released, with_solutions(released)).parent
    for name in STRAY:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"\x00\x05\x16\x07 not the student's work")
    (course_dir / "submitted" / "e-folder" / ASSIGNMENT / released.name).mkdir(parents=True)
    return course_dir


def _rows(course: Path, name: str) -> dict[str, dict[str, str]]:
    output = course / name
    assert autograder("export", "--course-dir", str(course), "--output", str(output)).returncode == 0
    with output.open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def graded(course: Path) -> dict[str, dict[str, str]]:
    autograder("grade", ASSIGNMENT, "--course-dir", str(course))
    return _rows(course, "grades.csv")


def _nbgrader(course: Path, *args: str) -> None:
    """A plain nbgrader command in the course directory, as an instructor types it."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def plain(course: Path, graded: dict) -> dict[str, dict[str, str]]:
    """a-noisy graded again by plain `nbgrader autograde` and `nbgrader generate_feedback`."""
    _nbgrader(course, "autograde", ASSIGNMENT, "--student", "a-noisy", "--force")
    (course / "feedback" / "a-noisy").rename(course / "feedback-of-grade")
    _nbgrader(course, "generate_feedback", ASSIGNMENT, "--student", "a-noisy", "--force")
    return _rows(course, "plain.csv")


def scores(row: dict[str, str]) -> dict[str, float]:
    return {f: float(row[f]) for f in points_per_function(ASSIGNMENT)}


def page(course: Path, student: str) -> str:
    return (course / "feedback" / student / ASSIGNMENT / NOTEBOOK).read_text(encoding="utf-8")


class _Page(HTMLParser):
    """The parts of a feedback page the tests look at: scripts, links, the test cells' headings."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.scripts: list[str] = []
        self.headings: list[str] = []
        self._in: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.sources += [value for key, value in attrs if key in ("src", "href") and value]
        if tag == "script":
            self._in, self.scripts = "script", [*self.scripts, ""]
        elif tag == "span" and found.get("class") == "nbgrader-label":
            self._in, self.headings = "heading", [*self.headings, ""]

    def handle_endtag(self, tag: str) -> None:
        if (self._in, tag) in (("script", "script"), ("heading", "span")):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts[-1] += data
        elif self._in == "heading":
            self.headings[-1] += data


def test_text_on_stderr_costs_nothing(graded: dict) -> None:
    """print(file=sys.stderr), logging.warning and warnings turned back on, each in its own correct function: full
    marks (nbgrader scores a grade cell that writes to stderr as failed)."""
    row = graded["a-noisy"]
    assert row["status"] == "graded"
    assert scores(row) == points_per_function(ASSIGNMENT)


def test_text_on_stderr_costs_nothing_under_plain_nbgrader_autograde(plain: dict, graded: dict) -> None:
    assert scores(plain["a-noisy"]) == scores(graded["a-noisy"]) == points_per_function(ASSIGNMENT)


def test_the_feedback_shows_what_went_to_stderr(course: Path, graded: dict) -> None:
    text = html.unescape(page(course, "a-noisy"))
    for line in ("mse_loss: debugging", "l1_loss was called", "smooth_l1_loss: a warning is not a mistake"):
        assert line in text


def test_each_test_cell_is_named_by_what_it_checks(course: Path, graded: dict, plain: dict) -> None:
    """Every test cell's heading is the first line of its docstring, in the page of `grade` and in the page of a
    plain `nbgrader generate_feedback`."""
    (released,) = (course / "release" / ASSIGNMENT).glob("*.ipynb")
    cells = nbformat.read(released, as_version=4).cells
    expected = [cell_heading(c) for c in cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(expected) == 24 and all(h.split(":")[0] in points_per_function(ASSIGNMENT) for h in expected)
    for text in (page(course, "d-stray"), page(course, "a-noisy")):
        headings = [h for h in _Page(text).headings if h != "Student's answer"]
        assert [html.unescape(h).strip() for h in headings] == expected
        assert "Test cell" not in text and "Grade cell:" not in text


def test_a_function_still_raising_not_implemented_is_not_attempted(course: Path, graded: dict) -> None:
    def not_attempted(student: str) -> list[str]:
        return [h.split(":")[0] for h in _Page(page(course, student)).headings if "(not attempted)" in h]

    assert set(not_attempted("b-stub")) == set(points_per_function(ASSIGNMENT))
    assert len(not_attempted("b-stub")) == 24, "every test cell of the stub"
    assert set(not_attempted("c-long")) == {"huber_loss"}, "only the function left as the stub"
    assert not_attempted("d-stray") == []


def test_the_page_loads_nothing_from_the_network_and_inlines_mathjax(course: Path, graded: dict, plain: dict) -> None:
    for text in (page(course, "b-stub"), page(course, "a-noisy")):
        parsed = _Page(text)
        remote = [s for s in parsed.sources if re.match(r"(https?:)?//", s)]
        assert remote == [], f"the page asks the network for {remote}"
        assert str(mathjax_source(MATHJAX_BUNDLE)).strip() in [s.strip() for s in parsed.scripts]


def test_stray_files_of_the_submission_are_not_copied(course: Path, graded: dict) -> None:
    row = graded["d-stray"]
    assert (row["status"], scores(row)) == ("graded", points_per_function(ASSIGNMENT))
    for step in ("autograded", "feedback"):
        folder = course / step / "d-stray" / ASSIGNMENT
        found = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
        assert found == [f"{ASSIGNMENT}.ipynb" if step == "autograded" else NOTEBOOK], f"{step}: {found}"


def test_no_folder_of_the_grading_machine_appears_in_any_feedback_file(course: Path, graded: dict, plain: dict
                                                                      ) -> None:
    """a-noisy prints where torch and the grader's Python are; e-folder's error names the server's path of its
    notebook. Neither the course directory, the project nor the Python environment shows in feedback."""
    assert (course / "feedback" / "e-folder" / ASSIGNMENT / "grading-status.txt").exists()
    servers = {str(course), os.path.realpath(course), str(ROOT), sys.prefix}
    for file in [*(course / "feedback").rglob("*"), *(course / "feedback-of-grade").rglob("*")]:
        if file.is_file():
            text = file.read_text(encoding="utf-8", errors="replace")
            assert [s for s in servers if s in text] == [], f"{file.relative_to(course)} names a server folder"
    assert "<python>" in html.unescape(page(course, "a-noisy")), "the path the student printed, without the folder"


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory):
    from test_browser import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


OVERFLOWING_JS = """() => {
  const wide = (el) => el.scrollWidth > el.clientWidth + 1;
  const page = document.documentElement;
  return {page: wide(page) ? [page.scrollWidth, page.clientWidth] : null,
          blocks: Array.from(document.querySelectorAll("pre, div.output_subarea, div.input_area")).filter(wide)
                       .map((el) => el.textContent.slice(0, 60))};
}"""


@pytest.mark.browser
@pytest.mark.parametrize("student", ["b-stub", "c-long"])
def test_the_page_works_offline_in_a_browser_and_keeps_long_lines_inside(course: Path, graded: dict, chromium,
                                                                          student: str) -> None:
    """Opened from the file, as a student opens it: no request but the page itself, no script error, every formula
    typeset by MathJax, and no line (a long hint, a long output) wider than the page."""
    file = course / "feedback" / student / ASSIGNMENT / NOTEBOOK
    browser_page = chromium.new_page(viewport={"width": 900, "height": 800})
    requests, problems = [], []
    browser_page.on("request", lambda request: requests.append(request.url))
    browser_page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    browser_page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    try:
        browser_page.goto(file.as_uri(), wait_until="load")
        browser_page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                       timeout=10_000)
        browser_page.evaluate("() => MathJax.startup.promise.then(() => true)")
        typeset = browser_page.locator("div.text_cell_render mjx-container").count()
        errors = browser_page.locator("mjx-merror").count()
        untypeset = browser_page.evaluate(
            r"""() => Array.from(document.querySelectorAll("div.text_cell_render"))
                .filter((el) => /\$[^$\s][^$]*\$/.test(el.textContent)).map((el) => el.textContent.slice(0, 80))""")
        overflowing = browser_page.evaluate(OVERFLOWING_JS)
    finally:
        browser_page.close()
    assert [url for url in requests if url != file.as_uri() and not url.startswith("data:")] == []
    assert problems == []
    assert typeset >= 5 and errors == 0 and untypeset == []
    assert overflowing == {"page": None, "blocks": []}
