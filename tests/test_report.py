"""The instructor's report, through the real path: release -> submissions -> grade -> report, on a batch of the loss
family's corpus (two correct notebooks, four common mistakes, a hostile and a broken one); then the page in the
same headless Chromium as the book's.

The expected mistakes come from the batch itself: each submission names the kind of mistake the report must see in
what grading recorded, so a change of the checks' messages that breaks the classification fails here.
"""

from __future__ import annotations

import contextlib
import html
import io
import re
from pathlib import Path

import nbformat
import pytest
import torch
from conftest import autograder, points_per_function, submit, with_solutions
from submissions import loss_family
from submissions.entropy_softmax import MISTAKES as ENTROPY_SOFTMAX_MISTAKES
from submissions.fitting import MISTAKES as FITTING_MISTAKES
from test_browser import CHROMIUM, UNLOADED_IMAGES_JS, browser  # noqa: F401 - browser is the fixture

import lossutils
from autograder.cli import main
from autograder.report import ClassReport, build_report, classify, parse_failure
from lossutils.grading.cases import cases_for
from lossutils.grading.messages import CheckFailure, _fail, _format_call, _format_case
from lossutils.grading.specs import get_spec

pytestmark = pytest.mark.slow

ASSIGNMENT = "loss_family"
HOSTILE_TEXT = "<img src=http://192.0.2.1/x.png onerror=alert(1)>"
HOSTILE_L1 = f'''import gc
def l1_loss(input, target, reduction="mean"):
    raise ValueError("{HOSTILE_TEXT}")
'''
STUB = "the released stub"
SUMS = loss_family.MISTAKES["mse-sums-instead-of-averaging"][1]


def _mistake(student: str, kind: str) -> dict[str, tuple[str, str]]:
    function, source = loss_family.MISTAKES[student]
    return {function: (source, kind)}


#: student -> {function: (its source, the kind of mistake the report must find there, or None when correct)}
BATCH: dict[str, dict[str, tuple[str, str | None]]] = {
    "a-solution": {},
    "b-alternatives": {f: (source, None) for f, source in loss_family.ALTERNATIVES.values()},
    "c-sums": _mistake("mse-sums-instead-of-averaging", "summed instead of averaged"),
    "d-nan": _mistake("smooth-l1-nan-at-beta-0", "NaN or inf: numerically unstable"),
    "e-float32": _mistake("zero-one-hard-codes-float32", "wrong dtype"),
    "f-sign": _mistake("l1-forgets-the-abs", "wrong sign"),
    "g-hostile": {  # imports gc (flagged), puts HTML in its error, calls a built-in, leaves a stub
        "zero_one_loss": (loss_family.BUILTIN_CALLERS["zero_one_loss"], "calls the built-in"),
        "mse_loss": (SUMS, "summed instead of averaged"),
        "l1_loss": (HOSTILE_L1, "raises an error"),
        "huber_loss": (STUB, "not attempted"),
    },
}
BROKEN = "h-not-json"


def expected_mistakes() -> set[tuple[str, str, str]]:
    return {(student, function, kind) for student, functions in BATCH.items()
            for function, (_, kind) in functions.items() if kind}


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> dict:
    course_dir = tmp_path_factory.mktemp("course")
    assert autograder("release", ASSIGNMENT, "--course-dir", str(course_dir)).returncode == 0
    (released,) = (course_dir / "release" / ASSIGNMENT).glob("*.ipynb")
    stubs = {cell.metadata.nbgrader["grade_id"]: cell.source for cell in nbformat.read(released, as_version=4).cells
             if cell.metadata.get("nbgrader", {}).get("solution")}
    for student, functions in BATCH.items():
        sources = {f: stubs[f] if source == STUB else source for f, (source, _) in functions.items()}
        submit(course_dir, student, released, with_solutions(released, sources))
    submit(course_dir, BROKEN, released, '{"cells": [')
    grade = autograder("grade", ASSIGNMENT, "--course-dir", str(course_dir))
    assert f"{len(BATCH) + 1} submissions: {len(BATCH)} graded, 1 failed" in grade.stdout, grade.stdout + grade.stderr
    lines = {line.split()[0]: line for line in grade.stdout.splitlines() if "/" in line and " s " in line}
    return {"dir": course_dir, "lines": lines}


@pytest.fixture(scope="module")
def report(course: dict) -> ClassReport:
    return build_report(course["dir"], ASSIGNMENT)


@pytest.fixture(scope="module")
def page(course: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page, written by the command line (in this process: a new one would import torch again)."""
    output = tmp_path_factory.mktemp("report") / "report.html"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["report", ASSIGNMENT, "--course-dir", str(course["dir"]), "--output", str(output)]) == 0
    assert printed.getvalue().strip() == f"wrote {output}"
    return output


# -------------------------------------------------------------------------------------------- the message format


def test_the_parser_takes_apart_what_the_checks_write() -> None:
    spec = get_spec("huber_loss")
    case = next(iter(cases_for(spec.inputs, "values", torch.float32, **spec.options)))
    kwargs = {"delta": 0.5, "reduction": "sum"}
    problem = "gives the wrong value:\n    expected tensor(1.) (torch)\n    got      tensor(2.)"
    with pytest.raises(CheckFailure) as raised:
        _fail(spec, case, kwargs, problem, "a hint (with parentheses): and a colon")
    failure = parse_failure("CheckFailure", str(raised.value))
    assert failure.call == _format_call(spec, kwargs)
    assert failure.problem == problem
    assert failure.label == case.label
    assert failure.args == _format_case(spec, case)
    assert failure.hint == "a hint (with parentheses): and a colon"


def _check_failure(mistakes: dict, student: str, check: str) -> CheckFailure:
    function, source = mistakes[student]
    namespace = {"torch": torch, "F": torch.nn.functional, "nn": torch.nn}
    exec(source, namespace)  # noqa: S102 - the corpus's own mistakes
    with pytest.raises(CheckFailure) as raised:
        getattr(lossutils, check)(namespace[function])
    return raised.value


@pytest.mark.parametrize(("mistakes", "student", "check", "kind"), [
    (loss_family.MISTAKES, "mse-leaves-torch", "check_gradient", "no gradient"),
    (loss_family.MISTAKES, "mse-forgets-the-square", "check_values", "square and root confused"),
    (loss_family.MISTAKES, "huber-divides-by-delta", "check_values", "off by a constant factor"),
    (loss_family.MISTAKES, "zero-one-counts-right-answers", "check_values", "counts the right answers"),
    (ENTROPY_SOFTMAX_MISTAKES, "softmax-ignores-dim", "check_values", "wrong dimension"),
    (ENTROPY_SOFTMAX_MISTAKES, "entropy-ignores-dim", "check_values", "wrong shape"),
    (ENTROPY_SOFTMAX_MISTAKES, "log-softmax-as-log-of-stable-softmax", "check_extremes",
     "NaN or inf: numerically unstable"),
    (FITTING_MISTAKES, "least-squares-forgets-the-transpose", "check_values", "raises an error"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_a_mistake_of_the_corpus_is_classified_by_its_diagnosis(mistakes, student, check, kind) -> None:
    """Mistakes the graded batch below does not hold, through the same checks and messages."""
    failure = parse_failure("CheckFailure", str(_check_failure(mistakes, student, check)))
    assert classify(failure).name == kind, failure


# ------------------------------------------------------------------------------------------------- what it shows


def test_each_mistake_is_counted_once_per_student_under_its_kind(report: ClassReport) -> None:
    found = {(student, m.function, m.kind) for m in report.mistakes for student in m.students}
    assert found == expected_mistakes()


def test_the_most_common_mistake_comes_first(report: ClassReport) -> None:
    counts = [len(m.students) for m in report.mistakes]
    assert counts == sorted(counts, reverse=True)
    first = report.mistakes[0]
    expected = sorted(s for s, f, k in expected_mistakes() if (f, k) == (first.function, first.kind))
    assert first.students == expected and len(expected) == 2


def test_a_diagnosed_mistake_shows_its_smallest_failing_input(report: ClassReport, course: dict) -> None:
    diagnosed = [m for m in report.mistakes if m.example.hint]
    assert {m.kind for m in diagnosed} >= {"summed instead of averaged", "NaN or inf: numerically unstable",
                                            "wrong dtype", "wrong sign"}
    for mistake in diagnosed:
        assert mistake.example.call.startswith(f"{mistake.function}(")
        assert mistake.example.label and mistake.example.args.strip()
        # the input shown is one the checks reported to that student
        (path,) = (course["dir"] / "autograded" / mistake.example_student / ASSIGNMENT).glob("*.ipynb")
        errors = [o.evalue for c in nbformat.read(path, as_version=4).cells for o in c.get("outputs", [])
                  if o.output_type == "error"]
        assert any(mistake.example.args in error for error in errors)


def test_the_scores_are_those_graded(report: ClassReport, course: dict) -> None:
    points = points_per_function(ASSIGNMENT)
    assert report.functions == list(points)
    assert report.maxima == {**points, "total": sum(points.values())}
    for student, line in course["lines"].items():
        assert f" {report.scores[student]['total']:g}/{sum(points.values()):g} " in f" {line} "
    for student, functions in BATCH.items():  # a mistake costs points on its own function only
        mistaken = {f for f, (_, kind) in functions.items() if kind}
        assert all(report.scores[student][f] < points[f] for f in mistaken)
        assert {f: report.scores[student][f] for f in points if f not in mistaken} == \
            {f: p for f, p in points.items() if f not in mistaken}
    assert report.scores[BROKEN] == dict.fromkeys([*points, "total"], 0.0)


def test_failed_and_flagged_submissions_are_listed_with_their_status(report: ClassReport) -> None:
    assert {o["student"]: o["status"] for o in report.attention} == {"g-hostile": "graded",
                                                                     BROKEN: "invalid notebook"}
    (hostile,) = (o for o in report.attention if o["student"] == "g-hostile")
    assert any("import gc" in flag for flag in hostile["flags"])


def test_the_time_of_every_submission_is_the_one_graded(report: ClassReport, course: dict) -> None:
    assert sorted(report.seconds) == sorted([*BATCH, BROKEN])
    for student, seconds in report.seconds.items():
        printed = float(re.search(r"([\d.]+) s ", course["lines"][student]).group(1))
        assert abs(printed - seconds) <= 0.05 and seconds > 0


# -------------------------------------------------------------------------------------------------------- the page


def test_every_histogram_is_an_embedded_image_whose_text_gives_the_counts(report: ClassReport, page: Path) -> None:
    text = page.read_text()
    alts = re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="([^"]*)"', text)
    assert len(alts) == len(report.functions) + 2  # each function, the total, the time
    for name, alt in zip([*report.functions, "total"], alts, strict=False):
        values = [scores[name] for scores in report.scores.values()]
        counts = ", ".join(f"{v:g}: {values.count(v)}" for v in sorted(set(values)))
        assert html.unescape(alt) == f"{name}: {counts}"
    assert not re.search(r"""(src|href)=["'](?!data:)""", text), "nothing but data: URIs"


def test_what_a_student_wrote_is_shown_as_text(page: Path) -> None:
    text = page.read_text()
    assert html.escape(HOSTILE_TEXT) in text
    assert HOSTILE_TEXT not in text


@pytest.mark.parametrize(("args", "says"), [
    (["loss_famliy"], "did you mean 'loss_family'?"),
    (["fitting"], "no graded submissions of fitting"),
    ([ASSIGNMENT, "--output", "."], "is a directory"),
])
def test_a_wrong_argument_gets_one_line_and_status_2(
    course: dict, args: list[str], says: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["report", *args, "--course-dir", str(course["dir"])]) == 2
    printed = capsys.readouterr()
    assert printed.out == "" and says in printed.err and len(printed.err.strip().splitlines()) == 1


@pytest.mark.browser
def test_the_page_opens_offline_in_chromium(page: Path, request: pytest.FixtureRequest) -> None:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make chromium`)")
    tab = request.getfixturevalue("browser").new_page()
    requests: list[str] = []
    problems: list[str] = []
    tab.on("request", lambda r: requests.append(r.url))
    tab.route("**/*", lambda route, r: route.continue_() if r.url.startswith(("file:", "data:"))
              else route.abort("blockedbyclient"))
    tab.on("console", lambda msg: problems.append(f"console error: {msg.text}") if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    try:
        tab.goto(page.as_uri(), wait_until="load")
        if broken := tab.evaluate(UNLOADED_IMAGES_JS):
            problems.append(f"images not loaded: {[src[:60] for src in broken]}")
        if tab.evaluate("() => document.images.length") < 2:
            problems.append("no histogram on the page")
    finally:
        tab.close()
    problems += [f"request leaves the machine: {url}" for url in requests if not url.startswith(("file:", "data:"))]
    assert not problems, "\n".join(problems)
