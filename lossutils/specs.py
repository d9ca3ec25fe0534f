"""The registry of graded functions: what each one is checked against and on which inputs.

A spec names the torch reference (the *oracle*), the kind of inputs the function takes, the extra keyword arguments
to try, and the torch built-ins a student may not call in its place. Checks are generated as the product
functions x reductions x dtypes x parameters, as in PyTorch's own ``common_nn`` reference tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch.nn.functional as F

__all__ = ["REDUCTIONS", "REGRESSION_BUILTINS", "SPECS", "LossSpec", "get_spec"]

REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")

#: The torch losses of the loss-family chapter: none of them may stand in for another graded function.
REGRESSION_BUILTINS: frozenset[str] = frozenset(
    {"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss"}
)


@dataclass(frozen=True)
class LossSpec:
    """How one graded function is checked.

    Attributes:
        name: The function's name, as in ``torch.nn.functional``.
        oracle: The torch reference with the same signature, or ``None`` when torch has none (the hidden test then
            passes its own oracle).
        inputs: The kind of generated input: ``"regression"`` (two float tensors) or ``"labels"`` (two integer
            label tensors).
        params: Keyword-argument variants to try besides the defaults, e.g. ``({"beta": 0.5}, {"beta": 0.0})``.
        differentiable: Whether the result must carry a gradient with respect to ``input``.
        forbidden: Names of torch functions and modules that the student's function may not call.
        chapter: The book chapter that introduces the function (used in messages).
    """

    name: str
    oracle: Callable[..., Any] | None
    inputs: str = "regression"
    params: tuple[Mapping[str, Any], ...] = ({},)
    differentiable: bool = True
    forbidden: frozenset[str] = field(default_factory=frozenset)
    chapter: str = ""


def _registry(*specs: LossSpec) -> Mapping[str, LossSpec]:
    return MappingProxyType({spec.name: spec for spec in specs})


SPECS: Mapping[str, LossSpec] = _registry(
    LossSpec(
        "zero_one_loss",
        oracle=None,
        inputs="labels",
        differentiable=False,
        forbidden=REGRESSION_BUILTINS,
        chapter="The loss family",
    ),
    LossSpec("mse_loss", F.mse_loss, forbidden=REGRESSION_BUILTINS, chapter="The loss family"),
    LossSpec("l1_loss", F.l1_loss, forbidden=REGRESSION_BUILTINS, chapter="The loss family"),
    LossSpec(
        "smooth_l1_loss",
        F.smooth_l1_loss,
        params=({}, {"beta": 0.5}, {"beta": 2.0}, {"beta": 0.0}),
        forbidden=REGRESSION_BUILTINS,
        chapter="The loss family",
    ),
    LossSpec(
        "huber_loss",
        F.huber_loss,
        params=({}, {"delta": 0.5}, {"delta": 2.0}),
        forbidden=REGRESSION_BUILTINS,
        chapter="The loss family",
    ),
)


def get_spec(name: str) -> LossSpec:
    """Return the spec of the graded function ``name``.

    Raises:
        KeyError: with the known names, when ``name`` is not registered.
    """
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"no graded function named {name!r}; known: {', '.join(sorted(SPECS))}") from None
