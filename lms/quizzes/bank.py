"""A course's question bank: the shared interface for the editor, GIFT and course packages.

Services only (no Flask globals, no commit): they take a ``Session`` and a course id,
flush, and raise :class:`questions.QuestionError` or :class:`BankImportError` with
translated messages. The views (``authoring_views``) and the course-package importer
(helper "quiz-content") both use:

- :class:`BankEntry` — one question as plain data: ``uid`` (``None``: a new question),
  ``title``, ``category`` name (``None``: none) and ``spec`` (a :mod:`questions` spec).
- :func:`save_question`, :func:`archive_question`, :func:`get_or_create_category`.
- :func:`import_entries` — all-or-nothing: every entry is validated first and every
  problem reported (:class:`BankImportError`, each with the entry's index and, for GIFT,
  its line); entries with a ``uid`` update the question of that uid (upsert).
- :func:`export_entries` — the bank's active questions as entries.
- :func:`gift_to_entries` / :func:`entries_to_gift` — Moodle GIFT ⇄ entries.

GIFT mapping (``gift.py`` names → ``questions.py`` names): ``single`` → ``single_choice``
(weights -1..1), ``multiple`` → ``multiple_response`` with ``scoring: partial``,
``truefalse`` → ``true_false``, ``numeric`` → ``numeric`` (value ± tolerance or a
range; fraction → credit), ``short`` → ``short_answer`` (case-insensitive, like
Moodle's default), ``matching`` → ``matching`` (distinct right-hand texts become options;
``= -> extra`` a distractor). A missing-word question keeps ``_____`` where the blank is.
GIFT's general feedback is the explanation. Essay and description questions are not
supported: they are reported with their line. GIFT has no points, uids, languages,
images or ordering questions: export writes the uid and points in a comment line
(``// kenshu: uid=... points=...``) that import reads back, writes one language, skips
ordering questions (listed in a comment at the top) and writes an all-or-nothing
multiple response as weights (right choices share 100%, wrong ones -100%).
Lost on a round trip: the numeric "any other number" feedback (no place in a spec),
a short answer's case sensitivity, images.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.catalog.models import Course
from lms.db import utcnow
from lms.quizzes import gift, questions
from lms.quizzes.models import Question, QuestionCategory

UID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_TITLE = 200
MAX_CATEGORY = 200
MAX_ENTRIES = 2000
BLANK = gift.BLANK
GIFT_FORMAT = "markdown"  # question texts are Markdown everywhere in Kenshu
_META = re.compile(r"^\s*//\s*kenshu:\s*(?P<pairs>.*)$")

Spec = dict[str, Any]


@dataclass
class BankEntry:
    uid: str | None
    title: str
    category: str | None
    spec: Spec
    line: int | None = field(default=None, compare=False)  # where a GIFT question starts


@dataclass(frozen=True)
class EntryError:
    """One problem of an import: the entry's 0-based index, its line (GIFT), the field."""

    index: int | None
    line: int | None
    message: Any
    field: str | None = None

    def __str__(self) -> str:
        message = str(self.message)
        if self.field:
            message = str(_l("%(field)s: %(message)s", field=self.field, message=message))
        if self.line is not None:
            return str(_l("Line %(line)d: %(message)s", line=self.line, message=message))
        if self.index is not None:
            return str(
                _l("Question %(number)d: %(message)s", number=self.index + 1, message=message)
            )
        return message


class BankImportError(ValueError):
    """Nothing was imported; ``errors`` lists every problem found."""

    def __init__(self, errors: Iterable[EntryError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.line or 0, e.index or 0))
        super().__init__("\n".join(str(error) for error in self.errors))


def new_uid() -> str:
    return f"q-{secrets.token_hex(5)}"


def new_id() -> str:
    """An opaque choice id: it must not tell the answer (it reaches the browser)."""
    return f"k{secrets.token_hex(4)}"


# --- categories and questions ----------------------------------------------------------


def _category_name(name: str | None) -> str | None:
    if name is None:
        return None
    name = " ".join(name.split())
    if not name:
        return None
    if len(name) > MAX_CATEGORY:
        raise questions.QuestionError(
            _l("is longer than %(maximum)d characters", maximum=MAX_CATEGORY), "category"
        )
    return name


def categories(session: Session, course_id: int) -> list[QuestionCategory]:
    return list(
        session.scalars(
            select(QuestionCategory)
            .where(QuestionCategory.course_id == course_id)
            .order_by(QuestionCategory.name)
        )
    )


def get_or_create_category(session: Session, course_id: int, name: str) -> QuestionCategory:
    checked = _category_name(name)
    if checked is None:
        raise questions.QuestionError(_l("must be a non-empty text"), "category")
    category = session.scalar(
        select(QuestionCategory).where(
            QuestionCategory.course_id == course_id, QuestionCategory.name == checked
        )
    )
    if category is None:
        category = QuestionCategory(course_id=course_id, name=checked)
        session.add(category)
        session.flush()
    return category


def _draft_changed(session: Session, course_id: int) -> None:
    """Trainees draw from the bank frozen at publish: a change waits for the next one."""
    course = session.get(Course, course_id)
    if course is not None and not course.draft_changed:
        course.draft_changed = True


def rename_category(session: Session, category: QuestionCategory, name: str) -> None:
    checked = _category_name(name)
    if checked is None:
        raise questions.QuestionError(_l("must be a non-empty text"), "name")
    taken = session.scalar(
        select(QuestionCategory.id).where(
            QuestionCategory.course_id == category.course_id,
            QuestionCategory.name == checked,
            QuestionCategory.id != category.id,
        )
    )
    if taken is not None:
        raise questions.QuestionError(_l("another category has this name"), "name")
    category.name = checked
    _draft_changed(session, category.course_id)
    session.flush()


def delete_category(session: Session, category: QuestionCategory) -> None:
    """Its questions stay in the bank, without a category."""
    for question in session.scalars(select(Question).where(Question.category_id == category.id)):
        question.category_id = None
    _draft_changed(session, category.course_id)
    session.delete(category)
    session.flush()


def question_by_uid(
    session: Session, course_id: int, uid: str, *, archived: bool = False
) -> Question | None:
    query = select(Question).where(Question.course_id == course_id, Question.uid == uid)
    if not archived:
        query = query.where(Question.archived_at.is_(None))
    return session.scalar(query)


def active_questions(
    session: Session,
    course_id: int,
    *,
    category_id: int | None = None,
    uncategorised: bool = False,
    kind: str | None = None,
) -> list[Question]:
    query = select(Question).where(Question.course_id == course_id, Question.archived_at.is_(None))
    if uncategorised:
        query = query.where(Question.category_id.is_(None))
    elif category_id is not None:
        query = query.where(Question.category_id == category_id)
    if kind:
        query = query.where(Question.type == kind)
    return list(session.scalars(query.order_by(Question.title, Question.id)))


def _check_entry(entry: BankEntry) -> tuple[str | None, str, str | None, Spec]:
    """The entry's uid, title, category and validated spec, or QuestionError."""
    uid = entry.uid.strip() if isinstance(entry.uid, str) else entry.uid
    if uid is not None and not UID_PATTERN.fullmatch(uid):
        raise questions.QuestionError(
            _l("must be an id of letters, digits, '.', '-' and '_' (at most 64 characters)"),
            "uid",
        )
    title = " ".join((entry.title or "").split())
    if len(title) > MAX_TITLE:
        raise questions.QuestionError(
            _l("is longer than %(maximum)d characters", maximum=MAX_TITLE), "title"
        )
    category = _category_name(entry.category)
    spec = questions.validate(entry.spec)
    return uid, title, category, spec


def _store(
    session: Session,
    course_id: int,
    uid: str | None,
    title: str,
    category: str | None,
    spec: Spec,
) -> Question:
    category_id = get_or_create_category(session, course_id, category).id if category else None
    question = question_by_uid(session, course_id, uid, archived=True) if uid else None
    if question is None:
        question = Question(course_id=course_id, uid=uid or new_uid())
        session.add(question)
    question.title = title
    question.category_id = category_id
    question.type = spec["type"]
    question.spec = spec
    question.archived_at = None
    question.updated_at = utcnow()
    _draft_changed(session, course_id)
    session.flush()
    return question


def save_question(
    session: Session,
    course_id: int,
    *,
    uid: str | None,
    title: str,
    category: str | None,
    spec: Spec,
) -> Question:
    """Create (``uid=None`` or a new uid) or update the question; QuestionError when invalid."""
    checked = _check_entry(BankEntry(uid, title, category, spec))
    return _store(session, course_id, *checked)


def archive_question(session: Session, question: Question) -> None:
    """Out of the bank; attempts and the published version keep their frozen copies.

    The next publish refuses a quiz whose fixed slot still names it.
    """
    question.archived_at = utcnow()
    _draft_changed(session, question.course_id)
    session.flush()


def import_entries(
    session: Session, course_id: int, entries: Sequence[BankEntry], *, replace: bool
) -> list[Question]:
    """All entries or none: validated first, every problem reported with index and line.

    An entry with a ``uid`` updates that question (archived ones come back); ``replace``
    also archives the bank's questions that no entry names.
    """
    errors: list[EntryError] = []
    if len(entries) > MAX_ENTRIES:
        raise BankImportError(
            [EntryError(None, None, _l("At most %(n)d questions at once.", n=MAX_ENTRIES))]
        )
    checked = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        try:
            item = _check_entry(entry)
        except questions.QuestionError as error:
            errors.append(EntryError(index, entry.line, error.message, error.field))
            continue
        uid = item[0]
        if uid is not None:
            if uid in seen:
                errors.append(
                    EntryError(
                        index,
                        entry.line,
                        _l("the id '%(id)s' is used twice", id=uid),
                        "uid",
                    )
                )
                continue
            seen[uid] = index
        checked.append(item)
    if errors:
        raise BankImportError(errors)
    if not checked:
        raise BankImportError([EntryError(None, None, _l("There is no question to import."))])
    stored = [_store(session, course_id, *item) for item in checked]
    if replace:
        kept = {question.id for question in stored}
        for question in active_questions(session, course_id):
            if question.id not in kept:
                question.archived_at = utcnow()
        session.flush()
    return stored


def entry_of(question: Question) -> BankEntry:
    return BankEntry(
        uid=question.uid,
        title=question.title,
        category=question.category.name if question.category else None,
        spec=question.spec,
    )


def export_entries(session: Session, course_id: int) -> list[BankEntry]:
    """The active questions, uncategorised first, then by category name."""
    rows = active_questions(session, course_id)
    entries = [entry_of(question) for question in rows]
    return sorted(entries, key=lambda entry: (entry.category is not None, entry.category or ""))


# --- GIFT -> entries ------------------------------------------------------------------


def _meta(lines: Sequence[str], start: int) -> dict[str, str]:
    """``// kenshu: uid=... points=...`` in the comment lines just above line ``start``."""
    values: dict[str, str] = {}
    index = start - 2  # the 0-based index of the line above
    while index >= 0 and lines[index].lstrip().startswith("//"):
        if match := _META.match(lines[index]):
            for pair in match.group("pairs").split():
                key, _sep, value = pair.partition("=")
                values.setdefault(key, value)
        index -= 1
    return values


def _question_text(q: gift.GiftQuestion) -> str:
    if q.text_after is None:
        return q.text
    return " ".join(part for part in (q.text, BLANK, q.text_after) if part)


def _texts(q: gift.GiftQuestion, text: str, language: str) -> dict[str, dict[str, str]]:
    entry = {"text": text}
    if q.general_feedback.strip():
        entry["explanation"] = q.general_feedback
    return {language: entry}


def _feedback(text: str, language: str) -> dict[str, str]:
    return {language: text} if text.strip() else {}


def _choice(text: str, feedback: str, language: str, **extra: Any) -> dict[str, Any]:
    texts = {"text": text}
    if feedback.strip():
        texts["feedback"] = feedback
    return {"id": new_id(), "texts": {language: texts}, **extra}


def _gift_spec(q: gift.GiftQuestion, language: str, points: float) -> Spec:
    """A questions.py spec for a parsed GIFT question; QuestionError when it has no match."""
    spec: Spec = {
        "type": "",
        "points": points,
        "texts": _texts(q, _question_text(q), language),
    }
    if q.type == "single":
        spec["type"] = "single_choice"
        spec["choices"] = [
            _choice(a.text, a.feedback, language, weight=a.fraction) for a in q.answers
        ]
    elif q.type == "multiple":
        spec["type"] = "multiple_response"
        spec["scoring"] = "partial"
        spec["choices"] = [
            _choice(a.text, a.feedback, language, weight=a.fraction) for a in q.answers
        ]
    elif q.type == "truefalse":
        spec["type"] = "true_false"
        spec["answer"] = bool(q.truth)
        right, wrong = ("true", "false") if q.truth else ("false", "true")
        feedback = {}
        if q.feedback_right.strip():
            feedback[right] = _feedback(q.feedback_right, language)
        if q.feedback_wrong.strip():
            feedback[wrong] = _feedback(q.feedback_wrong, language)
        if feedback:
            spec["feedback"] = feedback
    elif q.type == "numeric":
        spec["type"] = "numeric"
        answers = []
        for index, a in enumerate(q.numeric):
            if a.fraction <= 0:
                raise questions.QuestionError(
                    _l("an answer that gives no credit is not supported; remove it"),
                    f"answers[{index}]",
                )
            answer: dict[str, Any] = {"id": new_id(), "credit": a.fraction}
            if a.is_range:
                answer["min"], answer["max"] = a.minimum, a.maximum
            else:
                answer["value"], answer["tolerance"] = a.value, a.tolerance
            if a.feedback.strip():
                answer["feedback"] = _feedback(a.feedback, language)
            answers.append(answer)
        spec["answers"] = answers
    elif q.type == "short":
        spec["type"] = "short_answer"
        spec["case_sensitive"] = False
        answers = []
        for index, a in enumerate(q.answers):
            if a.fraction <= 0:
                raise questions.QuestionError(
                    _l("an answer that gives no credit is not supported; remove it"),
                    f"answers[{index}]",
                )
            answer = {"id": new_id(), "text": a.text, "credit": a.fraction}
            if a.feedback.strip():
                answer["feedback"] = _feedback(a.feedback, language)
            answers.append(answer)
        spec["answers"] = answers
    elif q.type == "matching":
        spec["type"] = "matching"
        options: dict[str, dict[str, Any]] = {}  # several prompts may share a right side
        prompts = []
        for pair in q.pairs:
            option = options.get(pair.right)
            if option is None:
                option = options[pair.right] = {
                    "id": new_id(),
                    "texts": {language: {"text": pair.right}},
                }
            if pair.left:
                prompts.append(
                    {
                        "id": new_id(),
                        "texts": {language: {"text": pair.left}},
                        "match": option["id"],
                    }
                )
        spec["prompts"] = prompts
        spec["options"] = list(options.values())
    else:  # essay, description
        raise questions.QuestionError(
            _l(
                "%(type)s questions are not supported (only questions that can be graded)",
                type=_l("Essay") if q.type == "essay" else _l("Description"),
            )
        )
    return spec


def gift_to_entries(text: str, *, language: str = "en") -> list[BankEntry]:
    """The questions of a GIFT file as entries (texts in ``language``), or every problem.

    Raises :class:`BankImportError` listing every syntax error and every question that
    has no Kenshu equivalent or does not validate, each with its line; then nothing of
    the file may be imported.
    """
    try:
        parsed = gift.parse_gift(text)
    except gift.GiftFileError as error:
        raise BankImportError(EntryError(None, e.line, e.message) for e in error.errors) from None
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    entries: list[BankEntry] = []
    errors: list[EntryError] = []
    for index, q in enumerate(parsed):
        meta = _meta(lines, q.line)
        points = 1.0
        if "points" in meta:
            try:
                points = float(meta["points"])
            except ValueError:
                errors.append(EntryError(index, q.line, _l("must be a number"), "points"))
                continue
        try:
            spec = _gift_spec(q, language, points)
            entry = BankEntry(
                uid=meta.get("uid") or None,
                title=q.title or "",
                category=q.category,
                spec=spec,
                line=q.line,
            )
            _check_entry(entry)
        except questions.QuestionError as error:
            errors.append(EntryError(index, q.line, error.message, error.field))
            continue
        entries.append(entry)
    if errors:
        raise BankImportError(errors)
    if not entries:
        raise BankImportError([EntryError(None, None, _l("There is no question to import."))])
    return entries


# --- entries -> GIFT ------------------------------------------------------------------


def _pick(texts: dict[str, Any], language: str) -> Any:
    if language in texts:
        return texts[language]
    return next(iter(texts.values()))


def _split_blank(text: str) -> tuple[str, str | None]:
    if text.count(BLANK) != 1:
        return text, None
    before, after = text.split(BLANK)
    return before.strip(), after.strip() or None


def _to_gift(entry: BankEntry, language: str) -> gift.GiftQuestion | None:
    """The GIFT question of an entry, None when GIFT cannot hold it."""
    spec = entry.spec
    kind = spec["type"]
    texts = _pick(spec["texts"], language)
    text, after = _split_blank(texts["text"])
    q = gift.GiftQuestion(
        type="single",
        text=text,
        title=entry.title or None,
        category=entry.category,
        text_format=GIFT_FORMAT,
        text_after=after,
        general_feedback=texts.get("explanation", ""),
    )

    def choice_text(choice: dict[str, Any]) -> tuple[str, str]:
        own = _pick(choice["texts"], language)
        return own["text"], own.get("feedback", "")

    def feedback_of(entry: dict[str, Any]) -> str:
        return _pick(entry["feedback"], language) if entry.get("feedback") else ""

    if kind == "single_choice":
        q.answers = [_answer(choice_text(c), c["weight"]) for c in spec["choices"]]
    elif kind == "multiple_response":
        q.type = "multiple"
        if spec["scoring"] == "partial":
            weights = [c["weight"] for c in spec["choices"]]
        else:
            right = sum(1 for c in spec["choices"] if c.get("correct"))
            weights = [1.0 / right if c.get("correct") else -1.0 for c in spec["choices"]]
        q.answers = [
            _answer(choice_text(c), w) for c, w in zip(spec["choices"], weights, strict=True)
        ]
    elif kind == "true_false":
        q.type = "truefalse"
        q.truth = spec["answer"]
        right, wrong = ("true", "false") if q.truth else ("false", "true")
        feedback = spec.get("feedback", {})
        q.feedback_right = _pick(feedback[right], language) if feedback.get(right) else ""
        q.feedback_wrong = _pick(feedback[wrong], language) if feedback.get(wrong) else ""
    elif kind == "numeric":
        q.type = "numeric"
        for a in spec["answers"]:
            answer = gift.GiftNumericAnswer(fraction=a["credit"], feedback=feedback_of(a))
            if "value" in a:
                answer.value, answer.tolerance = a["value"], a["tolerance"]
            else:
                answer.minimum, answer.maximum = a["min"], a["max"]
            q.numeric.append(answer)
    elif kind == "short_answer":
        q.type = "short"
        answers = [gift.GiftAnswer(a["text"], a["credit"], feedback_of(a)) for a in spec["answers"]]
        # GIFT reads a first answer holding "->" as matching: start with another one.
        answers.sort(key=lambda a: "->" in a.text)
        if "->" in answers[0].text:
            return None
        q.answers = answers
    elif kind == "matching":
        q.type = "matching"
        options = {o["id"]: _pick(o["texts"], language)["text"] for o in spec["options"]}
        used = {p["match"] for p in spec["prompts"]}
        q.pairs = [
            gift.GiftPair(_pick(p["texts"], language)["text"], options[p["match"]])
            for p in spec["prompts"]
        ]
        q.pairs += [gift.GiftPair("", text) for id_, text in options.items() if id_ not in used]
        if any("->" in pair.left for pair in q.pairs):
            return None
    else:
        return None
    return q


def _answer(text_and_feedback: tuple[str, str], fraction: float) -> gift.GiftAnswer:
    text, feedback = text_and_feedback
    return gift.GiftAnswer(text=text, fraction=fraction, feedback=feedback)


def entries_to_gift(entries: Iterable[BankEntry], *, language: str | None = None) -> str:
    """A GIFT file of ``entries`` (texts in ``language``, else each question's first one)."""
    ordered = sorted(entries, key=lambda e: (e.category is not None, e.category or ""))
    chunks: list[str] = []
    skipped: list[str] = []
    category: str | None = None
    for entry in ordered:
        lang = language or next(iter(entry.spec["texts"]))
        q = _to_gift(entry, lang)
        if q is None:
            skipped.append(entry.uid or entry.title)
            continue
        if q.category != category:
            chunks.append(f"$CATEGORY: {q.category}")
            category = q.category
        meta = f"// kenshu: uid={entry.uid}" if entry.uid else "// kenshu:"
        meta += f" points={gift._number_text(entry.spec['points'])}"
        body = gift.write_gift([replace(q, category=None)]).rstrip("\n")
        chunks.append(f"{meta}\n{body}")
    if skipped:
        head = "// Not exported, GIFT has no such question: " + ", ".join(skipped)
        chunks.insert(0, head)
    return "\n\n".join(chunks) + "\n" if chunks else ""
