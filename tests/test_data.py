"""Tests of lossutils.chapters.data: seeded, reproducible toy data of the documented shapes and dtypes."""

import inspect

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import lossutils.chapters.data
from lossutils.chapters.data import binary_labels, noisy_line, regression_with_outlier

seeds = st.integers(min_value=0, max_value=2**32 - 1)
sizes = st.integers(min_value=2, max_value=200)

GENERATORS = [noisy_line, regression_with_outlier, binary_labels]

#: Every seeded generator of lossutils.chapters.data, each called with its first size argument 10.
SEEDED = {
    name: make
    for name in lossutils.chapters.data.__all__
    if callable(make := getattr(lossutils.chapters.data, name)) and "seed" in inspect.signature(make).parameters
}


@given(seed=seeds, n=sizes)
@pytest.mark.parametrize("make", GENERATORS)
def test_same_seed_gives_same_data(make, seed, n):
    first = make(n, seed=seed)
    second = make(n, seed=seed)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)


@given(seed=seeds, n=st.integers(min_value=20, max_value=200))
@pytest.mark.parametrize("make", [noisy_line, regression_with_outlier])
def test_different_seeds_give_different_data(make, seed, n):
    x0, y0 = make(n, seed=seed)
    x1, y1 = make(n, seed=seed + 1)
    assert not torch.equal(x0, x1)
    assert not torch.equal(y0, y1)


def test_different_seeds_give_different_labels():
    draws = {tuple(torch.cat(binary_labels(50, seed=seed)).tolist()) for seed in range(5)}
    assert len(draws) == 5


def test_every_generator_of_the_chapters_is_seeded():
    assert set(SEEDED) >= {"car_features", "noisy_quadratic", "classification_logits", "random_distributions",
                           "gaussian_blobs", "noisy_sine", *(make.__name__ for make in GENERATORS)}


@pytest.mark.parametrize("make", SEEDED.values(), ids=SEEDED.keys())
def test_global_rng_is_neither_used_nor_changed(make):
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = make(10, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)
    second = make(10, seed=7)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)


@given(seed=seeds, n=sizes, dtype=st.sampled_from([torch.float32, torch.float64]))
def test_noisy_line_shapes_dtypes_and_order(seed, n, dtype):
    x, y = noisy_line(n, x_range=(-1.0, 3.0), seed=seed, dtype=dtype)
    assert x.shape == y.shape == (n,)
    assert x.dtype == y.dtype == dtype
    assert torch.all(x[1:] >= x[:-1])
    assert torch.all((x >= -1.0) & (x <= 3.0))


@given(seed=seeds, n=sizes, slope=st.floats(-5, 5), intercept=st.floats(-5, 5))
def test_noiseless_line_lies_on_the_line(seed, n, slope, intercept):
    x, y = noisy_line(n, slope=slope, intercept=intercept, noise_std=0.0, seed=seed, dtype=torch.float64)
    torch.testing.assert_close(y, slope * x + intercept)


@given(seed=seeds, n=sizes, offset=st.floats(-50, 50), data=st.data())
def test_outlier_is_the_only_change(seed, n, offset, data):
    index = data.draw(st.integers(min_value=-n, max_value=n - 1))
    x0, y0 = noisy_line(n, seed=seed, dtype=torch.float64)
    x, y = regression_with_outlier(
        n, outlier_offset=offset, outlier_index=index, seed=seed, dtype=torch.float64
    )
    assert x.shape == y.shape == (n,)
    assert torch.equal(x, x0)
    expected = y0.clone()
    expected[index] += offset
    torch.testing.assert_close(y, expected)


def test_default_outlier_is_at_the_largest_input():
    x, y = regression_with_outlier(20, seed=0)
    x0, y0 = noisy_line(20, seed=0)
    changed = torch.nonzero(y != y0).flatten().tolist()
    assert changed == [19]
    assert x[19] == x.max()
    assert y[19] < y0[19]


@given(seed=seeds, n=st.integers(min_value=1, max_value=200), rate=st.floats(0.0, 1.0))
def test_binary_labels_shapes_dtypes_and_values(seed, n, rate):
    y_hat, y = binary_labels(n, error_rate=rate, seed=seed)
    assert y_hat.shape == y.shape == (n,)
    assert y_hat.dtype == y.dtype == torch.int64
    assert set(y_hat.tolist()) <= {0, 1}
    assert set(y.tolist()) <= {0, 1}


@pytest.mark.parametrize(("rate", "wrong"), [(0.0, 0), (1.0, 100)])
def test_binary_labels_extreme_error_rates(rate, wrong):
    y_hat, y = binary_labels(100, error_rate=rate, seed=3)
    assert int((y_hat != y).sum()) == wrong


def test_binary_labels_error_rate_is_roughly_respected():
    y_hat, y = binary_labels(20_000, error_rate=0.3, seed=0)
    assert abs((y_hat != y).double().mean().item() - 0.3) < 0.02


@pytest.mark.parametrize(
    ("make", "kwargs"),
    [
        (noisy_line, {"n": 0}),
        (noisy_line, {"noise_std": -1.0}),
        (noisy_line, {"x_range": (1.0, 1.0)}),
        (noisy_line, {"dtype": torch.int64}),
        (regression_with_outlier, {"n": 1}),
        (regression_with_outlier, {"n": 5, "outlier_index": 5}),
        (regression_with_outlier, {"n": 5, "outlier_index": -6}),
        (binary_labels, {"n": 0}),
        (binary_labels, {"error_rate": 1.5}),
        (binary_labels, {"error_rate": -0.1}),
    ],
)
def test_invalid_arguments_raise(make, kwargs):
    with pytest.raises(ValueError):
        make(**kwargs)
