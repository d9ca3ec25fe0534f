"""One submission graded as pure data: an assignment's :class:`Bundle` and a student's :class:`Task` in, a
:class:`Result` out, on whichever worker runs it.

A worker writes the bundle once into a private "shadow" course of its own (a scratch directory with the course's
``nbgrader_config.py``, the assignment's ``source/`` and ``release/`` folders, and a SQLite gradebook holding the
assignment's definition), warms its engine there (the sandbox and nbgrader's API, see :mod:`autograder.engine`), and
keeps it for the next submissions of the same bundle. Each task is then graded by the same per-student grading as
ever (:func:`autograder.grading._grade_student`) inside the shadow course, and what it wrote there (the autograded
files, the feedback files, the grades and comments of the gradebook) comes back as plain data. Nothing of the
shadow course outlives the task: the next one starts from the same state, so a score never depends on the worker.

The worker never touches the real course or its gradebook: the client records every result
(:mod:`autograder.batch`).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field, fields, replace
from pathlib import Path, PurePosixPath
from typing import Any

from nbgrader.api import MissingEntry
from sqlalchemy import Column, inspect
from sqlalchemy.exc import SAWarning

from autograder import engine
from autograder.course import Course
from autograder.grading import Outcome, _api, _grade_staged, _grade_student
from autograder.intake import Intake
from autograder.sandbox import Limits
from autograder.status import Status

__all__ = ["Bundle", "Result", "Task", "checksum", "definition", "grade_task", "read_files"]

_CELL_KINDS = ("grade_cells", "solution_cells", "task_cells", "source_cells")
#: Bundles a worker keeps warm at once (a long-lived worker may serve several assignments in turn).
_KEEP = 4


@dataclass(frozen=True)
class Bundle:
    """Everything a worker needs to grade an assignment, the same for every student.

    Attributes:
        assignment: The assignment's name.
        notebooks: Its notebook file names.
        files: The shadow course's files, by path relative to its root: ``nbgrader_config.py`` and every file of
            ``source/ASSIGNMENT/`` and ``release/ASSIGNMENT/``.
        definition: The gradebook's definition of the assignment (:func:`definition`).
        settings: The engine's settings (``SandboxedExecute``'s traits: time and resource limits, ``isolate``).
        checksum: Of ``files`` and ``definition``: a submission graded against another checksum is graded again.
    """

    assignment: str
    notebooks: tuple[str, ...]
    files: dict[str, bytes]
    definition: dict[str, Any]
    settings: dict[str, Any]
    checksum: str

    @property
    def key(self) -> str:
        """What a worker's warm engine is kept by: the checksum and the settings."""
        return f"{self.checksum}:{json.dumps(self.settings, sort_keys=True)}"


@dataclass(frozen=True)
class Task:
    """One student's submission, as the client's intake found it (:func:`autograder.intake.staged`).

    Attributes:
        student: The student.
        files: The staged files (path relative to ``submitted/STUDENT/ASSIGNMENT/`` -> bytes): each notebook read
            as Jupyter would and written in today's nbformat, and nbgrader's ``timestamp.txt``.
        checksum: Of the files the student submitted, as they are in ``submitted/`` (what a rerun compares).
        repairs: What the intake repaired, for the instructor.
        problem: ``(status, detail)`` when the submission cannot be graded (it is recorded with 0 points).
    """

    student: str
    files: dict[str, bytes]
    checksum: str
    repairs: tuple[str, ...] = ()
    problem: tuple[str, str] | None = None


@dataclass
class Result:
    """What grading one task gave.

    Attributes:
        student: The student.
        checksum: The checksum of the submitted files it graded.
        outcome: The status, scores and flags (:class:`autograder.grading.Outcome`).
        autograded: The files of ``autograded/STUDENT/ASSIGNMENT/`` (path -> bytes).
        feedback: The files of ``feedback/STUDENT/ASSIGNMENT/``.
        submission: The gradebook's record of it: ``timestamp`` and, per notebook, ``late_submission_penalty``,
            ``grades`` (cell -> ``auto_score``, ``needs_manual_grade``) and ``comments`` (cell -> ``auto_comment``).
        worker: The process that graded it: ``HOST:PID``.
    """

    student: str
    checksum: str
    outcome: Outcome
    autograded: dict[str, bytes]
    feedback: dict[str, bytes]
    submission: dict[str, Any] | None
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")


def read_files(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` (path relative to it -> bytes), sorted; symbolic links are not followed:
    nothing outside the folder is read."""
    files = {}
    for parent, _, names in os.walk(folder):  # os.walk follows no link to a directory
        for name in names:
            path = Path(parent, name)
            if path.is_file() and not path.is_symlink():
                files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return dict(sorted(files.items()))


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (relative path -> bytes) under ``folder``.

    Raises:
        ValueError: a path is absolute or leads outside ``folder``.
    """
    for name, data in files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ValueError(f"refusing to write {name!r} outside {folder}")
        target = folder.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def checksum(files: dict[str, bytes]) -> str:
    """SHA-256 of files (path -> bytes): their names and contents, in order of name.

    Examples:
        >>> checksum({"a.ipynb": b"{}"}) == checksum({"a.ipynb": b"{}"}) != checksum({"b.ipynb": b"{}"})
        True
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        digest.update(f"{len(name)}:{name}:{len(data)}:".encode())
        digest.update(data)
    return digest.hexdigest()


def _columns(row: Any) -> dict[str, Any]:
    """A gradebook row's own values: every column of its tables but its ids, foreign keys and polymorphic type
    (not the values nbgrader computes, such as an assignment's ``max_score``)."""
    return {a.key: getattr(row, a.key) for a in inspect(row).mapper.column_attrs
            if all(isinstance(c, Column) for c in a.columns)
            and a.key != "id" and not a.key.endswith("_id") and a.key != "type"}


def definition(gb: Any, assignment: str) -> dict[str, Any]:
    """The gradebook's definition of ``assignment`` (as ``nbgrader generate_assignment`` wrote it): the assignment,
    its notebooks and their grade, solution, task and source cells, each as its column values.

    Raises:
        nbgrader.api.MissingEntry: the assignment is not in the gradebook.
    """
    found = gb.find_assignment(assignment)
    return {
        "assignment": _columns(found),
        "notebooks": [
            # cells in the gradebook's order, which is the notebook's: the intake puts a deleted cell back by it
            {"notebook": _columns(nb), **{kind: [_columns(c) for c in getattr(nb, kind)] for kind in _CELL_KINDS}}
            for nb in sorted(found.notebooks, key=lambda nb: nb.name)
        ],
    }


def _define(gb: Any, definition: dict[str, Any]) -> None:
    """Write an assignment's :func:`definition` into a gradebook."""
    name = definition["assignment"]["name"]
    gb.update_or_create_assignment(**definition["assignment"])
    for nb in definition["notebooks"]:
        gb.update_or_create_notebook(assignment=name, **nb["notebook"])
        for kind in _CELL_KINDS:
            create = getattr(gb, f"update_or_create_{kind[:-1]}")
            for cell in nb[kind]:
                create(notebook=nb["notebook"]["name"], assignment=name, **cell)


def _submission(gb: Any, assignment: str, student: str) -> dict[str, Any] | None:
    """What the autograder recorded of a submission in a gradebook (see :attr:`Result.submission`)."""
    try:
        found = gb.find_submission(assignment, student)
    except MissingEntry:
        return None
    return {"timestamp": found.timestamp, "notebooks": {
        nb.name: {"late_submission_penalty": nb.late_submission_penalty,
                  "grades": {g.name: {"auto_score": g.auto_score, "needs_manual_grade": g.needs_manual_grade}
                             for g in nb.grades},
                  "comments": {c.name: c.auto_comment for c in nb.comments}}
        for nb in found.notebooks}}


def _scratch() -> str | None:
    """Inside a Dask worker, its own scratch directory (Dask removes it with the worker); else the system's."""
    if "distributed" in sys.modules:
        from distributed import get_worker

        try:
            return get_worker().local_directory
        except ValueError:  # not in a worker
            return None
    return None


class _Shadow:
    """A private course holding one bundle, with its warm engine."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.root = Path(tempfile.mkdtemp(prefix="autograder-shadow-", dir=_scratch()))
        try:
            write_files(self.root, bundle.files)
            self.course = Course(self.root)
            with self.course.gradebook() as gb:
                _define(gb, bundle.definition)
            settings = {**bundle.settings, "course_root": str(self.root)}
            limits = Limits(**{f.name: settings[f.name] for f in fields(Limits)})
            sandbox = engine.sandbox_for(limits, settings["isolate"])
            for name in bundle.notebooks:
                engine.warm_up(self.course.source(bundle.assignment) / name, sandbox, timeout=settings["timeout"],
                               output_limit=limits.output_kb * 1024)
            self.api = _api(self.course, settings)
            self.api.coursedir.db_url = self.course.db_url  # the shadow's own, whatever the course's config says
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _clear(self, student: str) -> None:
        assignment = self.bundle.assignment
        for folder in (self.course.submitted(student, assignment), self.course.autograded(student, assignment),
                       self.course.feedback(student, assignment)):
            shutil.rmtree(folder, ignore_errors=True)
        with self.course.gradebook() as gb:
            try:
                gb.remove_submission(assignment, student)
            except MissingEntry:
                pass

    def grade(self, task: Task) -> Result:
        assignment = self.bundle.assignment
        self._clear(task.student)
        try:
            write_files(self.course.submitted(task.student, assignment), task.files)
            with warnings.catch_warnings():
                # nbgrader's gradebook makes SQLAlchemy warn about its own session handling: noise, not the user's
                warnings.simplefilter("ignore", SAWarning)
                notebooks = list(self.bundle.notebooks)
                if task.problem is None:
                    outcome = _grade_student(self.api, self.course, assignment, task.student, notebooks)
                else:
                    found = Intake(self.root, problem=(Status(task.problem[0]), task.problem[1]))
                    outcome = _grade_staged(self.api, self.course, assignment, task.student, notebooks, found,
                                            time.perf_counter())
                outcome = replace(outcome, repairs=[*task.repairs, *outcome.repairs])
                with self.course.gradebook() as gb:
                    submission = _submission(gb, assignment, task.student)
            return Result(task.student, task.checksum, outcome,
                          read_files(self.course.autograded(task.student, assignment)),
                          read_files(self.course.feedback(task.student, assignment)), submission)
        finally:
            self._clear(task.student)


_SHADOWS: OrderedDict[str, _Shadow] = OrderedDict()


@atexit.register
def _close_all() -> None:
    while _SHADOWS:
        _SHADOWS.popitem()[1].close()


def grade_task(bundle: Bundle, task: Task) -> Result:
    """Grade one student's submission of ``bundle``'s assignment in this process's shadow course of the bundle
    (made and warmed up on first use, kept for the next tasks).

    Raises:
        autograder.sandbox.SandboxUnavailable: bubblewrap is missing and the settings ask for it.
    """
    shadow = _SHADOWS.pop(bundle.key, None) or _Shadow(bundle)
    _SHADOWS[bundle.key] = shadow  # the most recently used last
    while len(_SHADOWS) > _KEEP:
        _SHADOWS.popitem(last=False)[1].close()
    return shadow.grade(task)
