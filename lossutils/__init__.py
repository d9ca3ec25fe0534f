"""Helpers shared by the book's chapters and the exercises' hidden tests, split by who imports them.

What the chapters import, :mod:`lossutils.chapters` (import each module explicitly):

- :mod:`lossutils.chapters.data` — seeded toy data sets for the chapters;
- :mod:`lossutils.chapters.plotting` — figures (the only module that imports matplotlib).

What the hidden tests import, :mod:`lossutils.grading` (its public checks are re-exported here, so a hidden test
writes ``from lossutils import check_values``; importing :mod:`lossutils` never imports matplotlib):

- :mod:`lossutils.grading.specs` — the registry of graded functions and the torch reference each is checked against;
- :mod:`lossutils.grading.references` — the one registry of torch references, the 0-1 loss and the correction step
  included, where torch's signature differs or torch has none;
- :mod:`lossutils.grading.cases` — the generated inputs a check runs on, by input kind;
- :mod:`lossutils.grading.builtins` — detects a student function that calls the torch built-in it should implement
  (self-contained: the sandbox loads the file alone as ``lossutils_builtins``);
- :mod:`lossutils.grading.checks` — the checks of a function's values, reductions, dtype and shape, gradient and
  extremes;
- :mod:`lossutils.grading.training` — the checks of a training step;
- :mod:`lossutils.grading.messages` — :class:`~lossutils.grading.messages.CheckFailure` and the message it carries;
- :mod:`lossutils.grading.hints` — turns a wrong result into advice a student can act on.

The package never holds the solution of a graded exercise: every reference result comes from torch.
"""

from lossutils.grading.checks import (
    check_dtype_and_shape,
    check_extremes,
    check_gradient,
    check_not_builtin,
    check_reductions,
    check_values,
)
from lossutils.grading.specs import SPECS, LossSpec, get_spec
from lossutils.grading.training import check_train_step_loss, check_train_step_repeated, check_train_step_update

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
