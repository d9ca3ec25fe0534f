"""The status of a graded submission: what became of it, in words an instructor reads."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Status"]


class Status(StrEnum):
    """What became of one submission.

    The scored statuses keep the points of every cell that finished; a cell that did not finish scores 0. The
    others could not be graded at all and are recorded with 0 points.
    """

    GRADED = "graded"
    TIMED_OUT_CELL = "graded (a cell timed out)"
    TIME_LIMIT = "time limit"
    MEMORY_LIMIT = "memory limit"
    OUTPUT_LIMIT = "output limit"
    KERNEL_DIED = "kernel died"
    INVALID = "invalid notebook"
    MISSING = "missing notebook"
    SEVERAL = "several notebooks"
    FAILED = "autograde failed"

    @classmethod
    def values(cls) -> set[str]:
        """Every status as text."""
        return {status.value for status in cls}

    @property
    def scored(self) -> bool:
        """Whether the submission's cells were scored (the others are recorded with 0)."""
        return self not in (Status.INVALID, Status.MISSING, Status.SEVERAL, Status.FAILED)

    @property
    def failed(self) -> bool:
        """Whether the instructor should look at it: anything but a plain grading, or one where a cell timed out."""
        return self not in (Status.GRADED, Status.TIMED_OUT_CELL)
