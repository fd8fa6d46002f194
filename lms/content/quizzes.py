"""Quizzes in course packages: the quiz lessons' settings and the course's question bank.

A quiz lesson carries its settings in ``course.yaml`` (the keys of
:mod:`lms.quizzes.settings`), and the course lists its bank files under
``question_bank``: one YAML file per category, each question a spec of
:mod:`lms.quizzes.questions` with a stable ``uid`` and an optional ``title``::

    category: Separation and collection     # optional: no category
    questions:
      - uid: bulky-waste
        title: Bulky waste
        type: single_choice
        points: 1
        texts:
          en: {text: "...", explanation: "..."}
          ja: {text: "...", explanation: "..."}
        choices:
          - id: sticker
            correct: true
            texts:
              en: {text: "...", feedback: "..."}
              ja: {text: "...", feedback: "..."}

:func:`read_bank` and :func:`read_quiz` check everything while the package is read
(every spec through ``questions.validate``, each problem with its file and line) and
:func:`check_slots` that every quiz draws from questions the bank has.
:func:`import_bank` writes the bank through :mod:`lms.quizzes.bank` (upsert by uid, the
questions the package no longer has archived); :func:`export_bank` and
:func:`export_quiz` give them back for an export, in a stable order and with stable file
names so that export → import → export gives the same bytes.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from lms.quizzes import bank, questions
from lms.quizzes.settings import QuizSettings, QuizSettingsError, of_lesson_settings, parse

if TYPE_CHECKING:  # package.py imports this module: no import cycle at run time
    from lms.content.package import CoursePackage, YMap, _Reader

BANK_FIELD = "question_bank"
BANK_FILE_FIELDS = ("category", "questions")
BANK_FOLDER = "questions"
UNCATEGORISED = "uncategorised"
# Keys whose plain YAML scalars are meant as text: "id: 1" is the id "1", "text: yes" is "yes".
_TEXT_KEYS = frozenset(
    {"uid", "title", "category", "question", "id", "text", "explanation", "feedback", "match"}
)
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass
class BankQuestion:
    uid: str
    title: str
    spec: dict[str, Any]  # validated by questions.validate
    line: int = 0


@dataclass
class BankFile:
    path: str
    category: str | None
    questions: list[BankQuestion] = field(default_factory=list)


# --- reading ---------------------------------------------------------------------------------


def plain(value: Any, *, texty: bool = False) -> Any:
    """YAML data as plain dicts and lists, with the texts YAML would read as other things
    (``yes``, ``2026``, ``1.5``) kept as written."""
    from lms.content.package import YMap  # noqa: PLC0415 - package.py imports this module

    if isinstance(value, dict):
        raw = value.raw if isinstance(value, YMap) else {}
        result = {}
        for key, item in value.items():
            text_here = texty or key in _TEXT_KEYS
            if text_here and key in raw and not isinstance(item, str | dict | list):
                item = raw[key]
            result[key] = plain(item, texty=texty or key == "feedback")
        return result
    if isinstance(value, list):
        return [plain(item, texty=texty) for item in value]
    return value


def line_at(node: Any, path: str | None, default: int) -> int:
    """The line of ``path`` (``choices[2].texts.en``) in YAML data, as deep as it exists."""
    from lms.content.package import YMap, YSeq  # noqa: PLC0415

    line = default
    for name, index in _STEP.findall(path or ""):
        if name and isinstance(node, YMap) and name in node:
            line = node.line_of(name)
            node = node[name]
        elif index and isinstance(node, YSeq) and int(index) < len(node):
            line = node.item_lines[int(index)]
            node = node[int(index)]
        else:
            break
    return line


def _unknown_fields(
    reader: _Reader, file: str, data: YMap, allowed: Iterable[str], required: Iterable[str]
) -> None:
    allowed = sorted(allowed)
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            message = (
                _l(
                    "unknown field %(field)s (did you mean %(suggestion)s?)",
                    field=f"'{key}'",
                    suggestion=f"'{close[0]}'",
                )
                if close
                else _l("unknown field %(field)s", field=f"'{key}'")
            )
            reader.problem(file, data.key_lines[key], message)
    for key in required:
        if key not in data:
            reader.problem(file, data.line, _l("the field %(field)s is required", field=f"'{key}'"))


def read_quiz(reader: _Reader, data: YMap) -> QuizSettings | None:
    """The ``quiz:`` settings of a quiz lesson in course.yaml, or None after reporting."""
    from lms.content.package import YMap  # noqa: PLC0415

    value = data["quiz"]
    line = data.line_of("quiz")
    if not isinstance(value, YMap):
        reader.error(line, _l("'quiz' must be a mapping of the quiz's settings"))
        return None
    try:
        return parse(plain(value))
    except QuizSettingsError as error:
        reader.error(
            line_at(value, error.field, line), _l("quiz settings: %(problem)s", problem=error)
        )
        return None


def read_bank(reader: _Reader, data: YMap) -> list[BankFile]:
    """The bank files named by ``question_bank`` in course.yaml, each checked."""
    from lms.content.package import YMap, YSeq  # noqa: PLC0415

    if BANK_FIELD not in data:
        return []
    paths = data[BANK_FIELD]
    if not isinstance(paths, YSeq):
        reader.error(
            data.line_of(BANK_FIELD),
            _l("%(field)s must be a list (lines starting with -)", field=f"'{BANK_FIELD}'"),
        )
        return []
    files: list[BankFile] = []
    uids: dict[str, str] = {}  # uid -> "file:line" where it is first used
    categories: dict[str | None, str] = {}  # category -> file
    for index, value in enumerate(paths):
        line = paths.item_lines[index]
        found = reader.resolve(value, line, f"{BANK_FIELD}[{index}]")
        if found is None:
            continue
        relative = found[0]
        content = reader.load_yaml(*found)
        if content is None:
            continue
        if not isinstance(content, YMap):
            reader.problem(relative, 1, _l("a question bank file must be a mapping"))
            continue
        _unknown_fields(reader, relative, content, BANK_FILE_FIELDS, ("questions",))
        category = _category(reader, relative, content)
        if category in categories:
            reader.problem(
                relative,
                content.line_of("category") if "category" in content else 1,
                _l(
                    "the questions of this category are already in %(path)s: "
                    "write one file per category",
                    path=categories[category],
                ),
            )
        else:
            categories[category] = relative
        bank_file = BankFile(relative, category)
        items = content.get("questions")
        if "questions" in content and not isinstance(items, YSeq):
            reader.problem(
                relative,
                content.line_of("questions"),
                _l("%(field)s must be a list (lines starting with -)", field="'questions'"),
            )
            items = None
        for position, item in enumerate(items or ()):
            item_line = items.item_lines[position]  # type: ignore[union-attr]
            question = _question(reader, relative, item, item_line, uids)
            if question is not None:
                bank_file.questions.append(question)
        files.append(bank_file)
    return files


def _category(reader: _Reader, file: str, content: YMap) -> str | None:
    if "category" not in content:
        return None
    value = plain(content)["category"]
    name = " ".join(value.split()) if isinstance(value, str) else ""
    if not name or len(name) > bank.MAX_CATEGORY:
        reader.problem(
            file,
            content.line_of("category"),
            _l(
                "'category' must be a text of at most %(limit)d characters",
                limit=bank.MAX_CATEGORY,
            ),
        )
        return None
    return name


def _question(
    reader: _Reader, file: str, item: Any, line: int, uids: dict[str, str]
) -> BankQuestion | None:
    from lms.content.package import YMap  # noqa: PLC0415

    if not isinstance(item, YMap):
        reader.problem(file, line, _l("a question must be a mapping (key: value lines)"))
        return None
    data = plain(item)
    uid = data.pop("uid", None)
    title = data.pop("title", "")
    if not isinstance(uid, str) or not bank.UID_PATTERN.fullmatch(uid):
        reader.problem(
            file,
            item.line_of("uid"),
            _l(
                "a question needs a 'uid': letters, digits, '.', '-' and '_' (at most 64), "
                "the same in every version of the package"
            ),
        )
        return None
    where = f"{file}:{item.line_of('uid')}"
    if uid in uids:
        reader.problem(
            file,
            item.line_of("uid"),
            _l("the question id '%(uid)s' is already used at %(where)s", uid=uid, where=uids[uid]),
        )
        return None
    uids[uid] = where
    if not isinstance(title, str) or len(" ".join(title.split())) > bank.MAX_TITLE:
        reader.problem(
            file,
            item.line_of("title"),
            _l("'title' must be a text of at most %(limit)d characters", limit=bank.MAX_TITLE),
        )
        return None
    try:
        spec = questions.validate(data)
    except questions.QuestionError as error:
        reader.problem(
            file,
            line_at(item, error.field, item.line),
            _l("question '%(uid)s': %(problem)s", uid=uid, problem=error),
        )
        return None
    return BankQuestion(uid=uid, title=" ".join(title.split()), spec=spec, line=item.line)


def check_slots(reader: _Reader, package: CoursePackage, quiz_lines: dict[str, YMap]) -> None:
    """Every quiz slot names a question of the bank, or a category with enough questions.

    ``quiz_lines`` maps a lesson uid to its ``quiz:`` mapping, for the lines.
    """
    uids = {question.uid for bank_file in package.bank for question in bank_file.questions}
    sizes: dict[str, set[str]] = {}
    for bank_file in package.bank:
        if bank_file.category is not None:
            sizes.setdefault(bank_file.category, set()).update(q.uid for q in bank_file.questions)
    for lesson in package.lessons:
        settings: QuizSettings | None = getattr(lesson, "quiz", None)
        node = quiz_lines.get(lesson.uid)
        if settings is None or node is None:
            continue
        fixed = {slot.question for slot in settings.slots if slot.question}
        seen: set[str] = set()
        for index, slot in enumerate(settings.slots):
            line = line_at(node, f"slots[{index}]", node.line)
            if slot.question is not None:
                if slot.question not in uids:
                    reader.error(
                        line,
                        _l(
                            "the question bank has no question '%(uid)s'",
                            uid=slot.question,
                        ),
                    )
                elif slot.question in seen:
                    reader.error(
                        line,
                        _l("the question '%(uid)s' is already in this quiz", uid=slot.question),
                    )
                seen.add(slot.question)
                continue
            category = slot.category or ""
            if category not in sizes:
                reader.error(
                    line,
                    _l(
                        "the question bank has no category '%(category)s' (known: %(known)s)",
                        category=category,
                        known=", ".join(sorted(sizes)) or "-",
                    ),
                )
                continue
            available = len(sizes[category] - fixed)
            if slot.count > available:
                reader.error(
                    line,
                    _l(
                        "the category '%(category)s' has %(available)d questions this quiz "
                        "does not already ask; it cannot draw %(count)d",
                        category=category,
                        available=available,
                        count=slot.count,
                    ),
                )


# --- writing ---------------------------------------------------------------------------------


def quiz_data(settings: QuizSettings) -> dict[str, Any]:
    """The ``quiz:`` mapping of course.yaml: the pass mark, the slots and what is not a
    default (``parse`` fills the rest in again)."""
    data = settings.to_dict()
    defaults = QuizSettings().to_dict()
    return {
        key: value
        for key, value in data.items()
        if key in ("pass_mark", "slots") or value != defaults[key]
    }


class _BankDumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _text_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Markdown over several lines stays readable (and diffable) as a literal block.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BankDumper.add_representer(str, _text_representer)


def bank_file_data(bank_file: BankFile) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if bank_file.category is not None:
        data["category"] = bank_file.category
    data["questions"] = [
        {"uid": q.uid, **({"title": q.title} if q.title else {}), **q.spec}
        for q in bank_file.questions
    ]
    return data


def dump_bank_file(bank_file: BankFile) -> str:
    return yaml.dump(
        bank_file_data(bank_file),
        Dumper=_BankDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1_000_000,
    )


# --- the database ----------------------------------------------------------------------------


@dataclass
class BankReport:
    questions: int = 0
    written: list[str] = field(default_factory=list)  # uids added or changed
    archived: list[str] = field(default_factory=list)


def import_bank(session: Session, course_id: int, files: list[BankFile]) -> BankReport:
    """Make the course's bank what the package says: questions matched by uid are updated
    in place, new ones added, the others archived (attempts keep their copies). Unchanged
    questions are not written at all."""
    entries = [
        bank.BankEntry(q.uid, q.title, bank_file.category, q.spec)
        for bank_file in files
        for q in bank_file.questions
    ]
    current = {entry.uid or "": entry for entry in bank.export_entries(session, course_id)}
    report = BankReport(questions=len(entries))
    wanted = {q.uid for bank_file in files for q in bank_file.questions}
    report.written = [e.uid or "" for e in entries if current.get(e.uid or "") != e]
    report.archived = sorted(uid for uid in current if uid not in wanted)
    if report.written:
        # The package was checked: a problem here is a bug, and the caller rolls back.
        bank.import_entries(session, course_id, entries, replace=True)
    elif report.archived:
        for uid in report.archived:
            question = bank.question_by_uid(session, course_id, uid)
            if question is not None:
                bank.archive_question(session, question)
    return report


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-")


def export_bank(session: Session, course_id: int, notes: list[Any]) -> list[BankFile]:
    """The bank's active questions, one file per category, with stable names."""
    files: dict[str | None, BankFile] = {}
    taken: set[str] = set()
    for entry in bank.export_entries(session, course_id):  # uncategorised first, then by name
        try:
            spec = questions.validate(entry.spec)  # the canonical order of its keys
        except questions.QuestionError as error:  # stored before a rule changed
            notes.append(
                _l(
                    "question %(uid)s is not valid (%(problem)s); not exported",
                    uid=entry.uid,
                    problem=error,
                )
            )
            continue
        bank_file = files.get(entry.category)
        if bank_file is None:
            base = UNCATEGORISED if entry.category is None else _slug(entry.category) or "category"
            name, number = base, 1
            while name in taken:
                number += 1
                name = f"{base}-{number}"
            taken.add(name)
            bank_file = files[entry.category] = BankFile(
                f"{BANK_FOLDER}/{name}.yaml", entry.category
            )
        bank_file.questions.append(BankQuestion(uid=entry.uid or "", title=entry.title, spec=spec))
    return list(files.values())


def export_notes(package: CoursePackage) -> list[Any]:
    """What would stop the exported package from importing: quizzes naming questions or
    categories the bank no longer has (archived in the browser, say)."""
    uids = {q.uid for bank_file in package.bank for q in bank_file.questions}
    categories = {bank_file.category for bank_file in package.bank}
    notes: list[Any] = []
    for lesson in package.lessons:
        settings: QuizSettings | None = getattr(lesson, "quiz", None)
        for slot in settings.slots if settings is not None else ():
            if slot.question is not None and slot.question not in uids:
                notes.append(
                    _l(
                        "lesson %(uid)s: its quiz asks the question '%(question)s', which is "
                        "not in the question bank; fix the quiz before importing the package",
                        uid=lesson.uid,
                        question=slot.question,
                    )
                )
            if slot.category is not None and slot.category not in categories:
                notes.append(
                    _l(
                        "lesson %(uid)s: its quiz draws from the category '%(category)s', which "
                        "has no questions; fix the quiz before importing the package",
                        uid=lesson.uid,
                        category=slot.category,
                    )
                )
    return notes


def export_quiz(lesson_settings: dict[str, Any] | None, notes: list[Any], uid: str) -> Any:
    """A quiz lesson's settings for course.yaml, or None when it has none (or bad ones)."""
    if not lesson_settings or "quiz" not in lesson_settings:
        return None
    try:
        return of_lesson_settings(lesson_settings)
    except QuizSettingsError as error:
        notes.append(
            _l(
                "lesson %(uid)s: its quiz settings are not valid (%(problem)s); not exported",
                uid=uid,
                problem=error,
            )
        )
        return None
