"""``collect``: a learning platform's download filed into ``submitted/``, from archives shaped as Canvas and Moodle
name them (built here). Nothing is dropped or overwritten without being said."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import autograder, with_solutions

from autograder.cli import main
from autograder.collect import CANVAS, MOODLE, LmsCollector, collect, origins
from autograder.course import Course
from autograder.roster import Roster, read_roster

pytestmark = pytest.mark.slow  # a real nbgrader release

ASSIGNMENT = "loss_family"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course = tmp_path_factory.mktemp("released")
    assert autograder("release", ASSIGNMENT, "--course-dir", str(course)).returncode == 0
    return course


@pytest.fixture
def course(released: Path, tmp_path: Path) -> Path:
    """A fresh copy of the released course for each test."""
    return Path(shutil.copytree(released, tmp_path / "course"))


@pytest.fixture(scope="module")
def versions(released: Path) -> dict[str, bytes]:
    """Two different notebooks a student could hand in: the untouched stub and a finished one."""
    notebook = released / "release" / ASSIGNMENT / NOTEBOOK
    return {"stub": notebook.read_bytes(), "done": nbformat.writes(with_solutions(notebook)).encode()}


def archive(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def submitted(course: Path, student: str) -> bytes:
    return (course / "submitted" / student / ASSIGNMENT / NOTEBOOK).read_bytes()


def roster(path: Path, rows: str) -> Path:
    path.write_text("id,name,email,lms_id\n" + rows, encoding="utf-8")
    return path


@pytest.mark.parametrize(("platform", "path", "groups"), [
    (CANVAS, "smithjohn_1234_98765_loss_family.ipynb",
     {"name": "smithjohn", "late": None, "student_id": "1234", "attempt": "98765", "file_id": "loss_family.ipynb"}),
    (CANVAS, "núñezjosé_LATE_1234_98766_loss_family-1.ipynb",
     {"name": "núñezjosé", "late": "LATE", "student_id": "1234", "attempt": "98766",
      "file_id": "loss_family-1.ipynb"}),
    (CANVAS, "LATE_anon_x7Kq2_98767_loss_family.ipynb",
     {"name": None, "late": "LATE", "student_id": "anon_x7Kq2", "attempt": "98767", "file_id": "loss_family.ipynb"}),
    (CANVAS, "submissions/o_brien_5_6_my_work.ipynb",
     {"name": "o_brien", "late": None, "student_id": "5", "attempt": "6", "file_id": "my_work.ipynb"}),
    (MOODLE, "José Núñez_50001_assignsubmission_file_/loss_family.ipynb",
     {"name": "José Núñez", "student_id": "50001", "file_id": "loss_family.ipynb"}),
    (MOODLE, "José Núñez_50001_assignsubmission_file_loss_family.ipynb",
     {"name": "José Núñez", "student_id": "50001", "file_id": "loss_family.ipynb"}),
    (MOODLE, "Participant_50002_assignsubmission_file_/work/loss_family.ipynb",
     {"name": "Participant", "student_id": "50002", "file_id": "loss_family.ipynb"}),
])
def test_the_platform_patterns_read_the_names_the_platforms_give(platform, path: str, groups: dict) -> None:
    import re

    assert re.match(platform.pattern, path).groupdict() == groups


def test_a_canvas_download_is_filed_under_each_students_user_id(course: Path, versions, tmp_path: Path) -> None:
    zip_path = archive(tmp_path / "submissions.zip", {
        "núñezjosé_1234_98765_loss_family.ipynb": versions["done"],
        "smithjohn_LATE_2345_98800_loss_family-1.ipynb": versions["stub"],
    })
    result = collect(course, ASSIGNMENT, zip_path)
    assert result.complete and result.platform == "Canvas"
    assert (submitted(course, "1234"), submitted(course, "2345")) == (versions["done"], versions["stub"])
    lines = "\n".join(result.lines(Course.open(course), ASSIGNMENT))
    assert "collected 2345" in lines and "(marked late)" in lines
    assert "loss_family-1.ipynb filed as loss_family.ipynb" in lines


def test_a_moodle_download_is_filed_by_the_roster_under_the_courses_ids(course: Path, versions, tmp_path) -> None:
    """Moodle's number is a participant id of that assignment only: the roster finds the student by name."""
    zip_path = archive(tmp_path / "moodle.zip", {
        "José Núñez_50001_assignsubmission_file_/loss_family.ipynb": versions["done"],
        "Smith, John_50002_assignsubmission_file_loss_family (1).ipynb": versions["stub"],
    })
    class_list = roster(tmp_path / "roster.csv", "jn42,José Núñez,jn@example.org,\njs7,John Smith,js@example.org,\n")
    result = collect(course, ASSIGNMENT, zip_path, roster=class_list)
    assert result.complete and result.platform == "Moodle"
    assert (submitted(course, "jn42"), submitted(course, "js7")) == (versions["done"], versions["stub"])
    # Moodle's feedback upload splits the first part of a path at "_" into name, participant id, plugin type
    prefix = origins(Course.open(course), ASSIGNMENT)["jn42"]["feedback_prefix"]
    assert (prefix + "loss_family.html").split("/")[0].split("_", 4)[1:4] == ["50001", "assignfeedback", "file"]


def test_every_file_not_collected_is_listed_with_its_reason(course: Path, versions, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    zip_path = archive(tmp_path / "submissions.zip", {
        "núñezjosé_1234_98765_loss_family.ipynb": versions["done"],
        "núñezjosé_1234_98766_notes.txt": b"my notes",
        "loss_family.ipynb": versions["stub"],
        "doeann_9999_98767_loss_family.ipynb": versions["stub"],
    })
    class_list = roster(tmp_path / "roster.csv", "jn42,José Núñez,,1234\n")
    status = main(["collect", ASSIGNMENT, str(zip_path), "--roster", str(class_list), "--course-dir", str(course)])
    out = capsys.readouterr().out
    assert status == 1, "something was not collected"
    assert "not collected núñezjosé_1234_98766_notes.txt: not a notebook" in out
    assert "not collected loss_family.ipynb: its name does not fit the pattern of Canvas" in out
    assert "not collected doeann_9999_98767_loss_family.ipynb: not in roster.csv (lms_id '9999'" in out
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["jn42"]


def test_a_later_submission_of_the_same_student_wins_only_with_latest(course: Path, versions, tmp_path) -> None:
    """Canvas's attachment id grows with each upload: 98800 is later than 98700."""
    zip_path = archive(tmp_path / "submissions.zip", {
        "smithjohn_2345_98700_loss_family.ipynb": versions["stub"],
        "smithjohn_LATE_2345_98800_loss_family-1.ipynb": versions["done"],
    })
    result = collect(course, ASSIGNMENT, zip_path)
    assert not result.complete and not (course / "submitted" / "2345").exists()
    (duplicate,) = result.duplicates
    assert duplicate.chosen is None and "pass --latest" in duplicate.line()
    result = collect(course, ASSIGNMENT, zip_path, latest=True)
    assert result.complete and submitted(course, "2345") == versions["done"]


def test_duplicates_whose_names_do_not_say_which_is_later_are_never_settled(course: Path, versions, tmp_path
                                                                            ) -> None:
    zip_path = archive(tmp_path / "hand-in.zip", {"a/jn42.ipynb": versions["stub"], "b/jn42.ipynb": versions["done"]})
    result = collect(course, ASSIGNMENT, zip_path, pattern=r".*/(?P<student_id>[^/]+)\.(?P<file_id>ipynb)$",
                     latest=True)
    assert not result.complete and not (course / "submitted" / "jn42").exists()
    assert "do not say which is later" in result.duplicates[0].line()


def test_a_different_submission_already_in_submitted_is_replaced_only_with_force(course: Path, versions, tmp_path
                                                                                 ) -> None:
    folder = course / "submitted" / "1234" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / NOTEBOOK).write_bytes(versions["stub"])
    zip_path = archive(tmp_path / "submissions.zip", {"núñezjosé_1234_98765_loss_family.ipynb": versions["done"]})
    result = collect(course, ASSIGNMENT, zip_path)
    assert [student for student, _ in result.kept] == ["1234"] and not result.complete
    assert "pass --force to replace it" in "\n".join(result.lines(Course.open(course), ASSIGNMENT))
    assert submitted(course, "1234") == versions["stub"], "kept as it was"
    result = collect(course, ASSIGNMENT, zip_path, force=True)
    assert [(student, what) for student, what, _ in result.filed] == [("1234", "replaced")]
    assert submitted(course, "1234") == versions["done"]
    result = collect(course, ASSIGNMENT, zip_path)
    assert [(student, what) for student, what, _ in result.filed] == [("1234", "unchanged")] and result.complete


def test_a_pattern_with_nbgrader_named_groups_and_a_timestamp(course: Path, versions, tmp_path: Path) -> None:
    """nbgrader's example of ``named_regexp`` (with a timestamp dateutil reads); the later timestamp wins with
    --latest and is recorded in ``timestamp.txt``, where nbgrader reads it for late penalties."""
    pattern = r".*_(?P<student_id>\w+)_attempt_(?P<timestamp>[0-9T]+)_(?P<file_id>\w+)"
    zip_path = archive(tmp_path / "lms.zip", {
        "ps1_bitdiddle_attempt_20160130T150000_loss_family.ipynb": versions["stub"],
        "ps1_bitdiddle_attempt_20160131T093000_loss_family.ipynb": versions["done"],
    })
    result = collect(course, ASSIGNMENT, zip_path, pattern=pattern, latest=True)
    assert result.complete and submitted(course, "bitdiddle") == versions["done"]
    stamp = (course / "submitted" / "bitdiddle" / ASSIGNMENT / "timestamp.txt").read_text()
    assert stamp.startswith("2016-01-31 09:30:00")


def test_the_roster_finds_a_student_by_lms_id_email_or_name_in_either_order(tmp_path: Path) -> None:
    class_list = read_roster(roster(tmp_path / "roster.csv", "jn42,José Núñez,JN@example.org,1234\n"))
    assert isinstance(class_list, Roster)
    for found in (class_list.find(lms_id="1234"), class_list.find(email="jn@example.org"),
                  class_list.find(name="núñezjosé"), class_list.find(name="Núñez, José")):
        assert found.id == "jn42"
    assert "not in roster.csv" in class_list.find(lms_id="99", name="Ann Other")


def test_plain_nbgrader_zip_collect_with_the_canvas_collector_files_the_same(course: Path, versions,
                                                                              tmp_path: Path) -> None:
    """The collector is an nbgrader plugin: ``nbgrader zip_collect --collector=...`` in the course directory
    files a Canvas download where ``collect`` does."""
    assert issubclass(LmsCollector, __import__("nbgrader.plugins").plugins.FileNameCollectorPlugin)
    downloaded = course / "downloaded" / ASSIGNMENT / "archive"
    downloaded.mkdir(parents=True)
    archive(downloaded / "submissions.zip", {"núñezjosé_LATE_1234_98765_loss_family-1.ipynb": versions["done"]})
    bin_dir = str(Path(sys.executable).parent)
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "zip_collect", ASSIGNMENT,
         "--collector=autograder.collect.CanvasCollector"],
        cwd=course, capture_output=True, text=True, env=dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert submitted(course, "1234") == versions["done"]
