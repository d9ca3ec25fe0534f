"""``python -m autograder``: release the exercises, grade the submissions, export the grades.

Examples::

    python -m autograder release --course-dir course            # every assignment, into course/release/
    python -m autograder grade loss_family --course-dir course  # every course/submitted/<student>/loss_family/
    python -m autograder export --course-dir course             # course/grades.csv
    python -m autograder grade loss_family --workers 4 --db-url postgresql://grader@dbhost/gradebook
    python -m autograder pages book/exercises                   # the student notebooks the book shows
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from sqlalchemy.exc import OperationalError

from autograder.batch import grade_assignment
from autograder.course import CELL_TIMEOUT, SUBMISSION_TIMEOUT, CourseError, assignment_names
from autograder.export import export_grades
from autograder.grading import Stopped
from autograder.progress import GradingProgress
from autograder.release import release, student_pages
from autograder.sandbox import Limits, SandboxUnavailable

__all__ = ["main"]


def _positive_int(text: str, maximum: int = 10**6) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if not 0 < value <= maximum:
        raise argparse.ArgumentTypeError(f"must be between 1 and {maximum}, not {text}")
    return value


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def course_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--course-dir", type=Path, default=Path("course"),
                       help="the nbgrader course directory (default: course/)")
        p.add_argument("--db-url", type=_db_url, metavar="URL",
                       help="the gradebook's database, e.g. postgresql://user@host/gradebook, shared by every "
                            "command and grader that is given it (default: COURSE/gradebook.db, SQLite)")

    p = commands.add_parser("release", help="generate the student versions into COURSE/release/")
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                   help=f"assignments to release (default: all of {', '.join(assignment_names())})")
    course_dir(p)
    p = commands.add_parser("grade", help="grade every submission of an assignment into the gradebook")
    p.add_argument("assignment", metavar="ASSIGNMENT")
    p.add_argument("--student", action="append", dest="students", metavar="ID",
                   help="grade only this student (repeatable)")
    p.add_argument("--timeout", type=_positive_int, default=CELL_TIMEOUT, metavar="SECONDS",
                   help=f"interrupt a cell after this many seconds; it scores 0 (default: {CELL_TIMEOUT})")
    p.add_argument("--submission-timeout", type=_positive_int, default=SUBMISSION_TIMEOUT, metavar="SECONDS",
                   help="stop a notebook after this many seconds in all; the cells it did not reach score 0 "
                        f"(default: {SUBMISSION_TIMEOUT})")
    for limit in fields(Limits):
        what, maximum = _LIMITS[limit.name]
        p.add_argument(f"--{limit.name.replace('_', '-')}", type=lambda text, m=maximum: _positive_int(text, m),
                       default=limit.default, metavar="N", help=f"{what} (default: {limit.default})")
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
    course_dir(p)
    p = commands.add_parser("export", help="write the grades as CSV, per student and per graded function")
    p.add_argument("--output", type=Path, help="the CSV file (default: COURSE/grades.csv)")
    course_dir(p)
    p = commands.add_parser("pages", help="write the student notebooks into the book")
    p.add_argument("out_dir", type=Path, metavar="DIR")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 some submission failed, 2 bad input)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "release":
            for notebook in release(args.assignments, args.course_dir, db_url=args.db_url):
                print(f"released {notebook}")
        elif args.command == "pages":
            for page in student_pages(args.out_dir):
                print(f"wrote {page}")
        elif args.command == "export":
            print(f"wrote {export_grades(args.course_dir, args.output, db_url=args.db_url)}")
        elif args.command == "grade":
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
            failed = [o for o in outcomes if not o.ok]
            print(f"{len(outcomes)} submissions: {len(outcomes) - len(failed)} graded, {len(failed)} failed")
            return 130 if stopped else 1 if failed else 0
    except (CourseError, SandboxUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OperationalError as err:
        print(f"error: cannot open the gradebook: {str(err.orig or err).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    return 0
