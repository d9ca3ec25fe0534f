"""Grade every submission of an assignment, one student after another in one warm process, each with a status.

nbgrader does the bookkeeping (``autograde`` restores the locked cells and hidden tests, checks the checksums,
records the scores in the gradebook; ``generate_feedback`` writes the HTML without hidden tests). It runs in this
process, through nbgrader's own API, with the course's ``nbgrader_config.py``: the student's cells run in a fresh
child of a warm sandbox and the hidden tests here (:mod:`autograder.engine`), so no submission pays for a new
process, kernel or ``import torch``. A submission that is not valid JSON, crashes its process or runs into a limit
ends with a clear status, and the batch goes on.

Every student ends either fully recorded (gradebook, autograded notebook, feedback and status agree) or, when the
batch is stopped in the middle of their submission, not recorded at all.
"""

from __future__ import annotations

import shutil
import signal
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nbgrader.api import MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import temp_attrs
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SAWarning
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from autograder import engine, intake
from autograder.course import CELL_TIMEOUT, SUBMISSION_TIMEOUT, Course, CourseError, assignment_sources
from autograder.feedback import without_server_paths
from autograder.sandbox import Limits
from autograder.status import Status

__all__ = ["Outcome", "Stopped", "grade_assignment", "load_statuses"]


@dataclass
class Outcome:
    """What became of one student's submission.

    Attributes:
        student: The student id (their folder under ``submitted/``).
        status: What became of it (:class:`autograder.status.Status`).
        detail: What went wrong, for the instructor.
        score: Points earned (0 when the submission could not be graded).
        max_score: Points available.
        seconds: Wall-clock time spent on the submission.
        flags: Source lines that reach for the grader (``cell N line L: code — reason``), for review.
        repairs: What was repaired so that it could be graded (:mod:`autograder.intake`).
    """

    student: str
    status: Status
    detail: str
    score: float
    max_score: float
    seconds: float
    flags: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.status.failed

    def line(self, width: int = 0) -> str:
        """One line for the instructor's terminal."""
        text = f"{self.student:<{width}}  {self.score:g}/{self.max_score:g}  {self.seconds:6.1f} s  {self.status}"
        text += f" (repaired: {'; '.join(self.repairs)})" if self.repairs else ""
        text += f": {self.detail}" if self.detail else ""
        if self.flags:
            text += f"; flagged for review: {' | '.join(self.flags)}"
        return text


class Stopped(Exception):
    """Ctrl-C stopped the batch: ``outcomes`` were recorded, out of ``total`` submissions."""

    def __init__(self, outcomes: list[Outcome], total: int) -> None:
        super().__init__(f"stopped by Ctrl-C after {len(outcomes)} of {total} submissions; run `grade` again to "
                         "grade the rest")
        self.outcomes, self.total = outcomes, total


class _Stop:
    """Ctrl-C during a batch: the first finishes the submission under way and stops; the second stops at once."""

    def __init__(self) -> None:
        self.requested = self.now = False

    @contextmanager
    def installed(self) -> Iterator[None]:
        def handler(signum: int, frame: Any) -> None:
            if self.requested:
                self.now = True
                raise KeyboardInterrupt
            self.requested = True
            print("stopping after the submission under way (Ctrl-C again to stop now)", flush=True)

        try:
            previous = signal.signal(signal.SIGINT, handler)
        except ValueError:  # not the main thread
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


@event.listens_for(Engine, "connect")
def _sqlite_write_ahead(connection: Any, record: Any) -> None:
    """SQLite gradebooks in write-ahead mode with ``synchronous=NORMAL``: nbgrader commits once per grade cell,
    and a commit that waits for the disk each time costs more than grading the cell. A crash of the grader still
    leaves the gradebook consistent; only the last commits can be lost to a power cut."""
    if type(connection).__module__.startswith("sqlite3"):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def _api(course: Course, settings: dict[str, Any]) -> NbGraderAPI:
    """nbgrader's API on the course, with its ``nbgrader_config.py`` and the engine's settings on top."""
    config = PyFileConfigLoader(course.config_file.name, path=str(course.root)).load_config() \
        if course.config_file.exists() else Config()
    config.merge(Config({"CourseDirectory": {"root": str(course.root)}, "SandboxedExecute": settings}))
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def _forget(course: Course, student: str, assignment: str) -> None:
    """Remove every trace of an earlier grading of the submission: gradebook entry, autograded copy, feedback."""
    with course.gradebook() as gb:
        try:
            gb.remove_submission(assignment, student)
        except MissingEntry:
            pass
    for folder in (course.autograded(student, assignment), course.feedback(student, assignment)):
        shutil.rmtree(folder, ignore_errors=True)


def _record_zero(course: Course, assignment: str, student: str, status: Status, detail: str) -> None:
    """Record a submission that could not be graded: 0 points, and a note as its feedback."""
    _forget(course, student, assignment)
    with course.gradebook() as gb:
        gb.update_or_create_student(student)
        gb.add_submission(assignment, student)
    folder = course.feedback(student, assignment)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grading-status.txt").write_text(
        f"Your submission of {assignment} could not be graded: {status}.\n{without_server_paths(detail, course.root)}\n"
        "It was recorded with 0 points.\n"
    )


def _scores(course: Course, assignment: str, student: str) -> tuple[float, float]:
    with course.gradebook() as gb:
        try:
            submission = gb.find_submission(assignment, student)
            return float(submission.score), float(submission.max_score)
        except MissingEntry:
            return 0.0, float(gb.find_assignment(assignment).max_score)


def _grade_student(api: NbGraderAPI, course: Course, assignment: str, student: str, notebooks: list[str]
                   ) -> Outcome:
    start = time.perf_counter()
    with intake.staged(course, student, assignment, notebooks) as staged:
        return _grade_staged(api, course, assignment, student, notebooks, staged, start)


def _grade_staged(api: NbGraderAPI, course: Course, assignment: str, student: str, notebooks: list[str],
                  staged: intake.Intake, start: float) -> Outcome:
    """Grade the submission as :func:`autograder.intake.staged` found it: nbgrader reads the staged copy in place of
    ``submitted/``."""
    problem = staged.problem
    reports: list[engine.Report] = []
    if problem is None:
        with temp_attrs(api.coursedir, submitted_directory=str(staged.root)):
            result = api.autograde(assignment, student, force=True, create=True)
        reports = [engine.REPORTS.pop((student, assignment, Path(n).stem), engine.Report()) for n in notebooks]
        staged.repairs += [r for n in notebooks for r in intake.REPAIRS.pop((student, assignment, Path(n).stem), [])]
        if not result.get("success"):
            error = [line for line in str(result.get("error", "")).splitlines() if line.strip()]
            log = [line for line in str(result.get("log", "")).splitlines()
                   if ("ERROR" in line or "Error" in line) and "see the" not in line]
            failure = (error or log or ["nbgrader failed without saying why"])[-1]
            problem = Status.FAILED, intake.without_paths(failure, staged.root, course.root).strip()[:300]
        else:
            shutil.rmtree(course.feedback(student, assignment), ignore_errors=True)
            feedback = api.generate_feedback(assignment, student, force=True)
            if not feedback.get("success"):
                problem = Status.FAILED, "feedback could not be generated"
    if problem is not None:
        status, detail = problem
        _record_zero(course, assignment, student, status, detail)
        score, max_score = 0.0, _scores(course, assignment, student)[1]
    else:
        worst = next((r for r in reports if r.status is not Status.GRADED), reports[0] if reports else None)
        status = worst.status if worst else Status.GRADED
        detail = worst.detail if worst else ""
        score, max_score = _scores(course, assignment, student)
    flags = [f"{flag.cell} line {flag.line}: {flag.code} ({flag.reason})" for r in reports for flag in r.flags]
    return Outcome(student, status, detail, score, max_score, round(time.perf_counter() - start, 2), flags,
                   staged.repairs)


def grade_assignment(
    course_dir: Path, assignment: str, students: list[str] | None = None, cell_timeout: int = CELL_TIMEOUT, *,
    limits: Limits | None = None, isolate: bool = True, submission_timeout: int = SUBMISSION_TIMEOUT,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Grade every submission of ``assignment`` (or only ``students``), recording each outcome.

    A cell that runs longer than ``cell_timeout`` seconds is interrupted and scores 0. The first Ctrl-C lets the
    submission under way finish and stops (:class:`Stopped`); the outcomes so far are recorded.

    Args:
        course_dir: The course directory.
        assignment: The assignment's name.
        students: Only these students (default: every submission).
        cell_timeout: Seconds per cell.
        submission_timeout: Seconds per notebook in all; the cells it does not reach score 0.
        limits: The sandbox's resource limits (default: :class:`autograder.sandbox.Limits`).
        isolate: Run the student's code in bubblewrap (``False``: ``--no-sandbox``).
        on_outcome: Called with each outcome as soon as it is recorded.

    Raises:
        CourseError: the course directory or the release is missing, or there is nothing to grade.
        autograder.sandbox.SandboxUnavailable: bubblewrap is missing and ``isolate`` is true.
        Stopped: Ctrl-C stopped the batch before its end.
    """
    assignment_sources(assignment)  # an unknown name is told apart from one not released yet
    course = Course.open(course_dir)
    notebooks = course.notebooks(assignment)
    found = intake.students(course, assignment, notebooks)
    if students:
        unknown = sorted(set(students) - set(found))
        if unknown:
            raise CourseError(f"no submission of {assignment} from: {', '.join(unknown)}")
        found = [s for s in found if s in students]
    if not found:
        raise CourseError(f"no submissions found under {course.root}/submitted/*/{assignment}/")
    limits = limits or Limits()
    settings = {"timeout": cell_timeout, "submission_timeout": submission_timeout, "isolate": isolate,
                "course_root": str(course.root), **asdict(limits)}
    sandbox = engine.sandbox_for(limits, isolate)  # started before the first submission: a missing tool stops here
    for name in notebooks:
        engine.warm_up(course.source(assignment) / name, sandbox, timeout=cell_timeout,
                       output_limit=limits.output_kb * 1024)
    api = _api(course, settings)
    outcomes: list[Outcome] = []
    stop = _Stop()
    with stop.installed(), warnings.catch_warnings():
        # nbgrader's gradebook makes SQLAlchemy warn about its own session handling: noise, not the user's problem
        warnings.simplefilter("ignore", SAWarning)
        for student in found:
            try:
                outcome = _grade_student(api, course, assignment, student, notebooks)
            except KeyboardInterrupt:
                stop.now = True
            if stop.now:  # nbgrader's API swallows the interrupt: the flag tells
                _forget(course, student, assignment)
                course.record_status(assignment, student, None)
                print(f"stopped: {student} was not recorded", flush=True)
                break
            outcomes.append(outcome)
            course.record_status(assignment, student, {**asdict(outcome), "status": outcome.status.value})
            if on_outcome is not None:
                on_outcome(outcome)
            if stop.requested:
                break
    if len(outcomes) < len(found):
        raise Stopped(outcomes, len(found))
    return outcomes


def load_statuses(course_dir: Path) -> dict[str, dict[str, dict]]:
    """The recorded outcome of every graded submission: ``{assignment: {student: outcome}}``."""
    return Course(Path(course_dir).resolve()).statuses()
