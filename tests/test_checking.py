"""The checking machinery: correct implementations in every style pass; each common mistake fails with a message a
student can act on; calling the torch built-in never passes; no check writes to stderr."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lossutils import (
    check_dtype_and_shape,
    check_extremes,
    check_gradient,
    check_not_builtin,
    check_reductions,
    check_values,
    get_spec,
)
from lossutils.builtins import call_recording_torch
from lossutils.cases import broadcast_cases, extreme_cases, label_cases, regression_cases
from lossutils.checking import CheckFailure
from lossutils.hints import diagnose_value

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


def test_an_unknown_function_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="mse_loss"):
        get_spec("mse")


def test_the_recorder_lists_the_torch_calls_in_order() -> None:
    _, called = call_recording_torch(lambda a, b: (a - b).abs().mean(), torch.ones(2), torch.zeros(2))
    assert called == ["sub", "abs", "mean"]


# Properties of the generated cases.
@given(st.sampled_from([torch.float32, torch.float64]))
def test_cases_come_smallest_first_in_the_requested_dtype(dtype) -> None:
    for cases in (regression_cases(dtype), extreme_cases(dtype), broadcast_cases(dtype)):
        sizes = [case.numel for case in cases]
        assert sizes == sorted(sizes)
        assert all(case.input.dtype == dtype == case.target.dtype for case in cases)


@given(st.integers(min_value=0, max_value=2**31 - 1))
@settings(max_examples=25, deadline=None)
def test_cases_are_reproducible_from_their_seed(seed) -> None:
    first, second = regression_cases(seed=seed), regression_cases(seed=seed)
    pairs = zip(first, second, strict=True)
    assert all(torch.equal(a.input, b.input) and torch.equal(a.target, b.target) for a, b in pairs)


def test_a_case_hands_out_copies_so_an_in_place_student_cannot_spoil_it() -> None:
    case = regression_cases()[3]
    before = case.input.clone()
    input, _ = case.tensors()
    input.add_(1.0)
    assert torch.equal(case.input, before)


def test_extreme_cases_hold_what_torch_turns_into_inf_and_nan() -> None:
    results = [F.mse_loss(c.input, c.target, reduction="sum") for c in extreme_cases(torch.float32)]
    assert any(torch.isinf(r) for r in results), "an overflowing square"
    assert all(torch.isfinite(F.l1_loss(c.input, c.target)) for c in extreme_cases(torch.float32))


def test_label_cases_cover_right_wrong_and_non_integer_labels() -> None:
    labels = {case.label for case in label_cases()}
    assert {"every label right", "every label wrong", "float labels", "bool labels"} <= labels


@given(st.floats(min_value=0.1, max_value=100), st.integers(min_value=3, max_value=50))
def test_a_sum_where_a_mean_belongs_is_recognised_for_any_size(value, n) -> None:
    expected = torch.tensor(value, dtype=torch.float64)
    assert "sum instead of averaging" in diagnose_value(expected * n, expected, n, "mean")
