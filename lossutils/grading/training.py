"""The checks of a training step: ``train_step(model, optimizer, loss_fn, input, target)`` against plain SGD.

A training step is checked by its effect, not its code: the loss it returns and the parameters it leaves, against
one step of SGD that torch's autograd computes from the parameters the step started from. Failures are
:class:`~lossutils.grading.messages.CheckFailure`, written for the student like those of
:mod:`lossutils.grading.checks`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from lossutils.grading.messages import CheckFailure, _print_options

__all__ = ["check_train_step_loss", "check_train_step_repeated", "check_train_step_update"]


# ------------------------------------------------------------------------------------------- training steps
# A training step is checked by its effect: the returned loss and the parameters after it, against one step of
# plain SGD computed from torch's autograd at the parameters the step started from.


@dataclass(frozen=True)
class _Scenario:
    label: str
    model: Callable[[], torch.nn.Module]
    loss_fn: Callable[[], torch.nn.Module]
    batches: Callable[[torch.Generator], list[tuple[torch.Tensor, torch.Tensor]]]
    lr: float = 0.1


def _scenarios() -> list[_Scenario]:
    def classification(gen: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(torch.randn(4, 3, generator=gen), torch.randint(2, (4,), generator=gen)) for _ in range(3)]

    def regression(gen: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(torch.randn(5, 2, generator=gen), torch.randn(5, 1, generator=gen)) for _ in range(3)]

    def seeded(factory: Callable[[], torch.nn.Module], seed: int) -> Callable[[], torch.nn.Module]:
        def make() -> torch.nn.Module:
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                return factory()

        return make

    return [
        _Scenario("a linear classifier nn.Linear(3, 2) with nn.CrossEntropyLoss and SGD(lr=0.1)",
                  seeded(lambda: torch.nn.Linear(3, 2), 0), torch.nn.CrossEntropyLoss, classification),
        _Scenario("a small network Linear(2, 4) -> Tanh -> Linear(4, 1) with nn.MSELoss and SGD(lr=0.05)",
                  seeded(lambda: torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)),
                         1),
                  torch.nn.MSELoss, regression, lr=0.05),
    ]


def _sgd_reference(
    model: torch.nn.Module, params: dict[str, torch.Tensor], loss_fn: torch.nn.Module, input: torch.Tensor,
    target: torch.Tensor, lr: float,
) -> tuple[float, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The loss at ``params`` and the parameters after one SGD step from them (and the gradients)."""
    leaves = {name: value.detach().clone().requires_grad_(True) for name, value in params.items()}
    loss = loss_fn(torch.func.functional_call(model, leaves, (input,)), target)
    grads = dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values())), strict=True))
    return loss.item(), {name: leaves[name].detach() - lr * grads[name] for name in leaves}, grads


def _train_step_failure(label: str, step: int, problem: str, hint: str | None = None) -> CheckFailure:
    message = f"train_step {problem}\nat step {step} of {label}"
    return CheckFailure(message + (f"\nHint: {hint}" if hint else ""))


def _run_train_steps(fn: Callable[..., Any], *, steps: int, stale_gradients: bool, check_loss: bool) -> None:
    for scenario in _scenarios():
        model, loss_fn = scenario.model(), scenario.loss_fn()
        optimizer = torch.optim.SGD(model.parameters(), lr=scenario.lr)
        if stale_gradients:  # what an earlier backward() leaves behind
            for param in model.parameters():
                param.grad = torch.ones_like(param)
        gen = torch.Generator().manual_seed(5)
        for step, (input, target) in enumerate(scenario.batches(gen)[:steps], start=1):
            before = {name: p.detach().clone() for name, p in model.named_parameters()}
            expected_loss, expected, grads = _sgd_reference(model, before, loss_fn, input, target, scenario.lr)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    got = fn(model, optimizer, loss_fn, input.clone(), target.clone())
            except NotImplementedError:
                raise CheckFailure("train_step is not implemented yet: replace `raise NotImplementedError()`.") \
                    from None
            except Exception as err:  # noqa: BLE001 - any error of the student's code is reported, not raised
                raise _train_step_failure(scenario.label, step, f"raised {type(err).__name__}: {err}") from None
            after = {name: p.detach() for name, p in model.named_parameters()}
            for name, value in after.items():
                if torch.allclose(value, expected[name], rtol=1e-5, atol=1e-6):
                    continue
                if torch.equal(value, before[name]):
                    hint = "the parameters did not change: call loss.backward() and then optimizer.step()"
                elif not torch.allclose(value - before[name], -scenario.lr * grads[name], rtol=1e-4, atol=1e-6):
                    hint = ("the update is not one step along this batch's gradient: did you call "
                            "optimizer.zero_grad() before loss.backward()? Gradients add up across backward calls")
                else:
                    hint = None
                with _print_options():
                    problem = (f"leaves parameter {name!r} different from one SGD step on this batch:\n"
                               f"    expected {expected[name]!r}\n    got      {value!r}")
                raise _train_step_failure(scenario.label, step, problem, hint)
            if not check_loss:
                continue
            if not isinstance(got, float):
                raise _train_step_failure(
                    scenario.label, step, f"returned {type(got).__name__} {got!r}, expected a Python float",
                    "return loss.item(): a float for logging, which keeps no autograd graph alive")
            if not math.isclose(got, expected_loss, rel_tol=1e-5, abs_tol=1e-6):
                after_loss, _, _ = _sgd_reference(model, after, loss_fn, input, target, scenario.lr)
                hint = ("that is the loss after the update: return the loss computed before optimizer.step()"
                        if math.isclose(got, after_loss, rel_tol=1e-5, abs_tol=1e-6) else None)
                raise _train_step_failure(
                    scenario.label, step, f"returned loss {got!r}, expected {expected_loss!r} (the loss of this "
                    "batch before the update)", hint)


def check_train_step_update(fn: Callable[..., Any]) -> None:
    """Check that ``fn(model, optimizer, loss_fn, input, target)`` makes one optimizer step on the batch's loss.

    The parameters after the call must equal one SGD step from those before it, along the gradient of
    ``loss_fn(model(input), target)`` computed by torch's autograd (for a linear classifier and a small network).

    Raises:
        CheckFailure: the parameters after the first step differ, with a hint for a step that did nothing.
    """
    _run_train_steps(fn, steps=1, stale_gradients=False, check_loss=False)


def check_train_step_loss(fn: Callable[..., Any]) -> None:
    """Check that ``fn`` returns the batch's loss before the update, as a Python float.

    Raises:
        CheckFailure: not a float, or not the loss before the step (with a hint when it is the loss after it).
    """
    _run_train_steps(fn, steps=1, stale_gradients=False, check_loss=True)


def check_train_step_repeated(fn: Callable[..., Any]) -> None:
    """Check three consecutive steps, starting from gradients an earlier ``backward()`` left in ``.grad``: each
    step must use only its own batch's gradient (``optimizer.zero_grad()`` before ``backward()``).

    Raises:
        CheckFailure: a step that used accumulated gradients, with a hint.
    """
    _run_train_steps(fn, steps=3, stale_gradients=True, check_loss=True)
