"""What a student's feedback shows, and what it may not.

nbgrader's ``GenerateFeedback`` turns each autograded notebook into one HTML page, with the preprocessors and the
template that ``autograder/nbgrader_config.py`` names:

- hidden tests are removed by nbgrader's own ``ClearHiddenTests``; :class:`StudentFacingErrors` removes the rest of
  what would show them: the traceback of a failed test quotes the lines around the failing call. It keeps the
  error's name and message, which the checks in :mod:`lossutils.grading.checks` write for the student;
- :class:`WithoutServerPaths` takes the grading machine's folders (the course directory, the grader's Python and
  project) out of the outputs: a path the student's code printed, or a warning's location, shows as ``<course>``,
  ``<python>``, ``<grader>``;
- :class:`TestCellHeadings` names each test cell by what it checks, and marks the cells of a function that still
  raises ``NotImplementedError`` as not attempted;
- the template ``autograder/templates/feedback/course_feedback.html.j2`` (on nbgrader's ``feedback``) shows those
  headings in the page and its table of contents, wraps long lines inside the page, and inlines MathJax from the
  course's own copy (:func:`mathjax_source`): nbgrader releases only the HTML file of each notebook to the student,
  so the page is one file that needs no network.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import re
import sys
from pathlib import Path

import markupsafe
from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode, default

__all__ = [
    "MATHJAX_BUNDLE",
    "StudentFacingErrors",
    "TestCellHeadings",
    "WithoutServerPaths",
    "cell_heading",
    "mathjax_source",
    "without_server_paths",
]

#: The MathJax file the feedback template inlines (``mathjax.html.j2``): SVG output draws its glyphs itself, so no
#: web font is fetched, and the full bundle holds every TeX extension, so none is loaded on demand.
MATHJAX_BUNDLE = "tex-svg-full.js"
_PROJECT = Path(__file__).resolve().parent.parent
_NOT_IMPLEMENTED = "NotImplementedError"


class StudentFacingErrors(NbGraderPreprocessor):
    """Replace every error traceback with its one-line ``ename: evalue`` summary."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


def _is_test_cell(cell: NotebookNode) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def cell_heading(cell: NotebookNode) -> str:
    """What a test cell checks: the first line of the docstring it opens with, else its grade id.

    Examples:
        >>> from nbformat.v4 import new_code_cell
        >>> cell = new_code_cell('\"\"\"mse_loss: values.\\n\\nMore.\"\"\"\\nassert True',
        ...                      metadata={"nbgrader": {"grade": True, "grade_id": "test_mse_loss_values"}})
        >>> cell_heading(cell)
        'mse_loss: values.'
        >>> cell_heading(new_code_cell("assert True", metadata=cell.metadata))
        'test_mse_loss_values'
    """
    try:
        docstring = ast.get_docstring(ast.parse(cell.get("source", "")))
    except SyntaxError:
        docstring = None
    first = docstring.strip().splitlines()[0].strip() if docstring and docstring.strip() else ""
    return first or str(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "test cell"))


class TestCellHeadings(NbGraderPreprocessor):
    """Give every test cell ``metadata.feedback``: its ``heading`` (:func:`cell_heading`) and whether the
    function it tests was ``not_attempted`` (the cell failed with ``NotImplementedError``, the error of the
    released stub). The feedback template reads them; nothing else keeps them."""

    __test__ = False  # not a pytest class, whatever its name

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        if _is_test_cell(cell):
            not_attempted = any(o.get("output_type") == "error" and o.get("ename") == _NOT_IMPLEMENTED
                                for o in cell.get("outputs", []))
            cell.metadata["feedback"] = {"heading": cell_heading(cell), "not_attempted": not_attempted}
        return cell, resources


def server_paths(course_root: Path) -> dict[str, str]:
    """The grading machine's folders that may show in a student's outputs, each with the word that replaces it:
    the course directory, the grader's virtual environment (the sandbox sees it, at the same path) and the
    project. The system's Python (``/usr``) is no folder of the grading machine's own."""
    python = {sys.prefix, os.path.realpath(sys.prefix)} - {sys.base_prefix, os.path.realpath(sys.base_prefix)}
    paths = {str(course_root): "<course>", os.path.realpath(course_root): "<course>",
             **dict.fromkeys(python, "<python>"), str(_PROJECT): "<grader>"}
    return {path: word for path, word in paths.items() if path and path != os.sep}


def without_server_paths(text: str, course_root: Path) -> str:
    """``text`` with every folder of :func:`server_paths` replaced by its word, longest first.

    Examples:
        >>> without_server_paths("saved to /srv/course/submitted/ana/x.txt", Path("/srv/course"))
        'saved to <course>/submitted/ana/x.txt'
        >>> without_server_paths("/srv/courses is another folder", Path("/srv/course"))
        '/srv/courses is another folder'
    """
    for path, word in sorted(server_paths(course_root).items(), key=lambda item: -len(item[0])):
        text = re.sub(re.escape(path) + r"(?![\w.-])", word, text)
    return text


class WithoutServerPaths(NbGraderPreprocessor):
    """Take the grading machine's folders out of every output (:func:`without_server_paths`)."""

    course_root = Unicode(help="The course directory (default: nbgrader's CourseDirectory.root, else the current "
                               "folder).").tag(config=True)

    @default("course_root")
    def _course_root(self) -> str:
        return str(self.config.get("CourseDirectory", {}).get("root", os.getcwd()))

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        root = Path(self.course_root).resolve()
        for output in cell.get("outputs", []):
            for key in ("text", "ename", "evalue"):
                if isinstance(output.get(key), str):
                    output[key] = without_server_paths(output[key], root)
            if isinstance(output.get("traceback"), list):
                output["traceback"] = [without_server_paths(str(line), root) for line in output["traceback"]]
            data = output.get("data")
            if isinstance(data, dict):
                for mime, value in data.items():
                    if isinstance(value, str) and mime.startswith("text/"):
                        data[mime] = without_server_paths(value, root)
        return cell, resources


def _mathjax_dir() -> Path:
    """MathJax 3's ``es5/`` folder in the ``django-static-mathjax`` package (the copy the book serves too)."""
    spec = importlib.util.find_spec("mathjax")
    for location in (spec.submodule_search_locations or []) if spec else []:
        es5 = Path(location) / "static" / "mathjax" / "es5"
        if es5.is_dir():
            return es5
    raise FileNotFoundError("MathJax is not installed: `pip install django-static-mathjax` (requirements.txt has it)")


@functools.cache
def mathjax_source(bundle: str) -> markupsafe.Markup:
    """The text of one of MathJax's combined files (``tex-svg-full.js``), to inline in a ``<script>`` element.

    A Jinja filter of the feedback template (``HTMLExporter.filters``).

    Raises:
        FileNotFoundError: MathJax, or that file, is not installed.
        ValueError: the file holds ``</script``, which would end the element early.
    """
    text = (_mathjax_dir() / bundle).read_text(encoding="utf-8")
    if "</script" in text.lower():
        raise ValueError(f"MathJax's {bundle} holds '</script' and cannot be inlined")
    return markupsafe.Markup(text)  # noqa: S704 - MathJax's own code, checked above
