"""The gradebook as CSV: one row per student and assignment, a column per graded function.

A test cell's grade id names its function (``test_mse_loss_grad`` belongs to ``mse_loss``, the solution cell's
grade id), so the points of each function are the sum over its test cells. nbgrader's own ``nbgrader export``
gives totals only.
"""

from __future__ import annotations

import csv
from pathlib import Path

from autograder.course import Course
from autograder.grading import load_statuses

__all__ = ["export_grades", "function_of"]


def function_of(grade_id: str, functions: list[str]) -> str | None:
    """The graded function a test cell belongs to: the longest function name ``NAME`` with ``test_NAME`` a prefix.

    Examples:
        >>> function_of("test_smooth_l1_loss_grad", ["l1_loss", "smooth_l1_loss"])
        'smooth_l1_loss'
    """
    matches = [f for f in functions if grade_id == f"test_{f}" or grade_id.startswith(f"test_{f}_")]
    return max(matches, key=len) if matches else None


def export_grades(course_dir: Path, output: Path | None = None, *, db_url: str | None = None) -> Path:
    """Write the grades CSV and return its path (``course_dir/grades.csv`` by default).

    Columns: ``student``, ``assignment``, ``status``, ``review`` (the source lines flagged for review, if any),
    ``score``, ``max_score``, then ``FUNCTION`` and
    ``FUNCTION_max`` for every graded function. ``db_url`` is the gradebook's URL (default: SQLite in the course
    directory).
    """
    course = Course.open(course_dir, db_url=db_url)
    output = output or course.root / "grades.csv"
    statuses = load_statuses(course.root)
    rows: list[dict[str, object]] = []
    functions: list[str] = []
    with course.gradebook() as gb:
        for assignment in gb.assignments:
            solution_ids = [cell.name for nb in assignment.notebooks for cell in nb.solution_cells]
            functions += [f for f in solution_ids if f not in functions]
            for submission in assignment.submissions:
                student = submission.student.id
                recorded = statuses.get(assignment.name, {}).get(student, {})
                row: dict[str, object] = {
                    "student": student,
                    "assignment": assignment.name,
                    "status": recorded.get("status", "graded"),
                    "review": f"flagged for review: {' | '.join(recorded['flags'])}" if recorded.get("flags") else "",
                    "score": submission.score,
                    "max_score": submission.max_score,
                }
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        function = function_of(grade.name, solution_ids)
                        if function is not None:
                            row[function] = float(row.get(function, 0.0)) + float(grade.score or 0.0)
                            key = f"{function}_max"
                            row[key] = float(row.get(key, 0.0)) + float(grade.max_score)
                rows.append(row)
    columns = ["student", "assignment", "status", "review", "score", "max_score"]
    columns += [name for f in functions for name in (f, f"{f}_max")]
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: (str(r["assignment"]), str(r["student"]))))
    return output
