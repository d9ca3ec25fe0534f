"""The hints (:mod:`lossutils.grading.hints`): a wrong result that looks like a known mistake is told so."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from lossutils.grading.hints import diagnose_value


@given(st.floats(min_value=0.1, max_value=100), st.integers(min_value=3, max_value=50))
def test_a_sum_where_a_mean_belongs_is_recognised_for_any_size(value, n) -> None:
    expected = torch.tensor(value, dtype=torch.float64)
    assert "sum instead of averaging" in diagnose_value(expected * n, expected, n, "mean")
