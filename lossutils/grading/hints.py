"""Turn a wrong result into a hint for a recognisable mistake.

Each rule compares what the student's function returned with what torch returned on the same input and names the
mistake that explains the difference: summed instead of averaged, forgot the square, a stray factor of 2, ...
The rules look only at results, never at the student's code, so every correct way of writing a loss passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["diagnose_gradient", "diagnose_value"]


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=1e-4, atol=1e-6, equal_nan=True))


def diagnose_value(
    got: torch.Tensor, expected: torch.Tensor, numel: int, reduction: str, params: Mapping[str, Any] | None = None
) -> str | None:
    """Name the likely mistake behind ``got`` where torch gives ``expected``.

    Args:
        got: The student's (wrong) result, same shape as ``expected``.
        expected: Torch's result.
        numel: The number of elements the loss reduces over.
        reduction: The ``reduction`` the function was called with.
        params: The other keyword arguments of the call (``beta``, ``delta``, ...).

    Returns:
        A sentence for the student, or ``None`` when no rule explains the difference.

    Examples:
        >>> diagnose_value(torch.tensor(10.0), torch.tensor(2.0), numel=5, reduction="mean")[:37]
        "your result is 5 times torch's, and 5"
    """
    got, expected = got.detach().double(), expected.detach().double()
    if got.shape != expected.shape:
        return None
    if torch.isnan(got).any() and not torch.isnan(expected).any():
        return (
            "your result has NaN where torch's is finite: look for 0/0, inf - inf, or log/sqrt of a non-positive "
            "number on the branch torch.where does not pick"
        )
    if torch.isinf(got).any() and not torch.isinf(expected).any():
        return "your result overflows to inf where torch's is finite: look for an intermediate that grows too large"
    finite = torch.isfinite(expected) & torch.isfinite(got) & (expected.abs() > 1e-12)
    if not finite.any():
        return None
    g, e = got[finite], expected[finite]
    for key, value in (params or {}).items():
        if isinstance(value, (int, float)) and value not in (0, 1) and (_close(g, e * value) or _close(g, e / value)):
            return f"your result is off by a factor of {key}={value}: check where {key} enters the formula"
    if numel > 1 and _close(g, e * numel):
        if reduction == "mean":
            return (
                f"your result is {numel} times torch's, and {numel} is the number of elements: "
                "did you sum instead of averaging for reduction='mean'?"
            )
    if numel > 1 and _close(g, e / numel) and reduction == "sum":
        return f"your result is 1/{numel} of torch's: did you average instead of summing for reduction='sum'?"
    if _close(g, 1 - e) and ((e >= 0) & (e <= 1)).all():
        return "your result is 1 minus torch's: did you count the right answers instead of the wrong ones?"
    if _close(g, -e):
        return "your result has the wrong sign: check the order of a subtraction or a missing minus sign"
    if _close(g, 2 * e):
        return "your result is twice torch's: check the factor 1/2"
    if _close(g, e / 2):
        return "your result is half of torch's: is there a factor 1/2 that torch does not have?"
    if (e >= 0).all() and _close(g, e.sqrt()):
        return "your result is the square root of torch's: did you forget the square, or take a root?"
    if (e >= 0).all() and _close(g, e * e):
        return "your result is the square of torch's: did you square where torch takes the absolute value?"
    return None


def diagnose_gradient(got: torch.Tensor | None, expected: torch.Tensor) -> str | None:
    """Name the likely mistake behind a wrong gradient with respect to ``input``.

    Args:
        got: The gradient the student's function produced, or ``None`` when it produced none.
        expected: The gradient torch's function produced.

    Returns:
        A sentence for the student, or ``None`` when no rule explains the difference.
    """
    if got is None:
        return (
            "no gradient reached input: the computation left torch (Python floats, .item(), .tolist(), numpy, "
            "torch.tensor(...) around a result) or was detached; keep every step a tensor operation on input"
        )
    got, expected = got.detach().double(), expected.detach().double()
    if torch.isnan(got).any() and not torch.isnan(expected).any():
        return (
            "the gradient has NaN where torch's is finite: torch.where still differentiates the branch it does "
            "not pick, so that branch must not divide by zero or overflow"
        )
    if _close(got, 2 * expected):
        return "the gradient is twice torch's: check the factor 1/2"
    if _close(got, -expected):
        return "the gradient has the wrong sign: subtract target from input, not the other way round"
    return None
