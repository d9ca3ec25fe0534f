"""Hostile submissions through the real path (release -> submission -> grade -> gradebook -> CSV), one per kind of
attack. Each submission's functions call the torch built-ins or are plainly wrong, so any attack that worked would
show as points it did not earn; the others try to reach what the sandbox hides or to exhaust what it limits.

Every test fails when its boundary is taken away: with the hidden tests in the student's process (nbgrader's own
Execute), the tampering submissions earn full marks; without bubblewrap, the file, network and process tests fail.
"""

from __future__ import annotations

import csv
import html
import re
import socket
import subprocess
import threading
from pathlib import Path

import nbformat
import pytest
from conftest import autograder, marked_lines, points_per_function, solution_bodies, submit, with_solutions
from submissions.loss_family import BUILTIN_CALLERS

from autograder.feedback import MATHJAX_BUNDLE, mathjax_source

pytestmark = pytest.mark.slow

ASSIGNMENT = "loss_family"
CELL_TIMEOUT = 5

#: Every function of the assignment calls its torch built-in (the 0-1 loss goes through F.l1_loss).
BUILTINS = BUILTIN_CALLERS

WRONG_MSE = """def mse_loss(input, target, reduction="mean"):
    loss = (input - target).abs()
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()
"""


def tampering(prelude: str, functions: dict[str, str] = BUILTINS) -> dict[str, str]:
    """Submissions whose first solution cell runs ``prelude`` (errors swallowed) before defining ``functions``."""
    body = "".join(f"    {line}\n" for line in prelude.strip().splitlines())
    guarded = f"try:\n{body}except Exception:\n    pass\n"
    cells = dict(functions)
    first = next(iter(cells))
    cells[first] = guarded + cells[first]
    return cells


REPLACE_CHECKS = """import lossutils, lossutils.grading.checks
for name in dir(lossutils):
    if name.startswith("check_"):
        setattr(lossutils, name, lambda *a, **k: None)
        setattr(lossutils.grading.checks, name, lambda *a, **k: None)
"""
REPLACE_DETECTOR = """import torch.overrides, lossutils_builtins
torch.overrides.TorchFunctionMode.__torch_function__ = lambda self, f, t, a=(), k=None: f(*a, **(k or {}))
lossutils_builtins.call_recording_torch = lambda fn, *a, forbidden=(), **k: (fn(*a, **k), [])
"""
REWRITE_CELLS = """ip = get_ipython()
ip.input_transformers_post.append(lambda lines: [l for l in lines if "check_" not in l])
"""
SWALLOW = """import sys, torch, torch.testing
sys.excepthook = lambda *a: None
get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)
torch.allclose = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
"""
DISPATCHER = {
    "mse_loss": """import torch
def mse_loss(input, target, reduction="mean"):
    return torch.ops.aten.mse_loss.default(input, target, {"none": 0, "mean": 1, "sum": 2}[reduction])
""",
    "l1_loss": """import torch
import torch.nn.functional as F
def l1_loss(input, target, reduction="mean"):
    with torch._C.DisableTorchFunction():
        return F.l1_loss(input, target, reduction=reduction)
""",
    "huber_loss": """import torch
def huber_loss(input, target, reduction="mean", delta=1.0):
    return torch._C._nn.huber_loss(input, target, {"none": 0, "mean": 1, "sum": 2}[reduction], delta)
""",
}
READ_SOURCES = """import importlib.util, pathlib, sys
found = []
for root in {"/work", "/work/main", "/opt", "/tmp", "/root", *sys.path}:
    base = pathlib.Path(root)
    candidates = [base / "autograder/assignments/loss_family/loss_family.md", base / "loss_family.md"]
    candidates += list(base.glob("*/*/loss_family.md")) if base.is_dir() else []
    for path in candidates:
        if path.exists():
            found.append(str(path))
            print(path.read_text())
print("autograder package:", importlib.util.find_spec("autograder"))
print("found:", found)
"""


def write_outside(course: Path) -> str:
    return f"""import sqlite3
db = sqlite3.connect({str(course / 'gradebook.db')!r})
db.execute("CREATE TABLE pwned (x)")
db.commit()
open({str(course / 'pwned.txt')!r}, "w").write("pwned")
open("/tmp/../pwned-root.txt", "w").write("pwned")
"""


def network(port: int) -> str:
    return f"""import socket
socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"leak")
"""


MEMORY = """import torch
def l1_loss(input, target, reduction="mean"):
    hog = torch.ones(64 * 1024**3 // 4)  # 64 GiB
    return hog.sum()
"""
PROCESSES = """import os, threading, time
def l1_loss(input, target, reduction="mean"):
    threads = [threading.Thread(target=time.sleep, args=(30,), daemon=True) for _ in range(10000)]
    for t in threads:
        t.start()
    loss = (input - target).abs()
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()
"""
DISK = """def l1_loss(input, target, reduction="mean"):
    with open("big.bin", "wb") as handle:
        for _ in range(4096):
            handle.write(b"x" * 1024 * 1024)
    loss = (input - target).abs()
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()
"""
FLOOD = """def l1_loss(input, target, reduction="mean"):
    print("x" * 50_000_000)
    loss = (input - target).abs()
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()
"""
LEFT_RUNNING = """import subprocess
subprocess.Popen(["sleep", "31337"], start_new_session=True)
subprocess.Popen(["sh", "-c", "(setsid sleep 31338 &) ; exit 0"])
"""
IGNORES_INTERRUPTS = """import signal
def l1_loss(input, target, reduction="mean"):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pass
"""
FLAGGED = """import ctypes
import gc
"""
SWAP_DETECTOR = """class _Off:
    class BuiltinCalled(Exception):
        pass
    @staticmethod
    def call_recording_torch(fn, *a, forbidden=(), **k):
        return fn(*a, **k), []
getattr(display, "__globals__")["_detector"] = _Off
"""
LAZY_RESULT = """import torch
import torch.nn.functional as F
import traceback
class Lazy(torch.nn.Parameter):
    def detach(self):
        return F.mse_loss(*self.args)
def mse_loss(input, target, reduction="mean"):
    if not any(frame.name == "call_recording_torch" for frame in traceback.extract_stack()):
        return F.mse_loss(input, target, reduction=reduction)  # the visible asserts, where nothing detects
    out = torch.zeros(()).as_subclass(Lazy)
    out.args = (input.detach(), target.detach(), reduction)
    return out
"""
DEEP_SCRATCH = """import os
for _ in range(1500):
    os.mkdir("a")
    os.chdir("a")
"""
SHARED_MEMORY = """import ctypes
libc = ctypes.CDLL(None)
segment = libc.shmget(31337, 1 << 20, 0o1666)
"""
READ_SHARED_MEMORY = """import ctypes
leftover = ctypes.CDLL(None).shmget(31337, 0, 0)
assert leftover == -1, "a segment of the student before is still there"
"""
OWN_INTERRUPT = """def l1_loss(input, target, reduction="mean"):
    raise KeyboardInterrupt("not a timeout")
"""
SCRIPT = "<script>alert('feedback')</script>"



class _Listener:
    """A TCP server on the host's loopback that records whether anything connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()


@pytest.fixture(scope="module")
def listener() -> _Listener:
    return _Listener()


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory, listener: _Listener) -> Path:
    course_dir = tmp_path_factory.mktemp("attacks")
    assert autograder("release", ASSIGNMENT, "--course-dir", str(course_dir)).returncode == 0
    (released,) = (course_dir / "release" / ASSIGNMENT).glob("*.ipynb")
    solved = solution_bodies(ASSIGNMENT)
    submissions = {
        "replace-checks": tampering(REPLACE_CHECKS),
        "replace-detector": tampering(REPLACE_DETECTOR),
        "rewrite-cells": tampering(REWRITE_CELLS),
        "swallow-errors": tampering(SWALLOW, {"zero_one_loss": solved["zero_one_loss"], "mse_loss": WRONG_MSE}),
        "dispatcher": DISPATCHER,
        "read-sources": tampering(READ_SOURCES, {"zero_one_loss": solved["zero_one_loss"]}),
        "write-outside": tampering(write_outside(course_dir), {"zero_one_loss": solved["zero_one_loss"]}),
        "network": tampering(network(listener.port), {"zero_one_loss": solved["zero_one_loss"]}),
        "memory": {"l1_loss": MEMORY},
        "processes": {"l1_loss": PROCESSES},
        "disk": {"l1_loss": DISK},
        "flood": {"l1_loss": FLOOD},
        "left-running": tampering(LEFT_RUNNING, {"zero_one_loss": solved["zero_one_loss"]}),
        "ignores-interrupts": {"l1_loss": IGNORES_INTERRUPTS},
        "flagged": tampering(FLAGGED, {"zero_one_loss": solved["zero_one_loss"]}),
        "swap-detector": tampering(SWAP_DETECTOR),
        "lazy-result": {"mse_loss": LAZY_RESULT},
        "deep-scratch": tampering(DEEP_SCRATCH, {"zero_one_loss": solved["zero_one_loss"]}),
        "shm-a-writes": tampering(SHARED_MEMORY, {"zero_one_loss": solved["zero_one_loss"]}),
        "shm-b-reads": {"zero_one_loss": READ_SHARED_MEMORY + solved["zero_one_loss"]},
        "own-interrupt": {"l1_loss": OWN_INTERRUPT},
        "script-in-markdown": {},
        "solution": {},
    }
    for student, cells in submissions.items():
        notebook = with_solutions(released, cells)
        if student == "script-in-markdown":
            notebook.cells.append(nbformat.v4.new_markdown_cell(SCRIPT))
        submit(course_dir, student, released, notebook)
    return course_dir


@pytest.fixture(scope="module")
def graded(course: Path) -> dict:
    grade = autograder("grade", ASSIGNMENT, "--course-dir", str(course), "--timeout", str(CELL_TIMEOUT))
    output = course / "grades.csv"
    assert autograder("export", "--course-dir", str(course), "--output", str(output)).returncode == 0
    with output.open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    return {"grade": grade, "rows": rows}


def scores(row: dict[str, str]) -> dict[str, float]:
    return {f: float(row[f]) for f in points_per_function(ASSIGNMENT)}


def full(*functions: str) -> dict[str, float]:
    points = points_per_function(ASSIGNMENT)
    return {f: points[f] for f in functions}


def feedback_text(course: Path, student: str) -> str:
    (page,) = (course / "feedback" / student / ASSIGNMENT).glob("*.html")
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def test_the_batch_goes_on_and_the_solution_earns_full_marks(graded: dict) -> None:
    row = graded["rows"]["solution"]
    assert (row["status"], scores(row)) == ("graded", points_per_function(ASSIGNMENT))


@pytest.mark.parametrize("student", ["replace-checks", "replace-detector", "rewrite-cells"])
def test_tampering_with_the_checks_or_the_detector_earns_nothing(graded: dict, student: str) -> None:
    assert set(scores(graded["rows"][student]).values()) == {0.0}


def test_patching_the_comparisons_and_swallowing_errors_does_not_pass_a_wrong_function(graded: dict) -> None:
    got = scores(graded["rows"]["swallow-errors"])
    assert got["mse_loss"] == 0, "every check of the wrong mse_loss fails on the trusted side"
    assert got["zero_one_loss"] == full("zero_one_loss")["zero_one_loss"]


def test_the_builtin_by_the_dispatcher_or_the_raw_binding_earns_nothing(graded: dict) -> None:
    got = scores(graded["rows"]["dispatcher"])
    assert {f: got[f] for f in DISPATCHER} == dict.fromkeys(DISPATCHER, 0.0)


def test_the_sandbox_cannot_read_solutions_or_hidden_tests(course: Path, graded: dict) -> None:
    text = feedback_text(course, "read-sources")
    assert "found: []" in text and "autograder package: None" in text
    hidden = [line for line in marked_lines("HIDDEN TESTS") if not line.startswith("from lossutils import")]
    assert [line for line in hidden if line in text] == []


def test_the_sandbox_cannot_write_the_gradebook_or_outside_its_scratch(course: Path, graded: dict) -> None:
    import sqlite3

    tables = {row[0] for row in sqlite3.connect(course / "gradebook.db").execute(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    assert "pwned" not in tables
    assert not (course / "pwned.txt").exists()
    assert not Path("/pwned-root.txt").exists()
    assert scores(graded["rows"]["write-outside"])["zero_one_loss"] == full("zero_one_loss")["zero_one_loss"]


def test_the_sandbox_has_no_network(graded: dict, listener: _Listener) -> None:
    assert listener.connections == 0
    assert graded["rows"]["network"]["status"] == "graded"


def test_a_memory_hog_gets_its_status_and_loses_only_its_function(graded: dict) -> None:
    row = graded["rows"]["memory"]
    assert row["status"] == "memory limit"
    got = scores(row)
    assert got.pop("l1_loss") == 0
    assert got == full("zero_one_loss", "mse_loss", "smooth_l1_loss", "huber_loss")


@pytest.mark.parametrize("student", ["processes", "disk"])
def test_processes_and_disk_are_limited_and_cost_only_their_function(graded: dict, student: str) -> None:
    got = scores(graded["rows"][student])
    assert got.pop("l1_loss") < full("l1_loss")["l1_loss"]
    assert got == full("zero_one_loss", "mse_loss", "smooth_l1_loss", "huber_loss")


def test_an_output_flood_gets_its_status(course: Path, graded: dict) -> None:
    row = graded["rows"]["flood"]
    assert row["status"] == "output limit"
    assert scores(row)["zero_one_loss"] == full("zero_one_loss")["zero_one_loss"]
    (page,) = (course / "feedback" / "flood" / ASSIGNMENT).glob("*.html")
    inlined = len(mathjax_source(MATHJAX_BUNDLE).encode())  # every page carries MathJax
    assert page.stat().st_size - inlined < 1_000_000, "each cell's output is cut at the limit"


def test_no_process_outlives_its_submission(graded: dict) -> None:
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "sleep 31337" not in processes and "sleep 31338" not in processes


def test_a_cell_that_ignores_interrupts_ends_in_a_time_limit(graded: dict) -> None:
    row = graded["rows"]["ignores-interrupts"]
    assert row["status"] == "time limit"
    got = scores(row)
    assert got["l1_loss"] == 0
    assert {f: got[f] for f in ("zero_one_loss", "mse_loss")} == full("zero_one_loss", "mse_loss")


def test_code_that_reaches_for_the_grader_is_flagged_for_review(graded: dict) -> None:
    flagged = graded["rows"]["flagged"]
    assert "flagged for review" in flagged["review"] and "ctypes" in flagged["review"]
    assert flagged["status"] == "graded"
    assert graded["rows"]["solution"]["review"] == ""
    line = next(out for out in graded["grade"].stdout.splitlines() if out.startswith("flagged"))
    assert "flagged for review" in line and "import ctypes" in line


def test_switching_the_detector_off_in_the_sandbox_is_flagged_for_review(graded: dict) -> None:
    """The detector shares the student's process: code that reaches its globals can switch it off. The source
    that does is flagged, so the instructor sees it beside the score."""
    row = graded["rows"]["swap-detector"]
    assert "flagged for review" in row["review"] and "__globals__" in row["review"]


def test_a_result_that_computes_itself_after_the_call_earns_nothing(graded: dict) -> None:
    """A tensor subclass whose detach() calls the built-in would run after the detector stopped: only plain
    tensors cross, so the check sees an object, not a tensor."""
    assert scores(graded["rows"]["lazy-result"])["mse_loss"] == 0


def test_a_scratch_folder_nested_thousands_deep_does_not_stop_the_batch(graded: dict) -> None:
    assert graded["rows"]["deep-scratch"]["status"] == "graded"
    assert graded["rows"]["flagged"]["status"] == "graded", "the students after it are graded too"
    assert scores(graded["rows"]["solution"]) == points_per_function(ASSIGNMENT)


def test_shared_memory_does_not_outlive_its_submission(graded: dict) -> None:
    """shm-a-writes leaves a System V segment; shm-b-reads, graded right after, must not find it."""
    assert scores(graded["rows"]["shm-b-reads"])["zero_one_loss"] == full("zero_one_loss")["zero_one_loss"]


def test_a_keyboard_interrupt_the_student_raises_is_an_error_not_a_timeout(graded: dict) -> None:
    row = graded["rows"]["own-interrupt"]
    assert row["status"] == "graded"
    assert scores(row)["l1_loss"] == 0


def test_feedback_never_carries_the_students_script(course: Path, graded: dict) -> None:
    """A markdown cell of the student's is rendered as HTML in the feedback: it is sanitized first."""
    (page,) = (course / "feedback" / "script-in-markdown" / ASSIGNMENT).glob("*.html")
    assert SCRIPT not in page.read_text()
