"""The instructor's report of one assignment: one HTML page that opens offline.

The page shows the class at a glance, from what grading recorded:

- the distribution of the scores of every graded function and of the total (from the gradebook, through the same
  rows as ``export``), as histograms whose alternative text lists the counts;
- the most common mistakes: every failed grade cell of the autograded notebooks, classified by the diagnosis the
  checks wrote into its error output (:func:`parse_failure`, :data:`KINDS`), counted once per student and
  function, each with the smallest failing input the checks found;
- the submissions that could not simply be graded or that were flagged for review, with their statuses;
- the time each submission took.

Everything the student controls (error messages, flagged lines, ids) is escaped, images are ``data:`` URIs, and a
Content-Security-Policy forbids anything else, so the page loads nothing and runs nothing.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.course import Course, CourseError, assignment_sources
from autograder.export import function_of, plan_export
from autograder.status import Status

__all__ = ["KINDS", "ClassReport", "Failure", "Kind", "Mistake", "build_report", "classify", "parse_failure",
           "render", "write_report"]

# The message of a failed check, as lossutils.grading.messages._fail writes it:
#   "<call> <problem>\non the smallest failing input (<label>):\n    <args>\nHint: <hint>"
_INPUT = "\non the smallest failing input ("
_INPUT_END = "):\n"
_HINT = "\nHint: "
_CALL = re.compile(r"[A-Za-z_]\w*\(")


@dataclass(frozen=True)
class Failure:
    """The error output of one failed grade cell, taken apart.

    Attributes:
        ename: The error's name (``CheckFailure`` for a failed check, ``AssertionError`` for a visible assert, the
            student's own exception, ``CellTimeoutError``, ...).
        problem: What went wrong: the message without the call, the input and the hint.
        call: The call that failed (``mse_loss(input, target, reduction='mean')``), when the message names one.
        label: The smallest failing input's description (``random values of shape (3,)``).
        args: The smallest failing input, one ``name = value`` line per argument.
        hint: The hint for the student, if any.
    """

    ename: str
    problem: str
    call: str | None = None
    label: str | None = None
    args: str | None = None
    hint: str | None = None


def parse_failure(ename: str, evalue: str) -> Failure:
    """Take a grade cell's error output apart; the one parser of the checks' message format.

    A message that is not in that format (a visible assert, the student's own error, a time-out) keeps its whole
    text as the problem. The last hint and the last input marker count: text the student's code put in an error
    message comes before them.

    Examples:
        >>> f = parse_failure("CheckFailure", "mse_loss(input, target) gives the wrong value:\\n    expected 1\\n"
        ...     "on the smallest failing input (random values of shape ()):\\n    input = tensor(1.)\\n"
        ...     "Hint: did you sum instead of averaging?")
        >>> f.call, f.problem.splitlines()[0], f.label, f.args, f.hint
        ('mse_loss(input, target)', 'gives the wrong value:', 'random values of shape ()', '    input = tensor(1.)', \
'did you sum instead of averaging?')
        >>> parse_failure("AssertionError", "return a tensor")
        Failure(ename='AssertionError', problem='return a tensor', call=None, label=None, args=None, hint=None)
    """
    body, found, hint = evalue.rpartition(_HINT)
    if not found:
        body, hint = evalue, None
    head, found, rest = body.rpartition(_INPUT)
    label = args = None
    if found:
        label, _, args = rest.partition(_INPUT_END)
    else:
        head = body
    call, problem = _split_call(head)
    return Failure(ename, problem.strip(), call, label, args, hint.strip() if hint else None)


def _split_call(head: str) -> tuple[str | None, str]:
    """``("f(a, b=1)", "gives ...")`` from ``"f(a, b=1) gives ..."``; ``(None, head)`` without a call."""
    match = _CALL.match(head)
    if not match:
        return None, head
    depth = 0
    for position in range(match.end() - 1, len(head)):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(head[position], 0)
        if depth == 0:
            return head[:position + 1], head[position + 1:]
    return None, head


@dataclass(frozen=True)
class Kind:
    """A kind of mistake: its name for the instructor, and which failures it takes.

    Attributes:
        name: What the report calls it ("summed instead of averaged").
        matches: Whether a failure is of this kind.
        specific: ``False`` for a kind that only says a check failed ("wrong value"): it counts for a student's
            function only when no specific kind was found there.
    """

    name: str
    matches: Callable[[Failure], bool]
    specific: bool = True


def _problem(pattern: str) -> Callable[[Failure], bool]:
    return lambda f: re.search(pattern, f.problem) is not None


def _hint(pattern: str) -> Callable[[Failure], bool]:
    return lambda f: f.hint is not None and re.search(pattern, f.hint, re.I) is not None


#: The kinds of mistake, most specific first; a failure gets the first that matches. Each keys on a stable part of
#: the checks' messages (the problem's opening words, a hint's key words), never on a whole sentence. The generic
#: kinds (``specific=False``) count for a student's function only when nothing more specific was found there.
KINDS: tuple[Kind, ...] = (
    Kind("not attempted", lambda f: f.ename == "NotImplementedError" or "is not implemented yet" in f.problem),
    Kind("calls the built-in", _problem(r"calls torch's built-in")),
    Kind("switches off the built-in detector", _problem(r"switched off the grader's detection")),
    Kind("timed out", lambda f: f.ename == "CellTimeoutError"),
    Kind("not run: the process had ended", lambda f: f.ename == "NotRun"),
    Kind("out of memory", lambda f: f.ename == "MemoryError"),
    Kind("returns no tensor", _problem(r"^returned .*expected a torch\.Tensor")),
    Kind("wrong shape", _problem(r"^returned shape ")),
    Kind("wrong dtype", _problem(r"^returned dtype ")),
    Kind("no gradient", _problem(r"^returns a result with no gradient")),
    Kind("NaN or inf: numerically unstable", _hint(r"\bNaN\b|\binf\b|overflow")),
    Kind("summed instead of averaged", _hint(r"\bsum\w* instead of averag")),
    Kind("averaged instead of summed", _hint(r"\baverag\w* instead of summ")),
    Kind("wrong sign", _hint(r"wrong sign|minus sign")),
    Kind("off by a constant factor", _hint(r"factor|twice|half")),
    Kind("square and root confused", _hint(r"square")),
    Kind("counts the right answers", _hint(r"1 minus|right answers")),
    Kind("wrong dimension", lambda f: _hint(r"\bdim\b|dimension")(f)
          or (f.hint is None and f.call is not None and "dim=" in f.call)),
    Kind("raises an error", lambda f: f.problem.startswith("raised ")
          or f.ename not in ("CheckFailure", "AssertionError"), specific=False),
    Kind("wrong gradient", _problem(r"^has the wrong gradient"), specific=False),
    Kind("wrong value", _problem(r"^gives the wrong value"), specific=False),
    Kind("fails the visible self-check", lambda f: f.ename == "AssertionError", specific=False),
    Kind("fails a check", lambda f: True, specific=False),
)


def classify(failure: Failure) -> Kind:
    """The kind of mistake behind a failure: the first of :data:`KINDS` that matches."""
    return next(kind for kind in KINDS if kind.matches(failure))


@dataclass
class Mistake:
    """One kind of mistake in one graded function, across the class.

    Attributes:
        function: The graded function.
        kind: The kind of mistake (a name from :data:`KINDS`).
        students: The students who made it, sorted.
        example: The failure with the smallest failing input among theirs.
        example_student: Whose failure the example is.
    """

    function: str
    kind: str
    students: list[str]
    example: Failure
    example_student: str


@dataclass
class ClassReport:
    """What the report shows about one assignment.

    Attributes:
        assignment: The assignment.
        functions: Its graded functions, in the notebook's order.
        maxima: The points of each function, and of ``"total"``.
        scores: Each student's points per function and ``"total"``: ``{student: {function: points}}``.
        mistakes: The mistakes, most common first.
        outcomes: The recorded outcome of every graded submission (:meth:`autograder.course.Course.statuses`).
    """

    assignment: str
    functions: list[str]
    maxima: dict[str, float]
    scores: dict[str, dict[str, float]]
    mistakes: list[Mistake]
    outcomes: dict[str, dict] = field(default_factory=dict)

    @property
    def attention(self) -> list[dict]:
        """The outcomes of the submissions that failed or were flagged for review, by student."""
        return [o for _, o in sorted(self.outcomes.items()) if _needs_attention(o)]

    @property
    def seconds(self) -> dict[str, float]:
        """Seconds each submission took to grade."""
        return {s: float(o["seconds"]) for s, o in sorted(self.outcomes.items()) if "seconds" in o}


def _needs_attention(outcome: dict) -> bool:
    try:
        failed = Status(outcome.get("status", "")).failed
    except ValueError:  # a status this version does not know: let the instructor look
        failed = True
    return failed or bool(outcome.get("flags"))


def _grade_rows(course: Course, assignment: str) -> list[dict[str, str]]:
    """The gradebook's rows of ``assignment``, exactly as ``export`` writes them: the report's scores are the
    exported ones, with one reading of the gradebook for both."""
    export = plan_export(course.root, assignments=[assignment], db_url=course.database)  # computed, not written
    (data,) = export.files.values()
    return [row for row in csv.DictReader(io.StringIO(data.decode("utf-8-sig"))) if row["assignment"] == assignment]


def _failures(course: Course, student: str, assignment: str) -> list[tuple[str, Failure]]:
    """``(function, failure)`` for every failed grade cell of the student's autograded notebooks."""
    found = []
    for path in sorted(course.autograded(student, assignment).glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        functions = [c.metadata.nbgrader["grade_id"] for c in cells
                     if c.metadata.get("nbgrader", {}).get("solution") and c.metadata.nbgrader.get("grade_id")]
        for cell in cells:
            meta = cell.metadata.get("nbgrader", {})
            function = function_of(meta.get("grade_id", ""), functions) if meta.get("grade") else None
            for output in cell.get("outputs", []) if function else []:
                if output.get("output_type") == "error":
                    found.append((function, parse_failure(str(output.get("ename", "")),
                                                          str(output.get("evalue", "")))))
    return found


def _student_mistakes(failures: list[tuple[str, Failure]]) -> dict[tuple[str, str], Failure]:
    """``{(function, kind): the smallest failure}`` of one student; a generic kind only where a function has no
    specific one."""
    kinds: dict[tuple[str, str], list[Failure]] = {}
    specific = set()
    for function, failure in failures:
        kind = classify(failure)
        kinds.setdefault((function, kind.name), []).append(failure)
        if kind.specific:
            specific.add(function)
    by_name = {kind.name: kind for kind in KINDS}
    return {key: min(found, key=_size) for key, found in kinds.items()
            if by_name[key[1]].specific or key[0] not in specific}


def _size(failure: Failure) -> tuple[int, int]:
    """How small a failing input is: failures with an input first, then the shortest."""
    return (failure.args is None, len(failure.args or failure.problem))


def build_report(course_dir: Path, assignment: str, *, db_url: str | None = None) -> ClassReport:
    """Gather what the report shows about ``assignment`` from the course directory.

    Raises:
        CourseError: an unknown assignment, a missing course directory, or nothing graded yet.
    """
    assignment_sources(assignment)
    course = Course.open(course_dir, db_url=db_url)
    outcomes = course.statuses().get(assignment, {})
    if not outcomes:
        raise CourseError(f"no graded submissions of {assignment} in {course.root} (run `grade {assignment}` first)")
    rows = _grade_rows(course, assignment)
    columns = list(rows[0]) if rows else []
    functions = [c for c in columns if f"{c}_max" in columns and any(row[f"{c}_max"] for row in rows)]
    scores: dict[str, dict[str, float]] = {}
    maxima: dict[str, float] = {}
    for row in rows:
        scores[row["student"]] = {f: float(row[f] or 0) for f in functions} | {"total": float(row["score"] or 0)}
        for f in functions:
            maxima[f] = max(maxima.get(f, 0.0), float(row[f"{f}_max"] or 0))
        maxima["total"] = max(maxima.get("total", 0.0), float(row["max_score"] or 0))
    grouped: dict[tuple[str, str], list[tuple[str, Failure]]] = {}
    for student in sorted(scores):
        for key, failure in _student_mistakes(_failures(course, student, assignment)).items():
            grouped.setdefault(key, []).append((student, failure))
    order = {kind.name: i for i, kind in enumerate(KINDS)}
    mistakes = []
    for (function, kind), found in grouped.items():
        student, example = min(found, key=lambda sf: (_size(sf[1]), sf[0]))
        mistakes.append(Mistake(function, kind, [s for s, _ in found], example, student))
    mistakes.sort(key=lambda m: (-len(m.students), functions.index(m.function) if m.function in functions else 0,
                                 order[m.kind]))
    return ClassReport(assignment, functions, maxima, scores, mistakes, outcomes)


def write_report(course_dir: Path, assignment: str, output: Path | None = None, *, db_url: str | None = None
                 ) -> Path:
    """Write the report of ``assignment`` as one HTML page and return its path (default:
    ``course_dir/report-ASSIGNMENT.html``).

    Raises:
        CourseError: as :func:`build_report`, or ``output`` is a directory.
    """
    report = build_report(course_dir, assignment, db_url=db_url)
    output = output or Course.open(course_dir).root / f"report-{assignment}.html"
    if output.is_dir():
        raise CourseError(f"{output} is a directory: give the report's file name")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(report), encoding="utf-8")
    return output


# ------------------------------------------------------------------------------------------------------ the page

_e = html.escape

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; } th, td { padding: .3em .6em; border-bottom: 1px solid #eee;
vertical-align: top; text-align: left; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { margin: 0; font-size: .85em; white-space: pre-wrap; } .figures { display: flex; flex-wrap: wrap; gap: 1em; }
.figures img { width: 20em; height: auto; border: 1px solid #eee; } .muted { color: #666; }
"""


def _histogram(values: list[float], title: str, xlabel: str, maximum: float | None = None) -> tuple[str, str]:
    """A histogram as a PNG ``data:`` URI, and its counts in words (the image's alternative text)."""
    from matplotlib.figure import Figure  # only the report needs matplotlib; grading does not load it

    figure = Figure(figsize=(4, 2.6), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    discrete = maximum is not None and maximum <= 60 and all(float(v).is_integer() for v in values)
    if discrete:
        bins = [b - 0.5 for b in range(int(maximum) + 2)]
    else:
        bins = min(20, max(1, len(set(values))))
    counts, edges, _ = axes.hist(values, bins=bins, color="#4477aa", edgecolor="white")
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(xlabel, fontsize=9)
    axes.set_ylabel("students", fontsize=9)
    axes.yaxis.get_major_locator().set_params(integer=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    if discrete:
        words = [f"{int(edge + 0.5)}: {int(c)}" for edge, c in zip(edges, counts, strict=False) if c]
    else:
        words = [f"{lo:.3g} to {hi:.3g}: {int(c)}" for lo, hi, c in zip(edges, edges[1:], counts, strict=False) if c]
    return uri, f"{title}: " + ", ".join(words)


def _figure(values: list[float], title: str, xlabel: str, maximum: float | None = None) -> str:
    uri, alt = _histogram(values, title, xlabel, maximum)
    return f'<figure><img src="{uri}" alt="{_e(alt)}" title="{_e(alt)}"></figure>'


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """An HTML table; cells are HTML already (escape before)."""
    def cls(i: int) -> str:
        return ' class="n"' if i in numeric else ""

    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _scores_section(report: ClassReport) -> str:
    names = [*report.functions, "total"]
    rows = []
    for name in names:
        values = [s[name] for s in report.scores.values()]
        top = report.maxima.get(name, 0.0)
        rows.append([_e(name), f"{top:g}", f"{statistics.mean(values):.2f}", f"{statistics.median(values):g}",
                     str(sum(v == top for v in values)), str(sum(v == 0 for v in values))])
    figures = "".join(_figure([s[name] for s in report.scores.values()], name, "points", report.maxima.get(name))
                      for name in names)
    return ("<h2>Scores</h2>"
            + _table(["function", "points", "mean", "median", "full marks", "zero"], rows, {1, 2, 3, 4, 5})
            + f'<p class="muted">Submissions that could not be graded count with 0 points.</p>'
              f'<div class="figures">{figures}</div>')


def _example(failure: Failure) -> str:
    """The failure as the student read it, without the hint."""
    if failure.args is not None:
        text = f"{failure.call or ''} {failure.problem}\non {failure.label}:\n{failure.args}"
    else:
        text = f"{failure.ename}: {failure.problem}" if failure.problem else failure.ename
    return f"<pre>{_e(text.strip())}</pre>"


def _mistakes_section(report: ClassReport) -> str:
    if not report.mistakes:
        return "<h2>Most common mistakes</h2><p>No grade cell failed.</p>"
    total = len(report.scores)
    rows = [[f"{len(m.students)} of {total}", _e(m.function), _e(m.kind),
             _example(m.example) + f'<span class="muted">({_e(m.example_student)})</span>',
             _e(m.example.hint or ""),
             f"<details><summary>{len(m.students)}</summary>{_e(', '.join(m.students))}</details>"]
            for m in report.mistakes]
    return ("<h2>Most common mistakes</h2><p class=\"muted\">Each student counts once per function and kind of "
            "mistake, from the diagnoses of the failed grade cells.</p>"
            + _table(["students", "function", "mistake", "smallest failing input", "hint", "who"], rows, {0}))


def _attention_section(report: ClassReport) -> str:
    rows = [[_e(o.get("student", "")), _e(o.get("status", "")), f"{o.get('score', 0):g}/{o.get('max_score', 0):g}",
             _e(o.get("detail", "")), "<br>".join(_e(flag) for flag in o.get("flags", [])),
             f"{o.get('seconds', 0):.1f}"]
            for o in report.attention]
    table = _table(["student", "status", "score", "detail", "flagged for review", "seconds"], rows, {2, 5}) \
        if rows else "<p>None: every submission was graded and none was flagged.</p>"
    return "<h2>Submissions to look at</h2>" + table


def _time_section(report: ClassReport) -> str:
    seconds = report.seconds
    if not seconds:
        return ""
    values = list(seconds.values())
    slowest = sorted(seconds.items(), key=lambda item: -item[1])[:10]
    return ("<h2>Time per submission</h2>"
            f"<p>{len(values)} submissions in {sum(values):.1f} s: median {statistics.median(values):.1f} s, "
            f"slowest {max(values):.1f} s.</p>"
            + f'<div class="figures">{_figure(values, "seconds per submission", "seconds")}</div>'
            + _table(["student", "seconds"], [[_e(s), f"{t:.1f}"] for s, t in slowest], {1}))


def render(report: ClassReport) -> str:
    """The report as one self-contained HTML page."""
    title = f"{report.assignment}: report on {len(report.scores)} submissions"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_STYLE}</style></head>
<body><h1>{_e(title)}</h1>
{_scores_section(report)}
{_mistakes_section(report)}
{_attention_section(report)}
{_time_section(report)}
</body></html>
"""
