"""The generated inputs the checks run on.

Every generator is deterministic (a local, seeded ``torch.Generator``) and returns cases ordered from the smallest
input to the largest, so that the first failing case a check meets is the smallest one to show a student.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "FLOAT_DTYPES",
    "Case",
    "broadcast_cases",
    "empty_cases",
    "extreme_cases",
    "extreme_label_cases",
    "label_cases",
    "regression_cases",
]

FLOAT_DTYPES: tuple[torch.dtype, ...] = (torch.float32, torch.float64)

_SHAPES: tuple[tuple[int, ...], ...] = ((), (1,), (3,), (5,), (3, 4), (2, 3, 4), (1, 7, 1))


@dataclass(frozen=True)
class Case:
    """One ``(input, target)`` pair to call a loss with.

    Attributes:
        input: The prediction tensor.
        target: The ground-truth tensor.
        label: A few words saying what is special about the case.
    """

    input: torch.Tensor
    target: torch.Tensor
    label: str

    @property
    def numel(self) -> int:
        """The number of elements the loss averages over (after broadcasting)."""
        return torch.broadcast_shapes(self.input.shape, self.target.shape).numel()

    def tensors(self, *, input_requires_grad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Fresh copies of the tensors, so a function that writes into its arguments cannot spoil the case."""
        input = self.input.detach().clone().requires_grad_(input_requires_grad)
        return input, self.target.detach().clone()


def _sorted(cases: list[Case]) -> list[Case]:
    return sorted(cases, key=lambda case: case.numel)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def regression_cases(dtype: torch.dtype = torch.float32, *, seed: int = 0, scale: float = 2.0) -> list[Case]:
    r"""Pairs of float tensors of the same shape, from a 0-d tensor up to three dimensions.

    Values are :math:`\mathcal{N}(0, \text{scale}^2)`, so errors fall on both sides of the usual ``beta``/``delta``.

    Args:
        dtype: The floating dtype of both tensors.
        seed: Seed of the local generator.
        scale: Standard deviation of the values.

    Returns:
        The cases, smallest first.

    Examples:
        >>> [tuple(c.input.shape) for c in regression_cases()][:3]
        [(), (1,), (3,)]
    """
    gen = _generator(seed)
    cases = [
        Case(
            (scale * torch.randn(shape, generator=gen, dtype=torch.float64)).to(dtype),
            (scale * torch.randn(shape, generator=gen, dtype=torch.float64)).to(dtype),
            f"random values of shape {tuple(shape)}",
        )
        for shape in _SHAPES
    ]
    return _sorted(cases)


def broadcast_cases(dtype: torch.dtype = torch.float32, *, seed: int = 1) -> list[Case]:
    """Pairs whose shapes differ but broadcast, as torch documents for its regression losses (with a warning).

    Args:
        dtype: The floating dtype of both tensors.
        seed: Seed of the local generator.

    Returns:
        The cases, smallest first.
    """
    gen = _generator(seed)
    pairs = (((3,), ()), ((3, 1), (3,)), ((2, 1, 4), (3, 1)))
    cases = [
        Case(
            torch.randn(a, generator=gen, dtype=torch.float64).to(dtype),
            torch.randn(b, generator=gen, dtype=torch.float64).to(dtype),
            f"input of shape {a} broadcast against target of shape {b}",
        )
        for a, b in pairs
    ]
    return _sorted(cases)


def empty_cases(dtype: torch.dtype = torch.float32) -> list[Case]:
    """Empty tensors: torch gives NaN for ``'mean'``, 0 for ``'sum'`` and an empty tensor for ``'none'``.

    Args:
        dtype: The floating dtype of both tensors.

    Returns:
        The cases.
    """
    return [
        Case(torch.empty(shape, dtype=dtype), torch.empty(shape, dtype=dtype), f"empty tensors of shape {shape}")
        for shape in ((0,), (2, 0))
    ]


def extreme_cases(dtype: torch.dtype = torch.float32) -> list[Case]:
    """Large, tiny, equal and boundary values, where a careless formula overflows, underflows or divides by zero.

    The large values are chosen per dtype so that their squares are still finite (``sqrt(finfo.max) / 10``), next to
    values whose squares overflow to ``inf`` exactly as they do in torch.

    Args:
        dtype: The floating dtype of both tensors.

    Returns:
        The cases, smallest first.
    """
    finfo = torch.finfo(dtype)
    big = finfo.max**0.5 / 10
    tiny = finfo.tiny

    def pair(input: list[float], target: list[float], label: str) -> Case:
        return Case(torch.tensor(input, dtype=dtype), torch.tensor(target, dtype=dtype), label)

    cases = [
        pair([1.5, -2.0, 0.0], [1.5, -2.0, 0.0], "input equal to target (zero error)"),
        pair([0.0, 0.5, -0.5, 1.0, -1.0, 2.0], [0.0] * 6, "errors exactly at 0.5, 1 and 2"),
        pair([big, -big, 3.0], [-big, big, 3.0], "large values with a large error"),
        pair([big, 1.0], [0.5 * big, 1.0], "large values whose square is still finite"),
        pair([finfo.max / 4, 1.0], [-finfo.max / 4, 1.0], "an error whose square overflows to inf"),
        pair([tiny, 3 * tiny, -tiny], [0.0, tiny, tiny], "tiny values near the smallest normal number"),
        pair([1e-3, -1e-3, 1e-4], [0.0, 0.0, 0.0], "small errors"),
    ]
    return _sorted(cases)


def label_cases(*, seed: int = 2, num_classes: int = 4) -> list[Case]:
    """Predicted and true class labels, as integer tensors (and one float and one bool pair).

    Args:
        seed: Seed of the local generator.
        num_classes: Labels are drawn from ``range(num_classes)``.

    Returns:
        The cases, smallest first.
    """
    gen = _generator(seed)
    cases = [
        Case(
            torch.randint(num_classes, shape, generator=gen),
            torch.randint(num_classes, shape, generator=gen),
            f"int64 labels of shape {tuple(shape)}",
        )
        for shape in _SHAPES
    ]
    cases.append(Case(torch.tensor([1, 2, 3]), torch.tensor([1, 2, 3]), "every label right"))
    cases.append(Case(torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 0]), "every label wrong"))
    cases.append(Case(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([0.0, 2.0, 2.0]), "float labels"))
    cases.append(Case(torch.tensor([True, False]), torch.tensor([True, True]), "bool labels"))
    cases.append(Case(torch.tensor([1, 2, 3], dtype=torch.int32), torch.tensor([1, 0, 3]), "int32 labels"))
    return _sorted(cases)


def extreme_label_cases() -> list[Case]:
    """No labels at all, and label values near the limits of int64.

    Returns:
        The cases, smallest first.
    """
    return [
        Case(torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), "no labels"),
        Case(torch.tensor([2**62, -(2**62)]), torch.tensor([2**62, 2**62]), "huge label values"),
    ]
