"""Every assignment through release -> submission -> grade -> gradebook -> CSV, with the submissions of
``tests/submissions/<assignment>.py``: the instructor's solution earns full marks, every other correct way of
writing a function earns full marks, each common mistake loses points on its own function's cells and nowhere
else, and a notebook whose functions call the torch built-ins earns nothing."""

from __future__ import annotations

import csv
import importlib
from pathlib import Path

import pytest
from conftest import autograder, points_per_function, submit, with_solutions

from autograder.course import assignment_names

ASSIGNMENTS = assignment_names()


def _submissions(assignment: str):
    return importlib.import_module(f"submissions.{assignment}")


@pytest.fixture(scope="module", params=[pytest.param(a, marks=pytest.mark.xdist_group(f"grade-{a}")) for a in
                                        ASSIGNMENTS])
def graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """Grade one batch per assignment; return ``(assignment, {student: CSV row})``."""
    assignment = request.param
    module = _submissions(assignment)
    course_dir: Path = tmp_path_factory.mktemp(f"course-{assignment}")
    assert autograder("release", assignment, "--course-dir", str(course_dir)).returncode == 0
    (released,) = (course_dir / "release" / assignment).glob("*.ipynb")
    submit(course_dir, "solution", released, with_solutions(released))
    submit(course_dir, "builtin-callers", released, with_solutions(released, module.BUILTIN_CALLERS))
    for student, (function, source) in {**module.MISTAKES, **module.ALTERNATIVES}.items():
        submit(course_dir, student, released, with_solutions(released, {function: source}))
    grade = autograder("grade", assignment, "--course-dir", str(course_dir))
    assert grade.returncode == 0, grade.stdout + grade.stderr
    output = course_dir / "out.csv"
    export = autograder("export", "--course-dir", str(course_dir), "--output", str(output))
    assert export.returncode == 0, export.stderr
    with output.open() as handle:
        return assignment, {row["student"]: row for row in csv.DictReader(handle)}


def _scores(row: dict[str, str], functions: dict[str, float]) -> dict[str, float]:
    return {f: float(row[f]) for f in functions}


def test_every_function_of_the_assignment_has_submissions(graded: tuple[str, dict]) -> None:
    assignment, _ = graded
    module = _submissions(assignment)
    functions = set(points_per_function(assignment))
    without = set(getattr(module, "NO_BUILTIN", ()))
    assert set(module.BUILTIN_CALLERS) | without == functions, "a built-in caller per function that torch has"
    assert {function for function, _ in module.MISTAKES.values()} == functions, "a common mistake per function"


def test_the_instructor_solution_earns_full_marks(graded: tuple[str, dict]) -> None:
    assignment, rows = graded
    points = points_per_function(assignment)
    assert _scores(rows["solution"], points) == points
    assert float(rows["solution"]["score"]) == float(rows["solution"]["max_score"]) == sum(points.values())


def test_other_correct_ways_earn_full_marks(graded: tuple[str, dict]) -> None:
    assignment, rows = graded
    points = points_per_function(assignment)
    for student in _submissions(assignment).ALTERNATIVES:
        assert _scores(rows[student], points) == points, f"{student} lost points"


def test_a_mistake_loses_points_only_on_its_own_function(graded: tuple[str, dict]) -> None:
    assignment, rows = graded
    points = points_per_function(assignment)
    for student, (function, _) in _submissions(assignment).MISTAKES.items():
        scores, expected = _scores(rows[student], points), dict(points)
        assert scores.pop(function) < expected.pop(function), f"{student} kept every point of {function}"
        assert scores == expected, f"{student} lost points on other functions: {scores}"
        assert rows[student]["status"] == "graded"


def test_calling_the_torch_builtins_earns_nothing(graded: tuple[str, dict]) -> None:
    assignment, rows = graded
    points = points_per_function(assignment)
    assert _scores(rows["builtin-callers"], points) == dict.fromkeys(points, 0.0)
