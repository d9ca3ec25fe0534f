"""The course directory and the assignment sources.

The course directory follows nbgrader's layout (``source/``, ``release/``, ``submitted/``, ``autograded/``,
``feedback/``, ``gradebook.db``) with an ``nbgrader_config.py`` beside them (a copy of
``autograder/nbgrader_config.py``), so plain ``nbgrader`` commands run in it work too. The one source of every
assignment is a MyST Markdown notebook under ``autograder/assignments/``; it holds the solutions and the hidden
tests, and nbgrader generates everything else from it. :class:`Course` owns every path of the course directory.
"""

from __future__ import annotations

import difflib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import jupytext

__all__ = [
    "ASSIGNMENTS_DIR",
    "CELL_TIMEOUT",
    "SUBMISSION_TIMEOUT",
    "Course",
    "CourseError",
    "assignment_names",
    "assignment_sources",
]

ASSIGNMENTS_DIR = Path(__file__).resolve().parent / "assignments"
NBGRADER_CONFIG = Path(__file__).resolve().parent / "nbgrader_config.py"
_CONFIG_HEADER = NBGRADER_CONFIG.read_text().splitlines()[0]

#: Seconds a single cell may run before it is interrupted (a loop that never ends scores 0 on that cell).
CELL_TIMEOUT = 30
#: Seconds a whole notebook may run (the cells it does not reach score 0).
SUBMISSION_TIMEOUT = 600


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
        close = difflib.get_close_matches(name, assignment_names(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise CourseError(f"unknown assignment {name!r}; {hint}known: {', '.join(assignment_names()) or 'none'}")
    return sorted((ASSIGNMENTS_DIR / name).glob("*.md"))


@dataclass(frozen=True)
class Course:
    """An nbgrader course directory: every path in it, and its gradebook.

    Args:
        root: The course directory (absolute).
        database: The gradebook's SQLAlchemy URL (nbgrader's ``CourseDirectory.db_url``, e.g.
            ``postgresql+psycopg://user@host/gradebook``); default: ``gradebook.db`` (SQLite) in the course directory.
    """

    root: Path
    database: str | None = None

    @classmethod
    def open(cls, root: Path, *, create: bool = False, db_url: str | None = None) -> Course:
        """The course at ``root``; with ``create``, make it and give it the course's ``nbgrader_config.py``.

        An ``nbgrader_config.py`` written by an earlier version of this tool is replaced; one an instructor wrote
        is kept.

        Raises:
            CourseError: ``root`` is a file, or does not exist and ``create`` is false.
        """
        root = root.resolve()
        if root.exists() and not root.is_dir():
            raise CourseError(f"course directory {root} is a file")
        if not root.exists():
            if not create:
                raise CourseError(f"course directory {root} does not exist (run `release` first)")
            root.mkdir(parents=True)
        course = cls(root, db_url)
        config = course.config_file
        if create and (not config.exists() or _written_by_us(config)):
            shutil.copyfile(NBGRADER_CONFIG, config)
        return course

    @property
    def config_file(self) -> Path:
        return self.root / "nbgrader_config.py"

    @property
    def db_url(self) -> str:
        return self.database or f"sqlite:///{self.root / 'gradebook.db'}"

    @property
    def status_file(self) -> Path:
        return self.root / "autograder-status.json"

    def statuses(self) -> dict[str, dict[str, dict]]:
        """The recorded outcome of every graded submission: ``{assignment: {student: outcome}}``."""
        return json.loads(self.status_file.read_text()) if self.status_file.exists() else {}

    def record_status(self, assignment: str, student: str, outcome: dict | None) -> None:
        """Record (or, with ``None``, forget) a submission's outcome; the file is replaced whole, never half
        written, under a lock: two ``grade`` runs at once on different students keep each other's entries."""
        with self.status_file.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            statuses = self.statuses()
            if outcome is None:
                statuses.get(assignment, {}).pop(student, None)
            else:
                statuses.setdefault(assignment, {})[student] = outcome
            tmp = self.status_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(statuses, indent=2, sort_keys=True) + "\n")
            tmp.replace(self.status_file)

    def source(self, assignment: str) -> Path:
        return self.root / "source" / assignment

    def release(self, assignment: str) -> Path:
        return self.root / "release" / assignment

    def submitted(self, student: str, assignment: str) -> Path:
        return self.root / "submitted" / student / assignment

    def autograded(self, student: str, assignment: str) -> Path:
        return self.root / "autograded" / student / assignment

    def feedback(self, student: str, assignment: str) -> Path:
        return self.root / "feedback" / student / assignment

    def notebooks(self, assignment: str) -> list[str]:
        """The notebook file names of a released assignment.

        Raises:
            CourseError: the assignment has not been released here.
        """
        names = sorted(p.name for p in self.source(assignment).glob("*.ipynb"))
        if not names:
            raise CourseError(f"{assignment} has not been released in {self.root} (run `release {assignment}` "
                              "first)")
        return names

    @contextmanager
    def gradebook(self) -> Iterator[object]:
        """nbgrader's gradebook of this course, opened and closed.

        Opening creates the tables and the course's row when they are missing; on a shared server another grader
        may be creating them at the same moment, and one more try then finds them.
        """
        from nbgrader.api import Gradebook
        from sqlalchemy.exc import IntegrityError, ProgrammingError

        os.environ["PATH"] = _interpreter_path()  # a new gradebook is stamped by the `alembic` command, run by name
        try:
            gradebook = Gradebook(self.db_url)
        except (IntegrityError, ProgrammingError):
            gradebook = Gradebook(self.db_url)
        with gradebook as gb:
            yield gb

    def write_source(self, name: str) -> list[Path]:
        """Convert assignment ``name``'s sources to notebooks in ``source/name/``."""
        out_dir = self.source(name)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for source in assignment_sources(name):
            target = out_dir / f"{source.stem}.ipynb"
            jupytext.write(jupytext.read(source), target, fmt="ipynb")
            written.append(target)
        return written

    def nbgrader(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``nbgrader ARGS`` in the course directory (on this course's gradebook), capturing its output.

        The interpreter's own ``bin`` folder goes first on ``PATH``: nbgrader runs the ``alembic`` command by name.
        """
        database = [f"--CourseDirectory.db_url={self.database}"] if self.database else []
        return subprocess.run(
            [sys.executable, "-m", "nbgrader", *args, *database], cwd=self.root, capture_output=True, text=True,
            timeout=timeout, check=False, env=dict(os.environ, PATH=_interpreter_path()),
        )


def _interpreter_path() -> str:
    """``PATH`` with this interpreter's ``bin`` folder first, where the commands of its packages are."""
    here, path = str(Path(sys.executable).parent), os.environ.get("PATH", "")
    return path if path.split(os.pathsep)[0] == here else os.pathsep.join([here, path])


def _written_by_us(config: Path) -> bool:
    lines = config.read_text().splitlines()
    return bool(lines) and (lines[0] == _CONFIG_HEADER or lines[0].startswith("# Written by `python -m autograder`"))
