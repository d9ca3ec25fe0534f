"""Flag the code in a submission that reaches for the grader, for an instructor to read.

The built-in detector (:mod:`lossutils.grading.builtins`) and the sandbox stop a student's code at run time; some
routes can only be seen in the source: a module or hook of the grader imported, torch's internals reached
(``torch._C``, ``torch.ops``, the profiler, the dispatch modes), code run from a string, the call stack walked, an
attribute of torch replaced, a thread, process, signal or shell command started. :func:`flag_notebook` reads every
code cell a student can edit with Python's :mod:`ast` and returns one :class:`Flag` per suspicious line, with a short
reason.

Names are followed through aliases: ``import torch._C as c``, ``from torch import _C``, ``import importlib as il``,
``c = getattr(torch, "_C")``, and the notebook's own ``torch``, ``nn`` and ``F``. IPython's magics and ``!``
shell lines are neutralized before parsing (the shell ones flagged). A cell that does not parse is not flagged: it
only raises a ``SyntaxError`` when it runs.

Examples:
    >>> for flag in flag_source("import torch._C as c\\nF.mse_loss = lambda *a, **k: 0\\n!ls"):
    ...     print(flag.line, flag.reason)
    1 reaches torch._C internals
    2 replaces torch.nn.functional.mse_loss
    3 runs a shell command
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass

import nbformat

__all__ = ["Flag", "flag_notebook", "flag_source"]


@dataclass(frozen=True)
class Flag:
    """One suspicious line of a submission.

    Attributes:
        cell: The cell: its nbgrader ``grade_id`` when it has one, else its index in the notebook.
        line: The line in the cell, from 1.
        code: The line, stripped.
        reason: What the line does, for an instructor ("imports ctypes", "reaches torch._C internals").
    """

    cell: int | str
    line: int
    code: str
    reason: str


#: The names every notebook of the course binds in its first cell.
NOTEBOOK_NAMES: Mapping[str, str] = {"torch": "torch", "nn": "torch.nn", "F": "torch.nn.functional"}

_THREAD = "starts a thread"
_PROCESS = "starts a process"
_SHELL = "runs a shell command"
_COMPILE = "compiles or traces torch code (hides the operators it runs)"
_PROFILER = "reaches the profiler that records torch calls"
_EXIT = "exits the process"
_UNREADABLE = "nested too deeply for the flagger to read: look at it yourself"

#: A dotted path (a module, or an attribute of one) -> why reaching it is flagged; the longest matching prefix wins.
PATHS: Mapping[str, str] = {
    # the grader
    "lossutils": "reaches the grader (lossutils)",
    "lossutils_builtins": "reaches the grader's built-in detector",
    "autograder": "reaches the grader (autograder)",
    "kernel": "reaches the grading kernel",
    "nbgrader": "reaches nbgrader",
    # IPython
    "IPython": "reaches the IPython shell",
    "ipykernel": "reaches the IPython kernel",
    # Python's machinery
    "builtins": "reaches Python's builtins",
    "importlib": "imports modules dynamically",
    "inspect": "inspects frames and source code",
    "gc": "imports gc (reaches every live object)",
    "ctypes": "imports ctypes",
    "_ctypes": "imports ctypes",
    "cffi": "imports cffi",
    "sys.modules": "reaches sys.modules",
    "sys._getframe": "walks the call stack",
    "sys._current_frames": "walks the call stack",
    "sys.settrace": "installs a tracer",
    "sys.setprofile": "installs a tracer",
    "sys.excepthook": "replaces Python's error hook",
    "sys.displayhook": "replaces Python's display hook",
    "sys.unraisablehook": "replaces Python's error hook",
    "sys.addaudithook": "installs an audit hook",
    "sys.meta_path": "changes how modules are imported",
    "sys.path_hooks": "changes how modules are imported",
    "sys.exit": _EXIT,
    # processes, threads, signals, sockets
    "signal": "installs signal handlers",
    "subprocess": _PROCESS,
    "multiprocessing": _PROCESS,
    "concurrent": "runs code in another thread or process",
    "threading": _THREAD,
    "_thread": _THREAD,
    "socket": "opens a socket",
    "pty": _PROCESS,
    "os.kill": "sends a signal to a process",
    "os.killpg": "sends a signal to a process",
    "os.fork": _PROCESS,
    "os.forkpty": _PROCESS,
    "os.posix_spawn": _PROCESS,
    "os.posix_spawnp": _PROCESS,
    "os.system": _SHELL,
    "os.popen": _SHELL,
    "os._exit": _EXIT,
    "os.abort": _EXIT,
    **{f"os.{name}": "reads or writes a file descriptor directly (the grader's channel is one)" for name in (
        "read", "write", "pread", "pwrite", "readv", "writev", "sendfile", "fdopen", "dup", "dup2", "openpty",
        "set_inheritable", "set_blocking", "fstat", "lseek", "close", "closerange")},
    "traceback.extract_stack": "walks the call stack",
    "traceback.walk_stack": "walks the call stack",
    "traceback.format_stack": "walks the call stack",
    "traceback.print_stack": "walks the call stack",
    "numpy.ctypeslib": "imports ctypes",
    # torch's internals
    "torch._C": "reaches torch._C internals",
    "torch.ops": "calls aten operators directly (torch.ops)",
    "torch.overrides": "reaches torch.overrides (torch-function modes)",
    "torch.utils._python_dispatch": "installs a dispatch mode",
    "torch.library": "registers torch operators",
    "torch.autograd.profiler": _PROFILER,
    "torch.profiler": _PROFILER,
    "torch.autograd._enable_record_function": "switches off the dispatcher's recording",
    "torch.compile": _COMPILE,
    "torch._dynamo": _COMPILE,
    "torch.fx": _COMPILE,
    "torch.export": _COMPILE,
    "torch.jit": _COMPILE,
    "torch.multiprocessing": _PROCESS,
}
_PREFIXES = {"os.exec": _PROCESS, "os.spawn": _PROCESS}

#: Private torch names a loss may legitimately subclass.
_PRIVATE_ALLOWED = frozenset({"_Loss", "_WeightedLoss"})

#: Bare names of Python's builtins -> why calling them is flagged (unless the cell binds the name itself).
BUILTIN_NAMES: Mapping[str, str] = {
    "exec": "runs code built from a string",
    "eval": "runs code built from a string",
    "compile": "runs code built from a string",
    "__import__": "imports modules dynamically",
    "__builtins__": "reaches Python's builtins",
    "get_ipython": "reaches the IPython shell",
    "exit": _EXIT,
    "quit": _EXIT,
}

#: Attribute names -> why reaching them is flagged, whatever object they are read from.
ATTRIBUTES: Mapping[str, str] = {
    "input_transformers_cleanup": "installs an IPython input transformer",
    "input_transformers_post": "installs an IPython input transformer",
    "input_transformer_manager": "installs an IPython input transformer",
    "ast_transformers": "installs an IPython AST transformer",
    "set_custom_exc": "installs an IPython error handler",
    "showtraceback": "replaces how IPython shows errors",
    "showsyntaxerror": "replaces how IPython shows errors",
    "register_magic_function": "registers an IPython magic",
    "run_line_magic": "runs an IPython magic",
    "run_cell_magic": "runs an IPython magic",
    "__torch_function__": "intercepts torch calls (__torch_function__)",
    "__torch_dispatch__": "intercepts torch calls (__torch_dispatch__)",
    "redispatch": "calls a dispatcher entry point directly",
    "redispatch_boxed": "calls a dispatcher entry point directly",
    "_op_dk": "calls a dispatcher entry point directly",
    **{name: "walks the call stack" for name in (
        "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "tb_frame", "tb_next", "gi_frame", "cr_frame",
        "ag_frame", "__traceback__")},
    **{name: f"reaches Python internals ({name})" for name in (
        "__globals__", "__code__", "__closure__", "__builtins__", "__subclasses__", "__mro__", "__bases__",
        "__base__", "__dict__", "__defaults__", "__kwdefaults__", "__func__", "__self__", "__wrapped__", "__loader__",
        "__spec__", "__getattribute__", "__setattr__", "__delattr__", "__reduce__", "__reduce_ex__")},
}

#: Line magics -> why they are flagged; the others (``%time``, ``%matplotlib``, ...) are harmless.
LINE_MAGICS: Mapping[str, str] = {
    "system": _SHELL, "sx": _SHELL, "sc": _SHELL, "alias": _SHELL, "bash": _SHELL, "sh": _SHELL,
    "run": "runs code from a file", "load": "runs code from a file", "loadpy": "runs code from a file",
    "load_ext": "loads an IPython extension", "reload_ext": "loads an IPython extension",
    "env": "changes environment variables", "set_env": "changes environment variables",
    "config": "changes IPython's configuration", "writefile": "writes a file", "save": "writes a file",
}
#: Cell magics whose body is Python; the body of any other is not, and the magic itself is flagged.
PYTHON_CELL_MAGICS = frozenset({"capture", "time", "timeit", "prun", "debug"})
_CELL_MAGIC_REASONS = {"bash": _SHELL, "sh": _SHELL, "script": _SHELL, "system": _SHELL, "!": _SHELL,
                       "writefile": "writes a file", "python": _PROCESS, "python3": _PROCESS, "pypy": _PROCESS,
                       "perl": _PROCESS, "ruby": _PROCESS}
#: Line magics followed by a Python statement, which is read too.
_PYTHON_LINE_MAGICS = frozenset({"time", "timeit", "prun", "debug", "capture"})

_MAGIC = re.compile(r"^(?P<indent>\s*)(?P<target>[\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*)?(?P<kind>!!?|%%?)(?P<rest>.*)$")
_HELP = re.compile(r"^(?P<indent>\s*)\??[\w.]+\?{1,2}\s*$")


def _magic_name(rest: str) -> str:
    return rest.split(maxsplit=1)[0] if rest.split() else ""


def _python_lines(source: str) -> tuple[list[str], list[tuple[int, str]]]:
    """The cell as Python (magics and ``!`` lines neutralized, line numbers kept), and the flags of its magics as
    ``(line, reason)``. A cell magic whose body is not Python leaves no Python at all."""
    lines = source.splitlines()
    first_line = next((line for line in lines if line.strip()), "")
    indent = first_line[: len(first_line) - len(first_line.lstrip())]
    if indent:  # IPython takes the first line's indentation off every line
        lines = [line.removeprefix(indent) for line in lines]
    flags: list[tuple[int, str]] = []
    first = next((index for index, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        name = _magic_name(lines[first].lstrip()[2:])
        if name not in PYTHON_CELL_MAGICS:
            reason = _CELL_MAGIC_REASONS.get(name, f"runs the cell through the %%{name} magic")
            return [], [(first + 1, reason)]
    python = []
    for number, line in enumerate(lines, start=1):
        magic = _MAGIC.match(line)
        if _HELP.match(line):
            python.append(_HELP.match(line)["indent"] + "pass")
        elif magic:
            indent, target, kind, rest = magic["indent"], magic["target"] or "", magic["kind"], magic["rest"]
            name = _magic_name(rest)
            if kind.startswith("!"):
                flags.append((number, _SHELL))
            elif kind == "%" and name in LINE_MAGICS:
                flags.append((number, LINE_MAGICS[name]))
            statement = rest[len(name):].strip() if kind == "%" and name in _PYTHON_LINE_MAGICS else ""
            if statement and _parses(statement):
                python.append(indent + target + statement)
            else:
                python.append(indent + (target + "None" if target else "pass"))
        else:
            python.append(line)
    return python, flags


def _parses(statement: str) -> bool:
    try:
        ast.parse(statement)
    except SyntaxError:
        return False
    return True


def _path_reason(path: str) -> str | None:
    """Why reaching the dotted ``path`` is flagged, if it is: by its longest flagged prefix, or by a flagged dotted
    path inside it (``torch.nn.functional.torch._C``: modules are attributes of one another)."""
    parts = path.split(".")
    for start in range(len(parts)):
        for end in range(len(parts), start, -1):
            key = ".".join(parts[start:end])
            if key in PATHS and (start == 0 or "." in key):
                return PATHS[key]
    for prefix, reason in _PREFIXES.items():
        if path.startswith(prefix):
            return reason
    if parts[0] == "torch" and any(part.startswith("_") and not part.startswith("__") and part not in _PRIVATE_ALLOWED
                                   for part in parts[1:]):
        return "reaches torch's private internals"
    return None


class _Scanner(ast.NodeVisitor):
    """Walks one cell in source order, following aliases, and collects its flags."""

    def __init__(self, lines: list[str], cell: int | str, aliases: dict[str, str], bound: set[str]) -> None:
        self.lines, self.cell, self.aliases, self.bound = lines, cell, aliases, bound
        self.flags: dict[tuple[int, str], Flag] = {}

    def flag(self, line: int, reason: str) -> None:
        code = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        self.flags.setdefault((line, reason), Flag(self.cell, line, code, reason))

    # ------------------------------------------------------------------------------------------- names
    def resolve(self, node: ast.AST) -> str | None:
        """The dotted path an expression names, when it comes from an import (or the notebook's own names)."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call) and _is(node.func, "getattr") and len(node.args) >= 2:
            base = self.resolve(node.args[0])
            return f"{base}.{node.args[1].value}" if base and _constant_str(node.args[1]) else None
        importer = isinstance(node, ast.Call) and (
            _is(node.func, "__import__") or self.resolve(node.func) == "importlib.import_module")
        if importer and node.args and _constant_str(node.args[0]):
            return node.args[0].value
        return None

    def bind(self, name: str, path: str | None) -> None:
        self.bound.add(name)
        if path:
            self.aliases[name] = path
        else:
            self.aliases.pop(name, None)

    def check(self, node: ast.AST, path: str) -> None:
        reason = _path_reason(path)
        if reason:
            self.flag(node.lineno, reason)

    # ----------------------------------------------------------------------------------------- imports
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.check(node, alias.name)
            top = alias.name if alias.asname else alias.name.split(".")[0]
            self.bind(alias.asname or top, top)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.flag(node.lineno, "imports from the grader's package (a relative import)")
        for alias in node.names:
            path = module if alias.name == "*" else f"{module}.{alias.name}"
            self.check(node, path)
            if alias.name != "*":
                self.bind(alias.asname or alias.name, path)

    # -------------------------------------------------------------------------------------- references
    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            path = self.aliases.get(node.id)
            if path:
                self.check(node, path)
            elif node.id in BUILTIN_NAMES and node.id not in self.bound:
                self.flag(node.lineno, BUILTIN_NAMES[node.id])

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ATTRIBUTES:
            self.flag(node.lineno, ATTRIBUTES[node.attr])
        if node.attr == "register" and isinstance(node.value, ast.Attribute) and node.value.attr == "events":
            self.flag(node.lineno, "registers an IPython event callback")
        path = self.resolve(node)
        if path:
            self.check(node, path)
        if path is None or not isinstance(node.value, ast.Name | ast.Attribute):
            self.visit(node.value)
        else:  # a plain chain: its inner links only repeat what the whole says, but their attributes may still count
            inner = node.value
            while isinstance(inner, ast.Attribute):
                if inner.attr in ATTRIBUTES:
                    self.flag(inner.lineno, ATTRIBUTES[inner.attr])
                inner = inner.value

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        target = self.resolve(node.args[0]) if node.args else None
        if _is(func, "getattr") and len(node.args) >= 2 and target and not _constant_str(node.args[1]):
            self.flag(node.lineno, f"looks up an attribute of {target} by a computed name")
        if (_is(func, "setattr") or _is(func, "delattr")) and target:
            name = f".{node.args[1].value}" if len(node.args) >= 2 and _constant_str(node.args[1]) else ""
            self.flag(node.lineno, f"replaces {target}{name}")
        if _is(func, "vars") and target:
            self.flag(node.lineno, f"reaches the namespace of {target}")
        if _is(func, "getattr") and len(node.args) >= 2 and _constant_str(node.args[1]):
            name = node.args[1].value
            if name in ATTRIBUTES:
                self.flag(node.lineno, ATTRIBUTES[name])
            elif name.startswith("__") and name.endswith("__"):
                self.flag(node.lineno, f"reaches Python internals ({name})")
        path = self.resolve(node)
        if path:
            self.check(node, path)
        self.generic_visit(node)

    # ------------------------------------------------------------------------------------- assignments
    def store(self, target: ast.AST, value_path: str | None) -> None:
        if isinstance(target, ast.Name):
            self.bind(target.id, value_path)
        elif isinstance(target, ast.Attribute | ast.Subscript):
            base = self.resolve(target.value)
            if base and isinstance(target, ast.Attribute) and not _path_reason(f"{base}.{target.attr}"):
                self.flag(target.lineno, f"replaces {base}.{target.attr}")
            elif base:
                self.check(target, base)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self.store(element, None)
        elif isinstance(target, ast.Starred):
            self.store(target.value, None)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        path = self.resolve(node.value)
        for target in node.targets:
            self.store(target, path)
            self.visit(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        self.store(node.target, self.resolve(node.value) if node.value is not None else None)
        self.visit(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        self.store(node.target, None)
        self.visit(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.store(node.target, self.resolve(node.value))

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if isinstance(target, ast.Attribute) and self.resolve(target.value):
                self.flag(target.lineno, f"deletes {self.resolve(target.value)}.{target.attr}")
            self.visit(target)

    def visit_For(self, node: ast.For) -> None:
        self.store(node.target, None)
        self.generic_visit(node)

    def visit_withitem(self, node: ast.withitem) -> None:
        self.visit(node.context_expr)
        if node.optional_vars is not None:
            self.store(node.optional_vars, None)

    # ------------------------------------------------------------------------------------- definitions
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if node.name in ATTRIBUTES:
            self.flag(node.lineno, ATTRIBUTES[node.name])
        self.bind(node.name, None)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815 - the visitor's naming

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value.startswith("/proc"):
            self.flag(node.lineno, "reads /proc (its own process's internals)")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        bases = {self.resolve(base) for base in node.bases}
        if bases & {"torch.Tensor", "torch.nn.Parameter", "torch.nn.parameter.Parameter"}:
            self.flag(node.lineno, "subclasses torch.Tensor (can change how a result compares)")
        if bases & {"torch.autograd.Function", "torch.autograd.function.Function"}:
            self.flag(node.lineno, "defines its own backward (torch.autograd.Function)")
        self.bind(node.name, None)
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        self.bound.add(node.arg)


def _is(func: ast.AST, name: str) -> bool:
    return isinstance(func, ast.Name) and func.id == name


def _constant_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _scan(source: str, cell: int | str, aliases: dict[str, str], bound: set[str]) -> list[Flag]:
    python, magic_flags = _python_lines(source)
    try:
        tree = ast.parse("\n".join(python))
    except (SyntaxError, ValueError):  # the cell raises when it runs; nothing in it runs
        return []
    except (RecursionError, MemoryError):  # valid Python nested deeper than the parser's stack: read it by eye
        return [Flag(cell, 1, source.splitlines()[0].strip() if source.strip() else "", _UNREADABLE)]
    scanner = _Scanner(source.splitlines(), cell, aliases, bound)
    for line, reason in magic_flags:
        scanner.flag(line, reason)
    try:
        scanner.visit(tree)
    except RecursionError:
        scanner.flag(1, _UNREADABLE)
    return sorted(scanner.flags.values(), key=lambda flag: (flag.line, flag.reason))


def flag_source(source: str, cell: int | str = 0) -> list[Flag]:
    """The suspicious lines of one cell's source, in order.

    Args:
        source: The cell's source; IPython magics and ``!`` lines allowed.
        cell: What to call the cell in the flags.

    Returns:
        One :class:`Flag` per line and reason; none when the source does not parse.

    Examples:
        >>> flag_source("from torch import _C\\nhelper = getattr(torch, '_C')")[1].reason
        'reaches torch._C internals'
        >>> flag_source("def mse_loss(input, target):\\n    return ((input - target) ** 2).mean()")
        []
        >>> flag_source("def broken(:")
        []
    """
    return _scan(source, cell, dict(NOTEBOOK_NAMES), set())


def _editable(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and not cell.metadata.get("nbgrader", {}).get("locked", False)


def flag_notebook(nb: nbformat.NotebookNode) -> list[Flag]:
    """The suspicious lines of every code cell a student can edit (solution cells and unlocked ones), in order.

    Locked cells are read too — their imports bind names the student's cells use — but never flagged.

    Args:
        nb: The submitted notebook.

    Returns:
        The flags, each naming its cell by ``grade_id`` (or index when the cell has none).
    """
    aliases, bound = dict(NOTEBOOK_NAMES), set()
    flags: list[Flag] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        name = cell.metadata.get("nbgrader", {}).get("grade_id", index)
        found = _scan(cell.source, name, aliases, bound)
        if _editable(cell):
            flags += found
    return flags
