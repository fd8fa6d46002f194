"""Ways to break the test package, each with where its problem must be reported."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.content.conftest import line_of


@dataclass(frozen=True)
class Expected:
    file: str
    line: int | None
    fragment: str  # a piece of the message


def _edit(root: Path, old: str, new: str) -> None:
    course = root / "course.yaml"
    text = course.read_text(encoding="utf-8")
    assert old in text, old
    course.write_text(text.replace(old, new, 1), encoding="utf-8")


def bad_yaml(root: Path) -> Expected:
    _edit(root, "kind: reading", "kind: reading: oops")
    return Expected("course.yaml", line_of(root / "course.yaml", "reading: oops"), "YAML")


def missing_file(root: Path) -> Expected:
    _edit(root, "video: media/intro.mp4", "video: media/missing.mp4")
    line = line_of(root / "course.yaml", "media/missing.mp4")
    return Expected("course.yaml", line, "file not found: media/missing.mp4")


def parent_path(root: Path) -> Expected:
    (root.parent / "outside.md").write_text("outside\n", encoding="utf-8")
    _edit(root, "readings/one.en.md", "../outside.md")
    line = line_of(root / "course.yaml", "../outside.md")
    return Expected("course.yaml", line, "leads out of the package")


def sneaky_parent_path(root: Path) -> Expected:
    _edit(root, "readings/one.en.md", "readings/../../package/readings/one.en.md")
    line = line_of(root / "course.yaml", "readings/../../")
    return Expected("course.yaml", line, "leads out of the package")


def absolute_path(root: Path) -> Expected:
    target = (root / "media" / "intro.mp4").resolve()
    _edit(root, "video: media/intro.mp4", f"video: {target}")
    line = line_of(root / "course.yaml", f"video: {target}")
    return Expected("course.yaml", line, "absolute path")


def symlink(root: Path) -> Expected:
    real = root.parent / "real-intro.mp4"
    (root / "media" / "intro.mp4").rename(real)
    os.symlink(real, root / "media" / "intro.mp4")
    line = line_of(root / "course.yaml", "video: media/intro.mp4")
    return Expected("course.yaml", line, "symbolic link")


def symlinked_folder(root: Path) -> Expected:
    (root / "readings").rename(root.parent / "real-readings")
    os.symlink(root.parent / "real-readings", root / "readings")
    line = line_of(root / "course.yaml", "readings/one.en.md")
    return Expected("course.yaml", line, "symbolic link")


def stray_symlink(root: Path) -> Expected:
    os.symlink("/etc/passwd", root / "notes" / "extra.md")
    return Expected("notes/extra.md", None, "symbolic links are not allowed")


def text_as_video(root: Path) -> Expected:
    (root / "media" / "intro.mp4").write_text("This is not a video at all.\n")
    line = line_of(root / "course.yaml", "video: media/intro.mp4")
    return Expected("course.yaml", line, "not a playable video")


def video_as_pdf(root: Path) -> Expected:
    (root / "media" / "handout.pdf").write_bytes((root / "media" / "intro.mp4").read_bytes())
    line = line_of(root / "course.yaml", "document: media/handout.pdf")
    return Expected("course.yaml", line, "not a readable PDF")


def bad_caption_line(root: Path) -> Expected:
    path = root / "captions" / "intro.en.vtt"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "00:00:01.000 --> 00:00:02.000", "00:00:01.000 --> 00:00:02,5"
        ),
        encoding="utf-8",
    )
    line = line_of(path, "00:00:02,5")
    return Expected("captions/intro.en.vtt", line, "cue timing is not valid")


def caption_past_the_end(root: Path) -> Expected:
    path = root / "captions" / "intro.ja.srt"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "00:00:01,000 --> 00:00:02,000", "00:00:01,000 --> 00:00:09,000"
        ),
        encoding="utf-8",
    )
    return Expected("captions/intro.ja.srt", line_of(path, "00:00:09,000"), "after the end")


def duplicate_uid(root: Path) -> Expected:
    _edit(root, "uid: handout", "uid: reading-one")
    line = line_of(root / "course.yaml", "uid: reading-one", occurrence=2)
    return Expected("course.yaml", line, "already used on line")


def unknown_kind(root: Path) -> Expected:
    _edit(root, "kind: quiz", "kind: podcast")
    line = line_of(root / "course.yaml", "kind: podcast")
    return Expected("course.yaml", line, "unknown lesson kind 'podcast'")


def unknown_language(root: Path) -> Expected:
    _edit(root, "ja: {title: 第1モジュール}", "xx: {title: 第1モジュール}")
    line = line_of(root / "course.yaml", "xx: {title")
    return Expected("course.yaml", line, "unknown language 'xx'")


def missing_title(root: Path) -> Expected:
    _edit(root, "en: {title: Handout}", "ja: {title: 配布資料}")
    line = line_of(root / "course.yaml", "ja: {title: 配布資料}") - 1  # the texts: line
    return Expected("course.yaml", line, "a title in the default language (en) is required")


def not_utf8_reading(root: Path) -> Expected:
    (root / "readings" / "one.ja.md").write_bytes("# 一\n\n本文。\n".encode("shift_jis"))
    return Expected("readings/one.ja.md", 1, "not UTF-8")


CASES: dict[str, Callable[[Path], Expected]] = {
    "bad YAML": bad_yaml,
    "missing file": missing_file,
    "../ path": parent_path,
    "../ inside a path": sneaky_parent_path,
    "absolute path": absolute_path,
    "symlink": symlink,
    "symlinked folder": symlinked_folder,
    "stray symlink": stray_symlink,
    "text file as video": text_as_video,
    "video as PDF": video_as_pdf,
    "caption with a bad line": bad_caption_line,
    "caption past the end": caption_past_the_end,
    "duplicate uid": duplicate_uid,
    "unknown kind": unknown_kind,
    "unknown language": unknown_language,
    "missing title": missing_title,
    "reading not UTF-8": not_utf8_reading,
}
