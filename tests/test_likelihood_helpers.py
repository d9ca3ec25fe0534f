"""Tests of the helpers of the chapter "Maximum likelihood": the seeded heteroscedastic line of
lossutils.chapters.data and the shaded bands of lossutils.chapters.plotting.plot_predictions."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from lossutils.chapters.data import heteroscedastic_line  # noqa: E402
from lossutils.chapters.plotting import plot_predictions  # noqa: E402

seeds = st.integers(min_value=0, max_value=2**32 - 1)


@given(seed=seeds, n=st.integers(1, 300), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_heteroscedastic_line_shapes_dtypes_order_and_range(seed, n, dtype):
    x, y = heteroscedastic_line(n, x_range=(-2.0, 3.0), seed=seed, dtype=dtype)
    assert x.shape == y.shape == (n,)
    assert x.dtype == y.dtype == dtype
    assert torch.all(x[1:] >= x[:-1]) and torch.all((x >= -2.0) & (x <= 3.0))
    first, second = heteroscedastic_line(n, seed=seed, dtype=dtype), heteroscedastic_line(n, seed=seed, dtype=dtype)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize(("edge", "expected_std"), [(0.0, 0.2), (5.0, 3.0), (2.5, (0.2 * 3.0) ** 0.5)])
def test_heteroscedastic_noise_has_the_geometric_spread_at_each_input(edge, expected_std):
    x, y = heteroscedastic_line(400_000, slope=-1.0, intercept=4.0, noise_std=(0.2, 3.0), seed=3,
                                dtype=torch.float64)
    near = (x - edge).abs() < 0.05
    residual = y[near] - (-1.0 * x[near] + 4.0)
    assert near.sum() > 2000
    assert abs(residual.mean().item()) < 0.1 * expected_std
    torch.testing.assert_close(residual.std(), torch.tensor(expected_std, dtype=torch.float64), rtol=0.05, atol=0)


@pytest.mark.parametrize(
    "kwargs",
    [{"n": 0}, {"noise_std": (0.0, 1.0)}, {"noise_std": (1.0, -1.0)}, {"x_range": (1.0, 1.0)},
     {"dtype": torch.int64}],
)
def test_heteroscedastic_line_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        heteroscedastic_line(**kwargs)


def test_plot_predictions_shades_each_band_between_its_edges_in_the_colour_and_legend_entry_of_its_prediction():
    x, y = heteroscedastic_line(20, seed=0)
    grid = torch.linspace(0, 5, 30)
    mean = 2 * grid + 1
    bands = {"model": (mean - 1, mean + grid), "other": (mean - 2, mean - 1)}
    fig = plot_predictions(x, y, grid, {"model": mean}, bands=bands)
    (ax,) = fig.axes
    points, *shaded = ax.collections
    assert [c.get_label() for c in shaded] == ["_model", "other"]
    for collection, (low, high) in zip(shaded, bands.values(), strict=True):
        vertices = collection.get_paths()[0].vertices
        for edge in (low, high):
            for gx, gy in zip(grid.tolist(), edge.tolist(), strict=True):
                assert np.isclose(vertices, [gx, gy], rtol=1e-6, atol=1e-6).all(axis=1).any()
    (line,) = ax.get_lines()
    assert to_rgba(shaded[0].get_facecolor()[0], alpha=1) == to_rgba(line.get_color())
    assert to_rgba(shaded[1].get_facecolor()[0], alpha=1) != to_rgba(line.get_color())


def test_plot_predictions_rejects_a_band_of_the_wrong_shape():
    grid = torch.zeros(5)
    with pytest.raises(ValueError):
        plot_predictions(torch.zeros(3), torch.zeros(3), grid, {}, bands={"b": (torch.zeros(5), torch.zeros(4))})
