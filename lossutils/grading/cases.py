"""The generated inputs the checks run on.

Every generator is deterministic (a local, seeded ``torch.Generator``) and returns cases ordered from the smallest
input to the largest, so that the first failing case a check meets is the smallest one to show a student.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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
    """One set of arguments to call a graded function with.

    Attributes:
        args: The tensor arguments in call order, e.g. ``(input, target)`` for a loss or ``(input,)`` for softmax.
        label: A few words saying what is special about the case.
        reduced: The number of terms that ``reduction='mean'`` averages over, when it is not the number of elements
            of the broadcast arguments (e.g. the batch size of a classification loss).
        gradient: Whether the gradient at this case is compared with torch's; ``False`` where torch's own gradient
            is a convention rather than the derivative (a probability of exactly 0 or 1).
    """

    args: tuple[torch.Tensor, ...]
    label: str
    reduced: int | None = None
    gradient: bool = True

    @property
    def input(self) -> torch.Tensor:
        """The first argument: the prediction."""
        return self.args[0]

    @property
    def target(self) -> torch.Tensor | None:
        """The second argument, when there is one: the ground truth."""
        return self.args[1] if len(self.args) > 1 else None

    @property
    def numel(self) -> int:
        """The number of terms a ``'mean'`` averages over (by default, of the broadcast arguments)."""
        if self.reduced is not None:
            return self.reduced
        try:
            return torch.broadcast_shapes(*(arg.shape for arg in self.args)).numel()
        except RuntimeError:
            return self.input.numel()

    def tensors(self, *, input_requires_grad: bool = False) -> tuple[torch.Tensor, ...]:
        """Fresh copies of the arguments, so a function that writes into them cannot spoil the case."""
        first, *rest = (arg.detach().clone() for arg in self.args)
        return (first.requires_grad_(input_requires_grad), *rest)


def _pair(input: torch.Tensor, target: torch.Tensor, label: str, **fields: Any) -> Case:
    return Case((input, target), label, **fields)


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
        _pair(
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
        _pair(
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
        _pair(torch.empty(shape, dtype=dtype), torch.empty(shape, dtype=dtype), f"empty tensors of shape {shape}")
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
        return _pair(torch.tensor(input, dtype=dtype), torch.tensor(target, dtype=dtype), label)

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
        _pair(
            torch.randint(num_classes, shape, generator=gen),
            torch.randint(num_classes, shape, generator=gen),
            f"int64 labels of shape {tuple(shape)}",
        )
        for shape in _SHAPES
    ]
    cases.append(_pair(torch.tensor([1, 2, 3]), torch.tensor([1, 2, 3]), "every label right"))
    cases.append(_pair(torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 0]), "every label wrong"))
    cases.append(_pair(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([0.0, 2.0, 2.0]), "float labels"))
    cases.append(_pair(torch.tensor([True, False]), torch.tensor([True, True]), "bool labels"))
    cases.append(_pair(torch.tensor([1, 2, 3], dtype=torch.int32), torch.tensor([1, 0, 3]), "int32 labels"))
    return _sorted(cases)


def extreme_label_cases() -> list[Case]:
    """No labels at all, and label values near the limits of int64.

    Returns:
        The cases, smallest first.
    """
    return [
        _pair(torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), "no labels"),
        _pair(torch.tensor([2**62, -(2**62)]), torch.tensor([2**62, 2**62]), "huge label values"),
    ]


# ------------------------------------------------------------------------------------ classification and beyond

_CLASS_SHAPES: tuple[tuple[int, int], ...] = ((1, 3), (2, 5), (4, 3), (8, 10))
_NONNEG_SHAPES: tuple[tuple[int, ...], ...] = ((3,), (1, 4), (2, 3), (4, 5), (2, 3, 4))


def _randn(shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype, scale: float = 1.0) -> torch.Tensor:
    return (scale * torch.randn(shape, generator=gen, dtype=torch.float64)).to(dtype)


def logit_cases(dtype: torch.dtype = torch.float32, *, dim: int = -1, seed: int = 4) -> list[Case]:
    """Single tensors of logits (any real numbers), from one to three dimensions: the argument of softmax.

    Examples:
        >>> [tuple(c.input.shape) for c in logit_cases()][:2]
        [(3,), (1, 4)]
    """
    gen = _generator(seed)
    cases = [Case((_randn(shape, gen, dtype, 3.0),), f"random logits of shape {shape}") for shape in _NONNEG_SHAPES]
    return _sorted(cases)


def extreme_logit_cases(dtype: torch.dtype = torch.float32, *, dim: int = -1) -> list[Case]:
    """Logits where a naive ``exp`` overflows or underflows, equal logits, a masked (``-inf``) logit, no rows.

    Each case is a batch of rows along ``dim``, the dimension a softmax normalises over.
    """
    top = math.log(torch.finfo(dtype).max) + 1.0  # exp(top) is inf in this dtype

    def rows(values: list[list[float]], label: str, **fields: Any) -> Case:
        tensor = torch.tensor(values, dtype=dtype).reshape(-1, len(values[0])).movedim(-1, dim)
        return Case((tensor,), label, **fields)

    # float32 rounds a logit of magnitude 1000 to a multiple of 6e-5, so equally correct formulas differ there in
    # gradient by more than the tolerance: at +-1000 only values are compared.
    return [
        rows([[1000.0, 0.0, -1000.0]], "logits of +-1000, where exp overflows", gradient=False),
        rows([[-1000.0, -1000.0, -1000.0]], "logits of -1000, where exp underflows to 0", gradient=False),
        rows([[top, top - 1.0, 0.0]], f"logits just above log(finfo.max) = {top - 1:.1f}"),
        rows([[2.0, 2.0, 2.0, 2.0]], "equal logits"),
        rows([[0.0, float("-inf"), 1.0]], "a masked logit of -inf"),
        Case((torch.empty(0, 3, dtype=dtype).movedim(-1, dim),), "no rows"),
    ]


def probability_cases(dtype: torch.dtype = torch.float32, *, dim: int = -1, seed: int = 5) -> list[Case]:
    """Probability distributions along ``dim`` (non-negative, summing to 1), from one to three dimensions."""
    gen = _generator(seed)
    cases = []
    for shape in _NONNEG_SHAPES:
        logits = _randn(shape, gen, torch.float64, 2.0)
        cases.append(Case((logits.softmax(dim).to(dtype),), f"distributions along dim={dim} of shape {shape}"))
    return _sorted(cases)


def extreme_probability_cases(dtype: torch.dtype = torch.float32, *, dim: int = -1) -> list[Case]:
    """Distributions with zero probabilities (where 0 log 0 = 0), certain outcomes, many classes, no rows."""

    def dist(values: list[list[float]], label: str, **fields: Any) -> Case:
        tensor = torch.tensor(values, dtype=torch.float64)
        tensor = tensor / tensor.sum(-1, keepdim=True)
        return Case((tensor.movedim(-1, dim).to(dtype),), label, **fields)

    many = [[1.0] * 1000]
    return [
        dist([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], "certain outcomes (probabilities 0 and 1)", gradient=False),
        dist([[0.5, 0.5, 0.0, 0.0]], "two equal outcomes and two impossible ones", gradient=False),
        dist([[1e-30, 1.0]], "a probability of 1e-30", gradient=False),  # torch clamps it at finfo.eps
        dist(many, "a uniform distribution over 1000 outcomes"),
        Case((torch.empty(0, 3, dtype=dtype).movedim(-1, dim),), "no rows"),
    ]


def class_cases(
    dtype: torch.dtype = torch.float32, *, log_probs: bool = False, num_classes: int | None = None,
    ignore_index: int | None = None, seed: int = 6,
) -> list[Case]:
    """Scores of shape (N, C) with class-index targets of shape (N,) (int64): the arguments of a classification loss.

    Args:
        dtype: The floating dtype of the scores.
        log_probs: Give log-probabilities (each row's ``logsumexp`` is 0) instead of raw logits.
        num_classes: Use this C in every case (e.g. to match a ``weight`` of C entries) instead of varying it.
        ignore_index: A class index that the first target of every case takes, so that ignoring it matters.
        seed: Seed of the local generator.
    """
    gen = _generator(seed)
    cases = []
    for n, c in _CLASS_SHAPES:
        c = num_classes or c
        scores = _randn((n, c), gen, torch.float64, 3.0)
        if log_probs:
            scores = scores.log_softmax(-1)
        target = torch.randint(c, (n,), generator=gen)
        if ignore_index is not None and 0 <= ignore_index < c and n > 1:
            target[0] = ignore_index
        kind = "log-probabilities" if log_probs else "logits"
        ignored = ignore_index is not None and bool((target == ignore_index).all())  # gradient 0/0 := 0 in torch
        cases.append(Case((scores.to(dtype), target), f"{kind} of shape {(n, c)}", reduced=n, gradient=not ignored))
    return _sorted(cases)


def extreme_class_cases(
    dtype: torch.dtype = torch.float32, *, log_probs: bool = False, num_classes: int | None = None,
    ignore_index: int | None = None,
) -> list[Case]:
    """Classification inputs where a naive formula overflows, a single class, no rows, every target ignored."""

    def scores(values: list[list[float]], target: list[int], label: str) -> Case:
        tensor = torch.tensor(values, dtype=torch.float64)
        if log_probs:
            tensor = tensor.log_softmax(-1)
        # With every target ignored, torch's mean is 0/0 = NaN and its gradient is 0 by convention.
        ignored = ignore_index is not None and all(t == ignore_index for t in target)
        return Case((tensor.to(dtype), torch.tensor(target)), label, reduced=len(target), gradient=not ignored)

    c = num_classes or 3
    cases = [
        scores([[1000.0] + [0.0] * (c - 2) + [-1000.0]] * 2, [0, c - 1], "scores of +-1000 (right and wrong class)"),
        scores([[5.0] * c], [c - 1], "equal scores"),
        scores([[-80.0] + [80.0] * (c - 1)], [0], "a true class far below the others"),
        Case((torch.empty(0, c, dtype=dtype), torch.empty(0, dtype=torch.long)), "no rows", reduced=0),
    ]
    if num_classes is None:
        cases.append(scores([[3.0], [-2.0]], [0, 0], "a single class"))
    if ignore_index is not None and 0 <= ignore_index < c:
        cases.append(scores([[1.0] * c, [2.0] * c], [ignore_index] * 2, "every target ignored"))
    return cases


def binary_cases(dtype: torch.dtype = torch.float32, *, logits: bool = False, seed: int = 7) -> list[Case]:
    """Predictions with binary targets (0/1 and soft targets in between), of the same shape.

    Args:
        dtype: The floating dtype of both tensors.
        logits: Give raw scores (any real number) instead of probabilities in (0, 1).
        seed: Seed of the local generator.
    """
    gen = _generator(seed)
    cases = []
    for shape in _SHAPES:
        scores = _randn(shape, gen, torch.float64, 3.0)
        target = torch.randint(2, shape, generator=gen).to(torch.float64)
        soft = torch.rand(shape, generator=gen, dtype=torch.float64)
        target = torch.where(torch.rand(shape, generator=gen, dtype=torch.float64) < 0.25, soft, target)
        input = scores if logits else scores.sigmoid()
        cases.append(_pair(input.to(dtype), target.to(dtype), f"{'logits' if logits else 'probabilities'} of shape "
                           f"{tuple(shape)}, 0/1 and soft targets"))
    return _sorted(cases)


def extreme_binary_cases(dtype: torch.dtype = torch.float32, *, logits: bool = False) -> list[Case]:
    """Binary inputs at the edges: probabilities of exactly 0 and 1 (torch clamps each log at -100), nearly 0 and
    1, logits of +-1000 (a sigmoid saturates), no elements."""

    def pair(input: list[float], target: list[float], label: str, **fields: Any) -> Case:
        return _pair(torch.tensor(input, dtype=dtype), torch.tensor(target, dtype=dtype), label, **fields)

    empty = _pair(torch.empty(0, dtype=dtype), torch.empty(0, dtype=dtype), "no elements")
    if logits:
        return [
            pair([1000.0, -1000.0, 1000.0, -1000.0], [1.0, 0.0, 0.0, 1.0], "logits of +-1000, right and wrong"),
            pair([40.0, -40.0, 20.0, -20.0], [0.0, 1.0, 0.5, 0.5], "logits of +-40 and +-20"),
            pair([0.0, 0.0], [0.0, 1.0], "logits of 0"),
            empty,
        ]
    return [
        pair([0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0], "probabilities of exactly 0 and 1", gradient=False),
        pair([1e-6, 1.0 - 1e-6, 1e-6], [1.0, 0.0, 0.0], "probabilities within 1e-6 of 0 and 1"),
        pair([0.5, 0.5], [0.0, 1.0], "probabilities of 0.5"),
        empty,
    ]


def distribution_pair_cases(dtype: torch.dtype = torch.float32, *, log_target: bool = False, seed: int = 8
                            ) -> list[Case]:
    """Log-probabilities ``input`` and probabilities ``target`` (log-probabilities if ``log_target``) of shape
    (N, C) or (N, C, D): the arguments of ``kl_div``."""
    gen = _generator(seed)
    cases = []
    for shape in ((1, 3), (2, 5), (4, 3), (3, 4, 2)):
        input = _randn(shape, gen, torch.float64, 2.0).log_softmax(1)
        target = _randn(shape, gen, torch.float64, 2.0).log_softmax(1)
        target = target if log_target else target.exp()
        cases.append(_pair(input.to(dtype), target.to(dtype), f"distributions of shape {shape}"))
    return _sorted(cases)


def extreme_distribution_pair_cases(dtype: torch.dtype = torch.float32, *, log_target: bool = False) -> list[Case]:
    """Targets with zero probabilities (0 log 0 = 0), identical distributions, very unlikely predictions, no rows."""

    def pair(input: list[list[float]], target: list[list[float]], label: str) -> Case:
        log_q = torch.tensor(input, dtype=torch.float64).log_softmax(-1)
        p = torch.tensor(target, dtype=torch.float64)
        p = p / p.sum(-1, keepdim=True)
        return _pair(log_q.to(dtype), (p.log() if log_target else p).to(dtype), label)

    cases = [
        pair([[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]], "probabilities proportional to 1, 2, 3 on both sides"),
        pair([[0.0, 0.0, 0.0]], [[1.0, 2.0, 3.0]], "a uniform prediction"),
        pair([[50.0, -50.0]], [[0.5, 0.5]], "a prediction of probability exp(-100)"),
        _pair(torch.empty(0, 3, dtype=dtype), torch.empty(0, 3, dtype=dtype), "no rows"),
    ]
    if not log_target:
        cases.insert(0, pair([[0.0, 1.0, 2.0]], [[1.0, 0.0, 0.0]], "a target with zero probabilities"))
    return cases


def sign_cases(dtype: torch.dtype = torch.float32, *, seed: int = 9) -> list[Case]:
    """Scores with targets of -1 or +1, of the same shape: the arguments of a margin loss."""
    gen = _generator(seed)
    cases = [
        _pair(_randn(shape, gen, dtype, 2.0), (2 * torch.randint(2, shape, generator=gen) - 1).to(dtype),
              f"scores of shape {tuple(shape)} with +-1 targets")
        for shape in _SHAPES
    ]
    return _sorted(cases)


def extreme_sign_cases(dtype: torch.dtype = torch.float32) -> list[Case]:
    """Margins of +-30 (exp(30) is large but finite in float32), zero scores, no elements."""

    def pair(input: list[float], target: list[float], label: str) -> Case:
        return _pair(torch.tensor(input, dtype=dtype), torch.tensor(target, dtype=dtype), label)

    return [
        pair([30.0, -30.0, 30.0, -30.0], [1.0, -1.0, -1.0, 1.0], "margins of +-30, right and wrong"),
        pair([0.0, 0.0], [1.0, -1.0], "scores of 0"),
        pair([1e-4, -1e-4], [1.0, 1.0], "tiny scores"),
        _pair(torch.empty(0, dtype=dtype), torch.empty(0, dtype=dtype), "no elements"),
    ]


def point_cases(dtype: torch.dtype = torch.float32, *, seed: int = 10) -> list[Case]:
    """1-D tensors of sample points ``x`` in [-2, 2]: the argument of a feature map."""
    gen = _generator(seed)
    cases = [
        Case(((4 * torch.rand(n, generator=gen, dtype=torch.float64) - 2).to(dtype),), f"{n} points in [-2, 2]")
        for n in (1, 4, 10)
    ]
    return _sorted(cases)


def extreme_point_cases(dtype: torch.dtype = torch.float32) -> list[Case]:
    """Points at 0 (where 0**0 = 1), negative points, large points whose powers overflow, no points."""
    return [
        Case((torch.tensor([0.0, -0.0, 1.0, -1.0], dtype=dtype),), "0, -0, 1 and -1"),
        Case((torch.tensor([-3.0, -0.5], dtype=dtype),), "negative points"),
        Case((torch.tensor([1e3, -1e6], dtype=dtype),), "large points, whose 7th power overflows float32",
             gradient=False),
        Case((torch.empty(0, dtype=dtype),), "no points"),
    ]


def design_cases(dtype: torch.dtype = torch.float32, *, seed: int = 11) -> list[Case]:
    """Well-conditioned design matrices ``features`` (n, d), n > d, with targets (n,): a least-squares problem."""
    gen = _generator(seed)
    cases = []
    for n, d in ((3, 1), (5, 2), (10, 3), (20, 4)):
        q, _ = torch.linalg.qr(torch.randn(n, d, generator=gen, dtype=torch.float64))
        features = q * torch.linspace(1.0, 3.0, d, dtype=torch.float64)  # condition number 3 at most
        target = torch.randn(n, generator=gen, dtype=torch.float64)
        cases.append(_pair(features.to(dtype), target.to(dtype), f"features of shape {(n, d)}"))
    return _sorted(cases)


def extreme_design_cases(dtype: torch.dtype = torch.float32) -> list[Case]:
    """A square system, targets the model fits exactly, zero targets, a single column of ones (the mean)."""
    features = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0], [1.0, 3.0]], dtype=torch.float64)
    return [
        _pair(torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=dtype), torch.tensor([1.0, -1.0], dtype=dtype),
              "a square system (as many samples as features)"),
        _pair(features.to(dtype), (features @ torch.tensor([2.0, -0.5], dtype=torch.float64)).to(dtype),
              "targets on the line 2 - 0.5 x (an exact fit)"),
        _pair(features.to(dtype), torch.zeros(4, dtype=dtype), "zero targets"),
        _pair(torch.ones(5, 1, dtype=dtype), torch.tensor([1.0, 2.0, 3.0, 4.0, 10.0], dtype=dtype),
              "a single column of ones (the least-squares weight is the mean)"),
    ]


def linear_model_cases(dtype: torch.dtype = torch.float32, *, seed: int = 12) -> list[Case]:
    """``(weight, features, target)`` of a linear classifier: weight (d,), features (n, d), +-1 targets (n,)."""
    gen = _generator(seed)
    cases = []
    for n, d in ((1, 2), (4, 3), (16, 3), (32, 5)):
        weight = _randn((d,), gen, dtype)
        features = _randn((n, d), gen, dtype)
        target = (2 * torch.randint(2, (n,), generator=gen) - 1).to(dtype)
        cases.append(Case((weight, features, target), f"{n} samples with {d} features"))
    return _sorted(cases)


def extreme_linear_model_cases(dtype: torch.dtype = torch.float32) -> list[Case]:
    """A blank page (zero weights), samples classified right with a wide margin, a single feature."""
    features = torch.tensor([[1.0, 2.0], [-1.0, -3.0], [2.0, 0.5]], dtype=dtype)
    target = torch.tensor([1.0, -1.0, 1.0], dtype=dtype)
    return [
        Case((torch.zeros(2, dtype=dtype), features, target), "zero weights (a blank page)"),
        Case((torch.tensor([10.0, 10.0], dtype=dtype), features, target), "every sample right by a wide margin"),
        Case((torch.tensor([-10.0, -10.0], dtype=dtype), features, target), "every sample wrong by a wide margin"),
        Case((torch.tensor([0.5], dtype=dtype), torch.tensor([[2.0], [-1.0]], dtype=dtype),
              torch.tensor([1.0, 1.0], dtype=dtype)), "a single feature"),
    ]


# --------------------------------------------------------------------------------------------------- dispatch

#: What a check needs cases for: plain values, output shapes and dtypes, extreme inputs.
PURPOSES: tuple[str, ...] = ("values", "shapes", "extremes")

_Generator = Callable[[str, torch.dtype, Mapping[str, Any]], list[Case]]


def _kind(values: Callable[..., list[Case]], extremes: Callable[..., list[Case]],
          shapes: Callable[..., list[Case]] | None = None) -> _Generator:
    def generate(purpose: str, dtype: torch.dtype, options: Mapping[str, Any]) -> list[Case]:
        if purpose == "values":
            return values(dtype, **options)
        if purpose == "shapes":
            return shapes(dtype, **options) if shapes else values(dtype, **options)
        return extremes(dtype, **options)

    return generate


def _regression_shapes(dtype: torch.dtype) -> list[Case]:
    return regression_cases(dtype)[:4] + broadcast_cases(dtype)


def _regression_extremes(dtype: torch.dtype) -> list[Case]:
    return empty_cases(dtype) + extreme_cases(dtype)


KINDS: Mapping[str, _Generator] = {
    "regression": _kind(regression_cases, _regression_extremes, _regression_shapes),
    "labels": _kind(lambda dtype: label_cases(), lambda dtype: extreme_label_cases()),
    "logits": _kind(logit_cases, extreme_logit_cases),
    "probabilities": _kind(probability_cases, extreme_probability_cases),
    "classes": _kind(class_cases, extreme_class_cases),
    "binary": _kind(binary_cases, extreme_binary_cases),
    "distributions": _kind(distribution_pair_cases, extreme_distribution_pair_cases),
    "signs": _kind(sign_cases, extreme_sign_cases),
    "points": _kind(point_cases, extreme_point_cases),
    "designs": _kind(design_cases, extreme_design_cases),
    "linear_models": _kind(linear_model_cases, extreme_linear_model_cases),
}


def cases_for(kind: str, purpose: str, dtype: torch.dtype = torch.float32, **options: Any) -> list[Case]:
    """The cases of input ``kind`` for one ``purpose`` of a check.

    Args:
        kind: A key of :data:`KINDS` (``"regression"``, ``"classes"``, ``"logits"``, ...).
        purpose: One of :data:`PURPOSES`.
        dtype: The floating dtype of the float arguments.
        **options: Passed to the generator, e.g. ``log_probs=True`` for classification scores, or ``dim=0`` for
            distributions along the first dimension.

    Raises:
        ValueError: an unknown kind or purpose.

    Examples:
        >>> [tuple(a.shape) for a in cases_for("classes", "values")[0].args]
        [(1, 3), (1,)]
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind of input {kind!r}; known: {', '.join(KINDS)}")
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    key = (kind, purpose, dtype, torch.get_default_dtype(), tuple(sorted(options.items())))
    if key not in _MADE:  # every generator is seeded: the same cases every time, made once per process
        _MADE[key] = KINDS[kind](purpose, dtype, options)
    return list(_MADE[key])


_MADE: dict[tuple, list[Case]] = {}
