"""The instructor's command line, tried as a new instructor would: a wrong argument gets one line on stderr, exit
status 2 and no traceback, and nothing is written in the course directory."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, autograder

pytestmark = pytest.mark.slow  # a real nbgrader release

ASSIGNMENT = "loss_family"


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course with loss_family released and nothing graded, beside a Canvas-like download and a bad roster."""
    course = tmp_path_factory.mktemp("cli") / "course"
    assert autograder("release", ASSIGNMENT, "--course-dir", str(course)).returncode == 0
    with zipfile.ZipFile(course.parent / "submissions.zip", "w") as zf:
        zf.writestr("nunezjose_1234_98765_loss_family.ipynb", "{}")
    with zipfile.ZipFile(course.parent / "unnamed.zip", "w") as zf:
        zf.writestr("my homework.ipynb", "{}")
    (course.parent / "not-a-zip.zip").write_text("a text file")
    (course.parent / "roster.csv").write_text("student,name\njn42,José Núñez\n")
    (course.parent / "a-file").write_text("not a directory")
    return course


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


BAD = [
    (["release", "fitting", "bogus"], "unknown assignment 'bogus'"),
    (["grade", "loss_famliy"], "did you mean 'loss_family'?"),
    (["grade", ASSIGNMENT, "--timeout", "abc"], "--timeout: must be a whole number, not 'abc'"),
    (["grade", ASSIGNMENT, "--memory-mb", "0"], "--memory-mb: must be between 1 and"),
    (["grade", ASSIGNMENT, "--cpu-seconds", "1e20"], "--cpu-seconds: must be a whole number"),
    (["grade", ASSIGNMENT, "--workers", "0"], "--workers: must be between 1 and"),
    (["grade", ASSIGNMENT, "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "not allowed with"),
    (["export", "--db-url", "::not a url"], "--db-url: not a database URL"),
    (["grade", "fitting"], "fitting has not been released"),
    (["grade", ASSIGNMENT], "no submissions found"),
    (["export"], "no grades to export"),
    (["export", "--assignment", "loss_famly"], "did you mean 'loss_family'?"),
    (["export", "--format", "xlsx"], "argument --format: invalid choice: 'xlsx'"),
    (["export", "--output", "{tmp}/a-file/grades.csv"], "a-file is a file, not a directory"),
    (["collect", ASSIGNMENT, "{tmp}/missing.zip"], "missing.zip does not exist"),
    (["collect", ASSIGNMENT, "{tmp}/not-a-zip.zip"], "is not a zip archive"),
    (["collect", "loss_famly", "{tmp}/submissions.zip"], "did you mean 'loss_family'?"),
    (["collect", ASSIGNMENT, "{tmp}/unnamed.zip"], "no notebook in the archive is named as Canvas or Moodle"),
    (["collect", ASSIGNMENT, "{tmp}/submissions.zip", "--pattern", "(?P<student_id>"], "not a regular expression"),
    (["collect", ASSIGNMENT, "{tmp}/submissions.zip", "--pattern", "(?P<student_id>.+)"], "(?P<file_id>...)"),
    (["collect", ASSIGNMENT, "{tmp}/submissions.zip", "--lms", "canvas", "--pattern", "x"], "not allowed with"),
    (["collect", ASSIGNMENT, "{tmp}/submissions.zip", "--roster", "{tmp}/roster.csv"], "has no 'id' column"),
    (["bogus"], "invalid choice: 'bogus'"),
    ([], "the following arguments are required: COMMAND"),
]


@pytest.mark.parametrize(("argv", "says"), BAD, ids=[" ".join(argv) or "(nothing)" for argv, _ in BAD])
def test_a_wrong_argument_is_told_in_one_line_with_status_2_and_nothing_is_written(
    course: Path, argv: list[str], says: str,
) -> None:
    argv = [a.replace("{tmp}", str(course.parent)) for a in argv]
    if argv and argv[0] != "pages":
        argv += ["--course-dir", str(course)]
    before = snapshot(course.parent)
    result = subprocess.run([sys.executable, "-m", "autograder", *argv], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2, result.stdout + result.stderr
    error = result.stderr.strip().splitlines()
    assert len(error) == 1 and says in error[0], result.stderr
    assert "Traceback" not in result.stderr and "_positive_int" not in result.stderr and "<lambda>" not in error[0]
    assert snapshot(course.parent) == before, "nothing is written"


def test_help_tells_the_workflow_the_course_layout_and_the_exit_statuses_without_markup() -> None:
    result = subprocess.run([sys.executable, "-m", "autograder", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0
    text = result.stdout
    for part in ("workflow:", "release", "collect", "grade", "export", "course directory", "submitted/S/A/",
                 "gradebook.db", "roster.csv", "exit status:", "130"):
        assert part in text, part
    assert "``" not in text and ":mod:" not in text
    assert "  1. release" in text, "the epilog keeps its line breaks (RawDescriptionHelpFormatter)"
