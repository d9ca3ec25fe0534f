"""The trusted side's view of the student's process: one :class:`Kernel` per submission, and a proxy per graded name.

The hidden tests run in the grader's own process and call the student's functions through proxies: a call sends
its arguments to the sandbox as plain data (JSON and safetensors), the student's function runs there under the
built-in detector, and the result comes back as plain data. A result that requires grad is wired into the trusted
side's autograd graph, so ``torch.autograd.grad`` through a proxy asks the sandbox for the gradients. A module class
(``CrossEntropyLoss``) becomes a class whose instances live in the sandbox; a training step's model, optimizer and
loss are rebuilt there from their description and state, and the parameters and gradients come back.

Nothing the student's code does in its own process changes what a proxy returns beyond its results: no object of
the sandbox is unpickled or called here.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import torch

from autograder.kernel import protocol
from lossutils.grading.builtins import BuiltinCalled
from lossutils.grading.specs import SPECS

__all__ = ["Kernel", "KernelLost", "CellTimeout", "class_proxy", "function_proxy"]


class KernelLost(BaseException):
    """The student's process is gone or no longer answers: ``reason`` says why (``kernel died``, ``time limit``,
    ``output limit``). A ``BaseException``, so that no check mistakes it for an error of the student's function."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


class CellTimeout(BaseException):
    """The cell ran past its time and was interrupted; the process still answers."""


class Kernel:
    """Requests to one child process of the sandbox, each within the current cell's deadline.

    Args:
        child: The sandbox's child (``sock``, ``interrupt()``).
        grace: Seconds a process gets to answer after an interrupt before it counts as lost.
    """

    def __init__(self, child: Any, grace: float = 3.0) -> None:
        self.child, self.grace = child, grace
        self.deadline = float("inf")
        self.lost: KernelLost | None = None

    def request(self, message: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None
                ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Send a request and wait for its reply until the deadline.

        Raises:
            CellTimeout: the deadline passed; the process was interrupted and answered.
            KernelLost: the process died, sent something that is not a reply, or ignored the interrupt.
        """
        if self.lost is not None:
            raise self.lost
        sock: socket.socket = self.child.sock
        try:
            protocol.send(sock, message, tensors)
            remaining = self.deadline - time.monotonic()
            sock.settimeout(None if remaining == float("inf") else max(remaining, 0.001))
            try:
                return protocol.recv(sock)
            except TimeoutError:
                self.child.interrupt()
                sock.settimeout(self.grace)
                try:
                    protocol.recv(sock)
                except TimeoutError:
                    self._lose("time limit", "a cell ignored the interrupt after its time ran out")
                raise CellTimeout() from None
        except protocol.FrameTooLarge:
            self._lose("output limit", "the notebook sent more data than the limit")
        except (EOFError, OSError, ValueError, KeyError, TypeError) as err:
            self._lose("kernel died", f"the notebook's process ended ({type(err).__name__})")
        raise AssertionError("unreachable")  # pragma: no cover

    def _lose(self, reason: str, detail: str) -> None:
        self.lost = KernelLost(reason, detail)
        raise self.lost

    # --------------------------------------------------------------------------------------------------- calls

    def call(self, args: tuple, kwargs: dict[str, Any], *, name: str, handle: int | None = None,
             construct: bool = False) -> Any:
        """Call the student's ``name`` (or the instance ``handle``) in the sandbox; return its result here.

        Raises:
            What the student's code raised, rebuilt (:func:`_raise_for`); :class:`CellTimeout`, :class:`KernelLost`.
        """
        tensors: dict[str, torch.Tensor] = {}
        refs = _find_objects(args)
        item, sent = _item(_swap(list(args), refs), _swap(dict(kwargs), refs), None, tensors)
        message: dict[str, Any] = {"op": "construct" if construct else "call", **item, **_context(name),
                                   "objects": _describe_objects(refs, tensors)}
        message.update({"handle": handle} if handle is not None else {"name": name})
        reply, received = self.request(message, tensors)
        _raise_for(reply, name)
        if construct:
            return int(reply["handle"])
        for key, update in (reply.get("objects") or {}).items():
            if key in refs and isinstance(update, dict):
                _write_back(refs[key], {part: protocol.decode(update.get(part, {"$dict": {}}), received)
                                        for part in ("state", "grads")})
        return self._result(reply, received, sent, None)

    def call_many(self, calls: list[tuple[tuple, dict[str, Any], torch.Tensor | None]], *, name: str,
                  as_class: bool) -> list[Any]:
        """Many calls of the student's ``name`` in one request, each ``(args, kwargs, grad_output)``; a class is
        made with ``kwargs`` and called with ``args``. Returns each call's result or the exception it raised (not
        raised here), in order; a ``grad_output`` makes the sandbox send the gradient with the value.

        Raises:
            CellTimeout, KernelLost: the whole request timed out or the process was lost.
        """
        tensors: dict[str, torch.Tensor] = {}
        items, sents = [], []
        for args, kwargs, grad_output in calls:
            item, sent = _item(list(args), dict(kwargs), grad_output, tensors)
            items.append(item)
            sents.append(sent)
        message = {"op": "batch", "name": name, "class": as_class, "calls": items, **_context(name)}
        reply, received = self.request(message, tensors)
        _raise_for(reply, name)
        results: list[Any] = []
        for item_reply, sent, (_, _, grad_output) in zip(reply.get("replies", []), sents, calls, strict=False):
            try:
                _raise_for(item_reply, name)
                results.append(self._result(item_reply, received, sent, grad_output))
            except (CellTimeout, KernelLost):
                raise
            except BaseException as err:  # noqa: BLE001 - the call's outcome, handed to the check
                results.append(err)
        if len(results) != len(calls):
            self._lose("kernel died", "the notebook's process answered with the wrong number of results")
        return results

    def _result(self, reply: dict[str, Any], received: dict[str, torch.Tensor], sent: dict[str, torch.Tensor],
                grad_output: torch.Tensor | None) -> Any:
        value = protocol.decode(reply.get("value"), received)
        if "graph" in reply and isinstance(value, torch.Tensor):
            inputs = {key: t for key, t in sent.items() if t.requires_grad}
            if inputs:
                prefetched = None
                if grad_output is not None and isinstance(reply.get("grads"), dict):
                    prefetched = grad_output, {k: protocol.decode(v, received) for k, v in reply["grads"].items()}
                return _Remote.apply(self, int(reply["graph"]), list(inputs), [value.detach(), prefetched],
                                     *inputs.values())
        return value.detach() if isinstance(value, torch.Tensor) else value

    def backward(self, graph: int, grad_output: torch.Tensor) -> dict[str, torch.Tensor | None]:
        tensors: dict[str, torch.Tensor] = {}
        message = {"op": "backward", "graph": graph, "grad_output": protocol.encode(grad_output, tensors)}
        reply, received = self.request(message, tensors)
        _raise_for(reply, "backward")
        return {key: protocol.decode(value, received) for key, value in reply.get("grads", {}).items()}


class _Remote(torch.autograd.Function):
    """Connects a result computed in the sandbox to the trusted side's inputs; backward asks the sandbox."""

    @staticmethod
    def forward(ctx: Any, kernel: Kernel, graph: int, keys: list[str], value: list[Any],
                *inputs: torch.Tensor) -> torch.Tensor:
        ctx.kernel, ctx.graph, ctx.keys, ctx.prefetched = kernel, graph, keys, value[1]
        ctx.shapes = [(t.shape, t.dtype) for t in inputs]
        return value[0]

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:
        prefetched = ctx.prefetched
        if prefetched is not None and prefetched[0].shape == grad_output.shape \
                and torch.equal(prefetched[0].to(grad_output.dtype), grad_output):
            grads = prefetched[1]  # the sandbox computed them with the value, for this very grad_output
        else:
            grads = ctx.kernel.backward(ctx.graph, grad_output.detach())
        result = []
        for key, (shape, dtype) in zip(ctx.keys, ctx.shapes, strict=True):
            grad = grads.get(key)
            if isinstance(grad, torch.Tensor):
                if grad.shape != shape:
                    raise protocol.RemoteError(f"the gradient has shape {tuple(grad.shape)}, not {tuple(shape)}")
                grad = grad.to(dtype)
            else:
                grad = None
            result.append(grad)
        return (None, None, None, None, *result)


def _context(name: str) -> dict[str, Any]:
    """What every call of ``name`` carries besides its arguments."""
    return {
        "forbidden": sorted(SPECS[name].forbidden) if name in SPECS else [],
        # a check may change torch's default dtype (labels are checked under float32 and float64)
        "default_dtype": str(torch.get_default_dtype()).removeprefix("torch."),
    }


def _item(args: list[Any], kwargs: dict[str, Any], grad_output: torch.Tensor | None,
          tensors: dict[str, torch.Tensor]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """One call's arguments as plain data, and ``{key: the tensor sent under it}``."""
    before = len(tensors)
    item: dict[str, Any] = {"args": protocol.encode(args, tensors), "kwargs": protocol.encode(kwargs, tensors)}
    # encode numbers the tensors in the order the walk finds them
    sent = dict(zip(list(tensors)[before:], _tensors_in_order(args, kwargs), strict=True))
    if grad_output is not None:
        item["grad_output"] = protocol.encode(grad_output, tensors)
    return item, sent


def _tensors_in_order(args: list[Any], kwargs: dict[str, Any]) -> list[torch.Tensor]:
    """The tensors of ``args`` and ``kwargs`` in the order :func:`protocol.encode` numbers them."""
    found: list[Any] = []

    def walk(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif type(value) in (list, tuple):
            for item in value:
                walk(item)
        elif type(value) is dict:
            for item in value.values():
                walk(item)

    walk(args)
    walk(kwargs)
    return found


def _raise_for(reply: dict[str, Any], name: str) -> None:
    """Raise here what the student's code raised there."""
    if reply.get("interrupted"):
        raise CellTimeout()
    if "builtin" in reply:
        raise BuiltinCalled(str(reply["builtin"]))
    error = reply.get("error")
    if not isinstance(error, dict):
        return
    ename, evalue = str(error.get("ename", "Error")), str(error.get("evalue", ""))
    if reply.get("limit") == "memory limit":
        raise MemoryError(evalue)
    if ename == "NotImplementedError":
        raise NotImplementedError(evalue)
    # A stand-in of the student's exception type: its name and message, never the object itself.
    raise type(ename if ename.isidentifier() else "Error", (protocol.RemoteError,), {})(evalue)


# ------------------------------------------------------------------------------------- modules and optimizers
# A training step is called with a model, an optimizer and a loss: they cross as a description and a state.

_SIMPLE = ("Tanh", "ReLU", "Sigmoid", "Identity", "Flatten")


def _module_spec(module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    kind = type(module).__name__
    if type(module) is torch.nn.Sequential:
        return {"type": kind, "children": [_module_spec(child, tensors) for child in module]}
    if type(module) is torch.nn.Linear:
        return {"type": kind, "kwargs": {"in_features": module.in_features, "out_features": module.out_features,
                                         "bias": module.bias is not None}}
    if kind in _SIMPLE and type(module) is getattr(torch.nn, kind):
        return {"type": kind}
    if type(module) in (torch.nn.MSELoss, torch.nn.L1Loss):
        return {"type": kind, "kwargs": {"reduction": module.reduction}}
    if type(module) is torch.nn.CrossEntropyLoss and module.weight is None:
        return {"type": kind, "kwargs": {"reduction": module.reduction, "ignore_index": module.ignore_index,
                                         "label_smoothing": module.label_smoothing}}
    raise TypeError(f"a {kind} cannot be sent to the student's process")


def _find_objects(args: tuple) -> dict[str, Any]:
    """The modules and optimizers among ``args``, each under a key: ``m0``, ``o1``, ..."""
    refs: dict[str, Any] = {}
    for value in args:
        if isinstance(value, torch.nn.Module):
            refs[f"m{len(refs)}"] = value
    for value in args:
        if isinstance(value, torch.optim.Optimizer):
            refs[f"o{len(refs)}"] = value
    return refs


def _describe_objects(refs: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Describe modules (type, arguments, parameters, gradients) and SGD optimizers as plain data."""
    objects: dict[str, Any] = {}
    for key, value in refs.items():
        if isinstance(value, torch.nn.Module):
            params = dict(value.named_parameters())
            objects[key] = {"module": _module_spec(value, tensors),
                            "state": protocol.encode({n: p.detach() for n, p in params.items()}, tensors),
                            "grads": protocol.encode({n: p.grad for n, p in params.items()}, tensors)}
            continue
        if type(value) is not torch.optim.SGD or len(value.param_groups) != 1:
            raise TypeError(f"a {type(value).__name__} cannot be sent to the student's process")
        first = value.param_groups[0]["params"][0]
        owner = next(k for k, m in refs.items() if isinstance(m, torch.nn.Module)
                     and any(p is first for p in m.parameters()))
        defaults = {k: value.defaults[k] for k in ("lr", "momentum", "dampening", "weight_decay", "nesterov",
                                                   "maximize") if k in value.defaults}
        objects[key] = {"optimizer": "SGD", "params_of": owner, "defaults": protocol.encode(defaults, tensors)}
    return objects


def _swap(value: Any, refs: dict[str, Any]) -> Any:
    """Replace the described objects in ``value`` by ``{"$ref": KEY}`` markers."""
    for key, obj in refs.items():
        if value is obj:
            return {"$ref": key}
    if isinstance(value, list):
        return [_swap(v, refs) for v in value]
    if isinstance(value, dict):
        return {k: _swap(v, refs) for k, v in value.items()}
    return value


def _write_back(module: torch.nn.Module, update: dict[str, Any]) -> None:
    """Give the trusted side's module the parameters and gradients the student's step left."""
    params = dict(module.named_parameters())
    state, grads = update.get("state", {}), update.get("grads", {})
    with torch.no_grad():
        for name, param in params.items():
            value = state.get(name)
            if isinstance(value, torch.Tensor) and value.shape == param.shape:
                param.copy_(value)
            grad = grads.get(name)
            param.grad = grad.to(param.dtype).detach().clone() if isinstance(grad, torch.Tensor) \
                and grad.shape == param.shape else None


# ------------------------------------------------------------------------------------------------------ proxies


def function_proxy(kernel: Kernel, name: str) -> Any:
    """A callable standing for the student's function ``name``."""

    def proxy(*args: Any, **kwargs: Any) -> Any:
        return kernel.call(args, kwargs, name=name)

    proxy.__name__ = proxy.__qualname__ = name
    proxy.__call_many__ = lambda calls: kernel.call_many(calls, name=name, as_class=False)
    return proxy


def class_proxy(kernel: Kernel, name: str) -> type:
    """A class standing for the student's class ``name``: instances are made and called in the sandbox."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        self._handle = kernel.call(args, kwargs, name=name, construct=True)

    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        return kernel.call(args, kwargs, name=name, handle=self._handle)

    def __call_many__(calls: list[tuple[tuple, dict[str, Any], torch.Tensor | None]]) -> list[Any]:
        return kernel.call_many(calls, name=name, as_class=True)

    return type(name, (), {"__init__": __init__, "__call__": __call__, "__call_many__": staticmethod(__call_many__)})
