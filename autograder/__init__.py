"""Instructor tooling for the course's exercises, on top of nbgrader.

- :mod:`autograder.course` — the course directory (:class:`~autograder.course.Course`) and the assignment sources;
- :mod:`autograder.release` — student versions of the assignments, for the course and for the book;
- :mod:`autograder.collect` — a learning platform's download (Canvas, Moodle) filed into ``submitted/``;
- :mod:`autograder.roster` — the class list: ids here and on the platform;
- :mod:`autograder.grading` — grades every submission in one warm process, with a status for each
  (:mod:`autograder.status`);
- :mod:`autograder.engine` — nbgrader's execute step: the student's cells in the sandbox, the hidden tests here;
- :mod:`autograder.proxies` — the graded names as the hidden tests see them: calls into the sandbox;
- :mod:`autograder.sandbox` — the warm fork server in bubblewrap, and its limits;
- :mod:`autograder.kernel` — the code that runs inside the sandbox, and the wire format;
- :mod:`autograder.flags` — source lines that reach for the grader, flagged for review;
- :mod:`autograder.export` — the gradebook as CSV, per graded function or for the platform, and the feedback zips;
- :mod:`autograder.cli` — ``python -m autograder release|collect|grade|export|pages``;
- :mod:`autograder.benchmark` — seconds per submission, against plain ``nbgrader autograde``.
"""
