"""Seconds per graded submission: ``python -m autograder.benchmark [--students N]``.

Releases the assignment into a scratch course directory, submits the instructor's solution N times, and times
``grade`` (one ``nbgrader autograde`` per student, plus feedback). The baseline it compares against is plain
nbgrader grading the same batch in one process (``nbgrader autograde ASSIGNMENT``, no feedback): the difference
is the price of isolating each student so that one broken notebook cannot stop the batch.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.course import nbgrader
from autograder.grading import grade_assignment
from autograder.release import release, with_solutions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--assignment", default="loss_family")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autograder-bench-") as scratch:
        course_dir = Path(scratch)
        start = time.perf_counter()
        (notebook,) = release([args.assignment], course_dir)
        released = time.perf_counter() - start
        submission = with_solutions(notebook)
        for i in range(args.students):
            folder = course_dir / "submitted" / f"student{i:03d}" / args.assignment
            folder.mkdir(parents=True)
            nbformat.write(submission, folder / notebook.name)
        start = time.perf_counter()
        outcomes = grade_assignment(course_dir, args.assignment)
        ours = (time.perf_counter() - start) / args.students
        assert all(o.ok and o.score == o.max_score for o in outcomes), outcomes
        start = time.perf_counter()
        result = nbgrader(course_dir, "autograde", args.assignment, "--force")
        baseline = (time.perf_counter() - start) / args.students
        assert result.returncode == 0, result.stderr
    print(f"release {args.assignment}: {released:.1f} s")
    print(f"autograder grade (isolated, with feedback): {ours:.2f} s per submission ({args.students} submissions)")
    print(f"baseline, plain `nbgrader autograde` batch: {baseline:.2f} s per submission")
    print(f"ratio: {ours / baseline:.2f}x the baseline")


if __name__ == "__main__":
    main()
