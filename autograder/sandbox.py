"""The sandbox the students' code runs in: a warm fork server inside bubblewrap.

One template process per grading worker (:mod:`autograder.kernel.forkserver`) runs inside `bubblewrap`_: it imports
torch once, warms up, and forks a fresh child for every submission, so that no submission pays for an interpreter
or ``import torch``. The trusted side talks to a child over a socket, with plain data only
(:mod:`autograder.kernel.protocol`): nothing that comes out of the sandbox is unpickled or called here.

What the sandbox sees is a list of what it may see, as Flatpak builds it, and nothing else of the host:

- ``/usr`` (with ``/bin``, ``/lib``, ``/lib64`` as on the host), the Python installation and the virtual
  environment, read-only, at their own paths; the project's packages are hidden if installed there;
- ``/opt/grader/kernel`` (:mod:`autograder.kernel`) and ``/opt/grader/lossutils_builtins.py``
  (:mod:`lossutils.grading.builtins`), read-only; never the assignment sources, the hidden tests or the course
  directory;
- ``/proc``, a minimal ``/dev``, and the only writable places: ``/tmp`` and ``/dev/shm``, two tmpfs of
  ``scratch_mb`` each, wiped after every submission;
- namespaces of its own: no network but an unconnected loopback, its own PIDs (the template is their init, which
  no signal from inside reaches), IPC, host name and cgroup view;
- an unprivileged user: as root, a uid of the sandbox's own (``setpriv``, no capabilities, ``no_new_privs``),
  otherwise the caller's uid in an unprivileged user namespace;
- a seccomp filter (``bwrap --seccomp``) refusing new namespaces and mounts, io_uring, userfaultfd, bpf, perf
  events and keyrings: a nested user namespace would let the student mount a tmpfs outside every limit.

Every submission's process is limited by :class:`Limits` (rlimits set in the child). With ``isolate=False``
(``--no-sandbox``) the same template runs as a plain subprocess with the same limits, and nothing else.

.. _bubblewrap: https://github.com/containers/bubblewrap
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from itertools import count
from pathlib import Path
from typing import Any

from autograder.kernel import protocol

__all__ = ["Child", "Ending", "Limits", "Sandbox", "SandboxUnavailable", "bubblewrap_available"]

_ROOT = Path(__file__).resolve().parents[1]  # the folder that holds the autograder and lossutils packages
_KERNEL, _BUILTINS = _ROOT / "autograder" / "kernel", _ROOT / "lossutils" / "grading" / "builtins.py"
_GRADER = "/opt/grader"
_NAMESPACES = ("--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup")
#: Seconds the trusted side waits for the template to start, to answer spawn or interrupt, and to finish a child.
_START_TIMEOUT, _REPLY_TIMEOUT, _FINISH_TIMEOUT = 120.0, 30.0, 30.0
_MB = 1 << 20
_SANDBOX_NUMBERS = count()
_NO_SANDBOX = ("Or grade with `--no-sandbox`: the students' code then runs as your own user with resource limits "
               "only, and can read the hidden tests, the solutions and your files, and reach the network.")


@dataclass(frozen=True)
class Limits:
    """What one submission's process may use; each limit applies to every child of a :class:`Sandbox`.

    Attributes:
        memory_mb: Memory the student's process may map beyond what it inherits from the warm template, in MiB
            (``RLIMIT_AS``). An allocation past it fails in the student's code: ``MemoryError``, or torch's
            ``RuntimeError: ... can't allocate memory``.
        processes: Processes and threads the student's code may run at once (``RLIMIT_NPROC``; the sandbox's user
            is its own, so only its processes count). A ``fork`` or thread past it fails with an error.
        cpu_seconds: CPU time of the student's process (``RLIMIT_CPU``): ``SIGXCPU`` ends it at the limit,
            ``SIGKILL`` one second later if it ignores that.
        file_size_mb: The largest file it may write, in MiB (``RLIMIT_FSIZE``): a write past it fails with an
            ``OSError`` (``EFBIG``).
        scratch_mb: The size of each of ``/tmp`` and ``/dev/shm`` (tmpfs), in MiB: a write that fills one fails with
            ``ENOSPC``.
        open_files: File descriptors it may hold (``RLIMIT_NOFILE``).
        output_kb: Output the runner keeps per cell, in KiB; carried here, enforced by the runner.

    Raises:
        ValueError: a limit is not a positive ``int``.

    Examples:
        >>> Limits(cpu_seconds=10).cpu_seconds
        10
        >>> Limits(memory_mb=0)
        Traceback (most recent call last):
        ...
        ValueError: memory_mb must be a positive whole number, not 0
    """

    memory_mb: int = 1024
    processes: int = 8
    cpu_seconds: int = 120
    file_size_mb: int = 64
    scratch_mb: int = 256
    open_files: int = 128
    output_kb: int = 64

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if type(value) is not int or value <= 0:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}")


@dataclass(frozen=True)
class Ending:
    """How a child ended.

    Attributes:
        exit_code: Its exit status if it exited (0: the runner returned once its socket closed), else ``None``.
        signal: The signal that ended it, else ``None``; ``SIGKILL`` also when :meth:`Child.finish` had to kill it.
        cpu_seconds: CPU time it used (user and system, the children it waited for included).
        max_rss_mb: Its peak resident memory, in MiB; the pages it shares with the template count too.
        reason: ``"time limit"`` when the CPU limit ended it; ``"sandbox died"`` when the template was gone before
            it could say (then nothing else is known); otherwise ``None``: also when ``finish`` killed it.
    """

    exit_code: int | None
    signal: int | None
    cpu_seconds: float
    max_rss_mb: float
    reason: str | None


class SandboxUnavailable(RuntimeError):
    """bubblewrap (or, as root, setpriv) is missing, or this machine refuses the namespaces the sandbox needs."""


class _TemplateLost(RuntimeError):
    """The template is gone, or did not answer in time."""


def _namespaces() -> list[str]:
    # As root a user namespace would map the sandbox's user to uid 0, for which RLIMIT_NPROC is not enforced:
    # setpriv switches to an unprivileged uid instead.
    return [*_NAMESPACES, *([] if os.geteuid() == 0 else ["--unshare-user"])]


def _system() -> list[str]:
    """bwrap arguments for the system's files: ``/usr``, and ``/bin``, ``/lib``, ``/lib64`` as on the host."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/lib", "/lib64"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    return args


def _environment(tmp: str, pythonpath: str) -> dict[str, str]:
    """The whole environment of the template (and of bubblewrap): nothing of the grader's. ``tmp`` is its home.

    ``MALLOC_ARENA_MAX``: every thread's own malloc arena would reserve 64 MiB of address space, which the memory
    limit (``RLIMIT_AS``) counts; two arenas keep a thread's cost at its stack.
    """
    return {"PYTHONPATH": pythonpath, "HOME": tmp, "TMPDIR": tmp, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0"}


def bubblewrap_available() -> bool:
    """Whether bubblewrap is installed and may create the sandbox's namespaces on this machine."""
    bwrap = shutil.which("bwrap")
    if bwrap is None or (os.geteuid() == 0 and shutil.which("setpriv") is None):
        return False
    probe = [bwrap, *_namespaces(), *_system(), "--", "/usr/bin/true"]
    done = subprocess.run(probe, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          timeout=60)
    return done.returncode == 0


# --------------------------------------------------------------------------------------------------- seccomp
# Refused with EPERM, as Flatpak refuses them: new namespaces and mounts (a nested user namespace gives mount
# rights: a tmpfs outside every limit), and kernel interfaces that exploits start from. clone3 is refused with ENOSYS
# (its flags cannot be inspected; the C library then falls back to clone), clone only with a CLONE_NEW* flag.
_DENIED = ("unshare", "setns", "mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen", "fsconfig",
           "fsmount", "fspick", "mount_setattr", "io_uring_setup", "io_uring_enter", "io_uring_register",
           "userfaultfd", "bpf", "perf_event_open", "add_key", "request_key", "keyctl", "clone", "clone3")
_SYSCALLS = {  # machine: (AUDIT_ARCH, the numbers of _DENIED in order)
    "x86_64": (0xC000003E, (272, 308, 165, 166, 155, 428, 429, 430, 431, 432, 433, 442, 425, 426, 427, 323, 321,
                            298, 248, 249, 250, 56, 435)),
    "aarch64": (0xC00000B7, (97, 268, 40, 39, 41, 428, 429, 430, 431, 432, 433, 442, 425, 426, 427, 282, 280,
                             241, 217, 218, 219, 220, 435)),
}
_CLONE_NEW = 0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_LD, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, ..., BPF_RET|K
_ALLOW, _ERRNO, _EPERM, _ENOSYS = 0x7FFF0000, 0x00050000, 1, 38


def _seccomp_program() -> bytes | None:
    """The seccomp filter as a classic BPF program (``struct sock_filter[]``), or ``None`` on another machine."""
    if platform.machine() not in _SYSCALLS:
        return None
    arch, numbers = _SYSCALLS[platform.machine()]
    number = dict(zip(_DENIED, numbers, strict=True))

    def op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("=HBBI", code, jt, jf, k)

    deny = op(_RET, _ERRNO | _EPERM)
    # seccomp_data: nr at offset 0, arch at 4, the low half of args[0] at 16 (little-endian machines).
    program = [op(_LD, 4), op(_JEQ, arch, 1, 0), op(_RET, _ERRNO | _ENOSYS), op(_LD, 0)]  # another ABI: refused
    if platform.machine() == "x86_64":
        program += [op(_JGE, 0x40000000, 0, 1), op(_RET, _ERRNO | _ENOSYS)]  # the x32 ABI
    for name in _DENIED[:-2]:
        program += [op(_JEQ, number[name], 0, 1), deny]
    program += [op(_JEQ, number["clone3"], 0, 1), op(_RET, _ERRNO | _ENOSYS)]
    program += [op(_JEQ, number["clone"], 0, 3), op(_LD, 16), op(_JSET, _CLONE_NEW, 0, 1), deny, op(_RET, _ALLOW)]
    return b"".join(program)


# --------------------------------------------------------------------------------------------------- sandbox


class Sandbox:
    """A warm template process, in bubblewrap, that forks one child per submission; also a context manager.

    Start it from a thread that lives as long as the sandbox (the main thread): bubblewrap ends with the thread that
    started it (``--die-with-parent``), and the next spawn would then start the template again. The template ends
    when its control socket closes: when the sandbox is closed, or the grader's process ends.

    Args:
        limits: The limits of every child.
        isolate: ``False`` is ``--no-sandbox``: the same template as a plain subprocess of the caller's user, with the
            same rlimits and a private scratch folder, but without bubblewrap: it sees the whole machine and the
            network, and the processes a child leaves behind are killed only if they stayed in its session.

    Examples:
        >>> with Sandbox(Limits(cpu_seconds=10)) as sandbox:
        ...     child = sandbox.spawn()
        ...     protocol.send(child.sock, {"op": "exec", "source": "print(6 * 7)"})
        ...     protocol.recv(child.sock)[0]["outputs"]
        ...     child.finish().exit_code
        [{'output_type': 'stream', 'name': 'stdout', 'text': '42\\n'}]
        0
    """

    def __init__(self, limits: Limits = Limits(), *, isolate: bool = True) -> None:
        self.limits, self.isolate = limits, isolate
        #: The uid the sandbox runs as when started by root: one of its own, so that RLIMIT_NPROC counts only its
        #: processes (a process id is unique among the running grading workers).
        self.uid = 100_000 + os.getpid() * 64 + next(_SANDBOX_NUMBERS) % 64
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._log: Any = None
        self._child: Child | None = None
        self._generation = 0
        self._lock = threading.Lock()
        self._folder: str | None = None  # --no-sandbox: the template's import path and scratch

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> float:
        """Start the template unless it is running.

        Returns:
            The seconds it took to start the template and have it warm (0.0 when it was running).

        Raises:
            SandboxUnavailable: bubblewrap (or, as root, setpriv) is missing, or could not create the sandbox.
            RuntimeError: the template failed to start; the message ends with its error output.
        """
        if self._process is not None and self._process.poll() is None:
            return 0.0
        self._stop()
        began = time.perf_counter()
        ours, theirs = socket.socketpair()
        log = tempfile.TemporaryFile()
        fds: list[int] = []
        try:
            command, env, cwd, fds = (self._bubblewrap_command if self.isolate else self._plain_command)(
                theirs.fileno())
            # A session of its own: Ctrl-C at the instructor's terminal stops the grader, which then stops this.
            self._process = subprocess.Popen(command, pass_fds=(theirs.fileno(), *fds), stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=cwd,
                                             start_new_session=True)
        except BaseException:
            ours.close()
            log.close()
            raise
        finally:
            theirs.close()
            for fd in fds:
                os.close(fd)
        self._control, self._log = ours, log
        try:
            ours.settimeout(_START_TIMEOUT)
            protocol.recv(ours)
        except (OSError, EOFError, ValueError) as err:
            log.seek(0)
            said = log.read().decode(errors="replace").strip()[-3000:] or f"({type(err).__name__})"
            self._stop()
            if said.startswith("bwrap:"):
                raise SandboxUnavailable(f"bubblewrap could not create the sandbox here: {said}\n{_NO_SANDBOX}") \
                    from None
            raise RuntimeError(f"the sandbox's template did not start:\n{said}") from None
        self._generation += 1
        return time.perf_counter() - began

    def _template(self, control: int, scratch: list[str]) -> list[str]:
        """The template's command line, after the interpreter's path."""
        config = {"limits": asdict(self.limits), "scratch": scratch, "isolated": self.isolate}
        return [sys.executable, "-B", "-m", "kernel.forkserver", str(control), json.dumps(config)]

    def _bubblewrap_command(self, control: int) -> tuple[list[str], dict[str, str], None, list[int]]:
        """The template in bubblewrap: its command, environment, working folder and the descriptors it inherits."""
        bwrap, setpriv = shutil.which("bwrap"), shutil.which("setpriv")
        if bwrap is None:
            raise SandboxUnavailable("bubblewrap is not installed: `apt-get install bubblewrap` (or `make "
                                     f"bubblewrap`) installs it on Debian and Ubuntu.\n{_NO_SANDBOX}")
        root = os.geteuid() == 0
        if root and setpriv is None:
            raise SandboxUnavailable(f"setpriv is not installed: it comes with util-linux.\n{_NO_SANDBOX}")
        size = str(self.limits.scratch_mb * _MB)
        # The template is the PID namespace's init (--as-pid-1): no signal from inside the namespace reaches it.
        args = [bwrap, *_namespaces(), "--as-pid-1", "--die-with-parent", "--new-session", *_system(),
                "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
                "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm", "--chdir", "/tmp"]
        prefixes = list(dict.fromkeys(path for prefix in (sys.base_prefix, sys.prefix)
                                      for path in (prefix, os.path.realpath(prefix))))
        binds = [(path, path) for path in prefixes]
        binds += [(str(_KERNEL), f"{_GRADER}/kernel"), (str(_BUILTINS), f"{_GRADER}/lossutils_builtins.py")]
        made: set[Path] = set()
        for source, dest in binds:
            # Every parent with mode 0755: a parent the host keeps private (/root) would stop the sandbox's user.
            for parent in reversed(Path(dest).parents[:-1]):
                if parent not in made:
                    made.add(parent)
                    args += ["--perms", "0755", "--dir", str(parent)]
            args += ["--ro-bind", source, dest]
        # An install that is not editable puts the project's packages, hidden tests included, in site-packages.
        for package in (_ROOT / "autograder", _ROOT / "lossutils"):
            if any(package.is_relative_to(prefix) for prefix in prefixes):
                args += ["--perms", "0555", "--tmpfs", str(package)]
        # The folders made above belong to the sandbox's user when it has a user namespace: read-only, all of them.
        args += ["--remount-ro", "/", "--remount-ro", "/dev"]
        fds = []
        program = _seccomp_program()
        if program is not None:
            read, write = os.pipe()
            os.write(write, program)
            os.close(write)
            args += ["--seccomp", str(read)]
            fds.append(read)
        args.append("--")
        if root:
            args += [setpriv, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--inh-caps=-all",
                     "--bounding-set=-all", "--no-new-privs"]
        return args + self._template(control, ["/tmp", "/dev/shm"]), _environment("/tmp", _GRADER), None, fds

    def _plain_command(self, control: int) -> tuple[list[str], dict[str, str], str, list[int]]:
        """``--no-sandbox``: the template's command, environment and working folder (a private one)."""
        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="autograder-sandbox-")
            os.symlink(_KERNEL, os.path.join(self._folder, "kernel"))
            os.symlink(_BUILTINS, os.path.join(self._folder, "lossutils_builtins.py"))
            os.mkdir(os.path.join(self._folder, "scratch"))
        scratch = os.path.join(self._folder, "scratch")
        return self._template(control, [scratch]), _environment(scratch, self._folder), scratch, []

    def spawn(self) -> Child:
        """A fresh child of the template, serving :func:`kernel.runner.serve` on :attr:`Child.sock`.

        The previous child, if it was not finished, is finished first. A template that died (no signal from inside
        the sandbox reaches it, but it may have crashed or been killed from outside) is started again, once.

        Raises:
            SandboxUnavailable: as :meth:`start`.
            RuntimeError: the template could not be started, or failed twice in a row.
        """
        if self._child is not None:
            self._child.finish()
        try:
            return self._spawn()
        except _TemplateLost:
            return self._spawn()

    def _spawn(self) -> Child:
        self.start()
        ours, theirs = socket.socketpair()
        try:
            reply = self._request({"op": "spawn"}, _REPLY_TIMEOUT, attached=theirs)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._child = Child(self, ours, int(reply["pid"]), self._generation)
        return self._child

    def _request(self, message: dict[str, Any], timeout: float, attached: socket.socket | None = None
                 ) -> dict[str, Any]:
        """Send a control request, with ``attached`` passed along as a file descriptor, and return the reply.

        Raises:
            _TemplateLost: the template is gone or did not answer in ``timeout`` seconds; it is stopped.
            RuntimeError: the template refused the request.
        """
        with self._lock:
            if self._control is None:
                raise _TemplateLost("the template is not running")
            try:
                self._control.settimeout(timeout)
                protocol.send(self._control, message)
                if attached is not None:
                    socket.send_fds(self._control, [b"\0"], [attached.fileno()])
                reply, _ = protocol.recv(self._control)
            except (OSError, EOFError, ValueError, protocol.FrameTooLarge) as err:
                self._stop()
                raise _TemplateLost(f"the template did not answer {message['op']}: {type(err).__name__}") from err
        if "error" in reply:
            raise RuntimeError(f"the sandbox's template refused {message['op']}: {reply['error']}")
        return reply

    def _stop(self) -> None:
        """Stop the template, if any: closing its control socket ends it, and with it everything in the sandbox.
        One that does not end in a few seconds (stuck) is killed."""
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                # In bubblewrap the template is bubblewrap's only child; as its PID namespace's init, it takes every
                # process of the sandbox along (it does not die with bubblewrap: setpriv's change of user cancels
                # --die-with-parent).
                pid = self._process.pid
                with contextlib.suppress(OSError, ValueError):
                    for template in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
                        os.kill(int(template), signal.SIGKILL)
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        """Finish the current child and stop the template. Idempotent; :meth:`spawn` starts it again."""
        if self._child is not None:
            self._child.finish()
        self._stop()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


class Child:
    """One submission's process in the sandbox (made by :meth:`Sandbox.spawn`).

    Attributes:
        sock: Connected to :func:`kernel.runner.serve` in the child; blocking until the caller sets a timeout.
        pid: The child's pid in the sandbox's PID namespace.
    """

    def __init__(self, sandbox: Sandbox, sock: socket.socket, pid: int, generation: int) -> None:
        self.sock, self.pid = sock, pid
        self._sandbox, self._generation = sandbox, generation
        self._ending: Ending | None = None

    def _alive_template(self) -> bool:
        return self._sandbox._generation == self._generation and self._sandbox._control is not None

    def interrupt(self) -> None:
        """Send ``SIGINT``: the student's code gets a ``KeyboardInterrupt``, unless it ignores the signal.

        Does nothing once the child is finished or its template is gone.
        """
        if self._ending is None and self._alive_template():
            with contextlib.suppress(_TemplateLost):
                self._sandbox._request({"op": "interrupt", "pid": self.pid}, _REPLY_TIMEOUT)

    def finish(self) -> Ending:
        """End the child and every process it started, wipe the scratch folders, and say how the child ended.

        The socket is closed first, so that a child waiting for a request exits by itself (``exit_code`` 0); one
        still running a moment later (:data:`kernel.forkserver.GRACE`) is killed. Idempotent.

        Raises:
            RuntimeError: the template refused (this child is not its current one).
        """
        if self._ending is None:
            self.sock.close()
            try:
                if not self._alive_template():
                    raise _TemplateLost("the template that made this child is gone")
                reply = self._sandbox._request({"op": "finish", "pid": self.pid}, _FINISH_TIMEOUT)
                self._ending = Ending(
                    exit_code=None if reply["exit_code"] is None else int(reply["exit_code"]),
                    signal=None if reply["signal"] is None else int(reply["signal"]),
                    cpu_seconds=float(reply["cpu_seconds"]), max_rss_mb=float(reply["max_rss_mb"]),
                    reason=None if reply["reason"] is None else str(reply["reason"]))
            except (_TemplateLost, RuntimeError, KeyError, TypeError, ValueError):
                # A template that cannot clean up after a child is not trusted with the next one: it is stopped,
                # and the next spawn starts a fresh template.
                self._sandbox._stop()
                self._ending = Ending(exit_code=None, signal=None, cpu_seconds=0.0, max_rss_mb=0.0,
                                      reason="sandbox died")
        return self._ending

