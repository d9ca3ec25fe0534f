"""One wrong implementation per common mistake, graded through release -> grade -> CSV: each loses points on its
own function's cells and nowhere else."""

from __future__ import annotations

import csv

import pytest
from conftest import autograder, points_per_function, submit, with_solutions

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading-mistakes")]

ASSIGNMENT = "loss_family"

REDUCE = """
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
"""

#: student id -> (function, the mistaken cell)
MISTAKES = {
    "zero-one-counts-right-answers": ("zero_one_loss", """import torch
def zero_one_loss(input, target, reduction="mean"):
    loss = (input == target).to(torch.get_default_dtype())""" + REDUCE),
    "zero-one-hard-codes-float32": ("zero_one_loss", """def zero_one_loss(input, target, reduction="mean"):
    loss = (input != target).float()""" + REDUCE),
    "mse-sums-instead-of-averaging": ("mse_loss", """def mse_loss(input, target, reduction="mean"):
    loss = (input - target) ** 2
    return loss if reduction == "none" else loss.sum()
"""),
    "mse-forgets-the-square": ("mse_loss", """def mse_loss(input, target, reduction="mean"):
    loss = (input - target).abs()""" + REDUCE),
    "mse-leaves-torch": ("mse_loss", """import torch
def mse_loss(input, target, reduction="mean"):
    errors = [(a - b) ** 2 for a, b in zip(input.flatten().tolist(), target.flatten().tolist())]
    loss = torch.tensor(errors, dtype=input.dtype).reshape(input.shape)""" + REDUCE),
    "l1-forgets-the-abs": ("l1_loss", """def l1_loss(input, target, reduction="mean"):
    loss = input - target""" + REDUCE),
    "smooth-l1-nan-at-beta-0": ("smooth_l1_loss", """import torch
def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    error = (input - target).abs()
    loss = torch.where(error < beta, 0.5 * error**2 / beta, error - 0.5 * beta)""" + REDUCE),
    "huber-divides-by-delta": ("huber_loss", """import torch
def huber_loss(input, target, reduction="mean", delta=1.0):
    error = (input - target).abs()
    loss = torch.where(error < delta, 0.5 * error**2 / delta, error - 0.5 * delta)""" + REDUCE),
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    course_dir = tmp_path_factory.mktemp("course")
    assert autograder("release", ASSIGNMENT, "--course-dir", str(course_dir)).returncode == 0
    (released,) = (course_dir / "release" / ASSIGNMENT).glob("*.ipynb")
    for student, (function, source) in MISTAKES.items():
        submit(course_dir, student, released, with_solutions(released, {function: source}))
    grade = autograder("grade", ASSIGNMENT, "--course-dir", str(course_dir))
    assert grade.returncode == 0, grade.stdout + grade.stderr
    export = autograder("export", "--course-dir", str(course_dir), "--output", str(course_dir / "out.csv"))
    assert export.returncode == 0, export.stderr
    with (course_dir / "out.csv").open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


@pytest.mark.parametrize("student", sorted(MISTAKES))
def test_a_mistake_loses_points_only_on_its_own_function(rows: dict, student: str) -> None:
    function, _ = MISTAKES[student]
    points = points_per_function(ASSIGNMENT)
    scores = {f: float(rows[student][f]) for f in points}
    assert scores.pop(function) < points.pop(function), f"{student} kept every point of {function}"
    assert scores == points, f"{student} lost points on other functions"
    assert {f: float(rows[student][f"{f}_max"]) for f in points} == points
