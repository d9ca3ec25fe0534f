"""The built-in detector (:mod:`lossutils.grading.builtins`): every built-in that a spec forbids is caught by every
route, and no correct implementation is.

The routes to a built-in: its public function (``F.mse_loss``, ``torch.softmax``, a Tensor method, ``torch.sparse``),
its module class (``nn.MSELoss``), the raw bindings (``torch._C._nn``, ``torch._C._VariableFunctions``,
``torch._C._linalg``, ``torch._C._special``), every overload of every aten operator it runs as
(``torch.ops.aten.mse_loss``, ``.default``, ``.out``, ...), each of them also inside
``torch._C.DisableTorchFunction()`` and ``torch._C.DisableTorchFunctionSubclass()``; then TorchScript, ``vmap``,
``torch.func.grad`` and ``torch.jit.fork`` for a few. The table of this file is written independently of
:data:`lossutils.grading.builtins.ATEN_OPS`, and the operators each built-in really runs (found by profiling it,
forward and backward) must all be in it or be elementary: a torch release that adds an operator fails here first.
"""

from __future__ import annotations

import contextlib
import importlib
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch._C._autograd import _disable_profiler_legacy, _profiler_enabled

from autograder.course import assignment_names
from autograder.release import solution_bodies
from lossutils.grading import builtins as builtins_module
from lossutils.grading import checks
from lossutils.grading.builtins import (
    ATEN_OPS,
    DETECTOR_DISABLED,
    MODULE_FUNCTIONALS,
    PYTHON_METHODS,
    BuiltinCalled,
    DispatcherRecorder,
    TorchCallRecorder,
    aten_builtins,
    call_recording_torch,
    forbidding_attributes,
)
from lossutils.grading.messages import CheckFailure
from lossutils.grading.specs import SPECS

_GEN = torch.Generator().manual_seed(0)
X = torch.randn(4, 3, generator=_GEN)
Y = torch.randn(4, 3, generator=_GEN)
SIGNS = torch.randn(4, 3, generator=_GEN).sign()
PROBS = torch.rand(4, 3, generator=_GEN) * 0.8 + 0.1  # in (0, 1), for the binary cross-entropy
DIST = torch.randn(4, 3, generator=_GEN).exp()
DIST = DIST / DIST.sum(-1, keepdim=True)  # rows that sum to 1
LOG_P = X - X.logsumexp(-1, keepdim=True)
TARGET = torch.tensor([0, 2, 1, 2])
LOG_P4 = torch.randn(2, 3, 2, 2, generator=_GEN)
LOG_P4 = LOG_P4 - LOG_P4.logsumexp(1, keepdim=True)
TARGET4 = torch.randint(0, 3, (2, 2, 2), generator=_GEN)
GRAD = torch.tensor(1.0)  # the upstream gradient of a mean
TOTAL_WEIGHT = torch.tensor(4.0)
ONES = torch.ones(4, 3)
MASK = torch.zeros(4, 3, dtype=torch.bool)
SPARSE = X.to_sparse()
SPARSE_OUT = torch.sparse.softmax(SPARSE, -1)
SOFT = torch.exp(X - X.logsumexp(-1, keepdim=True))
EYE = torch.eye(3)
QUERY4, EYE4 = X[None, None], EYE[None, None]  # (batch, heads, length, features)
ATTENTION4, LOGSUMEXP4 = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(QUERY4, EYE4, EYE4)
QKV_WEIGHT, QKV_BIAS = torch.randn(9, 3, generator=_GEN), torch.zeros(9)
POINTS = torch.randn(4, generator=_GEN)
DESIGN = torch.randn(5, 3, generator=_GEN, dtype=torch.float64)
RHS = torch.randn(5, 1, generator=_GEN, dtype=torch.float64)
RCOND = torch.tensor(1e-15, dtype=torch.float64)
MEAN, SUM = 1, 2  # torch's reduction enum

CATEGORICAL_ENTROPY = torch.distributions.Categorical.entropy  # an alias taken before the detector runs
BOUND_ENTROPY = torch.distributions.Categorical(probs=DIST).entropy


@dataclass(frozen=True)
class Builtin:
    """One torch built-in: how its public API calls it and the aten operators it runs as.

    Attributes:
        calls: The public calls (forward only), each a thunk.
        modules: The module class names whose ``forward`` calls it.
        aten: aten operator -> the argument tuples to try on each of its overloads.
        differentiable: Whether its calls are also profiled backward.
    """

    calls: tuple[Callable[[], Any], ...]
    modules: tuple[str, ...] = ()
    aten: Mapping[str, tuple[tuple[Any, ...], ...]] = field(default_factory=dict)
    differentiable: bool = True


BUILTINS: Mapping[str, Builtin] = {
    "mse_loss": Builtin(
        (lambda: F.mse_loss(X, Y),), ("MSELoss",),
        {"mse_loss": ((X, Y),), "mse_loss_backward": ((GRAD, X, Y, MEAN),)}),
    "l1_loss": Builtin((lambda: F.l1_loss(X, Y),), ("L1Loss",), {"l1_loss": ((X, Y),)}),
    "smooth_l1_loss": Builtin(
        (lambda: F.smooth_l1_loss(X, Y), lambda: F.smooth_l1_loss(X, Y, beta=0.0)), ("SmoothL1Loss",),
        {"smooth_l1_loss": ((X, Y),), "smooth_l1_loss_backward": ((GRAD, X, Y, MEAN, 1.0),),
         "l1_loss": ((X, Y),)}),
    "huber_loss": Builtin(
        (lambda: F.huber_loss(X, Y),), ("HuberLoss",),
        {"huber_loss": ((X, Y),), "huber_loss_backward": ((GRAD, X, Y, MEAN, 1.0),)}),
    "soft_margin_loss": Builtin(
        (lambda: F.soft_margin_loss(X, SIGNS),), ("SoftMarginLoss",),
        {"soft_margin_loss": ((X, SIGNS),), "soft_margin_loss_backward": ((GRAD, X, SIGNS, MEAN),)}),
    "nll_loss": Builtin(
        (lambda: F.nll_loss(LOG_P, TARGET), lambda: F.nll_loss(LOG_P4, TARGET4)), ("NLLLoss",),
        {"nll_loss_nd": ((LOG_P, TARGET),), "nll_loss": ((LOG_P, TARGET),),
         "nll_loss_forward": ((LOG_P, TARGET, None, MEAN, -100),),
         "nll_loss_backward": ((GRAD, LOG_P, TARGET, None, MEAN, -100, TOTAL_WEIGHT),),
         "nll_loss2d": ((LOG_P4, TARGET4),), "nll_loss2d_forward": ((LOG_P4, TARGET4, None, MEAN, -100),),
         "nll_loss2d_backward": ((GRAD, LOG_P4, TARGET4, None, MEAN, -100, TOTAL_WEIGHT),)}),
    "cross_entropy": Builtin(
        (lambda: F.cross_entropy(X, TARGET), lambda: F.cross_entropy(X, DIST),
         lambda: F.cross_entropy(X, TARGET, label_smoothing=0.1)), ("CrossEntropyLoss",),
        {"cross_entropy_loss": ((X, TARGET),)}),
    "binary_cross_entropy": Builtin(
        (lambda: F.binary_cross_entropy(PROBS, DIST),), ("BCELoss",),
        {"binary_cross_entropy": ((PROBS, DIST),),
         "binary_cross_entropy_backward": ((GRAD, PROBS, DIST, None, MEAN),)}),
    "binary_cross_entropy_with_logits": Builtin(
        (lambda: F.binary_cross_entropy_with_logits(X, DIST),), ("BCEWithLogitsLoss",),
        {"binary_cross_entropy_with_logits": ((X, DIST),)}),
    "kl_div": Builtin(
        (lambda: F.kl_div(LOG_P, DIST, reduction="batchmean"), lambda: F.kl_div(LOG_P, LOG_P, log_target=True,
                                                                                 reduction="sum")),
        ("KLDivLoss",), {"kl_div": ((LOG_P, DIST),)}),
    "multilabel_soft_margin_loss": Builtin(
        (lambda: F.multilabel_soft_margin_loss(X, (Y > 0).float()),), ("MultiLabelSoftMarginLoss",), {}),
    "softmax": Builtin(
        (lambda: F.softmax(X, -1), lambda: torch.softmax(X, -1), lambda: X.softmax(-1),
         lambda: torch.special.softmax(X, -1), lambda: torch.sparse.softmax(SPARSE, -1),
         lambda: F.scaled_dot_product_attention(X[None], EYE[None], EYE[None], scale=1.0),
         lambda: F.scaled_dot_product_attention(QUERY4, EYE4, EYE4, scale=1.0),
         lambda: nn.MultiheadAttention(3, 1, batch_first=True)(X[None], X[None], X[None])[1]), ("Softmax",),
        {"softmax": ((X, -1),), "_softmax": ((X, -1, False),), "special_softmax": ((X, -1),),
         "_softmax_backward_data": ((ONES, SOFT, -1, torch.float32),), "_safe_softmax": ((X, -1),),
         "_masked_softmax": ((X, MASK, -1, None),), "_masked_softmax_backward": ((ONES, SOFT, MASK, -1),),
         "_sparse_softmax": ((SPARSE, -1), (SPARSE, -1, False)),
         "_sparse_softmax_backward_data": ((SPARSE_OUT, SPARSE_OUT, -1, SPARSE),),
         "scaled_dot_product_attention": ((QUERY4, EYE4, EYE4),),
         "_scaled_dot_product_attention_math": ((X[None], EYE[None], EYE[None]),),
         "_scaled_dot_product_flash_attention_for_cpu": ((QUERY4, EYE4, EYE4),),
         "_scaled_dot_product_flash_attention_for_cpu_backward": (
             (torch.ones_like(ATTENTION4), QUERY4, EYE4, EYE4, ATTENTION4, LOGSUMEXP4, 0.0, False),),
         "_native_multi_head_attention": ((X[None], X[None], X[None], 3, 1, QKV_WEIGHT, QKV_BIAS, EYE, ONES[0]),)}),
    "log_softmax": Builtin(
        (lambda: F.log_softmax(X, -1), lambda: torch.log_softmax(X, -1), lambda: X.log_softmax(-1),
         lambda: torch.special.log_softmax(X, -1), lambda: torch.sparse.log_softmax(SPARSE, -1)), ("LogSoftmax",),
        {"log_softmax": ((X, -1),), "_log_softmax": ((X, -1, False),), "special_log_softmax": ((X, -1),),
         "_log_softmax_backward_data": ((ONES, LOG_P, -1, torch.float32),),
         "_sparse_log_softmax": ((SPARSE, -1), (SPARSE, -1, False)),
         "_sparse_log_softmax_backward_data": ((SPARSE_OUT, SPARSE_OUT, -1, SPARSE),)}),
    "softmin": Builtin((lambda: F.softmin(X, -1),), ("Softmin",),
                       {"softmax": ((-X, -1),), "_softmax": ((-X, -1, False),)}),
    "special_entr": Builtin((lambda: torch.special.entr(DIST),), (), {"special_entr": ((DIST,),)}),
    "linalg_vander": Builtin((lambda: torch.linalg.vander(POINTS, N=4),), (), {"linalg_vander": ((POINTS,),)}),
    # torch.vander writes into its result in place: autograd cannot go back through it.
    "vander": Builtin((lambda: torch.vander(POINTS, N=4),), (), {"vander": ((POINTS, 4),)}, differentiable=False),
    "linalg_lstsq": Builtin((lambda: torch.linalg.lstsq(DESIGN, RHS),), (), {"linalg_lstsq": ((DESIGN, RHS),)}),
    # torch.lstsq was removed in torch 1.9 and only raises (see below); its successor is the route left.
    "lstsq": Builtin((), (), {"linalg_lstsq": ((DESIGN, RHS),)}),
    "linalg_pinv": Builtin((lambda: torch.linalg.pinv(DESIGN),), (),
                           {"linalg_pinv": ((DESIGN,), (DESIGN, 1e-15), (DESIGN, RCOND))}),
    "pinverse": Builtin((lambda: torch.pinverse(DESIGN), lambda: DESIGN.pinverse()), (),
                        {"pinverse": ((DESIGN,),), "linalg_pinv": ((DESIGN,),)}),
}

#: Each module class, called the way a loss module is.
MODULE_CALLS: Mapping[str, Callable[[], Any]] = {
    "MSELoss": lambda: nn.MSELoss()(X, Y),
    "L1Loss": lambda: nn.L1Loss()(X, Y),
    "SmoothL1Loss": lambda: nn.SmoothL1Loss()(X, Y),
    "HuberLoss": lambda: nn.HuberLoss()(X, Y),
    "SoftMarginLoss": lambda: nn.SoftMarginLoss()(X, SIGNS),
    "NLLLoss": lambda: nn.NLLLoss()(LOG_P, TARGET),
    "CrossEntropyLoss": lambda: nn.CrossEntropyLoss(label_smoothing=0.1)(X, TARGET),
    "BCELoss": lambda: nn.BCELoss()(PROBS, DIST),
    "BCEWithLogitsLoss": lambda: nn.BCEWithLogitsLoss()(X, DIST),
    "KLDivLoss": lambda: nn.KLDivLoss(reduction="batchmean")(LOG_P, DIST),
    "MultiLabelSoftMarginLoss": lambda: nn.MultiLabelSoftMarginLoss()(X, (Y > 0).float()),
    "Softmax": lambda: nn.Softmax(dim=-1)(X),
    "LogSoftmax": lambda: nn.LogSoftmax(dim=-1)(X),
    "Softmin": lambda: nn.Softmin(dim=-1)(X),
}

#: Forbidden Python methods (dotted names): the method, an alias taken before the call, a bound method.
DOTTED: Mapping[str, tuple[Callable[[], Any], ...]] = {
    "torch.distributions.Categorical.entropy": (
        lambda: torch.distributions.Categorical(probs=DIST).entropy(),
        lambda: CATEGORICAL_ENTROPY(torch.distributions.Categorical(probs=DIST)),
        lambda: BOUND_ENTROPY(),
    ),
    "torch.distributions.OneHotCategorical.entropy": (
        lambda: torch.distributions.OneHotCategorical(probs=DIST).entropy(),
    ),
}

RAW_BINDINGS = {"torch._C._nn": torch._C._nn, "torch._C._VariableFunctions": torch._C._VariableFunctions,
                "torch._C._linalg": torch._C._linalg, "torch._C._special": torch._C._special}

#: The operators a correct implementation may run (and every built-in runs besides its own): never reported.
ELEMENTARY = frozenset(f"aten::{name}" for name in """
    abs add add_ addmm alias all amax __and__ any arange rsub log_sigmoid log_sigmoid_forward log_sigmoid_backward
    as_strided as_strided_ bitwise_and bitwise_not bmm
    broadcast_tensors cat chunk clamp clamp_min clone coalesce contiguous copy_ cumprod cumprod_backward cumsum
    dense_dim detach div div_ empty empty_like empty_strided eq exp exp_ expand expand_as fill fill_ flip full
    ge gt _indices _is_all_true is_coalesced is_nonzero isneginf item le _linalg_check_errors _linalg_svd
    linalg_svd linear _local_scalar_dense log log1p log1p_ log_ log_sigmoid log_sigmoid_backward
    log_sigmoid_forward logit logsumexp lt masked_fill masked_fill_ matmul max maximum mean mH mm mT mul mul_
    narrow ne neg neg_ new_empty new_empty_strided new_ones ones_like pow promote_types real reciprocal reshape
    _reshape_alias resize_ resize_as_ resolve_conj result_type scalar_tensor select set_ sgn sigmoid sign slice
    sparse_dim sparse_resize_and_clear_ split squeeze sub sub_ sum svd t to _to_copy transpose transpose_ tril
    triu uniform_ _unsafe_view unsqueeze _values view view_as where xlogy zero_ zeros zeros_like
""".split())

# ------------------------------------------------------------------------------------------------ the routes


def test_a_forbidden_python_method_raises_inside_and_is_restored_after() -> None:
    original = torch.distributions.Categorical.entropy
    p = torch.tensor([0.25, 0.75])
    with forbidding_attributes(["torch.distributions.Categorical.entropy"]), pytest.raises(BuiltinCalled):
        torch.distributions.Categorical(probs=p).entropy()
    assert torch.distributions.Categorical.entropy is original
    assert torch.distributions.Categorical(probs=p).entropy() > 0


def test_the_recorder_lists_the_torch_calls_in_order() -> None:
    _, called = call_recording_torch(lambda a, b: (a - b).abs().mean(), torch.ones(2), torch.zeros(2))
    assert called == ["sub", "abs", "mean"]


def _outs(overload: Any, result: Any) -> dict[str, torch.Tensor]:
    """Empty out tensors for an ``.out`` overload, of the dtypes of the functional result."""
    names = [argument.name for argument in overload._schema.arguments if argument.is_out]
    results = result if isinstance(result, tuple) else (result,)
    return {name: torch.empty(0, dtype=value.dtype) for name, value in zip(names, results, strict=False)}


def _label(where: str, args: tuple[Any, ...]) -> str:
    kinds = ", ".join(type(arg).__name__ for arg in args)
    return f"{where}({kinds})"


def _attempt(call: Callable[[], Any]) -> tuple[bool, Any]:
    try:
        return True, call()
    except (RuntimeError, TypeError, NotImplementedError):
        return False, None


def _aten_routes(op: str, arguments: tuple[tuple[Any, ...], ...]) -> Iterator[tuple[str, Callable[[], Any]]]:
    """``torch.ops.aten.OP(...)``, each of its overloads (``out=`` ones included) and the raw bindings of the same
    name, with each argument tuple of the table that they take."""
    packet = getattr(torch.ops.aten, op)
    overloads = {name: getattr(packet, name) for name in packet.overloads()}
    for args in arguments:
        candidates = {f"torch.ops.aten.{op}": packet}
        candidates |= {f"torch.ops.aten.{op}.{name}": overload for name, overload in overloads.items()
                       if not any(argument.is_out for argument in overload._schema.arguments)}
        candidates |= {f"{where}.{op}": getattr(binding, op) for where, binding in RAW_BINDINGS.items()
                       if hasattr(binding, op)}
        results = []
        for where, fn in candidates.items():
            ran, result = _attempt(lambda fn=fn, args=args: fn(*args))
            if ran:
                results.append(result)
                yield _label(where, args), lambda fn=fn, args=args: fn(*args)
        for name, overload in overloads.items():
            if results and any(argument.is_out for argument in overload._schema.arguments):
                outs = _outs(overload, results[0])
                call = lambda overload=overload, args=args, outs=outs: overload(*args, **outs)  # noqa: E731
                if _attempt(call)[0]:
                    yield _label(f"torch.ops.aten.{op}.{name}", args), call


def unreached_overloads() -> list[str]:
    """The overloads of the table's operators that no argument tuple of the table reaches."""
    reached = {label.split("(")[0].removeprefix("torch.ops.aten.") for name in BUILTINS
               for label, _ in _plain_routes(name)}
    return sorted(f"{op}.{overload}" for builtin in BUILTINS.values() for op in builtin.aten
                  for overload in getattr(torch.ops.aten, op).overloads() if f"{op}.{overload}" not in reached)


def _plain_routes(name: str) -> list[tuple[str, Callable[[], Any]]]:
    """The routes to the forbidden ``name`` outside TorchScript and torch-function switches."""
    if name in DOTTED:
        return [(f"{name}#{index}", call) for index, call in enumerate(DOTTED[name])]
    if name in MODULE_CALLS:
        return [(f"nn.{name}", MODULE_CALLS[name])]
    builtin = BUILTINS[name]
    routes = [(f"{name}#{index}", call) for index, call in enumerate(builtin.calls)]
    routes += [(f"nn.{module}", MODULE_CALLS[module]) for module in builtin.modules]
    for op, arguments in builtin.aten.items():
        routes += list(_aten_routes(op, arguments))
    return routes


def _switched(call: Callable[[], Any], switch: Callable[[], Any]) -> Callable[[], Any]:
    def route() -> Any:
        with switch():
            return call()

    return route


def routes(name: str) -> list[tuple[str, Callable[[], Any]]]:
    """Every route to the forbidden ``name``: the plain ones, and each inside ``DisableTorchFunction`` and
    ``DisableTorchFunctionSubclass``."""
    plain = _plain_routes(name)
    if not ATEN_OPS.get(MODULE_FUNCTIONALS.get(name, name), True):
        # Written in Python from elementary operators: with torch functions switched off, nothing tells it from the
        # student's own code. Such a route goes through torch._C, which autograder.flags reports for review.
        return plain
    switched = [(f"{label} in {switch.__name__}", _switched(call, switch))
                for switch in (torch._C.DisableTorchFunction, torch._C.DisableTorchFunctionSubclass)
                for label, call in plain]
    return plain + switched


FORBIDDEN = sorted({name for spec in SPECS.values() for name in spec.forbidden})


def specs_forbidding(name: str) -> list[str]:
    return [spec.name for spec in SPECS.values() if name in spec.forbidden]


# ----------------------------------------------------------------------------------------- every route caught


def test_every_forbidden_name_has_routes_in_this_file() -> None:
    unknown = [name for name in FORBIDDEN if name not in BUILTINS and name not in MODULE_CALLS and name not in DOTTED]
    assert not unknown, f"add the routes to {unknown} to tests/test_builtins.py"


def test_every_forbidden_plain_name_is_in_the_aten_map() -> None:
    plain = [name for name in FORBIDDEN if "." not in name]
    missing = [name for name in plain if name not in ATEN_OPS and name not in MODULE_FUNCTIONALS]
    assert not missing, f"lossutils.grading.builtins.ATEN_OPS has no operators for {missing}"


def test_every_forbidden_python_method_is_taken_at_import() -> None:
    assert {name for name in FORBIDDEN if "." in name} <= set(PYTHON_METHODS)


def test_a_forbidden_method_replaced_on_its_class_before_the_call_is_still_caught(monkeypatch) -> None:
    original = torch.distributions.Categorical.entropy
    monkeypatch.setattr(torch.distributions.Categorical, "entropy", lambda self: original(self))

    def entropy(p):
        return original(torch.distributions.Categorical(probs=p))

    with pytest.raises(BuiltinCalled, match="Categorical.entropy"):
        call_recording_torch(entropy, DIST, forbidden=SPECS["entropy"].forbidden)
    assert torch.distributions.Categorical.entropy is not original  # the student's replacement, put back


def test_every_operator_of_the_aten_map_exists() -> None:
    ops = {op for group in ATEN_OPS.values() for op in group}
    missing = sorted(op for op in ops if not hasattr(torch.ops.aten, op.removeprefix("aten::")))
    assert not missing


def test_no_elementary_operator_is_in_the_aten_map() -> None:
    assert not ELEMENTARY & {op for group in ATEN_OPS.values() for op in group}


@pytest.mark.parametrize("name", FORBIDDEN)
def test_every_route_runs_without_the_detector(name) -> None:
    for _, call in routes(name):
        call()


@pytest.mark.parametrize("name", FORBIDDEN)
def test_every_route_to_a_forbidden_builtin_is_caught_for_every_spec_that_forbids_it(name) -> None:
    missed = []
    for spec_name in specs_forbidding(name):
        forbidden = SPECS[spec_name].forbidden
        for label, call in routes(name):
            try:
                call_recording_torch(call, forbidden=forbidden)
            except BuiltinCalled as err:
                if err.name not in forbidden:
                    missed.append(f"{spec_name}: {label} reported as {err.name}")
            else:
                missed.append(f"{spec_name}: {label}")
    assert not missed, "not caught:\n" + "\n".join(missed)


@contextlib.contextmanager
def _requiring_grad() -> Iterator[None]:
    """Make the floating-point inputs of the table require grad for the block."""
    leaves = [X, Y, PROBS, DIST, LOG_P, LOG_P4, SOFT, POINTS, DESIGN, RHS, EYE]
    for leaf in leaves:
        leaf.requires_grad_(True)
    try:
        yield
    finally:
        for leaf in leaves:
            leaf.requires_grad_(False)
            leaf.grad = None


def operators_run(call: Callable[[], Any], *, backward: bool = True) -> set[str]:
    """The aten operators ``call`` runs forward, and backward from its first result when that is differentiable."""
    with _requiring_grad():
        with DispatcherRecorder() as forward:
            result = call()
        first = result[0] if isinstance(result, tuple) else result
        ops = set(forward.ops)
        if backward and first.requires_grad and not first.is_sparse:
            with DispatcherRecorder() as record:
                first.backward(torch.ones_like(first))
            ops |= set(record.ops)
    return ops


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_operator_a_builtin_runs_is_in_the_table_or_elementary(name) -> None:
    """Profile the built-in forward and backward: an operator that is neither listed (so caught) nor elementary
    would be a route this file does not try."""
    listed = {f"aten::{op}" for builtin in BUILTINS.values() for op in builtin.aten}
    unexplained = set()
    for call in BUILTINS[name].calls:
        unexplained |= operators_run(call, backward=BUILTINS[name].differentiable) - listed - ELEMENTARY
    assert not unexplained, f"{name} runs {sorted(unexplained)}: list them in BUILTINS (and ATEN_OPS) or ELEMENTARY"


#: Overloads no call can reach on CPU: a sparse ``out=`` tensor cannot be resized there.
UNREACHABLE = frozenset({"_sparse_softmax.out", "_sparse_log_softmax.out", "_sparse_softmax_backward_data.out",
                         "_sparse_log_softmax_backward_data.out"})


def test_every_overload_of_every_listed_operator_is_tried() -> None:
    assert set(unreached_overloads()) <= UNREACHABLE


def test_torch_lstsq_is_gone_so_it_is_no_route() -> None:
    with pytest.raises(RuntimeError, match="removed"):
        torch.lstsq(RHS, DESIGN)


# ------------------------------------------------------------------------------------- routes around the mode
REGRESSION = SPECS["mse_loss"].forbidden
SOFTMAX = SPECS["softmax"].forbidden


def _mse_loss(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(input, target)


with warnings.catch_warnings():  # TorchScript is deprecated, and still a route
    warnings.simplefilter("ignore", DeprecationWarning)
    _scripted_mse_loss = torch.jit.script(_mse_loss)
    _traced_softmax = torch.jit.trace(lambda input: F.softmax(input, -1), (X,))


def _forked(fn: Callable[..., Any], *args: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.fork(fn, *args)


def _passthrough(self, func, types, args=(), kwargs=None):
    return func(*args, **(kwargs or {}))


def _replacing_the_recorder(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    type.__setattr__(type(torch.overrides._get_current_function_mode()), "__torch_function__", _passthrough)
    return F.mse_loss(input, target)


def _popping_the_recorder(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    mode = torch._C._pop_torch_function_stack()
    try:
        return F.mse_loss(input, target)
    finally:
        torch._C._push_on_torch_function_stack(mode)


def _catching_the_error(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    try:
        return F.mse_loss(input, target)
    except BuiltinCalled:
        return ((input - target) ** 2).mean()


def _failing_after_the_call(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    with torch._C.DisableTorchFunction():
        F.mse_loss(input, target)
    raise ValueError("the student's own bug")


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (lambda x, y: _scripted_mse_loss(x, y), "mse_loss"),
        (lambda x, y: _traced_softmax(x), "softmax"),
        (lambda x, y: torch.vmap(F.mse_loss)(x, y), "mse_loss"),
        (lambda x, y: torch.func.grad(lambda a: F.mse_loss(a, y))(x), "mse_loss"),
        (lambda x, y: torch.jit.wait(_forked(F.mse_loss, x, y)), "mse_loss"),
        (_replacing_the_recorder, "mse_loss"),
        (_popping_the_recorder, "mse_loss"),
        (_catching_the_error, "mse_loss"),
        (_failing_after_the_call, "mse_loss"),
    ],
    ids=["torchscript", "traced", "vmap", "func.grad", "jit.fork", "replaced-recorder", "popped-recorder",
         "caught-error", "error-after-the-call"],
)
def test_a_builtin_is_caught_through_compilers_transforms_and_a_tampered_mode(fn, expected) -> None:
    forbidden = REGRESSION | SOFTMAX
    with pytest.raises(BuiltinCalled) as caught:
        call_recording_torch(fn, X, Y, forbidden=forbidden)
    assert caught.value.name == expected
    assert TorchCallRecorder.__dict__["__torch_function__"] is _RECORDER_TORCH_FUNCTION


_RECORDER_TORCH_FUNCTION = TorchCallRecorder.__dict__["__torch_function__"]


def test_an_allowed_call_made_around_the_mode_is_still_listed() -> None:
    def entropy(p: torch.Tensor) -> torch.Tensor:
        with torch._C.DisableTorchFunction():
            return -(p * torch.log_softmax(p.log(), -1)).sum(-1)

    _, called = call_recording_torch(entropy, DIST, forbidden=SPECS["entropy"].forbidden)
    assert "log_softmax" in called


def test_the_recorder_reports_a_forbidden_module_class_by_its_own_name() -> None:
    with pytest.raises(BuiltinCalled, match="CrossEntropyLoss"):
        call_recording_torch(lambda: torch.ops.aten.cross_entropy_loss(X, TARGET), forbidden={"CrossEntropyLoss"})


# ------------------------------------------------------------------------------------------------ fail closed


@pytest.mark.parametrize(("owner", "name"), [
    (builtins_module, "call_recording_torch"), (builtins_module, "ATEN_OPS"), (builtins_module, "_lookup"),
    (DispatcherRecorder, "__exit__"), (TorchCallRecorder, "__torch_function__"), (BuiltinCalled, "__init__"),
])
def test_the_detector_cannot_be_replaced_by_assignment(owner, name) -> None:
    with pytest.raises(AttributeError, match="cannot be changed"):
        setattr(owner, name, lambda *args, **kwargs: None)
    with pytest.raises(AttributeError, match="cannot be changed"):
        delattr(owner, name)



def _fails_closed(fn: Callable[..., Any], *args: Any, forbidden: frozenset[str] = REGRESSION,
                  undo: Callable[[], Any] = lambda: None) -> None:
    """``fn`` switches a detector off: the call raises DETECTOR_DISABLED, leaves no profiler, mode or switch behind
    (once the student's own ``undo`` ran), and the next call is recorded again."""
    with pytest.raises(BuiltinCalled) as caught:
        call_recording_torch(fn, *args, forbidden=forbidden)
    undo()
    assert caught.value.name == DETECTOR_DISABLED
    assert not _profiler_enabled()
    assert torch._C._len_torch_function_stack() == 0
    assert torch._C._get_torch_function_state() == torch._C._TorchFunctionState.ENABLED
    assert call_recording_torch(lambda a: a.abs().mean(), X, forbidden=forbidden)[1] == ["abs", "mean"]


def test_stopping_the_profiler_during_the_call_fails_closed() -> None:
    def mse_loss(input, target):
        _disable_profiler_legacy(None)
        return ((input - target) ** 2).mean()

    _fails_closed(mse_loss, X, Y)


def test_restarting_the_profiler_during_the_call_fails_closed() -> None:
    def mse_loss(input, target):
        from lossutils.grading import builtins

        _disable_profiler_legacy(None)
        torch._C._autograd._enable_profiler_legacy(builtins._PROFILER_CONFIG)
        return ((input - target) ** 2).mean()

    _fails_closed(mse_loss, X, Y)


def test_swapping_in_another_profiler_during_the_call_fails_closed() -> None:
    """The Kineto profiler is stopped as one: stopping it as a legacy profiler reads its state as the wrong type
    (a deadlock or a crash, now and then)."""

    def mse_loss(input, target):
        _disable_profiler_legacy(None)
        torch.autograd.profiler.profile().__enter__()
        return ((input - target) ** 2).mean()

    _fails_closed(mse_loss, X, Y)


def test_turning_off_the_dispatchers_recording_fails_closed() -> None:
    def mse_loss(input, target):
        torch.autograd._enable_record_function(False)
        return ((input - target) ** 2).mean()

    _fails_closed(mse_loss, X, Y, undo=lambda: torch.autograd._enable_record_function(True))


def test_a_profiler_already_running_fails_closed() -> None:
    with torch.autograd.profiler.profile():
        with pytest.raises(BuiltinCalled, match=DETECTOR_DISABLED):
            call_recording_torch(lambda a: a.abs().mean(), X, forbidden=REGRESSION)
        assert _profiler_enabled()


def test_popping_the_mode_fails_closed() -> None:
    def mse_loss(input, target):
        torch._C._pop_torch_function_stack()
        return ((input - target) ** 2).mean()

    _fails_closed(mse_loss, X, Y)


def test_replacing_the_modes_hook_fails_closed_and_is_undone() -> None:
    def mse_loss(input, target):
        type.__setattr__(type(torch.overrides._get_current_function_mode()), "__torch_function__", _passthrough)
        return ((input - target) ** 2).mean()

    _fails_closed(mse_loss, X, Y)
    assert TorchCallRecorder.__dict__["__torch_function__"] is _RECORDER_TORCH_FUNCTION


def test_leaving_torch_functions_disabled_fails_closed_and_is_undone() -> None:
    def mse_loss(input, target):
        torch._C.DisableTorchFunction().__enter__()
        return ((input - target) ** 2).mean()

    _fails_closed(mse_loss, X, Y)


def test_unblocking_a_forbidden_method_fails_closed_and_is_undone() -> None:
    code = CATEGORICAL_ENTROPY.__code__
    forbidden = SPECS["entropy"].forbidden

    def entropy(p):
        torch.distributions.Categorical.entropy.__code__ = code
        return -torch.xlogy(p, p).sum(-1)

    _fails_closed(entropy, DIST, forbidden=forbidden)
    assert torch.distributions.Categorical.entropy.__code__ is code
    assert torch.distributions.Categorical(probs=DIST).entropy().shape == (4,)


# ------------------------------------------------------------------------------------- known open routes
# In-process recording cannot close these; autograder.flags reports the source that reaches for them.


@pytest.mark.xfail(strict=True, reason="a Python thread is not recorded: flagged as 'starts a thread'")
def test_a_builtin_called_in_a_thread_is_caught() -> None:
    def mse_loss(input, target):
        result = []
        thread = threading.Thread(target=lambda: result.append(F.mse_loss(input, target)))
        thread.start()
        thread.join()
        return result[0]

    with pytest.raises(BuiltinCalled):
        call_recording_torch(mse_loss, X, Y, forbidden=REGRESSION)


@pytest.mark.xfail(strict=True, reason="redispatch skips the dispatcher's recording: flagged as reaching torch.ops")
def test_a_builtin_redispatched_to_its_kernel_is_caught() -> None:
    keys = torch._C.DispatchKeySet(torch._C.DispatchKey.CPU)
    with pytest.raises(BuiltinCalled):
        call_recording_torch(lambda: torch.ops.aten.mse_loss.default.redispatch(keys, X, Y, MEAN), forbidden=REGRESSION)


@pytest.mark.xfail(strict=True, reason="torch._refs re-implements it in elementary operators: flagged as private")
def test_torchs_python_reference_of_a_builtin_is_caught() -> None:
    refs = importlib.import_module("torch._refs.nn.functional")
    with pytest.raises(BuiltinCalled):
        call_recording_torch(refs.mse_loss, X, Y, forbidden=REGRESSION)


# ------------------------------------------------------------------------------------------- no false positive
ALL_FORBIDDEN = frozenset(FORBIDDEN)


def _namespace(assignment: str) -> dict[str, Any]:
    """What the notebook of ``assignment`` defines once every instructor's solution cell ran."""
    namespace: dict[str, Any] = {"torch": torch, "nn": nn, "F": F, "__name__": f"notebook_{assignment}"}
    for source in solution_bodies(assignment).values():
        exec(compile(source, f"<{assignment}>", "exec"), namespace)
    return namespace


def _submissions() -> list[tuple[str, str, str, str]]:
    """``(assignment, kind, student id, function, source)`` of the instructor's solutions and of every submission of
    ``tests/submissions``."""
    rows = []
    for assignment in assignment_names():
        rows += [(assignment, "solution", name, name, source) for name, source in solution_bodies(assignment).items()]
        module = importlib.import_module(f"submissions.{assignment}")
        for kind in ("ALTERNATIVES", "MISTAKES"):
            rows += [(assignment, kind, student, function, source)
                     for student, (function, source) in getattr(module, kind).items()]
    return rows


SUBMISSIONS = _submissions()


@pytest.mark.parametrize(("assignment", "kind", "student", "function", "source"), SUBMISSIONS,
                         ids=[f"{row[0]}-{row[2]}" for row in SUBMISSIONS])
def test_no_solution_or_submission_written_with_elementary_operations_is_caught(
    assignment, kind, student, function, source
) -> None:
    namespace = _namespace(assignment)
    exec(compile(source, f"<{student}>", "exec"), namespace)
    fn = namespace[function]
    if function in SPECS and kind == "MISTAKES":  # wrong, and may even raise, but calls no built-in
        try:
            checks.check_not_builtin(fn, name=function)
        except CheckFailure as failure:
            assert "built-in" not in str(failure)
    elif function in SPECS:  # a correct function passes every check, through every case and option
        checks.check_not_builtin(fn, name=function)
        checks.check_values(fn, name=function)
        if SPECS[function].reductions:
            checks.check_reductions(fn, name=function)
        if SPECS[function].differentiable:
            checks.check_gradient(fn, name=function)
    else:  # a training step: the loss, backward and the optimizer's step all run inside the recorded call
        model, loss_fn = nn.Linear(3, 3), nn.CrossEntropyLoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        _, called = call_recording_torch(fn, model, optimizer, loss_fn, X, TARGET)
        assert "cross_entropy" in called


@pytest.mark.parametrize("assignment", assignment_names())
def test_every_builtin_caller_submission_is_caught(assignment) -> None:
    module = importlib.import_module(f"submissions.{assignment}")
    for function, source in module.BUILTIN_CALLERS.items():
        namespace = _namespace(assignment)
        exec(compile(source, f"<{function}>", "exec"), namespace)
        with pytest.raises(CheckFailure, match="calls torch's built-in"):
            checks.check_not_builtin(namespace[function], name=function)


#: Operations a student may use in any graded function.
ALLOWED: Mapping[str, Callable[[], Any]] = {
    "logsumexp": lambda: torch.logsumexp(X, -1),
    "softplus": lambda: F.softplus(X),
    "logsigmoid": lambda: F.logsigmoid(X),
    "sigmoid": lambda: torch.sigmoid(X),
    "where": lambda: torch.where(X > 0, X, Y),
    "clamp": lambda: X.clamp(min=-1.0, max=1.0),
    "exp-log-log1p": lambda: torch.log1p(torch.exp(X)).log(),
    "xlogy": lambda: torch.xlogy(DIST, DIST) + torch.special.xlogy(DIST, DIST),
    "logaddexp": lambda: torch.logaddexp(torch.zeros_like(X), X),
    "reductions": lambda: (X.sum(), X.mean(1), X.max(1).values, X.amax(1), X.min(), X.abs().pow(2)),
    "matmul": lambda: DESIGN.T @ DESIGN @ torch.ones(3, dtype=torch.float64),
    "solve": lambda: torch.linalg.solve(DESIGN.T @ DESIGN, DESIGN.T @ RHS),
    "cholesky": lambda: torch.cholesky_solve(DESIGN.T @ RHS, torch.linalg.cholesky(DESIGN.T @ DESIGN)),
    "qr": lambda: torch.linalg.solve_triangular(torch.linalg.qr(DESIGN).R, torch.linalg.qr(DESIGN).Q.T @ RHS,
                                                upper=True),
    "svd": lambda: torch.linalg.svd(DESIGN, full_matrices=False),
    "inv": lambda: torch.linalg.inv(DESIGN.T @ DESIGN),
    "gather": lambda: LOG_P.gather(1, TARGET.unsqueeze(1)),
    "indexing": lambda: LOG_P[torch.arange(4), TARGET],
    "one_hot": lambda: F.one_hot(TARGET, 3),
    "scatter": lambda: torch.zeros(4, 3).scatter(1, TARGET.unsqueeze(1), 1.0),
    "powers": lambda: POINTS.unsqueeze(-1) ** torch.arange(4) + POINTS.unsqueeze(-1).cumprod(-1),
    "Categorical(probs=...)": lambda: torch.distributions.Categorical(probs=DIST).log_prob(TARGET),
    "Linear": lambda: nn.Linear(3, 2)(X),
}


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_an_allowed_operation_is_never_reported(name) -> None:
    with DispatcherRecorder() as record:
        ALLOWED[name]()
    assert record.intact
    assert aten_builtins(record.ops) == []
    _, called = call_recording_torch(ALLOWED[name], forbidden=ALL_FORBIDDEN)
    assert not set(called) & ALL_FORBIDDEN


def test_logsumexp_is_not_reported_as_softmax() -> None:
    with DispatcherRecorder() as record:
        torch.logsumexp(X, -1)
    assert "aten::logsumexp" in record.ops
    assert aten_builtins(record.ops, forbidden=SOFTMAX) == []


# ------------------------------------------------------------------------------------------------------ noise


def _five_op_loss(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    error = (input - target).abs()
    return torch.where(error < 1.0, 0.5 * error**2, error - 0.5).mean()


def test_recording_writes_nothing_to_the_terminal(capfd) -> None:
    call_recording_torch(_five_op_loss, X, Y, forbidden=REGRESSION)
    with pytest.raises(BuiltinCalled):
        call_recording_torch(lambda: torch.ops.aten.mse_loss(X, Y), forbidden=REGRESSION)
    assert capfd.readouterr() == ("", "")


def test_the_detector_runs_as_a_standalone_module(tmp_path) -> None:
    """The sandbox binds the file alone, as ``lossutils_builtins``, where ``lossutils`` cannot be imported."""
    (tmp_path / "lossutils_builtins.py").write_text(Path(builtins_module.__file__).read_text())
    script = (
        "import sys\n"
        "sys.path.insert(0, '.')\n"
        "import torch, lossutils_builtins as d\n"
        "assert 'lossutils' not in sys.modules\n"
        "def f(a, b):\n"
        "    with torch._C.DisableTorchFunction():\n"
        "        return torch.nn.functional.mse_loss(a, b)\n"
        "try:\n"
        "    d.call_recording_torch(f, torch.ones(2), torch.zeros(2), forbidden={'mse_loss'})\n"
        "except d.BuiltinCalled as err:\n"
        "    print(err.name)\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "mse_loss\n", "")
