"""The sandbox: each test runs a hostile cell in a child and shows that one boundary holds.

Run with ``-s`` to see the measured start and spawn times and the memory of the template and a child.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from autograder.kernel import protocol
from autograder.sandbox import Child, Limits, Sandbox, bubblewrap_available

pytestmark = pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot create a sandbox here")

ROOT = Path(__file__).resolve().parents[1]
LIMITS = Limits(memory_mb=512, processes=12, cpu_seconds=2, file_size_mb=4, scratch_mb=16, open_files=48)


@pytest.fixture(scope="module")
def sandbox() -> Any:
    box = Sandbox(LIMITS)
    print(f"\ntemplate start (bwrap, python, import torch, warm-up): {box.start():.2f} s")
    yield box
    box.close()


@pytest.fixture
def child(sandbox: Sandbox) -> Any:
    child = sandbox.spawn()
    yield child
    child.finish()


def run(child: Child, source: str, timeout: float = 30) -> tuple[str, dict[str, Any] | None]:
    """Run a cell in ``child``: what it printed, and its error (``None`` if it raised nothing)."""
    child.sock.settimeout(timeout)
    protocol.send(child.sock, {"op": "exec", "source": textwrap.dedent(source)})
    reply, _ = protocol.recv(child.sock)
    return "".join(out.get("text", "") for out in reply["outputs"] if out["output_type"] == "stream"), \
        reply.get("error")


def ok(child: Child, source: str) -> str:
    """Run a cell that must not raise; return what it printed."""
    printed, error = run(child, source)
    assert error is None, error
    return printed


def host_processes() -> str:
    return subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout


# ------------------------------------------------------------------------------------------------ performance


def test_a_child_is_forked_warm_in_milliseconds(sandbox: Sandbox) -> None:
    times = []
    for _ in range(5):
        began = time.perf_counter()
        child = sandbox.spawn()
        times.append(time.perf_counter() - began)
        assert child.finish().exit_code == 0
    child = sandbox.spawn()
    printed = ok(child, """
        import os, sys, torch
        def kb(path, key):
            return int(next(line.split()[1] for line in open(path) if line.startswith(key + ":")))
        print("torch" in sys.modules, torch.get_num_threads())
        print(kb(f"/proc/{os.getppid()}/status", "VmRSS"), kb("/proc/self/status", "VmRSS"),
              kb("/proc/self/smaps_rollup", "Private_Clean") + kb("/proc/self/smaps_rollup", "Private_Dirty"))
    """)
    warm, memory = printed.splitlines()
    template_kb, child_kb, private_kb = map(int, memory.split())
    print(f"\nspawn: median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms; RSS: template "
          f"{template_kb / 1024:.0f} MiB, child {child_kb / 1024:.0f} MiB of which {private_kb / 1024:.1f} MiB private")
    assert warm == "True 1"
    assert statistics.median(times) < 0.5, "a spawn should cost a fork, not an interpreter and import torch (~1 s)"
    assert child.finish().exit_code == 0


# -------------------------------------------------------------------------------------------------- isolation


def test_the_network_is_unreachable(child: Child) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        printed = ok(child, f"""
            import socket
            print(socket.if_nameindex())
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=5)
            except OSError as err:
                print(type(err).__name__)
        """)
    assert printed.splitlines() == ["[(1, 'lo')]", "ConnectionRefusedError"]


def test_the_project_and_the_course_directory_are_invisible(child: Child, tmp_path: Path) -> None:
    marker = tmp_path / "course" / "source" / "marker.txt"
    marker.parent.mkdir(parents=True)
    marker.write_text("hidden tests")
    paths = [ROOT / "autograder", ROOT / "autograder" / "assignments", ROOT / "lossutils", marker, marker.parent,
             Path.home() / ".bashrc"]
    printed = ok(child, f"""
        import importlib.util, os
        print([os.path.exists(p) for p in {[str(p) for p in paths]!r}])
        print(importlib.util.find_spec("autograder"), importlib.util.find_spec("lossutils"))
        print(sorted({{"etc", "home", "var", "srv", "mnt", "sys"}} & set(os.listdir("/"))))
    """)
    assert printed.splitlines() == [str([False] * len(paths)), "None None", "[]"]


def test_only_the_scratch_folders_are_writable_and_they_are_wiped_for_the_next_child(sandbox: Sandbox) -> None:
    first = sandbox.spawn()
    printed = ok(first, f"""
        failed = []
        for folder in ["/", "/usr", "/opt/grader/kernel", {sys.prefix!r}, {sys.base_prefix!r}, "/root", "/proc/1"]:
            try:
                open(folder + "/written.txt", "w").close()
            except OSError:
                failed.append(folder)
        for path in ["/tmp/left.txt", "/dev/shm/left.txt", "left.txt"]:
            open(path, "w").write("from the first child")
        print(len(failed))
    """)
    assert printed == "7\n"
    first.finish()
    second = sandbox.spawn()
    try:
        printed = ok(second, 'import os; print(sorted(os.listdir("/tmp")), os.listdir("."), os.listdir("/dev/shm"))')
    finally:
        second.finish()
    # where the project itself lives in /tmp, its interpreter is bound there, read-only
    bound = {path.split("/")[2] for path in (sys.prefix, sys.base_prefix) if path.startswith("/tmp/")}
    assert printed == f"{sorted({'work'} | bound)} [] []\n"


def test_the_template_cannot_be_read_or_traced_by_a_child(child: Child) -> None:
    _, error = run(child, "import os; open(f'/proc/{os.getppid()}/environ').read()")
    assert error is not None and error["ename"] == "PermissionError"
    printed = ok(child, """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        print(libc.ptrace(16, os.getppid(), 0, 0), ctypes.get_errno())  # PTRACE_ATTACH
    """)
    assert printed == "-1 1\n"


def test_a_child_holds_no_descriptor_but_its_own_socket(child: Child) -> None:
    printed = ok(child, """
        import os
        links = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                links.append(os.readlink(f"/proc/self/fd/{fd}").split(":")[0])
            except OSError:
                pass  # the descriptor of the listing itself, closed by now
        print(sorted(links))
    """)
    assert printed == str(["/dev/null"] * 3 + ["socket"]) + "\n"  # not the template's control socket


def test_no_namespace_can_be_created_inside(child: Child) -> None:
    printed = ok(child, """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        print(libc.unshare(0x10000000), ctypes.get_errno())  # CLONE_NEWUSER: mount rights in a namespace of one's own
    """)
    assert printed == "-1 1\n"


# ----------------------------------------------------------------------------------------------------- limits


def test_a_memory_hog_gets_an_error_and_the_next_child_works(sandbox: Sandbox) -> None:
    hog = sandbox.spawn()
    errors = [run(hog, source)[1] for source in (
        "import torch; x = torch.ones(2**28)",  # 1 GiB: fine for the machine, twice the limit
        "import torch; chunks = [torch.ones(2**24) for _ in range(1000)]",
        "import torch; x = torch.empty(50 * 2**30, dtype=torch.uint8)",
        "x = bytearray(50 * 2**30)",
        "import mmap; m = mmap.mmap(-1, 2**30)",  # shared memory: RLIMIT_DATA would not count it
    )]
    assert [error and error["ename"] for error in errors] == ["RuntimeError"] * 3 + ["MemoryError", "OSError"]
    assert all("allocate memory" in error["evalue"] for error in errors[:3])
    assert ok(hog, "print(len(bytearray(2**20)))") == "1048576\n"
    assert hog.finish().exit_code == 0
    after = sandbox.spawn()
    assert ok(after, "import torch; print(torch.ones(2**20).sum().item())") == "1048576.0\n"
    after.finish()


def test_a_fork_bomb_is_stopped_by_the_process_limit(child: Child) -> None:
    printed = ok(child, """
        import os, time
        made, stopped = 0, None
        try:
            while made < 200:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                made += 1
        except OSError as err:
            stopped = err.errno
        print(made, stopped)
    """)
    made, stopped = printed.split()
    assert int(made) < LIMITS.processes and stopped == "11"  # EAGAIN


def test_a_thread_bomb_is_stopped_by_the_process_limit(child: Child) -> None:
    printed = ok(child, """
        import threading, time
        threads, stopped = [], None
        try:
            while len(threads) < 200:
                threads.append(threading.Thread(target=time.sleep, args=(60,), daemon=True))
                threads[-1].start()
        except RuntimeError as err:
            threads.pop()
            stopped = str(err)
        print(len(threads), stopped)
    """)
    assert int(printed.split()[0]) < LIMITS.processes and "can't start new thread" in printed


def test_a_cpu_spin_is_ended_by_the_time_limit(child: Child) -> None:
    with pytest.raises((EOFError, ConnectionError)):
        run(child, "while True: pass", timeout=LIMITS.cpu_seconds + 10)
    ending = child.finish()
    assert (ending.reason, ending.signal) == ("time limit", signal.SIGXCPU)
    assert ending.cpu_seconds > LIMITS.cpu_seconds - 0.2  # rusage is sampled: it may fall a little short


def test_a_spin_that_ignores_sigxcpu_is_killed_a_second_later(child: Child) -> None:
    with pytest.raises((EOFError, ConnectionError)):
        run(child, "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass",
            timeout=LIMITS.cpu_seconds + 10)
    ending = child.finish()
    assert (ending.reason, ending.signal) == ("time limit", signal.SIGKILL)


def test_a_huge_file_write_fails_at_the_file_size_limit(child: Child) -> None:
    printed, error = run(child, """
        import os
        try:
            with open("big.bin", "wb") as file:
                file.write(bytes(5 * 2**20))
        finally:
            print(os.path.getsize("big.bin"))
    """)
    assert error is not None and "File too large" in error["evalue"]
    assert printed == f"{LIMITS.file_size_mb * 2**20}\n"


def test_the_scratch_space_is_limited(child: Child) -> None:
    _, error = run(child, """
        for n in range(20):  # 60 MiB in files below the file-size limit
            with open(f"/tmp/part{n}.bin", "wb") as file:
                file.write(bytes(3 * 2**20))
    """)
    assert error is not None and "No space left on device" in error["evalue"]


def test_open_files_are_limited(child: Child) -> None:
    _, error = run(child, "files = [open('/dev/null') for _ in range(1000)]")
    assert error is not None and "Too many open files" in error["evalue"]


# ---------------------------------------------------------------------------------------------------- cleanup


def test_processes_left_behind_are_gone_after_finish(sandbox: Sandbox) -> None:
    first = sandbox.spawn()
    plain, detached = (f"{random.randrange(10**6, 10**7)}.5" for _ in range(2))
    ok(first, f"""
        import os, subprocess
        subprocess.Popen(["sleep", "{plain}"])
        middle = os.fork()
        if middle == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/usr/bin/sleep", ["sleep", "{detached}"])
            os._exit(0)
        os.waitpid(middle, 0)
    """)
    time.sleep(0.2)
    assert f"sleep {plain}" in host_processes() and f"sleep {detached}" in host_processes()
    first.finish()
    assert f"sleep {plain}" not in host_processes() and f"sleep {detached}" not in host_processes()
    second = sandbox.spawn()
    try:
        printed = ok(second, """
            import os
            print(sorted(set(map(int, filter(str.isdigit, os.listdir("/proc")))) - {1, os.getppid(), os.getpid()}))
        """)
    finally:
        second.finish()
    assert printed == "[]\n"


def test_an_interrupt_reaches_the_cell_as_a_keyboard_interrupt(child: Child) -> None:
    protocol.send(child.sock, {"op": "exec", "source": "import time; time.sleep(30)"})
    time.sleep(0.2)
    child.interrupt()
    child.sock.settimeout(5)
    reply, _ = protocol.recv(child.sock)
    assert reply["error"]["ename"] == "KeyboardInterrupt"


def test_a_child_that_ignores_sigint_can_still_be_finished(child: Child) -> None:
    source = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: time.sleep(0.01)"
    protocol.send(child.sock, {"op": "exec", "source": source})
    time.sleep(0.2)
    child.interrupt()
    child.sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        protocol.recv(child.sock)
    began = time.monotonic()
    ending = child.finish()
    assert (ending.signal, ending.reason) == (signal.SIGKILL, None)
    assert time.monotonic() - began < 5


def test_a_child_cannot_kill_the_template(sandbox: Sandbox) -> None:
    killer = sandbox.spawn()
    printed = ok(killer, """
        import os, signal
        for number in (signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV, signal.SIGSTOP):
            os.kill(os.getppid(), number)  # the template: pid 1, the init of the sandbox's PID namespace
        print(os.getppid())
    """)
    assert printed == "1\n"
    assert killer.finish().exit_code == 0
    after = sandbox.spawn()
    try:
        assert ok(after, "print(6 * 7)") == "42\n"
    finally:
        assert after.finish().exit_code == 0


def test_a_template_that_died_is_started_again_by_the_next_spawn(sandbox: Sandbox) -> None:
    victim = sandbox.spawn()
    bubblewrap = sandbox._process.pid
    template = int(Path(f"/proc/{bubblewrap}/task/{bubblewrap}/children").read_text())
    os.kill(template, signal.SIGKILL)  # from outside the sandbox: what no child can do
    sandbox._process.wait(timeout=10)  # bubblewrap returns once its namespace is empty
    with pytest.raises((EOFError, ConnectionError)):
        run(victim, "print(1)")
    assert victim.finish().reason == "sandbox died"
    after = sandbox.spawn()
    try:
        assert ok(after, "print(6 * 7)") == "42\n"
    finally:
        assert after.finish().exit_code == 0


# ------------------------------------------------------------------------------------------------ --no-sandbox


def test_without_the_sandbox_the_limits_still_apply_and_the_scratch_is_private() -> None:
    with Sandbox(LIMITS, isolate=False) as plain:
        first = plain.spawn()
        printed = ok(first, """
            import os, resource
            open("left.txt", "w").close()
            print(resource.getrlimit(resource.RLIMIT_CPU), os.getuid(), "autograder-sandbox-" in os.getcwd())
        """)
        assert printed == f"(2, 3) {os.getuid()} True\n"
        assert first.finish().exit_code == 0
        second = plain.spawn()
        assert ok(second, "import os; print(os.listdir('.'))") == "[]\n"
        second.finish()
