"""Instructor tooling for the course's exercises, on top of nbgrader.

- :mod:`autograder.course` — the course directory: its nbgrader config and the assignment sources;
- :mod:`autograder.release` — student versions of the assignments, for the course and for the book;
- :mod:`autograder.grading` — grades every submission, one student at a time, with a status for each;
- :mod:`autograder.export` — the gradebook as CSV, per student and per graded function;
- :mod:`autograder.cli` — ``python -m autograder release|grade|export|pages``.
"""
