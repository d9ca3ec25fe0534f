"""The generated inputs (:mod:`lossutils.grading.cases`): they come in the requested dtype, smallest first, the same
every time, and mean what their labels say; a case hands out copies."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from lossutils.grading.cases import (
    FLOAT_DTYPES,
    KINDS,
    PURPOSES,
    broadcast_cases,
    cases_for,
    extreme_cases,
    label_cases,
    regression_cases,
)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_float_arguments_come_in_the_requested_dtype(kind, dtype) -> None:
    for purpose in PURPOSES:
        for case in cases_for(kind, purpose, dtype):
            floats = [arg for arg in case.args if arg.is_floating_point()]
            assert all(arg.dtype == dtype for arg in floats) or kind == "labels"


@pytest.mark.parametrize("dim", [0, -1])
def test_probability_cases_are_distributions_along_their_dim(dim) -> None:
    for case in cases_for("probabilities", "values", torch.float64, dim=dim):
        p = case.input
        assert (p >= 0).all()
        torch.testing.assert_close(p.sum(dim), torch.ones_like(p.sum(dim)), rtol=0, atol=1e-12)


def test_class_targets_are_indices_into_the_scores_and_the_ignored_class_occurs() -> None:
    for purpose in ("values", "extremes"):
        cases = cases_for("classes", purpose, torch.float32, num_classes=4, ignore_index=1)
        for case in cases:
            scores, target = case.args
            assert target.dtype == torch.long and scores.shape[:1] == target.shape
            assert ((target >= 0) & (target < scores.shape[1])).all()
        assert any((case.target == 1).any() for case in cases)


def test_log_probability_scores_normalise_to_one() -> None:
    for case in cases_for("classes", "values", torch.float64, log_probs=True):
        torch.testing.assert_close(case.input.logsumexp(1), torch.zeros(case.input.shape[0], dtype=torch.float64))


def test_extreme_logits_overflow_a_naive_exp_in_their_dtype() -> None:
    for dtype in FLOAT_DTYPES:
        logits = torch.cat([case.input.flatten() for case in cases_for("logits", "extremes", dtype)])
        assert torch.isinf(logits.exp()).any()


def test_an_unknown_kind_or_purpose_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: regression"):
        cases_for("images", "values")
    with pytest.raises(ValueError, match="known: values"):
        cases_for("regression", "speed")


@given(st.sampled_from(sorted(KINDS)), st.sampled_from(PURPOSES))
def test_cases_are_the_same_every_time(kind, purpose) -> None:
    first, second = cases_for(kind, purpose), cases_for(kind, purpose)
    assert [c.label for c in first] == [c.label for c in second]
    assert all(torch.equal(a, b) for c, d in zip(first, second, strict=True) for a, b in zip(c.args, d.args,
                                                                                             strict=True))


@given(st.sampled_from([torch.float32, torch.float64]))
def test_cases_come_smallest_first_in_the_requested_dtype(dtype) -> None:
    for cases in (regression_cases(dtype), extreme_cases(dtype), broadcast_cases(dtype)):
        sizes = [case.numel for case in cases]
        assert sizes == sorted(sizes)
        assert all(case.input.dtype == dtype == case.target.dtype for case in cases)


@given(st.integers(min_value=0, max_value=2**31 - 1))
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
