"""Notebooks as students' tools save them, where students put them.

Each odd notebook is made from one base notebook (the instructor's solutions, with ``huber_loss`` left unattempted so
that an equal score is not just full marks) by a small transform, placed under ``submitted/``, and graded in one
batch through the real command line (release -> submitted -> grade -> gradebook, status file and CSV). Each must
score what the base scores, function by function, with a status that names what was repaired. What cannot be repaired
gets a status naming the student's file, and the batch goes on. Nothing under ``submitted/`` is ever changed.
"""

from __future__ import annotations

import codecs
import copy
import csv
import functools
import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import jupytext
import nbformat
import pytest
from conftest import ASSIGNMENTS, autograder, points_per_function, with_solutions

from autograder.course import Course
from autograder.intake import Unrepairable, read_submission, students
from autograder.status import Status

pytestmark = pytest.mark.slow

ASSIGNMENT = "loss_family"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
WHERE = f"{ASSIGNMENT}/{NOTEBOOK}"
UNATTEMPTED = "huber_loss"
TIMESTAMP = "2024-05-01 10:00:00.000000+00:00"

Notebook = dict


def _grade_id(cell: dict) -> str | None:
    return cell["metadata"].get("nbgrader", {}).get("grade_id")


def _index(nb: Notebook, grade_id: str) -> int:
    return next(i for i, cell in enumerate(nb["cells"]) if _grade_id(cell) == grade_id)


def as_saved(nb: Notebook) -> Notebook:
    return nb


def nbformat_4_4_with_cell_ids(nb: Notebook) -> Notebook:
    """Some tools keep the cell ids and write the older minor (Jupyter opens it; the schema does not allow it)."""
    return {**nb, "nbformat_minor": 4}


def nbformat_4_5_without_cell_ids(nb: Notebook) -> Notebook:
    for cell in nb["cells"]:
        del cell["id"]
    return nb


def nbformat_4_1(nb: Notebook) -> Notebook:
    return {**nbformat_4_5_without_cell_ids(nb), "nbformat_minor": 1}


def own_kernelspec(nb: Notebook) -> Notebook:
    nb["metadata"]["kernelspec"] = {"name": "conda-env-dl-py", "display_name": "Python [conda env:dl]",
                                    "language": "python"}
    return nb


def editor_metadata_and_stale_outputs(nb: Notebook) -> Notebook:
    """What JupyterLab and VS Code save: their metadata, and the outputs of an earlier run, failures and stderr."""
    nb["metadata"]["vscode"] = {"interpreter": {"hash": "0123456789abcdef"}}
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.12.1"}
    for count, cell in enumerate(nb["cells"], 1):
        cell["metadata"]["jupyter"] = {"source_hidden": False, "outputs_hidden": False}
        cell["metadata"]["tags"] = ["scratch"]
        if cell["cell_type"] == "code":
            cell["metadata"]["execution"] = {"iopub.execute_input": "2024-05-01T10:00:00.000Z"}
            cell["metadata"]["vscode"] = {"languageId": "python"}
            cell["execution_count"] = count
            cell["outputs"] = [
                {"output_type": "stream", "name": "stderr", "text": "an old warning\n"},
                {"output_type": "error", "ename": "AssertionError", "evalue": "an old failure", "traceback": []},
            ]
    return nb


def split_solution_cell(nb: Notebook) -> Notebook:
    """JupyterLab's "split cell" in the middle of mse_loss's body: both halves keep the nbgrader metadata, and the
    second half alone does not even compile."""
    at = _index(nb, "mse_loss")
    cell = nb["cells"][at]
    lines = cell["source"]  # as saved: a list of lines
    middle = len(lines) - 2
    first, second = copy.deepcopy(cell), copy.deepcopy(cell)
    first["source"], second["source"] = lines[:middle], lines[middle:]
    second["id"] = "split-second-half"
    with pytest.raises(SyntaxError):
        compile("".join(second["source"]), "second half", "exec")
    nb["cells"][at:at + 1] = [first, second]
    return nb


def grade_cell_as_markdown(nb: Notebook) -> Notebook:
    cell = nb["cells"][_index(nb, "test_mse_loss_grad")]
    cell["cell_type"] = "markdown"
    del cell["outputs"], cell["execution_count"]
    return nb


def deleted_grade_cells(nb: Notebook) -> Notebook:
    """A grade cell of a correct function deleted (its point must come back), and the unattempted function's solution
    cell deleted with its first grade cell (put back, that one must still score 0)."""
    gone = {"test_mse_loss_grad", UNATTEMPTED, f"test_{UNATTEMPTED}_values"}
    nb["cells"] = [cell for cell in nb["cells"] if _grade_id(cell) not in gone]
    return nb


def copied_solution_cell(nb: Notebook) -> Notebook:
    """A copy of mse_loss's solution cell pasted at the end to try something: two cells with one grade id."""
    copied = copy.deepcopy(nb["cells"][_index(nb, "mse_loss")])
    nb["cells"].append({**copied, "id": "pasted-copy"})
    return nb


def byte_order_mark(text: str) -> bytes:
    return codecs.BOM_UTF8 + text.encode()


#: student -> (transform of the base notebook, where the student put the file, what the status must say was repaired)
REPAIRED: dict[str, tuple[Callable[[Notebook], Notebook], str, str]] = {
    "nbformat-4.4-with-ids": (nbformat_4_4_with_cell_ids, WHERE, "nbformat 4.4 with cell ids"),
    "nbformat-4.5-without-ids": (nbformat_4_5_without_cell_ids, WHERE, "nbformat 4.5 without cell ids"),
    "nbformat-4.1": (nbformat_4_1, WHERE, "nbformat 4.1"),
    "own-kernelspec": (own_kernelspec, WHERE, "kernelspec 'conda-env-dl-py'"),
    "split-solution-cell": (split_solution_cell, WHERE, "split solution cell mse_loss"),
    "grade-cell-as-markdown": (grade_cell_as_markdown, WHERE, "test_mse_loss_grad was a markdown cell"),
    "copied-solution-cell": (copied_solution_cell, WHERE, "copy of cell mse_loss (the last is graded)"),
    "deleted-grade-cells": (deleted_grade_cells, WHERE,
                            f"deleted grade cells test_mse_loss_grad, test_{UNATTEMPTED}_values (put back)"),
    "renamed": (as_saved, f"{ASSIGNMENT}/{ASSIGNMENT} (1).ipynb",
                f"found '{ASSIGNMENT}/{ASSIGNMENT} (1).ipynb', belongs at '{WHERE}'"),
    "outside-its-folder": (as_saved, f"Copy of {NOTEBOOK}", f"found 'Copy of {NOTEBOOK}', belongs at '{WHERE}'"),
}
#: Graded with nothing to report: every submission's outputs and editor metadata are cleared anyway.
UNREMARKABLE = {"base": as_saved, "editor-metadata-and-stale-outputs": editor_metadata_and_stale_outputs}
BOM = "byte-order-mark"
#: student -> (files as (path, content), the status, what its detail must say)
UNREPAIRABLE: dict[str, tuple[list[tuple[str, str]], Status, str]] = {
    "not-json": ([(WHERE, '{"cells": [ this is not json')], Status.INVALID, f"'{WHERE}' is not JSON (line 1"),
    "not-a-notebook": ([(WHERE, '{"answer": 42}')], Status.INVALID, f"'{WHERE}' is JSON but not a Jupyter notebook"),
    "two-candidates": ([(f"{ASSIGNMENT}/Copy of {NOTEBOOK}", "{}"), (f"{ASSIGNMENT}/{ASSIGNMENT} (1).ipynb", "{}")],
                       Status.SEVERAL, f"'{ASSIGNMENT}/Copy of {NOTEBOOK}', '{ASSIGNMENT}/{ASSIGNMENT} (1).ipynb'; "
                                       f"keep one, at '{WHERE}'"),
    "empty-folder": ([], Status.MISSING, f"no notebook in the submission; {NOTEBOOK} belongs at '{WHERE}'"),
}


#: student -> (a symbolic link in the submission: (where, target relative to the course), the file the status names).
#: A link would grade, and copy into feedback, what it points to: here the instructor's source with its solutions.
SYMLINKED: dict[str, tuple[str, str, str]] = {
    "linked-notebook": (WHERE, f"source/{ASSIGNMENT}/{NOTEBOOK}", WHERE),
    "linked-folder": (ASSIGNMENT, f"source/{ASSIGNMENT}", WHERE),
    "linked-extra-file": (f"{ASSIGNMENT}/notes.txt", f"source/{ASSIGNMENT}/{NOTEBOOK}", ""),
}


def _checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    course = tmp_path_factory.mktemp("course")
    assert autograder("release", ASSIGNMENT, "--course-dir", str(course)).returncode == 0
    released = course / "release" / ASSIGNMENT / NOTEBOOK
    release = nbformat.read(released, as_version=4)
    stub = release.cells[_index(release, UNATTEMPTED)].source
    base = nbformat.writes(with_solutions(released, {UNATTEMPTED: stub}))
    submitted = course / "submitted"
    for student, (transform, where, _) in REPAIRED.items():
        (submitted / student / where).parent.mkdir(parents=True)
        (submitted / student / where).write_text(json.dumps(transform(json.loads(base)), indent=1))
    for student, transform in UNREMARKABLE.items():
        (submitted / student / ASSIGNMENT).mkdir(parents=True)
        (submitted / student / WHERE).write_text(json.dumps(transform(json.loads(base)), indent=1))
    (submitted / BOM / ASSIGNMENT).mkdir(parents=True)
    (submitted / BOM / WHERE).write_bytes(byte_order_mark(base))
    for student, (files, _, _) in UNREPAIRABLE.items():
        (submitted / student).mkdir(parents=True)
        for where, text in files:
            (submitted / student / where).parent.mkdir(parents=True, exist_ok=True)
            (submitted / student / where).write_text(text)
    for student, (where, target, _) in SYMLINKED.items():
        (submitted / student / where).parent.mkdir(parents=True, exist_ok=True)
        (submitted / student / where).symlink_to(course / target)
    (submitted / "linked-extra-file" / WHERE).write_text(base)
    (submitted / "other-assignment-only" / "rolls_royce").mkdir(parents=True)
    (submitted / "outside-its-folder" / "timestamp.txt").write_text(TIMESTAMP)
    before = _checksums(submitted)
    grade = autograder("grade", ASSIGNMENT, "--course-dir", str(course))
    export = autograder("export", "--course-dir", str(course))
    assert export.returncode == 0, export.stderr
    with (course / "grades.csv").open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    lines = {line.split()[0]: line for line in grade.stdout.splitlines() if line.split()}
    return {"course": course, "before": before, "after": _checksums(submitted), "grade": grade, "rows": rows,
            "lines": lines}


@functools.cache
def _points() -> dict[str, float]:
    return points_per_function(ASSIGNMENT)


def _function_scores(row: dict[str, str]) -> dict[str, float]:
    return {f: float(row[f]) for f in _points()}


def test_the_base_notebook_scores_every_function_but_the_unattempted_one(batch: dict) -> None:
    expected = {f: 0.0 if f == UNATTEMPTED else p for f, p in _points().items()}
    assert _function_scores(batch["rows"]["base"]) == expected


@pytest.mark.parametrize("student", [*REPAIRED, *UNREMARKABLE, BOM])
def test_an_odd_notebook_scores_what_its_original_scores(batch: dict, student: str) -> None:
    row = batch["rows"][student]
    assert row["status"] == Status.GRADED, batch["lines"].get(student)
    assert _function_scores(row) == _function_scores(batch["rows"]["base"])


@pytest.mark.parametrize(("student", "repair"), [(s, r) for s, (_, _, r) in REPAIRED.items()]
                         + [(BOM, "UTF-8 byte-order mark")])
def test_the_status_names_the_repair(batch: dict, student: str, repair: str) -> None:
    assert batch["rows"][student]["repairs"] == f"repaired: {repair}"
    assert f"graded (repaired: {repair})" in batch["lines"][student]
    recorded = Course(batch["course"]).statuses()[ASSIGNMENT][student]
    assert recorded["status"] == Status.GRADED and recorded["repairs"] == [repair]


@pytest.mark.parametrize("student", list(UNREMARKABLE))
def test_what_every_submission_carries_is_not_reported_as_a_repair(batch: dict, student: str) -> None:
    assert batch["rows"][student]["repairs"] == ""
    assert "repaired" not in batch["lines"][student]


@pytest.mark.parametrize("student", list(UNREPAIRABLE))
def test_what_cannot_be_repaired_gets_a_status_naming_the_file_and_the_problem(batch: dict, student: str) -> None:
    _, status, detail = UNREPAIRABLE[student]
    row = batch["rows"][student]
    assert (row["status"], float(row["score"])) == (status, 0.0)
    assert f"{status}: " in batch["lines"][student] and detail in batch["lines"][student]
    note = (batch["course"] / "feedback" / student / ASSIGNMENT / "grading-status.txt").read_text()
    assert detail in note


@pytest.mark.parametrize("student", [s for s, (_, _, named) in SYMLINKED.items() if named])
def test_a_notebook_linked_to_a_file_outside_the_submission_is_refused(batch: dict, student: str) -> None:
    row = batch["rows"][student]
    assert (row["status"], float(row["score"])) == (Status.INVALID, 0.0)
    assert f"'{SYMLINKED[student][2]}' is a symbolic link" in batch["lines"][student]


def test_no_linked_file_reaches_the_autograded_copy_or_the_feedback(batch: dict) -> None:
    """Of a refused submission nothing is graded and the feedback is the status alone; a linked extra file is not
    copied, and its student's feedback holds nothing of the instructor's source."""
    course = batch["course"]
    for student, (_, _, named) in SYMLINKED.items():
        graded = sorted(p.name for p in (course / "autograded" / student).rglob("*") if p.is_file())
        feedback = sorted(p.name for p in (course / "feedback" / student).rglob("*") if p.is_file())
        if named:
            assert (graded, feedback) == ([], ["grading-status.txt"])
        else:
            assert "notes.txt" not in graded + feedback and NOTEBOOK in graded
            for page in (course / "feedback" / student).rglob("*.html"):
                assert "BEGIN HIDDEN TESTS" not in page.read_text()
    assert float(batch["rows"]["linked-extra-file"]["score"]) == float(batch["rows"]["base"]["score"])


def test_the_batch_goes_on_and_leaves_out_students_of_other_assignments_only(batch: dict) -> None:
    assert sorted(batch["rows"]) == sorted([*REPAIRED, *UNREMARKABLE, BOM, *UNREPAIRABLE, *SYMLINKED])
    total = len(batch["rows"])
    failed = len(UNREPAIRABLE) + sum(1 for _, _, named in SYMLINKED.values() if named)
    assert f"{total} submissions: {total - failed} graded, {failed} failed" in batch["grade"].stdout


def test_nothing_under_submitted_is_changed(batch: dict) -> None:
    assert len(batch["before"]) == len(REPAIRED) + len(UNREMARKABLE) + 1 + sum(len(f) for f, _, _ in
                                                                             UNREPAIRABLE.values()) + 1 + 1
    assert batch["after"] == batch["before"]


def test_the_submission_time_still_reaches_the_gradebook(batch: dict) -> None:
    """nbgrader reads timestamp.txt (for late penalties) from the staged copy: it is staged with the notebook."""
    with Course(batch["course"]).gradebook() as gb:
        submission = gb.find_submission(ASSIGNMENT, "outside-its-folder")
        assert submission.timestamp == datetime.fromisoformat(TIMESTAMP).replace(tzinfo=None)


def test_no_status_names_a_folder_of_the_server(batch: dict) -> None:
    course = batch["course"]
    texts = [batch["grade"].stdout, (course / "autograder-status.json").read_text(),
             (course / "grades.csv").read_text()]
    texts += [p.read_text() for p in (course / "feedback").glob(f"*/{ASSIGNMENT}/grading-status.txt")]
    for text in texts:
        assert str(course) not in text and "autograder-intake-" not in text and "/tmp" not in text


# Reading a notebook, without grading it.

def _source_text() -> str:
    (path,) = (ASSIGNMENTS / ASSIGNMENT).glob("*.md")
    return nbformat.writes(jupytext.read(path))


def test_an_nbformat_3_notebook_is_read_as_4(tmp_path: Path) -> None:
    path = tmp_path / NOTEBOOK
    path.write_text(nbformat.writes(nbformat.convert(nbformat.reads(_source_text(), as_version=4), 3)))
    nb, repairs = read_submission(path, NOTEBOOK)
    assert repairs == ["nbformat 3"]
    assert nb.nbformat == 4
    nbformat.validate(nb)


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "is empty"),
    ("{}".encode("utf-16"), "is not UTF-8 text"),
    (b"[1, 2]", "is JSON but not a Jupyter notebook"),
    (b'{"nbformat": 5, "nbformat_minor": 0, "cells": []}', "is JSON but not a Jupyter notebook (nbformat 5)"),
])
def test_a_file_that_is_no_notebook_is_named_with_its_problem(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / NOTEBOOK
    path.write_bytes(content)
    with pytest.raises(Unrepairable, match=re.escape(problem)) as raised:
        read_submission(path, f"{ASSIGNMENT}/{NOTEBOOK}")
    assert raised.value.status is Status.INVALID and str(raised.value).startswith(f"'{ASSIGNMENT}/{NOTEBOOK}'")


def test_students_are_those_with_the_assignment_its_notebook_or_nothing_at_all(tmp_path: Path) -> None:
    submitted = tmp_path / "submitted"
    for folder in ("a/loss_family", "b", "c/rolls_royce", "d/rolls_royce", "e/.ipynb_checkpoints"):
        (submitted / folder).mkdir(parents=True)
    (submitted / "d" / "Copy of loss_family.ipynb").write_text("{}")
    assert students(Course(tmp_path), ASSIGNMENT, [NOTEBOOK]) == ["a", "b", "d", "e"]
