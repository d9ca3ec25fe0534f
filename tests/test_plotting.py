"""Tests of lossutils.chapters.plotting: the documented axes and lines, with gradients that come from autograd."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lossutils.chapters.data import regression_with_outlier  # noqa: E402
from lossutils.chapters.plotting import loss_and_gradient, plot_fits, plot_losses_and_gradients  # noqa: E402

LOSSES = {
    "squared": lambda e: 0.5 * e**2,
    "absolute": lambda e: e.abs(),
    "huber": lambda e: F.huber_loss(e, torch.zeros_like(e), delta=1.0, reduction="none"),
    "zero-one": lambda e: torch.clamp(torch.round(e).abs(), max=1),
}


def test_plot_losses_and_gradients_structure():
    errors = torch.linspace(-3, 3, 61)
    fig = plot_losses_and_gradients(errors, LOSSES, title="t")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    ax_loss, ax_grad = fig.axes
    assert [line.get_label() for line in ax_loss.get_lines()] == list(LOSSES)
    assert [line.get_label() for line in ax_grad.get_lines()] == list(LOSSES)
    assert len(fig.legends) == 1


def test_plotted_values_match_the_losses_and_autograd():
    errors = torch.linspace(-3, 3, 61, dtype=torch.float64)
    fig = plot_losses_and_gradients(errors, LOSSES)
    ax_loss, ax_grad = fig.axes
    for (name, fn), loss_line, grad_line in zip(
        LOSSES.items(), ax_loss.get_lines(), ax_grad.get_lines(), strict=True
    ):
        e = errors.clone().requires_grad_(True)
        loss = fn(e)
        (grad,) = torch.autograd.grad(loss.sum(), e)
        np.testing.assert_allclose(loss_line.get_xdata(), errors.numpy(), err_msg=name)
        np.testing.assert_allclose(loss_line.get_ydata(), loss.detach().numpy(), err_msg=name)
        np.testing.assert_allclose(grad_line.get_ydata(), grad.numpy(), err_msg=name)


@given(
    values=st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=50),
    delta=st.floats(0.1, 10.0),
)
def test_loss_and_gradient_matches_known_derivatives(values, delta):
    errors = torch.tensor(values, dtype=torch.float64)
    loss, grad = loss_and_gradient(lambda e: 0.5 * e**2, errors)
    np.testing.assert_allclose(loss, 0.5 * errors.numpy() ** 2)
    np.testing.assert_allclose(grad, errors.numpy())
    _, grad = loss_and_gradient(
        lambda e: F.huber_loss(e, torch.zeros_like(e), delta=delta, reduction="none"), errors
    )
    np.testing.assert_allclose(grad, np.clip(errors.numpy(), -delta, delta), rtol=1e-12, atol=1e-12)
    _, grad = loss_and_gradient(lambda e: torch.clamp(torch.round(e).abs(), max=1), errors)
    assert np.all(grad == 0)


def test_loss_and_gradient_does_not_touch_the_input():
    errors = torch.linspace(-1, 1, 5)
    loss_and_gradient(lambda e: e**2, errors)
    assert not errors.requires_grad
    assert errors.grad is None


@pytest.mark.parametrize(
    ("errors", "fn", "message"),
    [
        (torch.zeros(2, 2), lambda e: e**2, "1-D"),
        (torch.zeros(3), lambda e: (e**2).mean(), "elementwise"),
        (torch.zeros(3), lambda e: (e != 0).float(), "autograd graph"),
    ],
)
def test_loss_and_gradient_rejects_bad_input(errors, fn, message):
    with pytest.raises(ValueError, match=message):
        loss_and_gradient(fn, errors)


def test_plot_losses_and_gradients_needs_a_loss():
    with pytest.raises(ValueError):
        plot_losses_and_gradients(torch.zeros(3), {})


@pytest.mark.parametrize(("outlier_index", "collections"), [(None, 1), (-1, 2)])
@pytest.mark.parametrize("reference", [None, (2.0, 1.0)])
def test_plot_fits_structure(outlier_index, collections, reference):
    x, y = regression_with_outlier(12, seed=0)
    fits = {"MSE": (1.0, 2.0), "MAE": (2.0, 1.0)}
    fig = plot_fits(x, y, fits, outlier_index=outlier_index, reference=reference, title="fits")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    (ax,) = fig.axes
    lines = ax.get_lines()
    expected_labels = list(fits) + ([] if reference is None else ["true line"])
    assert [line.get_label() for line in lines] == expected_labels
    assert len(ax.collections) == collections
    points = sum(len(c.get_offsets()) for c in ax.collections)
    assert points == len(x)
    for line, (slope, intercept) in zip(lines, fits.values(), strict=False):
        xs, ys = line.get_xdata(), line.get_ydata()
        np.testing.assert_allclose(ys, slope * xs + intercept)


def test_plot_fits_rejects_mismatched_data():
    with pytest.raises(ValueError):
        plot_fits(torch.zeros(3), torch.zeros(4), {})
