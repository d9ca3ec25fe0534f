"""The checks (:mod:`lossutils.grading.checks`): correct implementations in every style pass; each common mistake
fails with a message a student can act on; calling the torch built-in never passes; no check writes to stderr; and
the checks adapt to a function (module classes, forbidden Python-level built-ins, gradients on the probability
simplex, one option at a time)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F

from lossutils import (
    check_dtype_and_shape,
    check_extremes,
    check_gradient,
    check_not_builtin,
    check_reductions,
    check_values,
)
from lossutils.grading.cases import broadcast_cases
from lossutils.grading.messages import CheckFailure

ALL_CHECKS = (check_values, check_reductions, check_dtype_and_shape, check_gradient, check_extremes)


def reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()


# Correct implementations written in different styles: the checks must accept every one.
def mse_loss(input, target, reduction="mean"):
    return reduce((input - target) ** 2, reduction)


def mse_loss_by_hand(input, target, reduction="mean"):
    diff = input - target
    squares = diff * diff
    if reduction == "none":
        return squares
    total = torch.sum(squares)
    return total / squares.numel() if reduction == "mean" else total


def huber_loss_clamped(input, target, reduction="mean", delta=1.0):
    error = (input - target).abs()
    quadratic = torch.clamp(error, max=delta)
    return reduce(0.5 * quadratic**2 + delta * (error - quadratic), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    error = (input - target).abs()
    if beta == 0:
        return reduce(error, reduction)
    return reduce(torch.where(error < beta, 0.5 * error**2 / beta, error - 0.5 * beta), reduction)


def zero_one_loss(input, target, reduction="mean"):
    return reduce((input != target).to(torch.get_default_dtype()), reduction)


@pytest.mark.parametrize("check", ALL_CHECKS)
@pytest.mark.parametrize(
    ("fn", "name"),
    [(mse_loss, "mse_loss"), (mse_loss_by_hand, "mse_loss"), (huber_loss_clamped, "huber_loss"),
     (smooth_l1_loss, "smooth_l1_loss")],
)
def test_correct_implementations_pass_every_check(check, fn, name) -> None:
    check(fn, name=name)


@pytest.mark.parametrize("check", [check_values, check_reductions, check_dtype_and_shape, check_extremes])
def test_a_correct_zero_one_loss_passes_against_the_registered_reference(check) -> None:
    check(zero_one_loss)


CHECK_IN_A_FRESH_INTERPRETER = """
import torch
from lossutils import check_dtype_and_shape

def mse_loss(input, target, reduction="mean"):
    loss = (input - target) ** 2
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()

check_dtype_and_shape(mse_loss)
"""


def test_checks_write_nothing_to_stderr_although_torch_warns_on_broadcasting() -> None:
    """nbgrader scores any stderr output of a test cell as a failure; torch warns when shapes broadcast."""
    case = broadcast_cases()[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        F.mse_loss(case.input, case.target)
    assert caught, "torch warns when input and target shapes differ"
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", CHECK_IN_A_FRESH_INTERPRETER], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("check", ALL_CHECKS + (check_not_builtin,))
@pytest.mark.parametrize(
    "cheat",
    [
        lambda input, target, reduction="mean": F.mse_loss(input, target, reduction=reduction),
        lambda input, target, reduction="mean": torch.nn.MSELoss(reduction=reduction)(input, target),
        lambda input, target, reduction="mean": torch._C._nn.mse_loss(input, target, 1),
        lambda input, target, reduction="mean": 2 * F.huber_loss(input, target, reduction=reduction, delta=1e30),
    ],
    ids=["functional", "module", "raw-binding", "sibling-loss"],
)
def test_calling_a_torch_builtin_fails_every_check(check, cheat) -> None:
    with pytest.raises(CheckFailure, match="calls torch's built-in"):
        check(cheat, name="mse_loss")


def test_the_builtin_is_found_even_when_the_student_catches_the_error() -> None:
    def sneaky(input, target, reduction="mean"):
        try:
            return F.mse_loss(input, target, reduction=reduction)
        except Exception:
            return mse_loss(input, target, reduction)

    with pytest.raises(CheckFailure, match="built-in mse_loss"):
        check_values(sneaky, name="mse_loss")


@pytest.mark.parametrize(
    ("wrong", "check", "hint"),
    [
        (lambda i, t, reduction="mean": reduce((i - t) ** 2, "sum" if reduction == "mean" else reduction),
         check_values, "sum instead of averaging"),
        (lambda i, t, reduction="mean": reduce((i - t).abs(), reduction), check_values, "forget the square"),
        (lambda i, t, reduction="mean": reduce(0.5 * (i - t) ** 2, reduction), check_values, "factor 1/2"),
        (lambda i, t, reduction="mean": reduce((i - t) ** 2, reduction).float(), check_dtype_and_shape,
         "input's floating dtype"),
        (lambda i, t, reduction="mean": ((i - t) ** 2).mean() if reduction != "sum" else ((i - t) ** 2).sum(),
         check_reductions, "reduction='none' keeps one loss per element"),
        (lambda i, t, reduction="mean": reduce(torch.tensor((i - t).detach().numpy() ** 2), reduction),
         check_gradient, "left torch"),
        (lambda i, t, reduction="mean": float(((i - t) ** 2).mean()), check_values, "expected a torch.Tensor"),
    ],
    ids=["summed", "no-square", "half", "float32", "none-reduced", "left-torch", "python-float"],
)
def test_a_common_mse_mistake_fails_with_a_hint(wrong, check, hint) -> None:
    with pytest.raises(CheckFailure) as failure:
        check(wrong, name="mse_loss")
    assert hint in str(failure.value)
    assert "mse_loss(input, target" in str(failure.value), "the message names the call"


def test_the_nan_gradient_of_an_unguarded_where_is_caught_at_beta_zero() -> None:
    def smooth_l1_nan(input, target, reduction="mean", beta=1.0):
        error = (input - target).abs()
        return reduce(torch.where(error < beta, 0.5 * error**2 / beta, error - 0.5 * beta), reduction)

    check_values(smooth_l1_nan, name="smooth_l1_loss")  # the values are right...
    with pytest.raises(CheckFailure, match="beta=0.0") as failure:
        check_gradient(smooth_l1_nan, name="smooth_l1_loss")  # ...the gradient is not
    assert "NaN" in str(failure.value)


def test_a_huber_loss_scaled_like_smooth_l1_is_told_about_delta() -> None:
    def huber_as_smooth_l1(input, target, reduction="mean", delta=1.0):
        return smooth_l1_loss(input, target, reduction, beta=delta)

    with pytest.raises(CheckFailure, match="factor of delta"):
        check_values(huber_as_smooth_l1, name="huber_loss")


def test_the_smallest_failing_input_is_reported() -> None:
    def wrong_beyond_four_elements(input, target, reduction="mean"):
        loss = (input - target) ** 2
        return reduce(loss if loss.numel() <= 4 else loss * 1.5, reduction)

    with pytest.raises(CheckFailure, match=r"shape \(5,\)"):
        check_values(wrong_beyond_four_elements, name="mse_loss")


def test_a_zero_one_loss_that_counts_right_answers_is_told_so() -> None:
    def counts_right(input, target, reduction="mean"):
        return reduce((input == target).to(torch.get_default_dtype()), reduction)

    with pytest.raises(CheckFailure, match="right answers instead of the wrong ones"):
        check_values(counts_right, name="zero_one_loss")


def test_a_zero_one_loss_must_follow_the_default_dtype() -> None:
    def float32_only(input, target, reduction="mean"):
        return reduce((input != target).float(), reduction)

    check_values(float32_only, name="zero_one_loss")
    with pytest.raises(CheckFailure, match="default float dtype"):
        check_dtype_and_shape(float32_only, name="zero_one_loss")


def test_an_unimplemented_stub_says_so() -> None:
    def mse_loss(input, target, reduction="mean"):
        raise NotImplementedError()

    with pytest.raises(CheckFailure, match="not implemented yet"):
        check_values(mse_loss)


def test_an_error_in_the_student_code_is_reported_with_the_input() -> None:
    def mse_loss(input, target, reduction="mean"):
        return reduce((input - target) ** 2, reduction) if input.dim() < 2 else input.foo()

    with pytest.raises(CheckFailure, match="raised AttributeError") as failure:
        check_values(mse_loss)
    assert "input  = tensor(" in str(failure.value)


# ----------------------------------------------------------------------------------- adapting the checks


def test_an_entropy_through_torch_distributions_earns_nothing() -> None:
    def entropy(p, dim=-1):
        return torch.distributions.Categorical(probs=p.movedim(dim, -1)).entropy()

    with pytest.raises(CheckFailure, match="Categorical.entropy"):
        check_values(entropy)


def test_entropy_gradients_are_compared_along_the_simplex_only() -> None:
    """-sum p log p and the entropy of p / p.sum() differ in gradient only along (1, ..., 1): both are right."""

    def entropy(p, dim=-1):
        return -torch.xlogy(p, p).sum(dim)

    def entropy_normalising(p, dim=-1):
        q = p / p.sum(dim, keepdim=True)
        return -torch.xlogy(q, q).sum(dim)

    def entropy_with_a_wrong_gradient(p, dim=-1):
        h = -torch.xlogy(p, p).sum(dim)
        return 2 * h - h.detach()  # the right value with twice the gradient

    check_gradient(entropy)
    check_gradient(entropy_normalising, name="entropy")
    with pytest.raises(CheckFailure, match="wrong gradient"):
        check_gradient(entropy_with_a_wrong_gradient, name="entropy")


def test_a_loss_module_class_is_checked_the_way_torch_modules_are_called() -> None:
    class CrossEntropyLoss(torch.nn.Module):
        def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
            super().__init__()
            self.weight, self.ignore_index, self.reduction = weight, ignore_index, reduction
            self.label_smoothing = label_smoothing

        def forward(self, input, target):
            return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                                   reduction=self.reduction, label_smoothing=self.label_smoothing)

    with pytest.raises(CheckFailure, match="built-in cross_entropy"):
        check_values(CrossEntropyLoss)


def test_one_option_can_be_graded_on_its_own() -> None:
    """A test cell can pass ``params=`` to check one option, so that a mistake in it costs only that cell."""

    class CrossEntropyLoss(torch.nn.Module):  # right without options, ignores weight
        def __init__(self, weight=None, reduction="mean"):
            super().__init__()
            self.reduction = reduction

        def forward(self, input, target):
            loss = input.logsumexp(1) - input.gather(1, target[:, None])[:, 0]
            return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[self.reduction]()

    check_reductions(CrossEntropyLoss, params=[{}])
    with pytest.raises(CheckFailure, match="weight="):
        check_reductions(CrossEntropyLoss, params=[{"weight": [0.2, 1.0, 3.0, 0.5]}])


def test_log_softmax_through_logsumexp_is_as_correct_as_the_max_shift() -> None:
    """In float32 the two forms differ in gradient at logits of +-1000 by rounding alone: only values count there."""

    def log_softmax(input, dim=-1):
        return input - torch.logsumexp(input, dim, keepdim=True)

    check_extremes(log_softmax)


def test_a_function_without_reduction_has_no_reductions_check() -> None:
    def softmax(input, dim=-1):
        return input.exp() / input.exp().sum(dim, keepdim=True)

    with pytest.raises(TypeError, match="no reduction"):
        check_reductions(softmax)
