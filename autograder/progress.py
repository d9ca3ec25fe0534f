"""What ``grade`` shows while it runs: a live progress bar on a terminal, one line per student elsewhere.

On a terminal (rich_): the bar, the submissions done out of those to grade, the count per status and the time
left; the line of every submission that did not simply get graded, or was flagged for review, is printed above
it. Elsewhere (a log file, a pipe, CI): one line per student as each is recorded, as ``grade`` always did.

.. _rich: https://rich.readthedocs.io/
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from autograder.batch import Plan
from autograder.grading import Outcome

__all__ = ["GradingProgress"]


class GradingProgress:
    """Shows a ``grade`` run: pass :meth:`plan`, :meth:`outcome` and :meth:`say` to
    :func:`autograder.batch.grade_assignment`, and use it as a context manager around the run.

    Args:
        assignment: The assignment graded.
        file: Where to write (default: standard output).
        live: Whether to show the live bar (default: when ``file`` is a terminal).
    """

    def __init__(self, assignment: str, file: IO[str] | None = None, live: bool | None = None) -> None:
        self.assignment, self.file = assignment, file
        self.console = Console(file=file, highlight=False, emoji=False, soft_wrap=True)
        self.live = self.console.is_terminal if live is None else live
        self.counts: Counter[str] = Counter()
        self.bar: Progress | None = None
        self.task = None

    def __enter__(self) -> GradingProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def plan(self, plan: Plan) -> None:
        if plan.recorded:
            self.say(f"{len(plan.recorded)} of {len(plan.recorded) + len(plan.grade)} submissions already graded for "
                     "their current content: skipped (--force grades them again)")
        if self.live and plan.grade:
            self.bar = Progress(TextColumn(f"grading {self.assignment}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[statuses]}"), TimeElapsedColumn(), TextColumn("left"),
                                TimeRemainingColumn(), console=self.console, transient=False)
            self.task = self.bar.add_task("grade", total=len(plan.grade), statuses="")
            self.bar.start()

    def outcome(self, outcome: Outcome) -> None:
        self.counts[outcome.status.value] += 1
        if self.bar is None:
            self.say(outcome.line())
            return
        if not outcome.ok or outcome.flags:
            self.say(outcome.line())
        statuses = ", ".join(f"{status} {n}" for status, n in sorted(self.counts.items()))
        self.bar.update(self.task, advance=1, statuses=statuses)

    def say(self, text: str) -> None:
        """A message for the instructor, above the bar when there is one."""
        if self.bar is not None:
            self.bar.console.print(text, markup=False)
        else:
            print(text, file=self.file or sys.stdout, flush=True)
