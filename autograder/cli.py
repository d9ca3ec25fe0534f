"""``python -m autograder``: the instructor's command line (release, collect, grade, export, report, pages).

Every argument is checked before anything is written; a wrong one gets one line on stderr and exit status 2. Each
command imports only what it needs, so ``--help`` and a wrong argument answer at once.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import fields
from pathlib import Path
from typing import NoReturn

from autograder.course import CELL_TIMEOUT, SUBMISSION_TIMEOUT, CourseError, assignment_names, assignment_sources

__all__ = ["main"]

_DESCRIPTION = "Release the course's exercises, collect and grade the submissions, export the grades."

_EPILOG = """\
workflow:
  1. release  the student versions, to hand out      -> COURSE/release/A/A.ipynb
  2. collect  the platform's download (Canvas, Moodle) -> COURSE/submitted/S/A/A.ipynb
  3. grade    every submission of A, in a sandbox    -> COURSE/gradebook.db, COURSE/feedback/S/A/
              (--workers N on this machine, --scheduler on a Dask cluster; --db-url for PostgreSQL)
  4. export   the grades and the feedback            -> COURSE/grades.csv, grades-lms.csv, feedback-A.zip
  5. report   the class at a glance                  -> COURSE/report-A.html
  (A is an assignment, S a student; `python -m autograder COMMAND --help` tells more)

course directory (--course-dir, default ./course; an nbgrader course directory, so plain nbgrader works in it):
  nbgrader_config.py               the course's nbgrader settings
  source/A/, release/A/            the instructor's and the students' version of A
  submitted/S/A/                   S's submission of A (collect, or put there by hand)
  autograded/S/A/, feedback/S/A/   the graded copy, and S's feedback
  gradebook.db                     nbgrader's gradebook (scores); autograder-status.json: each status
  roster.csv                       optional class list: id,name,email,lms_id
  downloaded/A/collected.json      where each collected submission came from

exit status:
  0    done
  1    done, but some submission was not simply graded, or some file was not collected (each is listed)
  2    a wrong argument, or a course directory not ready for the command: one line on stderr, nothing written
  130  stopped by Ctrl-C; what was finished is kept
"""

#: Each sandbox limit: what it limits, and the largest value it takes (beyond it the system refuses the limit).
_LIMITS = {
    "memory_mb": ("memory of each of the student's processes, in MiB", 1 << 20),
    "processes": ("processes and threads the student's code may have", 4096),
    "cpu_seconds": ("CPU seconds of the student's process", 86400),
    "file_size_mb": ("largest file the student's code may write, in MiB", 1 << 20),
    "scratch_mb": ("size of the scratch folders /tmp and /dev/shm, in MiB", 1 << 20),
    "open_files": ("files the student's process may have open", 65536),
    "output_kb": ("output kept per cell, in KiB", 1 << 20),
}


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit status 2) and help that keeps its line breaks."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str, maximum: int = 10**6) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if not 0 < value <= maximum:
        raise argparse.ArgumentTypeError(f"must be between 1 and {maximum}, not {text}")
    return value


def _limit(maximum: int):  # noqa: ANN202 - an argparse type
    def limit(text: str) -> int:
        return _positive_int(text, maximum)

    return limit


def _db_url(text: str) -> str:
    """A gradebook URL as SQLAlchemy takes it; ``postgresql://`` means the psycopg driver this project installs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    for plain in ("postgresql://", "postgres://"):
        if text.startswith(plain):
            text = "postgresql+psycopg://" + text[len(plain):]
    try:
        make_url(text)
    except ArgumentError:
        raise argparse.ArgumentTypeError(f"not a database URL: {text!r} (e.g. postgresql://user@host/gradebook)"
                                         ) from None
    return text


def _parser(limits: bool = True) -> argparse.ArgumentParser:
    """The command line; ``limits=False`` leaves out ``grade``'s sandbox limits (their defaults come from the
    sandbox, which imports torch: a command other than ``grade`` does without)."""
    parser = _Parser(prog="python -m autograder", description=_DESCRIPTION, epilog=_EPILOG)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, epilog: str = "") -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=summary, description=summary, epilog=epilog)
        if name != "pages":
            p.add_argument("--course-dir", type=Path, default=Path("course"), metavar="DIR",
                           help="the nbgrader course directory (default: course/)")
            p.add_argument("--db-url", type=_db_url, metavar="URL",
                           help="the gradebook's database, e.g. postgresql://user@host/gradebook, shared by every "
                                "command and grader given it (default: COURSE/gradebook.db, SQLite)")
        return p

    p = command("release", "generate the student versions into COURSE/release/",
                "example:\n  python -m autograder release loss_family fitting")
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                   help=f"assignments to release (default: all of {', '.join(assignment_names())})")

    p = command("collect", "file a learning platform's download of submissions into COURSE/submitted/",
                """\
Canvas: "Download Submissions" (a file per student, name_[LATE_]userid_attachmentid_file.ipynb);
Moodle: "Download all submissions" (a folder per student, Full Name_participantid_assignsubmission_file_/).
Every file that is not collected is listed; a submission already in COURSE/submitted/ is never replaced
without --force, and of several files of one student the latest is taken only with --latest.

examples:
  python -m autograder collect loss_family ~/Downloads/submissions.zip
  python -m autograder collect loss_family moodle.zip --roster roster.csv --latest
  python -m autograder collect loss_family other.zip --pattern '(?P<student_id>[^_]+)_(?P<file_id>.+)'""")
    p.add_argument("assignment", metavar="ASSIGNMENT", help="the assignment, released in COURSE")
    p.add_argument("archive", type=Path, metavar="ARCHIVE.zip", help="the zip downloaded from the platform")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--lms", choices=["auto", "canvas", "moodle"], default="auto",
                     help="the platform that named the files (default: auto, the one whose names fit)")
    how.add_argument("--pattern", metavar="REGEX",
                     help="a file-name pattern instead, with nbgrader's named groups: (?P<student_id>...) and "
                          "(?P<file_id>...), optionally name, email, timestamp, attempt (larger is later), late")
    p.add_argument("--roster", type=Path, metavar="FILE",
                   help="the class list, to file each student under its id there (default: COURSE/roster.csv if "
                        "any, else the platform's id)")
    p.add_argument("--latest", action="store_true",
                   help="of several files of one student for one notebook, collect the latest")
    p.add_argument("--force", action="store_true",
                   help="replace a different submission already in COURSE/submitted/ (each is listed)")

    p = command("grade", "grade every submission of an assignment into the gradebook",
                "example:\n  python -m autograder grade loss_family --student jn42 --timeout 60")
    p.add_argument("assignment", metavar="ASSIGNMENT", help="the assignment, released in COURSE")
    p.add_argument("--student", action="append", dest="students", metavar="ID",
                   help="grade only this student (repeatable)")
    p.add_argument("--timeout", type=_positive_int, default=CELL_TIMEOUT, metavar="SECONDS",
                   help=f"interrupt a cell after this many seconds; it scores 0 (default: {CELL_TIMEOUT})")
    p.add_argument("--submission-timeout", type=_positive_int, default=SUBMISSION_TIMEOUT, metavar="SECONDS",
                   help="stop a notebook after this many seconds in all; the cells it did not reach score 0 "
                        f"(default: {SUBMISSION_TIMEOUT})")
    if limits:
        from autograder.sandbox import Limits

        for limit in fields(Limits):
            what, maximum = _LIMITS[limit.name]
            p.add_argument(f"--{limit.name.replace('_', '-')}", type=_limit(maximum), default=limit.default,
                           metavar="N", help=f"{what} (default: {limit.default})")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int, metavar="N",
                       help="grade on N worker processes of this machine (Dask); with 1, in this process "
                            "(default: one per core)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="grade on the workers of an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (start them "
                            "with `dask worker ADDRESS --nthreads 1` where this project is installed)")
    p.add_argument("--force", action="store_true",
                   help="grade every submission again, also those already graded for their current content")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run the student's code without bubblewrap: only the resource limits remain; no network, "
                        "filesystem or process isolation (for a machine without bubblewrap)")

    p = command("export", "write the grades as CSV: per graded function, or for the learning platform",
                """\
--format csv: a row per student and assignment: student, assignment, status, review, repairs, score, max_score,
  then FUNCTION and FUNCTION_max for every graded function (default file: COURSE/grades.csv).
--format lms: a row per student: Student, ID (the platform's id), SIS User ID (the id here), SIS Login ID
  (e-mail), Section, then the points of each assignment; UTF-8 with a byte-order mark. Canvas: Grades >
  Import; Moodle: Grades > Import > CSV file, mapping ID or SIS Login ID to the users (default file:
  COURSE/grades-lms.csv).
--feedback-zip: one zip per assignment, feedback-A.zip beside the CSV, that Canvas ("Re-Upload
  Submissions") and Moodle ("Upload multiple feedback files in a zip") take in one upload: each student's
  files carry the name the platform gave the download, or, for a student not collected, a folder S/.
Students of the class list (--roster, COURSE/roster.csv, else the gradebook's students) who submitted
nothing get 0 points and the status "no submission".

examples:
  python -m autograder export
  python -m autograder export --format lms --assignment loss_family --feedback-zip --output ~/upload/""")
    p.add_argument("--output", type=Path, metavar="PATH",
                   help="the CSV file, or a directory for it (default: COURSE/grades.csv or COURSE/grades-lms.csv)")
    p.add_argument("--format", choices=["csv", "lms"], default="csv", dest="fmt",
                   help="csv: per graded function (default); lms: a column per assignment, for the platform")
    p.add_argument("--assignment", action="append", dest="assignments", metavar="ASSIGNMENT",
                   help="export only this assignment (repeatable; default: every graded one)")
    p.add_argument("--roster", type=Path, metavar="FILE",
                   help="the class list: id,name,email,lms_id (default: COURSE/roster.csv if any, else the "
                        "gradebook's students)")
    p.add_argument("--feedback-zip", action="store_true",
                   help="also pack each assignment's feedback into feedback-ASSIGNMENT.zip for the platform")

    p = command("report", "write an HTML page: scores, common mistakes, failed and flagged submissions, time per "
                "submission", "example:\n  python -m autograder report loss_family")
    p.add_argument("assignment", metavar="ASSIGNMENT", help="the assignment, graded in COURSE")
    p.add_argument("--output", type=Path, metavar="FILE", help="the HTML file (default: COURSE/report-ASSIGNMENT.html)")

    p = command("pages", "write the student notebooks into the book")
    p.add_argument("out_dir", type=Path, metavar="DIR")
    return parser


def _release(args: argparse.Namespace) -> int:
    from autograder.release import release

    for notebook in release(args.assignments, args.course_dir, db_url=args.db_url):
        print(f"released {notebook}")
    return 0


def _pages(args: argparse.Namespace) -> int:
    from autograder.release import student_pages

    for page in student_pages(args.out_dir):
        print(f"wrote {page}")
    return 0


def _collect(args: argparse.Namespace) -> int:
    from autograder.collect import collect
    from autograder.course import Course

    result = collect(args.course_dir, args.assignment, args.archive, platform=args.lms, pattern=args.pattern,
                     roster=args.roster, latest=args.latest, force=args.force)
    course = Course.open(args.course_dir)
    for line in result.lines(course, args.assignment):
        print(line)
    missed = len(result.skipped) + len(result.kept) + sum(d.chosen is None for d in result.duplicates)
    print(f"{len(result.filed)} students filed, {missed} not collected ({result.platform} names)")
    return 0 if result.complete else 1


def _export(args: argparse.Namespace) -> int:
    from autograder.export import plan_export

    export = plan_export(args.course_dir, args.output, fmt=args.fmt, roster=args.roster,
                         assignments=args.assignments, feedback_zip=args.feedback_zip, db_url=args.db_url)
    for path in export.write():
        print(f"wrote {path}")
    for note in export.notes:
        print(f"note: {note}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from autograder.report import write_report

    print(f"wrote {write_report(args.course_dir, args.assignment, args.output, db_url=args.db_url)}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    assignment_sources(args.assignment)  # a misspelt name is told before the grader's imports
    from autograder.batch import grade_assignment
    from autograder.grading import Stopped
    from autograder.progress import GradingProgress
    from autograder.sandbox import Limits, SandboxUnavailable

    limits = Limits(**{f.name: getattr(args, f.name) for f in fields(Limits)})
    stopped = False
    with GradingProgress(args.assignment) as progress:
        try:
            outcomes = grade_assignment(
                args.course_dir, args.assignment, args.students, args.timeout, limits=limits,
                isolate=not args.no_sandbox, submission_timeout=args.submission_timeout, workers=args.workers,
                scheduler=args.scheduler, db_url=args.db_url, force=args.force, on_plan=progress.plan,
                on_outcome=progress.outcome, say=progress.say)
        except Stopped as err:
            progress.say(str(err))
            outcomes, stopped = err.outcomes, True
        except SandboxUnavailable as err:
            raise CourseError(str(err)) from None
    failed = [o for o in outcomes if not o.ok]
    print(f"{len(outcomes)} submissions: {len(outcomes) - len(failed)} graded, {len(failed)} failed")
    return 130 if stopped else 1 if failed else 0


_COMMANDS = {"release": _release, "pages": _pages, "collect": _collect, "export": _export, "grade": _grade,
             "report": _report}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 done, 1 something to look at, 2 a wrong argument, 130
    stopped)."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser(limits="grade" in argv).parse_args(argv)
    # nbgrader's gradebook makes SQLAlchemy warn about its own session handling: noise, not the user's problem
    from sqlalchemy.exc import OperationalError, SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)
    try:
        return _COMMANDS[args.command](args)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OperationalError as err:
        print(f"error: cannot open the gradebook: {str(err.orig or err).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    except OSError as err:  # a file that cannot be read or written: the user's to fix, not a traceback
        where = f": {err.filename}" if err.filename else ""
        print(f"error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
