"""What a student's feedback may show.

nbgrader's feedback is the autograded notebook as HTML. Hidden tests are removed from it by nbgrader's own
``ClearHiddenTests``; :class:`StudentFacingErrors` removes the rest of what would show them: the traceback of a
failed test quotes the lines around the failing call. It keeps the error's name and message, which the checks in
:mod:`lossutils.grading.checks` write for the student.
"""

from __future__ import annotations

from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

__all__ = ["StudentFacingErrors"]


class StudentFacingErrors(NbGraderPreprocessor):
    """Replace every error traceback with its one-line ``ename: evalue`` summary."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
