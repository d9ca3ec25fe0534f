"""Detect a student function that calls the torch built-in it is meant to implement.

Three detectors watch the call, each seeing what the others cannot:

- a :class:`torch.overrides.TorchFunctionMode` (:class:`TorchCallRecorder`) sees every call into torch's Python
  API — through ``torch.nn.functional``, a module such as ``torch.nn.MSELoss``, or the raw binding ``torch._C._nn``
  — and stops a forbidden one where it is made;
- the dispatcher's own recording (:class:`DispatcherRecorder`, the legacy CPU profiler) lists every aten operator
  that runs, composite ones included (``aten::l1_loss``, ``aten::cross_entropy_loss``), so it also sees
  ``torch.ops.aten.mse_loss``, a call made inside ``torch._C.DisableTorchFunction()``, a TorchScript function or
  a recorder whose ``__torch_function__`` was replaced. :data:`ATEN_OPS` names the operators each built-in runs
  as, found by profiling each built-in (forward and backward) in ``tests/test_builtins.py``;
- Python methods that neither sees (``torch.distributions.Categorical.entropy``) are forbidden by their dotted
  name: their code is swapped for code that raises, so an alias taken before the call is stopped too.

When the student's code switches a detector off during the call (pops the mode, stops or replaces the profiler,
turns off the dispatcher's recording, restores a blocked method), the call fails closed: it raises
:class:`BuiltinCalled` with :data:`DETECTOR_DISABLED`, never reports "nothing called". What stays open: the
dispatcher's ``redispatch`` entry points (they skip the recording), a Python thread the student starts, and torch's
Python re-implementations (``torch._refs``); :mod:`autograder.flags` reports the source that reaches for them.

The module and its classes are sealed once imported: ``lossutils_builtins.call_recording_torch = ...`` or
``DispatcherRecorder.__exit__ = ...`` raises ``AttributeError``. It imports only the standard library and torch: the
sandbox loads it as the standalone module ``lossutils_builtins``.
"""

from __future__ import annotations

import contextlib
import functools
import pkgutil
import secrets
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch._C._autograd import (
    _disable_profiler,
    _disable_profiler_legacy,
    _enable_profiler_legacy,
    _profiler_enabled,
    _profiler_type,
)
from torch._C._profiler import (
    ActiveProfilerType,
    ProfilerConfig,
    ProfilerState,
    _ExperimentalConfig,
    _RecordFunctionFast,
)
from torch.overrides import TorchFunctionMode

__all__ = [
    "ATEN_OPS",
    "DETECTOR_DISABLED",
    "MODULE_FUNCTIONALS",
    "PYTHON_METHODS",
    "BuiltinCalled",
    "DispatcherRecorder",
    "TorchCallRecorder",
    "aten_builtins",
    "call_recording_torch",
    "forbidding_attributes",
]

#: The name :class:`BuiltinCalled` carries when the student's code switched a detector off during the call.
DETECTOR_DISABLED = "<detector disabled>"


def _aten(*names: str) -> frozenset[str]:
    return frozenset(f"aten::{name}" for name in names)


#: Softmax, and the kernels that compute one under another name: masked, safe, sparse, and attention
#: (``F.scaled_dot_product_attention(x, I, I, scale=1.0)`` is ``softmax(x)``; its CPU kernel records no softmax).
_SOFTMAX_OPS = _aten("softmax", "_softmax", "special_softmax", "_softmax_backward_data", "_safe_softmax",
                     "_masked_softmax", "_masked_softmax_backward", "_sparse_softmax", "_sparse_softmax_backward_data",
                     "scaled_dot_product_attention", "_scaled_dot_product_attention_math",
                     "_scaled_dot_product_flash_attention_for_cpu",
                     "_scaled_dot_product_flash_attention_for_cpu_backward", "_native_multi_head_attention")

#: Each torch built-in a spec may forbid (its Python name) -> the aten operators it runs as, forward and backward.
#: The first built-in listing an operator is the one reported for it when none is forbidden.
ATEN_OPS: Mapping[str, frozenset[str]] = MappingProxyType({
    # The loss family. smooth_l1_loss with beta=0 runs as l1_loss.
    "mse_loss": _aten("mse_loss", "mse_loss_backward"),
    "l1_loss": _aten("l1_loss"),
    "smooth_l1_loss": _aten("smooth_l1_loss", "smooth_l1_loss_backward", "l1_loss"),
    "huber_loss": _aten("huber_loss", "huber_loss_backward"),
    # Classification losses. nll_loss runs as nll_loss_nd, then nll_loss (2-d input) or nll_loss2d (4-d input).
    "soft_margin_loss": _aten("soft_margin_loss", "soft_margin_loss_backward"),
    "nll_loss": _aten("nll_loss_nd", "nll_loss", "nll_loss_forward", "nll_loss_backward", "nll_loss2d",
                      "nll_loss2d_forward", "nll_loss2d_backward"),
    "cross_entropy": _aten("cross_entropy_loss"),
    "binary_cross_entropy": _aten("binary_cross_entropy", "binary_cross_entropy_backward"),
    "binary_cross_entropy_with_logits": _aten("binary_cross_entropy_with_logits"),
    "kl_div": _aten("kl_div"),
    # Written in Python from elementary operators: only the torch-function mode sees it, by its name.
    "multilabel_soft_margin_loss": frozenset(),
    # The softmax family.
    "softmax": _SOFTMAX_OPS,
    "log_softmax": _aten("log_softmax", "_log_softmax", "special_log_softmax", "_log_softmax_backward_data",
                         "_sparse_log_softmax", "_sparse_log_softmax_backward_data"),
    "softmin": _SOFTMAX_OPS,
    # Entropy.
    "special_entr": _aten("special_entr"),
    # Fitting. torch.lstsq was removed in torch 1.9 (it only raises); its successor runs as linalg_lstsq.
    "linalg_vander": _aten("linalg_vander"),
    "vander": _aten("vander"),
    "linalg_lstsq": _aten("linalg_lstsq"),
    "lstsq": _aten("linalg_lstsq"),
    "linalg_pinv": _aten("linalg_pinv"),
    "pinverse": _aten("pinverse", "linalg_pinv"),
})

#: Each loss or activation module class -> the functional its ``forward`` calls.
MODULE_FUNCTIONALS: Mapping[str, str] = MappingProxyType({
    "MSELoss": "mse_loss", "L1Loss": "l1_loss", "SmoothL1Loss": "smooth_l1_loss", "HuberLoss": "huber_loss",
    "SoftMarginLoss": "soft_margin_loss", "NLLLoss": "nll_loss", "NLLLoss2d": "nll_loss",
    "CrossEntropyLoss": "cross_entropy", "BCELoss": "binary_cross_entropy",
    "BCEWithLogitsLoss": "binary_cross_entropy_with_logits", "KLDivLoss": "kl_div",
    "MultiLabelSoftMarginLoss": "multilabel_soft_margin_loss", "Softmax": "softmax",
    "LogSoftmax": "log_softmax", "Softmin": "softmin",
})

#: aten operator -> the built-in reported for it when none that runs as it is forbidden.
_PRIMARY: Mapping[str, str] = MappingProxyType(
    {op: name for name, ops in reversed(ATEN_OPS.items()) for op in ops}
)


class _Sealed(type):
    """The metaclass of the detector's classes: their attributes cannot be replaced (``Class.method = ...``)."""

    def __setattr__(cls, name: str, value: Any) -> None:
        raise AttributeError(f"{cls.__name__}.{name}: the built-in detector cannot be changed")

    def __delattr__(cls, name: str) -> None:
        raise AttributeError(f"{cls.__name__}.{name}: the built-in detector cannot be changed")


class BuiltinCalled(RuntimeError, metaclass=_Sealed):
    """Raised when the student's function calls a forbidden torch built-in (inside it, when the call is seen as it is
    made; after it returns, when the dispatcher's record shows it), or switched a detector off
    (:data:`DETECTOR_DISABLED`)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class TorchCallRecorder(TorchFunctionMode, metaclass=_Sealed):
    """Records the torch functions called while active, and stops any call to a forbidden one.

    Args:
        forbidden: Names of the torch functions (``mse_loss``) and modules (``MSELoss``) that may not be called.
    """

    def __init__(self, forbidden: Iterable[str] = ()) -> None:
        super().__init__()
        self.forbidden = frozenset(forbidden)
        self.called: list[str] = []

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        name = getattr(func, "__name__", repr(func))
        self.called.append(name)
        if name in self.forbidden:
            raise BuiltinCalled(name)
        return func(*args, **(kwargs or {}))


_TORCH_FUNCTION = TorchCallRecorder.__dict__["__torch_function__"]


class _Pushed(metaclass=_Sealed):
    """Keeps a :class:`TorchCallRecorder` on the torch-function stack for a block; afterwards restores the stack, the
    torch-function state and the recorder's hook, and says in ``intact`` whether the mode stayed in place, enabled
    and unaltered the whole time."""

    def __init__(self, mode: TorchCallRecorder) -> None:
        self.mode = mode
        self.intact = False

    def __enter__(self) -> _Pushed:
        self.depth = torch._C._len_torch_function_stack()
        self.state = torch._C._get_torch_function_state()
        torch._C._push_on_torch_function_stack(self.mode)
        return self

    def __exit__(self, *exc_info: object) -> None:
        depth, mode = self.depth, self.mode
        in_place = (torch._C._len_torch_function_stack() == depth + 1
                    and torch._C._get_function_stack_at(depth) is mode)
        hook = TorchCallRecorder.__dict__.get("__torch_function__")
        unaltered = (type(mode) is TorchCallRecorder and "__torch_function__" not in vars(mode)
                     and hook is _TORCH_FUNCTION)
        enabled = self.state != torch._C._TorchFunctionState.ALL_DISABLED
        self.intact = in_place and unaltered and enabled and torch._C._get_torch_function_state() == self.state
        while torch._C._len_torch_function_stack() > depth:
            torch._C._pop_torch_function_stack()
        torch._C._set_torch_function_state(self.state)
        if hook is not _TORCH_FUNCTION:
            type.__setattr__(TorchCallRecorder, "__torch_function__", _TORCH_FUNCTION)


#: The dispatcher's legacy CPU profiler, recording operator names only: about 60 us per call of a five-operator loss,
#: against 1.2-1.4 ms for ``torch.autograd.profiler.profile`` and ``torch.profiler.profile`` (Kineto, which also
#: writes to stderr on this build).
_PROFILER_CONFIG = ProfilerConfig(ProfilerState.CPU, False, False, False, False, False, _ExperimentalConfig())


class DispatcherRecorder(metaclass=_Sealed):
    """Records the aten operators that run on this thread while active, from the dispatcher.

    Every operator call goes through the dispatcher's ``RecordFunction`` hooks, whichever Python route reached it:
    composite operators appear by their own name before the operators they decompose into. Two markers with a fresh
    random name open and close the record; if either is missing, or the profiler was stopped, replaced or already
    running, the record is not intact.

    Attributes:
        names: What the dispatcher recorded, in order, after the block: operators and the markers.
        ops: The operators among them (``aten::mse_loss``).
        intact: Whether the record covers the whole block.

    Examples:
        >>> import torch
        >>> with DispatcherRecorder() as record:
        ...     _ = torch.ops.aten.mse_loss(torch.ones(2), torch.zeros(2))
        >>> record.intact, "aten::mse_loss" in record.ops
        (True, True)
        >>> record.builtins(forbidden={"MSELoss"})
        ['MSELoss']
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self.intact = False
        self._nonce = ""

    @property
    def ops(self) -> list[str]:
        return [name for name in self.names if name.startswith("aten::")]

    def __enter__(self) -> DispatcherRecorder:
        if _profiler_enabled():  # someone else's profiler: this one cannot start, and would see nothing
            return self
        self._nonce = secrets.token_hex(12)
        _enable_profiler_legacy(_PROFILER_CONFIG)
        with _RecordFunctionFast(self._nonce + ">"):
            pass
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._nonce:
            return
        with _RecordFunctionFast("<" + self._nonce):
            pass
        if _profiler_type() != ActiveProfilerType.LEGACY:  # stopped during the call, or replaced by another kind
            _stop_any_profiler()  # (stopping it as a legacy one would read its state as the wrong type)
            return
        events = _disable_profiler_legacy(None)
        self.names = names = [event.name() for thread in events for event in thread]
        try:
            self.intact = names.index(self._nonce + ">") < names.index("<" + self._nonce)
        except ValueError:
            self.intact = False

    def builtins(self, forbidden: Iterable[str] = ()) -> list[str]:
        """The built-ins the recorded operators belong to, each once, in order: the forbidden name when one runs as
        the operator (a module class through its functional), else the first of :data:`ATEN_OPS` that does."""
        lookup = _lookup(frozenset(forbidden))
        return list(dict.fromkeys(lookup[name] for name in dict.fromkeys(self.names) if name in lookup))


def _stop_any_profiler() -> None:
    """Stop whatever profiler the student's code left running, by its own kind, so that the next call starts clean."""
    kind = _profiler_type()
    with contextlib.suppress(RuntimeError):
        if kind == ActiveProfilerType.LEGACY:
            _disable_profiler_legacy(None)
        elif kind != ActiveProfilerType.NONE:
            _disable_profiler()


@functools.lru_cache(maxsize=64)
def _lookup(forbidden: frozenset[str]) -> dict[str, str]:
    """aten operator -> the built-in reported for it: the forbidden one that runs as it (functionals before module
    classes, in the order of :data:`ATEN_OPS`), else the first of :data:`ATEN_OPS` that does."""
    order = {name: index for index, name in enumerate(ATEN_OPS)}
    lookup: dict[str, str] = {}
    for name in sorted(forbidden, key=lambda name: (name in MODULE_FUNCTIONALS,
                                                    order.get(MODULE_FUNCTIONALS.get(name, name), len(order)), name)):
        for op in ATEN_OPS.get(MODULE_FUNCTIONALS.get(name, name), ()):
            lookup.setdefault(op, name)
    return {**_PRIMARY, **lookup}


def aten_builtins(ops: Iterable[str], forbidden: Iterable[str] = ()) -> list[str]:
    """The built-ins that the aten operators ``ops`` belong to (see :meth:`DispatcherRecorder.builtins`).

    Examples:
        >>> aten_builtins(["aten::sub", "aten::l1_loss"])
        ['l1_loss']
        >>> aten_builtins(["aten::l1_loss"], forbidden={"SmoothL1Loss"})
        ['SmoothL1Loss']
        >>> aten_builtins(["aten::logsumexp", "aten::exp"])
        []
    """
    record = DispatcherRecorder()
    record.names = list(ops)
    return record.builtins(forbidden)


# -------------------------------------------------------------------------------------- dotted Python names


@functools.lru_cache(maxsize=64)
def _owner(path: str) -> Any:
    """The object at the dotted ``path``: its module imported, then the remaining attributes (once per path)."""
    return pkgutil.resolve_name(path)


def _attribute(name: str) -> Any:
    path, attribute = name.rsplit(".", 1)
    return vars(_owner(path))[attribute]


#: The Python methods the specs forbid by dotted name, taken when this module is imported — before any student code
#: runs, so that replacing one on its class cannot hide the original from :func:`forbidding_attributes`.
PYTHON_METHODS: Mapping[str, Any] = MappingProxyType({
    name: _attribute(name)
    for name in ("torch.distributions.Categorical.entropy", "torch.distributions.OneHotCategorical.entropy")
})


def _blocked(*args: Any, _lossutils_block: Callable[[], Any], **kwargs: Any) -> Any:
    """The code a forbidden Python function runs while it is blocked."""
    return _lossutils_block()


class _Blocked(metaclass=_Sealed):
    """The attributes :func:`forbidding_attributes` blocked, and how to check and undo it."""

    def __init__(self) -> None:
        self.swapped: list[tuple[Any, str, types.FunctionType, tuple[Any, Any, Any], Any]] = []
        self.replaced: list[tuple[Any, str, Any, Any]] = []

    @property
    def intact(self) -> bool:
        """Whether every blocked attribute is still blocked."""
        swapped = all(fn.__code__ is _blocked.__code__ for _, _, fn, _, _ in self.swapped)
        return swapped and all(vars(owner).get(attribute) is blocker for owner, attribute, _, blocker in self.replaced)

    def restore(self) -> None:
        for owner, attribute, fn, (code, defaults, kwdefaults), current in reversed(self.swapped):
            fn.__code__, fn.__defaults__, fn.__kwdefaults__ = code, defaults, kwdefaults
            if current is not None:
                setattr(owner, attribute, current)
        for owner, attribute, original, _ in reversed(self.replaced):
            setattr(owner, attribute, original)


@contextlib.contextmanager
def forbidding_attributes(names: Iterable[str]) -> Iterator[_Blocked]:
    """Make each dotted ``module.Class.attribute`` in ``names`` raise :class:`BuiltinCalled` when called, and undo it
    afterwards. Names without a dot are left to :class:`TorchCallRecorder` and :class:`DispatcherRecorder`.

    A plain Python function keeps its identity and gets the code of one that raises, so a reference taken before
    the block (``entropy = Categorical.entropy``) is blocked too; anything else is replaced on its owner. The
    methods of :data:`PYTHON_METHODS` are blocked as they were at import, whatever their class holds now. The
    yielded object's ``intact`` says whether every block is still in place.

    Examples:
        >>> import torch
        >>> entropy = torch.distributions.Categorical.entropy
        >>> with forbidding_attributes(["torch.distributions.Categorical.entropy"]):
        ...     entropy(torch.distributions.Categorical(probs=torch.ones(2) / 2))
        Traceback (most recent call last):
        ...
        lossutils.grading.builtins.BuiltinCalled: torch.distributions.Categorical.entropy
    """
    blocked = _Blocked()

    def raiser(name: str) -> Callable[..., Any]:
        def blocked_call(*args: Any, **kwargs: Any) -> Any:
            raise BuiltinCalled(name)

        return blocked_call

    try:
        for name in names:
            if "." not in name:
                continue
            path, attribute = name.rsplit(".", 1)
            owner = _owner(path)
            original = PYTHON_METHODS.get(name) or vars(owner)[attribute]
            if isinstance(original, types.FunctionType) and not original.__code__.co_freevars:
                saved = (original.__code__, original.__defaults__, original.__kwdefaults__)
                blocked.swapped.append((owner, attribute, original, saved, vars(owner).get(attribute)))
                original.__code__, original.__defaults__ = _blocked.__code__, None
                original.__kwdefaults__ = {"_lossutils_block": raiser(name)}
            else:
                blocker = raiser(name)
                blocked.replaced.append((owner, attribute, original, blocker))
                setattr(owner, attribute, blocker)
        yield blocked
    finally:
        blocked.restore()


# ------------------------------------------------------------------------------------------------ the call


def call_recording_torch(
    fn: Callable[..., Any], *args: Any, forbidden: Iterable[str] = (), **kwargs: Any
) -> tuple[Any, list[str]]:
    """Call ``fn(*args, **kwargs)`` and return its result with the names of the torch functions it called.

    The names are those the torch-function mode saw, in order, then the built-ins of :data:`ATEN_OPS` that the
    dispatcher ran and the mode did not see (a call made inside ``torch._C.DisableTorchFunction()``).

    Args:
        fn: The function under test.
        *args: Its positional arguments.
        forbidden: Torch function names, module class names and dotted attribute names that make the call raise
            :class:`BuiltinCalled`.
        **kwargs: Its keyword arguments.

    Returns:
        ``(result, called)``.

    Raises:
        BuiltinCalled: ``fn`` called a forbidden torch function (even if it caught the error), or switched a
            detector off (the name is then :data:`DETECTOR_DISABLED`). It outranks any other error ``fn`` raised.

    Examples:
        >>> import torch
        >>> _, called = call_recording_torch(lambda a: (a * a).sum(), torch.ones(2))
        >>> called
        ['mul', 'sum']
        >>> def mse_loss(input, target):
        ...     with torch._C.DisableTorchFunction():
        ...         return torch.nn.functional.mse_loss(input, target)
        >>> call_recording_torch(mse_loss, torch.ones(2), torch.zeros(2), forbidden={"mse_loss", "MSELoss"})
        Traceback (most recent call last):
        ...
        lossutils.grading.builtins.BuiltinCalled: mse_loss
    """
    forbidden = frozenset(forbidden)
    recorder = TorchCallRecorder(forbidden)
    record = DispatcherRecorder()
    result: Any = None
    error: BaseException | None = None
    with forbidding_attributes(forbidden) as blocked, _Pushed(recorder) as pushed:
        with record:
            try:
                result = fn(*args, **kwargs)
            except BaseException as err:  # noqa: BLE001 - re-raised below, unless a forbidden call outranks it
                error = err
        attributes_intact = blocked.intact
    called = recorder.called + [name for name in record.builtins(forbidden) if name not in recorder.called]
    used = [name for name in called if name in forbidden]
    if isinstance(error, BuiltinCalled) and error.name in forbidden:
        used.insert(0, error.name)
    if used:
        raise BuiltinCalled(used[0]) from error
    if not (record.intact and pushed.intact and attributes_intact):
        raise BuiltinCalled(DETECTOR_DISABLED) from error
    if error is not None:
        raise error
    return result, called


class _SealedModule(types.ModuleType):
    """This module, once imported: its names cannot be replaced (``lossutils_builtins.call_recording_torch = ...``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self.__name__}.{name}: the built-in detector cannot be changed")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{self.__name__}.{name}: the built-in detector cannot be changed")


sys.modules[__name__].__class__ = _SealedModule
