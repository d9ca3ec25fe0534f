"""Ctrl-C during `grade`: the submissions under way are finished and recorded, the rest are left untouched, and the
command says how far it got. Gradebook, autograded notebooks, feedback and statuses agree afterwards; in one
process and on workers, which a terminal's Ctrl-C reaches too."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, autograder, group_ended, submit, with_solutions

from autograder.course import Course

pytestmark = pytest.mark.slow

ASSIGNMENT = "loss_family"


def slow_class(course_dir: Path, students: list[str]) -> None:
    """Release the assignment and submit, for each student, the solution with a scratch cell that sleeps 2 s."""
    assert autograder("release", ASSIGNMENT, "--course-dir", str(course_dir)).returncode == 0
    (released,) = (course_dir / "release" / ASSIGNMENT).glob("*.ipynb")
    slow = with_solutions(released)
    slow.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(2)"))  # a scratch cell of the student's
    for student in students:
        submit(course_dir, student, released, slow)


def recorded_everywhere(course_dir: Path, students: list[str]) -> dict[str, list[str]]:
    """The students recorded in each place a grading writes: they must agree."""
    course = Course(course_dir.resolve())
    with course.gradebook() as gb:
        in_gradebook = sorted(s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions)
    return {
        "statuses": sorted(json.loads(course.status_file.read_text())[ASSIGNMENT]),
        "gradebook": in_gradebook,
        "feedback": [s for s in students if list(course.feedback(s, ASSIGNMENT).glob("*.html"))],
        "autograded": [s for s in students if course.autograded(s, ASSIGNMENT).exists()],
    }


def test_ctrl_c_finishes_the_submission_under_way_and_stops(tmp_path: Path) -> None:
    students = ["s1", "s2", "s3"]
    slow_class(tmp_path, students)
    grade = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course-dir", str(tmp_path), "--workers", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert grade.stdout is not None
    first = grade.stdout.readline()
    assert first.startswith("s1"), first
    time.sleep(0.5)  # s2 is under way (its notebook sleeps 2 s)
    grade.send_signal(signal.SIGINT)
    rest, errors = grade.communicate(timeout=120)
    assert "Traceback" not in errors, errors
    assert grade.returncode == 130, "stopped by the instructor: the shell convention for Ctrl-C"
    assert "stopped by Ctrl-C after 2 of 3 submissions" in rest, rest
    assert recorded_everywhere(tmp_path, students) == dict.fromkeys(
        ["statuses", "gradebook", "feedback", "autograded"], ["s1", "s2"])


def test_ctrl_c_on_the_terminal_lets_every_worker_finish_its_submission_and_starts_no_other(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole process group, the workers included: they finish the submissions
    under way, the client records them, starts no other, and leaves no process behind."""
    students = ["s1", "s2", "s3", "s4", "s5", "s6"]
    slow_class(tmp_path, students)
    grade = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course-dir", str(tmp_path), "--workers", "2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    assert grade.stdout is not None
    first = grade.stdout.readline()
    time.sleep(0.5)  # two submissions are under way, one on each worker (each notebook sleeps 2 s)
    os.killpg(grade.pid, signal.SIGINT)
    rest, errors = grade.communicate(timeout=180)
    assert "Traceback" not in errors, errors
    assert grade.returncode == 130, rest + errors
    lines = [line for line in [first, *rest.splitlines()] if re.match(r"s\d ", line)]
    printed = sorted(line.split()[0] for line in lines)
    # one was recorded before Ctrl-C, and both workers' submissions under way then were recorded after it
    assert 3 <= len(printed) < len(students), rest
    assert f"stopped by Ctrl-C after {len(printed)} of {len(students)} submissions" in rest, rest
    assert all(line.split()[1] == "28/28" for line in lines), \
        "a worker interrupted in the middle of a submission would have scored it short"
    assert recorded_everywhere(tmp_path, students) == dict.fromkeys(
        ["statuses", "gradebook", "feedback", "autograded"], printed)
    assert group_ended(grade.pid), "no worker, sandbox or scheduler is left behind"
