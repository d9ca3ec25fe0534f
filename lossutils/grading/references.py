"""The torch reference of every graded function: one registry, used by :mod:`lossutils.grading.specs`.

Most graded functions have a torch counterpart with the same signature (``F.mse_loss``); the thin adapters here
cover the others. Every value still comes from torch: no reference re-implements the formula it checks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["categorical_entropy", "correction_step", "lstsq", "log_softmax", "softmax", "vander", "zero_one_loss"]


def softmax(input: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``F.softmax`` with ``dim`` defaulting to the last dimension."""
    return F.softmax(input, dim=dim)


def log_softmax(input: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``F.log_softmax`` with ``dim`` defaulting to the last dimension."""
    return F.log_softmax(input, dim=dim)


def categorical_entropy(p: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The entropy (nats) of the distributions along ``dim``, from ``torch.distributions.Categorical``."""
    return torch.distributions.Categorical(probs=p.movedim(dim, -1)).entropy()


def vander(x: torch.Tensor, degree: int) -> torch.Tensor:
    """The columns ``x**0 .. x**degree`` from ``torch.linalg.vander`` (which wants at least two columns)."""
    return torch.linalg.vander(x, N=max(degree + 1, 2))[..., : degree + 1]


def lstsq(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The least-squares weights from ``torch.linalg.lstsq``."""
    return torch.linalg.lstsq(features, target.unsqueeze(-1)).solution.squeeze(-1)


def zero_one_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The 0-1 loss through torch: the L1 distance between the mismatch indicator and zero, in the default dtype.

    Examples:
        >>> zero_one_loss(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 0]))
        tensor(0.5000)
    """
    wrong = torch.ne(input, target).to(torch.get_default_dtype())
    return F.l1_loss(wrong, torch.zeros_like(wrong), reduction=reduction)


def correction_step(weight: torch.Tensor, features: torch.Tensor, target: torch.Tensor, lr: float = 0.1
                    ) -> torch.Tensor:
    """One step of gradient descent on ``F.soft_margin_loss`` of a linear model, through torch's autograd."""
    w = weight.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(F.soft_margin_loss(features @ w, target), w)
    return weight.detach() - lr * gradient
