"""What a failed check tells the student: the call, the smallest failing input, and a hint.

:class:`CheckFailure` is the one error every check raises (:mod:`lossutils.grading.checks`,
:mod:`lossutils.grading.training`); the helpers here write its message the same way for every check.

Examples:
    >>> from lossutils.grading.specs import get_spec
    >>> print(_format_call(get_spec("huber_loss"), {"delta": 0.5}))
    huber_loss(input, target, delta=0.5)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from lossutils.grading import cases as _cases
from lossutils.grading.specs import LossSpec

__all__ = ["CheckFailure"]


class CheckFailure(AssertionError):
    """A student's function disagrees with torch; the message says where and why."""


def _format_call(spec: LossSpec, kwargs: Mapping[str, Any]) -> str:
    extra = "".join(f", {key}={value!r}" for key, value in kwargs.items())
    return f"{spec.name}({', '.join(spec.args)}{extra})"


def _format_case(spec: LossSpec, case: _cases.Case) -> str:
    width = max(len(name) for name in spec.args)
    with _print_options():
        return "\n".join(f"    {name:<{width}} = {arg!r}" for name, arg in zip(spec.args, case.args, strict=False))


@contextlib.contextmanager
def _print_options() -> Iterator[None]:
    saved = torch._tensor_str.PRINT_OPTS.__dict__.copy()
    torch.set_printoptions(precision=6, threshold=30, edgeitems=3, linewidth=100)
    try:
        yield
    finally:
        torch._tensor_str.PRINT_OPTS.__dict__.update(saved)


def _fail(spec: LossSpec, case: _cases.Case, kwargs: Mapping[str, Any], problem: str, hint: str | None = None) -> None:
    message = f"{_format_call(spec, kwargs)} {problem}\non the smallest failing input ({case.label}):\n"
    message += _format_case(spec, case)
    if hint:
        message += f"\nHint: {hint}"
    raise CheckFailure(message)
