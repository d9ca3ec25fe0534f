"""Submissions a student might hand in, per assignment: one module named after each assignment.

Each module defines

- ``MISTAKES``: student id -> (function, source of its solution cell with one common mistake);
- ``ALTERNATIVES``: student id -> (function, a correct way of writing it other than the instructor's);
- ``BUILTIN_CALLERS``: function -> a solution cell that calls the torch built-in (the grader's oracle) instead;
- ``NO_BUILTIN`` (optional): the functions torch has no built-in for (a training step).
"""

#: The tail of a solution cell that applies ``reduction`` to the elementwise ``loss``.
REDUCE = """
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
"""
