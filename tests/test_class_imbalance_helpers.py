"""Tests of lossutils.chapters.losses.sigmoid_focal_loss, the reference focal loss of the chapter "Class imbalance":
compared with torch's binary cross-entropy, with the paper's formula computed from probabilities, and with
finite differences."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from lossutils.chapters.losses import sigmoid_focal_loss

seeds = st.integers(min_value=0, max_value=2**32 - 1)
REDUCE = {"none": lambda t: t, "mean": torch.mean, "sum": torch.sum}


def _logits_and_targets(seed: int, shape=(5, 7), scale: float = 3.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(shape, generator=g, dtype=dtype)
    targets = torch.randint(0, 2, shape, generator=g).to(dtype)
    return logits, targets


@given(seed=seeds, reduction=st.sampled_from(list(REDUCE)))
def test_without_focusing_or_weighting_it_is_binary_cross_entropy_with_logits(seed, reduction):
    logits, targets = _logits_and_targets(seed)
    torch.testing.assert_close(sigmoid_focal_loss(logits, targets, alpha=-1, gamma=0, reduction=reduction),
                               F.binary_cross_entropy_with_logits(logits, targets, reduction=reduction))


@given(seed=seeds, alpha=st.floats(0.0, 1.0), gamma=st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0]),
       reduction=st.sampled_from(list(REDUCE)))
def test_it_is_the_papers_formula_computed_from_probabilities(seed, alpha, gamma, reduction):
    logits, targets = _logits_and_targets(seed)
    p = torch.sigmoid(logits)
    p_t = torch.where(targets == 1, p, 1 - p)
    alpha_t = torch.where(targets == 1, alpha, 1 - alpha)
    expected = -alpha_t * (1 - p_t) ** gamma * torch.log(p_t)
    torch.testing.assert_close(sigmoid_focal_loss(logits, targets, alpha=alpha, gamma=gamma, reduction=reduction),
                               REDUCE[reduction](expected))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("alpha", [-1.0, 0.25])
def test_its_gradient_passes_gradcheck(gamma, alpha):
    logits, targets = _logits_and_targets(3, shape=(4, 3))
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: sigmoid_focal_loss(x, targets, alpha=alpha, gamma=gamma), (logits,))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_it_stays_finite_with_a_finite_gradient_for_extreme_logits(gamma):
    logits = torch.tensor([-200.0, -30.0, 30.0, 200.0] * 2, requires_grad=True)
    targets = torch.tensor([0.0] * 4 + [1.0] * 4)
    loss = sigmoid_focal_loss(logits, targets, alpha=-1, gamma=gamma)
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    wrong = (targets == 1) != (logits > 0)
    torch.testing.assert_close(loss[wrong], bce[wrong])          # confident mistakes keep the whole loss
    assert torch.all(loss[~wrong] <= bce[~wrong] + 1e-12)   # right ones keep at most their BCE (torch rounds to 0)


def test_the_modulating_factor_shrinks_easy_examples_most():
    logits = torch.tensor([-3.0, 0.0, 3.0], dtype=torch.float64)
    targets = torch.ones(3, dtype=torch.float64)
    ratio = sigmoid_focal_loss(logits, targets, alpha=-1, gamma=2) / F.binary_cross_entropy_with_logits(
        logits, targets, reduction="none")
    torch.testing.assert_close(ratio, (1 - torch.sigmoid(logits)) ** 2)
    assert ratio[0] > ratio[1] > ratio[2]


@pytest.mark.parametrize(
    ("targets", "kwargs"),
    [(torch.zeros(2), {}), (torch.full((3,), 0.5), {}), (torch.zeros(3), {"gamma": -1.0}),
     (torch.zeros(3), {"alpha": 1.5}), (torch.zeros(3), {"reduction": "batchmean"})],
)
def test_it_rejects_bad_arguments(targets, kwargs):
    with pytest.raises(ValueError):
        sigmoid_focal_loss(torch.zeros(3), targets, **kwargs)
