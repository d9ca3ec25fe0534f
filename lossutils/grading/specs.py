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

import torch
import torch.nn.functional as F
from torch import nn

from lossutils.grading import references as ref

__all__ = [
    "CLASSIFICATION_BUILTINS",
    "REDUCTIONS",
    "REGRESSION_BUILTINS",
    "SOFTMAX_BUILTINS",
    "SPECS",
    "LossSpec",
    "get_spec",
]

REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")

#: The torch losses of the loss-family chapter: none of them may stand in for another graded function.
REGRESSION_BUILTINS: frozenset[str] = frozenset(
    {"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss"}
)


@dataclass(frozen=True)
class LossSpec:
    """How one graded function is checked.

    Attributes:
        name: The function's name, as in ``torch.nn.functional`` (or ``torch.nn`` for a module class).
        oracle: The torch reference with the same signature: a torch function or module class, or an adapter of
            :mod:`lossutils.grading.references`. A class is called as ``oracle(**kwargs)(*args)``, like a loss
            module.
        inputs: The kind of generated input, a key of :data:`lossutils.grading.cases.KINDS`: ``"regression"`` (two
            float tensors), ``"labels"`` (two label tensors), ``"classes"`` (scores and class indices), ``"logits"``,
            ...
        args: The names of the positional arguments, for messages.
        params: Keyword-argument variants to try besides the defaults, e.g. ``({"beta": 0.5}, {"beta": 0.0})``. A
            list value becomes a tensor of the input's dtype (a class ``weight``).
        reductions: The values of ``reduction`` the function takes; empty when it has no ``reduction``.
        options: Keyword arguments of the case generator, e.g. ``{"log_probs": True}``.
        passes: Parameters whose value the case generator needs too (``dim``: along which the probabilities sum
            to 1; ``log_target``; ``ignore_index``).
        differentiable: Whether the result must carry a gradient with respect to the first argument.
        tangent_gradient: Compare gradients only along the probability simplex (after removing their mean along
            ``dim``): a function of a distribution changes only along it, so both are correct.
        tolerances: ``(rtol, atol)`` per dtype, when the default ones are too tight for every correct method.
        forbidden: Names of torch functions and modules that the student's function may not call; a dotted name
            (``torch.distributions.Categorical.entropy``) forbids that attribute.
        chapter: The book chapter that introduces the function (used in messages).
    """

    name: str
    oracle: Callable[..., Any]
    inputs: str = "regression"
    args: tuple[str, ...] = ("input", "target")
    params: tuple[Mapping[str, Any], ...] = ({},)
    reductions: tuple[str, ...] = REDUCTIONS
    options: Mapping[str, Any] = field(default_factory=dict)
    passes: tuple[str, ...] = ()
    differentiable: bool = True
    tangent_gradient: bool = False
    tolerances: Mapping[torch.dtype, tuple[float, float]] | None = None
    forbidden: frozenset[str] = field(default_factory=frozenset)
    chapter: str = ""


def _registry(*specs: LossSpec) -> Mapping[str, LossSpec]:
    return MappingProxyType({spec.name: spec for spec in specs})


#: Torch's softmax family: the softmax exercises build them from exp, sum, max and logsumexp.
SOFTMAX_BUILTINS: frozenset[str] = frozenset({"softmax", "log_softmax", "softmin", "Softmax", "LogSoftmax"})

#: Torch's classification losses: none of them may stand in for another graded function.
CLASSIFICATION_BUILTINS: frozenset[str] = frozenset(
    {
        "nll_loss", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
        "soft_margin_loss", "multilabel_soft_margin_loss", "NLLLoss", "CrossEntropyLoss", "BCELoss",
        "BCEWithLogitsLoss", "KLDivLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss",
    }
)

_ROLLS_ROYCE = "The Rolls-Royce example"
_FITTING = "Fitting"
_FAMILY = "The loss family"
_ENTROPY = "From entropy to softmax loss"
_PRACTICE = "Losses in PyTorch practice"

SPECS: Mapping[str, LossSpec] = _registry(
    # The Rolls-Royce example
    LossSpec("soft_margin_loss", F.soft_margin_loss, inputs="signs", forbidden=CLASSIFICATION_BUILTINS,
             chapter=_ROLLS_ROYCE),
    LossSpec("correction_step", ref.correction_step, inputs="linear_models", args=("weight", "features", "target"),
             params=({}, {"lr": 0.5}), reductions=(), differentiable=False, forbidden=CLASSIFICATION_BUILTINS,
             chapter=_ROLLS_ROYCE),
    # Fitting
    LossSpec("polynomial_features", ref.vander, inputs="points", args=("x",),
             params=({"degree": 0}, {"degree": 2}, {"degree": 7}), reductions=(),
             forbidden=frozenset({"linalg_vander", "vander"}), chapter=_FITTING),
    LossSpec("least_squares", ref.lstsq, inputs="designs", args=("features", "target"), reductions=(),
             tolerances={torch.float32: (1e-4, 1e-5), torch.float64: (1e-7, 1e-10)},
             forbidden=frozenset({"linalg_lstsq", "lstsq", "linalg_pinv", "pinverse"}), chapter=_FITTING),
    # The loss family
    LossSpec("zero_one_loss", ref.zero_one_loss, inputs="labels", differentiable=False, forbidden=REGRESSION_BUILTINS,
             chapter=_FAMILY),
    LossSpec("mse_loss", F.mse_loss, forbidden=REGRESSION_BUILTINS, chapter=_FAMILY),
    LossSpec("l1_loss", F.l1_loss, forbidden=REGRESSION_BUILTINS, chapter=_FAMILY),
    LossSpec("smooth_l1_loss", F.smooth_l1_loss, params=({}, {"beta": 0.5}, {"beta": 2.0}, {"beta": 0.0}),
             forbidden=REGRESSION_BUILTINS, chapter=_FAMILY),
    LossSpec("huber_loss", F.huber_loss, params=({}, {"delta": 0.5}, {"delta": 2.0}),
             forbidden=REGRESSION_BUILTINS, chapter=_FAMILY),
    # From entropy to softmax loss
    LossSpec("entropy", ref.categorical_entropy, inputs="probabilities", args=("p",), params=({}, {"dim": 0}),
             reductions=(), passes=("dim",), tangent_gradient=True,
             forbidden=frozenset({"special_entr", "torch.distributions.Categorical.entropy",
                                  "torch.distributions.OneHotCategorical.entropy"}),
             chapter=_ENTROPY),
    LossSpec("softmax", ref.softmax, inputs="logits", args=("input",), params=({}, {"dim": 0}), reductions=(),
             passes=("dim",), forbidden=SOFTMAX_BUILTINS, chapter=_ENTROPY),
    LossSpec("log_softmax", ref.log_softmax, inputs="logits", args=("input",), params=({}, {"dim": 0}),
             reductions=(), passes=("dim",), forbidden=SOFTMAX_BUILTINS, chapter=_ENTROPY),
    LossSpec("nll_loss", F.nll_loss, inputs="classes", options={"log_probs": True},
             forbidden=CLASSIFICATION_BUILTINS | SOFTMAX_BUILTINS, chapter=_ENTROPY),
    LossSpec("cross_entropy", F.cross_entropy, inputs="classes", forbidden=CLASSIFICATION_BUILTINS | SOFTMAX_BUILTINS,
             chapter=_ENTROPY),
    LossSpec("binary_cross_entropy", F.binary_cross_entropy, inputs="binary",
             forbidden=CLASSIFICATION_BUILTINS, chapter=_ENTROPY),
    LossSpec("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, inputs="binary",
             options={"logits": True}, forbidden=CLASSIFICATION_BUILTINS, chapter=_ENTROPY),
    LossSpec("kl_div", F.kl_div, inputs="distributions", params=({}, {"log_target": True}),
             reductions=(*REDUCTIONS, "batchmean"), passes=("log_target",), forbidden=CLASSIFICATION_BUILTINS,
             chapter=_ENTROPY),
    # Losses in PyTorch practice
    LossSpec("CrossEntropyLoss", nn.CrossEntropyLoss, inputs="classes", options={"num_classes": 4},
             params=({}, {"weight": [0.2, 1.0, 3.0, 0.5]}, {"ignore_index": 1}, {"label_smoothing": 0.1},
                     {"weight": [0.2, 1.0, 3.0, 0.5], "ignore_index": 0, "label_smoothing": 0.2}),
             passes=("ignore_index",), forbidden=CLASSIFICATION_BUILTINS, chapter=_PRACTICE),
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
