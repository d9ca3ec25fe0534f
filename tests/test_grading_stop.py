"""Ctrl-C during `grade`: the submission under way is finished and recorded, the rest are left untouched, and the
command says how far it got. Gradebook, autograded notebooks, feedback and statuses agree afterwards."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, autograder, submit, with_solutions

from autograder.course import Course

pytestmark = pytest.mark.slow

ASSIGNMENT = "loss_family"
STUDENTS = ["s1", "s2", "s3"]


def test_ctrl_c_finishes_the_submission_under_way_and_stops(tmp_path: Path) -> None:
    assert autograder("release", ASSIGNMENT, "--course-dir", str(tmp_path)).returncode == 0
    (released,) = (tmp_path / "release" / ASSIGNMENT).glob("*.ipynb")
    slow = with_solutions(released)
    slow.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(2)"))  # a scratch cell of the student's
    for student in STUDENTS:
        submit(tmp_path, student, released, slow)
    grade = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert grade.stdout is not None
    first = grade.stdout.readline()
    assert first.startswith("s1"), first
    grade.send_signal(signal.SIGINT)
    rest, errors = grade.communicate(timeout=120)
    assert "Traceback" not in errors, errors
    assert grade.returncode == 130, "stopped by the instructor: the shell convention for Ctrl-C"
    assert "stopped by Ctrl-C after 2 of 3 submissions" in rest, rest
    course = Course(tmp_path.resolve())
    statuses = json.loads(course.status_file.read_text())[ASSIGNMENT]
    assert sorted(statuses) == ["s1", "s2"]
    with course.gradebook() as gb:
        recorded = sorted(s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions)
    assert recorded == ["s1", "s2"]
    assert [s for s in STUDENTS if list(course.feedback(s, ASSIGNMENT).glob("*.html"))] == ["s1", "s2"]
    assert [s for s in STUDENTS if course.autograded(s, ASSIGNMENT).exists()] == ["s1", "s2"]
