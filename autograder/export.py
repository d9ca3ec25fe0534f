"""The gradebook as CSV: per graded function for the instructor, per assignment for the learning platform.

A test cell's grade id names its function (``test_mse_loss_grad`` belongs to ``mse_loss``, the solution cell's
grade id), so the points of each function are the sum over its test cells. nbgrader's own ``nbgrader export`` gives
totals only; :class:`FunctionGradesExporter` is the per-function CSV as an nbgrader exporter, so
``nbgrader export --exporter=autograder.export.FunctionGradesExporter`` run in the course directory writes the same
file as ``python -m autograder export``.

The class list (``roster.csv``, :mod:`autograder.roster`; else the gradebook's students) gives every student a row:
one who submitted nothing appears with 0 points and the status ``no submission``.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.plugins import ExportPlugin
from traitlets import Unicode

from autograder.collect import CANVAS, origins
from autograder.course import Course, CourseError, assignment_sources
from autograder.roster import GRADEBOOK, Person, Roster, gradebook_roster, read_roster

__all__ = [
    "FORMATS",
    "NO_SUBMISSION",
    "Export",
    "FunctionGradesExporter",
    "LmsGradesExporter",
    "function_of",
    "plan_export",
]

#: The status of a student of the class list who submitted nothing.
NO_SUBMISSION = "no submission"
#: ``--format``: the default file name of each.
FORMATS = {"csv": "grades.csv", "lms": "grades-lms.csv"}
#: The student columns of the platform's CSV: Canvas's gradebook import wants ``Student`` and ``ID`` first and
#: ``Section`` last (it finds each student by ``ID``, its user id, then by the SIS ids, then by name); Moodle's
#: "Import > CSV file" takes any columns and lets the instructor map one to its users (``SIS Login ID``, the e-mail,
#: or ``ID``) and one to each grade item.
LMS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def function_of(grade_id: str, functions: list[str]) -> str | None:
    """The graded function a test cell belongs to: the longest function name ``NAME`` with ``test_NAME`` a prefix.

    Examples:
        >>> function_of("test_smooth_l1_loss_grad", ["l1_loss", "smooth_l1_loss"])
        'smooth_l1_loss'
    """
    matches = [f for f in functions if grade_id == f"test_{f}" or grade_id.startswith(f"test_{f}_")]
    return max(matches, key=len) if matches else None


def _class_list(gradebook: Gradebook, roster: Path | None, course: Course) -> Roster:
    """The roster given, else the course's ``roster.csv``, else the gradebook's students."""
    default = course.root / "roster.csv"
    if roster is not None:
        return read_roster(roster)
    return read_roster(default) if default.exists() else gradebook_roster(gradebook)


def _assignments(gradebook: Gradebook, names: list[str] | None) -> list:
    known = {a.name: a for a in gradebook.assignments}
    if names:
        missing = [n for n in names if n not in known]
        if missing:
            raise CourseError(f"nothing of {', '.join(missing)} is in the gradebook (run `grade {missing[0]}` first)")
        return [known[n] for n in names]
    return list(known.values())


def _function_rows(statuses: dict, people: Roster, assignments: list,
                   students: list[str] | None) -> tuple[list[str], list[dict[str, object]]]:
    """The per-function table: its columns and one row per student and assignment."""
    rows: list[dict[str, object]] = []
    functions: list[str] = []
    for assignment in assignments:
        solution_ids = [cell.name for nb in assignment.notebooks for cell in nb.solution_cells]
        functions += [f for f in solution_ids if f not in functions]
        maxima: dict[str, float] = {}
        for notebook in assignment.notebooks:
            for cell in notebook.grade_cells:
                function = function_of(cell.name, solution_ids)
                if function is not None:
                    maxima[function] = maxima.get(function, 0.0) + float(cell.max_score)
        submitted = {s.student.id: s for s in assignment.submissions}
        for student in sorted(set(submitted) | {p.id for p in people.people}):
            if students and student not in students:
                continue
            row: dict[str, object] = {"student": student, "assignment": assignment.name}
            row |= {key: value for f, top in maxima.items() for key, value in ((f, 0.0), (f"{f}_max", top))}
            submission = submitted.get(student)
            if submission is None:
                row |= {"status": NO_SUBMISSION, "review": "", "repairs": "", "score": 0.0,
                        "max_score": assignment.max_score}
                rows.append(row)
                continue
            recorded = statuses.get(assignment.name, {}).get(student, {})
            row |= {
                "status": recorded.get("status", "graded"),
                "review": f"flagged for review: {' | '.join(recorded['flags'])}" if recorded.get("flags") else "",
                "repairs": f"repaired: {'; '.join(recorded['repairs'])}" if recorded.get("repairs") else "",
                "score": submission.score,
                "max_score": submission.max_score,
            }
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    function = function_of(grade.name, solution_ids)
                    if function is not None:
                        row[function] = float(row[function]) + float(grade.score or 0.0)
            rows.append(row)
    columns = ["student", "assignment", "status", "review", "repairs", "score", "max_score"]
    columns += [name for f in functions for name in (f, f"{f}_max")]
    return columns, sorted(rows, key=lambda r: (str(r["assignment"]), str(r["student"])))


def _points(score: float) -> str:
    """Points as a platform reads them: at most two decimals, no trailing zeros (``7``, ``7.5``, ``6.67``)."""
    return f"{round(float(score), 2):g}"


def _canvas_ids(course: Course, assignments: list) -> dict[str, str]:
    """The Canvas user id of every student collected from a Canvas download (Moodle's number in its names is an id
    of one assignment only, not of the student)."""
    return {student: origin["lms_id"] for a in assignments for student, origin in origins(course, a.name).items()
            if origin.get("platform") == CANVAS.name and origin.get("lms_id", "").isdigit()}


def _lms_rows(people: Roster, assignments: list, students: list[str] | None, lms_ids: dict[str, str]
              ) -> tuple[list[str], list[dict[str, object]]]:
    """The platform's table: the student columns, then one column of points per assignment. ``ID`` is the roster's
    ``lms_id``, else the id ``lms_ids`` gives."""
    known = {p.id: p for p in people.people}
    scores = {(s.student.id, a.name): s.score for a in assignments for s in a.submissions}
    everyone = sorted(set(known) | {student for student, _ in scores})
    rows = []
    for student in everyone:
        if students and student not in students:
            continue
        person = known.get(student, Person(student))
        row: dict[str, object] = {"Student": person.name or student, "ID": person.lms_id or lms_ids.get(student, ""),
                                  "SIS User ID": student,
                                  "SIS Login ID": person.email, "Section": ""}
        row |= {a.name: _points(scores.get((student, a.name), 0.0)) for a in assignments}
        rows.append(row)
    return LMS_COLUMNS + [a.name for a in assignments], rows


def _csv_text(columns: list[str], rows: list[dict[str, object]]) -> str:
    handle = io.StringIO()
    writer = csv.DictWriter(handle, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return handle.getvalue()


def _grades(gradebook: Gradebook, course: Course, fmt: str, roster: Path | None, assignments: list[str] | None,
            students: list[str] | None) -> tuple[bytes, list, Roster]:
    """The CSV's bytes (``lms``: UTF-8 with a byte-order mark, so spreadsheet programs read names like "José
    Núñez" right), the assignments in it and the class list.

    Raises:
        CourseError: an assignment is not in the gradebook, or nothing has been graded.
    """
    chosen = _assignments(gradebook, assignments)
    if not any(a.submissions for a in chosen):
        scope = ", ".join(a.name for a in chosen) if chosen else "any assignment"
        raise CourseError(f"no grades to export: no submission of {scope} has been graded in {course.root} "
                          "(run `grade` first)")
    people = _class_list(gradebook, roster, course)
    if fmt == "lms":
        table = _lms_rows(people, chosen, students, _canvas_ids(course, chosen))
        return _csv_text(*table).encode("utf-8-sig"), chosen, people
    columns, rows = _function_rows(course.statuses(), people, chosen, students)
    return _csv_text(columns, rows).encode(), chosen, people


def _write(path: Path, data: bytes) -> None:
    """Write a whole file or nothing (through a scratch file beside it)."""
    scratch = path.with_name(f".{path.name}.writing")
    scratch.write_bytes(data)
    scratch.replace(path)


@dataclass(frozen=True)
class Export:
    """An export ready to be written: every argument checked and every byte computed.

    Attributes:
        files: ``{path: bytes}``: the CSV, and a feedback zip per assignment when asked.
        notes: What the instructor should know (students graded but not in the roster, assignments without
            feedback).
    """

    files: dict[Path, bytes]
    notes: list[str]

    def write(self) -> list[Path]:
        for path, data in self.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            _write(path, data)
        return list(self.files)


def _output_path(course: Course, output: Path | None, fmt: str) -> Path:
    """``--output``: a file, or a directory to write the default file name into.

    Raises:
        CourseError: it lies inside a file.
    """
    if output is None:
        return course.root / FORMATS[fmt]
    output = output.resolve()
    if output.is_dir():
        return output / FORMATS[fmt]
    for parent in output.parents:
        if parent.exists() and not parent.is_dir():
            raise CourseError(f"--output {output}: {parent} is a file, not a directory")
    return output


def _feedback_zip(course: Course, assignment: str) -> bytes | None:
    """One zip of every student's feedback for ``assignment``, named so that the platform's bulk feedback upload
    finds each student (``None`` when there is no feedback).

    Canvas ("Re-Upload Submissions") and Moodle ("Upload multiple feedback files in a zip") both take one zip per
    assignment and find the student in each file's name: Canvas by the user and attachment ids of the downloaded
    file (``nunezjose_1234_98765_...``), Moodle by the participant id of the downloaded folder
    (``José Núñez_12345_assignfeedback_file_/...``). A student collected from the platform gets that name; any other
    gets a folder named by their id.
    """
    collected = origins(course, assignment)
    folders = sorted(p for p in (course.root / "feedback").glob(f"*/{assignment}") if p.is_dir())
    buffer = io.BytesIO()
    count = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for folder in folders:
            student = folder.parent.name
            prefix = collected.get(student, {}).get("feedback_prefix") or f"{student}/"
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                zf.write(path, prefix + path.relative_to(folder).as_posix())
                count += 1
    return buffer.getvalue() if count else None


def plan_export(course_dir: Path, output: Path | None = None, *, fmt: str = "csv", roster: Path | None = None,
                assignments: list[str] | None = None, feedback_zip: bool = False, db_url: str | None = None
                ) -> Export:
    """Check every argument and compute every file of an export, writing nothing.

    Args:
        course_dir: The course directory.
        output: The CSV file, or a directory for it (default: ``COURSE/grades.csv``, ``COURSE/grades-lms.csv``).
        fmt: ``csv``, a row per student and assignment with a column per graded function; ``lms``, a row per
            student with a column per assignment, for Canvas's and Moodle's gradebook import.
        roster: The class list (default: ``COURSE/roster.csv`` if any, else the gradebook's students).
        assignments: Only these assignments (default: every one in the gradebook).
        feedback_zip: Also pack the feedback of each assignment in ``feedback-ASSIGNMENT.zip`` beside the CSV.
        db_url: The gradebook's URL (default: SQLite in the course directory).

    Raises:
        CourseError: a wrong argument, no gradebook, or no grades to export.
    """
    for name in assignments or []:
        assignment_sources(name)  # an unknown name gets the nearest known one suggested
    course = Course.open(course_dir, db_url=db_url)
    path = _output_path(course, output, fmt)
    database = course.db_url.removeprefix("sqlite:///")
    if database != course.db_url and not Path(database).exists():  # opening it would create an empty one
        raise CourseError(f"no grades to export: {course.root} has no gradebook yet (run `grade` first)")
    with course.gradebook() as gb:
        data, chosen, people = _grades(gb, course, fmt, roster, assignments, None)
        graded = {s.student.id for a in chosen for s in a.submissions}
    files = {path: data}
    notes = []
    if people.source != GRADEBOOK and (strangers := sorted(graded - {p.id for p in people.people})):
        notes.append(f"graded but not in {people.source}: {', '.join(strangers)}")
    if feedback_zip:
        for assignment in chosen:
            packed = _feedback_zip(course, assignment.name)
            if packed is None:
                notes.append(f"no feedback for {assignment.name} to pack")
            else:
                files[path.with_name(f"feedback-{assignment.name}.zip")] = packed
    return Export(files, notes)


class FunctionGradesExporter(ExportPlugin):
    """The per-function CSV as nbgrader's exporter: ``nbgrader export
    --exporter=autograder.export.FunctionGradesExporter [--to FILE] [--assignment [A,...]] [--student [S,...]]``
    in the course directory (default file: ``grades.csv``)."""

    format = "csv"
    roster = Unicode("", help="a class list, id,name,email,lms_id (default: roster.csv of the course, if any)"
                     ).tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        coursedir = getattr(self.parent, "coursedir", None)
        course = Course(Path(coursedir.root if coursedir is not None else ".").resolve())
        data, _, _ = _grades(gradebook, course, self.format, Path(self.roster) if self.roster else None,
                          [str(a) for a in self.assignment] or None, [str(s) for s in self.student] or None)
        path = Path(self.to or FORMATS[self.format])
        self.log.info("Exporting grades to %s", path)
        _write(path, data)


class LmsGradesExporter(FunctionGradesExporter):
    """The platform's CSV (``--format lms``) as nbgrader's exporter (default file: ``grades-lms.csv``)."""

    format = "lms"
