"""What the exercises' hidden tests and the grader import: the registry of graded functions, their torch references,
the generated cases, the built-in detector, the checks and the messages they write for the student.

The public checks are re-exported by :mod:`lossutils`. Nothing here imports matplotlib or :mod:`lossutils.chapters`.
"""
