"""Tests of the helpers of the chapter "The Rolls-Royce example": the car data set and its two figures."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lossutils.chapters.data import CAR_FEATURE_NAMES, car_features  # noqa: E402
from lossutils.chapters.plotting import plot_decision_boundaries, plot_training_history  # noqa: E402

seeds = st.integers(min_value=0, max_value=2**32 - 1)
sizes = st.integers(min_value=2, max_value=300)
fractions = st.floats(min_value=0.0, max_value=1.0)

# ------------------------------------------------------------------------------------------ car_features


@given(seed=seeds, n=sizes, standardize=st.booleans())
def test_car_features_same_seed_gives_same_data(seed, n, standardize):
    first = car_features(n, seed=seed, standardize=standardize)
    second = car_features(n, seed=seed, standardize=standardize)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)


def test_car_features_different_seeds_give_different_data():
    draws = [car_features(50, seed=seed) for seed in range(5)]
    for i in range(len(draws)):
        for j in range(i + 1, len(draws)):
            assert not torch.equal(draws[i][0], draws[j][0])


@given(seed=seeds, n=sizes, dtype=st.sampled_from([torch.float32, torch.float64]), standardize=st.booleans())
def test_car_features_shapes_and_dtypes(seed, n, dtype, standardize):
    features, labels = car_features(n, seed=seed, dtype=dtype, standardize=standardize)
    assert features.shape == (n, len(CAR_FEATURE_NAMES))
    assert features.dtype == dtype
    assert labels.shape == (n,)
    assert labels.dtype == torch.int64
    assert set(labels.tolist()) <= {0, 1}
    assert torch.isfinite(features).all()


def test_car_feature_names_are_the_documented_columns():
    assert CAR_FEATURE_NAMES == ("length_m", "price_keur", "engine_l")


@given(seed=seeds, n=sizes, fraction=fractions)
def test_number_of_rolls_royces_follows_the_fraction(seed, n, fraction):
    _, labels = car_features(n, rolls_royce_fraction=fraction, seed=seed)
    assert int(labels.sum()) == round(n * fraction)


@given(seed=seeds, n=st.integers(min_value=3, max_value=300))
def test_standardised_columns_have_mean_zero_and_std_one(seed, n):
    features, _ = car_features(n, seed=seed, dtype=torch.float64)
    torch.testing.assert_close(features.mean(dim=0), torch.zeros(3, dtype=torch.float64), atol=1e-10, rtol=0)
    torch.testing.assert_close(features.std(dim=0), torch.ones(3, dtype=torch.float64))


@given(seed=seeds, n=sizes)
def test_standardising_is_a_z_score_of_the_raw_data(seed, n):
    raw, raw_labels = car_features(n, seed=seed, standardize=False, dtype=torch.float64)
    features, labels = car_features(n, seed=seed, dtype=torch.float64)
    assert torch.equal(labels, raw_labels)
    torch.testing.assert_close(features, (raw - raw.mean(dim=0)) / raw.std(dim=0))


@given(seed=seeds, n=sizes)
def test_raw_values_respect_the_documented_minima(seed, n):
    raw, _ = car_features(n, seed=seed, standardize=False, dtype=torch.float64)
    assert (raw >= torch.tensor([3.0, 5.0, 0.6], dtype=torch.float64)).all()


def test_rolls_royces_follow_their_documented_distribution():
    raw, labels = car_features(20_000, rolls_royce_fraction=0.5, seed=1, standardize=False, dtype=torch.float64)
    rolls_royce = raw[labels == 1]
    torch.testing.assert_close(rolls_royce.mean(dim=0), torch.tensor([5.5, 350.0, 6.6], dtype=torch.float64),
                               rtol=0.01, atol=0)
    torch.testing.assert_close(rolls_royce.std(dim=0), torch.tensor([0.2, 70.0, 0.3], dtype=torch.float64),
                               rtol=0.05, atol=0)


def test_without_limousines_other_cars_are_ordinary():
    raw, labels = car_features(20_000, limousine_fraction=0.0, seed=2, standardize=False, dtype=torch.float64)
    others = raw[labels == 0]
    torch.testing.assert_close(others.mean(dim=0), torch.tensor([4.5, 40.0, 1.8], dtype=torch.float64),
                               rtol=0.01, atol=0)


def test_limousines_make_other_cars_look_more_like_rolls_royces():
    with_limousines, labels = car_features(5000, limousine_fraction=0.5, seed=3, standardize=False)
    without, labels_without = car_features(5000, limousine_fraction=0.0, seed=3, standardize=False)
    others = with_limousines[labels == 0].mean(dim=0)
    ordinary = without[labels_without == 0].mean(dim=0)
    assert (others > ordinary).all()


@pytest.mark.parametrize("seed", range(3))
def test_classes_overlap_so_a_trained_linear_model_still_errs(seed):
    features, labels = car_features(200, seed=seed, dtype=torch.float64)
    x = torch.cat([features, torch.ones(len(labels), 1, dtype=torch.float64)], dim=1)
    y = 2.0 * labels - 1
    weight = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.soft_margin_loss(x @ weight, y)
        loss.backward()
        return loss

    optimizer.step(closure)
    mistakes = int(((x @ weight > 0).long() != labels).sum())
    assert 0 < mistakes < 0.1 * len(labels)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 1}, "n must be at least 2"),
        ({"rolls_royce_fraction": -0.1}, "rolls_royce_fraction"),
        ({"rolls_royce_fraction": 1.5}, "rolls_royce_fraction"),
        ({"limousine_fraction": 2.0}, "limousine_fraction"),
        ({"dtype": torch.int64}, "floating point"),
    ],
)
def test_car_features_reject_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        car_features(**kwargs)


# ------------------------------------------------------------------------------------- plot_training_history


def test_training_history_draws_loss_left_and_mistakes_right():
    steps = list(range(6))
    loss = torch.tensor([0.7, 0.5, 0.4, 0.35, 0.3, 0.28])
    mistakes = [60, 14, 14, 12, 11, 11]
    fig = plot_training_history(steps, loss, mistakes, loss_label="L", mistakes_label="M", title="T")
    assert isinstance(fig, Figure)
    ax_loss, ax_mistakes = fig.axes
    (loss_line,) = ax_loss.get_lines()
    (mistakes_line,) = ax_mistakes.get_lines()
    np.testing.assert_allclose(loss_line.get_xdata(), steps)
    np.testing.assert_allclose(loss_line.get_ydata(), loss.numpy())
    np.testing.assert_allclose(mistakes_line.get_xdata(), steps)
    np.testing.assert_allclose(mistakes_line.get_ydata(), mistakes)
    assert ax_loss.get_title() == "L"
    assert ax_mistakes.get_title() == "M"
    assert ax_loss.get_xlabel() == ax_mistakes.get_xlabel() == "step"
    assert fig.get_suptitle() == "T"


def test_training_history_axes_start_at_zero():
    fig = plot_training_history([0, 1, 2], [3.0, 2.0, 1.0], [5, 4, 4])
    for ax in fig.axes:
        assert ax.get_ylim()[0] == 0


@pytest.mark.parametrize(
    "steps, loss, mistakes",
    [
        ([0, 1], [1.0], [1, 0]),
        ([0, 1], [1.0, 0.5], [1]),
        ([], [], []),
        ([[0, 1]], [[1.0, 0.5]], [[1, 0]]),
    ],
)
def test_training_history_rejects_mismatched_input(steps, loss, mistakes):
    with pytest.raises(ValueError, match="same length"):
        plot_training_history(steps, loss, mistakes)


# ---------------------------------------------------------------------------------- plot_decision_boundaries


def _points():
    points = torch.tensor([[-1.0, -1.0], [-0.5, 0.0], [0.2, -0.8], [1.0, 1.0], [0.5, 1.5], [1.5, 0.3]])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    return points, labels


def test_decision_boundaries_scatter_each_class_with_its_points():
    points, labels = _points()
    fig = plot_decision_boundaries(points, labels, {}, class_names=("other car", "Rolls-Royce"))
    (ax,) = fig.axes
    other, rolls_royce = ax.collections
    np.testing.assert_allclose(other.get_offsets(), points[labels == 0].numpy())
    np.testing.assert_allclose(rolls_royce.get_offsets(), points[labels == 1].numpy())
    assert other.get_label() == "other car"
    assert rolls_royce.get_label() == "Rolls-Royce"


@given(
    w1=st.floats(-5, 5).filter(lambda v: abs(v) > 1e-3),
    w2=st.floats(-5, 5).filter(lambda v: abs(v) > 1e-3),
    b=st.floats(-2, 2),
)
def test_every_boundary_point_has_score_zero(w1, w2, b):
    points, labels = _points()
    fig = plot_decision_boundaries(points, labels, {"line": torch.tensor([w1, w2, b], dtype=torch.float64)})
    (line,) = fig.axes[0].get_lines()
    x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    np.testing.assert_allclose(w1 * x + w2 * y + b, 0.0, atol=1e-9)
    assert line.get_label() == "line"


def test_vertical_and_horizontal_boundaries():
    points, labels = _points()
    fig = plot_decision_boundaries(points, labels, {"vertical": (2.0, 0.0, -1.0), "horizontal": (0.0, -1.0, 0.5)})
    vertical, horizontal = fig.axes[0].get_lines()
    np.testing.assert_allclose(vertical.get_xdata(), 0.5)
    np.testing.assert_allclose(horizontal.get_ydata(), 0.5)


def test_a_blank_boundary_draws_no_line():
    points, labels = _points()
    fig = plot_decision_boundaries(points, labels, {"blank": torch.zeros(3), "step 1": (1.0, 1.0, 0.0)})
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["step 1"]


def test_axis_limits_contain_every_point():
    points, labels = _points()
    fig = plot_decision_boundaries(points, labels, {"far": (1.0, 1.0, 100.0)}, xlabel="a", ylabel="b")
    ax = fig.axes[0]
    (x_low, x_high), (y_low, y_high) = ax.get_xlim(), ax.get_ylim()
    assert x_low < points[:, 0].min() and points[:, 0].max() < x_high
    assert y_low < points[:, 1].min() and points[:, 1].max() < y_high
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("a", "b")


@pytest.mark.parametrize(
    "points, labels, boundaries",
    [
        (torch.zeros(4, 3), torch.zeros(4, dtype=torch.int64), {}),
        (torch.zeros(4, 2), torch.zeros(5, dtype=torch.int64), {}),
        (torch.zeros(4, 2), torch.tensor([0, 1, 2, 1]), {}),
        (torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64), {"short": (1.0, 2.0)}),
    ],
)
def test_decision_boundaries_reject_invalid_input(points, labels, boundaries):
    with pytest.raises(ValueError):
        plot_decision_boundaries(points, labels, boundaries)
