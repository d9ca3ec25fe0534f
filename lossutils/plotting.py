"""Plotting helpers for the chapter "The loss family".

This is the only module of :mod:`lossutils` that imports matplotlib. Each helper draws on a new
:class:`~matplotlib.figure.Figure` and returns it; nothing is written to disk. The figures are made without
:mod:`matplotlib.pyplot`, so they are not registered with pyplot: leave the returned figure as the last
expression of a notebook cell to display it (exactly once), and there is nothing to close afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = ["loss_and_gradient", "plot_fits", "plot_losses_and_gradients"]

LossOfError = Callable[[torch.Tensor], torch.Tensor]


def loss_and_gradient(fn: LossOfError, errors: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate an elementwise loss of the error and its derivative, the latter with autograd.

    Args:
        fn: Maps a tensor of errors ``e`` to the tensor of per-element losses, of the same shape. It must
            be built from differentiable torch operations so that autograd can follow it.
        errors: 1-D tensor of error values at which to evaluate ``fn``.

    Returns:
        A pair ``(loss, grad)`` of float64 numpy arrays of the shape of ``errors``: the values of ``fn``
        and the derivative ``d fn(e) / d e`` at each error, as computed by ``torch.autograd``.

    Raises:
        ValueError: If ``errors`` is not 1-D, if ``fn`` changes the shape, or if its result is not
            connected to the autograd graph (for example because it was built with a comparison such as
            ``e != 0``, which returns a boolean tensor that autograd cannot differentiate).
    """
    if errors.ndim != 1:
        raise ValueError(f"errors must be a 1-D tensor, got shape {tuple(errors.shape)}")
    e = errors.detach().to(torch.float64).clone().requires_grad_(True)
    loss = fn(e)
    if loss.shape != e.shape:
        raise ValueError(f"the loss must be elementwise: got shape {tuple(loss.shape)} for {tuple(e.shape)}")
    if not loss.requires_grad:
        raise ValueError("the loss is not connected to the autograd graph, so it has no autograd derivative")
    # Each loss element depends only on its own error: the gradient of the sum is the elementwise derivative.
    (grad,) = torch.autograd.grad(loss.sum(), e)
    return loss.detach().numpy(), grad.detach().numpy()


def plot_losses_and_gradients(
    errors: torch.Tensor,
    losses: Mapping[str, LossOfError],
    *,
    title: str | None = None,
    xlabel: str = r"error $e = \hat{y} - y$",
    figsize: tuple[float, float] = (10.0, 4.0),
) -> Figure:
    """Draw each loss and its autograd derivative against the error, in two side-by-side panels.

    Args:
        errors: 1-D tensor of error values (the x-axis); sort it for a readable line plot.
        losses: Maps a legend label to an elementwise loss of the error (see :func:`loss_and_gradient`).
        title: Optional title of the whole figure.
        xlabel: Label of both x-axes.
        figsize: Size of the figure in inches.

    Returns:
        The figure. Its two axes hold one line per loss, in the order of ``losses``: the left axes the
        losses, the right axes their derivatives.

    Raises:
        ValueError: If ``losses`` is empty, or as :func:`loss_and_gradient` does.
    """
    if not losses:
        raise ValueError("losses must name at least one loss")
    x = errors.detach().to(torch.float64).numpy()
    fig = Figure(figsize=figsize, layout="constrained")
    ax_loss, ax_grad = fig.subplots(1, 2)
    for label, fn in losses.items():
        loss, grad = loss_and_gradient(fn, errors)
        ax_loss.plot(x, loss, label=label)
        ax_grad.plot(x, grad, label=label)
    ax_loss.set_title("loss")
    ax_grad.set_title("derivative with respect to the error (autograd)")
    for ax in (ax_loss, ax_grad):
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
    fig.legend(*ax_loss.get_legend_handles_labels(), loc="outside lower center", ncols=len(losses))
    if title is not None:
        fig.suptitle(title)
    return fig


def plot_fits(
    x: torch.Tensor,
    y: torch.Tensor,
    fits: Mapping[str, tuple[float, float]],
    *,
    outlier_index: int | None = None,
    reference: tuple[float, float] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (6.5, 4.5),
) -> Figure:
    """Draw data points and straight-line fits ``y = slope * x + intercept``.

    Args:
        x: 1-D tensor of inputs.
        y: 1-D tensor of targets, of the same length as ``x``.
        fits: Maps a legend label to the ``(slope, intercept)`` of a fitted line.
        outlier_index: Index of a point to mark as the outlier, or ``None``.
        reference: ``(slope, intercept)`` of a reference line (for example the true line) drawn dashed
            after the fits, with the label ``"true line"``, or ``None``.
        title: Optional title of the axes.
        figsize: Size of the figure in inches.

    Returns:
        The figure, with a single axes holding the data as scatter collections and one line per fit, in
        the order of ``fits``, followed by the reference line if one is given.

    Raises:
        ValueError: If ``x`` and ``y`` are not 1-D tensors of the same length.
    """
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D of the same length, got {tuple(x.shape)} and {tuple(y.shape)}")
    xs = x.detach().to(torch.float64).numpy()
    ys = y.detach().to(torch.float64).numpy()
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    inlier = np.ones(len(xs), dtype=bool)
    if outlier_index is not None:
        inlier[outlier_index] = False
    ax.scatter(xs[inlier], ys[inlier], color="0.3", s=20, label="data", zorder=3)
    if outlier_index is not None:
        ax.scatter(xs[~inlier], ys[~inlier], color="tab:red", marker="X", s=80, label="outlier", zorder=3)
    grid = np.linspace(xs.min(), xs.max(), 100)
    for label, (slope, intercept) in fits.items():
        ax.plot(grid, slope * grid + intercept, linewidth=2, label=label)
    if reference is not None:
        slope, intercept = reference
        ax.plot(grid, slope * grid + intercept, color="0.5", linestyle="--", linewidth=1.2, label="true line")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return fig
