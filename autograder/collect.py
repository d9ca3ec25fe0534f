r"""Collect the submissions downloaded from a learning platform into nbgrader's ``submitted/<student>/<assignment>/``.

The platforms name each student's file in their own way:

- **Canvas** ("Download Submissions"): one zip, a file per student named
  ``{sortable name}[_LATE]_{user id}_{attachment id}_{file name}``, e.g.
  ``nunezjose_LATE_1234_98765_loss_family-1.ipynb``. The name is lower case with everything but letters and digits
  taken out; ``LATE`` marks a submission after the due date; the attachment id grows with every upload, so the
  larger is the later; a file uploaded again under the same name gets ``-1``, ``-2``, ... before its extension;
  an anonymously graded student is ``anon_{id}``, without a name.
- **Moodle** ("Download all submissions"): one zip, a folder per student,
  ``{Full Name}_{participant id}_assignsubmission_file_/{file name}``, or, with "Download submissions in folders"
  off, the same prefix before each file name. The participant id is Moodle's id of the student *for that
  assignment* (it differs from one assignment to the next): give a roster (matched by name) to keep one id per
  student across assignments.

Each file's path inside the archive is matched, with :func:`re.match`, by a regular expression with named groups,
as nbgrader's ``FileNameCollectorPlugin.named_regexp``: ``student_id`` and ``file_id`` are required; ``name`` (or
``first_name`` and ``last_name``), ``email`` and ``timestamp`` are nbgrader's optional groups; ``attempt`` (a number,
larger is later) and ``late`` are ours. :class:`LmsCollector` is such a plugin, so
``nbgrader zip_collect --collector=autograder.collect.CanvasCollector`` (or ``MoodleCollector``) uses the same
patterns.

With a roster, the platform's id (then the e-mail, then the name) finds the student's id in it; without one, the
platform's id is the student id.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from nbgrader.plugins import FileNameCollectorPlugin
from nbgrader.utils import parse_utc
from traitlets import List, Unicode

from autograder.course import Course, CourseError, assignment_sources
from autograder.roster import Roster, check_student_id, read_roster

__all__ = [
    "PLATFORMS",
    "CanvasCollector",
    "Collected",
    "Duplicate",
    "LmsCollector",
    "MoodleCollector",
    "Platform",
    "Submission",
    "collect",
    "origins",
]

_NOTEBOOK = "ipynb"


@dataclass(frozen=True)
class Platform:
    """How a learning platform names the files of its download.

    Attributes:
        name: The platform's name (or ``--pattern``), for messages.
        pattern: The file-name pattern (nbgrader's ``named_regexp``).
        feedback_from: How the text before the file name in a submission's path becomes the name under which the
            platform takes feedback back (its bulk feedback upload matches the student by it).
    """

    name: str
    pattern: str
    feedback_from: tuple[str, str] = ("", "")

    def feedback_prefix(self, prefix: str) -> str:
        old, new = self.feedback_from
        return prefix.replace(old, new) if old else prefix


CANVAS = Platform(
    "Canvas",
    r"(?:.*/)?(?:(?!LATE_)(?P<name>[^/]*?)_)?(?:(?P<late>LATE)_)?(?P<student_id>\d+|anon_[0-9A-Za-z]+)_(?P<attempt>\d+)_"
    r"(?P<file_id>[^/]+)$",
)
MOODLE = Platform(
    "Moodle",
    r"(?:.*/)?(?P<name>[^/_]+)_(?P<student_id>\d+)_assignsubmission_file_/?(?:[^/]+/)*(?P<file_id>[^/]+)$",
    # Moodle's "Upload multiple feedback files in a zip" finds the student by the participant id in a folder named
    # as the download's, with the feedback plugin's type in place of the submission's.
    ("_assignsubmission_file_", "_assignfeedback_file_"),
)
#: The platforms whose downloads are recognised without ``--pattern``.
PLATFORMS = {"canvas": CANVAS, "moodle": MOODLE}

#: A copy's mark before the extension: Canvas's "-1" for a file uploaded again, a browser's " (1)" for a download
#: saved twice.
_COPY = re.compile(r"(?P<stem>.*?)(?:-(?P<dash>\d+)| \((?P<paren>\d+)\))")


@dataclass(frozen=True)
class Submission:
    """One notebook of the archive, recognised.

    Attributes:
        entry: Its path inside the archive.
        student: The student id it is filed under.
        notebook: The released notebook it is filed as.
        file_name: The notebook's name as the student gave it (the pattern's ``file_id``).
        lms_id: The platform's id of the student.
        late: The platform marked it late.
        order: Larger is later: (timestamp, attempt, copy number), each -inf or -1 when the name does not say.
        timestamp: When it was submitted, if the name says.
        feedback_prefix: The text that names the student's feedback for the platform's bulk upload.
    """

    entry: str
    student: str
    notebook: str
    file_name: str
    lms_id: str
    late: bool
    order: tuple[float, int, int]
    timestamp: datetime | None
    feedback_prefix: str

    @property
    def renamed(self) -> bool:
        return self.file_name.removesuffix(f".{_NOTEBOOK}") != self.notebook.removesuffix(f".{_NOTEBOOK}")


class LmsCollector(FileNameCollectorPlugin):
    """nbgrader's file-name collector with a platform's pattern, the released notebook names and a roster.

    ``nbgrader zip_collect --collector=autograder.collect.CanvasCollector ASSIGNMENT`` (or ``MoodleCollector``)
    files a platform's download as ``python -m autograder collect`` does; the latter also lists what it did not
    collect, keeps what is already in ``submitted/`` and settles duplicates only when told (``--latest``).
    """

    platform = CANVAS
    named_regexp = Unicode(CANVAS.pattern, help="the file-name pattern, with nbgrader's named groups").tag(config=True)
    notebooks = List(Unicode(), help="the released notebooks' names (default: the release folder's)").tag(config=True)
    roster = Unicode("", help="a class list, id,name,email,lms_id (default: roster.csv of the course, if any)"
                     ).tag(config=True)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._roster: Roster | None | bool = False

    def _coursedir(self) -> object | None:
        return getattr(self.parent, "coursedir", None)

    def _released(self) -> list[str]:
        coursedir = self._coursedir()
        if self.notebooks or coursedir is None:
            return list(self.notebooks)
        release = coursedir.format_path(coursedir.release_directory, ".", coursedir.assignment_id)
        return sorted(p.name for p in Path(release).glob(f"*.{_NOTEBOOK}"))

    def _class_list(self) -> Roster | None:
        if self._roster is False:
            coursedir = self._coursedir()
            default = Path(coursedir.root) / "roster.csv" if coursedir is not None else None
            path = Path(self.roster) if self.roster else default
            self._roster = read_roster(path) if path is not None and path.exists() else None
        return self._roster

    def match(self, path: str) -> Submission | str:
        """The submission a file is, or why it is not one.

        Args:
            path: The file's path inside the archive (``/``-separated).
        """
        if PurePosixPath(path).suffix not in self.valid_ext:
            return "not a notebook"
        found = re.match(self.named_regexp, path)
        if found is None:
            return f"its name does not fit the pattern of {self.platform.name}"
        groups = {k: v or "" for k, v in found.groupdict().items()}
        notebook = _notebook_name(groups["file_id"], self._released())
        if isinstance(notebook, str):
            return notebook
        name = groups.get("name") or " ".join(filter(None, (groups.get("first_name"), groups.get("last_name"))))
        roster = self._class_list()
        if roster is not None:
            person = roster.find(lms_id=groups["student_id"], student_id=groups["student_id"],
                                 email=groups.get("email", ""), name=name)
            if isinstance(person, str):
                return person
            student = person.id
        else:
            student = groups["student_id"]
            if problem := check_student_id(student):
                return problem
        try:
            timestamp = parse_utc(groups["timestamp"]) if groups.get("timestamp") else None
        except (ValueError, OverflowError):
            return f"its timestamp {groups['timestamp']!r} is not a date"
        attempt = int(groups["attempt"]) if groups.get("attempt", "").isdigit() else -1
        order = (timestamp.timestamp() if timestamp else -math.inf, attempt, notebook[1])
        prefix = self.platform.feedback_prefix(path[:found.start("file_id")])
        return Submission(path, student, notebook[0], PurePosixPath(groups["file_id"]).name, groups["student_id"],
                          bool(groups.get("late")), order, timestamp, prefix)

    def collect(self, submitted_file: str) -> dict | None:
        """nbgrader's hook: the student and the notebook's name of a file, or ``None`` to skip it (logged)."""
        found = self.match(submitted_file)
        if isinstance(found, str):
            self.log.warning("Skipped %s: %s", submitted_file, found)
            return None
        info = {"student_id": found.student, "file_id": found.notebook}
        if found.timestamp is not None:
            info["timestamp"] = found.timestamp
        return info


class CanvasCollector(LmsCollector):
    """:class:`LmsCollector` for Canvas's "Download Submissions" (the default pattern)."""


class MoodleCollector(LmsCollector):
    """:class:`LmsCollector` for Moodle's "Download all submissions"."""

    platform = MOODLE
    named_regexp = Unicode(MOODLE.pattern, help="the file-name pattern, with nbgrader's named groups").tag(config=True)


def _notebook_name(file_id: str, released: list[str]) -> tuple[str, int] | str:
    """The released notebook a submitted file is, with its copy number (``loss_family-1.ipynb`` is copy 1 of
    ``loss_family.ipynb``); any notebook is the one of an assignment that has one notebook. A ``file_id`` without
    the extension has it added, as nbgrader does."""
    stem = PurePosixPath(file_id).name.removesuffix(f".{_NOTEBOOK}")
    name = f"{stem}.{_NOTEBOOK}"
    if name in released:
        return name, 0
    copy = _COPY.fullmatch(stem)
    if copy and f"{copy['stem']}.{_NOTEBOOK}" in released:
        return f"{copy['stem']}.{_NOTEBOOK}", int(copy["dash"] or copy["paren"])
    if len(released) == 1:
        return released[0], int(copy["dash"] or copy["paren"]) if copy else 0
    return f"{name} is none of the assignment's notebooks ({', '.join(released) or 'none released'})"


@dataclass(frozen=True)
class Duplicate:
    """Several files of one student for one notebook.

    Attributes:
        chosen: The one collected: any of them when they are the same bytes, the latest with ``--latest``, else
            ``None`` (the student is not collected).
        identical: They are the same bytes.
    """

    student: str
    notebook: str
    found: list[Submission]
    chosen: Submission | None
    identical: bool

    def line(self) -> str:
        names = ", ".join(s.entry for s in self.found)
        latest = _latest(self.found)
        if self.identical:
            return f"duplicate {self.student} {self.notebook}: {names} are the same file; collected it once"
        if self.chosen is not None:
            return f"duplicate {self.student} {self.notebook}: {names}; collected the latest, {self.chosen.entry}"
        if latest is None:
            return (f"not collected {self.student}: several files for {self.notebook} ({names}) and their names do "
                    "not say which is later; take the others out of the archive")
        return (f"not collected {self.student}: several files for {self.notebook} ({names}); pass --latest to "
                f"collect the latest, {latest.entry}")


@dataclass
class Collected:
    """What :func:`collect` did with an archive.

    Attributes:
        filed: ``(student, what, submissions)`` for every student filed, ``what`` being ``collected``, ``replaced``
            (with ``--force``) or ``unchanged`` (the same files were there already).
        kept: ``(student, submissions)``: ``submitted/`` holds a different submission, left as it was.
        duplicates: Several files of one student for one notebook.
        skipped: ``(entry, reason)`` for every file that was not collected.
    """

    platform: str
    filed: list[tuple[str, str, list[Submission]]] = field(default_factory=list)
    kept: list[tuple[str, list[Submission]]] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every notebook of the archive was filed (or was there already)."""
        return not (self.kept or self.skipped or any(d.chosen is None for d in self.duplicates))

    def lines(self, course: Course, assignment: str) -> list[str]:
        """What happened, one line per student or file, for the instructor."""
        out = []
        for student, what, found in self.filed:
            folder = course.submitted(student, assignment).relative_to(course.root)
            sources = ", ".join(s.entry for s in found)
            late = " (marked late)" if any(s.late for s in found) else ""
            renamed = "; ".join(f"{s.file_name} filed as {s.notebook}" for s in found if s.renamed)
            out.append(f"{what} {student}: {sources} -> {folder}/{late}" + (f" ({renamed})" if renamed else ""))
        out += [duplicate.line() for duplicate in self.duplicates]
        for student, found in self.kept:
            folder = course.submitted(student, assignment).relative_to(course.root)
            out.append(f"kept {folder}/: it holds a different submission than {', '.join(s.entry for s in found)}; "
                       "pass --force to replace it")
        out += [f"not collected {entry}: {reason}" for entry, reason in self.skipped]
        return out


def _latest(found: list[Submission]) -> Submission | None:
    """The one submission later than all the others, if the names say."""
    ranked = sorted(found, key=lambda s: s.order)
    return ranked[-1] if ranked[-1].order > ranked[-2].order else None


def _entries(archive: Path) -> dict[str, zipfile.ZipInfo]:
    """The files of a zip archive by their path, with names from tools that do not mark UTF-8 read as UTF-8."""
    entries = {}
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = info.filename
            if not info.flag_bits & 0x800:
                try:
                    name = name.encode("cp437").decode("utf-8")
                except UnicodeError:
                    pass
            entries[name] = info
    return entries


def _open_archive(archive: Path) -> dict[str, zipfile.ZipInfo]:
    if not archive.is_file():
        raise CourseError(f"archive {archive} does not exist" if not archive.exists() else f"{archive} is not a file")
    if not zipfile.is_zipfile(archive):
        raise CourseError(f"{archive} is not a zip archive (download the submissions as one zip from the platform)")
    try:
        return _entries(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise CourseError(f"{archive} cannot be read: {err}") from None


def _collector(platform: str, pattern: str | None, notebooks: list[str], roster: Roster | None,
               entries: list[str]) -> LmsCollector:
    """The collector for ``--lms``/``--pattern``; ``auto`` takes the platform whose pattern names most notebooks."""
    if pattern is not None:
        try:
            groups = re.compile(pattern).groupindex
        except re.error as err:
            raise CourseError(f"--pattern is not a regular expression: {err}") from None
        missing = [g for g in ("student_id", "file_id") if g not in groups]
        if missing:
            raise CourseError(f"--pattern needs the named groups (?P<student_id>...) and (?P<file_id>...); it has "
                              f"no {' and no '.join(missing)}")
        candidates = [LmsCollector(named_regexp=pattern, notebooks=notebooks)]
        candidates[0].platform = Platform("--pattern", pattern)
    else:
        chosen = PLATFORMS.values() if platform == "auto" else [PLATFORMS[platform]]
        candidates = [(CanvasCollector if p is CANVAS else MoodleCollector)(notebooks=notebooks) for p in chosen]
    for candidate in candidates:
        candidate._roster = roster
    if len(candidates) == 1:
        return candidates[0]
    notebooks_in = [e for e in entries if e.endswith(f".{_NOTEBOOK}")]
    counts = [sum(re.match(c.named_regexp, e) is not None for e in notebooks_in) for c in candidates]
    best = max(counts)
    if best == 0:
        raise CourseError(f"no notebook in the archive is named as {' or '.join(p.name for p in PLATFORMS.values())} "
                          "names submissions; give the pattern with --pattern")
    if counts.count(best) > 1:
        raise CourseError("the archive's names fit several platforms; say which with --lms")
    return candidates[counts.index(best)]


def origins_file(course: Course, assignment: str) -> Path:
    """Where :func:`collect` records the archive entries each student's submission came from (in nbgrader's
    ``downloaded/<assignment>/``, where ``nbgrader zip_collect`` keeps the platform's downloads)."""
    return course.root / "downloaded" / assignment / "collected.json"


def origins(course: Course, assignment: str) -> dict[str, dict]:
    """``{student: origin}`` of every student collected for ``assignment``: ``platform`` (whose names were read),
    ``archive``, ``entries``, ``lms_id``, ``late`` and ``feedback_prefix`` (the name under which the platform takes
    the student's feedback back)."""
    path = origins_file(course, assignment)
    return json.loads(path.read_text()) if path.exists() else {}


def _write_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Make ``folder`` hold exactly ``files``; the old folder is replaced only once the new one is complete."""
    scratch = folder.with_name(f".{folder.name}.collecting")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    for name, data in files.items():
        (scratch / name).write_bytes(data)
    if folder.exists():
        shutil.rmtree(folder)
    scratch.rename(folder)


def collect(course_dir: Path, assignment: str, archive: Path, *, platform: str = "auto", pattern: str | None = None,
            roster: Path | None = None, latest: bool = False, force: bool = False) -> Collected:
    """File the notebooks of a platform's download into ``submitted/<student>/<assignment>/``.

    Every argument is checked, and the whole archive read and matched, before anything is written. A file that is
    not a notebook, whose name does not fit the pattern, or whose student is not in the roster is listed, not
    collected. Several files for one notebook of one student are listed; the latest is collected only with
    ``latest`` (and only when the names say which is later: a timestamp, Canvas's attachment id, a ``-1`` copy
    mark). A ``submitted/`` folder that holds a different submission is kept unless ``force``.

    Args:
        course_dir: The course directory (the assignment must be released there).
        assignment: The assignment's name.
        archive: The zip downloaded from the platform.
        platform: ``canvas``, ``moodle`` or ``auto`` (the one whose pattern names most notebooks).
        pattern: A file-name pattern with nbgrader's named groups, instead of a platform's.
        roster: A class list (default: ``roster.csv`` of the course, if any).
        latest: Collect the latest of several files for one notebook.
        force: Replace a different submission already in ``submitted/``.

    Raises:
        CourseError: a wrong argument; nothing was written.
    """
    assignment_sources(assignment)  # an unknown name gets the nearest known one suggested
    course = Course.open(course_dir)
    notebooks = course.notebooks(assignment)
    default_roster = course.root / "roster.csv"
    class_list = read_roster(roster) if roster is not None else \
        read_roster(default_roster) if default_roster.exists() else None
    entries = _open_archive(archive)
    collector = _collector(platform, pattern, notebooks, class_list, list(entries))
    result = Collected(collector.platform.name)

    per_notebook: dict[tuple[str, str], list[Submission]] = {}
    for entry in sorted(entries):
        found = collector.match(entry)
        if isinstance(found, str):
            result.skipped.append((entry, found))
        else:
            per_notebook.setdefault((found.student, found.notebook), []).append(found)
    chosen: dict[str, list[Submission]] = {}
    undecided: set[str] = set()
    with zipfile.ZipFile(archive) as zf:
        data = {s.entry: zf.read(entries[s.entry]) for found in per_notebook.values() for s in found}
    for (student, notebook), found in sorted(per_notebook.items()):
        pick: Submission | None = found[0]
        if len(found) > 1:
            same = len({data[s.entry] for s in found}) == 1
            pick = found[0] if same else _latest(found) if latest else None
            result.duplicates.append(Duplicate(student, notebook, found, pick, same))
            if pick is None:
                undecided.add(student)
                continue
        chosen.setdefault(student, []).append(pick)

    record = origins(course, assignment)
    for student, found in sorted(chosen.items()):
        if student in undecided:
            continue
        folder = course.submitted(student, assignment)
        files = {s.notebook: data[s.entry] for s in found}
        stamps = [s.timestamp for s in found if s.timestamp is not None]
        if stamps:
            files["timestamp.txt"] = max(stamps).isoformat(" ").encode()  # nbgrader's own format
        existing = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} if folder.is_dir() else None
        if existing is not None and all(existing.get(n) == d for n, d in files.items()):
            what = "unchanged"
        elif existing is not None and any(existing.values()) and not force:
            result.kept.append((student, found))
            continue
        else:
            what = "replaced" if existing else "collected"
            _write_folder(folder, files)
        result.filed.append((student, what, found))
        record[student] = {"platform": result.platform, "archive": archive.name, "entries": [s.entry for s in found],
                           "lms_id": found[0].lms_id, "late": any(s.late for s in found),
                           "feedback_prefix": found[0].feedback_prefix}
    if result.filed:
        path = origins_file(course, assignment)
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        scratch.replace(path)
    return result

