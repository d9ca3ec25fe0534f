"""Tests of the helpers of the chapter "From entropy to softmax loss": the seeded logits and distributions of
lossutils.chapters.data, and the marked curves and grouped bars of lossutils.chapters.plotting."""

import matplotlib

matplotlib.use("Agg")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lossutils.chapters.data import classification_logits, random_distributions  # noqa: E402
from lossutils.chapters.plotting import plot_distributions, plot_marked_curves  # noqa: E402

seeds = st.integers(min_value=0, max_value=2**32 - 1)
batch_sizes = st.integers(min_value=1, max_value=64)
class_counts = st.integers(min_value=2, max_value=12)


# --- classification_logits ---------------------------------------------------------------------------------------


@given(seed=seeds, n=batch_sizes, num_classes=class_counts, dtype=st.sampled_from([torch.float32, torch.float64]))
def test_classification_logits_shapes_dtypes_and_range(seed, n, num_classes, dtype):
    logits, target = classification_logits(n, num_classes, seed=seed, dtype=dtype)
    assert logits.shape == (n, num_classes)
    assert target.shape == (n,)
    assert logits.dtype == dtype
    assert target.dtype == torch.int64
    assert torch.all((target >= 0) & (target < num_classes))
    assert torch.isfinite(logits).all()


@given(seed=seeds, n=batch_sizes, num_classes=class_counts)
def test_classification_logits_same_seed_same_data(seed, n, num_classes):
    first = classification_logits(n, num_classes, seed=seed)
    second = classification_logits(n, num_classes, seed=seed)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)


def test_classification_logits_different_seeds_differ():
    draws = {tuple(classification_logits(8, 3, seed=seed)[0].reshape(-1).tolist()) for seed in range(5)}
    assert len(draws) == 5


def test_classification_logits_are_rounded_to_the_requested_decimals():
    logits, _ = classification_logits(50, 4, decimals=1, seed=3, dtype=torch.float64)
    torch.testing.assert_close(logits * 10, torch.round(logits * 10), rtol=0, atol=1e-9)
    unrounded, _ = classification_logits(50, 4, decimals=None, seed=3, dtype=torch.float64)
    assert not torch.allclose(unrounded * 10, torch.round(unrounded * 10))
    torch.testing.assert_close(logits, unrounded, rtol=0, atol=0.05 + 1e-12)


def test_classification_logits_margin_raises_only_the_true_class():
    base, target = classification_logits(30, 5, margin=0.0, decimals=None, seed=11, dtype=torch.float64)
    shifted, target2 = classification_logits(30, 5, margin=2.5, decimals=None, seed=11, dtype=torch.float64)
    assert torch.equal(target, target2)
    expected = base.clone()
    expected[torch.arange(30), target] += 2.5
    torch.testing.assert_close(shifted, expected)


def test_classification_logits_zero_scale_puts_the_margin_on_the_true_class():
    logits, target = classification_logits(10, 3, scale=0.0, margin=1.0, seed=0)
    torch.testing.assert_close(logits, torch.nn.functional.one_hot(target, 3).float())


def test_a_large_margin_makes_the_argmax_the_true_class():
    logits, target = classification_logits(200, 3, scale=1.0, margin=20.0, seed=0)
    assert torch.equal(logits.argmax(dim=1), target)


@pytest.mark.parametrize(
    "kwargs",
    [{"n": 0}, {"num_classes": 1}, {"scale": -1.0}, {"decimals": -1}, {"dtype": torch.int64}],
)
def test_classification_logits_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        classification_logits(**kwargs)


# --- random_distributions ----------------------------------------------------------------------------------------


@given(seed=seeds, n=batch_sizes, num_classes=class_counts, dtype=st.sampled_from([torch.float32, torch.float64]))
def test_random_distributions_are_distributions(seed, n, num_classes, dtype):
    p = random_distributions(n, num_classes, seed=seed, dtype=dtype)
    assert p.shape == (n, num_classes)
    assert p.dtype == dtype
    assert torch.all(p > 0)
    torch.testing.assert_close(p.sum(dim=1), torch.ones(n, dtype=dtype))


@given(seed=seeds, n=batch_sizes)
def test_random_distributions_same_seed_same_data(seed, n):
    assert torch.equal(random_distributions(n, 4, seed=seed), random_distributions(n, 4, seed=seed))


def test_random_distributions_different_seeds_differ():
    draws = {tuple(random_distributions(3, 3, seed=seed).reshape(-1).tolist()) for seed in range(5)}
    assert len(draws) == 5


def test_random_distributions_are_flat_dirichlet():
    """Under Dirichlet(1, ..., 1) over K outcomes each entry has mean 1/K and variance (K - 1) / (K^2 (K + 1))."""
    k = 4
    p = random_distributions(20000, k, seed=0, dtype=torch.float64)
    torch.testing.assert_close(p.mean(dim=0), torch.full((k,), 1 / k, dtype=torch.float64), rtol=0, atol=0.01)
    variance = (k - 1) / (k**2 * (k + 1))
    torch.testing.assert_close(p.var(dim=0), torch.full((k,), variance, dtype=torch.float64), rtol=0.05, atol=0)


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"num_classes": 1}, {"dtype": torch.int32}])
def test_random_distributions_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        random_distributions(**kwargs)


# --- plot_marked_curves ------------------------------------------------------------------------------------------


def _binary_entropy(p: torch.Tensor) -> torch.Tensor:
    return -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p))


def test_plot_marked_curves_draws_the_data():
    p = torch.linspace(0, 1, 101, dtype=torch.float64)
    curves = {"nats": _binary_entropy(p), "bits": _binary_entropy(p) / math.log(2)}
    fig = plot_marked_curves(p, curves, xlabel="p", ylabel="H", title="t")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == list(curves)
    for line, y in zip(lines, curves.values(), strict=True):
        np.testing.assert_allclose(line.get_xdata(), p.numpy())
        np.testing.assert_allclose(line.get_ydata(), y.numpy())
    assert ax.get_xlabel() == "p"
    assert ax.get_title() == "t"


@pytest.mark.parametrize("mark", ["max", "min"])
def test_plot_marked_curves_marks_the_extreme_of_each_curve(mark):
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)
    curves = {"parabola": (x - 0.5) ** 2, "negated": -((x + 1.0) ** 2)}
    fig = plot_marked_curves(x, curves, mark=mark)
    (ax,) = fig.axes
    assert len(ax.collections) == len(curves)
    assert len(ax.texts) == len(curves)
    for points, y in zip(ax.collections, curves.values(), strict=True):
        ((px, py),) = points.get_offsets()
        expected = y.max() if mark == "max" else y.min()
        assert py == pytest.approx(expected.item())
        assert y[torch.isclose(x, torch.tensor(px, dtype=torch.float64))].item() == pytest.approx(py)


def test_plot_marked_curves_finds_the_entropy_maximum_at_one_half():
    p = torch.linspace(0, 1, 101, dtype=torch.float64)
    fig = plot_marked_curves(p, {"H": _binary_entropy(p)}, mark="max")
    ((px, py),) = fig.axes[0].collections[0].get_offsets()
    assert px == pytest.approx(0.5)
    assert py == pytest.approx(math.log(2))


def test_plot_marked_curves_ignores_nan_and_can_skip_marks():
    x = torch.linspace(0, 1, 5)
    y = torch.tensor([float("nan"), 1.0, 3.0, 2.0, float("nan")])
    ((px, py),) = plot_marked_curves(x, {"y": y}).axes[0].collections[0].get_offsets()
    assert (px, py) == pytest.approx((0.5, 3.0))
    ax = plot_marked_curves(x, {"y": y}, mark=None).axes[0]
    assert len(ax.collections) == 0
    assert len(ax.texts) == 0


@pytest.mark.parametrize(
    ("x", "curves", "mark"),
    [
        (torch.zeros(3), {}, "max"),
        (torch.zeros(3, 1), {"y": torch.zeros(3, 1)}, "max"),
        (torch.zeros(3), {"y": torch.zeros(4)}, "max"),
        (torch.zeros(3), {"y": torch.full((3,), float("nan"))}, "min"),
        (torch.zeros(3), {"y": torch.zeros(3)}, "argmax"),
    ],
)
def test_plot_marked_curves_rejects_bad_input(x, curves, mark):
    with pytest.raises(ValueError):
        plot_marked_curves(x, curves, mark=mark)


# --- plot_distributions ------------------------------------------------------------------------------------------


def test_plot_distributions_bar_heights_are_the_data():
    logits = torch.tensor([2.0, 1.0, 0.1, -1.0])
    distributions = {f"T = {t}": torch.softmax(logits / t, dim=0) for t in (0.5, 1.0, 2.0)}
    fig = plot_distributions(distributions, categories=["a", "b", "c", "d"], title="softmax")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert [c.get_label() for c in ax.containers] == list(distributions)
    for container, probs in zip(ax.containers, distributions.values(), strict=True):
        heights = [bar.get_height() for bar in container]
        np.testing.assert_allclose(heights, probs.double().numpy(), rtol=1e-6)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c", "d"]
    assert ax.get_title() == "softmax"


def test_plot_distributions_groups_bars_around_each_category():
    distributions = {"p": torch.tensor([0.2, 0.3, 0.5]), "q": torch.tensor([0.1, 0.1, 0.8])}
    ax = plot_distributions(distributions).axes[0]
    centres = np.array([[bar.get_x() + bar.get_width() / 2 for bar in c] for c in ax.containers])
    np.testing.assert_allclose(centres.mean(axis=0), [0, 1, 2])
    assert np.all(np.diff(centres, axis=0) > 0), "the bars of one category sit side by side, in order"
    widths = np.array([[bar.get_width() for bar in c] for c in ax.containers])
    np.testing.assert_allclose(widths, widths[0, 0])
    np.testing.assert_allclose(np.diff(centres, axis=0), widths[0, 0], err_msg="neighbouring bars touch, not overlap")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("distributions", "categories"),
    [
        ({}, None),
        ({"p": torch.zeros(2, 2)}, None),
        ({"p": torch.zeros(3), "q": torch.zeros(4)}, None),
        ({"p": torch.zeros(3)}, ["a", "b"]),
    ],
)
def test_plot_distributions_rejects_bad_input(distributions, categories):
    with pytest.raises(ValueError):
        plot_distributions(distributions, categories=categories)
