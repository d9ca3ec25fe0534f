"""Helpers shared by the book's chapters and the exercises' hidden tests.

One module per concern:

- :mod:`lossutils.data` — seeded toy data sets for the chapters;
- :mod:`lossutils.plotting` — figures (the only module that imports matplotlib; import it explicitly);
- :mod:`lossutils.specs` — the registry of graded functions and the torch reference each is checked against;
- :mod:`lossutils.cases` — the generated inputs a check runs on;
- :mod:`lossutils.builtins` — detects a student function that calls the torch built-in it should implement;
- :mod:`lossutils.hints` — turns a wrong result into advice a student can act on;
- :mod:`lossutils.checking` — the checks the hidden tests call.

The package never holds the solution of a graded exercise: every reference result comes from torch.
"""

from lossutils.checking import (
    check_dtype_and_shape,
    check_extremes,
    check_gradient,
    check_not_builtin,
    check_reductions,
    check_train_step_loss,
    check_train_step_repeated,
    check_train_step_update,
    check_values,
)
from lossutils.specs import SPECS, LossSpec, get_spec

__all__ = [
    "SPECS",
    "LossSpec",
    "check_dtype_and_shape",
    "check_extremes",
    "check_gradient",
    "check_not_builtin",
    "check_reductions",
    "check_train_step_loss",
    "check_train_step_repeated",
    "check_train_step_update",
    "check_values",
    "get_spec",
]
