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

from lossutils.chapters.data import gaussian_blobs, regression_with_outlier  # noqa: E402
from lossutils.chapters.plotting import (  # noqa: E402
    loss_and_gradient,
    plot_curves,
    plot_fits,
    plot_losses_and_gradients,
    plot_point_panels,
)

LOSSES = {
    "squared": lambda e: 0.5 * e**2,
    "absolute": lambda e: e.abs(),
    "huber": lambda e: F.huber_loss(e, torch.zeros_like(e), delta=1.0, reduction="none"),
    "zero-one": lambda e: torch.clamp(torch.round(e).abs(), max=1),
}


def test_plot_losses_and_gradients_structure():
    errors = torch.linspace(-3, 3, 61)
    fig = plot_losses_and_gradients(errors, LOSSES, title="t", derivative_title="d/dm")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    ax_loss, ax_grad = fig.axes
    assert ax_grad.get_title() == "d/dm"
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


# --- plot_point_panels ------------------------------------------------------------------------------------------


def test_plot_point_panels_draws_every_point_once_coloured_by_class():
    points, labels = gaussian_blobs(7, num_classes=3, seed=0)
    fig = plot_point_panels({"classes": (points, labels), "no labels": (points, None)},
                            axis_labels={"classes": ("x1", "x2")}, title="t")
    ax_classes, ax_plain = fig.axes
    assert [c.get_label() for c in ax_classes.collections] == ["class 0", "class 1", "class 2"]
    for k, collection in enumerate(ax_classes.collections):
        np.testing.assert_allclose(collection.get_offsets(), points[labels == k].double().numpy())
    (plain,) = ax_plain.collections
    np.testing.assert_allclose(plain.get_offsets(), points.double().numpy())
    assert (ax_classes.get_xlabel(), ax_classes.get_ylabel(), ax_plain.get_xlabel()) == ("x1", "x2", "")


@pytest.mark.parametrize(
    "panels",
    [{}, {"p": (torch.zeros(3), None)}, {"p": (torch.zeros(3, 2), torch.zeros(2, dtype=torch.long))},
     {"p": (torch.zeros(3, 2), torch.zeros(3))}, {"p": (torch.zeros(3, 2), torch.tensor([0, -1, 1]))}],
)
def test_plot_point_panels_rejects_bad_input(panels):
    with pytest.raises(ValueError):
        plot_point_panels(panels)


# --- plot_curves --------------------------------------------------------------------------------------------------


def test_plot_curves_draws_each_curve_in_its_panel_with_one_colour_per_label():
    x = torch.arange(5.0)
    panels = {"loss": {"a": x + 1, "b": 2 * x + 1}, "accuracy": {"b": x / 5, "c": x / 10}}
    fig = plot_curves(x, panels, logy=["loss"], title="t")
    assert len(fig.axes) == 2 and len(fig.legends) == 1
    colours = {}
    for ax, curves in zip(fig.axes, panels.values(), strict=True):
        assert [line.get_label() for line in ax.get_lines()] == list(curves)
        for line, values in zip(ax.get_lines(), curves.values(), strict=True):
            np.testing.assert_allclose(line.get_xdata(), x.numpy())
            np.testing.assert_allclose(line.get_ydata(), values.numpy())
            assert colours.setdefault(line.get_label(), line.get_color()) == line.get_color()
    assert len(set(colours.values())) == 3
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "linear"]
    assert [text.get_text() for text in fig.legends[0].get_texts()] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("x", "panels", "logy"),
    [([0, 1], {}, ()), ([0, 1], {"p": {}}, ()), ([[0, 1]], {"p": {"a": [1, 2]}}, ()),
     ([0, 1], {"p": {"a": [1, 2, 3]}}, ()), ([0, 1], {"p": {"a": [0, 1]}}, ("p",)),
     ([0, 1], {"p": {"a": [1, 2]}}, ("q",))],
)
def test_plot_curves_rejects_bad_input(x, panels, logy):
    with pytest.raises(ValueError):
        plot_curves(x, panels, logy=logy)
