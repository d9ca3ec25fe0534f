"""``export`` after the real path: a Canvas download collected with a roster, graded, then exported per function,
for the platform, and through nbgrader's own ``nbgrader export`` with our exporter plugins."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import autograder, submit, with_solutions
from nbgrader.api import Gradebook

from autograder.cli import main
from autograder.export import LMS_COLUMNS, NO_SUBMISSION

pytestmark = pytest.mark.slow

ASSIGNMENT = "loss_family"
ROSTER = """id,name,email,lms_id
jn42,José Núñez,jn@example.org,1234
js7,John Smith,js@example.org,2345
hand,Hana Hand,hh@example.org,
absent,Ines Absent,ia@example.org,3456
"""
CANVAS_NAMES = {"jn42": "núñezjosé_1234_98765_loss_family.ipynb",
                "js7": "smithjohn_LATE_2345_98800_loss_family-1.ipynb"}


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """jn42 and js7 collected from a Canvas download (a solution, a late stub), hand's unreadable notebook put
    there by hand, absent never submitted; all graded. The gradebook also knows an assignment nobody submitted."""
    course = tmp_path_factory.mktemp("course")
    assert autograder("release", ASSIGNMENT, "--course-dir", str(course)).returncode == 0
    released = course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    (course / "roster.csv").write_text(ROSTER, encoding="utf-8")
    download = course.parent / "submissions.zip"
    with zipfile.ZipFile(download, "w") as zf:
        zf.writestr(CANVAS_NAMES["jn42"], nbformat.writes(with_solutions(released)))
        zf.writestr(CANVAS_NAMES["js7"], released.read_text())
    collected = autograder("collect", ASSIGNMENT, str(download), "--course-dir", str(course))
    assert collected.returncode == 0, collected.stdout + collected.stderr
    submit(course, "hand", released, '{"cells": [ not json')
    grade = autograder("grade", ASSIGNMENT, "--course-dir", str(course))
    assert grade.returncode == 1, grade.stdout + grade.stderr  # hand's notebook is not valid
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.update_or_create_assignment("fitting")  # as `nbgrader db assignment add fitting` does
    return course


def export(course: Path, *args: str) -> int:
    return main(["export", "--course-dir", str(course), *args])


def read_csv(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle))


def nbgrader_export(course: Path, exporter: str, to: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "export", f"--exporter=autograder.export.{exporter}", "--to", str(to)],
        cwd=course, capture_output=True, text=True, env=dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}"),
    )
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize(("exporter", "fmt"), [("FunctionGradesExporter", "csv"), ("LmsGradesExporter", "lms")])
def test_nbgrader_export_with_our_exporter_writes_the_same_file_as_export(course: Path, tmp_path: Path,
                                                                          exporter: str, fmt: str) -> None:
    nbgrader_export(course, exporter, tmp_path / "nbgrader.csv")
    assert export(course, "--format", fmt, "--output", str(tmp_path / "ours.csv")) == 0
    assert (tmp_path / "nbgrader.csv").read_bytes() == (tmp_path / "ours.csv").read_bytes()


def test_a_student_of_the_roster_who_submitted_nothing_appears_with_0(course: Path, tmp_path: Path) -> None:
    assert export(course, "--output", str(tmp_path / "grades.csv")) == 0
    rows = {r["student"]: r for r in read_csv(tmp_path / "grades.csv") if r["assignment"] == ASSIGNMENT}
    assert sorted(rows) == ["absent", "hand", "jn42", "js7"]
    absent, solution = rows["absent"], rows["jn42"]
    assert (absent["status"], float(absent["score"])) == (NO_SUBMISSION, 0.0)
    assert absent["max_score"] == solution["max_score"] and float(solution["score"]) == float(solution["max_score"])
    functions = [c for c in absent if c.endswith("_max")]
    assert functions and all(float(absent[c.removesuffix("_max")]) == 0 for c in functions)
    assert all(absent[c] == solution[c] for c in functions), "the maxima of a function are those of the release"
    assert rows["hand"]["status"] == "invalid notebook"


def test_the_platform_file_is_utf8_with_a_byte_order_mark_and_a_column_per_assignment(course: Path, tmp_path: Path
                                                                                      ) -> None:
    assert export(course, "--format", "lms", "--output", str(tmp_path)) == 0
    path = tmp_path / "grades-lms.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    header = next(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert header[:5] == LMS_COLUMNS and sorted(header[5:]) == ["fitting", ASSIGNMENT]
    # Canvas's import: "Student" then "ID" first, "Section" the last student column
    assert header[0] == "Student" and header[1] == "ID" and header[4] == "Section"
    rows = {r["SIS User ID"]: r for r in read_csv(path, "utf-8-sig")}
    assert (rows["jn42"]["Student"], rows["jn42"]["ID"], rows["jn42"]["SIS Login ID"]) == \
        ("José Núñez", "1234", "jn@example.org")
    assert export(course, "--output", str(tmp_path)) == 0
    graded = {r["student"]: r for r in read_csv(tmp_path / "grades.csv") if r["assignment"] == ASSIGNMENT}
    assert float(rows["jn42"][ASSIGNMENT]) == float(graded["jn42"]["score"]) > 0
    assert (rows["absent"][ASSIGNMENT], rows["absent"]["fitting"]) == ("0", "0")


def test_the_platform_id_of_a_student_collected_from_canvas_comes_from_the_download(course: Path, tmp_path: Path
                                                                                   ) -> None:
    """A roster without lms_id (or none at all): Canvas's user id is the one in the downloaded file's name."""
    roster = tmp_path / "names.csv"
    roster.write_text("id,name\njn42,José Núñez\njs7,John Smith\nhand,Hana Hand\n", encoding="utf-8")
    assert export(course, "--format", "lms", "--roster", str(roster), "--output", str(tmp_path)) == 0
    rows = {r["SIS User ID"]: r["ID"] for r in read_csv(tmp_path / "grades-lms.csv", "utf-8-sig")}
    assert rows == {"jn42": "1234", "js7": "2345", "hand": ""}


def test_assignment_picks_the_columns_and_an_assignment_without_grades_is_refused(course: Path, tmp_path: Path,
                                                                                  capsys) -> None:
    output = tmp_path / "one.csv"
    assert export(course, "--format", "lms", "--assignment", ASSIGNMENT, "--output", str(output)) == 0
    header = next(csv.reader(io.StringIO(output.read_text(encoding="utf-8-sig"))))
    assert header[5:] == [ASSIGNMENT]
    capsys.readouterr()
    assert export(course, "--assignment", "fitting", "--output", str(tmp_path / "none.csv")) == 2
    assert "no grades to export" in capsys.readouterr().err
    assert not (tmp_path / "none.csv").exists()


def canvas_ids(file_name: str) -> list[str]:
    """What Canvas's "Re-Upload Submissions" reads from a file name: the user and attachment ids, the first two
    fields of its base name, split at "_", that are all digits."""
    return [part for part in Path(file_name).name.split("_") if part.isdigit()][:2]


def test_the_feedback_zip_names_each_students_files_as_the_platform_takes_them_back(course: Path, tmp_path
                                                                                    ) -> None:
    assert export(course, "--assignment", ASSIGNMENT, "--feedback-zip", "--output", str(tmp_path)) == 0
    with zipfile.ZipFile(tmp_path / f"feedback-{ASSIGNMENT}.zip") as zf:
        names = zf.namelist()
    by_student = {student: [n for n in names if canvas_ids(n) == canvas_ids(download)]
                  for student, download in CANVAS_NAMES.items()}
    assert all(files and all(f.endswith(".html") for f in files) for files in by_student.values()), names
    assert [n for n in names if n.startswith("hand/")] == ["hand/grading-status.txt"], "not collected: a folder"
    assert len(names) == sum(map(len, by_student.values())) + 1, "nothing for absent, nothing else"


def test_a_regrade_of_a_failed_submission_prints_no_sqlalchemy_warning(course: Path) -> None:
    """Regrading replaces the recorded submission: nbgrader's gradebook then makes SQLAlchemy warn, which looks
    like an error to an instructor."""
    result = autograder("grade", ASSIGNMENT, "--student", "hand", "--force", "--course-dir", str(course))
    assert result.returncode == 1 and "invalid notebook" in result.stdout
    assert "Warning" not in result.stderr, result.stderr
