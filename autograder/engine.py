"""The grading engine: the student's cells run in the sandbox, the hidden tests run here.

:class:`SandboxedExecute` takes the place of nbgrader's ``Execute`` preprocessor (the course's
``nbgrader_config.py`` sets it, so a plain ``nbgrader autograde`` uses it too). For each code cell of the
submission, in order:

- a cell that is not a grade cell (setup, the student's solutions and scratch cells) runs in the sandbox;
- a grade cell is split at its ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` markers: its visible parts run
  in the sandbox, its hidden parts run here, in a namespace where each graded name of the notebook is a proxy into
  the sandbox (:mod:`autograder.proxies`). The cell passes only when both do.

Scores come from nbgrader's ``SaveAutoGrades`` as before (a grade cell with an error output scores 0), so the engine
decides what a grade cell's outputs are: the sandbox's stderr becomes plain output there, and its results never
count as partial credit. Only the checks decide.

Everything the engine noticed about a submission (the status, the cells that timed out, the flags of its source, the
resources its process used) is kept in :data:`REPORTS` for the grading command.
"""

from __future__ import annotations

import atexit
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import torch
from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Integer, Unicode

from autograder.course import Course
from autograder.flags import Flag, flag_notebook
from autograder.proxies import CellTimeout, Kernel, KernelLost, class_proxy, function_proxy
from autograder.sandbox import Limits, Sandbox
from autograder.status import Status

__all__ = ["REPORTS", "Report", "SandboxedExecute", "run_notebook", "sandbox_for", "split_hidden", "warm_up"]

_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n(.*?)^[ \t]*### END HIDDEN TESTS[ \t]*$\n?", re.M | re.S)
_TIMEOUT_ENAME = "CellTimeoutError"  # nbgrader's name for it
_NOT_RUN_ENAME = "NotRun"


@dataclass
class Report:
    """What the engine noticed while running one notebook.

    Attributes:
        status: The submission's status (:class:`autograder.status.Status`).
        detail: What happened, for the instructor.
        timed_out: Grade ids (or cell numbers) of the cells interrupted after the time limit.
        flags: Source lines that reach for the grader, for review.
        seconds: Wall-clock time of the run.
        cpu_seconds: CPU time of the student's process.
        max_rss_mb: Peak memory of the student's process.
    """

    status: Status = Status.GRADED
    detail: str = ""
    timed_out: list[str] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    max_rss_mb: float = 0.0


#: (student, assignment, notebook) -> the report of its latest run in this process.
REPORTS: dict[tuple[str, str, str], Report] = {}

_SANDBOXES: dict[tuple[Limits, bool], Sandbox] = {}


def sandbox_for(limits: Limits, isolate: bool = True) -> Sandbox:
    """The warm sandbox of this process for ``limits`` (started on first use, closed at exit)."""
    key = (limits, isolate)
    if key not in _SANDBOXES:
        sandbox = Sandbox(limits, isolate=isolate)
        sandbox.start()
        _SANDBOXES[key] = sandbox
        atexit.register(sandbox.close)
    return _SANDBOXES[key]


def split_hidden(source: str) -> list[tuple[bool, str]]:
    """Split a grade cell into ``(hidden, code)`` parts, in order, without the markers.

    Examples:
        >>> split_hidden("a = 1\\n### BEGIN HIDDEN TESTS\\ncheck(a)\\n### END HIDDEN TESTS\\nb = 2\\n")
        [(False, 'a = 1\\n'), (True, 'check(a)\\n'), (False, 'b = 2\\n')]
    """
    parts: list[tuple[bool, str]] = []
    position = 0
    for match in _HIDDEN.finditer(source):
        parts.append((False, source[position:match.start()]))
        parts.append((True, match.group(1)))
        position = match.end()
    parts.append((False, source[position:]))
    return [(hidden, code) for hidden, code in parts if code.strip()]


def _meta(cell: NotebookNode) -> dict[str, Any]:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_test_cell(cell: NotebookNode) -> bool:
    meta = _meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def _error(ename: str, evalue: str) -> NotebookNode:
    # The traceback is the message alone: the hidden code's lines never reach the feedback.
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _text(output: dict[str, Any]) -> dict[str, str]:
    """The plain-text form of an output's data: nothing the sandbox sends is rendered as HTML or script."""
    data = output.get("data")
    text = data.get("text/plain", "") if isinstance(data, dict) else ""
    return {"text/plain": text if isinstance(text, str) else str(text)}


def _from_sandbox(output: dict[str, Any], *, test: bool) -> NotebookNode:
    """An output of the sandbox as the notebook keeps it, its data as text only. In a grade cell (``test``), text
    on stderr is shown but does not fail the cell, and a value the cell ends with is shown but is not partial
    credit: only the checks decide."""
    kind = output.get("output_type")
    if kind == "stream":
        name = "stderr" if output.get("name") == "stderr" and not test else "stdout"
        return nbformat.v4.new_output("stream", name=name, text=str(output.get("text", "")))
    if kind == "execute_result" and not test:
        return nbformat.v4.new_output("execute_result", data=_text(output), execution_count=None)
    return nbformat.v4.new_output("display_data", data=_text(output))


class _Run:
    """One notebook through one child of the sandbox."""

    def __init__(self, nb: NotebookNode, kernel: Kernel, timeout: float, output_limit: int,
                 submission_timeout: float) -> None:
        self.nb, self.kernel, self.timeout, self.output_limit = nb, kernel, timeout, output_limit
        self.end = time.monotonic() + submission_timeout
        self.graded = [_meta(c)["grade_id"] for c in nb.cells if _meta(c).get("solution") and _meta(c).get("grade_id")]
        self.hidden_ns: dict[str, Any] = {"__name__": "__hidden_tests__", "torch": torch,
                                          "F": torch.nn.functional, "nn": torch.nn}
        self.report = Report()
        self.limits: list[Status] = []

    def cell_label(self, index: int, cell: NotebookNode) -> str:
        return _meta(cell).get("grade_id") or f"cell {index}"

    def run(self) -> Report:
        count = 0
        for index, cell in enumerate(self.nb.cells):
            if cell.cell_type != "code":
                continue
            count += 1
            cell.outputs, cell.execution_count = [], count
            if self.kernel.lost is not None:
                cell.outputs.append(_error(_NOT_RUN_ENAME, "not run: the notebook's process had ended "
                                           f"({self.kernel.lost.reason})"))
                continue
            if time.monotonic() >= self.end:
                self.kernel.lost = KernelLost("time limit", "the notebook ran longer than its time in all")
                cell.outputs.append(_error(_NOT_RUN_ENAME, "not run: the notebook ran out of time"))
                continue
            self.kernel.deadline = min(time.monotonic() + self.timeout, self.end)
            test = _is_test_cell(cell)
            parts = split_hidden(cell.source) if test else [(False, cell.source)]
            try:
                for hidden, code in parts:
                    ok = self.run_hidden(cell, code) if hidden else self.run_visible(cell, code, test)
                    if not ok:
                        break
            except CellTimeout:
                self.report.timed_out.append(self.cell_label(index, cell))
                cell.outputs.append(_error(_TIMEOUT_ENAME, f"the cell ran longer than {self.timeout:g} s and was "
                                           "interrupted"))
            except KernelLost as lost:
                cell.outputs.append(_error(_NOT_RUN_ENAME, f"the notebook's process ended here ({lost.reason})"))
            if test:
                self.release()
        return self.report

    def release(self) -> None:
        try:
            self.kernel.deadline = time.monotonic() + self.timeout
            self.kernel.request({"op": "release"})
        except (CellTimeout, KernelLost):
            pass

    def run_visible(self, cell: NotebookNode, code: str, test: bool) -> bool:
        reply, _ = self.kernel.request({"op": "exec", "source": code, "output_limit": self.output_limit})
        for output in reply.get("outputs", []):
            if isinstance(output, dict) and output.get("output_type") in ("stream", "execute_result", "display_data"):
                cell.outputs.append(_from_sandbox(output, test=test))
        limit = reply.get("limit")
        if limit in (Status.MEMORY_LIMIT.value, Status.OUTPUT_LIMIT.value):
            self.limits.append(Status(limit))
        if reply.get("interrupted"):
            raise CellTimeout()
        error = reply.get("error")
        if isinstance(error, dict):
            ename, evalue = str(error.get("ename", "Error")), str(error.get("evalue", ""))
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename=ename, evalue=evalue,
                traceback=[str(line) for line in error.get("traceback", [])] or [f"{ename}: {evalue}"]))
            return False
        if limit == Status.OUTPUT_LIMIT.value:
            cell.outputs.append(_error("OutputLimit", f"the output was cut at {self.output_limit // 1024} kB"))
            return False
        return True

    def run_hidden(self, cell: NotebookNode, code: str) -> bool:
        for name in self.graded:
            if name not in code:
                continue
            reply, _ = self.kernel.request({"op": "describe", "name": name})
            kind = reply.get("kind")
            if kind == "missing":
                self.hidden_ns.pop(name, None)
            else:
                self.hidden_ns[name] = class_proxy(self.kernel, name) if kind == "class" \
                    else function_proxy(self.kernel, name)
        try:
            exec(compile(code, "<hidden tests>", "exec"), self.hidden_ns)  # noqa: S102 - the instructor's code
        except MemoryError as err:
            self.limits.append(Status.MEMORY_LIMIT)
            cell.outputs.append(_error("MemoryError", str(err)))
            return False
        except Exception as err:  # noqa: BLE001 - a failed check, or the student's error as a check saw it
            cell.outputs.append(_error(type(err).__name__, str(err)))
            return False
        return True


def run_notebook(nb: NotebookNode, sandbox: Sandbox, *, timeout: float, output_limit: int,
                 submission_timeout: float = float("inf")) -> Report:
    """Run every code cell of ``nb`` (in place: outputs and execution counts) in a fresh child of ``sandbox``,
    with the hidden tests on this side; return what happened.

    Args:
        nb: The notebook, its hidden tests restored.
        sandbox: The warm sandbox to fork the student's process from.
        timeout: Seconds a cell may run (interrupted after, and 0 points).
        output_limit: Characters of output kept per cell.
        submission_timeout: Seconds the whole notebook may run; the cells not reached score 0.
    """
    start = time.monotonic()
    child = sandbox.spawn()
    kernel = Kernel(child)
    run = _Run(nb, kernel, timeout, output_limit, submission_timeout)
    try:
        report = run.run()
    finally:
        ending = child.finish()
    try:
        report.flags = flag_notebook(nb)
    except Exception as err:  # noqa: BLE001 - the flags help a reviewer; they must never stop the grading
        report.flags = [Flag("notebook", 0, "", f"the flagger could not read it ({type(err).__name__}): look at it")]
    report.cpu_seconds, report.max_rss_mb = ending.cpu_seconds, ending.max_rss_mb
    report.seconds = round(time.monotonic() - start, 3)
    lost = kernel.lost
    if lost is not None:
        reason = ending.reason or lost.reason
        report.status = Status(reason) if reason in Status.values() else Status.KERNEL_DIED
        report.detail = lost.detail if reason == lost.reason else f"{reason}: {lost.detail}"
    elif run.limits:
        report.status = run.limits[0]
        report.detail = f"the notebook hit the {report.status.value} and lost the points of that cell"
    elif report.timed_out:
        report.status = Status.TIMED_OUT_CELL
        report.detail = f"interrupted after {timeout:g} s: {', '.join(report.timed_out)}"
    return report


def warm_up(source: Path, sandbox: Sandbox, *, timeout: float, output_limit: int) -> float:
    """Grade the instructor's version of a notebook once, for nothing: the checks' references are computed and
    cached, and every code path is warm before the first student's submission. Returns the seconds it took."""
    start = time.monotonic()
    run_notebook(nbformat.read(source, as_version=4), sandbox, timeout=timeout, output_limit=output_limit)
    return time.monotonic() - start


class SandboxedExecute(NbGraderPreprocessor):
    """nbgrader's ``Execute`` step, with the student's code in the sandbox and the hidden tests outside it."""

    timeout = Integer(30, help="Seconds a cell may run before it is interrupted and scores 0.").tag(config=True)
    submission_timeout = Integer(600, help="Seconds a whole notebook may run; the cells it did not reach score 0."
                                 ).tag(config=True)
    course_root = Unicode(".", help="The course directory, where the statuses are recorded.").tag(config=True)
    isolate = Bool(True, help="Run the student's code in bubblewrap; False runs it in a plain process (no "
                              "network, filesystem or process isolation: only the resource limits).").tag(config=True)
    memory_mb = Integer(Limits.memory_mb, help="Memory of the student's process, in MiB.").tag(config=True)
    processes = Integer(Limits.processes, help="Processes and threads the student's code may have.").tag(config=True)
    cpu_seconds = Integer(Limits.cpu_seconds, help="CPU seconds of the student's process.").tag(config=True)
    file_size_mb = Integer(Limits.file_size_mb, help="Largest file the student's code may write, in MiB."
                           ).tag(config=True)
    scratch_mb = Integer(Limits.scratch_mb, help="Size of the scratch folder, in MiB.").tag(config=True)
    output_kb = Integer(Limits.output_kb, help="Output kept per cell, in KiB.").tag(config=True)

    def limits(self) -> Limits:
        return Limits(memory_mb=self.memory_mb, processes=self.processes, cpu_seconds=self.cpu_seconds,
                      file_size_mb=self.file_size_mb, scratch_mb=self.scratch_mb, output_kb=self.output_kb)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        sandbox = sandbox_for(self.limits(), self.isolate)
        report = run_notebook(nb, sandbox, timeout=self.timeout, output_limit=self.output_kb * 1024,
                              submission_timeout=self.submission_timeout)
        info = resources.get("nbgrader", {})
        key = (str(info.get("student", "")), str(info.get("assignment", "")), str(info.get("notebook", "")))
        REPORTS[key] = report
        # Recorded here too, so that a plain `nbgrader autograde` leaves statuses and flags for `export`; the
        # grading command replaces the entry with the whole outcome.
        Course(Path(self.course_root).resolve()).record_status(key[1], key[0], {
            "student": key[0], "status": report.status.value, "detail": report.detail, "seconds": report.seconds,
            "flags": [f"{f.cell} line {f.line}: {f.code} ({f.reason})" for f in report.flags]})
        return nb, resources
