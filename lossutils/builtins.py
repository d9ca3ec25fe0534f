"""Detect a student function that calls the torch built-in it is meant to implement.

A :class:`torch.overrides.TorchFunctionMode` sees every call into torch's Python API while it is active — through
``torch.nn.functional``, a module such as ``torch.nn.MSELoss``, or the raw binding ``torch._C._nn`` — so an
implementation that hides the call behind an alias is found as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from torch.overrides import TorchFunctionMode

__all__ = ["BuiltinCalled", "TorchCallRecorder", "call_recording_torch"]


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


def call_recording_torch(
    fn: Callable[..., Any], *args: Any, forbidden: Iterable[str] = (), **kwargs: Any
) -> tuple[Any, list[str]]:
    """Call ``fn(*args, **kwargs)`` and return its result with the names of the torch functions it called.

    Args:
        fn: The function under test.
        *args: Its positional arguments.
        forbidden: Torch function names that make the call raise :class:`BuiltinCalled`.
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
    recorder = TorchCallRecorder(forbidden)
    with recorder:
        result = fn(*args, **kwargs)
    return result, recorder.called
