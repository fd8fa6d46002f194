"""The course package format: read and check a package folder, or write one.

A package is a folder with ``course.yaml`` at its top and the files it names:
Markdown for lesson texts, media (videos, PDF handouts) and captions. The format is
described in ``content/README.md``; this module is its one implementation.

:func:`read_package` checks *everything* before anything is imported: the YAML (with
line numbers), every path (no absolute path, no ``..``, no symbolic link anywhere in
the folder), every file by its content (a video must be a playable video, a PDF a
readable PDF, captions must parse and fit the video), ids and languages, and the
question bank and quiz settings (:mod:`lms.content.quizzes`). It returns a
:class:`CoursePackage` only when there is no problem at all, else raises
:class:`PackageError` with every problem found, each as ``file:line: message``.

:func:`write_package` writes a :class:`CoursePackage` (built by the exporter) to a
folder, with ``course.yaml`` in a stable order so that the same course always gives
the same bytes.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import yaml
from flask_babel import lazy_gettext as _l

from lms.catalog.models import DEFAULT_VIDEO_THRESHOLD, LessonKind, Texts
from lms.catalog.services import CODE_PATTERN, UID_PATTERN
from lms.content import quizzes
from lms.content.quizzes import BankFile
from lms.i18n import CONTENT_LANGUAGES
from lms.media.captions import CaptionError, parse_captions, to_webvtt
from lms.media.models import MediaKind
from lms.media.probe import MediaError, probe_pdf, probe_video
from lms.quizzes.settings import QuizSettings

FORMAT_VERSION = 1
COURSE_FILE = "course.yaml"
# Text files (course.yaml, Markdown, captions, quiz files) are read whole into memory.
MAX_TEXT_BYTES = 4 * 1024 * 1024
MAX_TITLE_LENGTH = 200
MAX_MINUTES = 600


# --- problems ------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageProblem:
    """One thing wrong with a package: where (file and line, when known) and what."""

    file: str  # relative to the package folder, with "/" between folders
    line: int | None  # 1-based
    message: Any  # a lazily translated string

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class PackageError(Exception):
    """A package that cannot be imported; ``problems`` lists every reason found."""

    def __init__(self, problems: Iterable[PackageProblem]) -> None:
        unique = {(p.file, p.line, str(p.message)): p for p in problems}  # one per place
        self.problems = sorted(
            unique.values(), key=lambda p: (p.file != COURSE_FILE, p.file, p.line or 0)
        )
        super().__init__("\n".join(str(p) for p in self.problems))


# --- what a package holds ------------------------------------------------------------


@dataclass
class TextFile:
    path: str  # relative, "/"-separated
    text: str  # stripped of leading and trailing blank space; written back with one "\n"


@dataclass
class MediaFile:
    """A video or a PDF handout, checked by content; ``open`` reads its bytes."""

    path: str
    kind: str  # a MediaKind value: "video" or "document"
    size: int
    sha256: str
    open: Callable[[], BinaryIO]
    source: Path | None = None  # the file on disk, when read from a package folder
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return PurePosixPath(self.path).name


@dataclass
class CaptionFile:
    path: str
    language: str
    vtt: str  # the canonical WebVTT (an SRT file is converted)
    cue_count: int


@dataclass
class LessonEntry:
    uid: str
    kind: str
    titles: dict[str, str]  # language -> title
    required: bool = True
    estimated_minutes: int = 10
    completion_threshold: float = DEFAULT_VIDEO_THRESHOLD
    bodies: dict[str, TextFile] = field(default_factory=dict)  # language -> Markdown
    media: MediaFile | None = None
    captions: dict[str, CaptionFile] = field(default_factory=dict)  # language -> captions
    # Files of the fields reserved for later kinds of content (quiz, tour): path by field.
    reserved: dict[str, str] = field(default_factory=dict)
    tour: Any = None  # a plant tour: lms.tours.package.TourFile
    quiz: QuizSettings | None = None  # a quiz lesson's settings (lms.quizzes.settings)
    line: int = 0

    @property
    def texts(self) -> Texts:
        """Titles and bodies as stored on a lesson: ``{language: {title, body}}``."""
        texts: Texts = {}
        for language, title in self.titles.items():
            texts.setdefault(language, {})["title"] = title
        for language, body in self.bodies.items():
            texts.setdefault(language, {})["body"] = body.text
        return texts


@dataclass
class ModuleEntry:
    uid: str
    titles: dict[str, str]
    lessons: list[LessonEntry] = field(default_factory=list)
    line: int = 0

    @property
    def texts(self) -> Texts:
        return {language: {"title": title} for language, title in self.titles.items()}


@dataclass
class CoursePackage:
    code: str
    default_language: str
    texts: Texts  # {language: {"title": ..., "summary": ...}}
    modules: list[ModuleEntry] = field(default_factory=list)
    code_line: int = 0  # where ``code`` is written, for problems found later (access)
    bank: list[BankFile] = field(default_factory=list)  # the question bank, file by file

    @property
    def lessons(self) -> list[LessonEntry]:
        return [lesson for module in self.modules for lesson in module.lessons]


# --- lesson kinds --------------------------------------------------------------------


@dataclass(frozen=True)
class KindFormat:
    """What a lesson of one kind may carry in ``course.yaml`` besides the common fields.

    ``media`` names the field holding the lesson's media file; the field is named after
    the media kind (``video``, ``document``). ``reserved`` fields hold the content of
    kinds with a reader of their own: ``quiz`` (the settings, written in course.yaml:
    :mod:`lms.content.quizzes`) and ``tour`` (a file: :mod:`lms.tours.package`); any
    other is a path, checked (and the file well-formed YAML) but not imported.
    """

    media: str | None = None
    captions: bool = False
    threshold: bool = False
    reserved: tuple[str, ...] = ()

    @property
    def fields(self) -> frozenset[str]:
        extra = set(self.reserved)
        if self.media:
            extra.add(self.media)
        if self.captions:
            extra.add("captions")
        if self.threshold:
            extra.add("completion_threshold")
        return COMMON_LESSON_FIELDS | extra


COMMON_LESSON_FIELDS = frozenset({"uid", "kind", "required", "estimated_minutes", "texts", "body"})

# Plain strings (not the enums) as keys and field names: they are written to YAML.
LESSON_KINDS: dict[str, KindFormat] = {
    str(LessonKind.VIDEO): KindFormat(media=str(MediaKind.VIDEO), captions=True, threshold=True),
    str(LessonKind.READING): KindFormat(),
    str(LessonKind.DOCUMENT): KindFormat(media=str(MediaKind.DOCUMENT)),
    str(LessonKind.QUIZ): KindFormat(reserved=("quiz",)),
    str(LessonKind.TOUR): KindFormat(threshold=True, reserved=("tour",)),  # clips of video stops
}

COURSE_FIELDS = frozenset(
    {"format", "code", "default_language", "texts", "modules", quizzes.BANK_FIELD}
)
MODULE_FIELDS = frozenset({"uid", "texts", "lessons"})
COURSE_TEXT_FIELDS = ("title", "summary")


# --- YAML with line numbers ----------------------------------------------------------


class YMap(dict[str, Any]):
    """A mapping read from YAML that remembers the lines of its keys and values."""

    line: int
    key_lines: dict[str, int]
    value_lines: dict[str, int]
    raw: dict[str, str]  # the text of plain scalar values, e.g. "2026" for a title

    def line_of(self, key: str) -> int:
        return self.value_lines.get(key, self.line)


class YSeq(list[Any]):
    line: int
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader building :class:`YMap`/:class:`YSeq` and noting duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []
        self.bad_keys: list[int] = []


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> Iterable[YMap]:
    data = YMap()
    data.line = node.start_mark.line + 1
    data.key_lines, data.value_lines, data.raw = {}, {}, {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            loader.bad_keys.append(key_node.start_mark.line + 1)
            continue
        # The key as written: "no" stays a language code, not YAML 1.1's False.
        key = key_node.value
        if key in data:
            loader.duplicates.append((key_node.start_mark.line + 1, key))
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1
        data.value_lines[key] = value_node.start_mark.line + 1
        if isinstance(value_node, yaml.ScalarNode) and value_node.style is None:
            data.raw[key] = value_node.value


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> Iterable[YSeq]:
    data = YSeq()
    data.line = node.start_mark.line + 1
    data.item_lines = [item.start_mark.line + 1 for item in node.value]
    yield data
    data.extend(loader.construct_object(item, deep=True) for item in node.value)


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


# --- reading -------------------------------------------------------------------------


def _field(name: str) -> str:
    return f"'{name}'"


class _Reader:
    """Collects problems while reading one package folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[PackageProblem] = []
        self.used: dict[str, int] = {}  # path -> line in course.yaml that first names it
        self.shared: set[str] = set()  # text files that several lessons may name
        self.texts_read: dict[str, str | None] = {}
        self.reported_links: set[str] = set()
        self.quiz_nodes: dict[str, YMap] = {}  # lesson uid -> its ``quiz:`` mapping

    def problem(self, file: str, line: int | None, message: Any) -> None:
        self.problems.append(PackageProblem(file, line, message))

    def error(self, line: int | None, message: Any) -> None:
        self.problem(COURSE_FILE, line, message)

    # -- files ------------------------------------------------------------------------

    def resolve(
        self, value: Any, line: int, name: str, *, shared: bool = False
    ) -> tuple[str, Path] | None:
        """Check a path written in course.yaml; the file's path and location, or None.

        A media, captions or content file belongs to one lesson; a text file may be
        ``shared`` (the same note under several lessons).
        """
        if not isinstance(value, str) or not value.strip():
            self.error(
                line, _l("%(field)s must be the path of a file in the package", field=_field(name))
            )
            return None
        if "\\" in value:
            self.error(line, _l("'%(path)s': write paths with / between folders", path=value))
            return None
        posix = PurePosixPath(value)
        if posix.is_absolute() or re.match(r"^[A-Za-z]:", value):
            self.error(
                line,
                _l(
                    "'%(path)s' is an absolute path; write it relative to the package folder",
                    path=value,
                ),
            )
            return None
        if ".." in posix.parts:
            self.error(line, _l("'%(path)s' leads out of the package folder", path=value))
            return None
        relative = posix.as_posix()
        current = self.root
        info: os.stat_result | None = None
        for part in posix.parts:
            current = current / part
            try:
                info = current.lstat()
            except (FileNotFoundError, NotADirectoryError):
                self.error(line, _l("file not found: %(path)s", path=relative))
                return None
            if stat.S_ISLNK(info.st_mode):
                link = current.relative_to(self.root).as_posix()
                self.reported_links.add(link)
                self.error(
                    line,
                    _l(
                        "'%(path)s' is a symbolic link; a package must hold the files themselves",
                        path=link,
                    ),
                )
                return None
        if info is None or not stat.S_ISREG(info.st_mode):
            self.error(line, _l("'%(path)s' is not a file", path=relative))
            return None
        if relative in self.used and not (shared and relative in self.shared):
            self.error(
                line,
                _l(
                    "'%(path)s' is already used on line %(line)d; each file belongs to one lesson",
                    path=relative,
                    line=self.used[relative],
                ),
            )
            return None
        self.used.setdefault(relative, line)
        if shared:
            self.shared.add(relative)
        return relative, current

    def find_links(self) -> None:
        """Symbolic links anywhere in the folder, named in course.yaml or not."""
        for folder, dirs, files in os.walk(self.root, followlinks=False):
            for name in sorted([*dirs, *files]):
                path = Path(folder, name)
                if path.is_symlink():
                    relative = path.relative_to(self.root).as_posix()
                    if relative not in self.reported_links:
                        self.problem(
                            relative,
                            None,
                            _l(
                                "symbolic links are not allowed in a package; "
                                "put the file itself there"
                            ),
                        )

    def read_bytes(self, relative: str, path: Path) -> bytes | None:
        if path.stat().st_size > MAX_TEXT_BYTES:
            self.problem(
                relative,
                None,
                _l("the file is too large (at most %(limit)d MB)", limit=MAX_TEXT_BYTES >> 20),
            )
            return None
        return path.read_bytes()

    def read_text(self, relative: str, path: Path) -> str | None:
        data = self.read_bytes(relative, path)
        if data is None:
            return None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            self.problem(
                relative,
                data.count(b"\n", 0, error.start) + 1,
                _l("the file is not UTF-8 text; save it as UTF-8"),
            )
            return None
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def load_yaml(self, relative: str, path: Path) -> Any:
        """The YAML document in a file, or None after reporting why it cannot be read."""
        text = self.read_text(relative, path)
        if text is None:
            return None
        try:
            for event in yaml.parse(text, Loader=yaml.SafeLoader):
                # Aliases can multiply a small file into a huge tree: a package needs none.
                if getattr(event, "anchor", None):
                    self.problem(
                        relative,
                        event.start_mark.line + 1,
                        _l("anchors and aliases (& and *) are not allowed in a package"),
                    )
                    return None
            loader = _LineLoader(text)
            try:
                data = loader.get_single_data()
            finally:
                loader.dispose()
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            self.problem(
                relative,
                mark.line + 1 if mark else None,
                _l("the YAML is not valid: %(problem)s", problem=error.problem or error.context),
            )
            return None
        except yaml.YAMLError as error:
            self.problem(relative, None, _l("the YAML is not valid: %(problem)s", problem=error))
            return None
        for line in loader.bad_keys:
            self.problem(relative, line, _l("a key must be a plain word or text"))
        for line, key in loader.duplicates:
            self.problem(relative, line, _l("%(field)s is written twice", field=_field(key)))
        return data

    # -- values -----------------------------------------------------------------------

    def mapping(self, value: Any, line: int, name: str) -> YMap | None:
        if isinstance(value, YMap):
            return value
        self.error(line, _l("%(field)s must be a mapping (key: value lines)", field=_field(name)))
        return None

    def sequence(self, value: Any, line: int, name: str) -> YSeq | None:
        if isinstance(value, YSeq):
            return value
        self.error(line, _l("%(field)s must be a list (lines starting with -)", field=_field(name)))
        return None

    def check_fields(self, data: YMap, allowed: Iterable[str], required: Iterable[str]) -> None:
        allowed = sorted(allowed)
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                if close:
                    message = _l(
                        "unknown field %(field)s (did you mean %(suggestion)s?)",
                        field=_field(key),
                        suggestion=_field(close[0]),
                    )
                else:
                    message = _l("unknown field %(field)s", field=_field(key))
                self.error(data.key_lines[key], message)
        for key in required:
            if key not in data:
                self.error(data.line, _l("the field %(field)s is required", field=_field(key)))

    def text(self, data: YMap, key: str, *, limit: int | None = None) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            if key in data.raw:  # a plain scalar such as 2026 or yes: its text is meant
                value = data.raw[key]
            else:
                self.error(data.line_of(key), _l("%(field)s must be text", field=_field(key)))
                return None
        value = value.strip()
        if limit is not None and len(value) > limit:
            self.error(
                data.line_of(key),
                _l(
                    "%(field)s is too long (at most %(limit)d characters)",
                    field=_field(key),
                    limit=limit,
                ),
            )
            return None
        return value

    def boolean(self, data: YMap, key: str, default: bool) -> bool:
        value = data.get(key, default)
        if isinstance(value, bool):
            return value
        self.error(data.line_of(key), _l("%(field)s must be true or false", field=_field(key)))
        return default

    def integer(self, data: YMap, key: str, default: int, low: int, high: int) -> int:
        value = data.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        self.error(
            data.line_of(key),
            _l(
                "%(field)s must be a whole number from %(low)d to %(high)d",
                field=_field(key),
                low=low,
                high=high,
            ),
        )
        return default

    def number(self, data: YMap, key: str, default: float, low: float, high: float) -> float:
        value = data.get(key, default)
        if isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high:
            return float(value)
        self.error(
            data.line_of(key),
            _l(
                "%(field)s must be a number from %(low)s to %(high)s",
                field=_field(key),
                low=low,
                high=high,
            ),
        )
        return default

    def uid(self, data: YMap, seen: dict[str, int]) -> str | None:
        value = self.text(data, "uid")
        if value is None:
            return None
        line = data.line_of("uid")
        if not UID_PATTERN.fullmatch(value):
            self.error(
                line,
                _l(
                    "'%(uid)s' is not a valid id: use lower-case letters, digits and -, "
                    "starting with a letter or a digit (at most 64)",
                    uid=value,
                ),
            )
            return None
        if value in seen:
            self.error(
                line,
                _l(
                    "the id '%(uid)s' is already used on line %(line)d", uid=value, line=seen[value]
                ),
            )
            return None
        seen[value] = line
        return value

    def language(self, value: str, line: int) -> bool:
        if value in CONTENT_LANGUAGES:
            return True
        self.error(
            line,
            _l(
                "unknown language '%(language)s' (known: %(languages)s)",
                language=value,
                languages=", ".join(CONTENT_LANGUAGES),
            ),
        )
        return False

    def per_language(self, data: YMap, key: str) -> dict[str, tuple[Any, int]]:
        """A ``{language: value}`` mapping, with each value's line; unknown languages dropped."""
        if key not in data:
            return {}
        mapping = self.mapping(data[key], data.line_of(key), key)
        if mapping is None:
            return {}
        return {
            language: (value, mapping.line_of(language))
            for language, value in mapping.items()
            if self.language(language, mapping.key_lines[language])
        }

    def texts(
        self, data: YMap, fields: tuple[str, ...], default_language: str | None
    ) -> dict[str, dict[str, str]]:
        """``texts: {language: {field: text}}``; the title in the default language is required."""
        texts: dict[str, dict[str, str]] = {}
        for language, (value, line) in self.per_language(data, "texts").items():
            values = self.mapping(value, line, f"texts.{language}")
            if values is None:
                continue
            self.check_fields(values, fields, ())
            limits = {"title": MAX_TITLE_LENGTH}
            found = {}
            for name in fields:
                text = self.text(values, name, limit=limits.get(name))
                if text:
                    found[name] = text
            if found:
                texts[language] = found
        if default_language and not (texts.get(default_language) or {}).get("title"):
            line = data.key_lines["texts"] if "texts" in data else data.line
            self.error(
                line,
                _l(
                    "a title in the default language (%(language)s) is required",
                    language=default_language,
                ),
            )
        return texts


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _opener(path: Path) -> Callable[[], BinaryIO]:
    return lambda: path.open("rb")


def _probe_media(
    reader: _Reader, kind: str, relative: str, path: Path, line: int
) -> MediaFile | None:
    """Check a media file by its content, whatever its name says."""
    try:
        if kind == MediaKind.VIDEO:
            video = probe_video(path)
            details: dict[str, Any] = {
                "duration": video.duration,
                "width": video.width,
                "height": video.height,
                "info": {
                    "video_codec": video.video_codec,
                    "audio_codec": video.audio_codec,
                    "bit_rate": video.bit_rate,
                },
            }
        else:
            details = {"info": {"pages": probe_pdf(path).pages}}
    except MediaError as error:
        reader.error(line, _l("%(path)s: %(reason)s", path=relative, reason=error.message))
        return None
    return MediaFile(
        path=relative,
        kind=kind,
        size=path.stat().st_size,
        sha256=_sha256(path),
        open=_opener(path),
        source=path,
        **details,
    )


def _read_captions(
    reader: _Reader, language: str, relative: str, path: Path, duration: float | None
) -> CaptionFile | None:
    data = reader.read_bytes(relative, path)
    if data is None:
        return None
    try:
        cues = parse_captions(data, filename_hint=relative, duration=duration)
        vtt = to_webvtt(cues)
    except CaptionError as error:
        reader.problem(relative, error.line, error.message)
        return None
    except ValueError as error:  # a cue text that WebVTT cannot hold
        reader.problem(
            relative, None, _l("the captions cannot be converted: %(reason)s", reason=error)
        )
        return None
    return CaptionFile(path=relative, language=language, vtt=vtt, cue_count=len(cues))


def _read_lesson(
    reader: _Reader, data: YMap, default_language: str | None, seen: dict[str, int]
) -> LessonEntry | None:
    uid = reader.uid(data, seen)
    kind_name = reader.text(data, "kind")
    fmt = None
    if kind_name is not None:
        fmt = LESSON_KINDS.get(kind_name)
        if fmt is None:
            reader.error(
                data.line_of("kind"),
                _l(
                    "unknown lesson kind '%(kind)s' (known: %(kinds)s)",
                    kind=kind_name,
                    kinds=", ".join(LESSON_KINDS),
                ),
            )
    reader.check_fields(data, _ALL_LESSON_FIELDS, ("uid", "kind"))
    if fmt is not None:
        for key in sorted(k for k in data if k not in fmt.fields and k in _ALL_LESSON_FIELDS):
            reader.error(
                data.key_lines[key],
                _l(
                    "%(field)s does not belong to a lesson of kind '%(kind)s'",
                    field=_field(key),
                    kind=kind_name,
                ),
            )
    titles = {
        language: values["title"]
        for language, values in reader.texts(data, ("title",), default_language).items()
        if "title" in values
    }
    required = reader.boolean(data, "required", True)
    minutes = reader.integer(data, "estimated_minutes", 10, 1, MAX_MINUTES)
    threshold = DEFAULT_VIDEO_THRESHOLD
    if fmt is not None and fmt.threshold:
        threshold = reader.number(data, "completion_threshold", DEFAULT_VIDEO_THRESHOLD, 0.1, 1.0)

    bodies: dict[str, TextFile] = {}
    for language, (value, line) in reader.per_language(data, "body").items():
        found = reader.resolve(value, line, f"body.{language}", shared=True)
        if found is None:
            continue
        if found[0] not in reader.texts_read:  # a shared file is read, and reported, once
            text = reader.read_text(*found)
            if text is not None and not text.strip():
                reader.problem(found[0], None, _l("the file is empty"))
                text = None
            reader.texts_read[found[0]] = text
        text = reader.texts_read[found[0]]
        if text is not None:
            bodies[language] = TextFile(found[0], text.strip())

    media = None
    if fmt is not None and fmt.media and fmt.media in data:
        line = data.line_of(fmt.media)
        found = reader.resolve(data[fmt.media], line, fmt.media)
        if found is not None:
            media = _probe_media(reader, fmt.media, *found, line)

    captions: dict[str, CaptionFile] = {}
    if fmt is not None and fmt.captions and "captions" in data:
        if fmt.media not in data:
            reader.error(
                data.key_lines["captions"],
                _l("captions need a video: add %(field)s", field=_field(str(fmt.media))),
            )
        duration = media.duration if media is not None else None
        for language, (value, line) in reader.per_language(data, "captions").items():
            found = reader.resolve(value, line, f"captions.{language}")
            if found is not None:
                caption = _read_captions(reader, language, *found, duration)
                if caption is not None:
                    captions[language] = caption

    reserved: dict[str, str] = {}
    tour = None
    quiz = None
    for name in fmt.reserved if fmt is not None else ():
        if name == "quiz" and name in data:  # written in course.yaml: lms.content.quizzes
            quiz = quizzes.read_quiz(reader, data)
            if uid is not None:
                reader.quiz_nodes[uid] = data[name]
        elif name in data:
            found = reader.resolve(data[name], data.line_of(name), name)
            if found is not None and name == "tour":
                # Plant tours: lms.tours.package reads the file and checks its media.
                from lms.tours.package import read_tour  # noqa: PLC0415 - tours import the catalog

                tour = read_tour(reader, *found, default_language)
            elif found is not None and reader.load_yaml(*found) is not None:
                reserved[name] = found[0]

    if uid is None or fmt is None or kind_name is None:
        return None
    return LessonEntry(
        uid=uid,
        kind=kind_name,
        titles=titles,
        required=required,
        estimated_minutes=minutes,
        completion_threshold=threshold,
        bodies=bodies,
        media=media,
        captions=captions,
        reserved=reserved,
        tour=tour,
        quiz=quiz,
        line=data.line,
    )


_ALL_LESSON_FIELDS = frozenset().union(*(fmt.fields for fmt in LESSON_KINDS.values()))


def _read_course(reader: _Reader, data: YMap) -> CoursePackage | None:
    reader.check_fields(data, COURSE_FIELDS, ("code", "default_language", "modules"))
    if "format" in data and data["format"] != FORMAT_VERSION:
        reader.error(
            data.line_of("format"),
            _l(
                "package format %(found)s is not supported (this version reads format %(version)d)",
                found=data["format"],
                version=FORMAT_VERSION,
            ),
        )
    code = reader.text(data, "code")
    if code is not None and not CODE_PATTERN.fullmatch(code):
        reader.error(
            data.line_of("code"),
            _l(
                "'%(code)s' is not a valid course code: use letters, digits, - and _ (at most 40)",
                code=code,
            ),
        )
        code = None
    default_language = reader.text(data, "default_language")
    if default_language is not None and not reader.language(
        default_language, data.line_of("default_language")
    ):
        default_language = None
    texts = reader.texts(data, COURSE_TEXT_FIELDS, default_language)
    checked = len(reader.problems)
    bank = quizzes.read_bank(reader, data)
    bank_complete = len(reader.problems) == checked  # else quizzes are not checked against it

    modules: list[ModuleEntry] = []
    module_uids: dict[str, int] = {}
    lesson_uids: dict[str, int] = {}
    items = (
        reader.sequence(data["modules"], data.line_of("modules"), "modules")
        if "modules" in data
        else None
    )
    for index, item in enumerate(items or ()):
        module_data = reader.mapping(item, items.item_lines[index], "modules")  # type: ignore[union-attr]
        if module_data is None:
            continue
        reader.check_fields(module_data, MODULE_FIELDS, ("uid",))
        uid = reader.uid(module_data, module_uids)
        titles = {
            language: values["title"]
            for language, values in reader.texts(module_data, ("title",), default_language).items()
            if "title" in values
        }
        module = ModuleEntry(uid=uid or "", titles=titles, line=module_data.line)
        lessons = (
            reader.sequence(module_data["lessons"], module_data.line_of("lessons"), "lessons")
            if "lessons" in module_data
            else None
        )
        for lesson_index, lesson_item in enumerate(lessons or ()):
            lesson_data = reader.mapping(
                lesson_item,
                lessons.item_lines[lesson_index],  # type: ignore[union-attr]
                "lessons",
            )
            if lesson_data is not None:
                lesson = _read_lesson(reader, lesson_data, default_language, lesson_uids)
                if lesson is not None:
                    module.lessons.append(lesson)
        if uid is not None:
            modules.append(module)

    package = CoursePackage(
        code=code or "",
        default_language=default_language or "",
        texts=texts,
        modules=modules,
        code_line=data.line_of("code"),
        bank=bank,
    )
    if bank_complete:
        quizzes.check_slots(reader, package, reader.quiz_nodes)
    if code is None or default_language is None:
        return None
    return package


def read_package(path: str | os.PathLike[str]) -> CoursePackage:
    """Read and check the package in folder ``path``; raises :class:`PackageError`.

    Nothing is written anywhere: this only reads, probes and parses.
    """
    given = Path(path)
    if not given.is_dir():
        raise PackageError(
            [PackageProblem(str(path), None, _l("this is not a folder holding a course package"))]
        )
    reader = _Reader(given.resolve())
    course_file = reader.root / COURSE_FILE
    package = None
    if course_file.is_symlink():
        reader.reported_links.add(COURSE_FILE)
        reader.problem(
            COURSE_FILE,
            None,
            _l("symbolic links are not allowed in a package; put the file itself there"),
        )
    elif not course_file.is_file():
        reader.problem(COURSE_FILE, None, _l("the package has no course.yaml"))
    else:
        data = reader.load_yaml(COURSE_FILE, course_file)
        if data is not None:
            if isinstance(data, YMap):
                package = _read_course(reader, data)
            else:
                reader.error(1, _l("course.yaml must be a mapping (key: value lines)"))
    reader.find_links()
    if reader.problems or package is None:
        raise PackageError(reader.problems)
    return package


# --- writing -------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style with list items indented under their key, as people write YAML."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _ordered_languages(languages: Iterable[str], default_language: str) -> list[str]:
    return sorted(languages, key=lambda language: (language != default_language, language))


def _texts_data(texts: Texts, fields: tuple[str, ...], default_language: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for language in _ordered_languages(texts, default_language):
        values = {name: texts[language][name] for name in fields if texts[language].get(name)}
        if values:
            result[language] = values
    return result


def _paths_data(files: dict[str, Any], default_language: str) -> dict[str, str]:
    return {
        language: files[language].path for language in _ordered_languages(files, default_language)
    }


def course_data(package: CoursePackage) -> dict[str, Any]:
    """``course.yaml`` as plain data, every mapping in the documented order."""
    lang = package.default_language
    modules = []
    for module in package.modules:
        lessons = []
        for lesson in module.lessons:
            fmt = LESSON_KINDS[lesson.kind]
            item: dict[str, Any] = {
                "uid": lesson.uid,
                "kind": lesson.kind,
                "required": lesson.required,
                "estimated_minutes": lesson.estimated_minutes,
            }
            if fmt.threshold:
                item["completion_threshold"] = lesson.completion_threshold
            item["texts"] = _texts_data(lesson.texts, ("title",), lang)
            if lesson.bodies:
                item["body"] = _paths_data(lesson.bodies, lang)
            if fmt.media and lesson.media is not None:
                item[fmt.media] = lesson.media.path
            if fmt.captions and lesson.captions:
                item["captions"] = _paths_data(lesson.captions, lang)
            for name in fmt.reserved:
                if name in lesson.reserved:
                    item[name] = lesson.reserved[name]
            if lesson.tour is not None:
                item["tour"] = lesson.tour.path
            if lesson.quiz is not None:
                item["quiz"] = quizzes.quiz_data(lesson.quiz)
            lessons.append(item)
        modules.append(
            {
                "uid": module.uid,
                "texts": _texts_data(module.texts, ("title",), lang),
                "lessons": lessons,
            }
        )
    data: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "code": package.code,
        "default_language": lang,
        "texts": _texts_data(package.texts, COURSE_TEXT_FIELDS, lang),
    }
    if package.bank:
        data[quizzes.BANK_FIELD] = [bank_file.path for bank_file in package.bank]
    data["modules"] = modules
    return data


def dump_course_yaml(package: CoursePackage) -> str:
    return yaml.dump(
        course_data(package),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1_000_000,  # one line per text: no folding, so diffs stay readable
    )


def write_package(package: CoursePackage, dest: str | os.PathLike[str]) -> list[str]:
    """Write ``package`` into folder ``dest`` (created if missing); the paths written."""
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def target(relative: str) -> Path:
        posix = PurePosixPath(relative)
        if posix.is_absolute() or ".." in posix.parts or relative in written:
            raise ValueError(f"bad or repeated path in package: {relative!r}")
        written.append(relative)
        path = root.joinpath(*posix.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    target(COURSE_FILE).write_text(dump_course_yaml(package), encoding="utf-8", newline="\n")
    for bank_file in package.bank:
        text = quizzes.dump_bank_file(bank_file)
        target(bank_file.path).write_text(text, encoding="utf-8", newline="\n")
    for lesson in package.lessons:
        for body in lesson.bodies.values():
            target(body.path).write_text(body.text + "\n", encoding="utf-8", newline="\n")
        if lesson.media is not None:
            with lesson.media.open() as source, target(lesson.media.path).open("wb") as out:
                while chunk := source.read(1024 * 1024):
                    out.write(chunk)
        for caption in lesson.captions.values():
            target(caption.path).write_text(caption.vtt, encoding="utf-8", newline="\n")
        if lesson.tour is not None:  # a plant tour: its YAML file and its media
            text = yaml.dump(lesson.tour.data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
            target(lesson.tour.path).write_text(text, encoding="utf-8", newline="\n")
            for media in lesson.tour.files.values():
                with media.open() as source, target(media.path).open("wb") as out:
                    while chunk := source.read(1024 * 1024):
                        out.write(chunk)
            for clip_captions in lesson.tour.captions.values():  # video stops' captions
                for caption in clip_captions.values():
                    target(caption.path).write_text(caption.vtt, encoding="utf-8", newline="\n")
    return written
