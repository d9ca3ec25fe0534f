"""Hidden tests and solutions never reach readers or students: no line of either appears anywhere under _build/,
while the book does show every exercise as the student sees it and offers its notebook for download."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, marked_lines, solution_bodies

from autograder.course import assignment_names

BUILD = ROOT / "_build"
HTML = BUILD / "html"
BINARY = {".png", ".jpg", ".jpeg", ".gif", ".ico", ".woff", ".woff2", ".ttf", ".eot", ".db", ".pickle", ".doctree",
          ".sqlite", ".zip", ".gz"}
#: Lines too generic to mean anything when found: they occur in any Python code, or they are the PyTorch idiom a
#: chapter teaches line by line (the training loop) and its exercise asks the student to put together.
GENERIC = {
    "else:", "return loss", "loss = error", "return loss.mean()", "return loss.sum()", 'if reduction == "mean":',
    'if reduction == "sum":', 'if reduction == "none":', "optimizer.zero_grad()", "loss.backward()",
    "optimizer.step()", "return loss.item()", "super().__init__()",
}



def _views(path: Path) -> list[str]:
    """The text of a build file as a reader could see it: raw, with HTML tags removed, and JSON strings decoded."""
    raw = path.read_text(errors="replace")
    views = [raw]
    if path.suffix in {".html", ".htm", ".js", ".txt"} or "<" in raw:
        views.append(html.unescape(re.sub(r"<[^>]+>", "", raw)))
    if path.suffix in {".ipynb", ".json"}:
        try:
            data = json.loads(raw)
        except ValueError:
            pass
        else:
            views.append("\n".join(_strings(data)))
    return [re.sub(r"[ \t]+", " ", view) for view in views]


def _strings(data: object) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, list):
        return ["".join(data)] if all(isinstance(x, str) for x in data) else [s for x in data for s in _strings(x)]
    if isinstance(data, dict):
        return [s for value in data.values() for s in _strings(value)]
    return []


@pytest.fixture(scope="module")
def build_files() -> list[Path]:
    if not HTML.is_dir():
        pytest.fail("no built book in _build/html: run `make book` first")
    files = [p for p in BUILD.rglob("*") if p.is_file() and p.suffix.lower() not in BINARY]
    assert len(files) > 20
    return files


@pytest.mark.parametrize("kind", ["SOLUTION", "HIDDEN TESTS"])
def test_no_line_of_a_solution_or_hidden_test_is_anywhere_in_the_build(build_files, kind) -> None:
    lines = sorted({re.sub(r"[ \t]+", " ", line) for line in marked_lines(kind)} - GENERIC)
    assert lines, f"the assignments have {kind} lines to look for"
    leaks = []
    for path in build_files:
        for view in _views(path):
            leaks += [f"{path.relative_to(BUILD)}: {line}" for line in lines if line in view]
    assert not leaks, "\n".join(sorted(set(leaks)))


def test_the_search_finds_what_it_looks_for(build_files, tmp_path) -> None:
    """The search above must be able to fail: a solution line in highlighted HTML or a notebook is found."""
    line = marked_lines("SOLUTION")[0]
    page = tmp_path / "page.html"
    page.write_text("<pre>" + "".join(f"<span>{html.escape(w)}</span> " for w in line.split(" ")) + "</pre>")
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps({"cells": [{"source": ["x = 1\n", "    " + line + "\n"]}]}))
    assert any(line in view for view in _views(page))
    assert any(line in view for view in _views(notebook))


def _chapters() -> dict[str, str]:
    """Assignment -> the chapter whose section its exercise page is, from ``_toc.yml``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return {
        Path(section["file"]).name: Path(chapter["file"]).name
        for chapter in toc["chapters"]
        for section in chapter.get("sections", [])
        if section["file"].startswith("book/exercises/")
    }


def test_every_assignment_is_an_exercise_page_of_a_chapter() -> None:
    assert sorted(_chapters()) == assignment_names()


@pytest.mark.parametrize("assignment", assignment_names())
def test_the_book_shows_each_exercise_as_the_student_sees_it(build_files, assignment) -> None:
    page = HTML / "book" / "exercises" / f"{assignment}.html"
    assert page.is_file(), f"the exercise page of {assignment} is built"
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
    bodies = solution_bodies(assignment)
    for function, body in bodies.items():
        def_line = next(line.strip() for line in body.splitlines() if line.lstrip().startswith(("def ", "class ")))
        assert def_line in text, f"the stub of {function} keeps its def line"
    assert text.count("raise NotImplementedError()") >= len(bodies)


@pytest.mark.parametrize("assignment", assignment_names())
def test_the_student_notebook_can_be_downloaded(build_files, assignment) -> None:
    notebooks = [p for p in HTML.rglob("*.ipynb") if p.name == f"{assignment}.ipynb"]
    assert notebooks, "the student notebook is in the built site"
    notebook = json.loads(notebooks[0].read_text())
    graded = [c for c in notebook["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert graded, "the download is the nbgrader release, ready for `nbgrader validate`"
    page = (HTML / "book" / f"{_chapters()[assignment]}.html").read_text()
    assert f'href="exercises/{assignment}.html"' in page, "the chapter links to its exercise page"
    downloads = re.findall(rf'href="(\.\./_downloads/[^"]+/{assignment}\.ipynb)"', page)
    assert downloads, "the chapter offers the student notebook for download"
    assert (HTML / "book" / downloads[0]).resolve().read_text() == notebooks[0].read_text()
