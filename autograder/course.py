"""The course directory and the assignment sources.

The course directory follows nbgrader's layout (``source/``, ``release/``, ``submitted/``, ``autograded/``,
``feedback/``, ``gradebook.db``) with an ``nbgrader_config.py`` beside them, so plain ``nbgrader`` commands run in
it work too. The one source of every assignment is a MyST Markdown notebook under ``autograder/assignments/``; it
holds the solutions and the hidden tests, and nbgrader generates everything else from it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jupytext

__all__ = [
    "ASSIGNMENTS_DIR",
    "CourseError",
    "assignment_names",
    "assignment_sources",
    "ensure_course_dir",
    "nbgrader",
    "write_source",
]

ASSIGNMENTS_DIR = Path(__file__).resolve().parent / "assignments"

#: Seconds a single cell may run before nbgrader interrupts it (a loop that never ends scores 0 on that cell).
CELL_TIMEOUT = 30

NBGRADER_CONFIG = f'''\
# Written by `python -m autograder`; plain nbgrader commands run in this directory use it too.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "loss-functions"
# A cell that runs longer than this is interrupted and scores 0; the rest of the notebook still runs.
c.Execute.timeout = {CELL_TIMEOUT}
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
# Feedback goes to students: no hidden test, and errors reduced to the message written for them.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402

from autograder.feedback import StudentFacingErrors  # noqa: E402

c.GenerateFeedback.preprocessors = [ClearHiddenTests, StudentFacingErrors, GetGrades, CSSHTMLHeaderPreprocessor]
'''


class CourseError(Exception):
    """A problem with the course directory or an argument, reported to the user without a traceback."""


def assignment_names() -> list[str]:
    """The assignments that have a source under ``autograder/assignments/``, sorted."""
    return sorted(p.name for p in ASSIGNMENTS_DIR.iterdir() if p.is_dir() and any(p.glob("*.md")))


def assignment_sources(name: str) -> list[Path]:
    """The source notebooks (MyST Markdown) of assignment ``name``.

    Raises:
        CourseError: no such assignment.
    """
    if name not in assignment_names():
        raise CourseError(f"unknown assignment {name!r}; known: {', '.join(assignment_names()) or 'none'}")
    return sorted((ASSIGNMENTS_DIR / name).glob("*.md"))


def ensure_course_dir(course_dir: Path, *, create: bool) -> Path:
    """Return the course directory as an absolute path, creating it and its nbgrader config if asked.

    Raises:
        CourseError: the directory does not exist and ``create`` is false, or it is a file.
    """
    course_dir = course_dir.resolve()
    if course_dir.exists() and not course_dir.is_dir():
        raise CourseError(f"course directory {course_dir} is a file")
    if not course_dir.exists():
        if not create:
            raise CourseError(f"course directory {course_dir} does not exist (run `release` first)")
        course_dir.mkdir(parents=True)
    config = course_dir / "nbgrader_config.py"
    if create and not config.exists():
        config.write_text(NBGRADER_CONFIG)
    return course_dir


def write_source(name: str, course_dir: Path) -> list[Path]:
    """Convert assignment ``name``'s sources to notebooks in ``course_dir/source/name/``."""
    out_dir = course_dir / "source" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in assignment_sources(name):
        notebook = jupytext.read(source)
        target = out_dir / f"{source.stem}.ipynb"
        jupytext.write(notebook, target, fmt="ipynb")
        written.append(target)
    return written


def nbgrader(course_dir: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader ARGS`` in the course directory, capturing its output.

    The interpreter's own ``bin`` folder goes first on ``PATH``: nbgrader runs the ``alembic`` command by name.
    Warnings are ignored in nbgrader and in the kernels it starts (``PYTHONWARNINGS``): nbgrader scores any text on
    stderr as a failed test, and a warning is not a mistake.
    """
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, PATH=path, PYTHONWARNINGS="ignore")
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
