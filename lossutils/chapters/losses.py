r"""Reference losses that torch does not ship, written from their papers, for the chapters to check their own
implementations against.

:func:`sigmoid_focal_loss` is introduced in the chapter "Class imbalance". Like the other modules of
:mod:`lossutils.chapters` it is for the book only: the hidden tests of the exercises never import it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["sigmoid_focal_loss"]


def sigmoid_focal_loss(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "none",
) -> torch.Tensor:
    r"""The focal loss of RetinaNet for binary targets, written from the paper's formula.

    Lin, Goyal, Girshick, He and Dollár, "Focal Loss for Dense Object Detection", ICCV 2017, equation (5):

    .. math:: \mathrm{FL}(p_t) = -\alpha_t \, (1 - p_t)^{\gamma} \log p_t ,

    where :math:`p = \sigma(x)` is the predicted probability of the positive class for the logit :math:`x`,
    :math:`p_t = p` for a positive (target 1) and :math:`1 - p` for a negative (target 0), and
    :math:`\alpha_t = \alpha` for a positive and :math:`1 - \alpha` for a negative. With :math:`s = x` for a
    positive and :math:`s = -x` for a negative, :math:`p_t = \sigma(s)` and :math:`1 - p_t = \sigma(-s)`, so the
    loss is computed as ``-exp(gamma * F.logsigmoid(-s)) * F.logsigmoid(s)``: finite, with a finite gradient, for
    any logit, also where :math:`1 - p_t` rounds to 0 and :math:`(1 - p_t)^\gamma` computed literally would give an
    infinite gradient for :math:`\gamma < 1`. With :math:`\gamma = 0` and the weighting switched off the loss is
    the binary cross-entropy with logits; the factor :math:`(1 - p_t)^\gamma` shrinks the loss of the examples the
    model already gets right with confidence.

    The arguments, their defaults and the reductions follow ``torchvision.ops.sigmoid_focal_loss``: ``alpha``
    weights the positives and a negative ``alpha`` switches the weighting off, and the default reduction is
    ``"none"`` — unlike torch's own losses, whose default is ``"mean"``.

    Args:
        inputs: Logits, a float tensor of any shape.
        targets: Labels of the shape of ``inputs``: 0 for the negative and 1 for the positive class, in a float
            tensor.
        alpha: Weight :math:`\alpha` of the positive class, in :math:`[0, 1]`; the negatives get
            :math:`1 - \alpha`. A negative value applies no weighting. Default: 0.25.
        gamma: Focusing parameter :math:`\gamma \ge 0`. Default: 2.
        reduction: ``"none"`` (default) returns the loss of every element; ``"mean"`` their mean over all
            elements; ``"sum"`` their sum.

    Shape:
        - inputs: :math:`(*)`, any shape.
        - targets: :math:`(*)`, the shape of ``inputs``.
        - output: :math:`(*)` for ``"none"``, a scalar otherwise.

    Returns:
        A tensor of the dtype of ``inputs``, differentiable with respect to ``inputs``.

    Raises:
        ValueError: If ``targets`` does not have the shape of ``inputs`` or holds values other than 0 and 1, if
            ``alpha`` is above 1, if ``gamma`` is negative, or if ``reduction`` is not ``"none"``, ``"mean"`` or
            ``"sum"``.

    Examples:
        >>> x = torch.tensor([-2.0, 0.5, 3.0])
        >>> t = torch.tensor([0.0, 1.0, 0.0])
        >>> torch.allclose(sigmoid_focal_loss(x, t, alpha=-1, gamma=0),
        ...                F.binary_cross_entropy_with_logits(x, t, reduction="none"))
        True
        >>> bool(sigmoid_focal_loss(x, t)[0] < F.binary_cross_entropy_with_logits(x, t, reduction="none")[0])
        True
    """
    if targets.shape != inputs.shape:
        raise ValueError(f"targets must have the shape of inputs {tuple(inputs.shape)}, got {tuple(targets.shape)}")
    if not torch.all((targets == 0) | (targets == 1)):
        raise ValueError("targets must hold 0 (negative) and 1 (positive) only")
    if alpha > 1:
        raise ValueError(f"alpha must be at most 1 (or negative, for no weighting), got {alpha}")
    if gamma < 0:
        raise ValueError(f"gamma must be non-negative, got {gamma}")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    positive = targets == 1
    s = torch.where(positive, inputs, -inputs)
    loss = -torch.exp(gamma * F.logsigmoid(-s)) * F.logsigmoid(s)
    if alpha >= 0:
        loss = torch.where(positive, alpha, 1 - alpha) * loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
