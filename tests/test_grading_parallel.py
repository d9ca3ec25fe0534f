"""A class graded on workers into a shared PostgreSQL gradebook: the same batch graded in one process (SQLite, the
default) and on the two workers of a Dask cluster started with the `dask` command as the README says
(``--scheduler``, PostgreSQL) gets the same score in every cell; two `grade` runs at once on different students
write into one PostgreSQL gradebook; `export` reads it. The servers are real (tests/servers.py)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, autograder, points_per_function, submit, with_solutions
from servers import DaskCluster, PostgreSQL

from autograder.course import Course

pytestmark = pytest.mark.slow

ASSIGNMENT = "loss_family"
L1_AS_MSE = """def l1_loss(input, target, reduction="mean"):
    loss = (input - target) ** 2
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()
"""
BUILTIN = """import torch.nn.functional as F
def mse_loss(input, target, reduction="mean"):
    return F.mse_loss(input, target, reduction=reduction)
"""


def make_class(course_dir: Path, db_url: str | None = None) -> list[str]:
    """Release the assignment (into the gradebook at ``db_url``) and submit the batch; return the students."""
    args = ["--db-url", db_url] if db_url else []
    assert autograder("release", ASSIGNMENT, "--course-dir", str(course_dir), *args).returncode == 0
    (released,) = (course_dir / "release" / ASSIGNMENT).glob("*.ipynb")
    submit(course_dir, "a-solution", released, with_solutions(released))
    submit(course_dir, "b-stub", released, nbformat.read(released, as_version=4))
    submit(course_dir, "c-builtin", released, with_solutions(released, {"mse_loss": BUILTIN}))
    submit(course_dir, "d-l1-mistake", released, with_solutions(released, {"l1_loss": L1_AS_MSE}))
    submit(course_dir, "e-not-json", released, '{"cells": [ this is not json')
    return ["a-solution", "b-stub", "c-builtin", "d-l1-mistake", "e-not-json"]


def cell_scores(course: Course) -> dict[str, dict[str, float]]:
    """``{student: {grade cell: score}}`` from the gradebook."""
    with course.gradebook() as gb:
        return {s.student.id: {g.name: float(g.score) for nb in s.notebooks for g in nb.grades}
                for s in gb.find_assignment(ASSIGNMENT).submissions}


def statuses(course: Course) -> dict[str, dict]:
    return json.loads(course.status_file.read_text())[ASSIGNMENT]


def exported(course_dir: Path, *args: str) -> dict[str, dict[str, str]]:
    output = course_dir / "export.csv"
    result = autograder("export", "--course-dir", str(course_dir), "--output", str(output), *args)
    assert result.returncode == 0, result.stderr
    with output.open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The batch graded in one process, into SQLite in the course directory."""
    course_dir = tmp_path_factory.mktemp("serial")
    students = make_class(course_dir)
    start = time.monotonic()
    grade = autograder("grade", ASSIGNMENT, "--course-dir", str(course_dir), "--workers", "1")
    seconds = time.monotonic() - start
    assert grade.returncode == 1, grade.stdout + grade.stderr  # e-not-json failed
    return {"dir": course_dir, "course": Course(course_dir.resolve()), "students": students, "seconds": seconds}


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskCluster]:
    server = DaskCluster(workers=2).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def parallel(tmp_path_factory: pytest.TempPathFactory, postgres: PostgreSQL, cluster: DaskCluster,
             serial: dict) -> dict:
    """The same batch graded on the cluster's two workers, into PostgreSQL."""
    course_dir = tmp_path_factory.mktemp("parallel")
    db_url = postgres.database("parallel")
    make_class(course_dir, db_url)
    start = time.monotonic()
    grade = autograder("grade", ASSIGNMENT, "--course-dir", str(course_dir), "--db-url", db_url,
                       "--scheduler", cluster.address)
    seconds = time.monotonic() - start
    assert grade.returncode == 1, grade.stdout + grade.stderr
    n = len(serial["students"])
    print(f"\n{n} submissions: {serial['seconds'] / n:.1f} s each in one process, {seconds / n:.1f} s each on two "
          f"workers (start-up included)")
    return {"dir": course_dir, "course": Course(course_dir.resolve(), db_url), "db_url": db_url, "grade": grade}


def test_two_workers_give_the_same_score_in_every_cell_as_one_process(serial: dict, parallel: dict) -> None:
    one, two = cell_scores(serial["course"]), cell_scores(parallel["course"])
    assert sorted(one) == sorted(two) == serial["students"]
    assert two == one
    points = points_per_function(ASSIGNMENT)
    assert sum(one["a-solution"].values()) == sum(points.values()), "the batch has a full-marks submission"
    assert sum(one["d-l1-mistake"].values()) == sum(points.values()) - points["l1_loss"], "and a mistake"
    assert {s: e["status"] for s, e in statuses(parallel["course"]).items()} == \
        {s: e["status"] for s, e in statuses(serial["course"]).items()}


def test_the_cluster_workers_graded_and_the_grader_only_recorded(parallel: dict, cluster: DaskCluster) -> None:
    workers = {int(e["worker"].rsplit(":", 1)[1]) for e in statuses(parallel["course"]).values()}
    assert workers == cluster.worker_pids(), "each of the two workers graded some of the batch"


def test_the_grades_are_in_postgresql_and_nothing_in_the_course_directory(parallel: dict) -> None:
    assert not (parallel["dir"] / "gradebook.db").exists()
    assert parallel["course"].db_url.startswith("postgresql+psycopg://")


def test_export_reads_the_postgresql_gradebook(serial: dict, parallel: dict) -> None:
    from_postgres = exported(parallel["dir"], "--db-url", parallel["db_url"])
    from_sqlite = exported(serial["dir"])
    assert from_postgres == from_sqlite
    assert float(from_postgres["a-solution"]["score"]) == sum(points_per_function(ASSIGNMENT).values())


def test_two_grade_runs_at_once_on_different_students_share_one_gradebook(
    tmp_path: Path, postgres: PostgreSQL, serial: dict,
) -> None:
    db_url = postgres.database("two_runs")
    students = make_class(tmp_path, db_url)
    halves = [students[0::2], students[1::2]]
    runs = [subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course-dir", str(tmp_path), "--db-url", db_url,
         "--workers", "1", *[arg for s in half for arg in ("--student", s)]],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for half in halves]
    finished = [run.communicate(timeout=600) for run in runs]
    for run, (out, err) in zip(runs, finished, strict=True):
        assert run.returncode in (0, 1), out + err
        assert "Traceback" not in err and "locked" not in err, err
    course = Course(tmp_path.resolve(), db_url)
    assert cell_scores(course) == cell_scores(serial["course"])
    assert sorted(statuses(course)) == students, "neither run lost the other's statuses"
    assert sorted(exported(tmp_path, "--db-url", db_url)) == students


def test_a_wrong_database_is_one_line_and_status_2(tmp_path: Path, postgres: PostgreSQL) -> None:
    missing = postgres.database("exists").replace("/exists?", "/missing?")
    result = autograder("export", "--course-dir", str(tmp_path), "--db-url", missing, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: cannot open the gradebook") and "Traceback" not in result.stderr
