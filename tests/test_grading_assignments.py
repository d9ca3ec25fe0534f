"""Every assignment through release -> submission -> grade -> gradebook -> CSV, with the submissions of
``tests/submissions/<assignment>.py``: the instructor's solution earns full marks, every other correct way of
writing a function earns full marks, each common mistake loses points on its own function's cells and nowhere
else, and a notebook whose functions call the torch built-ins earns nothing.

One test class per assignment: ``pytest -n 2 --dist loadscope`` grades each batch once, in one worker, while the
other worker grades another.
"""

from __future__ import annotations

import csv
import importlib
from pathlib import Path
from types import ModuleType

import pytest
from conftest import autograder, points_per_function, submit, with_solutions

from autograder.course import assignment_names

pytestmark = pytest.mark.slow


def alternative_batches(alternatives: dict[str, tuple[str, str]]) -> list[dict[str, str]]:
    """Pack the correct alternatives into as few notebooks as possible: the k-th notebook holds the k-th
    alternative of every function. Every function of a notebook must still earn full marks, so each alternative
    is proven on its own function's cells.

    Examples:
        >>> alternative_batches({"a": ("f", "1"), "b": ("f", "2"), "c": ("g", "3")})
        [{'f': '1', 'g': '3'}, {'f': '2'}]
    """
    batches: list[dict[str, str]] = []
    for function, source in alternatives.values():
        batch = next((b for b in batches if function not in b), None)
        if batch is None:
            batches.append(batch := {})
        batch[function] = source
    return batches


@pytest.fixture(scope="class")
def module(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(f"submissions.{request.cls.assignment}")


@pytest.fixture(scope="class")
def points(request: pytest.FixtureRequest) -> dict[str, float]:
    return points_per_function(request.cls.assignment)


@pytest.fixture(scope="class")
def rows(request: pytest.FixtureRequest, module: ModuleType, tmp_path_factory: pytest.TempPathFactory
         ) -> dict[str, dict[str, str]]:
    """Grade the class's batch once; return ``{student: CSV row}``."""
    assignment = request.cls.assignment
    course_dir: Path = tmp_path_factory.mktemp(f"course-{assignment}")
    assert autograder("release", assignment, "--course-dir", str(course_dir)).returncode == 0
    (released,) = (course_dir / "release" / assignment).glob("*.ipynb")
    submit(course_dir, "solution", released, with_solutions(released))
    submit(course_dir, "builtin-callers", released, with_solutions(released, module.BUILTIN_CALLERS))
    for student, (function, source) in module.MISTAKES.items():
        submit(course_dir, student, released, with_solutions(released, {function: source}))
    for k, batch in enumerate(alternative_batches(module.ALTERNATIVES)):
        submit(course_dir, f"alternatives-{k}", released, with_solutions(released, batch))
    grade = autograder("grade", assignment, "--course-dir", str(course_dir))
    assert grade.returncode == 0, grade.stdout + grade.stderr
    output = course_dir / "out.csv"
    export = autograder("export", "--course-dir", str(course_dir), "--output", str(output))
    assert export.returncode == 0, export.stderr
    with output.open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


class _Grading:
    """The grading tests of one assignment; subclasses name it."""

    assignment: str

    @staticmethod
    def scores(row: dict[str, str], points: dict[str, float]) -> dict[str, float]:
        return {f: float(row[f]) for f in points}

    def test_every_function_has_a_mistake_and_a_builtin_caller(self, module, points) -> None:
        without = set(getattr(module, "NO_BUILTIN", ()))
        assert set(module.BUILTIN_CALLERS) | without == set(points), "a built-in caller per function torch has"
        assert {function for function, _ in module.MISTAKES.values()} == set(points), "a mistake per function"

    def test_the_instructor_solution_earns_full_marks(self, rows, points) -> None:
        assert self.scores(rows["solution"], points) == points
        assert float(rows["solution"]["score"]) == float(rows["solution"]["max_score"]) == sum(points.values())

    def test_other_correct_ways_earn_full_marks(self, rows, module, points) -> None:
        batches = alternative_batches(module.ALTERNATIVES)
        assert len(batches) >= 1 or not module.ALTERNATIVES
        for k in range(len(batches)):
            assert self.scores(rows[f"alternatives-{k}"], points) == points, f"alternatives-{k} lost points"

    def test_a_mistake_loses_points_only_on_its_own_function(self, rows, module, points) -> None:
        for student, (function, _) in module.MISTAKES.items():
            scores, expected = self.scores(rows[student], points), dict(points)
            assert scores.pop(function) < expected.pop(function), f"{student} kept every point of {function}"
            assert scores == expected, f"{student} lost points on other functions: {scores}"
            assert rows[student]["status"] == "graded"

    def test_calling_the_torch_builtins_earns_nothing(self, rows, module, points) -> None:
        scores = self.scores(rows["builtin-callers"], points)
        assert {f: scores[f] for f in module.BUILTIN_CALLERS} == dict.fromkeys(module.BUILTIN_CALLERS, 0.0)


for _name in assignment_names():
    globals()[f"TestGrading_{_name}"] = type(f"TestGrading_{_name}", (_Grading,), {"assignment": _name})
