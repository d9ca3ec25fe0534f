"""The code that runs inside the sandbox: the student's process and the template it is forked from.

Nothing here may import :mod:`autograder` or :mod:`lossutils`: the sandbox sees only this folder (as the package
``kernel``) and :mod:`lossutils.grading.builtins` (as the module ``lossutils_builtins``), never the assignment sources,
the hidden tests or the course directory.

- :mod:`kernel.protocol` — the wire format, shared with the trusted side: JSON and safetensors, nothing that runs;
- :mod:`kernel.forkserver` — the template process: imports torch once, warms up, forks one child per submission;
- :mod:`kernel.runner` — the child: runs the notebook's cells and answers the trusted side's calls.
"""
