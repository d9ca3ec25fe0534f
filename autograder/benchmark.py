"""Seconds per graded submission, ours against plain nbgrader: ``python -m autograder.benchmark [--students N]``.

Releases the assignment into two scratch course directories and submits the same batch to both: the instructor's
solution and one submission per common mistake of ``tests/submissions/ASSIGNMENT.py`` when the tests are there,
repeated up to N submissions. Then, in the same run:

- ours: ``python -m autograder grade`` (one warm worker, the sandbox, the hidden tests outside it, feedback
  included), from a fresh process: its start, the sandbox's start and the warm-up are part of the figure;
- the baseline: plain serial ``nbgrader autograde`` with a vanilla ``nbgrader_config.py`` (nbgrader's ``Execute``,
  one kernel per notebook, hidden tests in the kernel, no feedback).

It prints both figures, their ratio, the worker's peak memory, and the cost of starting the sandbox and of a fresh
sandboxed process, and checks that both graded every submission.
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.course import Course
from autograder.release import release, with_solutions
from autograder.sandbox import Limits, Sandbox

_VANILLA_CONFIG = """c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "benchmark"
c.Execute.timeout = 30
"""
_TESTS = Path(__file__).resolve().parents[1] / "tests"


def _batch(assignment: str, released: Path, students: int) -> list[nbformat.NotebookNode]:
    """The instructor's solution and the corpus's mistakes, repeated to ``students`` notebooks."""
    notebooks = [with_solutions(released)]
    if (_TESTS / "submissions" / f"{assignment}.py").exists():
        sys.path.insert(0, str(_TESTS))
        module = importlib.import_module(f"submissions.{assignment}")
        notebooks += [with_solutions(released, {function: source}) for function, source in module.MISTAKES.values()]
    return [notebooks[i % len(notebooks)] for i in range(students)]


def _submit(course_dir: Path, assignment: str, released: Path, batch: list[nbformat.NotebookNode]) -> None:
    for i, notebook in enumerate(batch):
        folder = course_dir / "submitted" / f"student{i:03d}" / assignment
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / released.name)


def _timed(command: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False,
                            env=dict(os.environ, PATH=path))
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--assignment", default="loss_family")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autograder-bench-") as scratch:
        ours_dir, plain_dir = Path(scratch) / "ours", Path(scratch) / "plain"
        (released,) = release([args.assignment], ours_dir)
        batch = _batch(args.assignment, released, args.students)
        _submit(ours_dir, args.assignment, released, batch)
        release([args.assignment], plain_dir)
        Course(plain_dir).config_file.write_text(_VANILLA_CONFIG)
        _submit(plain_dir, args.assignment, released, batch)

        ours, graded = _timed([sys.executable, "-m", "autograder", "grade", args.assignment, "--workers", "1",
                               "--course-dir", str(ours_dir)], Path.cwd())
        worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        lines = [line for line in graded.stdout.splitlines() if line.startswith("student")]
        assert len(lines) == args.students, graded.stdout + graded.stderr
        baseline, plain = _timed([sys.executable, "-m", "nbgrader", "autograde", args.assignment], plain_dir)
        assert plain.returncode == 0, plain.stderr[-2000:]
        assert len(list((plain_dir / "autograded").glob(f"*/{args.assignment}/*.ipynb"))) == args.students

    sandbox = Sandbox(Limits())
    try:
        template = sandbox.start()
        start = time.perf_counter()
        for _ in range(10):
            sandbox.spawn().finish()
        spawn = (time.perf_counter() - start) / 10
    finally:
        sandbox.close()

    n = args.students
    print(f"{args.assignment}, {n} submissions (the solution and the corpus's mistakes), one worker, 2 cores")
    print(f"ours, `python -m autograder grade` (sandbox, feedback included): {ours / n:.2f} s per submission "
          f"({ours:.1f} s in all)")
    print(f"baseline, plain serial `nbgrader autograde`, vanilla config:      {baseline / n:.2f} s per submission "
          f"({baseline:.1f} s in all)")
    print(f"ratio: ours is {baseline / ours:.1f}x faster than the baseline")
    print(f"grading worker's peak memory: {worker_mb:.0f} MiB")
    print(f"sandbox template start: {template:.2f} s; a fresh sandboxed process (spawn and finish): "
          f"{spawn * 1000:.0f} ms")


if __name__ == "__main__":
    main()
