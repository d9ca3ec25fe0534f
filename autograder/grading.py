"""Grade every submission of an assignment, one student at a time, each with a status.

nbgrader does the grading (``nbgrader autograde`` restores the hidden tests, runs the notebook, records the scores
in the gradebook); this module runs it once per student in its own process, so a submission that is not valid
JSON, loops forever or kills its kernel ends with a clear status and a recorded 0 while the batch goes on.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from autograder.course import CELL_TIMEOUT, CourseError, ensure_course_dir, nbgrader

__all__ = ["STATUS_FILE", "Outcome", "generate_feedback", "grade_assignment", "load_statuses"]

STATUS_FILE = "autograder-status.json"

#: Statuses; every one but ``graded`` records a score of 0.
GRADED, TIMED_OUT_CELL = "graded", "graded (a cell timed out)"
INVALID, MISSING, KERNEL_DIED, TIMED_OUT, FAILED = (
    "invalid notebook", "missing notebook", "kernel died", "timed out", "autograde failed"
)


@dataclass
class Outcome:
    """What became of one student's submission.

    Attributes:
        student: The student id (their folder under ``submitted/``).
        status: One of ``graded``, ``graded (a cell timed out)``, ``invalid notebook``, ``missing notebook``,
            ``kernel died``, ``timed out``, ``autograde failed``.
        detail: What went wrong, for the instructor.
        score: Points earned (0 when the submission could not be graded).
        max_score: Points available.
        seconds: Wall-clock time spent on the submission.
    """

    student: str
    status: str
    detail: str
    score: float
    max_score: float
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status in (GRADED, TIMED_OUT_CELL)


def _gradebook(course_dir: Path) -> Gradebook:
    return Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}")


def _expected_notebooks(course_dir: Path, assignment: str) -> list[str]:
    names = sorted(p.name for p in (course_dir / "source" / assignment).glob("*.ipynb"))
    if not names:
        raise CourseError(f"{assignment} has not been released in {course_dir} (run `release {assignment}` first)")
    return names


def _precheck(submission: Path, notebooks: list[str]) -> tuple[str, str] | None:
    """Return ``(status, detail)`` when a notebook is missing or unreadable, before nbgrader sees it."""
    for name in notebooks:
        path = submission / name
        if not path.exists():
            return MISSING, f"{name} is not in {submission}"
        try:
            nbformat.validate(nbformat.read(path, as_version=4))
        except Exception as err:  # noqa: BLE001 - JSON, encoding and schema errors all mean the same to the user
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return INVALID, f"{name} is not a valid notebook: {first[:300]}"
    return None


def _record_zero(course_dir: Path, assignment: str, student: str) -> None:
    """Put the submission in the gradebook with no points, replacing whatever an earlier run left."""
    with _gradebook(course_dir) as gb:
        gb.update_or_create_student(student)
        try:
            gb.remove_submission(assignment, student)
        except MissingEntry:
            pass
    with _gradebook(course_dir) as gb:
        gb.add_submission(assignment, student)


def _scores(course_dir: Path, assignment: str, student: str) -> tuple[float, float]:
    with _gradebook(course_dir) as gb:
        try:
            submission = gb.find_submission(assignment, student)
            return float(submission.score), float(submission.max_score)
        except MissingEntry:
            return 0.0, float(gb.find_assignment(assignment).max_score)


def _timed_out_cells(course_dir: Path, assignment: str, student: str) -> list[str]:
    cells = []
    for path in sorted((course_dir / "autograded" / student / assignment).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
                cells.append(cell.metadata.get("nbgrader", {}).get("grade_id", "?"))
    return cells


def grade_student(
    course_dir: Path, assignment: str, student: str, notebooks: list[str], cell_timeout: int = CELL_TIMEOUT
) -> Outcome:
    """Autograde one student's submission; a submission that cannot be graded gets 0 and a status file as its
    feedback (the feedback of graded ones is generated for the whole batch by :func:`generate_feedback`)."""
    start = time.perf_counter()
    problem = _precheck(course_dir / "submitted" / student / assignment, notebooks)
    if problem is None:
        # A wall-clock limit above nbgrader's per-cell limit: only a kernel that ignores interrupts reaches it.
        budget = cell_timeout * 4 + 120
        try:
            result = nbgrader(course_dir, "autograde", assignment, "--student", student, "--force",
                              f"--Execute.timeout={cell_timeout}", timeout=budget)
            log = result.stdout + result.stderr
            autograded = all((course_dir / "autograded" / student / assignment / n).exists() for n in notebooks)
            if "DeadKernelError" in log or "Kernel died" in log:
                problem = KERNEL_DIED, "the kernel died while running the notebook (os._exit, a crash, or memory)"
            elif result.returncode != 0 or not autograded:
                lines = [line for line in log.splitlines() if "ERROR" in line or "Error" in line]
                problem = FAILED, (lines[-1] if lines else log.strip()[-300:])[:300]
        except subprocess.TimeoutExpired:
            problem = TIMED_OUT, f"grading took longer than {budget} s and was stopped"
    if problem is not None:
        _record_zero(course_dir, assignment, student)
        status, detail = problem
    else:
        timed_out = _timed_out_cells(course_dir, assignment, student)
        status = TIMED_OUT_CELL if timed_out else GRADED
        detail = f"interrupted after {cell_timeout} s: {', '.join(timed_out)}" if timed_out else ""
    score, max_score = _scores(course_dir, assignment, student)
    if problem is not None:
        score = 0.0
        _write_failure_feedback(course_dir, assignment, student, status, detail)
    return Outcome(student, status, detail, score, max_score, round(time.perf_counter() - start, 2))


def _write_failure_feedback(course_dir: Path, assignment: str, student: str, status: str, detail: str) -> None:
    folder = course_dir / "feedback" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grading-status.txt").write_text(
        f"Your submission of {assignment} could not be graded: {status}.\n{detail}\nIt was recorded with 0 points.\n"
    )


def submitted_students(course_dir: Path, assignment: str) -> list[str]:
    """Students with a folder ``submitted/<student>/<assignment>/``."""
    return sorted(p.parent.name for p in (course_dir / "submitted").glob(f"*/{assignment}") if p.is_dir())


def grade_assignment(
    course_dir: Path, assignment: str, students: list[str] | None = None, cell_timeout: int = CELL_TIMEOUT
) -> list[Outcome]:
    """Grade every submission of ``assignment`` (or only ``students``), recording each outcome.

    A cell that runs longer than ``cell_timeout`` seconds is interrupted and scores 0.

    Raises:
        CourseError: the course directory or the release is missing, or there is nothing to grade.
    """
    course_dir = ensure_course_dir(course_dir, create=False)
    notebooks = _expected_notebooks(course_dir, assignment)
    found = submitted_students(course_dir, assignment)
    if students:
        unknown = sorted(set(students) - set(found))
        if unknown:
            raise CourseError(f"no submission of {assignment} from: {', '.join(unknown)}")
        found = [s for s in found if s in students]
    if not found:
        raise CourseError(f"no submissions found under {course_dir}/submitted/*/{assignment}/")
    outcomes = [grade_student(course_dir, assignment, s, notebooks, cell_timeout) for s in found]
    outcomes = generate_feedback(course_dir, assignment, outcomes)
    _save_statuses(course_dir, assignment, outcomes)
    return outcomes


def generate_feedback(course_dir: Path, assignment: str, outcomes: list[Outcome]) -> list[Outcome]:
    """Generate the feedback of every graded submission in one nbgrader run (one process start, instead of one per
    student); if that run fails, fall back to one run per student so the failure is attributed to its student.

    Returns:
        The outcomes, with "feedback could not be generated" added to the detail of each student it failed for.
    """
    graded = {o.student for o in outcomes if o.ok}
    if not graded:
        return outcomes
    others = sorted(set(submitted_students(course_dir, assignment)) - graded)
    exclude = [f"--CourseDirectory.student_id_exclude={','.join(others)}"] if others else []
    if nbgrader(course_dir, "generate_feedback", assignment, "--force", *exclude).returncode == 0:
        return outcomes
    failed = {
        student for student in graded
        if nbgrader(course_dir, "generate_feedback", assignment, "--student", student, "--force").returncode != 0
    }
    note = "feedback could not be generated"
    return [replace(o, detail=f"{o.detail}; {note}" if o.detail else note) if o.student in failed else o
            for o in outcomes]


def _save_statuses(course_dir: Path, assignment: str, outcomes: list[Outcome]) -> None:
    statuses = load_statuses(course_dir)
    statuses.setdefault(assignment, {}).update({o.student: asdict(o) for o in outcomes})
    (course_dir / STATUS_FILE).write_text(json.dumps(statuses, indent=2, sort_keys=True) + "\n")


def load_statuses(course_dir: Path) -> dict[str, dict[str, dict]]:
    """The recorded outcome of every graded submission: ``{assignment: {student: outcome}}``."""
    path = course_dir / STATUS_FILE
    return json.loads(path.read_text()) if path.exists() else {}
