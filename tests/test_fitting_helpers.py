"""Tests of the helpers of the chapter "Fitting": the noisy quadratic data and the two figures."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lossutils.chapters.data import noisy_quadratic, true_quadratic  # noqa: E402
from lossutils.chapters.plotting import plot_errors_by_complexity, plot_polynomial_fits  # noqa: E402

seeds = st.integers(min_value=0, max_value=2**32 - 1)
sizes = st.integers(min_value=1, max_value=200)
coefficients = st.lists(st.floats(-20, 20, allow_nan=False), min_size=1, max_size=9).map(
    lambda c: torch.tensor(c, dtype=torch.float64)
)


# --- data -------------------------------------------------------------------------------------------------------


@given(values=st.lists(st.floats(-100, 100, allow_nan=False), min_size=0, max_size=20))
def test_true_quadratic_is_3x2_plus_2(values):
    x = torch.tensor(values, dtype=torch.float64)
    expected = np.polynomial.polynomial.polyval(x.numpy(), [2.0, 0.0, 3.0])
    np.testing.assert_allclose(true_quadratic(x).numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_true_quadratic_keeps_shape_and_dtype(dtype):
    x = torch.zeros(2, 3, dtype=dtype)
    assert true_quadratic(x).shape == (2, 3)
    assert true_quadratic(x).dtype == dtype


@given(seed=seeds, n=sizes)
def test_same_seed_gives_same_data(seed, n):
    x0, y0 = noisy_quadratic(n, seed=seed)
    x1, y1 = noisy_quadratic(n, seed=seed)
    assert torch.equal(x0, x1)
    assert torch.equal(y0, y1)


@given(seed=seeds)
def test_different_seeds_give_different_data(seed):
    x0, y0 = noisy_quadratic(20, seed=seed)
    x1, y1 = noisy_quadratic(20, seed=seed + 1)
    assert not torch.equal(x0, x1)
    assert not torch.equal(y0, y1)


@given(
    seed=seeds,
    n=sizes,
    dtype=st.sampled_from([torch.float32, torch.float64]),
    low=st.floats(-10, 9),
    width=st.floats(0.5, 10),
)
def test_shapes_dtypes_order_and_range(seed, n, dtype, low, width):
    x, y = noisy_quadratic(n, x_range=(low, low + width), seed=seed, dtype=dtype)
    assert x.shape == y.shape == (n,)
    assert x.dtype == y.dtype == dtype
    assert torch.all(x[1:] >= x[:-1])
    tolerance = 1e-5 * (abs(low) + width)
    assert torch.all((x >= low - tolerance) & (x <= low + width + tolerance))


def test_default_inputs_are_in_minus_one_to_one():
    x, _ = noisy_quadratic(1000, seed=0)
    assert torch.all((x >= -1.0) & (x <= 1.0))


@given(seed=seeds, n=sizes)
def test_noiseless_samples_lie_on_the_true_function(seed, n):
    x, y = noisy_quadratic(n, noise_std=0.0, seed=seed, dtype=torch.float64)
    torch.testing.assert_close(y, 3 * x**2 + 2)


@pytest.mark.parametrize("noise_std", [0.1, 0.3, 2.0])
def test_noise_has_mean_zero_and_the_requested_spread(noise_std):
    x, y = noisy_quadratic(20_000, noise_std=noise_std, seed=0, dtype=torch.float64)
    noise = y - (3 * x**2 + 2)
    assert abs(noise.mean().item()) < 4 * noise_std / 20_000**0.5
    assert abs(noise.std().item() / noise_std - 1) < 0.03


def test_inputs_are_spread_uniformly():
    x, _ = noisy_quadratic(20_000, x_range=(-1.0, 1.0), seed=0, dtype=torch.float64)
    counts = torch.histc(x, bins=4, min=-1.0, max=1.0)
    torch.testing.assert_close(counts / 20_000, torch.full((4,), 0.25, dtype=torch.float64), atol=0.02, rtol=0)


def test_noise_level_does_not_move_the_inputs():
    x0, _ = noisy_quadratic(30, noise_std=0.0, seed=5)
    x1, _ = noisy_quadratic(30, noise_std=1.0, seed=5)
    assert torch.equal(x0, x1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0},
        {"noise_std": -0.1},
        {"x_range": (1.0, 1.0)},
        {"x_range": (2.0, -2.0)},
        {"dtype": torch.int64},
    ],
)
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        noisy_quadratic(**kwargs)


# --- plot_polynomial_fits -----------------------------------------------------------------------------------------


def _polynomial(w, x):
    """Values of sum_k w[k] x**k, computed with torch (torch.linalg.vander needs at least two columns)."""
    grid = torch.as_tensor(x, dtype=torch.float64)
    return (grid[:, None] ** torch.arange(len(w)) @ w).numpy()


@pytest.fixture
def data():
    return noisy_quadratic(12, seed=0, dtype=torch.float64)


FITS = {
    "line": torch.tensor([2.5, 0.5], dtype=torch.float64),
    "quadratic": torch.tensor([2.0, 0.0, 3.0], dtype=torch.float64),
    "wiggly": torch.tensor([1.0, -2.0, 8.0, 3.0, -9.0], dtype=torch.float64),
}


@pytest.mark.parametrize("with_truth", [False, True])
@pytest.mark.parametrize("with_held_out", [False, True])
def test_plot_polynomial_fits_structure(data, with_truth, with_held_out):
    x, y = data
    held_out = noisy_quadratic(7, seed=1, dtype=torch.float64) if with_held_out else None
    fig = plot_polynomial_fits(
        x, y, FITS, truth=true_quadratic if with_truth else None, held_out=held_out, title="fits"
    )
    assert isinstance(fig, Figure)
    assert len(fig.axes) == len(FITS)
    assert len(fig.legends) == 1
    for ax, label in zip(fig.axes, FITS, strict=True):
        assert ax.get_title() == label
        assert [line.get_label() for line in ax.get_lines()] == [label] + (["true function"] if with_truth else [])
        assert len(ax.collections) == (2 if with_held_out else 1)
        np.testing.assert_allclose(ax.collections[0].get_offsets(), np.column_stack([x.numpy(), y.numpy()]))
        if with_held_out:
            np.testing.assert_allclose(
                ax.collections[1].get_offsets(), np.column_stack([t.numpy() for t in held_out])
            )


def test_plot_polynomial_fits_draws_the_polynomials_and_the_truth(data):
    x, y = data
    fig = plot_polynomial_fits(x, y, FITS, truth=true_quadratic)
    for ax, w in zip(fig.axes, FITS.values(), strict=True):
        fit_line, truth_line = ax.get_lines()
        xs = fit_line.get_xdata()
        np.testing.assert_allclose(fit_line.get_ydata(), _polynomial(w, xs), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(truth_line.get_ydata(), 3 * truth_line.get_xdata() ** 2 + 2, rtol=1e-12)


@given(w=coefficients, seed=seeds)
def test_plot_polynomial_fits_line_values_match_torch(w, seed):
    x, y = noisy_quadratic(8, seed=seed, dtype=torch.float64)
    fig = plot_polynomial_fits(x, y, {"fit": w})
    (line,) = fig.axes[0].get_lines()
    np.testing.assert_allclose(line.get_ydata(), _polynomial(w, line.get_xdata()), rtol=1e-9, atol=1e-9)


def test_plot_polynomial_fits_grid_spans_all_the_inputs(data):
    x, y = data
    held_out = (torch.tensor([-3.0, 4.0], dtype=torch.float64), torch.tensor([1.0, 2.0], dtype=torch.float64))
    fig = plot_polynomial_fits(x, y, {"fit": FITS["quadratic"]}, held_out=held_out)
    xs = fig.axes[0].get_lines()[0].get_xdata()
    assert xs.min() == pytest.approx(-3.0)
    assert xs.max() == pytest.approx(4.0)
    assert np.all(np.diff(xs) > 0)


def test_plot_polynomial_fits_default_limits_enclose_data_and_truth_not_a_wild_fit(data):
    x, y = data
    wild = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e6], dtype=torch.float64)
    fig = plot_polynomial_fits(x, y, {"wild": wild}, truth=true_quadratic)
    low, high = fig.axes[0].get_ylim()
    truth = fig.axes[0].get_lines()[1].get_ydata()
    assert low < min(y.min().item(), truth.min()) and high > max(y.max().item(), truth.max())
    assert high < 1e3


def test_plot_polynomial_fits_axes_share_the_given_limits(data):
    x, y = data
    fig = plot_polynomial_fits(x, y, FITS, ylim=(-1.0, 7.0))
    for ax in fig.axes:
        assert ax.get_ylim() == pytest.approx((-1.0, 7.0))


def test_plot_polynomial_fits_accepts_float32_and_one_fit():
    x, y = noisy_quadratic(10, seed=0)
    fig = plot_polynomial_fits(x, y, {"only": torch.tensor([2.0, 0.0, 3.0])})
    assert len(fig.axes) == 1


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((torch.zeros(3), torch.zeros(3), {}), {}),
        ((torch.zeros(3), torch.zeros(4), {"f": torch.ones(2)}), {}),
        ((torch.zeros(2, 2), torch.zeros(2, 2), {"f": torch.ones(2)}), {}),
        ((torch.zeros(3), torch.zeros(3), {"f": torch.ones(2)}), {"held_out": (torch.zeros(2), torch.zeros(3))}),
        ((torch.zeros(3), torch.zeros(3), {"f": torch.ones(0)}), {}),
    ],
)
def test_plot_polynomial_fits_rejects_bad_input(args, kwargs):
    with pytest.raises(ValueError):
        plot_polynomial_fits(*args, **kwargs)


# --- plot_errors_by_complexity ------------------------------------------------------------------------------------


def test_plot_errors_by_complexity_structure_and_values():
    degrees = list(range(5))
    errors = {"training": [1.0, 0.5, 0.1, 0.08, 0.05], "held-out": torch.tensor([1.2, 0.7, 0.2, 0.4, 3.0])}
    fig = plot_errors_by_complexity(degrees, errors, reference=0.09, reference_label="noise", title="t")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["training", "held-out", "noise"]
    for line, values in zip(lines, errors.values(), strict=False):
        np.testing.assert_allclose(line.get_xdata(), degrees)
        np.testing.assert_allclose(line.get_ydata(), np.asarray(values, dtype=np.float64))
    np.testing.assert_allclose(lines[2].get_ydata(), [0.09, 0.09])
    assert ax.get_yscale() == "log"
    assert ax.get_title() == "t"


def test_plot_errors_by_complexity_without_reference_or_log_scale():
    fig = plot_errors_by_complexity([0, 1, 2], {"mse": [0.0, -1.0, 2.0]}, log_scale=False)
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["mse"]
    assert ax.get_yscale() == "linear"


@pytest.mark.parametrize(
    ("complexity", "errors", "kwargs"),
    [
        ([0, 1], {}, {}),
        ([0, 1, 2], {"mse": [1.0, 2.0]}, {}),
        ([0, 1], {"mse": [1.0, 0.0]}, {}),
        ([0, 1], {"mse": [1.0, 2.0]}, {"reference": 0.0}),
    ],
)
def test_plot_errors_by_complexity_rejects_bad_input(complexity, errors, kwargs):
    with pytest.raises(ValueError):
        plot_errors_by_complexity(complexity, errors, **kwargs)
