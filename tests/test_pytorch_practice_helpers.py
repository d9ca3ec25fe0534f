"""Tests of the helpers of the chapter "Losses in PyTorch practice".

``lossutils.chapters.data.gaussian_blobs`` and ``lossutils.chapters.data.noisy_sine`` (seeded toy data), and
``lossutils.chapters.plotting.plot_training_curves`` and ``lossutils.chapters.plotting.plot_predictions`` (figures).
"""

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lossutils.chapters.data import gaussian_blobs, noisy_sine  # noqa: E402
from lossutils.chapters.plotting import plot_predictions, plot_training_curves  # noqa: E402

seeds = st.integers(min_value=0, max_value=2**32 - 1)


# --- gaussian_blobs -----------------------------------------------------------------------------------------


@given(n_per_class=st.integers(1, 40), num_classes=st.integers(2, 7), seed=seeds)
def test_gaussian_blobs_shapes_dtypes_and_balanced_classes(n_per_class, num_classes, seed):
    points, target = gaussian_blobs(n_per_class, num_classes=num_classes, seed=seed)
    n = n_per_class * num_classes
    assert points.shape == (n, 2)
    assert points.dtype == torch.float32
    assert target.shape == (n,)
    assert target.dtype == torch.int64
    assert torch.bincount(target, minlength=num_classes).tolist() == [n_per_class] * num_classes


@given(seed=seeds)
def test_gaussian_blobs_same_seed_same_data_other_seed_other_data(seed):
    first = gaussian_blobs(20, seed=seed)
    second = gaussian_blobs(20, seed=seed)
    other = gaussian_blobs(20, seed=seed + 1)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not torch.equal(first[0], other[0])


def test_gaussian_blobs_without_noise_puts_each_class_on_its_centre():
    radius, num_classes = 3.0, 5
    points, target = gaussian_blobs(4, num_classes=num_classes, radius=radius, std=0.0, seed=0,
                                    dtype=torch.float64)
    angles = 2 * math.pi * target.to(torch.float64) / num_classes
    expected = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    torch.testing.assert_close(points, expected)


def test_gaussian_blobs_class_means_and_spread_match_the_parameters():
    radius, std, num_classes = 2.0, 0.5, 3
    points, target = gaussian_blobs(4000, num_classes=num_classes, radius=radius, std=std, seed=1,
                                    dtype=torch.float64)
    for k in range(num_classes):
        cluster = points[target == k]
        angle = 2 * math.pi * k / num_classes
        centre = torch.tensor([radius * math.cos(angle), radius * math.sin(angle)], dtype=torch.float64)
        # The standard error of each mean is std / sqrt(4000), about 0.008: 0.05 is more than five of them.
        torch.testing.assert_close(cluster.mean(dim=0), centre, atol=0.05, rtol=0)
        torch.testing.assert_close(cluster.std(dim=0), torch.full((2,), std, dtype=torch.float64),
                                   atol=0.05, rtol=0)


def test_gaussian_blobs_rows_are_shuffled():
    _, target = gaussian_blobs(50, num_classes=3, seed=0)
    assert not torch.equal(target, torch.sort(target).values)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_per_class": 0},
        {"num_classes": 1},
        {"radius": -1.0},
        {"std": -0.1},
        {"dtype": torch.int64},
    ],
)
def test_gaussian_blobs_rejects_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        gaussian_blobs(**kwargs)


# --- noisy_sine ---------------------------------------------------------------------------------------------


@given(n=st.integers(1, 200), seed=seeds, low=st.floats(-3, 3), width=st.floats(0.1, 5))
def test_noisy_sine_shapes_sorted_and_in_range(n, seed, low, width):
    x, y = noisy_sine(n, x_range=(low, low + width), seed=seed)
    assert x.shape == y.shape == (n,)
    assert x.dtype == y.dtype == torch.float32
    assert torch.all(x[1:] >= x[:-1])
    assert torch.all(x >= low - 1e-5) and torch.all(x <= low + width + 1e-5)


@given(seed=seeds)
def test_noisy_sine_same_seed_same_data_other_seed_other_data(seed):
    x0, y0 = noisy_sine(30, seed=seed)
    x1, y1 = noisy_sine(30, seed=seed)
    x2, y2 = noisy_sine(30, seed=seed + 1)
    assert torch.equal(x0, x1) and torch.equal(y0, y1)
    assert not torch.equal(x0, x2) and not torch.equal(y0, y2)


def test_noisy_sine_without_noise_lies_on_the_sine():
    x, y = noisy_sine(50, noise_std=0.0, x_range=(-1.0, 2.0), seed=3, dtype=torch.float64)
    np.testing.assert_allclose(y.numpy(), np.sin(2 * np.pi * x.numpy()), rtol=0, atol=1e-12)


def test_noisy_sine_noise_has_the_requested_spread():
    x, y = noisy_sine(20000, noise_std=0.3, seed=4, dtype=torch.float64)
    residual = (y - torch.sin(2 * torch.pi * x)).numpy()
    # Standard errors: 0.3 / sqrt(20000) ~ 0.002 for the mean, 0.3 / sqrt(40000) ~ 0.0015 for the std.
    assert abs(residual.mean()) < 0.01
    assert abs(residual.std() - 0.3) < 0.01


def test_noisy_sine_float32_is_the_float64_data_rounded():
    x32, y32 = noisy_sine(20, seed=7)
    x64, y64 = noisy_sine(20, seed=7, dtype=torch.float64)
    torch.testing.assert_close(x32, x64.float())
    torch.testing.assert_close(y32, y64.float())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0},
        {"noise_std": -0.1},
        {"x_range": (1.0, 1.0)},
        {"x_range": (2.0, 1.0)},
        {"dtype": torch.int32},
    ],
)
def test_noisy_sine_rejects_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        noisy_sine(**kwargs)


# --- plot_training_curves -----------------------------------------------------------------------------------

positive_losses = st.lists(st.floats(1e-6, 1e3, allow_nan=False), min_size=1, max_size=60)


@given(data=st.data(), first_epoch=st.integers(0, 5))
def test_plot_training_curves_draws_the_losses_and_marks_the_minimum(data, first_epoch):
    train = data.draw(positive_losses)
    val = data.draw(st.lists(st.floats(1e-6, 1e3, allow_nan=False), min_size=len(train), max_size=len(train)))
    fig = plot_training_curves(train, val, first_epoch=first_epoch)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    train_line, val_line, marker = ax.get_lines()
    epochs = first_epoch + np.arange(len(train))
    np.testing.assert_array_equal(train_line.get_xdata(), epochs)
    np.testing.assert_allclose(train_line.get_ydata(), train)
    np.testing.assert_allclose(val_line.get_ydata(), val)
    best = int(np.argmin(val))
    np.testing.assert_array_equal(marker.get_xdata(), [epochs[best]] * 2)
    assert marker.get_label() == f"minimum validation loss (epoch {epochs[best]})"
    (dots,) = ax.collections
    np.testing.assert_allclose(dots.get_offsets(), [[epochs[best], train[best]], [epochs[best], val[best]]])


def test_plot_training_curves_labels_scale_and_title():
    fig = plot_training_curves(torch.tensor([3.0, 2.0, 1.0]), torch.tensor([3.0, 1.0, 2.0]), title="curves")
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == [
        "training loss", "validation loss", "minimum validation loss (epoch 2)"
    ]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "epoch"
    assert ax.get_title() == "curves"
    assert ax.get_legend() is not None


def test_plot_training_curves_first_of_tied_minima_and_linear_scale_allows_zero():
    fig = plot_training_curves([1.0, 0.5, 0.0, 0.0], [2.0, 0.0, 1.0, 0.0], logy=False)
    (ax,) = fig.axes
    assert ax.get_yscale() == "linear"
    assert ax.get_lines()[2].get_label() == "minimum validation loss (epoch 2)"


@pytest.mark.parametrize(
    ("train", "val", "kwargs"),
    [
        ([], [], {}),
        ([1.0, 2.0], [1.0], {}),
        ([[1.0, 2.0]], [[1.0, 2.0]], {}),
        ([1.0, float("nan")], [1.0, 2.0], {}),
        ([1.0, 0.0], [1.0, 2.0], {"logy": True}),
        ([1.0, 2.0], [-1.0, 2.0], {"logy": True}),
    ],
)
def test_plot_training_curves_rejects_bad_input(train, val, kwargs):
    with pytest.raises(ValueError):
        plot_training_curves(train, val, **kwargs)


# --- plot_predictions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_reference", [False, True])
def test_plot_predictions_draws_the_points_and_one_line_per_prediction(with_reference):
    x, y = noisy_sine(12, seed=0)
    grid = torch.linspace(0, 1, 50)
    predictions = {"early": torch.sin(2 * torch.pi * grid), "late": grid**2}
    reference = torch.cos(grid) if with_reference else None
    fig = plot_predictions(x, y, grid, predictions, reference=reference, reference_label="truth", title="t")
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == list(predictions) + (["truth"] if with_reference else [])
    curves = list(predictions.values()) + ([reference] if with_reference else [])
    for line, values in zip(lines, curves, strict=True):
        np.testing.assert_allclose(line.get_xdata(), grid.numpy(), rtol=1e-6)
        np.testing.assert_allclose(line.get_ydata(), values.numpy(), rtol=1e-6)
    (points,) = ax.collections
    np.testing.assert_allclose(points.get_offsets(), torch.stack([x, y], dim=1).numpy(), rtol=1e-6)
    assert ax.get_title() == "t"


@pytest.mark.parametrize(
    ("x", "y", "grid", "predictions", "reference"),
    [
        (torch.zeros(3), torch.zeros(4), torch.zeros(5), {}, None),
        (torch.zeros(3, 1), torch.zeros(3, 1), torch.zeros(5), {}, None),
        (torch.zeros(3), torch.zeros(3), torch.zeros(5, 1), {}, None),
        (torch.zeros(3), torch.zeros(3), torch.zeros(5), {"p": torch.zeros(4)}, None),
        (torch.zeros(3), torch.zeros(3), torch.zeros(5), {"p": torch.zeros(5)}, torch.zeros(6)),
    ],
)
def test_plot_predictions_rejects_mismatched_shapes(x, y, grid, predictions, reference):
    with pytest.raises(ValueError):
        plot_predictions(x, y, grid, predictions, reference=reference)
