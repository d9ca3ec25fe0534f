"""Shared helpers: the assignment sources, and submissions built from them the way a student would write them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jupytext
import nbformat
import pytest
from hypothesis import settings
from servers import PostgreSQL

from autograder.release import solution_bodies, with_solutions

__all__ = ["solution_bodies", "with_solutions"]

#: The one hypothesis profile of the test suite: examples enough for every property, no deadline (a first call of
#: torch or matplotlib can take a second).
settings.register_profile("course", max_examples=30, deadline=None)
settings.load_profile("course")

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ROOT / "autograder" / "assignments"


def source_notebook(assignment: str) -> nbformat.NotebookNode:
    """The one source of an assignment (solutions and hidden tests included)."""
    (path,) = sorted((ASSIGNMENTS / assignment).glob("*.md"))
    return jupytext.read(path)


def marked_lines(kind: str) -> list[str]:
    """Every line inside a ``### BEGIN kind`` / ``### END kind`` region of every assignment source."""
    lines: list[str] = []
    for path in sorted(ASSIGNMENTS.glob("*/*.md")):
        inside = False
        for line in path.read_text().splitlines():
            if line.strip() == f"### BEGIN {kind}":
                inside = True
            elif line.strip() == f"### END {kind}":
                inside = False
            elif inside and line.strip():
                lines.append(line.strip())
    return lines


def points_per_function(assignment: str) -> dict[str, float]:
    """Points of each graded function, read from the grade cells of the source (``test_NAME_...``)."""
    functions = sorted(solution_bodies(assignment), key=len, reverse=True)
    points: dict[str, float] = {}
    for cell in source_notebook(assignment).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            name = next(f for f in functions if meta["grade_id"].startswith(f"test_{f}_"))
            points[name] = points.get(name, 0.0) + float(meta["points"])
    return points


def submit(course_dir: Path, student: str, notebook_path: Path, notebook: nbformat.NotebookNode | str) -> Path:
    """Place a notebook (or raw text) where nbgrader collects it: ``submitted/<student>/<assignment>/``."""
    folder = course_dir / "submitted" / student / notebook_path.parent.name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / notebook_path.name
    if isinstance(notebook, str):
        target.write_text(notebook)
    else:
        nbformat.write(notebook, target)
    return target


def autograder(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``python -m autograder ARGS`` as an instructor would."""
    result = subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=ROOT)
    if check and result.returncode not in (0, 1):
        pytest.fail(f"autograder {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgreSQL]:
    """A real PostgreSQL server for the session (Debian's package), stopped at its end."""
    server = PostgreSQL().start()
    try:
        yield server
    finally:
        server.stop()


def group_ended(group: int, timeout: float = 30.0) -> bool:
    """Whether every process of process group ``group`` ends within ``timeout`` seconds (an orphan left to init
    to reap takes a moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.5)
    return False
