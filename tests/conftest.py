"""Shared helpers: the assignment sources, and submissions built from them the way a student would write them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ROOT / "autograder" / "assignments"
MARKERS = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


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


def solution_bodies(assignment: str) -> dict[str, str]:
    """The instructor's solution cell of each graded function, with the nbgrader markers taken out."""
    bodies = {}
    for cell in source_notebook(assignment).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            bodies[meta["grade_id"]] = "\n".join(line for line in cell.source.splitlines() if not MARKERS.match(line))
    return bodies


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


def submission(released: Path, replace: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The released notebook with every solution cell filled in by the instructor's solution, except the
    functions in ``replace`` (grade id -> cell source), which get that source instead."""
    assignment = released.parent.name
    bodies = {**solution_bodies(assignment), **(replace or {})}
    notebook = nbformat.read(released, as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in bodies and cell.metadata["nbgrader"].get("solution"):
            cell.source = bodies[grade_id]
    return notebook


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
