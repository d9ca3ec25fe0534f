"""The registry of graded functions (:mod:`lossutils.grading.specs`): every function's torch reference runs on every
case of its kind, and an unknown name is told the known ones."""

from __future__ import annotations

import pytest
import torch

from lossutils import SPECS, get_spec
from lossutils.grading.cases import FLOAT_DTYPES, PURPOSES, cases_for

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


def test_an_unknown_function_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="mse_loss"):
        get_spec("mse")
