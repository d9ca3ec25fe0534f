"""A whole class at once: every submission of an assignment graded on workers, recorded by one writer.

- **Tasks are pure data.** The assignment's :class:`autograder.shadow.Bundle` (its files and its definition in the
  gradebook) and each student's submitted files go to a worker, which grades them in a shadow course of its own and
  sends back the autograded files, the feedback files and the grades (:mod:`autograder.shadow`). Workers are this
  process (``--workers 1``), the processes of a Dask ``LocalCluster`` (``--workers N``, one thread each) or those of
  an existing Dask cluster (``--scheduler ADDRESS``); each keeps its warm engine from one submission to the next.
- **The client is the gradebook's only writer.** It records each result as it comes, whole or not at all: the
  earlier status is dropped first, the files go into place by renaming a finished folder, the grades go in one
  transaction (keeping an earlier grading's manual scores and comments, as nbgrader does), and the status file is
  written last. So there is no "database is locked", and a crash never leaves a submission partly recorded.
- **Resume.** The status of a submission holds the checksum of its files and of the assignment's bundle: a batch
  run again (after Ctrl-C, a crash or SIGKILL) grades only the submissions not yet recorded for their current
  content, unless ``force``.
- **Ctrl-C.** The first lets the submissions under way finish and be recorded, and starts no other; the second
  stops at once and records nothing more.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from nbgrader.api import Comment, Grade, MissingEntry, Student, SubmittedAssignment, SubmittedNotebook

from autograder import intake, shadow
from autograder.course import CELL_TIMEOUT, SUBMISSION_TIMEOUT, Course, CourseError, assignment_sources
from autograder.grading import Outcome, Stopped
from autograder.sandbox import Limits

__all__ = ["Plan", "grade_assignment", "record"]


@contextmanager
def _on_sigint(handler: Any) -> Iterator[None]:
    """SIGINT handled by ``handler`` (or ignored: ``signal.SIG_IGN``) inside the block; outside the main thread,
    where no handler can be set, nothing changes."""
    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _sigint_ignored() -> Any:
    """Processes started in this block ignore SIGINT: a Ctrl-C on the terminal reaches the whole process group, and
    the workers must finish the submissions under way while the client decides."""
    return _on_sigint(signal.SIG_IGN)


class _Stop:
    """Ctrl-C during a batch: the first finishes the submissions under way and stops; the second stops at once,
    except in the middle of recording a result, which it lets end first."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.requested = self.now = self.recording = False
        self.say = say

    def installed(self) -> Any:
        def handler(signum: int, frame: Any) -> None:
            if self.requested:
                self.now = True
                if not self.recording:
                    raise KeyboardInterrupt
                return
            self.requested = True
            self.say("stopping after the submissions under way (Ctrl-C again to stop now)")

        return _on_sigint(handler)

    @contextmanager
    def recording_one(self) -> Iterator[None]:
        self.recording = True
        try:
            yield
        finally:
            self.recording = False


# ------------------------------------------------------------------------------------------------------ recording
def _place(target: Path, files: dict[str, bytes]) -> None:
    """Replace the folder ``target`` by ``files``: written into a fresh sibling first, then renamed into place, so
    the folder holds either the old files or the new ones (and, after a crash between the two renames, none)."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    for stale in parent.glob(f".{target.name}.*"):  # left by a crash
        shutil.rmtree(stale, ignore_errors=True)
    fresh = parent / f".{target.name}.new-{uuid.uuid4().hex}"
    if files:
        fresh.mkdir()
        shadow.write_files(fresh, files)
    old = parent / f".{target.name}.old-{uuid.uuid4().hex}"
    if target.exists():
        target.rename(old)
    if files:
        fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _new_submission(gb: Any, assignment: str, student: str) -> Any:
    """A submission with the whole structure of the assignment, as nbgrader's ``add_submission`` makes it, not yet
    committed."""
    db = gb.db
    with db.no_autoflush:
        row = db.get(Student, student) or Student(id=student)
        submission = SubmittedAssignment(assignment=gb.find_assignment(assignment), student=row)
        for notebook in submission.assignment.notebooks:
            nb = SubmittedNotebook(notebook=notebook, assignment=submission)
            for cell in notebook.grade_cells:
                Grade(cell=cell, notebook=nb)
            for cell in notebook.solution_cells:
                Comment(cell=cell, notebook=nb)
            for cell in notebook.task_cells:
                Comment(cell=cell, notebook=nb)
                Grade(cell=cell, notebook=nb)
        db.add(submission)
    return submission


def _delete(gb: Any, submission: Any) -> None:
    for nb in submission.notebooks:
        for row in [*nb.grades, *nb.comments]:
            gb.db.delete(row)
        gb.db.delete(nb)
    gb.db.delete(submission)
    gb.db.flush()


def _merge(gb: Any, assignment: str, result: shadow.Result) -> tuple[float, float]:
    """Record ``result``'s grades and comments in one transaction; return the submission's score and maximum.

    A submission that was scored keeps the manual scores, extra credit and manual comments of an earlier grading
    (a grade with a manual score is marked for review, as nbgrader's ``SaveAutoGrades`` does); one that could not be
    scored replaces the earlier grading whole.
    """
    try:
        try:
            submission = gb.find_submission(assignment, result.student)
        except MissingEntry:
            submission = None
        if submission is not None and not result.outcome.status.scored:
            _delete(gb, submission)
            submission = None
        if submission is None:
            submission = _new_submission(gb, assignment, result.student)
        recorded = result.submission or {"timestamp": None, "notebooks": {}}
        submission.timestamp = recorded["timestamp"]
        for nb in submission.notebooks:
            got = recorded["notebooks"].get(nb.name, {})
            nb.late_submission_penalty = got.get("late_submission_penalty")
            for grade in nb.grades:
                auto = got.get("grades", {}).get(grade.name, {})
                grade.auto_score = auto.get("auto_score")
                grade.needs_manual_grade = bool(auto.get("needs_manual_grade", True)) or grade.manual_score is not None
            for comment in nb.comments:
                comment.auto_comment = got.get("comments", {}).get(comment.name)
        gb.db.commit()
    except BaseException:
        gb.db.rollback()
        raise
    return float(submission.score), float(submission.max_score)


def record(course: Course, assignment: str, bundle_checksum: str, result: shadow.Result) -> Outcome:
    """Record one result in the course, whole: the status is dropped first and written last, so that a crash in
    between leaves the submission to be graded again. Returns the outcome with the score as recorded (manual
    scores included)."""
    student = result.student
    course.record_status(assignment, student, None)
    _place(course.autograded(student, assignment), result.autograded)
    _place(course.feedback(student, assignment), result.feedback)
    with course.gradebook() as gb:
        score, max_score = _merge(gb, assignment, result)
    outcome = replace(result.outcome, score=score, max_score=max_score)
    course.record_status(assignment, student, {**asdict(outcome), "status": outcome.status.value,
                                               "checksum": result.checksum, "assignment_checksum": bundle_checksum,
                                               "worker": result.worker})
    return outcome


# ------------------------------------------------------------------------------------------------------ planning
def _bundle(course: Course, assignment: str, notebooks: list[str], settings: dict[str, Any]) -> shadow.Bundle:
    files = {"nbgrader_config.py": course.config_file.read_bytes()} if course.config_file.exists() else {}
    for folder in (course.source(assignment), course.release(assignment)):
        prefix = folder.relative_to(course.root).as_posix()
        files.update({f"{prefix}/{name}": data for name, data in shadow.read_files(folder).items()})
    with course.gradebook() as gb:
        try:
            definition = shadow.definition(gb, assignment)
        except MissingEntry:
            raise CourseError(f"{assignment} is not in the gradebook at {_shown(course.db_url)} (run `release "
                              f"{assignment}` with the same --db-url)") from None
    everything = {**files, "\0definition": repr(definition).encode()}
    return shadow.Bundle(assignment, tuple(notebooks), files, definition, settings, shadow.checksum(everything))


def _shown(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class Plan:
    """What a ``grade`` run will do.

    Attributes:
        grade: The students whose submission is graded.
        recorded: The students whose submission is already recorded for its current content (skipped).
    """

    grade: list[str]
    recorded: list[str]


def _plan(course: Course, bundle: shadow.Bundle, students: list[str], force: bool) -> Plan:
    statuses = course.statuses().get(bundle.assignment, {})
    with course.gradebook() as gb:
        in_gradebook = {s.student.id for s in gb.find_assignment(bundle.assignment).submissions}
    recorded = [s for s in students if not force and s in in_gradebook
                and statuses.get(s, {}).get("assignment_checksum") == bundle.checksum
                and statuses.get(s, {}).get("checksum") == _submitted_checksum(course, bundle.assignment, s)]
    return Plan([s for s in students if s not in recorded], recorded)


def _submitted_checksum(course: Course, assignment: str, student: str) -> str:
    """Of what the student submitted for ``assignment``: the files of ``submitted/STUDENT/ASSIGNMENT/`` and those
    directly in ``submitted/STUDENT/`` (where a misplaced notebook is found)."""
    folder = course.submitted(student, assignment)
    files = {f"{assignment}/{name}": data for name, data in shadow.read_files(folder).items()}
    files |= {p.name: p.read_bytes() for p in sorted(folder.parent.iterdir()) if p.is_file() and not p.is_symlink()}
    return shadow.checksum(files)


def _task(course: Course, assignment: str, notebooks: list[str], student: str) -> shadow.Task:
    """The student's submission as the intake finds it here: the workers grade the staged copy."""
    with intake.staged(course, student, assignment, notebooks) as staged:
        files = shadow.read_files(staged.root / student / assignment)
        return shadow.Task(student, files, _submitted_checksum(course, assignment, student), tuple(staged.repairs),
                           None if staged.problem is None else (str(staged.problem[0]), staged.problem[1]))


# ------------------------------------------------------------------------------------------------------ workers
class _InProcess:
    """The one worker is this process."""

    def __init__(self, bundle: shadow.Bundle) -> None:
        self.bundle, self.queue = bundle, deque[shadow.Task]()

    def slots(self) -> int:
        return 1

    def submit(self, task: shadow.Task) -> None:
        self.queue.append(task)

    def next(self) -> shadow.Result:
        return shadow.grade_task(self.bundle, self.queue.popleft())

    def close(self) -> None:
        self.queue.clear()


class _Dask:
    """Workers of a Dask cluster: a ``LocalCluster`` of ``workers`` processes, or the cluster at ``scheduler``."""

    def __init__(self, bundle: shadow.Bundle, workers: int, scheduler: str | None) -> None:
        from distributed import Client, LocalCluster, as_completed

        self.cluster = None
        try:
            if scheduler:
                self.client = Client(scheduler, timeout="20s")
            else:
                with _sigint_ignored():
                    self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                host="127.0.0.1", dashboard_address=None,
                                                silence_logs=logging.ERROR)
                self.client = Client(self.cluster)
        except OSError as err:
            self.close()
            raise CourseError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
        self.bundle = self.client.scatter(bundle, broadcast=True, hash=False)
        self.done = as_completed()

    def slots(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def submit(self, task: shadow.Task) -> None:
        self.done.add(self.client.submit(shadow.grade_task, self.bundle, task, pure=False,
                                         key=f"grade-{task.student}-{uuid.uuid4().hex}"))

    def next(self) -> shadow.Result:
        return next(self.done).result()

    def close(self) -> None:
        client, cluster = getattr(self, "client", None), self.cluster
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _workers(requested: int | None) -> int:
    return requested or len(os.sched_getaffinity(0))


# ------------------------------------------------------------------------------------------------------ the batch
def grade_assignment(
    course_dir: Path, assignment: str, students: list[str] | None = None, cell_timeout: int = CELL_TIMEOUT, *,
    limits: Limits | None = None, isolate: bool = True, submission_timeout: int = SUBMISSION_TIMEOUT,
    workers: int | None = None, scheduler: str | None = None, db_url: str | None = None, force: bool = False,
    on_plan: Callable[[Plan], None] | None = None, on_outcome: Callable[[Outcome], None] | None = None,
    say: Callable[[str], None] = print,
) -> list[Outcome]:
    """Grade the submissions of ``assignment`` (or only ``students``) not yet recorded for their current content,
    recording each outcome as it comes.

    A cell that runs longer than ``cell_timeout`` seconds is interrupted and scores 0. The first Ctrl-C lets the
    submissions under way finish and stops (:class:`autograder.grading.Stopped`); the outcomes so far are recorded.

    Args:
        course_dir: The course directory.
        assignment: The assignment's name.
        students: Only these students (default: every submission).
        cell_timeout: Seconds per cell.
        submission_timeout: Seconds per notebook in all; the cells it does not reach score 0.
        limits: The sandbox's resource limits (default: :class:`autograder.sandbox.Limits`).
        isolate: Run the student's code in bubblewrap (``False``: ``--no-sandbox``).
        workers: Worker processes on this machine (default: one per core, at most one per submission); with 1,
            this process grades.
        scheduler: The address of an existing Dask scheduler whose workers grade (``workers`` is then ignored).
        db_url: The gradebook's URL (default: SQLite in the course directory).
        force: Grade every submission again, also those recorded for their current content.
        on_plan: Called once with what will be graded and what is skipped, before the first submission.
        on_outcome: Called with each outcome as soon as it is recorded.
        say: Where messages for the instructor go (Ctrl-C).

    Returns:
        The outcomes of the submissions graded by this run, in the order they were recorded.

    Raises:
        CourseError: the course directory or the release is missing, there is nothing to grade, or the Dask
            scheduler cannot be reached.
        autograder.sandbox.SandboxUnavailable: bubblewrap is missing and ``isolate`` is true.
        Stopped: Ctrl-C stopped the batch before its end.
    """
    assignment_sources(assignment)  # an unknown name is told apart from one not released yet
    course = Course.open(course_dir, db_url=db_url)
    notebooks = course.notebooks(assignment)
    found = intake.students(course, assignment, notebooks)
    if students:
        unknown = sorted(set(students) - set(found))
        if unknown:
            raise CourseError(f"no submission of {assignment} from: {', '.join(unknown)}")
        found = [s for s in found if s in students]
    if not found:
        raise CourseError(f"no submissions found under {course.root}/submitted/*/{assignment}/")
    settings = {"timeout": cell_timeout, "submission_timeout": submission_timeout, "isolate": isolate,
                **asdict(limits or Limits())}
    bundle = _bundle(course, assignment, notebooks, settings)
    plan = _plan(course, bundle, found, force)
    if on_plan is not None:
        on_plan(plan)
    if not plan.grade:
        return []
    processes = min(_workers(workers), len(plan.grade))
    queue, running, outcomes = deque(plan.grade), 0, []
    stop, pool = _Stop(say), None
    try:
        with stop.installed():
            try:
                pool = _Dask(bundle, processes, scheduler) if scheduler or processes > 1 else _InProcess(bundle)
                while queue or running:
                    while queue and running < pool.slots() and not stop.requested:
                        pool.submit(_task(course, assignment, notebooks, queue.popleft()))
                        running += 1
                    if not running:
                        break
                    result = pool.next()
                    if stop.now:  # in this process, nbgrader's API swallows the interrupt: the flag tells
                        break
                    running -= 1
                    with stop.recording_one():
                        outcome = record(course, assignment, bundle.checksum, result)
                    outcomes.append(outcome)
                    if on_outcome is not None:
                        on_outcome(outcome)
            except KeyboardInterrupt:  # the second Ctrl-C, anywhere but in the middle of recording
                stop.now = True
            if stop.now and running:
                say("stopped now: the submissions under way were not recorded")
    finally:
        if pool is not None:
            with _sigint_ignored():
                pool.close()
    if len(outcomes) < len(plan.grade):
        raise Stopped(outcomes, len(plan.grade))
    return outcomes
