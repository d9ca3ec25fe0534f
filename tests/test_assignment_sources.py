"""The one source of every assignment, read as the grading engine reads it: each grade cell has hidden tests, and
the hidden tests stand on their own on the trusted side, where the student's visible variables do not exist."""

from __future__ import annotations

import ast
import builtins

import pytest
from conftest import source_notebook

from autograder.course import assignment_names
from autograder.engine import split_hidden

#: What the trusted side's namespace holds besides the graded names (as the setup cell imports them).
TRUSTED_NAMES = {"torch", "F", "nn"}


def grade_cells(assignment: str) -> list:
    return [cell for cell in source_notebook(assignment).cells
            if cell.metadata.get("nbgrader", {}).get("grade") and not cell.metadata["nbgrader"].get("solution")]


def free_names(code: str) -> set[str]:
    """Names ``code`` reads without defining or importing them."""
    tree = ast.parse(code)
    defined = set(dir(builtins))
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (defined.add if isinstance(node.ctx, ast.Store) else used.add)(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.alias):
            defined.add((node.asname or node.name).split(".")[0])
    return used - defined


@pytest.mark.parametrize("assignment", assignment_names())
def test_every_grade_cell_has_hidden_tests(assignment: str) -> None:
    without = [cell.metadata["nbgrader"]["grade_id"] for cell in grade_cells(assignment)
               if not any(hidden for hidden, _ in split_hidden(cell.source))]
    assert without == [], "a visible assert alone is only as honest as the student's process"


@pytest.mark.parametrize("assignment", assignment_names())
def test_hidden_tests_use_only_the_graded_names_and_what_they_import(assignment: str) -> None:
    nb = source_notebook(assignment)
    graded = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in grade_cells(assignment):
        hidden = "".join(code for is_hidden, code in split_hidden(cell.source) if is_hidden)
        extra = free_names(hidden) - graded - TRUSTED_NAMES
        assert extra == set(), f"{cell.metadata['nbgrader']['grade_id']} reads {extra} from the student's process"
