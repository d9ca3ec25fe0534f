"""Flags on the code of a submission (:mod:`autograder.flags`): every kind of reach for the grader is flagged, through
aliases and magics, and no instructor's solution or honest submission is."""

from __future__ import annotations

import importlib

import jupytext
import nbformat
import pytest
import test_grading_attacks as attacks
from conftest import ASSIGNMENTS

from autograder.course import assignment_names
from autograder.flags import Flag, flag_notebook, flag_source
from autograder.release import solution_bodies


def reasons(source: str) -> list[str]:
    return [flag.reason for flag in flag_source(source)]


#: One line of each kind -> the reason it is flagged with.
KINDS = {
    "import lossutils": "reaches the grader (lossutils)",
    "from lossutils.grading.checks import check_values": "reaches the grader (lossutils)",
    "import lossutils_builtins": "reaches the grader's built-in detector",
    "import autograder.grading": "reaches the grader (autograder)",
    "from kernel import protocol": "reaches the grading kernel",
    "from . import runner": "imports from the grader's package (a relative import)",
    "ip = get_ipython()": "reaches the IPython shell",
    "from IPython import get_ipython": "reaches the IPython shell",
    "shell.input_transformers_cleanup.append(drop)": "installs an IPython input transformer",
    "shell.input_transformers_post.append(drop)": "installs an IPython input transformer",
    "shell.ast_transformers.append(rewrite)": "installs an IPython AST transformer",
    "shell.set_custom_exc((Exception,), ignore)": "installs an IPython error handler",
    "shell.showtraceback = ignore": "replaces how IPython shows errors",
    "shell.events.register('post_run_cell', ignore)": "registers an IPython event callback",
    "import sys\nsys.excepthook = ignore": "replaces Python's error hook",
    "import sys\nsys.modules['lossutils'] = None": "reaches sys.modules",
    "import sys\nframe = sys._getframe(1)": "walks the call stack",
    "caller = frame.f_back": "walks the call stack",
    "import sys\nsys.settrace(tracer)": "installs a tracer",
    "import gc": "imports gc (reaches every live object)",
    "import ctypes": "imports ctypes",
    "from cffi import FFI": "imports cffi",
    "torch.overrides.TorchFunctionMode": "reaches torch.overrides (torch-function modes)",
    "torch._C._nn.mse_loss(input, target)": "reaches torch._C internals",
    "torch._C.DisableTorchFunction()": "reaches torch._C internals",
    "torch.ops.aten.mse_loss.default(input, target, 1)": "calls aten operators directly (torch.ops)",
    "from torch.utils._python_dispatch import TorchDispatchMode": "installs a dispatch mode",
    "torch.library.Library('aten', 'IMPL')": "registers torch operators",
    "torch.autograd.profiler._disable_profiler_legacy()": "reaches the profiler that records torch calls",
    "torch.profiler.profile()": "reaches the profiler that records torch calls",
    "torch.autograd._enable_record_function(False)": "switches off the dispatcher's recording",
    "torch._refs.nn.functional.mse_loss(input, target)": "reaches torch's private internals",
    "torch.compile(F.l1_loss, backend='aot_eager')": "compiles or traces torch code (hides the operators it runs)",
    "op.redispatch(keys, input, target, 1)": "calls a dispatcher entry point directly",
    "import builtins": "reaches Python's builtins",
    "__builtins__['print'] = ignore": "reaches Python's builtins",
    "import importlib": "imports modules dynamically",
    "checks = __import__('lossutils')": "reaches the grader (lossutils)",
    "exec(code)": "runs code built from a string",
    "eval('1 + 1')": "runs code built from a string",
    "compile(code, 'cell', 'exec')": "runs code built from a string",
    "import inspect": "inspects frames and source code",
    "fn.__globals__['check_values'] = ignore": "reaches Python internals (__globals__)",
    "fn.__code__ = other.__code__": "reaches Python internals (__code__)",
    "setattr(torch, 'allclose', ignore)": "replaces torch.allclose",
    "setattr(F, name, ignore)": "replaces torch.nn.functional",
    "torch.allclose = ignore": "replaces torch.allclose",
    "F.mse_loss = ignore": "replaces torch.nn.functional.mse_loss",
    "nn.Module.__call__ = ignore": "replaces torch.nn.Module.__call__",
    "del torch.testing.assert_close": "deletes torch.testing.assert_close",
    "helper = getattr(torch, '_' + 'C')": "looks up an attribute of torch by a computed name",
    "namespace = vars(torch)": "reaches the namespace of torch",
    "import signal": "installs signal handlers",
    "import os\nos.kill(os.getppid(), 9)": "sends a signal to a process",
    "import os\nos.fork()": "starts a process",
    "import os\nos.system('ls')": "runs a shell command",
    "import os\nos.execv('/bin/sh', ['sh'])": "starts a process",
    "import subprocess": "starts a process",
    "import multiprocessing": "starts a process",
    "from concurrent.futures import ThreadPoolExecutor": "runs code in another thread or process",
    "import threading": "starts a thread",
    "import _thread": "starts a thread",
    "import socket": "opens a socket",
    "import sys\nsys.exit(0)": "exits the process",
    "class Sneaky(torch.Tensor):\n    pass": "subclasses torch.Tensor (can change how a result compares)",
    "class Mode:\n    def __torch_function__(self, func, types, args=(), kwargs=None):\n        pass":
        "intercepts torch calls (__torch_function__)",
}


@pytest.mark.parametrize(("source", "reason"), KINDS.items(), ids=list(KINDS))
def test_each_kind_of_reach_for_the_grader_is_flagged(source, reason) -> None:
    assert reason in reasons(source)


#: Sources that reach torch._C through an alias.
ALIASES = [
    "import torch._C as c\nc._nn.mse_loss(input, target)",
    "from torch import _C\n_C._nn.mse_loss(input, target)",
    "import torch as t\nt._C._nn.mse_loss(input, target)",
    "inner = torch._C\ninner._nn.mse_loss(input, target)",
    "inner = getattr(torch, '_C')\ninner._nn.mse_loss(input, target)",
    "import importlib as il\ninner = il.import_module('torch._C')\ninner._nn.mse_loss(input, target)",
    "inner = __import__('torch')._C\ninner._nn.mse_loss(input, target)",
    "from torch import nn as network\nnetwork.functional.torch._C",
]


@pytest.mark.parametrize("source", ALIASES)
def test_torch_c_is_flagged_through_every_alias(source) -> None:
    flags = flag_source(source)
    assert [flag.line for flag in flags if flag.reason == "reaches torch._C internals"][-1] == source.count("\n") + 1


def test_an_alias_of_an_imported_module_is_followed_to_an_assignment() -> None:
    source = "import torch.nn.functional as G\nG.mse_loss = lambda *a, **k: 0\nfrom torch import nn as N\nN.L1Loss = 0"
    assert [(flag.line, flag.reason) for flag in flag_source(source)] == [
        (2, "replaces torch.nn.functional.mse_loss"), (4, "replaces torch.nn.L1Loss")]


def test_a_name_the_student_binds_is_no_longer_an_alias() -> None:
    assert flag_source("def torch_like(x):\n    return x\ntorch = torch_like\ntorch.x = 1") == []
    assert flag_source("def compile(source):\n    return source\ncompile('x')") == []


def test_a_flag_names_its_cell_line_and_stripped_code() -> None:
    assert flag_source("x = 1\n    \nif x:\n    import gc  # why not\n", cell="mse_loss") == [
        Flag("mse_loss", 4, "import gc  # why not", "imports gc (reaches every live object)")]


# ------------------------------------------------------------------------------------------------------- magics


@pytest.mark.parametrize("source", ["!ls", "!!ls", "files = !ls", "%system ls", "%sx ls", "%%bash\nls -la",
                                    "%%sh\nrm -rf ~", "%%script bash\nls", "  !pip install something"])
def test_a_shell_command_is_flagged(source) -> None:
    assert reasons(source) == ["runs a shell command"]


@pytest.mark.parametrize("source", ["%matplotlib inline", "%time x = 1", "%%time\nx = 1", "%%capture\nx = 1",
                                    "torch.nn.functional.mse_loss?", "%timeit -n 3 (X - Y).abs()"])
def test_a_harmless_magic_is_not_flagged(source) -> None:
    assert reasons(source) == []


def test_the_python_of_a_magic_is_read() -> None:
    assert reasons("%time import gc") == ["imports gc (reaches every live object)"]
    assert reasons("%%capture\nimport gc") == ["imports gc (reaches every live object)"]
    assert reasons("%run other.py") == ["runs code from a file"]


def test_a_source_that_does_not_parse_is_not_flagged() -> None:
    assert flag_source("import gc\ndef broken(:\n    pass") == []
    assert flag_source("import gc\n\0") == []


# ------------------------------------------------------------------------------------------------- notebooks


def _notebook(*cells: tuple[str, dict | None]) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    for source, nbgrader in cells:
        cell = nbformat.v4.new_code_cell(source)
        if nbgrader is not None:
            cell.metadata["nbgrader"] = nbgrader
        notebook.cells.append(cell)
    notebook.cells.insert(1, nbformat.v4.new_markdown_cell("import gc"))
    return notebook


def test_a_notebook_is_flagged_in_the_cells_a_student_can_edit_only() -> None:
    notebook = _notebook(
        ("import torch._C as c\nimport gc", {"locked": True, "grade_id": "setup"}),
        ("def mse_loss(input, target):\n    return c._nn.mse_loss(input, target)",
         {"locked": False, "solution": True, "grade_id": "mse_loss"}),
        ("import ctypes", {"locked": True, "grade": True, "grade_id": "test_mse_loss"}),
        ("import signal", None),
    )
    assert flag_notebook(notebook) == [
        Flag("mse_loss", 2, "return c._nn.mse_loss(input, target)", "reaches torch._C internals"),
        Flag(4, 1, "import signal", "installs signal handlers"),
    ]


@pytest.mark.parametrize("path", sorted(ASSIGNMENTS.glob("*/*.md")), ids=lambda path: path.stem)
def test_no_cell_of_an_assignment_source_is_flagged(path) -> None:
    notebook = jupytext.read(path)
    assert flag_notebook(notebook) == []
    for cell in notebook.cells:  # the locked ones too: the course's own code reaches for nothing
        if cell.cell_type == "code" and "lossutils" not in cell.source:
            assert flag_source(cell.source) == [], cell.source


@pytest.mark.parametrize("assignment", assignment_names())
def test_no_solution_or_honest_submission_is_flagged(assignment) -> None:
    sources = dict(solution_bodies(assignment))
    module = importlib.import_module(f"submissions.{assignment}")
    for kind in ("ALTERNATIVES", "MISTAKES"):
        sources |= {student: source for student, (_, source) in getattr(module, kind).items()}
    sources |= {f"builtin {name}": source for name, source in module.BUILTIN_CALLERS.items()}
    flagged = {student: flag_source(source) for student, source in sources.items()}
    assert {student: flags for student, flags in flagged.items() if flags} == {}


#: The hostile submissions of tests/test_grading_attacks.py that reach for the grader from the source.
HOSTILE = {
    "replace-checks": attacks.REPLACE_CHECKS,
    "replace-detector": attacks.REPLACE_DETECTOR,
    "rewrite-cells": attacks.REWRITE_CELLS,
    "swallow-errors": attacks.SWALLOW,
    "read-sources": attacks.READ_SOURCES,
    "network": attacks.network(9),
    "processes": attacks.PROCESSES,
    "left-running": attacks.LEFT_RUNNING,
    "ignores-interrupts": attacks.IGNORES_INTERRUPTS,
    "flagged": attacks.FLAGGED,
    **{f"dispatcher-{name}": source for name, source in attacks.DISPATCHER.items()},
}


@pytest.mark.parametrize("student", sorted(HOSTILE))
def test_every_hostile_submission_of_the_attack_suite_is_flagged(student) -> None:
    assert flag_source(HOSTILE[student])
