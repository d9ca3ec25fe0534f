"""The template process: imports torch once, warms up, and forks one child per submission.

It runs inside the sandbox (:mod:`autograder.sandbox` starts it as ``python -B -m kernel.forkserver FD CONFIG``), as
the same unprivileged user as the students' code, and serves the trusted side on a control socket (the inherited
file descriptor ``FD``). Once warm it sends ``{"op": "ready"}``; then each request is a frame of
:mod:`kernel.protocol`, and each gets one reply:

- ``{"op": "spawn"}``, followed by one byte that carries a connected socket (``SCM_RIGHTS``): fork a child that
  serves :func:`kernel.runner.serve` on that socket. Reply ``{"pid": PID}`` (a pid of the sandbox's namespace);
- ``{"op": "interrupt", "pid": PID}``: send ``SIGINT`` to the child. Reply ``{"ok": BOOL}``;
- ``{"op": "finish", "pid": PID}``: end the child (it gets :data:`GRACE` seconds to exit on its own, then
  ``SIGKILL``), kill every other process it left, wipe the scratch folders. Reply how it ended:
  ``{"exit_code", "signal", "cpu_seconds", "max_rss_mb", "reason"}``.

A failed request is answered with ``{"error": TEXT}``. ``CONFIG`` is JSON: ``limits`` (the fields of
:class:`autograder.sandbox.Limits`), ``scratch`` (the folders wiped after every submission; the child works in
``work`` under the first) and ``isolated`` (whether the template has a PID namespace of its own, so that it may kill
every other process it can see).

In the sandbox the template is its PID namespace's init (pid 1): the kernel delivers it no signal from inside the
namespace, so the students' code cannot kill it, and it inherits (and reaps) every orphan. The children never hold
the control socket, and the template is not dumpable: a child, although of the same user, can neither ptrace it
nor read its memory. Should it die all the same, the sandbox dies with it and the trusted side starts a new one.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from . import protocol

__all__ = ["GRACE", "main"]

#: Seconds a child gets to exit by itself on ``finish`` (its socket is closed by then) before it is killed.
GRACE = 0.25
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 1, 4
_MB = 1 << 20


def _prctl(option: int, value: int) -> None:
    if ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}, {value})")


def _warm_up() -> None:
    """Import and exercise what a child needs, so that every child starts warm.

    The intra-op thread pool is set to one thread before the first tensor operation: forking after OpenMP has
    started its threads can deadlock the child.
    """
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    import lossutils_builtins  # noqa: F401 - the runner's built-in detector, imported once for every child
    from safetensors.torch import load, save

    from . import runner  # noqa: F401 - imported once for every child

    x = torch.randn(8, 4, requires_grad=True)
    target = torch.randint(0, 4, (8,))
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]):
        loss = torch.nn.functional.cross_entropy(x, target) + torch.nn.functional.mse_loss(x.tanh(), x.sigmoid())
        loss.backward()
    tensors: dict[str, torch.Tensor] = {}
    protocol.decode(protocol.encode([x, x.grad], tensors), load(save(tensors)))


def _tasks_of_user() -> int:
    """Threads of every visible process of this real uid: what ``RLIMIT_NPROC`` counts."""
    uid, tasks = str(os.getuid()), 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            fields = dict(line.partition(":")[::2] for line in open(f"/proc/{pid}/status").read().splitlines())
            if fields["Uid"].split()[0] == uid:
                tasks += int(fields["Threads"])
    return tasks


def _wipe(folder: str) -> None:
    """Delete everything inside ``folder``, including folders a student made unreadable or nested thousands deep:
    ``chmod -R`` and ``rm -rf`` walk a tree without recursion (Python's ``os.walk`` and ``shutil.rmtree`` recurse)."""
    entries = [entry.path for entry in os.scandir(folder)] if os.path.isdir(folder) else []
    # The interpreter and its packages are bound read-only inside /tmp when the project itself lives there.
    entries = [path for path in entries if not any(kept == path or kept.startswith(path + os.sep)
                                                   for kept in (sys.prefix, sys.base_prefix))]
    if entries:
        subprocess.run(["chmod", "-R", "u+rwx", *entries], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        subprocess.run(["rm", "-rf", "--one-file-system", *entries], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)


def _remove_ipc() -> None:
    """Remove the System V shared memory, semaphores and message queues a child left: they outlive it, count
    against no limit of its, and would carry data to the next student (the sandbox has one IPC namespace)."""
    subprocess.run(["ipcrm", "--all"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


class _Template:
    """The state of the template: its control socket, the configuration, and the child of the moment."""

    def __init__(self, control: socket.socket, config: dict[str, Any]) -> None:
        self.control = control
        self.limits: dict[str, int] = config["limits"]
        self.scratch: list[str] = list(config["scratch"])
        self.isolated = bool(config["isolated"])
        self.work = os.path.join(self.scratch[0], "work")
        self.child: int | None = None

    def serve(self) -> None:
        """Answer control requests until the trusted side closes the socket; then end everything and return."""
        for folder in self.scratch:  # what the warm-up left (torch's caches), so that the first child starts clean
            _wipe(folder)
        while True:
            try:
                request, _ = protocol.recv(self.control)
            except (EOFError, OSError, ValueError):
                break
            try:
                reply = self.handle(request)
            except Exception as err:  # noqa: BLE001 - the template must outlive a failed request
                reply = {"error": f"{type(err).__name__}: {err}"}
            try:
                protocol.send(self.control, reply)
            except OSError:
                break
        if self.child is not None:
            self.finish(self.child)

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "spawn":
            _, fds, _, _ = socket.recv_fds(self.control, 1, 1)
            if not fds:
                return {"error": "spawn came without a socket"}
            return {"pid": self.spawn(fds[0])}
        if request.get("pid") != self.child or self.child is None:
            return {"error": f"{request.get('pid')!r} is not the current child"}
        if op == "interrupt":
            try:
                os.kill(self.child, signal.SIGINT)
            except ProcessLookupError:
                return {"ok": False}
            return {"ok": True}
        if op == "finish":
            return self.finish(self.child)
        return {"error": f"unknown op {op!r}"}

    def spawn(self, fd: int) -> int:
        """Fork a child serving the runner on the socket ``fd``; return its pid."""
        if self.child is not None:
            self.finish(self.child)
        os.makedirs(self.work, exist_ok=True)
        tasks = _tasks_of_user()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                self._become_child(fd, tasks)
                code = 0
            finally:
                os._exit(code)
        os.close(fd)
        self.child = pid
        return pid

    def _become_child(self, fd: int, tasks: int) -> None:
        """In the new child: drop the template's powers, apply the limits, and serve the runner on ``fd``.

        Args:
            fd: The child's socket to the trusted side.
            tasks: Threads the user had before the fork (the template's): ``RLIMIT_NPROC`` counts them too.
        """
        self.control.close()
        os.closerange(3, fd)
        os.closerange(fd + 1, 1 << 16)
        os.setsid()
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with the template, whatever happens to it
        _prctl(_PR_SET_DUMPABLE, 1)  # the template is not dumpable; the child may be, as any process
        # Python's own defaults, except SIGXFSZ: a write past the file-size limit fails with an OSError.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for number in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limits = self.limits
        # The address space the child inherits (torch's libraries and the warm heap), plus the student's share.
        inherited = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
        for kind, value in (
            (resource.RLIMIT_AS, inherited + limits["memory_mb"] * _MB),
            (resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1)),  # SIGXCPU, then SIGKILL
            (resource.RLIMIT_FSIZE, limits["file_size_mb"] * _MB),
            (resource.RLIMIT_NPROC, tasks + limits["processes"]),
            (resource.RLIMIT_NOFILE, limits["open_files"]),
            (resource.RLIMIT_CORE, 0),
        ):
            resource.setrlimit(kind, value if isinstance(value, tuple) else (value, value))
        os.chdir(self.work)
        null = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):
            os.dup2(null, std)
        os.close(null)
        from . import runner

        runner.serve(socket.socket(fileno=fd))

    def finish(self, pid: int) -> dict[str, Any]:
        """End the child ``pid`` and everything it started; wipe the scratch folders; say how the child ended."""
        killed = False
        deadline = time.monotonic() + GRACE
        while (ended := os.wait4(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        if ended[0] == 0:
            os.kill(pid, signal.SIGKILL)
            killed = True
            ended = os.wait4(pid, 0)
        self.child = None
        self._kill_the_rest(pid)
        for folder in self.scratch:
            _wipe(folder)
        if self.isolated:
            _remove_ipc()
        return self._ending(ended[1], ended[2], killed)

    def _kill_the_rest(self, pid: int) -> None:
        """Kill what the child left running and reap it: in the template's own PID namespace, every process but
        the template (repeated until ``/proc`` shows none, fork bombs included); without one, the child's session."""
        if not self.isolated:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(-1, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
            if not any(int(p) != os.getpid() for p in os.listdir("/proc") if p.isdigit()):
                return
            time.sleep(0.001)

    def _ending(self, status: int, usage: resource.struct_rusage, killed: bool) -> dict[str, Any]:
        """How a child ended, from its wait status and rusage; ``reason`` names the limit that ended it."""
        number = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        cpu = usage.ru_utime + usage.ru_stime
        reason = None
        if not killed and (number == signal.SIGXCPU or (number == signal.SIGKILL
                                                        and cpu >= self.limits["cpu_seconds"])):
            reason = "time limit"
        return {"exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None, "signal": number,
                "cpu_seconds": round(cpu, 3), "max_rss_mb": round(usage.ru_maxrss / 1024, 1), "reason": reason}


def main(argv: list[str]) -> None:
    """Run the template: ``argv`` is ``[CONTROL_FD, CONFIG_JSON]``.

    Raises:
        RuntimeError: ``isolated`` is set but the template is not the init of a PID namespace (killing every
            process it can see would then reach outside the sandbox).
    """
    control = socket.socket(fileno=int(argv[0]))
    config = json.loads(argv[1])
    if config["isolated"] and os.getpid() != 1:
        raise RuntimeError("the template is not the init of a PID namespace of its own")
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(number, signal.SIG_IGN)
    _warm_up()
    _prctl(_PR_SET_DUMPABLE, 0)
    protocol.send(control, {"op": "ready"})
    _Template(control, config).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
