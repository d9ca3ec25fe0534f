"""Detect a student function that calls the torch built-in it is meant to implement.

A :class:`torch.overrides.TorchFunctionMode` sees every call into torch's Python API while it is active — through
``torch.nn.functional``, a module such as ``torch.nn.MSELoss``, or the raw binding ``torch._C._nn`` — so an
implementation that hides the call behind an alias is found as well. Python-level methods that the mode cannot see
(``torch.distributions.Categorical.entropy``) are forbidden by their dotted name: they are replaced for the duration
of the call.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from torch.overrides import TorchFunctionMode

__all__ = ["BuiltinCalled", "TorchCallRecorder", "call_recording_torch", "forbidding_attributes"]


class BuiltinCalled(RuntimeError):
    """Raised inside the student's function when it calls a forbidden torch built-in."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class TorchCallRecorder(TorchFunctionMode):
    """Records the torch functions called while active, and stops any call to a forbidden one.

    Args:
        forbidden: Names of the torch functions (``mse_loss``) and modules (``MSELoss``) that may not be called.
    """

    def __init__(self, forbidden: Iterable[str] = ()) -> None:
        super().__init__()
        self.forbidden = frozenset(forbidden)
        self.called: list[str] = []

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        name = getattr(func, "__name__", repr(func))
        self.called.append(name)
        if name in self.forbidden:
            raise BuiltinCalled(name)
        return func(*args, **(kwargs or {}))


def _owner(path: str) -> Any:
    """Import the longest module prefix of ``path`` and walk the remaining attributes."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for part in parts[split:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(f"cannot import {path!r}")


@contextlib.contextmanager
def forbidding_attributes(names: Iterable[str]) -> Iterator[None]:
    """Replace each dotted ``module.Class.attribute`` in ``names`` by a function that raises :class:`BuiltinCalled`,
    and put the originals back afterwards. Names without a dot are left to :class:`TorchCallRecorder`.

    Examples:
        >>> import torch
        >>> with forbidding_attributes(["torch.distributions.Categorical.entropy"]):
        ...     torch.distributions.Categorical(probs=torch.ones(2) / 2).entropy()
        Traceback (most recent call last):
        ...
        lossutils.builtins.BuiltinCalled: torch.distributions.Categorical.entropy
    """
    saved: list[tuple[Any, str, Any]] = []

    def blocker(name: str) -> Callable[..., Any]:
        def blocked(*args: Any, **kwargs: Any) -> Any:
            raise BuiltinCalled(name)

        return blocked

    try:
        for name in names:
            if "." in name:
                path, attribute = name.rsplit(".", 1)
                owner = _owner(path)
                saved.append((owner, attribute, owner.__dict__[attribute]))
                setattr(owner, attribute, blocker(name))
        yield
    finally:
        for owner, attribute, original in reversed(saved):
            setattr(owner, attribute, original)


def call_recording_torch(
    fn: Callable[..., Any], *args: Any, forbidden: Iterable[str] = (), **kwargs: Any
) -> tuple[Any, list[str]]:
    """Call ``fn(*args, **kwargs)`` and return its result with the names of the torch functions it called.

    Args:
        fn: The function under test.
        *args: Its positional arguments.
        forbidden: Torch function names (and dotted attribute names) that make the call raise
            :class:`BuiltinCalled`.
        **kwargs: Its keyword arguments.

    Returns:
        ``(result, called)``.

    Raises:
        BuiltinCalled: ``fn`` called a forbidden torch function.

    Examples:
        >>> import torch
        >>> _, called = call_recording_torch(lambda a: (a * a).sum(), torch.ones(2))
        >>> called
        ['mul', 'sum']
    """
    forbidden = frozenset(forbidden)
    recorder = TorchCallRecorder(forbidden)
    with forbidding_attributes(forbidden), recorder:
        result = fn(*args, **kwargs)
    return result, recorder.called
