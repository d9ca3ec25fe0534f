"""The checks that the hidden tests call: a student's function against its torch reference.

Each ``check_*`` function runs the student's function on generated cases (see :mod:`lossutils.cases`) in float32
and float64, for every ``reduction`` and parameter variant, and compares with torch. It checks a result's sanity
before its closeness (a tensor? the right shape? the right dtype? NaN?), and on the first failure — the smallest
failing input, since cases come smallest first — raises :class:`CheckFailure` with the call, the input, what torch
gives, what came back, and a hint when the difference looks like a known mistake.

Every call of the student's function runs under :class:`lossutils.builtins.TorchCallRecorder`, so a function
that calls the torch built-in it should implement fails every check. Warnings are silenced inside the checks: torch
warns on broadcasting, and nbgrader scores any text on stderr as a failed test.

Examples:
    >>> import torch
    >>> def mse_loss(input, target, reduction="mean"):
    ...     return torch.nn.functional.mse_loss(input, target, reduction=reduction)
    >>> check_values(mse_loss)
    Traceback (most recent call last):
    ...
    lossutils.checking.CheckFailure: mse_loss calls torch's built-in mse_loss. ...
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from lossutils import cases as _cases
from lossutils.builtins import BuiltinCalled, call_recording_torch
from lossutils.hints import diagnose_gradient, diagnose_value
from lossutils.specs import REDUCTIONS, LossSpec, get_spec

__all__ = [
    "TOLERANCES",
    "CheckFailure",
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


class CheckFailure(AssertionError):
    """A student's function disagrees with torch; the message says where and why."""


# --------------------------------------------------------------------------------------------------- helpers


def _format_call(name: str, kwargs: Mapping[str, Any]) -> str:
    extra = "".join(f", {key}={value!r}" for key, value in kwargs.items())
    return f"{name}(input, target{extra})"


def _format_case(case: _cases.Case) -> str:
    with _print_options():
        return f"    input  = {case.input!r}\n    target = {case.target!r}"


@contextlib.contextmanager
def _print_options() -> Iterator[None]:
    saved = torch._tensor_str.PRINT_OPTS.__dict__.copy()
    torch.set_printoptions(precision=6, threshold=30, edgeitems=3, linewidth=100)
    try:
        yield
    finally:
        torch._tensor_str.PRINT_OPTS.__dict__.update(saved)


def _fail(name: str, case: _cases.Case, kwargs: Mapping[str, Any], problem: str, hint: str | None = None) -> None:
    message = f"{_format_call(name, kwargs)} {problem}\non the smallest failing input ({case.label}):\n"
    message += _format_case(case)
    if hint:
        message += f"\nHint: {hint}"
    raise CheckFailure(message)


def _call_student(
    fn: Loss, spec: LossSpec, case: _cases.Case, kwargs: Mapping[str, Any], *, requires_grad: bool = False
) -> tuple[Any, torch.Tensor]:
    """Call the student's function on fresh copies of the case; return ``(result, input)``."""
    input, target = case.tensors(input_requires_grad=requires_grad)
    called: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result, called = call_recording_torch(fn, input, target, forbidden=spec.forbidden, **kwargs)
    except BuiltinCalled as err:
        called = [err.name]
    except NotImplementedError:
        raise CheckFailure(f"{spec.name} is not implemented yet: replace `raise NotImplementedError()`.") from None
    except CheckFailure:
        raise
    except Exception as err:  # noqa: BLE001 - any error of the student's code is reported, not raised
        _fail(spec.name, case, kwargs, f"raised {type(err).__name__}: {err}")
    used = sorted(set(called) & spec.forbidden)
    if used:
        raise CheckFailure(
            f"{spec.name} calls torch's built-in {used[0]}. The exercise is to implement it with elementary tensor "
            "operations (subtraction, abs, pow, where, mean, sum, ...); a function that calls the built-in earns "
            "no credit."
        )
    return result, input


def _call_oracle(oracle: Loss, case: _cases.Case, kwargs: Mapping[str, Any], *, requires_grad: bool = False):
    input, target = case.tensors(input_requires_grad=requires_grad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return oracle(input, target, **kwargs), input


def _resolve(fn: Loss, oracle: Loss | None, name: str | None) -> tuple[LossSpec, Loss]:
    spec = get_spec(name or fn.__name__)
    reference = oracle or spec.oracle
    if reference is None:
        raise TypeError(f"torch has no {spec.name}: pass the reference as oracle=...")
    return spec, reference


def _input_cases(spec: LossSpec, dtype: torch.dtype) -> list[_cases.Case]:
    return _cases.label_cases() if spec.inputs == "labels" else _cases.regression_cases(dtype)


def _dtypes(spec: LossSpec) -> Sequence[torch.dtype]:
    # Label inputs are integers: one pass covers them.
    return (torch.float32,) if spec.inputs == "labels" else _cases.FLOAT_DTYPES


def _variants(spec: LossSpec, reductions: Sequence[str | None]) -> Iterator[dict[str, Any]]:
    """Keyword arguments to try: every reduction (``None`` = rely on the default) with every parameter variant."""
    for params in spec.params:
        for reduction in reductions:
            kwargs = dict(params)
            if reduction is not None:
                kwargs["reduction"] = reduction
            yield kwargs


def _check_sane(
    name: str, case: _cases.Case, kwargs: Mapping[str, Any], got: Any, expected: torch.Tensor, *, dtype: bool
) -> None:
    if not isinstance(got, torch.Tensor):
        _fail(name, case, kwargs, f"returned {type(got).__name__} {got!r}, expected a torch.Tensor",
              "build the result from tensor operations and return the tensor (not .item(), not a float)")
    if got.shape != expected.shape:
        reduction = kwargs.get("reduction", "mean")
        hint = (
            "reduction='none' keeps one loss per element (the broadcast shape of input and target)"
            if reduction == "none"
            else f"reduction={reduction!r} returns a single number: a 0-dimensional tensor"
        )
        _fail(name, case, kwargs, f"returned shape {tuple(got.shape)}, expected {tuple(expected.shape)}", hint)
    if dtype and got.dtype != expected.dtype:
        _fail(name, case, kwargs, f"returned dtype {got.dtype}, expected {expected.dtype}",
              "compute in the input's floating dtype; don't create tensors with a hard-coded dtype"
              if expected.is_floating_point() and case.input.is_floating_point()
              else f"return a tensor of torch's default float dtype ({torch.get_default_dtype()})")


def _check_close(
    name: str, case: _cases.Case, kwargs: Mapping[str, Any], got: torch.Tensor, expected: torch.Tensor,
    *, what: str, hint: str | None,
) -> None:
    """Fail unless ``got`` is within the dtype's tolerance of ``expected`` (NaN equal to NaN, inf to inf)."""
    rtol, atol = TOLERANCES.get(expected.dtype, TOLERANCES[torch.float32])
    if torch.allclose(got.detach().double(), expected.detach().double(), rtol=rtol, atol=atol, equal_nan=True):
        return
    with _print_options():
        problem = f"{what}:\n    expected {expected.detach()!r} (torch)\n    got      {got.detach()!r}"
    _fail(name, case, kwargs, problem, hint)


def _compare_values(
    fn: Loss, spec: LossSpec, oracle: Loss, cases: Sequence[_cases.Case], variants: Sequence[Mapping[str, Any]],
    *, dtype: bool,
) -> None:
    for case in cases:
        for kwargs in variants:
            expected, _ = _call_oracle(oracle, case, kwargs)
            got, _ = _call_student(fn, spec, case, kwargs)
            _check_sane(spec.name, case, kwargs, got, expected, dtype=dtype)
            params = {key: value for key, value in kwargs.items() if key != "reduction"}
            hint = diagnose_value(got, expected, case.numel, kwargs.get("reduction", "mean"), params)
            _check_close(spec.name, case, kwargs, got, expected, what="gives the wrong value", hint=hint)


def _compare_gradients(
    fn: Loss, spec: LossSpec, oracle: Loss, cases: Sequence[_cases.Case], variants: Sequence[Mapping[str, Any]]
) -> None:
    gen = torch.Generator().manual_seed(3)
    for case in cases:
        for kwargs in variants:
            expected, input_ref = _call_oracle(oracle, case, kwargs, requires_grad=True)
            grad_output = torch.randn(expected.shape, generator=gen, dtype=torch.float64).to(expected.dtype)
            (expected_grad,) = torch.autograd.grad(expected, input_ref, grad_output)
            got, input = _call_student(fn, spec, case, kwargs, requires_grad=True)
            _check_sane(spec.name, case, kwargs, got, expected, dtype=False)
            got_grad = None
            if got.requires_grad:
                (got_grad,) = torch.autograd.grad(got, input, grad_output.to(got.dtype), allow_unused=True)
            if got_grad is None:
                _fail(spec.name, case, kwargs, "returns a result with no gradient with respect to input",
                      diagnose_gradient(None, expected_grad))
            _check_close(spec.name, case, kwargs, got_grad, expected_grad,
                         what="has the wrong gradient with respect to input",
                         hint=diagnose_gradient(got_grad, expected_grad))


# ---------------------------------------------------------------------------------------------------- checks


def check_values(fn: Loss, *, oracle: Loss | None = None, name: str | None = None) -> None:
    """Check the values of ``fn`` with its default ``reduction`` ('mean') against torch, in float32 and float64.

    Every parameter variant of the spec is tried (``beta``, ``delta``, ...), each also left at its default.

    Args:
        fn: The student's function; its ``__name__`` selects the spec unless ``name`` is given.
        oracle: The torch reference, for a function torch does not have.
        name: The graded function's name, when ``fn.__name__`` differs.

    Raises:
        CheckFailure: on the smallest input where ``fn`` disagrees with torch.
    """
    spec, reference = _resolve(fn, oracle, name)
    for dtype in _dtypes(spec):
        _compare_values(fn, spec, reference, _input_cases(spec, dtype), list(_variants(spec, [None])), dtype=False)


def check_reductions(fn: Loss, *, oracle: Loss | None = None, name: str | None = None) -> None:
    """Check ``reduction='mean'``, ``'sum'`` and ``'none'`` against torch, in float32 and float64.

    Args:
        fn: The student's function.
        oracle: The torch reference, for a function torch does not have.
        name: The graded function's name, when ``fn.__name__`` differs.

    Raises:
        CheckFailure: on the smallest input where ``fn`` disagrees with torch.
    """
    spec, reference = _resolve(fn, oracle, name)
    for dtype in _dtypes(spec):
        _compare_values(fn, spec, reference, _input_cases(spec, dtype), list(_variants(spec, REDUCTIONS)),
                        dtype=False)


def check_dtype_and_shape(fn: Loss, *, oracle: Loss | None = None, name: str | None = None) -> None:
    """Check the result's dtype and shape for every reduction, including inputs that broadcast.

    Float losses must keep the input's dtype (float32 stays float32, float64 stays float64). A loss on labels
    must return torch's default float dtype, which is checked under both float32 and float64 as the default.

    Args:
        fn: The student's function.
        oracle: The torch reference, for a function torch does not have.
        name: The graded function's name, when ``fn.__name__`` differs.

    Raises:
        CheckFailure: on the smallest input whose result has the wrong dtype or shape (or value).
    """
    spec, reference = _resolve(fn, oracle, name)
    variants = list(_variants(spec, REDUCTIONS))
    if spec.inputs == "labels":
        for default in (torch.float32, torch.float64):
            with _default_dtype(default):
                _compare_values(fn, spec, reference, _cases.label_cases(), variants, dtype=True)
        return
    for dtype in _cases.FLOAT_DTYPES:
        cases = _cases.regression_cases(dtype)[:4] + _cases.broadcast_cases(dtype)
        _compare_values(fn, spec, reference, cases, variants, dtype=True)


def check_gradient(fn: Loss, *, oracle: Loss | None = None, name: str | None = None) -> None:
    """Check the gradient with respect to ``input`` through autograd, for every reduction and parameter variant.

    The result is back-propagated with a random ``grad_output`` (the same for ``fn`` and torch), so a gradient that
    is right only for a scalar 1 is caught too.

    Args:
        fn: The student's function.
        oracle: The torch reference, for a function torch does not have.
        name: The graded function's name, when ``fn.__name__`` differs.

    Raises:
        CheckFailure: on the smallest input where the gradient is missing or disagrees with torch's.
    """
    spec, reference = _resolve(fn, oracle, name)
    if not spec.differentiable:
        raise TypeError(f"{spec.name} is not differentiable with respect to its input")
    for dtype in _cases.FLOAT_DTYPES:
        _compare_gradients(fn, spec, reference, _cases.regression_cases(dtype), list(_variants(spec, REDUCTIONS)))


def check_extremes(fn: Loss, *, oracle: Loss | None = None, name: str | None = None) -> None:
    """Check values (and gradients) on empty, equal, tiny, huge and boundary inputs, where torch's results hold NaN
    (the mean of nothing) or inf (an overflowing square) and the student's must match.

    Args:
        fn: The student's function.
        oracle: The torch reference, for a function torch does not have.
        name: The graded function's name, when ``fn.__name__`` differs.

    Raises:
        CheckFailure: on the smallest input where ``fn`` disagrees with torch.
    """
    spec, reference = _resolve(fn, oracle, name)
    variants = list(_variants(spec, REDUCTIONS))
    if spec.inputs == "labels":
        _compare_values(fn, spec, reference, _cases.extreme_label_cases(), variants, dtype=True)
        return
    for dtype in _cases.FLOAT_DTYPES:
        cases = _cases.empty_cases(dtype) + _cases.extreme_cases(dtype)
        _compare_values(fn, spec, reference, cases, variants, dtype=True)
        if spec.differentiable:
            _compare_gradients(fn, spec, reference, _cases.extreme_cases(dtype), variants)


def check_not_builtin(fn: Loss, *, name: str | None = None) -> None:
    """Check that ``fn`` does not call the torch built-in it is meant to implement (or a sibling loss).

    Args:
        fn: The student's function.
        name: The graded function's name, when ``fn.__name__`` differs.

    Raises:
        CheckFailure: ``fn`` called a forbidden torch function.
    """
    spec = get_spec(name or fn.__name__)
    for case in _input_cases(spec, torch.float32)[:3]:
        _call_student(fn, spec, case, {})


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)
