"""The registry and the generated inputs: every graded function's torch reference runs on every case of its kind,
the cases mean what their labels say, and the machinery that adapts the checks to a function (module classes,
forbidden Python-level built-ins, gradients on the probability simplex, training steps) behaves as documented."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lossutils import (
    SPECS,
    check_extremes,
    check_gradient,
    check_reductions,
    check_train_step_loss,
    check_train_step_repeated,
    check_train_step_update,
    check_values,
)
from lossutils.builtins import BuiltinCalled, forbidding_attributes
from lossutils.cases import FLOAT_DTYPES, KINDS, PURPOSES, cases_for
from lossutils.checking import CheckFailure

WITH_ORACLE = sorted(name for name, spec in SPECS.items() if spec.oracle is not None)


@pytest.mark.filterwarnings("ignore:Using a target size:UserWarning", "ignore:reduction. .mean.:UserWarning")
@pytest.mark.parametrize("name", WITH_ORACLE)
def test_the_reference_of_every_function_runs_on_every_case_of_its_kind(name) -> None:
    spec = SPECS[name]
    for dtype in FLOAT_DTYPES:
        for params in spec.params:
            options = {**spec.options, **{key: params[key] for key in spec.passes if key in params}}
            for purpose in PURPOSES:
                cases = cases_for(spec.inputs, purpose, dtype, **options)
                assert cases, f"{spec.inputs}/{purpose} has cases"
                for case in cases:
                    kwargs = {k: torch.tensor(v, dtype=dtype) if isinstance(v, list) else v for k, v in params.items()}
                    oracle = spec.oracle(**kwargs) if isinstance(spec.oracle, type) else None
                    result = oracle(*case.args) if oracle else spec.oracle(*case.args, **kwargs)
                    assert isinstance(result, torch.Tensor)


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
@settings(max_examples=30, deadline=None)
def test_cases_are_the_same_every_time(kind, purpose) -> None:
    first, second = cases_for(kind, purpose), cases_for(kind, purpose)
    assert [c.label for c in first] == [c.label for c in second]
    assert all(torch.equal(a, b) for c, d in zip(first, second, strict=True) for a, b in zip(c.args, d.args,
                                                                                             strict=True))


# ----------------------------------------------------------------------------------- adapting the checks


def test_a_forbidden_python_method_raises_inside_and_is_restored_after() -> None:
    original = torch.distributions.Categorical.entropy
    p = torch.tensor([0.25, 0.75])
    with forbidding_attributes(["torch.distributions.Categorical.entropy"]), pytest.raises(BuiltinCalled):
        torch.distributions.Categorical(probs=p).entropy()
    assert torch.distributions.Categorical.entropy is original
    assert torch.distributions.Categorical(probs=p).entropy() > 0


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


# ------------------------------------------------------------------------------------------ training steps


def train_step(model, optimizer, loss_fn, input, target):
    optimizer.zero_grad()
    loss = loss_fn(model(input), target)
    loss.backward()
    optimizer.step()
    return loss.item()


def train_step_without_zero_grad(model, optimizer, loss_fn, input, target):
    loss = loss_fn(model(input), target)
    loss.backward()
    optimizer.step()
    return loss.item()


def train_step_zeroing_at_the_end(model, optimizer, loss_fn, input, target):
    loss = loss_fn(model(input), target)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def train_step_returning_the_tensor(model, optimizer, loss_fn, input, target):
    optimizer.zero_grad()
    loss = loss_fn(model(input), target)
    loss.backward()
    optimizer.step()
    return loss


def train_step_without_backward(model, optimizer, loss_fn, input, target):
    optimizer.zero_grad()
    loss = loss_fn(model(input), target)
    optimizer.step()
    return loss.item()


@pytest.mark.parametrize("check", [check_train_step_update, check_train_step_loss, check_train_step_repeated])
def test_the_standard_training_step_passes(check) -> None:
    check(train_step)


def test_a_step_without_zero_grad_is_caught_once_gradients_are_stale() -> None:
    check_train_step_update(train_step_without_zero_grad)
    with pytest.raises(CheckFailure, match="zero_grad"):
        check_train_step_repeated(train_step_without_zero_grad)


def test_a_step_that_trusts_grad_to_be_empty_is_caught() -> None:
    """Zeroing after the step is right from the second call on, but not when an earlier backward() left gradients."""
    check_train_step_update(train_step_zeroing_at_the_end)
    with pytest.raises(CheckFailure, match="at step 1 "):
        check_train_step_repeated(train_step_zeroing_at_the_end)


def test_a_step_must_return_a_float() -> None:
    with pytest.raises(CheckFailure, match=r"loss\.item\(\)"):
        check_train_step_loss(train_step_returning_the_tensor)


def test_a_step_without_backward_changes_nothing_and_is_told_so() -> None:
    with pytest.raises(CheckFailure, match="did not change"):
        check_train_step_update(train_step_without_backward)
