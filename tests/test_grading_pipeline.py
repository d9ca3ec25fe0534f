"""release -> submission -> grade -> gradebook -> CSV, through the real command line, for one batch of submissions
that holds the instructor's solution, the untouched stub, a built-in caller and the submissions that break things:
a notebook that is not JSON, a missing notebook, an infinite loop and a dead kernel. The batch must go on."""

from __future__ import annotations

import csv
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import autograder, marked_lines, points_per_function, submit, with_solutions

pytestmark = pytest.mark.slow

ASSIGNMENT = "loss_family"
CELL_TIMEOUT = 5

BUILTIN = """import torch.nn.functional as F
def mse_loss(input, target, reduction="mean"):
    return F.mse_loss(input, target, reduction=reduction)
"""
LOOP = """def mse_loss(input, target, reduction="mean"):
    while True:
        pass
"""
WARNS = """import warnings
def mse_loss(input, target, reduction="mean"):
    warnings.warn("a warning is not a mistake")
    loss = (input - target) ** 2
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()
"""
DEAD = """import os
def l1_loss(input, target, reduction="mean"):
    os._exit(1)
"""


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course_dir = tmp_path_factory.mktemp("course")
    result = autograder("release", ASSIGNMENT, "--course-dir", str(course_dir))
    assert result.returncode == 0, result.stderr
    (released,) = (course_dir / "release" / ASSIGNMENT).glob("*.ipynb")
    submit(course_dir, "a-solution", released, with_solutions(released))
    submit(course_dir, "b-stub", released, nbformat.read(released, as_version=4))
    submit(course_dir, "c-builtin", released, with_solutions(released, {"mse_loss": BUILTIN}))
    submit(course_dir, "d-dead-kernel", released, with_solutions(released, {"l1_loss": DEAD}))
    submit(course_dir, "e-not-json", released, '{"cells": [ this is not json')
    submit(course_dir, "f-loop", released, with_solutions(released, {"mse_loss": LOOP}))
    (course_dir / "submitted" / "g-missing" / ASSIGNMENT).mkdir(parents=True)
    submit(course_dir, "h-solution-again", released, with_solutions(released))
    submit(course_dir, "i-warns", released, with_solutions(released, {"mse_loss": WARNS}))
    submit(course_dir, "j-regraded", released, with_solutions(released))
    return course_dir


@pytest.fixture(scope="module")
def graded(course: Path) -> dict:
    grade = autograder("grade", ASSIGNMENT, "--course-dir", str(course), "--timeout", str(CELL_TIMEOUT))
    export = autograder("export", "--course-dir", str(course))
    assert export.returncode == 0, export.stderr
    with (course / "grades.csv").open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    return {"grade": grade, "rows": rows}


def function_scores(row: dict[str, str]) -> dict[str, float]:
    return {f: float(row[f]) for f in points_per_function(ASSIGNMENT)}


def test_every_submission_gets_a_row_even_when_it_could_not_be_graded(graded: dict) -> None:
    assert sorted(graded["rows"]) == [
        "a-solution", "b-stub", "c-builtin", "d-dead-kernel", "e-not-json", "f-loop", "g-missing",
        "h-solution-again", "i-warns", "j-regraded",
    ]


def test_the_instructor_solution_earns_full_marks(graded: dict) -> None:
    points = points_per_function(ASSIGNMENT)
    for student in ("a-solution", "h-solution-again"):
        row = graded["rows"][student]
        assert row["status"] == "graded"
        assert function_scores(row) == points
        assert float(row["score"]) == float(row["max_score"]) == sum(points.values())


def test_a_warning_on_stderr_costs_nothing(graded: dict) -> None:
    """nbgrader fails a cell that writes to stderr; the engine shows a grade cell's stderr as plain output, so a
    correct function that warns (as torch does for float() of a tensor that requires grad) keeps its points
    (tests/test_feedback.py: print to stderr, logging, warnings turned back on)."""
    row = graded["rows"]["i-warns"]
    assert row["status"] == "graded"
    assert function_scores(row) == points_per_function(ASSIGNMENT)


def test_the_untouched_stub_earns_nothing(graded: dict) -> None:
    row = graded["rows"]["b-stub"]
    assert row["status"] == "graded"
    assert float(row["score"]) == 0


def test_calling_the_torch_builtin_earns_nothing_for_that_function_only(graded: dict) -> None:
    scores = function_scores(graded["rows"]["c-builtin"])
    assert scores.pop("mse_loss") == 0
    assert scores == {f: p for f, p in points_per_function(ASSIGNMENT).items() if f != "mse_loss"}


def test_an_infinite_loop_is_interrupted_and_loses_only_its_function(graded: dict) -> None:
    row = graded["rows"]["f-loop"]
    assert row["status"] == "graded (a cell timed out)"
    scores = function_scores(row)
    assert scores.pop("mse_loss") == 0
    assert scores == {f: p for f, p in points_per_function(ASSIGNMENT).items() if f != "mse_loss"}


@pytest.mark.parametrize(("student", "status"), [("e-not-json", "invalid notebook"), ("g-missing", "missing notebook")])
def test_a_broken_submission_gets_a_clear_status_and_a_recorded_zero(graded: dict, student: str, status: str) -> None:
    row = graded["rows"][student]
    assert row["status"] == status
    assert float(row["score"]) == 0
    assert float(row["max_score"]) == sum(points_per_function(ASSIGNMENT).values())
    line = next(out for out in graded["grade"].stdout.splitlines() if out.startswith(student))
    assert status in line


def test_a_dead_process_keeps_what_finished_and_scores_0_on_the_rest(graded: dict) -> None:
    """l1_loss ends the student's process: the cells before it keep their points, l1_loss and every function after
    it score 0, and the status says why."""
    row = graded["rows"]["d-dead-kernel"]
    assert row["status"] == "kernel died"
    scores, points = function_scores(row), points_per_function(ASSIGNMENT)
    before, after = ("zero_one_loss", "mse_loss"), ("l1_loss", "smooth_l1_loss", "huber_loss")
    assert {f: scores[f] for f in before} == {f: points[f] for f in before}
    assert {f: scores[f] for f in after} == dict.fromkeys(after, 0.0)
    line = next(out for out in graded["grade"].stdout.splitlines() if out.startswith("d-dead-kernel"))
    assert "kernel died" in line


def test_the_grade_command_reports_the_failures_in_its_exit_status(graded: dict) -> None:
    assert graded["grade"].returncode == 1
    assert "10 submissions: 7 graded, 3 failed" in graded["grade"].stdout


def test_a_failed_submission_gets_feedback_saying_why(course: Path, graded: dict) -> None:
    note = (course / "feedback" / "e-not-json" / ASSIGNMENT / "grading-status.txt").read_text()
    assert "invalid notebook" in note and "0 points" in note


def _feedback_text(course: Path, student: str) -> str:
    (page,) = (course / "feedback" / student / ASSIGNMENT).glob("*.html")
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def test_feedback_tells_the_student_what_is_wrong(course: Path, graded: dict) -> None:
    text = _feedback_text(course, "c-builtin")
    assert "calls torch's built-in mse_loss" in text


def test_feedback_shows_no_hidden_test(course: Path, graded: dict) -> None:
    hidden = [line for line in marked_lines("HIDDEN TESTS") if not line.startswith("from lossutils import")]
    assert hidden, "the assignment has hidden tests"
    for student in ("a-solution", "c-builtin", "f-loop"):
        text = _feedback_text(course, student)
        leaked = [line for line in hidden if line in text]
        assert leaked == [], f"hidden tests in {student}'s feedback: {leaked}"


def test_plain_nbgrader_commands_work_in_the_course_directory(course: Path, graded: dict) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "db", "student", "list"], cwd=course, capture_output=True, text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "a-solution" in result.stdout + result.stderr


def test_a_regrade_that_fails_replaces_the_earlier_grading(course: Path, graded: dict) -> None:
    """j-regraded was graded in full; its notebook then breaks: the new grading leaves no trace of the old one."""
    assert list((course / "feedback" / "j-regraded" / ASSIGNMENT).glob("*.html")), "graded once with feedback"
    (released,) = (course / "release" / ASSIGNMENT).glob("*.ipynb")
    submit(course, "j-regraded", released, "not a notebook")
    autograder("grade", ASSIGNMENT, "--course-dir", str(course), "--student", "j-regraded")
    output = course / "regraded.csv"
    autograder("export", "--course-dir", str(course), "--output", str(output))
    with output.open() as handle:
        row = next(r for r in csv.DictReader(handle) if r["student"] == "j-regraded")
    assert (row["status"], float(row["score"])) == ("invalid notebook", 0.0)
    feedback = sorted(p.name for p in (course / "feedback" / "j-regraded" / ASSIGNMENT).iterdir())
    assert feedback == ["grading-status.txt"], "the old feedback, with the old score, is gone"
    assert not (course / "autograded" / "j-regraded" / ASSIGNMENT).exists()


def test_plain_nbgrader_autograde_uses_the_same_engine_and_gives_the_same_scores(course: Path, graded: dict) -> None:
    """The course's nbgrader_config.py sets the engine: a plain `nbgrader autograde` scores the submission that
    warns (and prints to stderr) exactly as `grade` did, and records statuses and flags for `export`."""
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    for student in ("i-warns", "c-builtin", "d-dead-kernel"):
        result = subprocess.run(
            [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--student", student, "--force"],
            cwd=course, capture_output=True, text=True, env=env,
        )
        assert result.returncode == 0, result.stderr[-2000:]
    output = course / "plain.csv"
    autograder("export", "--course-dir", str(course), "--output", str(output))
    with output.open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    for student in ("i-warns", "c-builtin", "d-dead-kernel"):
        assert function_scores(rows[student]) == function_scores(graded["rows"][student])
    dead = rows["d-dead-kernel"]
    assert dead["status"] == "kernel died" and "os._exit" in dead["review"], "statuses and flags are recorded too"
