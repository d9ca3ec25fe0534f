"""The instructor's command line: a wrong argument gets one clear line and exit status 2, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.cli import main


@pytest.mark.parametrize(("argv", "says"), [
    (["grade", "loss_famly"], "did you mean 'loss_family'?"),
    (["grade", "loss_family", "--memory-mb", "0"], "--memory-mb: must be between 1 and"),
    (["grade", "loss_family", "--cpu-seconds", "1e20"], "--cpu-seconds: must be a whole number"),
    (["grade", "loss_family", "--timeout", "abc"], "--timeout: must be a whole number"),
    (["grade", "loss_family", "--workers", "0"], "--workers: must be between 1 and"),
    (["grade", "loss_family", "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "not allowed with"),
    (["export", "--db-url", "::not a url"], "--db-url: not a database URL"),
])
def test_a_wrong_argument_is_told_in_one_line_with_status_2(
    argv: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    course = tmp_path / "course"
    with pytest.raises(SystemExit) as stop:  # argparse's own errors exit; ours return
        raise SystemExit(main([*argv, "--course-dir", str(course)]))
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert says in error[-1] and "Traceback" not in "\n".join(error)
    assert not course.exists(), "nothing is written"
