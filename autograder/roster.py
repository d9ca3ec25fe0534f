"""The class list: who is in the course, under which id here and on the learning platform.

``roster.csv`` (in the course directory, or ``--roster FILE``) has a header and one row per student: ``id`` (the
student's folder under ``submitted/``), ``name``, ``email`` and ``lms_id`` (the id the platform gives the student,
e.g. Canvas's user id). nbgrader's own spelling, as ``nbgrader db student import`` reads it, is accepted too:
``first_name`` and ``last_name`` instead of ``name``, ``lms_user_id`` instead of ``lms_id``. Without a roster the
class is the gradebook's students (:func:`gradebook_roster`).
"""

from __future__ import annotations

import csv
import itertools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from autograder.course import CourseError

__all__ = ["GRADEBOOK", "Person", "Roster", "check_student_id", "gradebook_roster", "read_roster"]

#: The source of a class list taken from the gradebook's students.
GRADEBOOK = "the gradebook"

#: A student id names a folder: letters, digits and ``_ . @ + -``, not starting with a dot or a dash.
_STUDENT_ID = re.compile(r"[^\W_][\w.@+-]*|_[\w.@+-]*")


def check_student_id(student: str) -> str | None:
    """Why ``student`` cannot be a student id (it names a folder under ``submitted/``), or ``None`` if it can.

    Examples:
        >>> check_student_id("jose.nunez@example.org") is None
        True
        >>> check_student_id("../etc")
        "'../etc' cannot be a student id (letters, digits and _ . @ + - only, not starting with . or -)"
    """
    if _STUDENT_ID.fullmatch(student) and len(student) <= 128:
        return None
    return f"{student!r} cannot be a student id (letters, digits and _ . @ + - only, not starting with . or -)"


@dataclass(frozen=True)
class Person:
    """One student of the class list."""

    id: str
    name: str = ""
    email: str = ""
    lms_id: str = ""


def _name_key(name: str) -> str:
    """A name as the platforms write it in file names: letters and digits only, lower case (Canvas writes
    "Núñez, José" as ``núñezjosé``)."""
    return "".join(ch for ch in unicodedata.normalize("NFC", name).casefold() if ch.isalnum())


class Roster:
    """A class list and the look-ups that find a student in it.

    Args:
        people: The students, each id once.
        source: Where the list came from, for messages.
    """

    def __init__(self, people: list[Person], source: str) -> None:
        self.people = people
        self.source = source
        self._by_id = {p.id: p for p in people}
        self._by_lms_id = self._index((p.lms_id, p) for p in people if p.lms_id)
        self._by_email = self._index((p.email.casefold(), p) for p in people if p.email)
        names = []
        for person in people:
            words = unicodedata.normalize("NFC", person.name).replace(",", " ").split()
            orders = itertools.permutations(words) if len(words) <= 5 else [words]  # "Smith, John" is "John Smith"
            names += [(_name_key("".join(order)), person) for order in orders]
        self._by_name = self._index(names)

    @staticmethod
    def _index(pairs) -> dict[str, Person | None]:
        """key -> person, with ``None`` for a key two people share (ambiguous)."""
        index: dict[str, Person | None] = {}
        for key, person in pairs:
            if key:
                index[key] = person if index.get(key, person) == person else None
        return index

    def __contains__(self, student: str) -> bool:
        return student in self._by_id

    def find(self, *, lms_id: str = "", student_id: str = "", email: str = "", name: str = "") -> Person | str:
        """The student known by any of these (tried in this order, the platform's id first), or why none was found.

        Examples:
            >>> roster = Roster([Person("jn42", "José Núñez", "jn@example.org", "1234")], "roster.csv")
            >>> roster.find(lms_id="1234").id, roster.find(name="núñezjosé").id, roster.find(name="José Núñez").id
            ('jn42', 'jn42', 'jn42')
            >>> roster.find(lms_id="999", name="Ann Other")
            "not in roster.csv (lms_id '999', name 'Ann Other')"
        """
        tried = []
        for label, shown, key, index in (
            ("lms_id", lms_id, lms_id, self._by_lms_id), ("id", student_id, student_id, self._by_id),
            ("email", email, email.casefold(), self._by_email), ("name", name, _name_key(name), self._by_name),
        ):
            if not key:
                continue
            if key in index:
                person = index[key]
                if person is None:
                    return f"{label} {shown!r} is shared by several students of {self.source}"
                return person
            tried.append(f"{label} {shown!r}")
        return f"not in {self.source} ({', '.join(tried)})"


def read_roster(path: Path) -> Roster:
    """Read a class list (``id,name,email,lms_id``; see the module's docstring).

    Raises:
        CourseError: the file is missing or unreadable, has no ``id`` column, or an id is empty, invalid or repeated.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CourseError(f"roster {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CourseError(f"roster {path} cannot be read as UTF-8 text: {err}") from None
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "id" not in columns:
        raise CourseError(f"roster {path} has no 'id' column (its header must be: id,name,email,lms_id)")
    people: list[Person] = []
    seen: set[str] = set()
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if isinstance(v, str)}
        if not any(row.values()):
            continue
        student = row.get("id", "")
        problem = "an empty id" if not student else check_student_id(student)
        if problem is None and student in seen:
            problem = f"id {student!r} a second time"
        if problem is not None:
            raise CourseError(f"roster {path}, line {line}: {problem}")
        seen.add(student)
        name = row.get("name") or " ".join(filter(None, (row.get("first_name"), row.get("last_name"))))
        people.append(Person(student, name, row.get("email", ""), row.get("lms_id") or row.get("lms_user_id", "")))
    return Roster(people, path.name)


def gradebook_roster(gradebook: object) -> Roster:
    """The students nbgrader's gradebook knows (those graded, and those added with ``nbgrader db student``)."""
    people = [Person(s.id, " ".join(filter(None, (s.first_name, s.last_name))), s.email or "", s.lms_user_id or "")
              for s in gradebook.students]
    return Roster(people, GRADEBOOK)
