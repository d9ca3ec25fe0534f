"""Seeded toy data for the chapters of the book.

Every generator takes a ``seed`` and draws from its own local :class:`torch.Generator`, so calling these
functions never reads or changes PyTorch's global random state, and the same arguments always give the
same tensors.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["CAR_FEATURE_NAMES", "binary_labels", "car_features", "classification_logits", "gaussian_blobs",
           "heteroscedastic_line", "noisy_line", "noisy_quadratic", "noisy_sine", "random_distributions",
           "regression_with_outlier", "true_quadratic"]


def _generator(seed: int) -> torch.Generator:
    """Return a CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def _noisy_samples(
    f: Callable[[torch.Tensor], torch.Tensor], n: int, noise_std: float | Callable[[torch.Tensor], torch.Tensor],
    x_range: tuple[float, float], seed: int, dtype: torch.dtype, *, draw_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` inputs drawn uniformly from ``x_range`` and sorted, with targets ``f(x)`` plus Gaussian noise whose
    standard deviation is ``noise_std``, a number or a function of ``x``: the shared body of the ``noisy_*``
    generators (drawn in ``draw_dtype``, by default ``dtype``, then cast to ``dtype``)."""
    low, high = x_range
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not callable(noise_std) and noise_std < 0:
        raise ValueError(f"noise_std must be non-negative, got {noise_std}")
    if not low < high:
        raise ValueError(f"x_range must satisfy low < high, got {x_range}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating point dtype, got {dtype}")
    g = _generator(seed)
    draw = draw_dtype or dtype
    x, _ = torch.sort(low + (high - low) * torch.rand(n, generator=g, dtype=draw))
    std = noise_std(x) if callable(noise_std) else noise_std
    y = f(x) + std * torch.randn(n, generator=g, dtype=draw)
    return x.to(dtype), y.to(dtype)


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
    return _noisy_samples(lambda x: slope * x + intercept, n, noise_std, x_range, seed, dtype)


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


def heteroscedastic_line(
    n: int = 200,
    *,
    slope: float = 2.0,
    intercept: float = 1.0,
    noise_std: tuple[float, float] = (0.1, 1.5),
    x_range: tuple[float, float] = (0.0, 5.0),
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Noisy samples of a line whose noise grows along ``x``, for the chapter "Maximum likelihood".

    The inputs are drawn uniformly from ``x_range = (low, high)`` and sorted; each target is
    ``slope * x + intercept`` plus Gaussian noise whose standard deviation grows geometrically from
    ``noise_std[0]`` at ``low`` to ``noise_std[1]`` at ``high``:

    .. math:: \sigma(x) = s_0 \, (s_1 / s_0)^{(x - \text{low}) / (\text{high} - \text{low})},

    so :math:`\log \sigma^2(x)` is linear in ``x``: a model that predicts a mean and a log-variance, both linear
    in ``x``, can describe these data exactly.

    Args:
        n: Number of samples, at least 1.
        slope: Slope of the true line.
        intercept: Intercept of the true line.
        noise_std: ``(s0, s1)``, the standard deviations of the noise at ``low`` and at ``high``, both positive.
        x_range: ``(low, high)`` interval the inputs are drawn from, with ``low < high``.
        seed: Seed of the local random generator.
        dtype: Floating point dtype of the returned tensors.

    Returns:
        A pair ``(x, y)`` of 1-D tensors of shape ``(n,)`` and dtype ``dtype``; ``x`` is sorted.

    Raises:
        ValueError: If ``n < 1``, a standard deviation is not positive, ``low >= high`` or ``dtype`` is not
            floating point.

    Examples:
        >>> x, y = heteroscedastic_line(5, noise_std=(1e-9, 1e-9), seed=0, dtype=torch.float64)
        >>> torch.allclose(y, 2 * x + 1)
        True
    """
    s0, s1 = noise_std
    if not (s0 > 0 and s1 > 0):
        raise ValueError(f"noise_std must be two positive standard deviations, got {noise_std}")
    low, high = x_range
    return _noisy_samples(lambda x: slope * x + intercept, n, lambda x: s0 * (s1 / s0) ** ((x - low) / (high - low)),
                          x_range, seed, dtype, draw_dtype=torch.float64)


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


def true_quadratic(x: torch.Tensor) -> torch.Tensor:
    r"""The true function of the chapter "Fitting": :math:`F(x) = 3x^2 + 2`.

    Args:
        x: Tensor of inputs, of any shape.

    Returns:
        ``3 * x**2 + 2``, of the shape and dtype of ``x``.

    Examples:
        >>> true_quadratic(torch.tensor([-1.0, 0.0, 0.5]))
        tensor([5.0000, 2.0000, 2.7500])
    """
    return 3 * x**2 + 2


def noisy_quadratic(
    n: int = 15,
    *,
    noise_std: float = 0.3,
    x_range: tuple[float, float] = (-1.0, 1.0),
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Noisy samples of the quadratic :math:`y = 3x^2 + 2`, for the chapter "Fitting".

    The inputs are drawn uniformly from ``x_range`` and sorted in increasing order; each target is
    :func:`true_quadratic` of its input plus independent Gaussian noise with standard deviation
    ``noise_std``, so the mean squared error of the true function itself is close to ``noise_std**2``.
    Calls with different seeds give independent samples of the same function: use one seed for a
    training set and another for held-out data.

    Args:
        n: Number of samples, at least 1.
        noise_std: Standard deviation of the Gaussian noise added to ``y``; 0 gives points on the curve.
        x_range: ``(low, high)`` interval the inputs are drawn from, with ``low < high``. The default
            ``(-1, 1)`` keeps the powers of ``x`` small, which keeps polynomial least squares well conditioned.
        seed: Seed of the local random generator.
        dtype: Floating point dtype of the returned tensors.

    Returns:
        A pair ``(x, y)`` of 1-D tensors of shape ``(n,)`` and dtype ``dtype``; ``x`` is sorted.

    Raises:
        ValueError: If ``n < 1``, ``noise_std < 0``, ``low >= high`` or ``dtype`` is not floating point.

    Examples:
        >>> x, y = noisy_quadratic(5, noise_std=0.0, seed=0, dtype=torch.float64)
        >>> torch.equal(y, 3 * x**2 + 2)
        True
    """
    return _noisy_samples(true_quadratic, n, noise_std, x_range, seed, dtype)


#: Column names of :func:`car_features`, in order, with their units: length in metres, price in thousands of
#: euros, engine displacement in litres.
CAR_FEATURE_NAMES: tuple[str, ...] = ("length_m", "price_keur", "engine_l")

# (mean, std) of each raw feature, per kind of car, in the order of CAR_FEATURE_NAMES.
_CAR_PROFILES: dict[str, tuple[tuple[float, float], ...]] = {
    "ordinary": ((4.5, 0.35), (40.0, 15.0), (1.8, 0.5)),
    "limousine": ((5.3, 0.25), (220.0, 70.0), (5.8, 1.0)),
    "rolls_royce": ((5.5, 0.2), (350.0, 70.0), (6.6, 0.3)),
}
# Smallest raw value of each feature: draws below it are clipped up to it.
_CAR_MINIMUM: tuple[float, ...] = (3.0, 5.0, 0.6)


def car_features(
    n: int = 200,
    *,
    rolls_royce_fraction: float = 0.3,
    limousine_fraction: float = 0.15,
    standardize: bool = True,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Made-up features of cars, labelled 1 for a Rolls-Royce and 0 for any other car.

    For the chapter "The Rolls-Royce example". The columns are named in :data:`CAR_FEATURE_NAMES`: length
    (m), price (thousand euros) and engine displacement (L). Each kind of car draws its features independently
    from a normal distribution (mean, standard deviation):

    ============  ===========  ===========  ===========
    kind          length_m     price_keur   engine_l
    ============  ===========  ===========  ===========
    ordinary      4.5, 0.35    40, 15       1.8, 0.5
    limousine     5.3, 0.25    220, 70      5.8, 1.0
    Rolls-Royce   5.5, 0.2     350, 70      6.6, 0.3
    ============  ===========  ===========  ===========

    Values below 3.0 m, 5 thousand euros or 0.6 L are clipped up to those minima. Ordinary cars and other
    luxury limousines are both labelled 0; the limousines overlap with the Rolls-Royces, so no classifier can
    be perfect. The rows are shuffled.

    Args:
        n: Number of cars, at least 2.
        rolls_royce_fraction: Share of Rolls-Royces, in ``[0, 1]``; there are ``round(n * rolls_royce_fraction)``.
        limousine_fraction: Share of other luxury limousines among the cars that are not Rolls-Royces, in
            ``[0, 1]``; the rest are ordinary cars.
        standardize: If true, each column is standardised to mean 0 and standard deviation 1 (the unbiased
            sample standard deviation of the ``n`` cars); if false, the raw values in their units are returned.
        seed: Seed of the local random generator.
        dtype: Floating point dtype of the features.

    Returns:
        A pair ``(features, labels)``: ``features`` of shape ``(n, 3)`` and dtype ``dtype``, its columns in
        the order of :data:`CAR_FEATURE_NAMES`; ``labels`` a ``torch.int64`` tensor of shape ``(n,)``, 1 for
        a Rolls-Royce and 0 for any other car.

    Raises:
        ValueError: If ``n < 2``, a fraction is outside ``[0, 1]``, ``dtype`` is not floating point, or
            ``standardize`` is true and a column is constant.

    Examples:
        >>> features, labels = car_features(5, seed=0)
        >>> features.shape, labels.shape
        (torch.Size([5, 3]), torch.Size([5]))
        >>> sorted(set(labels.tolist())) <= [0, 1]
        True
    """
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    for name, fraction in (("rolls_royce_fraction", rolls_royce_fraction), ("limousine_fraction", limousine_fraction)):
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {fraction}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating point dtype, got {dtype}")
    n_rolls_royce = round(n * rolls_royce_fraction)
    n_limousine = round((n - n_rolls_royce) * limousine_fraction)
    counts = {"ordinary": n - n_rolls_royce - n_limousine, "limousine": n_limousine, "rolls_royce": n_rolls_royce}
    g = _generator(seed)
    features, labels = [], []
    for kind, count in counts.items():
        profile = torch.tensor(_CAR_PROFILES[kind], dtype=torch.float64)
        noise = torch.randn(count, len(CAR_FEATURE_NAMES), generator=g, dtype=torch.float64)
        features.append(profile[:, 0] + profile[:, 1] * noise)
        labels.append(torch.full((count,), int(kind == "rolls_royce"), dtype=torch.int64))
    x = torch.maximum(torch.cat(features), torch.tensor(_CAR_MINIMUM, dtype=torch.float64))
    y = torch.cat(labels)
    order = torch.randperm(n, generator=g)
    x, y = x[order], y[order]
    if standardize:
        std = x.std(dim=0)
        if torch.any(std == 0):
            raise ValueError("a feature column is constant and cannot be standardised; use more cars")
        x = (x - x.mean(dim=0)) / std
    return x.to(dtype), y


def classification_logits(
    n: int = 4,
    num_classes: int = 3,
    *,
    scale: float = 1.5,
    margin: float = 1.0,
    decimals: int | None = 1,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (logits) of a small classifier and the true class of each sample, for a cross-entropy demo.

    The true classes are drawn uniformly from ``{0, ..., num_classes - 1}``. Each logit is Gaussian with standard
    deviation ``scale``, and the logit of the true class gets ``margin`` added, so that a positive margin makes
    the "model" right more often than chance, as a partly trained classifier would be. Introduced in the chapter
    "From entropy to softmax loss".

    Args:
        n: Number of samples (the batch size), at least 1.
        num_classes: Number of classes, at least 2.
        scale: Standard deviation of the logits, non-negative.
        margin: Amount added to the logit of each sample's true class.
        decimals: Round the logits to this many decimals, so that a worked example stays readable; ``None``
            keeps full precision.
        seed: Seed of the local random generator.
        dtype: Floating point dtype of the logits.

    Shape:
        - logits: ``(n, num_classes)``, one row of class scores per sample.
        - target: ``(n,)``, the class index of each sample, as ``F.cross_entropy`` expects.

    Returns:
        A pair ``(logits, target)``: a float tensor of dtype ``dtype`` and a ``torch.int64`` tensor with values in
        ``{0, ..., num_classes - 1}``.

    Raises:
        ValueError: If ``n < 1``, ``num_classes < 2``, ``scale < 0``, ``decimals < 0`` or ``dtype`` is not floating
            point.

    Examples:
        >>> logits, target = classification_logits(n=4, num_classes=3, seed=0)
        >>> logits.shape, target.shape
        (torch.Size([4, 3]), torch.Size([4]))
        >>> bool(((0 <= target) & (target < 3)).all())
        True
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if scale < 0:
        raise ValueError(f"scale must be non-negative, got {scale}")
    if decimals is not None and decimals < 0:
        raise ValueError(f"decimals must be non-negative or None, got {decimals}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating point dtype, got {dtype}")
    g = _generator(seed)
    target = torch.randint(0, num_classes, (n,), generator=g, dtype=torch.int64)
    logits = scale * torch.randn(n, num_classes, generator=g, dtype=torch.float64)
    logits[torch.arange(n), target] += margin
    if decimals is not None:
        logits = torch.round(logits, decimals=decimals)
    return logits.to(dtype), target


def random_distributions(
    n: int = 1,
    num_classes: int = 3,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Probability distributions over ``num_classes`` outcomes, drawn uniformly from the probability simplex.

    Each row is a vector of independent standard exponential draws divided by its sum, which is the flat
    Dirichlet distribution: every distribution over ``num_classes`` outcomes is equally likely. All entries are
    positive. Introduced in the chapter "From entropy to softmax loss".

    Args:
        n: Number of distributions, at least 1.
        num_classes: Number of outcomes of each distribution, at least 2.
        seed: Seed of the local random generator.
        dtype: Floating point dtype of the result.

    Shape:
        - Output: ``(n, num_classes)``, one distribution per row.

    Returns:
        A tensor of dtype ``dtype`` with positive entries whose rows sum to 1.

    Raises:
        ValueError: If ``n < 1``, ``num_classes < 2`` or ``dtype`` is not floating point.

    Examples:
        >>> p = random_distributions(5, 4, seed=0)
        >>> p.shape
        torch.Size([5, 4])
        >>> torch.allclose(p.sum(dim=1), torch.ones(5))
        True
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating point dtype, got {dtype}")
    g = _generator(seed)
    uniform = torch.rand(n, num_classes, generator=g, dtype=torch.float64)
    # -log(1 - u) is a standard exponential draw; 1 - u lies in (0, 1], so the draw is finite and non-negative.
    draws = -torch.log1p(-uniform)
    # A draw is 0 only when u == 0; flooring it at the smallest non-zero draw (about 2**-53) keeps entries positive.
    draws = draws.clamp_min(2.0**-53)
    return (draws / draws.sum(dim=1, keepdim=True)).to(dtype)


def gaussian_blobs(
    n_per_class: int = 50,
    *,
    num_classes: int = 3,
    radius: float = 2.0,
    std: float = 1.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Points in the plane drawn around one centre per class, for a classifier to learn.

    The centre of class :math:`k` lies on the circle of radius ``radius`` around the origin, at the angle
    :math:`2\pi k / C` for :math:`C` = ``num_classes``; each point is its class centre plus isotropic Gaussian
    noise with standard deviation ``std`` in each coordinate. With ``std`` comparable to ``radius`` the
    classes overlap, so no classifier is always right. The rows are shuffled. Introduced in the chapter
    "Losses in PyTorch practice" to train a small model with ``nn.CrossEntropyLoss``.

    Args:
        n_per_class: Number of points of each class, at least 1.
        num_classes: Number of classes, at least 2.
        radius: Distance of every class centre from the origin, non-negative.
        std: Standard deviation of the noise in each coordinate, non-negative.
        seed: Seed of the local random generator.
        dtype: Floating point dtype of the points.

    Shape:
        - points: ``(n_per_class * num_classes, 2)``, one point per row.
        - target: ``(n_per_class * num_classes,)``, the class index of each point.

    Returns:
        A pair ``(points, target)``: a float tensor of dtype ``dtype`` and a ``torch.int64`` tensor with values
        in ``{0, ..., num_classes - 1}``, each value occurring ``n_per_class`` times.

    Raises:
        ValueError: If ``n_per_class < 1``, ``num_classes < 2``, ``radius < 0``, ``std < 0`` or ``dtype`` is
            not floating point.

    Examples:
        >>> points, target = gaussian_blobs(4, num_classes=3, seed=0)
        >>> points.shape, target.shape, target.dtype
        (torch.Size([12, 2]), torch.Size([12]), torch.int64)
        >>> torch.bincount(target).tolist()
        [4, 4, 4]
    """
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be at least 1, got {n_per_class}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if radius < 0:
        raise ValueError(f"radius must be non-negative, got {radius}")
    if std < 0:
        raise ValueError(f"std must be non-negative, got {std}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating point dtype, got {dtype}")
    g = _generator(seed)
    angles = 2 * torch.pi * torch.arange(num_classes, dtype=torch.float64) / num_classes
    centres = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    target = torch.arange(num_classes).repeat_interleave(n_per_class)
    points = centres[target] + std * torch.randn(len(target), 2, generator=g, dtype=torch.float64)
    order = torch.randperm(len(target), generator=g)
    return points[order].to(dtype), target[order]


def noisy_sine(
    n: int = 20,
    *,
    noise_std: float = 0.3,
    x_range: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Noisy samples of one period of a sine wave, :math:`y = \sin(2\pi x) + \varepsilon`.

    The inputs are drawn uniformly from ``x_range`` and sorted in increasing order; each target is
    :math:`\sin(2\pi x)` plus independent Gaussian noise :math:`\varepsilon` with standard deviation
    ``noise_std``, so no model can have an expected squared error on new samples below ``noise_std**2``.
    Calls with different seeds give independent samples of the same curve: use one seed for a training set
    and another for held-out data. Introduced in the chapter "Losses in PyTorch practice" for the
    overfitting experiment.

    Args:
        n: Number of samples, at least 1.
        noise_std: Standard deviation of the Gaussian noise added to ``y``; 0 gives points on the curve.
        x_range: ``(low, high)`` interval the inputs are drawn from, with ``low < high``.
        seed: Seed of the local random generator.
        dtype: Floating point dtype of the returned tensors.

    Returns:
        A pair ``(x, y)`` of 1-D tensors of shape ``(n,)`` and dtype ``dtype``; ``x`` is sorted.

    Raises:
        ValueError: If ``n < 1``, ``noise_std < 0``, ``low >= high`` or ``dtype`` is not floating point.

    Examples:
        >>> x, y = noisy_sine(5, noise_std=0.0, seed=0, dtype=torch.float64)
        >>> torch.allclose(y, torch.sin(2 * torch.pi * x))
        True
    """
    return _noisy_samples(lambda x: torch.sin(2 * torch.pi * x), n, noise_std, x_range, seed, dtype,
                          draw_dtype=torch.float64)
