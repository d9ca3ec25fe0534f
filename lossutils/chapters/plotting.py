"""Plotting helpers for the chapters of the book.

This is the only module of :mod:`lossutils` that imports matplotlib. Each helper draws on a new
:class:`~matplotlib.figure.Figure` and returns it; nothing is written to disk. The figures are made without
:mod:`matplotlib.pyplot`, so they are not registered with pyplot: leave the returned figure as the last
expression of a notebook cell to display it (exactly once), and there is nothing to close afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "loss_and_gradient",
    "plot_curves",
    "plot_decision_boundaries",
    "plot_distributions",
    "plot_errors_by_complexity",
    "plot_fits",
    "plot_losses_and_gradients",
    "plot_marked_curves",
    "plot_point_panels",
    "plot_polynomial_fits",
    "plot_predictions",
    "plot_training_curves",
    "plot_training_history",
]

LossOfError = Callable[[torch.Tensor], torch.Tensor]


def _finish(ax: Axes, xlabel: str, ylabel: str, title: str | None) -> Figure:
    """Label, grid and legend a single-axes figure the way every figure of the book is; return the figure."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return ax.figure


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
    derivative_title: str = "derivative with respect to the error (autograd)",
    figsize: tuple[float, float] = (10.0, 4.0),
) -> Figure:
    """Draw each loss and its autograd derivative against the error, in two side-by-side panels.

    Args:
        errors: 1-D tensor of error values (the x-axis); sort it for a readable line plot.
        losses: Maps a legend label to an elementwise loss of the error (see :func:`loss_and_gradient`).
        title: Optional title of the whole figure.
        xlabel: Label of both x-axes.
        derivative_title: Title of the right panel, which names the variable of the derivative.
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
    ax_grad.set_title(derivative_title)
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
    return _finish(ax, "x", "y", title)


def _polynomial_values(coefficients: torch.Tensor, x: np.ndarray) -> np.ndarray:
    """Values of ``sum_k coefficients[k] * x**k`` (lowest power first) at ``x``, in float64."""
    c = coefficients.detach().to(torch.float64).reshape(-1).numpy()
    return np.polynomial.polynomial.polyval(x, c)


def plot_polynomial_fits(
    x: torch.Tensor,
    y: torch.Tensor,
    fits: Mapping[str, torch.Tensor],
    *,
    truth: Callable[[torch.Tensor], torch.Tensor] | None = None,
    held_out: tuple[torch.Tensor, torch.Tensor] | None = None,
    ylim: tuple[float, float] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    r"""Draw polynomial fits over their training data, one panel per fit, as in the chapter "Fitting".

    A fit is given by its coefficients ``w``, lowest power first, and drawn as the curve
    :math:`\hat y = \sum_{k=0}^{d} w_k x^k` on a fine grid that spans all the plotted inputs.

    Args:
        x: 1-D tensor of training inputs.
        y: 1-D tensor of training targets, of the same length as ``x``.
        fits: Maps a panel title (also the curve's legend label) to a 1-D tensor of polynomial coefficients,
            ``fits[label][k]`` multiplying ``x**k``.
        truth: The true function, mapping a tensor of inputs to a tensor of values, drawn dashed in every
            panel with the label ``"true function"``; or ``None``.
        held_out: A pair ``(x, y)`` of held-out data drawn as hollow markers in every panel, or ``None``.
        ylim: Limits of the shared y-axis. By default the limits enclose all the data points and the true
            function with a margin, so that a fit that shoots far away leaves the panel instead of squashing
            everything else; its line still holds its full values.
        title: Optional title of the whole figure.
        figsize: Size of the figure in inches; by default 4 inches wide per panel and 4 high.

    Returns:
        The figure, with one axes per fit in the order of ``fits``. Each axes holds the training data (and the
        held-out data, if given) as scatter collections, and the lines: the fit, labelled with its key in
        ``fits``, then the true function if given. One legend for the whole figure names the kinds of marks.

    Raises:
        ValueError: If ``fits`` is empty, if a pair of data tensors are not 1-D of the same length, or if a
            coefficient tensor is empty.

    Examples:
        >>> x = torch.linspace(-1, 1, 5)
        >>> fig = plot_polynomial_fits(x, 3 * x**2 + 2, {"line": torch.tensor([3.0, 0.0])})
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['line']
    """
    if not fits:
        raise ValueError("fits must name at least one fit")
    pairs = [(x, y)] + ([] if held_out is None else [held_out])
    for a, b in pairs:
        if a.ndim != 1 or a.shape != b.shape:
            raise ValueError(f"data must be 1-D pairs of the same length, got {tuple(a.shape)} and {tuple(b.shape)}")
    for label, coefficients in fits.items():
        if coefficients.numel() == 0:
            raise ValueError(f"fit {label!r} has no coefficients")
    xs, ys = (t.detach().to(torch.float64).numpy() for t in (x, y))
    all_x = np.concatenate([a.detach().to(torch.float64).numpy() for a, _ in pairs])
    all_y = np.concatenate([b.detach().to(torch.float64).numpy() for _, b in pairs])
    grid = np.linspace(all_x.min(), all_x.max(), 400)
    truth_values = None
    if truth is not None:
        truth_values = truth(torch.from_numpy(grid)).detach().to(torch.float64).numpy()
        all_y = np.concatenate([all_y, truth_values])
    if ylim is None:
        low, high = float(all_y.min()), float(all_y.max())
        margin = 0.25 * (high - low) if high > low else 1.0
        ylim = (low - margin, high + margin)
    if figsize is None:
        figsize = (4.0 * len(fits), 4.0)
    fig = Figure(figsize=figsize, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(fits), sharey=True))
    for ax, (label, coefficients) in zip(axes, fits.items(), strict=True):
        ax.scatter(xs, ys, color="0.2", s=22, label="training data", zorder=3)
        if held_out is not None:
            hx, hy = (t.detach().to(torch.float64).numpy() for t in held_out)
            ax.scatter(hx, hy, facecolors="none", edgecolors="0.6", s=14, linewidths=0.8, label="held-out data",
                       zorder=2)
        ax.plot(grid, _polynomial_values(coefficients, grid), color="tab:blue", linewidth=2, label=label)
        if truth_values is not None:
            ax.plot(grid, truth_values, color="tab:orange", linestyle="--", linewidth=1.5, label="true function")
        ax.set_title(label)
        ax.set_xlabel("x")
        ax.set_ylim(*ylim)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("y")
    handles, labels = axes[0].get_legend_handles_labels()
    labels = ["polynomial fit" if text == next(iter(fits)) else text for text in labels]
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    if title is not None:
        fig.suptitle(title)
    return fig


def plot_errors_by_complexity(
    complexity: torch.Tensor | list[int],
    errors: Mapping[str, torch.Tensor | list[float]],
    *,
    reference: float | None = None,
    reference_label: str = "noise level",
    xlabel: str = "polynomial degree",
    ylabel: str = "mean squared error",
    log_scale: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] = (6.5, 4.5),
) -> Figure:
    """Draw error curves against model complexity, for example training and held-out error by polynomial degree.

    Args:
        complexity: The x-values, for example the polynomial degrees.
        errors: Maps a legend label to the errors at each value of ``complexity``.
        reference: A value drawn as a dotted horizontal line (for example the variance of the noise), or ``None``.
        reference_label: Legend label of the reference line.
        xlabel: Label of the x-axis.
        ylabel: Label of the y-axis.
        log_scale: Whether the y-axis is logarithmic, which keeps small and huge errors readable together.
        title: Optional title of the axes.
        figsize: Size of the figure in inches.

    Returns:
        The figure, with a single axes holding one line with markers per entry of ``errors``, in their order,
        followed by the reference line if one is given.

    Raises:
        ValueError: If ``errors`` is empty, if a curve's length differs from that of ``complexity``, or if
            ``log_scale`` is true and a value to draw is not positive.

    Examples:
        >>> fig = plot_errors_by_complexity([0, 1, 2], {"training": [1.0, 0.5, 0.2]}, reference=0.1)
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['training', 'noise level']
    """
    if not errors:
        raise ValueError("errors must name at least one curve")
    xs = np.asarray(complexity, dtype=np.float64).reshape(-1)
    curves = {label: np.asarray(values, dtype=np.float64).reshape(-1) for label, values in errors.items()}
    for label, values in curves.items():
        if values.shape != xs.shape:
            raise ValueError(f"curve {label!r} has {values.size} values for {xs.size} complexities")
        if log_scale and np.any(values <= 0):
            raise ValueError(f"curve {label!r} has values <= 0, which a logarithmic axis cannot show")
    if log_scale and reference is not None and reference <= 0:
        raise ValueError(f"reference must be positive on a logarithmic axis, got {reference}")
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    for label, values in curves.items():
        ax.plot(xs, values, marker="o", linewidth=2, label=label)
    if reference is not None:
        ax.axhline(reference, color="0.4", linestyle=":", linewidth=1.5, label=reference_label)
    if log_scale:
        ax.set_yscale("log")
    ax.set_xticks(xs)
    return _finish(ax, xlabel, ylabel, title)


def plot_training_history(
    steps: Sequence[int] | torch.Tensor,
    loss: Sequence[float] | torch.Tensor,
    mistakes: Sequence[float] | torch.Tensor,
    *,
    loss_label: str = "training loss",
    mistakes_label: str = "number of mistakes (0-1 loss, summed)",
    title: str | None = None,
    figsize: tuple[float, float] = (10.0, 3.5),
) -> Figure:
    """Draw a training loss and a count of mistakes against the training step, in two side-by-side panels.

    For the chapter "The Rolls-Royce example": the smooth loss that training follows on the left, the count of
    wrong predictions that we actually care about on the right.

    Args:
        steps: 1-D sequence of step numbers (the x-axis of both panels).
        loss: The loss at each step, of the same length as ``steps``.
        mistakes: The number of mistakes at each step, of the same length as ``steps``; drawn as a step line.
        loss_label: Title of the left panel.
        mistakes_label: Title of the right panel.
        title: Optional title of the whole figure.
        figsize: Size of the figure in inches.

    Returns:
        The figure, with two axes holding one line each: the loss on the left, the mistakes on the right.

    Raises:
        ValueError: If the three sequences are empty, not 1-D, or of different lengths.
    """
    xs, ls, ms = (np.asarray(torch.as_tensor(v).detach().cpu(), dtype=np.float64) for v in (steps, loss, mistakes))
    if xs.ndim != 1 or xs.shape != ls.shape or xs.shape != ms.shape or xs.size == 0:
        raise ValueError(
            f"steps, loss and mistakes must be non-empty 1-D of the same length, got shapes "
            f"{xs.shape}, {ls.shape} and {ms.shape}"
        )
    fig = Figure(figsize=figsize, layout="constrained")
    ax_loss, ax_mistakes = fig.subplots(1, 2)
    ax_loss.plot(xs, ls, color="tab:blue", linewidth=2)
    ax_mistakes.plot(xs, ms, color="tab:red", linewidth=2, drawstyle="steps-post")
    ax_loss.set_title(loss_label)
    ax_mistakes.set_title(mistakes_label)
    ax_loss.set_ylim(bottom=0)
    ax_mistakes.set_ylim(bottom=0)
    for ax in (ax_loss, ax_mistakes):
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
    if title is not None:
        fig.suptitle(title)
    return fig


def plot_decision_boundaries(
    points: torch.Tensor,
    labels: torch.Tensor,
    boundaries: Mapping[str, Sequence[float] | torch.Tensor],
    *,
    xlabel: str = "feature 1",
    ylabel: str = "feature 2",
    class_names: tuple[str, str] = ("class 0", "class 1"),
    title: str | None = None,
    figsize: tuple[float, float] = (6.5, 5.0),
) -> Figure:
    r"""Draw two-class points in the plane and the decision boundaries of linear scores.

    A boundary given as ``(w1, w2, b)`` is the line where the score :math:`w_1 x_1 + w_2 x_2 + b` is zero:
    points on one side get a positive score, points on the other a negative one. For the chapter
    "The Rolls-Royce example".

    Args:
        points: Tensor of shape ``(n, 2)``: the two features of each point (x-axis, y-axis).
        labels: Tensor of shape ``(n,)`` with values in ``{0, 1}``.
        boundaries: Maps a legend label to ``(w1, w2, b)``. A boundary with ``w1 = w2 = 0`` has a constant
            score and no line; it is skipped.
        xlabel: Label of the x-axis.
        ylabel: Label of the y-axis.
        class_names: Legend labels of class 0 and class 1.
        title: Optional title of the axes.
        figsize: Size of the figure in inches.

    Returns:
        The figure, with a single axes holding the points of class 0 and then of class 1 as two scatter
        collections, and one line per boundary that has one, in the order of ``boundaries``. The axis limits
        are those of the points with a margin, so every line is clipped to the data.

    Raises:
        ValueError: If ``points`` is not of shape ``(n, 2)``, ``labels`` not of shape ``(n,)`` with values in
            ``{0, 1}``, or a boundary does not have three numbers.
    """
    if points.ndim != 2 or points.shape[1] != 2 or labels.shape != points.shape[:1]:
        raise ValueError(
            f"points must have shape (n, 2) and labels shape (n,), got {tuple(points.shape)} and {tuple(labels.shape)}"
        )
    xy = points.detach().to(torch.float64).cpu().numpy()
    cls = labels.detach().cpu().numpy()
    if not np.isin(cls, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    weights = {}
    for name, boundary in boundaries.items():
        w = np.asarray(torch.as_tensor(boundary).detach().cpu(), dtype=np.float64).reshape(-1)
        if w.shape != (3,):
            raise ValueError(f"boundary {name!r} must be (w1, w2, b), got {w.size} numbers")
        weights[name] = w
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    for value, name, style in ((0, class_names[0], dict(color="tab:blue", marker="o")),
                               (1, class_names[1], dict(color="tab:orange", marker="^"))):
        ax.scatter(xy[cls == value, 0], xy[cls == value, 1], s=22, alpha=0.8, label=name, zorder=3, **style)
    low, high = xy.min(axis=0), xy.max(axis=0)
    margin = 0.05 * np.maximum(high - low, 1e-12)
    (x_low, y_low), (x_high, y_high) = low - margin, high + margin
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)
    for name, (w1, w2, b) in weights.items():
        if w1 == 0 and w2 == 0:
            continue
        if abs(w2) >= abs(w1):
            x = np.linspace(x_low, x_high, 200)
            ax.plot(x, -(w1 * x + b) / w2, linewidth=2, label=name)
        else:
            y = np.linspace(y_low, y_high, 200)
            ax.plot(-(w2 * y + b) / w1, y, linewidth=2, label=name)
    return _finish(ax, xlabel, ylabel, title)


def plot_marked_curves(
    x: torch.Tensor,
    curves: Mapping[str, torch.Tensor],
    *,
    mark: str | None = "max",
    xlabel: str = "x",
    ylabel: str = "",
    title: str | None = None,
    decimals: int = 3,
    figsize: tuple[float, float] = (6.5, 4.0),
) -> Figure:
    """Draw curves over a common x-axis and mark the maximum (or minimum) of each with a dot and its value.

    Used in the chapter "From entropy to softmax loss" for the entropy of a coin, whose maximum sits at
    ``p = 0.5``, and for the cross-entropy ``H(p, q)`` as ``q`` varies, whose minimum sits at ``q = p``.

    Args:
        x: 1-D tensor of x values, sorted for a readable line plot.
        curves: Maps a legend label to a 1-D tensor of y values, of the same length as ``x``. NaN values are
            drawn as gaps and ignored when looking for the extreme.
        mark: ``"max"`` to mark each curve's largest value, ``"min"`` its smallest, ``None`` for no marks.
        xlabel: Label of the x-axis.
        ylabel: Label of the y-axis.
        title: Optional title of the axes.
        decimals: Number of decimals of the value written next to each mark.
        figsize: Size of the figure in inches.

    Returns:
        The figure, with a single axes holding one line per curve in the order of ``curves``; with a ``mark``,
        also one scatter collection per curve (a single point at its extreme, at the first such ``x`` if several
        tie) and one text annotation per curve giving the point's coordinates.

    Raises:
        ValueError: If ``curves`` is empty, ``x`` is not 1-D, a curve's shape differs from that of ``x``, a curve
            has only NaN values while ``mark`` is set, or ``mark`` is not ``"max"``, ``"min"`` or ``None``.

    Examples:
        >>> p = torch.linspace(0, 1, 101)
        >>> fig = plot_marked_curves(p, {"H": torch.special.entr(p) + torch.special.entr(1 - p)})
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['H']
    """
    if mark not in ("max", "min", None):
        raise ValueError(f"mark must be 'max', 'min' or None, got {mark!r}")
    if not curves:
        raise ValueError("curves must name at least one curve")
    if x.ndim != 1:
        raise ValueError(f"x must be a 1-D tensor, got shape {tuple(x.shape)}")
    xs = x.detach().to(torch.float64).numpy()
    ys = {}
    for label, y in curves.items():
        if y.shape != x.shape:
            raise ValueError(f"curve {label!r} has shape {tuple(y.shape)}, x has shape {tuple(x.shape)}")
        ys[label] = y.detach().to(torch.float64).numpy()
        if mark is not None and np.isnan(ys[label]).all():
            raise ValueError(f"curve {label!r} has no value that is not NaN")
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    for label, y in ys.items():
        (line,) = ax.plot(xs, y, label=label)
        if mark is None:
            continue
        i = int(np.nanargmax(y) if mark == "max" else np.nanargmin(y))
        ax.scatter([xs[i]], [y[i]], color=line.get_color(), zorder=3)
        ax.annotate(
            f"{mark} {y[i]:.{decimals}f} at {xs[i]:.{decimals}g}",
            (xs[i], y[i]),
            textcoords="offset points",
            xytext=(0, 8 if mark == "max" else -8),
            ha="center",
            va="bottom" if mark == "max" else "top",
            color=line.get_color(),
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        )
    if mark is not None:
        ax.margins(y=0.15)
    return _finish(ax, xlabel, ylabel, title)


def plot_distributions(
    distributions: Mapping[str, torch.Tensor],
    *,
    categories: list[str] | tuple[str, ...] | None = None,
    xlabel: str = "class",
    ylabel: str = "probability",
    title: str | None = None,
    figsize: tuple[float, float] = (7.0, 4.0),
) -> Figure:
    """Draw several distributions over the same categories as grouped bars, one colour per distribution.

    Used in the chapter "From entropy to softmax loss" to show the softmax of one logit vector at several
    temperatures.

    Args:
        distributions: Maps a legend label to a 1-D tensor of values, one per category; all of the same length.
            The values are drawn as given (they need not sum to 1).
        categories: Tick labels of the categories; by default ``"0"``, ``"1"``, ...
        xlabel: Label of the x-axis.
        ylabel: Label of the y-axis.
        title: Optional title of the axes.
        figsize: Size of the figure in inches.

    Returns:
        The figure, with a single axes holding one bar container per distribution, in the order of
        ``distributions``, each labelled with its key; the bars of category ``k`` are grouped around ``x = k``.

    Raises:
        ValueError: If ``distributions`` is empty, a value tensor is not 1-D, the lengths differ, or
            ``categories`` has the wrong length.

    Examples:
        >>> fig = plot_distributions({"p": torch.tensor([0.2, 0.8]), "q": torch.tensor([0.5, 0.5])})
        >>> [c.get_label() for c in fig.axes[0].containers]
        ['p', 'q']
    """
    if not distributions:
        raise ValueError("distributions must name at least one distribution")
    values = {}
    for label, v in distributions.items():
        if v.ndim != 1:
            raise ValueError(f"distribution {label!r} must be 1-D, got shape {tuple(v.shape)}")
        values[label] = v.detach().to(torch.float64).numpy()
    lengths = {len(v) for v in values.values()}
    if len(lengths) != 1:
        raise ValueError(f"distributions must have the same length, got {[len(v) for v in values.values()]}")
    (k,) = lengths
    if categories is None:
        categories = [str(i) for i in range(k)]
    if len(categories) != k:
        raise ValueError(f"categories has {len(categories)} labels for {k} categories")
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(values)
    positions = np.arange(k)
    for j, (label, v) in enumerate(values.items()):
        ax.bar(positions + (j - (len(values) - 1) / 2) * width, v, width=width, label=label)
    ax.set_xticks(positions, list(categories))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return fig


def _as_1d_float_array(name: str, values: Sequence[float] | torch.Tensor) -> np.ndarray:
    """Return ``values`` as a 1-D float64 numpy array, or raise ``ValueError`` naming ``name``."""
    array = np.asarray(torch.as_tensor(values).detach().cpu(), dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    return array


def plot_training_curves(
    train_loss: Sequence[float] | torch.Tensor,
    val_loss: Sequence[float] | torch.Tensor,
    *,
    first_epoch: int = 1,
    logy: bool = True,
    ylabel: str = "loss",
    title: str | None = None,
    figsize: tuple[float, float] = (7.0, 4.0),
) -> Figure:
    """Draw the training and validation loss against the epoch and mark the epoch of minimum validation loss.

    For the chapter "Losses in PyTorch practice": when a model starts to overfit, the training loss keeps
    falling while the validation (held-out) loss passes a minimum and rises again; the marked epoch is where
    early stopping would keep the model.

    Args:
        train_loss: 1-D sequence of the training loss after each epoch.
        val_loss: 1-D sequence of the validation loss after each epoch, of the same length as ``train_loss``.
        first_epoch: Number of the epoch of the first entry; entry ``i`` belongs to epoch ``first_epoch + i``.
        logy: If true, draw the y-axis on a logarithmic scale (all losses must then be positive).
        ylabel: Label of the y-axis.
        title: Optional title of the axes.
        figsize: Size of the figure in inches.

    Returns:
        The figure, with a single axes holding, in this order, the line ``"training loss"``, the line
        ``"validation loss"`` and a dotted vertical line at the epoch of minimum validation loss (the first one if
        several tie), labelled with that epoch; plus one scatter collection holding the two losses at that epoch.

    Raises:
        ValueError: If the two sequences are empty, not 1-D, of different lengths or contain NaN, or if ``logy``
            is true and a loss is not positive.

    Examples:
        >>> fig = plot_training_curves([1.0, 0.5, 0.3, 0.2], [1.1, 0.7, 0.8, 0.9])
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['training loss', 'validation loss', 'minimum validation loss (epoch 2)']
    """
    train = _as_1d_float_array("train_loss", train_loss)
    val = _as_1d_float_array("val_loss", val_loss)
    if train.size == 0 or train.shape != val.shape:
        raise ValueError(
            f"train_loss and val_loss must be non-empty and of the same length, got {train.size} and {val.size}"
        )
    if np.isnan(train).any() or np.isnan(val).any():
        raise ValueError("the losses must not contain NaN")
    if logy and (train.min() <= 0 or val.min() <= 0):
        raise ValueError("with logy=True every loss must be positive")
    epochs = first_epoch + np.arange(train.size)
    best = int(np.argmin(val))
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    ax.plot(epochs, train, color="tab:blue", linewidth=1.8, label="training loss")
    ax.plot(epochs, val, color="tab:orange", linewidth=1.8, label="validation loss")
    ax.axvline(epochs[best], color="0.3", linestyle=":", linewidth=1.5,
               label=f"minimum validation loss (epoch {epochs[best]})")
    ax.scatter([epochs[best]] * 2, [train[best], val[best]], color=["tab:blue", "tab:orange"], zorder=3)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return fig


def plot_predictions(
    x: torch.Tensor,
    y: torch.Tensor,
    grid: torch.Tensor,
    predictions: Mapping[str, torch.Tensor],
    *,
    reference: torch.Tensor | None = None,
    reference_label: str = "true function",
    bands: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (6.5, 4.0),
) -> Figure:
    """Draw training points and the curves that one or more models predict on a grid of inputs.

    For the chapter "Losses in PyTorch practice", to compare a model stopped early with the same model trained
    until it has memorised the noise of its training points; and for the chapter "Maximum likelihood", where
    ``bands`` shade the range of plus or minus two predicted standard deviations around a predicted mean.

    Args:
        x: 1-D tensor of the training inputs.
        y: 1-D tensor of the training targets, of the same length as ``x``.
        grid: 1-D tensor of sorted inputs at which the predictions are given.
        predictions: Maps a legend label to a 1-D tensor of predictions, of the same length as ``grid``.
        reference: Optional 1-D tensor of the true function on ``grid``, drawn dashed after the predictions.
        reference_label: Legend label of ``reference``.
        bands: Maps a label to a pair ``(low, high)`` of 1-D tensors on ``grid``, shaded between them behind the
            lines; or ``None``. A band with the label of a prediction takes its colour and shares its legend entry;
            any other band gets a colour and a legend entry of its own.
        title: Optional title of the axes.
        figsize: Size of the figure in inches.

    Returns:
        The figure, with a single axes holding the training points as one scatter collection, then one shaded
        collection per band in the order of ``bands`` (labelled with its key, or with ``"_"`` and its key, which
        keeps it out of the legend, when it belongs to a prediction), and one line per prediction, in the order
        of ``predictions``, followed by the reference line if one is given.

    Raises:
        ValueError: If ``x`` and ``y`` are not 1-D of the same length, ``grid`` is not 1-D, or a prediction, the
            reference or a band's edge does not have the shape of ``grid``.

    Examples:
        >>> grid = torch.linspace(0, 1, 5)
        >>> fig = plot_predictions(grid, grid, grid, {"identity": grid})
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['identity']
    """
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D of the same length, got {tuple(x.shape)} and {tuple(y.shape)}")
    if grid.ndim != 1:
        raise ValueError(f"grid must be 1-D, got shape {tuple(grid.shape)}")
    curves = dict(predictions)
    if reference is not None:
        curves[reference_label] = reference
    for label, (low, high) in (bands or {}).items():
        curves[f"{label} (low edge)"], curves[f"{label} (high edge)"] = low, high
    for label, values in curves.items():
        if values.shape != grid.shape:
            raise ValueError(f"{label!r} has shape {tuple(values.shape)}, grid has shape {tuple(grid.shape)}")
    gs = grid.detach().to(torch.float64).numpy()
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    ax.scatter(x.detach().to(torch.float64).numpy(), y.detach().to(torch.float64).numpy(), color="0.2", s=22,
               label="training data", zorder=3)
    colours = {label: f"C{i % 10}" for i, label in enumerate(predictions)}
    for i, (label, (low, high)) in enumerate((bands or {}).items()):
        ax.fill_between(gs, low.detach().to(torch.float64).numpy(), high.detach().to(torch.float64).numpy(),
                        color=colours.get(label, f"C{(len(predictions) + i) % 10}"), alpha=0.2, linewidth=0,
                        label=f"_{label}" if label in colours else label)
    for label, values in predictions.items():
        ax.plot(gs, values.detach().to(torch.float64).numpy(), color=colours[label], linewidth=2, label=label)
    if reference is not None:
        ax.plot(gs, reference.detach().to(torch.float64).numpy(), color="0.5", linestyle="--", linewidth=1.2,
                label=reference_label)
    return _finish(ax, "x", "y", title)


def plot_point_panels(
    panels: Mapping[str, tuple[torch.Tensor, torch.Tensor | None]],
    *,
    axis_labels: Mapping[str, tuple[str, str]] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Draw sets of points in the plane side by side, one panel each, coloured by class where a panel has labels.

    For the chapter "The loss family", which opens with the kinds of learning: a regression data set (inputs against
    number targets), a classification data set (points coloured by class) and the same points without labels.

    Args:
        panels: Maps a panel title to ``(points, labels)``: ``points`` of shape ``(n, 2)`` (x-axis, y-axis), and
            ``labels`` of shape ``(n,)`` holding class indices ``0, 1, ...``, or ``None`` for points without classes,
            drawn in grey.
        axis_labels: Maps a panel title to its ``(xlabel, ylabel)``; panels not named get no axis labels.
        title: Optional title of the whole figure.
        figsize: Size of the figure in inches; by default 4 inches wide per panel and 3.6 high.

    Returns:
        The figure, with one axes per panel in the order of ``panels``. An axes holds one scatter collection per
        class present in its labels, in increasing class order and labelled ``"class k"``, or a single unlabelled
        collection when its labels are ``None``.

    Raises:
        ValueError: If ``panels`` is empty, a ``points`` tensor is not of shape ``(n, 2)``, or ``labels`` is not of
            shape ``(n,)`` with non-negative integer values.

    Examples:
        >>> points = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]])
        >>> fig = plot_point_panels({"classes": (points, torch.tensor([0, 1, 1])), "no labels": (points, None)})
        >>> [len(ax.collections) for ax in fig.axes]
        [2, 1]
    """
    if not panels:
        raise ValueError("panels must name at least one panel")
    arrays = {}
    for name, (points, labels) in panels.items():
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"panel {name!r}: points must have shape (n, 2), got {tuple(points.shape)}")
        classes = None
        if labels is not None:
            if labels.shape != points.shape[:1] or labels.dtype.is_floating_point or bool((labels < 0).any()):
                raise ValueError(f"panel {name!r}: labels must be non-negative class indices of shape (n,)")
            classes = labels.detach().cpu().numpy()
        arrays[name] = (points.detach().to(torch.float64).cpu().numpy(), classes)
    if figsize is None:
        figsize = (4.0 * len(panels), 3.6)
    fig = Figure(figsize=figsize, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (name, (xy, classes)) in zip(axes, arrays.items(), strict=True):
        if classes is None:
            ax.scatter(xy[:, 0], xy[:, 1], color="0.45", s=16)
        else:
            for k in np.unique(classes):
                ax.scatter(xy[classes == k, 0], xy[classes == k, 1], s=16, color=f"C{k % 10}", label=f"class {k}")
            ax.legend(fontsize="small")
        xlabel, ylabel = (axis_labels or {}).get(name, ("", ""))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
    if title is not None:
        fig.suptitle(title)
    return fig


def plot_curves(
    x: torch.Tensor | Sequence[float],
    panels: Mapping[str, Mapping[str, torch.Tensor | Sequence[float]]],
    *,
    xlabel: str = "step",
    logy: Sequence[str] = (),
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Draw several curves over one x-axis, in side-by-side panels that share the curves' colours and one legend.

    For comparing runs: for example the accuracy and the weight norm of models trained with different losses, one
    panel per quantity and one curve per loss (chapters "Prediction minus target", "Margin losses", "Class
    imbalance").

    Args:
        x: 1-D x values shared by every curve (steps, margins, probabilities, ...).
        panels: Maps a panel title (also its y-label) to a mapping from a legend label to the 1-D y values of a
            curve, of the length of ``x``. A label that appears in several panels gets the same colour in each.
        xlabel: Label of every x-axis.
        logy: Titles of the panels whose y-axis is logarithmic (their values must be positive).
        title: Optional title of the whole figure.
        figsize: Size of the figure in inches; by default 4.5 inches wide per panel and 3.6 high.

    Returns:
        The figure, with one axes per panel in the order of ``panels``, each holding one line per curve in the order
        given, and a single legend for the figure naming every label once.

    Raises:
        ValueError: If ``panels`` or a panel is empty, ``x`` is not 1-D, a curve does not have the length of ``x``,
            ``logy`` names a panel that does not exist, or a curve on a logarithmic axis has a value that is not
            positive.

    Examples:
        >>> fig = plot_curves([0, 1, 2], {"loss": {"a": [3.0, 2.0, 1.0], "b": [3.0, 2.5, 2.0]},
        ...                               "accuracy": {"a": [0.1, 0.5, 0.9]}})
        >>> [[line.get_label() for line in ax.get_lines()] for ax in fig.axes]
        [['a', 'b'], ['a']]
    """
    xs = _as_1d_float_array("x", x)
    if not panels:
        raise ValueError("panels must name at least one panel")
    unknown = set(logy) - set(panels)
    if unknown:
        raise ValueError(f"logy names panels that do not exist: {sorted(unknown)}")
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for name, curves in panels.items():
        if not curves:
            raise ValueError(f"panel {name!r} has no curve")
        arrays[name] = {}
        for label, values in curves.items():
            ys = _as_1d_float_array(f"curve {label!r} of panel {name!r}", values)
            if ys.shape != xs.shape:
                raise ValueError(f"curve {label!r} of panel {name!r} has {ys.size} values for {xs.size} x values")
            if name in logy and np.any(ys <= 0):
                raise ValueError(f"curve {label!r} of panel {name!r} has values <= 0 on a logarithmic axis")
            arrays[name][label] = ys
    labels = list(dict.fromkeys(label for curves in arrays.values() for label in curves))
    colours = {label: f"C{i % 10}" for i, label in enumerate(labels)}
    if figsize is None:
        figsize = (4.5 * len(panels), 3.6)
    fig = Figure(figsize=figsize, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    handles = {}
    for ax, (name, curves) in zip(axes, arrays.items(), strict=True):
        for label, ys in curves.items():
            (handles[label],) = ax.plot(xs, ys, color=colours[label], linewidth=1.8, label=label)
        if name in logy:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(name)
        ax.grid(True, which="both", alpha=0.3)
    fig.legend([handles[label] for label in labels], labels, loc="outside lower center", ncols=min(len(labels), 5))
    if title is not None:
        fig.suptitle(title)
    return fig
