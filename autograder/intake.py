"""What students really send: find each submitted notebook, repair what can be repaired, and say what was.

Students submit what their tools saved, where they saved it. Before nbgrader grades a submission, :func:`staged`
finds the notebook (in ``submitted/<student>/<assignment>/`` under its own name or another, or directly in
``submitted/<student>/``), reads it the way Jupyter would (a UTF-8 byte-order mark, other nbformat 4 minors, cell ids
missing or where the minor has none) and writes it, in today's nbformat, to a scratch folder that nbgrader grades in
place of ``submitted/``. Nothing under ``submitted/`` is ever written.

Inside nbgrader, :class:`RepairCells` runs first among the preprocessors that sanitize a submission: it merges a
solution cell split in two (both halves carry the same grade id, which nbgrader's ``DeduplicateIds`` cannot repair),
puts a deleted grade cell back from the source, with nbgrader's own cell and notice, to be run and graded, and notes
what nbgrader's ``OverwriteKernelspec`` and ``OverwriteCells`` will repair (a kernelspec of the student's own
environment, a grade cell turned into markdown). Editor metadata and stale outputs need no note: nbgrader clears
them from every submission.

Every repair is a short phrase for the instructor (``nbformat 4.4 with cell ids``, ``split solution cell
mse_loss``); what cannot be repaired gets a status naming the student's file and the problem. Files are named as
the student knows them, relative to their own folder (``loss_family/loss_family (1).ipynb``), never by the server's
path.
"""

from __future__ import annotations

import codecs
import json
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.v4.nbbase import random_cell_id
from nbformat.validator import MissingIDFieldWarning, normalize
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor, OverwriteCells

from autograder.course import Course
from autograder.status import Status

__all__ = ["REPAIRS", "Intake", "RepairCells", "Unrepairable", "locate", "read_submission", "staged", "students",
           "without_paths"]

#: (student, assignment, notebook) -> what :class:`RepairCells` repaired in its latest run in this process.
REPAIRS: dict[tuple[str, str, str], list[str]] = {}

_DETAIL_CHARS = 300


class Unrepairable(Exception):
    """A submission that cannot be graded: its ``status``, and a message naming the student's file."""

    def __init__(self, status: Status, detail: str) -> None:
        super().__init__(detail)
        self.status = status


@dataclass
class Intake:
    """A submission made ready for nbgrader.

    Attributes:
        root: The scratch folder nbgrader reads in place of ``submitted/`` (``root/<student>/<assignment>/``).
        repairs: What was repaired, for the instructor.
        problem: ``(status, detail)`` when the submission cannot be graded.
    """

    root: Path
    repairs: list[str] = field(default_factory=list)
    problem: tuple[Status, str] | None = None


def _notebooks_in(folder: Path) -> list[Path]:
    """The notebooks directly in ``folder``, without hidden files (``._name.ipynb`` from macOS archives)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.name.startswith("."))


def _label(path: Path, student_dir: Path) -> str:
    return path.relative_to(student_dir).as_posix()


def locate(student_dir: Path, assignment: str, name: str, *, only: bool = True) -> tuple[Path, list[str]]:
    """The file that stands for notebook ``name`` in a student's folder, and a note when it is not where it
    belongs (``student_dir/assignment/name``).

    Looked for, in order: the notebook where it belongs; in the assignment's folder, a notebook whose name contains
    the expected one (``loss_family (1).ipynb``, ``Copy of loss_family.ipynb``) or, when the assignment has
    ``only`` this notebook, the folder's one notebook whatever its name; directly in the student's folder, a
    notebook whose name contains the expected one.

    Raises:
        Unrepairable: nothing found (``missing notebook``), or several candidates (``several notebooks``).
    """
    expected = f"{assignment}/{name}"
    folder = student_dir / assignment
    if (folder / name).is_file():
        return folder / name, []
    stem = Path(name).stem.lower()
    inside = _notebooks_in(folder)
    candidates = [p for p in inside if stem in p.stem.lower()] or (inside if only else [])
    if not candidates:
        candidates = [p for p in _notebooks_in(student_dir) if stem in p.stem.lower()]
    labels = [_label(p, student_dir) for p in candidates]
    if len(candidates) == 1:
        return candidates[0], [f"found '{labels[0]}', belongs at '{expected}'"]
    if candidates:
        raise Unrepairable(Status.SEVERAL, f"{len(labels)} notebooks could be {name}: "
                           f"{', '.join(repr(label) for label in labels)}; keep one, at '{expected}'")
    where = f"'{assignment}/'" if folder.is_dir() else "the submission"
    raise Unrepairable(Status.MISSING, f"no notebook in {where}; {name} belongs at '{expected}'")


def read_submission(path: Path, label: str) -> tuple[NotebookNode, list[str]]:
    """Read a submitted notebook as Jupyter would, as a valid nbformat 4.5 notebook, and say what was repaired.

    Repaired: a UTF-8 byte-order mark; nbformat 3 and the other minors of nbformat 4 (nbformat's own
    ``upgrade``), with or without cell ids; cell ids missing or duplicated (nbformat's ``normalize``); metadata
    the schema does not allow (``normalize(strip_invalid_metadata=True)``).

    Args:
        path: The student's file.
        label: Its name as the student knows it, for the messages.

    Raises:
        Unrepairable: ``invalid notebook``: empty, not UTF-8, not JSON, JSON but not a notebook, or invalid in a way
            nbformat cannot repair.
    """
    raw = path.read_bytes()
    repairs = []
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
        repairs.append("UTF-8 byte-order mark")
    if not raw.strip():
        raise Unrepairable(Status.INVALID, f"'{label}' is empty")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError as err:
        raise Unrepairable(Status.INVALID, f"'{label}' is not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise Unrepairable(Status.INVALID, f"'{label}' is not JSON (line {err.lineno}, column {err.colno}: "
                           f"{err.msg})") from None
    major = data.get("nbformat") if isinstance(data, dict) else None
    if major not in (3, 4) or not isinstance(data.get("cells", data.get("worksheets")), list):
        found = f"nbformat {major}" if isinstance(major, int) else "no nbformat version"
        raise Unrepairable(Status.INVALID, f"'{label}' is JSON but not a Jupyter notebook ({found})")
    minor = data.get("nbformat_minor")
    try:
        nb = nbformat.reader.reads(text)
        if major == 3:
            repairs.append("nbformat 3")
            nb = nbformat.convert(nb, 4)
        elif minor != nbformat.v4.nbformat_minor:
            ids = any("id" in cell for cell in nb.cells)
            repairs.append(f"nbformat 4.{minor}" + (" with cell ids" if ids else ""))
            nb.nbformat_minor = minor if isinstance(minor, int) else 0
            nb = nbformat.v4.upgrade(nb, 4, nb.nbformat_minor)
        else:
            ids = [cell.get("id") for cell in nb.cells]
            if None in ids:
                repairs.append("nbformat 4.5 without cell ids")
            elif len(set(ids)) < len(ids):
                repairs.append("duplicate cell ids")
        with warnings.catch_warnings():  # normalize warns about the cell ids it adds: that is the repair
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            nb = nbformat.from_dict(normalize(nb)[1])
    except Exception as err:  # noqa: BLE001 - nbformat's own errors for a shape it cannot read
        raise Unrepairable(Status.INVALID, f"'{label}' is not a valid notebook: {_first_line(err)}") from None
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError:
        nb = nbformat.from_dict(normalize(nb, strip_invalid_metadata=True)[1])
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError as err:
            raise Unrepairable(Status.INVALID, f"'{label}' is not a valid notebook: {_first_line(err)}") from None
        repairs.append("metadata the notebook format does not allow")
    return nb, repairs


def _first_line(err: Exception) -> str:
    text = str(getattr(err, "message", "") or err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:_DETAIL_CHARS]


def _owned(path: Path, own: Path) -> bool:
    """Whether ``path`` is a file of the student's own folder ``own``, not a symbolic link (to the instructor's
    source, another student's submission, ...) nor reached through one."""
    return not path.is_symlink() and path.resolve().is_relative_to(own)


@contextmanager
def staged(course: Course, student: str, assignment: str, notebooks: list[str]) -> Iterator[Intake]:
    """The student's submission, found, read and written where nbgrader grades it, for as long as the block runs.

    Only the notebooks and nbgrader's ``timestamp.txt`` (from the assignment's folder, or else the student's) are
    staged: stray files never reach the autograded copy or the feedback. A notebook that is a symbolic link, or lies
    in a linked folder, is refused (``invalid notebook``): it would grade, and show in feedback, a file that is not
    the student's, such as the instructor's source.

    Args:
        course: The course.
        student: The student's id (their folder under ``submitted/``).
        assignment: The assignment.
        notebooks: The file names of the assignment's notebooks.
    """
    student_dir = course.submitted(student, assignment).parent
    own = (course.root / "submitted").resolve() / student
    with tempfile.TemporaryDirectory(prefix="autograder-intake-") as scratch:
        intake = Intake(Path(scratch))
        target = intake.root / student / assignment
        target.mkdir(parents=True)
        try:
            for name in notebooks:
                path, notes = locate(student_dir, assignment, name, only=len(notebooks) == 1)
                if not _owned(path, own):
                    raise Unrepairable(Status.INVALID, f"'{_label(path, student_dir)}' is a symbolic link to a file "
                                       "outside the submission; submit the notebook itself")
                nb, repairs = read_submission(path, _label(path, student_dir))
                nbformat.write(nb, target / name)
                intake.repairs += notes + repairs
            timestamp = next((p for p in (student_dir / assignment / "timestamp.txt", student_dir / "timestamp.txt")
                              if p.is_file() and _owned(p, own)), None)
            if timestamp is not None:
                shutil.copyfile(timestamp, target / "timestamp.txt")
        except Unrepairable as err:
            intake.problem = err.status, str(err)
        yield intake


def students(course: Course, assignment: str, notebooks: list[str]) -> list[str]:
    """The students with something to grade for ``assignment``, sorted: a folder ``submitted/<student>/<assignment>/``,
    a notebook of the assignment directly in ``submitted/<student>/``, or a student folder with no folder in it at all
    (which is told that its notebook is missing)."""
    stems = [Path(name).stem.lower() for name in notebooks]
    found = []
    for folder in sorted(p for p in (course.root / "submitted").glob("*") if p.is_dir()):
        if folder.name.startswith("."):
            continue
        loose = [p for p in _notebooks_in(folder) if any(stem in p.stem.lower() for stem in stems)]
        subfolders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if (folder / assignment).is_dir() or loose or not subfolders:
            found.append(folder.name)
    return found


def without_paths(text: str, *roots: Path) -> str:
    """``text`` with every path under ``roots`` made relative: a status names no folder of the server.

    Examples:
        >>> without_paths("cannot read /srv/course/submitted/ada/hw/hw.ipynb", Path("/srv/course"))
        'cannot read submitted/ada/hw/hw.ipynb'
    """
    for root in roots:
        text = text.replace(f"{root}/", "").replace(str(root), ".")
    return text


def _merge_split_cells(nb: NotebookNode) -> list[str]:
    """Merge consecutive cells that share a grade id (a cell split in two, in JupyterLab or by hand) back into one, in
    order; of copies that are not neighbours, only the last keeps its nbgrader metadata (the others run as
    ordinary cells, as nbgrader's ``DeduplicateIds`` intends). Returns what was repaired."""
    repairs: list[str] = []
    cells: list[NotebookNode] = []
    for cell in nb.cells:
        grade_id = _grade_id(cell)
        if grade_id and cells and _grade_id(cells[-1]) == grade_id:
            cells[-1].source = cells[-1].source.rstrip("\n") + "\n" + cell.source
            meta = cell.metadata["nbgrader"]
            kind = "solution cell" if meta.get("solution") else "grade cell" if meta.get("grade") else "cell"
            note = f"split {kind} {grade_id}"
            if note not in repairs:
                repairs.append(note)
            continue
        cells.append(cell)
    nb.cells = cells
    last = {_grade_id(cell): index for index, cell in enumerate(cells)}
    for index, cell in enumerate(cells):
        grade_id = _grade_id(cell)
        if grade_id and last[grade_id] != index:
            del cell.metadata["nbgrader"]
            repairs.append(f"copy of cell {grade_id} (the last is graded)")
    return repairs


def _grade_id(cell: NotebookNode) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _put_back(nb: NotebookNode, order: list[str], missing: dict[str, NotebookNode]) -> None:
    """Insert each ``missing`` cell after the nearest cell before it (in the source's ``order``) that the notebook
    has. nbgrader's own ``add_missing_grade_cells`` looks only at the cell right before, and fails when the student
    deleted that one too (a solution cell with its first test)."""
    after = -1
    for name in order:
        at = next((i for i, cell in enumerate(nb.cells) if _grade_id(cell) == name), None)
        if at is not None:
            after = at
        elif name in missing:
            after += 1
            nb.cells.insert(after, missing[name])


class RepairCells(NbGraderPreprocessor):
    """First of nbgrader's sanitizing preprocessors: merge a split cell back, put a deleted grade cell back from the
    source (as nbgrader's ``OverwriteCells.add_missing_cells`` does, with its own cell and notice), and note what
    nbgrader's ``OverwriteKernelspec`` and ``OverwriteCells`` are about to repair. The notes go to
    :data:`REPAIRS`."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        info = resources["nbgrader"]
        repairs = _merge_split_cells(nb)
        theirs = (nb.metadata.get("kernelspec") or {}).get("name")
        present = {_grade_id(cell) for cell in nb.cells}
        overwrite = OverwriteCells(parent=self)
        with Gradebook(info["db_url"]) as gb:
            source = gb.find_notebook(info["notebook"], info["assignment"])
            kernel = json.loads(source.kernelspec).get("name") if source.kernelspec else None
            cells = {cell.name: cell for cell in source.source_cells}
            solutions = {cell.name for cell in source.solution_cells}
            missing = {grade.name: nbformat.from_dict({
                **overwrite.missing_cell_transform(cells[grade.name], grade.max_score,
                                                   is_solution=grade.name in solutions), "id": random_cell_id()})
                for grade in source.grade_cells if grade.name not in present}
            types = {name: cell.cell_type for name, cell in cells.items()}
        if kernel and theirs and theirs != kernel:
            repairs.append(f"kernelspec '{theirs}'")
        repairs += [f"{_grade_id(cell)} was a {cell.cell_type} cell" for cell in nb.cells
                    if _grade_id(cell) in types and cell.cell_type != types[_grade_id(cell)]]
        _put_back(nb, list(types), missing)
        if missing:
            repairs.append(f"deleted grade cell{'s' if len(missing) > 1 else ''} {', '.join(missing)} (put back)")
        REPAIRS[(info["student"], info["assignment"], info["notebook"])] = repairs
        return nb, resources
