"""Resume and idempotence. A batch on two workers is killed with SIGKILL half way: every submission is then
recorded whole or not at all, and the batch run again grades only those not yet recorded. A third run grades
nothing; a changed submission alone is graded again (here on a terminal, with the live progress bar); ``--force``
grades everything again with the same scores and keeps the instructor's manual scores and comments."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, autograder, group_ended, points_per_function, submit, with_solutions

from autograder.course import Course

pytestmark = pytest.mark.slow

ASSIGNMENT = "loss_family"
STUDENTS = [f"s{i}" for i in range(1, 7)]
MISTAKES = {"s2", "s4", "s6"}  # l1_loss computed as the squared error
L1_AS_MSE = """def l1_loss(input, target, reduction="mean"):
    loss = (input - target) ** 2
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()
"""
STUDENT_LINE = re.compile(r"^(s\d) ", re.M)


def grade(course_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return autograder("grade", ASSIGNMENT, "--course-dir", str(course_dir), *args)


def graded_students(output: str) -> list[str]:
    return sorted(STUDENT_LINE.findall(output))


def statuses(course_dir: Path) -> dict[str, dict]:
    return json.loads(Course(course_dir.resolve()).status_file.read_text()).get(ASSIGNMENT, {})


def grades(course_dir: Path) -> dict[str, dict[str, tuple[float | None, float | None]]]:
    """``{student: {grade cell: (auto_score, manual_score)}}``."""
    with Course(course_dir.resolve()).gradebook() as gb:
        return {s.student.id: {g.name: (g.auto_score, g.manual_score) for nb in s.notebooks for g in nb.grades}
                for s in gb.find_assignment(ASSIGNMENT).submissions}


def on_terminal(*args: str) -> tuple[int, str]:
    """Run ``python -m autograder ARGS`` on a pseudo-terminal, as an instructor would; its screen output as text."""
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTY_", "FORCE_", "NO_COLOR"))}
    process = subprocess.Popen([sys.executable, "-m", "autograder", *args], cwd=ROOT, stdin=terminal, stdout=terminal,
                               stderr=terminal, env={**env, "TERM": "xterm-256color"})
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 1 << 16)
        except OSError:  # the terminal is closed when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return process.wait(timeout=60), re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode(errors="replace"))


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course_dir = tmp_path_factory.mktemp("resume")
    assert autograder("release", ASSIGNMENT, "--course-dir", str(course_dir)).returncode == 0
    (released,) = (course_dir / "release" / ASSIGNMENT).glob("*.ipynb")
    for student in STUDENTS:
        notebook = with_solutions(released, {"l1_loss": L1_AS_MSE} if student in MISTAKES else {})
        notebook.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(1)"))  # a scratch cell
        submit(course_dir, student, released, notebook)
    return course_dir


@pytest.fixture(scope="module")
def killed(course_dir: Path) -> dict:
    """A batch on two workers, killed with SIGKILL once two submissions were printed."""
    batch = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course-dir", str(course_dir), "--workers", "2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    assert batch.stdout is not None
    seen = []
    while len(seen) < 2:
        line = batch.stdout.readline()
        assert line, "the batch ended before it was killed"
        seen += STUDENT_LINE.findall(line)
    batch.send_signal(signal.SIGKILL)
    batch.wait()
    survivors = not group_ended(batch.pid)
    if survivors:
        os.killpg(batch.pid, signal.SIGKILL)
    recorded = sorted(statuses(course_dir))
    print(f"\nkilled after {len(recorded)} of {len(STUDENTS)} recorded ({len(seen)} printed)")
    return {"seen": sorted(seen), "recorded": recorded, "survivors": survivors}


@pytest.fixture(scope="module")
def rerun(course_dir: Path, killed: dict) -> subprocess.CompletedProcess[str]:
    result = grade(course_dir, "--workers", "2")
    print(f"\nthe rerun graded {len(graded_students(result.stdout))}: {' '.join(graded_students(result.stdout))}")
    return result


def test_a_killed_batch_leaves_each_submission_recorded_whole_or_not_at_all(course_dir: Path, killed: dict) -> None:
    assert set(killed["seen"]) <= set(killed["recorded"])
    assert len(killed["recorded"]) < len(STUDENTS), "killed half way"
    in_gradebook = grades(course_dir)
    course = Course(course_dir.resolve())
    for student in killed["recorded"]:
        assert student in in_gradebook
        assert list(course.feedback(student, ASSIGNMENT).glob("*.html"))
        assert list(course.autograded(student, ASSIGNMENT).glob("*.ipynb"))


def test_a_killed_batch_leaves_no_worker_behind(killed: dict) -> None:
    assert not killed["survivors"], "the workers and their sandboxes end with the grader"


def test_the_rerun_grades_only_the_submissions_not_yet_recorded(killed: dict, rerun: subprocess.CompletedProcess[str]
                                                                ) -> None:
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    k, n = len(killed["recorded"]), len(STUDENTS)
    assert graded_students(rerun.stdout) == sorted(set(STUDENTS) - set(killed["recorded"]))
    assert f"{k} of {n} submissions already graded for their current content" in rerun.stdout


def test_after_the_rerun_every_submission_has_its_scores(course_dir: Path, rerun: subprocess.CompletedProcess[str]
                                                         ) -> None:
    points = points_per_function(ASSIGNMENT)
    totals = {s: sum(auto for auto, _ in cells.values()) for s, cells in grades(course_dir).items()}
    assert totals == {s: sum(points.values()) - (points["l1_loss"] if s in MISTAKES else 0) for s in STUDENTS}
    assert sorted(statuses(course_dir)) == STUDENTS


def test_a_run_with_nothing_new_grades_nothing(course_dir: Path, rerun: subprocess.CompletedProcess[str]) -> None:
    result = grade(course_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert graded_students(result.stdout) == []
    assert f"{len(STUDENTS)} of {len(STUDENTS)} submissions already graded" in result.stdout


@pytest.fixture(scope="module")
def changed(course_dir: Path, rerun: subprocess.CompletedProcess[str]) -> tuple[int, str]:
    """s2 hands in a corrected notebook; `grade` runs on a terminal."""
    (released,) = (course_dir / "release" / ASSIGNMENT).glob("*.ipynb")
    submit(course_dir, "s2", released, with_solutions(released))
    return on_terminal("grade", ASSIGNMENT, "--course-dir", str(course_dir))


def test_a_changed_submission_alone_is_graded_again(course_dir: Path, changed: tuple[int, str]) -> None:
    status, screen = changed
    assert status == 0, screen
    assert "5 of 6 submissions already graded" in screen
    assert sum(auto for auto, _ in grades(course_dir)["s2"].values()) == sum(points_per_function(ASSIGNMENT).values())


def test_a_terminal_shows_a_live_bar_with_the_count_per_status(changed: tuple[int, str]) -> None:
    _, screen = changed
    assert re.search(r"grading loss_family .*1/1 +graded 1", screen), screen
    assert not STUDENT_LINE.search(screen), "a plain grading is counted on the bar, not printed"


def test_force_grades_everything_again_with_the_same_scores_and_keeps_manual_grades(
    course_dir: Path, changed: tuple[int, str],
) -> None:
    course = Course(course_dir.resolve())
    with course.gradebook() as gb:
        grade_row = gb.find_grade("test_mse_loss_values", ASSIGNMENT, ASSIGNMENT, "s1")
        grade_row.manual_score = 0.5
        comment = gb.find_comment("mse_loss", ASSIGNMENT, ASSIGNMENT, "s1")
        comment.manual_comment = "Write the mean out yourself."
        gb.db.commit()
    before = grades(course_dir)
    result = grade(course_dir, "--force", "--workers", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert graded_students(result.stdout) == STUDENTS
    assert grades(course_dir) == before, "the same auto scores, and the manual score is kept"
    with course.gradebook() as gb:
        assert gb.find_comment("mse_loss", ASSIGNMENT, ASSIGNMENT, "s1").manual_comment == \
            "Write the mean out yourself."
        assert gb.find_grade("test_mse_loss_values", ASSIGNMENT, ASSIGNMENT, "s1").needs_manual_grade
        total = gb.find_submission(ASSIGNMENT, "s1").score
    automatic = before["s1"]["test_mse_loss_values"][0]
    assert total == sum(points_per_function(ASSIGNMENT).values()) - automatic + 0.5, \
        "the manual score counts instead of the automatic one"
