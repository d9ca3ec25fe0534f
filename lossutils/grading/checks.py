"""The checks that the hidden tests call: a student's function against its torch reference.

Each ``check_*`` function runs the student's function on generated cases (see :mod:`lossutils.grading.cases`) in
float32 and float64, for every ``reduction`` and parameter variant, and compares with torch. It checks a result's
sanity before its closeness (a tensor? the right shape? the right dtype? NaN?), and on the first failure — the
smallest failing input, since cases come smallest first — raises :class:`~lossutils.grading.messages.CheckFailure`
with the call, the input, what torch gives, what came back, and a hint when the difference looks like a known mistake.
A training step has its own checks, in :mod:`lossutils.grading.training`.

Every call of the student's function runs under :class:`lossutils.grading.builtins.TorchCallRecorder`, so a function
that calls the torch built-in it should implement fails every check. Warnings are silenced inside the checks: torch
warns on broadcasting, and nbgrader scores any text on stderr as a failed test.

Examples:
    >>> import torch
    >>> def mse_loss(input, target, reduction="mean"):
    ...     return torch.nn.functional.mse_loss(input, target, reduction=reduction)
    >>> check_values(mse_loss)
    Traceback (most recent call last):
    ...
    lossutils.grading.messages.CheckFailure: mse_loss calls torch's built-in mse_loss. ...
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch

from lossutils.grading import cases as _cases
from lossutils.grading.builtins import DETECTOR_DISABLED, BuiltinCalled, call_recording_torch
from lossutils.grading.hints import diagnose_gradient, diagnose_value
from lossutils.grading.messages import CheckFailure, _fail, _print_options
from lossutils.grading.specs import LossSpec, get_spec

__all__ = [
    "TOLERANCES",
    "check_dtype_and_shape",
    "check_extremes",
    "check_gradient",
    "check_not_builtin",
    "check_reductions",
    "check_values",
]

#: ``(rtol, atol)`` per dtype: loose enough for every correct way of writing a loss, tight enough for any mistake.
TOLERANCES: Mapping[torch.dtype, tuple[float, float]] = {
    torch.float32: (1e-5, 1e-5),
    torch.float64: (1e-7, 1e-10),
}

Loss = Callable[..., Any]


def _invoke(fn: Loss, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """Call a function, or a loss module class the way torch's are used: ``Class(**kwargs)(*args)``."""
    if isinstance(fn, type):
        return fn(**kwargs)(*args)
    return fn(*args, **kwargs)


def _materialize(kwargs: Mapping[str, Any], case: _cases.Case) -> dict[str, Any]:
    """Turn list-valued parameters (a class ``weight``) into tensors of the input's dtype."""
    dtype = case.input.dtype if case.input.is_floating_point() else torch.get_default_dtype()
    return {key: torch.tensor(value, dtype=dtype) if isinstance(value, list) else value
            for key, value in kwargs.items()}


def _prepare(case: _cases.Case, kwargs: Mapping[str, Any], requires_grad: bool) -> tuple[tuple, dict[str, Any]]:
    return case.tensors(input_requires_grad=requires_grad), _materialize(kwargs, case)


def _call_local(fn: Loss, spec: LossSpec, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """Call ``fn`` here under the built-in detector; return its result or the exception it raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result, called = call_recording_torch(_invoke, fn, args, kwargs, forbidden=spec.forbidden)
    except Exception as err:  # noqa: BLE001 - the student's error is the outcome, reported by _outcome
        return err
    used = sorted(set(called) & spec.forbidden)
    return BuiltinCalled(used[0]) if used else result


def _student_outcomes(
    fn: Loss, spec: LossSpec, runs: Sequence[tuple[_cases.Case, Mapping[str, Any]]], *, requires_grad: bool = False,
    grad_outputs: Sequence[torch.Tensor | None] | None = None,
) -> Iterator[tuple[Any, tuple]]:
    """Call the student's function on fresh copies of every run's case; yield ``(outcome, args)`` in order, the
    outcome being the result or the exception raised.

    A function that runs elsewhere (the grader's proxy into the sandbox) takes every call at once through its
    ``__call_many__(calls)``, each call ``(args, kwargs, grad_output)`` made the way :func:`_invoke` makes it; the
    ``grad_output`` lets it compute the gradient with the value. A local function is called one run at a time.
    """
    prepared = [_prepare(case, kwargs, requires_grad) for case, kwargs in runs]
    many = getattr(fn, "__call_many__", None)
    if many is None:
        for args, kwargs in prepared:
            yield _call_local(fn, spec, args, kwargs), args
        return
    grads = list(grad_outputs) if grad_outputs is not None else [None] * len(prepared)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcomes = many([(args, kwargs, g) for (args, kwargs), g in zip(prepared, grads, strict=True)])
    yield from zip(outcomes, (args for args, _ in prepared), strict=True)


def _result(spec: LossSpec, case: _cases.Case, kwargs: Mapping[str, Any], outcome: Any) -> Any:
    """The student's result, or the check's failure when the call raised."""
    if isinstance(outcome, BuiltinCalled) and outcome.name == DETECTOR_DISABLED:
        raise CheckFailure(
            f"{spec.name} switched off the grader's detection of torch's built-ins while it ran (it stopped the "
            "profiler, left the torch-function mode or restored a blocked method); a function that does earns no "
            "credit."
        )
    if isinstance(outcome, BuiltinCalled):
        raise CheckFailure(
            f"{spec.name} calls torch's built-in {outcome.name}. The exercise is to implement it with elementary "
            "tensor operations (arithmetic, exp, log, abs, where, max, mean, sum, ...); a function that calls the "
            "built-in earns no credit."
        )
    if isinstance(outcome, NotImplementedError):
        raise CheckFailure(f"{spec.name} is not implemented yet: replace `raise NotImplementedError()`.")
    if isinstance(outcome, CheckFailure):
        raise outcome
    if isinstance(outcome, Exception):
        _fail(spec, case, kwargs, f"raised {type(outcome).__name__}: {outcome}")
    return outcome


def _call_student(
    fn: Loss, spec: LossSpec, case: _cases.Case, kwargs: Mapping[str, Any], *, requires_grad: bool = False
) -> tuple[Any, torch.Tensor]:
    """Call the student's function on fresh copies of the case; return ``(result, first argument)``."""
    ((outcome, args),) = _student_outcomes(fn, spec, [(case, kwargs)], requires_grad=requires_grad)
    return _result(spec, case, kwargs, outcome), args[0]


def _call_oracle(oracle: Loss, case: _cases.Case, kwargs: Mapping[str, Any], *, requires_grad: bool = False):
    args = case.tensors(input_requires_grad=requires_grad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _invoke(oracle, args, _materialize(kwargs, case)), args[0]


#: The references' results, computed once per worker: every submission is checked on the same cases.
_EXPECTED: dict[tuple, list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]]] = {}


def _expected(
    oracle: Loss, spec: LossSpec, runs: Sequence[tuple[_cases.Case, Mapping[str, Any]]], key: tuple, *,
    gradients: bool,
) -> list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]]:
    """The reference's ``(value, grad_output, gradient)`` for every run (gradients only where asked and compared),
    cached under ``key``. The ``grad_output`` of each gradient comes from one seeded generator, in order."""
    key = (oracle, spec.name, repr(spec.params), repr(spec.options), str(torch.get_default_dtype()), gradients, *key)
    if key not in _EXPECTED:
        gen = torch.Generator().manual_seed(3)
        expected = []
        for case, kwargs in runs:
            if not gradients:
                value, _ = _call_oracle(oracle, case, kwargs)
                expected.append((value.detach() if isinstance(value, torch.Tensor) else value, None, None))
                continue
            value, input_ref = _call_oracle(oracle, case, kwargs, requires_grad=True)
            if not case.gradient:
                expected.append((value.detach(), None, None))
                continue
            grad_output = torch.randn(value.shape, generator=gen, dtype=torch.float64).to(value.dtype)
            (grad,) = torch.autograd.grad(value, input_ref, grad_output)
            expected.append((value.detach(), grad_output, grad))
        _EXPECTED[key] = expected
    return _EXPECTED[key]


def _resolve(
    fn: Loss, oracle: Loss | None, name: str | None, params: Sequence[Mapping[str, Any]] | None = None
) -> tuple[LossSpec, Loss]:
    spec = get_spec(name or fn.__name__)
    if params is not None:
        spec = replace(spec, params=tuple(params))
    return spec, oracle or spec.oracle


def _dtypes(spec: LossSpec) -> Sequence[torch.dtype]:
    # Label inputs are integers: one pass covers them.
    return (torch.float32,) if spec.inputs == "labels" else _cases.FLOAT_DTYPES


def _reductions(spec: LossSpec, reductions: Sequence[str | None]) -> Sequence[str | None]:
    """The ``reduction`` values to try (``None`` = rely on the default); just the default when there is none."""
    return reductions if spec.reductions else [None]


def _runs(
    spec: LossSpec, purpose: str, dtype: torch.dtype, reductions: Sequence[str | None]
) -> Iterator[tuple[_cases.Case, dict[str, Any]]]:
    """Every ``(case, kwargs)`` to try: each parameter variant, on its cases, with each reduction."""
    for params in spec.params:
        options = {**spec.options, **{key: params[key] for key in spec.passes if key in params}}
        for case in _cases.cases_for(spec.inputs, purpose, dtype, **options):
            for reduction in _reductions(spec, reductions):
                kwargs = dict(params)
                if reduction is not None:
                    kwargs["reduction"] = reduction
                yield case, kwargs


def _check_sane(
    spec: LossSpec, case: _cases.Case, kwargs: Mapping[str, Any], got: Any, expected: torch.Tensor, *, dtype: bool
) -> None:
    if not isinstance(got, torch.Tensor):
        _fail(spec, case, kwargs, f"returned {type(got).__name__} {got!r}, expected a torch.Tensor",
              "build the result from tensor operations and return the tensor (not .item(), not a float)")
    if got.shape != expected.shape:
        reduction = kwargs.get("reduction", "mean")
        if not spec.reductions:
            hint = (f"the result should have shape {tuple(expected.shape)} here: check which dimensions you keep, add "
                    "or reduce over")
        elif reduction == "none":
            hint = "reduction='none' keeps one loss per element (the broadcast shape of input and target)"
        else:
            hint = f"reduction={reduction!r} returns a single number: a 0-dimensional tensor"
        _fail(spec, case, kwargs, f"returned shape {tuple(got.shape)}, expected {tuple(expected.shape)}", hint)
    if dtype and got.dtype != expected.dtype:
        _fail(spec, case, kwargs, f"returned dtype {got.dtype}, expected {expected.dtype}",
              "compute in the input's floating dtype; don't create tensors with a hard-coded dtype"
              if expected.is_floating_point() and case.input.is_floating_point()
              else f"return a tensor of torch's default float dtype ({torch.get_default_dtype()})")


def _check_close(
    spec: LossSpec, case: _cases.Case, kwargs: Mapping[str, Any], got: torch.Tensor, expected: torch.Tensor,
    *, what: str, hint: Callable[[], str | None] | None,
) -> None:
    """Fail unless ``got`` is within the dtype's tolerance of ``expected`` (NaN equal to NaN, inf to inf); the hint
    is worked out only then."""
    tolerances = spec.tolerances or TOLERANCES
    rtol, atol = tolerances.get(expected.dtype, tolerances[torch.float32])
    if torch.allclose(got.detach().double(), expected.detach().double(), rtol=rtol, atol=atol, equal_nan=True):
        return
    with _print_options():
        problem = f"{what}:\n    expected {expected.detach()!r} (torch)\n    got      {got.detach()!r}"
    _fail(spec, case, kwargs, problem, hint() if hint else None)


def _compare_values(
    fn: Loss, spec: LossSpec, oracle: Loss, purpose: str, reductions: Sequence[str | None], *, dtype: bool,
    dtypes: Sequence[torch.dtype] | None = None,
) -> None:
    for case_dtype in dtypes or _dtypes(spec):
        runs = list(_runs(spec, purpose, case_dtype, reductions))
        expected = _expected(oracle, spec, runs, (purpose, str(case_dtype), repr(reductions)), gradients=False)
        outcomes = _student_outcomes(fn, spec, runs)
        for (case, kwargs), (value, _, _), (outcome, _) in zip(runs, expected, outcomes, strict=True):
            got = _result(spec, case, kwargs, outcome)
            _check_sane(spec, case, kwargs, got, value, dtype=dtype)
            params = {key: v for key, v in kwargs.items() if key != "reduction"}
            _check_close(spec, case, kwargs, got, value, what="gives the wrong value",
                         hint=lambda got=got, value=value, case=case, kwargs=kwargs, params=params: diagnose_value(
                             got, value, case.numel, kwargs.get("reduction", "mean"), params))


def _tangent(grad: torch.Tensor, kwargs: Mapping[str, Any]) -> torch.Tensor:
    """The component of a gradient along the probability simplex: its mean along ``dim`` removed."""
    return grad - grad.mean(kwargs.get("dim", -1), keepdim=True)


def _compare_gradients(
    fn: Loss, spec: LossSpec, oracle: Loss, purpose: str, reductions: Sequence[str | None]
) -> None:
    for dtype in _cases.FLOAT_DTYPES:
        runs = [(case, kwargs) for case, kwargs in _runs(spec, purpose, dtype, reductions) if case.gradient]
        expected = _expected(oracle, spec, runs, (purpose, str(dtype), repr(reductions)), gradients=True)
        outcomes = _student_outcomes(fn, spec, runs, requires_grad=True, grad_outputs=[g for _, g, _ in expected])
        for (case, kwargs), (value, grad_output, expected_grad), (outcome, args) in zip(
                runs, expected, outcomes, strict=True):
            got = _result(spec, case, kwargs, outcome)
            _check_sane(spec, case, kwargs, got, value, dtype=False)
            got_grad = None
            if got.requires_grad:
                (got_grad,) = torch.autograd.grad(got, args[0], grad_output.to(got.dtype), allow_unused=True)
            if got_grad is None:
                _fail(spec, case, kwargs, "returns a result with no gradient with respect to "
                      f"{spec.args[0]}", diagnose_gradient(None, expected_grad))
            if spec.tangent_gradient:
                got_grad, expected_grad = _tangent(got_grad, kwargs), _tangent(expected_grad, kwargs)
            _check_close(spec, case, kwargs, got_grad, expected_grad,
                         what=f"has the wrong gradient with respect to {spec.args[0]}",
                         hint=lambda g=got_grad, e=expected_grad: diagnose_gradient(g, e))


# ---------------------------------------------------------------------------------------------------- checks


def check_values(
    fn: Loss, *, oracle: Loss | None = None, name: str | None = None,
    params: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Check the values of ``fn`` with its default ``reduction`` against torch, in float32 and float64.

    Every parameter variant of the spec is tried (``beta``, ``delta``, ``dim``, ...), each also left at its default.

    Args:
        fn: The student's function (or loss module class); its ``__name__`` selects the spec unless ``name`` is
            given.
        oracle: A reference to use instead of the registered one.
        name: The graded function's name, when ``fn.__name__`` differs.
        params: Keyword-argument variants to try instead of the spec's (e.g. ``[{"weight": [...]}]``), so that one
            test cell can grade one option of a function.

    Raises:
        CheckFailure: on the smallest input where ``fn`` disagrees with torch.
    """
    spec, reference = _resolve(fn, oracle, name, params)
    _compare_values(fn, spec, reference, "values", [None], dtype=False)


def check_reductions(
    fn: Loss, *, oracle: Loss | None = None, name: str | None = None,
    params: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Check every ``reduction`` the function takes (``'mean'``, ``'sum'``, ``'none'``, ...) against torch, in
    float32 and float64.

    Args:
        fn: The student's function.
        oracle: A reference to use instead of the registered one.
        name: The graded function's name, when ``fn.__name__`` differs.
        params: Keyword-argument variants to try instead of the spec's (e.g. ``[{"weight": [...]}]``), so that one
            test cell can grade one option of a function.

    Raises:
        CheckFailure: on the smallest input where ``fn`` disagrees with torch.
        TypeError: the function has no ``reduction`` argument.
    """
    spec, reference = _resolve(fn, oracle, name, params)
    if not spec.reductions:
        raise TypeError(f"{spec.name} has no reduction argument")
    _compare_values(fn, spec, reference, "values", spec.reductions, dtype=False)


def check_dtype_and_shape(
    fn: Loss, *, oracle: Loss | None = None, name: str | None = None,
    params: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Check the result's dtype and shape for every reduction, including inputs that broadcast.

    Float results must keep the input's dtype (float32 stays float32, float64 stays float64). A loss on labels
    must return torch's default float dtype, which is checked under both float32 and float64 as the default.

    Args:
        fn: The student's function.
        oracle: A reference to use instead of the registered one.
        name: The graded function's name, when ``fn.__name__`` differs.
        params: Keyword-argument variants to try instead of the spec's (e.g. ``[{"weight": [...]}]``), so that one
            test cell can grade one option of a function.

    Raises:
        CheckFailure: on the smallest input whose result has the wrong dtype or shape (or value).
    """
    spec, reference = _resolve(fn, oracle, name, params)
    if spec.inputs == "labels":
        for default in (torch.float32, torch.float64):
            with _default_dtype(default):
                _compare_values(fn, spec, reference, "shapes", spec.reductions, dtype=True)
        return
    _compare_values(fn, spec, reference, "shapes", spec.reductions, dtype=True)


def check_gradient(
    fn: Loss, *, oracle: Loss | None = None, name: str | None = None,
    params: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Check the gradient with respect to the first argument through autograd, for every reduction and parameter
    variant.

    The result is back-propagated with a random ``grad_output`` (the same for ``fn`` and torch), so a gradient that
    is right only for a scalar 1 is caught too.

    Args:
        fn: The student's function.
        oracle: A reference to use instead of the registered one.
        name: The graded function's name, when ``fn.__name__`` differs.
        params: Keyword-argument variants to try instead of the spec's (e.g. ``[{"weight": [...]}]``), so that one
            test cell can grade one option of a function.

    Raises:
        CheckFailure: on the smallest input where the gradient is missing or disagrees with torch's.
        TypeError: the function is not differentiable.
    """
    spec, reference = _resolve(fn, oracle, name, params)
    if not spec.differentiable:
        raise TypeError(f"{spec.name} is not differentiable with respect to its input")
    _compare_gradients(fn, spec, reference, "values", spec.reductions)


def check_extremes(
    fn: Loss, *, oracle: Loss | None = None, name: str | None = None,
    params: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Check values (and gradients) on empty, equal, tiny, huge and boundary inputs, where torch's results hold NaN
    (the mean of nothing) or inf (an overflowing square), or stay finite where a naive formula overflows, and the
    student's must match.

    Args:
        fn: The student's function.
        oracle: A reference to use instead of the registered one.
        name: The graded function's name, when ``fn.__name__`` differs.
        params: Keyword-argument variants to try instead of the spec's (e.g. ``[{"weight": [...]}]``), so that one
            test cell can grade one option of a function.

    Raises:
        CheckFailure: on the smallest input where ``fn`` disagrees with torch.
    """
    spec, reference = _resolve(fn, oracle, name, params)
    _compare_values(fn, spec, reference, "extremes", spec.reductions, dtype=True)
    if spec.differentiable:
        _compare_gradients(fn, spec, reference, "extremes", spec.reductions)


def check_not_builtin(fn: Loss, *, name: str | None = None) -> None:
    """Check that ``fn`` does not call the torch built-in it is meant to implement (or a sibling).

    Args:
        fn: The student's function.
        name: The graded function's name, when ``fn.__name__`` differs.

    Raises:
        CheckFailure: ``fn`` called a forbidden torch function.
    """
    spec = get_spec(name or fn.__name__)
    for case, kwargs in list(_runs(spec, "values", torch.float32, [None]))[:3]:
        _call_student(fn, spec, case, kwargs)


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)
