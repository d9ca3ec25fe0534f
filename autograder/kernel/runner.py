"""The student's process: runs the notebook's cells and answers the trusted side's calls, until the socket closes.

One namespace holds what the cells define, as in a Jupyter kernel. Requests (frames of :mod:`kernel.protocol`):

- ``{"op": "exec", "source": CODE, "output_limit": BYTES}``: run a cell; reply its outputs in nbformat's shape
  (``stream``, ``execute_result``, ``display_data``) and its error, if any;
- ``{"op": "describe", "name": NAME}``: what the namespace holds under ``NAME``: ``function``, ``class``,
  ``other`` or ``missing``;
- ``{"op": "call", "name": NAME | "handle": H, "args": [...], "kwargs": {...}, "forbidden": [...], "objects": {...}}``:
  call a graded name (or an object made earlier) on decoded arguments under the built-in detector; a tensor that
  comes with ``requires_grad`` is a leaf, and a result that requires grad keeps its graph under a ``graph`` id for
  ``backward``. ``objects`` are modules and optimizers rebuilt from plain data (a training step's arguments); the
  reply sends their parameters and gradients back;
- ``{"op": "construct", ...}``: like ``call`` on a class, keeping the instance under a ``handle``;
- ``{"op": "backward", "graph": G, "grad_output": TENSOR}``: the gradients of a kept graph's leaves;
- ``{"op": "release"}``: forget every kept graph and instance.

Every reply is ``{"op": "result", ...}`` with ``error`` (``{"ename", "evalue", "traceback"}``) when the student's
code raised, ``builtin`` when it called a forbidden torch built-in, and ``limit`` when it ran into a resource limit.
"""

from __future__ import annotations

import ast
import re
import signal
import socket
import sys
import traceback
from typing import Any

import torch

from . import protocol

try:  # inside the sandbox the detector is a standalone module
    import lossutils_builtins as _detector
except ImportError:  # pragma: no cover - the same file, in the project
    from lossutils.grading import builtins as _detector

__all__ = ["serve"]

_CELL = "<cell>"
_MAGIC = re.compile(r"^\s*(%%?|!)")
#: torch.nn classes a module or loss may be rebuilt from (a training step's model and loss).
_MODULES = frozenset({"Linear", "Sequential", "Tanh", "ReLU", "Sigmoid", "Identity", "Flatten", "CrossEntropyLoss",
                      "MSELoss", "L1Loss", "BCEWithLogitsLoss", "NLLLoss"})
_OPTIMIZERS = frozenset({"SGD"})
_FLOAT_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_MEMORY_ERRORS = ("can't allocate memory", "Cannot allocate memory", "not enough memory", "std::bad_alloc")


class _Capture:
    """A text stream that keeps at most ``limit`` characters across the cell's streams, in order."""

    def __init__(self, name: str, outputs: list[dict[str, Any]], budget: list[int]) -> None:
        self.name, self.outputs, self.budget = name, outputs, budget
        self.overflow = False

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            text = str(text)
        kept = text[: max(self.budget[0], 0)]
        self.budget[0] -= len(text)
        if len(kept) < len(text):
            self.overflow = True
        if kept:
            last = self.outputs[-1] if self.outputs else None
            if last and last["output_type"] == "stream" and last["name"] == self.name:
                last["text"] += kept
            else:
                self.outputs.append({"output_type": "stream", "name": self.name, "text": kept})
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class _Session:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        self.namespace["display"] = _display
        self.graphs: dict[int, tuple[torch.Tensor, dict[str, torch.Tensor], Any]] = {}
        self.instances: dict[int, Any] = {}
        self.counter = 0
        self.outputs: list[dict[str, Any]] = []
        self.interrupted = False

    # ------------------------------------------------------------------------------------------------ cells

    @staticmethod
    def _without_magics(source: str) -> str:
        """IPython magics and shell escapes are not Python: they become ``pass`` (the grader runs no shell)."""
        lines = source.splitlines()
        if lines and lines[0].lstrip().startswith("%%"):
            return "pass"
        return "\n".join(re.sub(r"^(\s*).*$", r"\1pass", line) if _MAGIC.match(line) else line for line in lines)

    def exec(self, request: dict[str, Any]) -> dict[str, Any]:
        source = self._without_magics(str(request.get("source", "")))
        limit = int(request.get("output_limit", 1 << 20))
        self.outputs = []
        reply: dict[str, Any] = {"op": "result"}
        with self._captured(limit) as streams:
            try:
                tree = ast.parse(source, _CELL)
                last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
                exec(compile(tree, _CELL, "exec"), self.namespace)  # noqa: S102 - running the student's cell
                if last is not None:
                    value = eval(compile(ast.Expression(last.value), _CELL, "eval"), self.namespace)  # noqa: S307
                    if value is not None:
                        self.outputs.append({"output_type": "execute_result", "data": {"text/plain": repr(value)},
                                             "metadata": {}, "execution_count": None})
            except BaseException as err:  # noqa: BLE001 - a cell may raise anything, SystemExit included
                reply.update(self._error(err))
        reply["outputs"] = self.outputs
        if any(stream.overflow for stream in streams):
            reply["limit"] = "output limit"
        return reply

    def _captured(self, limit: int):
        session = self

        class _Redirect:
            def __enter__(self) -> tuple[_Capture, _Capture]:
                budget = [limit]
                self.saved = sys.stdout, sys.stderr
                self.streams = (_Capture("stdout", session.outputs, budget),
                                _Capture("stderr", session.outputs, budget))
                sys.stdout, sys.stderr = self.streams
                return self.streams

            def __exit__(self, *exc: object) -> None:
                sys.stdout, sys.stderr = self.saved

        return _Redirect()

    @staticmethod
    def _error(err: BaseException) -> dict[str, Any]:
        frames = traceback.extract_tb(err.__traceback__)
        ours = [f for f in frames if f.filename == _CELL]
        lines = [f"  cell line {f.lineno}" + (f": {f.line}" if f.line else "") for f in ours]
        evalue = str(err)[:4000]
        reply: dict[str, Any] = {"error": {"ename": type(err).__name__, "evalue": evalue,
                                           "traceback": [*lines, f"{type(err).__name__}: {evalue}"]}}
        if isinstance(err, MemoryError) or any(text in evalue for text in _MEMORY_ERRORS):
            reply["limit"] = "memory limit"
        return reply

    # ------------------------------------------------------------------------------------------------ calls

    def describe(self, request: dict[str, Any]) -> dict[str, Any]:
        name = str(request.get("name", ""))
        if name not in self.namespace:
            return {"op": "result", "kind": "missing"}
        value = self.namespace[name]
        kind = "class" if isinstance(value, type) else "function" if callable(value) else "other"
        return {"op": "result", "kind": kind, "type": type(value).__name__}

    def _objects(self, specs: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Rebuild the modules and optimizers a training step is called with."""
        objects: dict[str, Any] = {}
        for key, spec in specs.items():
            if "module" in spec:
                module = _build_module(spec["module"])
                with torch.no_grad():
                    for name, value in protocol.decode(spec.get("state", {"$dict": {}}), tensors).items():
                        module.get_parameter(name).copy_(value)
                    for name, value in protocol.decode(spec.get("grads", {"$dict": {}}), tensors).items():
                        module.get_parameter(name).grad = None if value is None else value.detach().clone()
                objects[key] = module
            else:
                kind = str(spec.get("optimizer"))
                if kind not in _OPTIMIZERS:
                    raise ValueError(f"unknown optimizer {kind}")
                defaults = protocol.decode(spec.get("defaults", {"$dict": {}}), tensors)
                objects[key] = getattr(torch.optim, kind)(objects[spec["params_of"]].parameters(), **defaults)
        return objects

    @staticmethod
    def _decode(item: dict[str, Any], tensors: dict[str, torch.Tensor], objects: dict[str, Any]
                ) -> tuple[list[Any], dict[str, Any], dict[str, torch.Tensor]]:
        """A call's arguments, and its leaves: the tensors that came with ``requires_grad``."""
        args = _resolve(protocol.decode(item.get("args", {"$list": []}), tensors), objects)
        kwargs = _resolve(protocol.decode(item.get("kwargs", {"$dict": {}}), tensors), objects)
        leaves = {key: tensors[key] for key in _tensor_keys([item.get("args"), item.get("kwargs")])
                  if tensors[key].requires_grad}
        return args, kwargs, leaves

    @staticmethod
    def _run(target: Any, calls: list[tuple[list[Any], dict[str, Any]]], as_class: bool) -> list[Any]:
        """Make every call; each outcome is ``(True, result)`` or ``(False, the exception)``. A class is made with
        the keyword arguments and called with the positional ones, as torch's loss modules are used."""
        if target is None:
            raise NameError("the graded name is not defined")
        outcomes: list[Any] = []
        for args, kwargs in calls:
            try:
                outcomes.append((True, target(**kwargs)(*args) if as_class else target(*args, **kwargs)))
            except KeyboardInterrupt:
                raise
            except BaseException as err:  # noqa: BLE001 - the student's code may raise anything
                outcomes.append((False, err))
        return outcomes

    def _gradients(self, jobs: list[tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]], forbidden: Any
                   ) -> list[tuple[bool, Any]]:
        """The gradients of each job's leaves (``(result, leaves, grad_output)``), under the detector too: a custom
        ``autograd.Function``'s backward is the student's code and may call the built-in. One detector watches
        them all; when it finds a built-in, each runs again under its own."""

        def gradient(result: torch.Tensor, inputs: list[torch.Tensor], grad_output: torch.Tensor) -> Any:
            return torch.autograd.grad(result, inputs, grad_output, allow_unused=True, retain_graph=True)

        calls = [((result, list(leaves.values()), grad_output), {}) for result, leaves, grad_output in jobs]
        outcomes = self._detected(gradient, calls, forbidden, False)
        if len(calls) > 1 and any(isinstance(o[1], _detector.BuiltinCalled) for o in outcomes):
            outcomes = [self._detected(gradient, [call], forbidden, False)[0] for call in calls]
        return outcomes

    @staticmethod
    def _graphed(outcome: tuple[bool, Any], leaves: dict[str, torch.Tensor]) -> bool:
        ok, result = outcome
        return ok and type(result) is torch.Tensor and result.requires_grad and bool(leaves)

    def _finish(self, outcome: tuple[bool, Any], leaves: dict[str, torch.Tensor], out: dict[str, torch.Tensor],
                objects: dict[str, Any], forbidden: Any = (), grads: tuple[bool, Any] | None = None
                ) -> dict[str, Any]:
        """A call's reply: its value, its graph, and the gradients of its leaves (``grads``, when it came with a
        ``grad_output``)."""
        ok, result = outcome
        if not ok:
            return {"builtin": result.name} if isinstance(result, _detector.BuiltinCalled) else self._error(result)
        self.counter += 1
        reply: dict[str, Any] = {}
        if self._graphed(outcome, leaves):
            self.graphs[self.counter] = (result, leaves, forbidden)
            reply["graph"] = self.counter
            if grads is not None:
                if isinstance(grads[1], _detector.BuiltinCalled):
                    return {"builtin": grads[1].name}
                if grads[0]:  # an error is left for the trusted side to meet again through backward
                    reply["grads"] = {key: protocol.encode(g, out) for key, g in zip(leaves, grads[1], strict=True)}
        reply["value"] = protocol.encode(result, out)
        modules = {key: obj for key, obj in objects.items() if isinstance(obj, torch.nn.Module)}
        if modules:
            reply["objects"] = {
                key: {"state": protocol.encode({n: p.detach() for n, p in m.named_parameters()}, out),
                      "grads": protocol.encode({n: p.grad for n, p in m.named_parameters()}, out)}
                for key, m in modules.items()
            }
        return reply

    def _detected(self, target: Any, calls: list[tuple[list[Any], dict[str, Any]]], forbidden: Any,
                  as_class: bool) -> list[Any]:
        """:meth:`_run` under the built-in detector: a forbidden call makes its own outcome a ``BuiltinCalled``."""
        try:
            return _detector.call_recording_torch(self._run, target, calls, as_class, forbidden=forbidden)[0]
        except _detector.BuiltinCalled as err:
            return [(False, err)] * len(calls)
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # noqa: BLE001 - no graded name, or the detector refused to start
            return [(False, err)] * len(calls)

    def call(self, request: dict[str, Any], tensors: dict[str, torch.Tensor], *, construct: bool = False
             ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """``call``, ``construct`` and ``batch`` (a list of ``calls`` to one graded name, each with its own
        ``args``, ``kwargs`` and ``grad_output``).

        A batch runs under one detector; when it finds a forbidden built-in, the calls run again one at a time, each
        under its own detector, so that the call that made it is the one that fails.
        """
        target = self.instances.get(int(request["handle"])) if "handle" in request \
            else self.namespace.get(str(request.get("name")))
        forbidden = request.get("forbidden", ())
        out: dict[str, torch.Tensor] = {}
        default_dtype = torch.get_default_dtype()
        self.outputs = []
        with self._captured(1 << 16):
            try:
                torch.set_default_dtype(_FLOAT_DTYPES.get(str(request.get("default_dtype")), default_dtype))
                if construct:
                    args, kwargs, _ = self._decode(request, tensors, {})
                    ((ok, result),) = self._detected(lambda: target(*args, **kwargs), [([], {})], forbidden, False)
                    if not ok:
                        return {"op": "result", **self._finish((ok, result), {}, out, {})}, out
                    self.counter += 1
                    self.instances[self.counter] = result
                    return {"op": "result", "handle": self.counter}, out
                items = request["calls"] if "calls" in request else [request]
                as_class = bool(request.get("class"))
                objects = self._objects(request.get("objects") or {}, tensors)
                pristine = {key: t.detach().clone() for key, t in tensors.items()}
                decoded = [self._decode(item, tensors, objects) for item in items]
                outcomes = self._detected(target, [(a, k) for a, k, _ in decoded], forbidden, as_class)
                if len(items) > 1 and any(isinstance(o[1], _detector.BuiltinCalled) for o in outcomes):
                    outcomes, decoded = [], []
                    for item in items:
                        fresh = {key: t.clone() for key, t in pristine.items()}
                        args, kwargs, leaves = self._decode(item, fresh, objects)
                        decoded.append((args, kwargs, leaves))
                        outcomes += self._detected(target, [(args, kwargs)], forbidden, as_class)
                wanted = [i for i, (outcome, (_, _, leaves), item) in enumerate(zip(outcomes, decoded, items,
                                                                                    strict=True))
                          if item.get("grad_output") is not None and self._graphed(outcome, leaves)]
                jobs = [(outcomes[i][1], decoded[i][2], protocol.decode(items[i]["grad_output"], tensors))
                        for i in wanted]
                grads = dict(zip(wanted, self._gradients(jobs, forbidden) if jobs else [], strict=True))
                replies = [self._finish(outcome, leaves, out, objects, forbidden, grads.get(i))
                           for i, (outcome, (_, _, leaves)) in enumerate(zip(outcomes, decoded, strict=True))]
                if "calls" in request:
                    return {"op": "result", "replies": replies}, out
                return {"op": "result", **replies[0]}, out
            finally:
                torch.set_default_dtype(default_dtype)

    def backward(self, request: dict[str, Any], tensors: dict[str, torch.Tensor]
                 ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        result, leaves, forbidden = self.graphs[int(request["graph"])]
        grad_output = protocol.decode(request["grad_output"], tensors)
        out: dict[str, torch.Tensor] = {}
        ((ok, grads),) = self._gradients([(result, leaves, grad_output)], forbidden)
        if isinstance(grads, _detector.BuiltinCalled):
            return {"op": "result", "builtin": grads.name}, out
        if not ok:  # a custom autograd.Function of the student's may raise
            return {"op": "result", **self._error(grads)}, out
        encoded = {key: protocol.encode(grad, out) for key, grad in zip(leaves, grads, strict=True)}
        return {"op": "result", "grads": encoded}, out


def _display(*values: Any) -> None:
    """IPython's ``display``, as text: what a cell shows besides its last value."""
    for value in values:
        print(repr(value))


def _tensor_keys(data: Any) -> list[str]:
    """The keys of the tensors an encoded value refers to, in order."""
    if isinstance(data, dict):
        if "$tensor" in data:
            return [str(data["$tensor"])]
        return [key for value in data.values() for key in _tensor_keys(value)]
    if isinstance(data, list):
        return [key for value in data for key in _tensor_keys(value)]
    return []


def _resolve(value: Any, objects: dict[str, Any]) -> Any:
    """Replace ``{"$ref": KEY}`` markers by the rebuilt objects."""
    if isinstance(value, dict):
        if set(value) == {"$ref"}:
            return objects[value["$ref"]]
        return {k: _resolve(v, objects) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, objects) for v in value]
    if isinstance(value, tuple):
        return tuple(_resolve(v, objects) for v in value)
    return value


def _build_module(spec: dict[str, Any]) -> torch.nn.Module:
    kind = str(spec.get("type"))
    if kind not in _MODULES:
        raise ValueError(f"cannot rebuild a {kind}")
    if kind == "Sequential":
        return torch.nn.Sequential(*(_build_module(child) for child in spec.get("children", [])))
    return getattr(torch.nn, kind)(**spec.get("kwargs", {}))


def _send_uninterrupted(sock: socket.socket, reply: dict[str, Any], out: dict[str, torch.Tensor]) -> None:
    """Send a reply whole: an interrupt that arrives meanwhile waits until it is sent (a half-sent frame would end
    the conversation)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        protocol.send(sock, reply, out)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def serve(sock: socket.socket) -> None:
    """Answer requests on ``sock`` until it closes."""
    session = _Session()

    def interrupted(signum: int, frame: Any) -> None:
        """The grader's interrupt, told apart from a ``KeyboardInterrupt`` the student's code raises itself."""
        session.interrupted = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    while True:
        session.interrupted = False
        try:
            request, tensors = protocol.recv(sock)
        except KeyboardInterrupt:  # an interrupt that came after its cell had finished: nothing to stop
            continue
        except (EOFError, OSError):
            return
        op = request.get("op")
        out: dict[str, torch.Tensor] = {}
        try:
            if op == "exec":
                reply = session.exec(request)
            elif op == "describe":
                reply = session.describe(request)
            elif op in ("call", "construct", "batch"):
                reply, out = session.call(request, tensors, construct=op == "construct")
            elif op == "backward":
                reply, out = session.backward(request, tensors)
            elif op == "release":
                session.graphs.clear()
                session.instances.clear()
                reply = {"op": "result"}
            else:
                reply = {"op": "result", "error": {"ename": "ProtocolError", "evalue": f"unknown op {op!r}",
                                                   "traceback": []}}
        except KeyboardInterrupt as err:
            reply, out = {"op": "result", **session._error(err)}, {}
        except BaseException as err:  # noqa: BLE001 - a malformed request or the student's object misbehaving
            reply, out = {"op": "result", **session._error(err)}, {}
        if session.interrupted:
            reply["interrupted"] = True
        try:
            _send_uninterrupted(sock, reply, out)
        except KeyboardInterrupt:  # the interrupt held back while sending: its cell is over
            pass
        except (OSError, ValueError, TypeError):
            try:
                protocol.send(sock, {"op": "result", "error": {"ename": "ProtocolError", "evalue":
                                                                "the result could not be sent", "traceback": []}})
            except OSError:
                return
