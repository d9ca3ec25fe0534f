"""The checks of a training step (:mod:`lossutils.grading.training`): the standard step passes; a step without
``zero_grad``, without ``backward`` or returning the tensor fails with a hint."""

from __future__ import annotations

import pytest

from lossutils import check_train_step_loss, check_train_step_repeated, check_train_step_update
from lossutils.grading.messages import CheckFailure


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
