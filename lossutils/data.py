"""Seeded toy data for the chapter "The loss family".

Every generator takes a ``seed`` and draws from its own local :class:`torch.Generator`, so calling these
functions never reads or changes PyTorch's global random state, and the same arguments always give the
same tensors.
"""

from __future__ import annotations

import torch

__all__ = ["binary_labels", "noisy_line", "regression_with_outlier"]


def _generator(seed: int) -> torch.Generator:
    """Return a CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def noisy_line(
    n: int = 50,
    *,
    slope: float = 2.0,
    intercept: float = 1.0,
    noise_std: float = 0.5,
    x_range: tuple[float, float] = (0.0, 5.0),
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy samples of the line ``y = slope * x + intercept``.

    The inputs are drawn uniformly from ``x_range`` and sorted in increasing order; the targets get
    independent Gaussian noise with standard deviation ``noise_std``.

    Args:
        n: Number of samples, at least 1.
        slope: Slope of the true line.
        intercept: Intercept of the true line.
        noise_std: Standard deviation of the Gaussian noise added to ``y``; 0 gives points on the line.
        x_range: ``(low, high)`` interval the inputs are drawn from, with ``low < high``.
        seed: Seed of the local random generator.
        dtype: Floating point dtype of the returned tensors.

    Returns:
        A pair ``(x, y)`` of 1-D tensors of shape ``(n,)`` and dtype ``dtype``; ``x`` is sorted.

    Raises:
        ValueError: If ``n < 1``, ``noise_std < 0``, ``low >= high`` or ``dtype`` is not floating point.
    """
    low, high = x_range
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if noise_std < 0:
        raise ValueError(f"noise_std must be non-negative, got {noise_std}")
    if not low < high:
        raise ValueError(f"x_range must satisfy low < high, got {x_range}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating point dtype, got {dtype}")
    g = _generator(seed)
    x = low + (high - low) * torch.rand(n, generator=g, dtype=dtype)
    x, _ = torch.sort(x)
    y = slope * x + intercept + noise_std * torch.randn(n, generator=g, dtype=dtype)
    return x, y


def regression_with_outlier(
    n: int = 20,
    *,
    slope: float = 2.0,
    intercept: float = 1.0,
    noise_std: float = 0.5,
    outlier_offset: float = -15.0,
    outlier_index: int = -1,
    x_range: tuple[float, float] = (0.0, 5.0),
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy samples of a line in which one target is an outlier.

    The data are those of :func:`noisy_line` with the same arguments, except that the target at
    ``outlier_index`` is moved by ``outlier_offset``. Since ``x`` is sorted, the default index ``-1``
    puts the outlier at the largest input, where it pulls hardest on a fitted slope.

    Args:
        n: Number of samples, at least 2.
        slope: Slope of the true line.
        intercept: Intercept of the true line.
        noise_std: Standard deviation of the Gaussian noise added to ``y``.
        outlier_offset: Amount added to the target of the outlier.
        outlier_index: Position of the outlier in the returned tensors (negative indices count from the end).
        x_range: ``(low, high)`` interval the inputs are drawn from.
        seed: Seed of the local random generator.
        dtype: Floating point dtype of the returned tensors.

    Returns:
        A pair ``(x, y)`` of 1-D tensors of shape ``(n,)`` and dtype ``dtype``; ``x`` is sorted.

    Raises:
        ValueError: If ``n < 2``, ``outlier_index`` is out of range, or an argument of
            :func:`noisy_line` is invalid.
    """
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    if not -n <= outlier_index < n:
        raise ValueError(f"outlier_index {outlier_index} is out of range for n={n}")
    x, y = noisy_line(
        n, slope=slope, intercept=intercept, noise_std=noise_std, x_range=x_range, seed=seed, dtype=dtype
    )
    y[outlier_index] += outlier_offset
    return x, y


def binary_labels(
    n: int = 10,
    *,
    error_rate: float = 0.3,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true labels of a two-class problem, for a 0-1 loss demo.

    The true labels are fair coin flips in ``{0, 1}``; each prediction equals its true label except that
    it is flipped, independently, with probability ``error_rate``.

    Args:
        n: Number of samples, at least 1.
        error_rate: Probability that a prediction is wrong, in ``[0, 1]``.
        seed: Seed of the local random generator.

    Returns:
        A pair ``(y_hat, y)`` of 1-D ``torch.int64`` tensors of shape ``(n,)`` with values in ``{0, 1}``:
        the predictions first, the true labels second.

    Raises:
        ValueError: If ``n < 1`` or ``error_rate`` is outside ``[0, 1]``.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0.0 <= error_rate <= 1.0:
        raise ValueError(f"error_rate must be in [0, 1], got {error_rate}")
    g = _generator(seed)
    y = torch.randint(0, 2, (n,), generator=g, dtype=torch.int64)
    wrong = torch.rand(n, generator=g, dtype=torch.float64) < error_rate
    y_hat = torch.where(wrong, 1 - y, y)
    return y_hat, y
