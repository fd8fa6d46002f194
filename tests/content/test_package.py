"""Reading and checking a package folder: every problem found, each with file and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from lms.content.package import (
    PackageError,
    PackageProblem,
    dump_course_yaml,
    read_package,
)
from tests.content.badcases import CASES
from tests.content.conftest import line_of


def problems_of(root: Path) -> list[PackageProblem]:
    with pytest.raises(PackageError) as caught:
        read_package(root)
    return caught.value.problems


def edit(root: Path, old: str, new: str) -> None:
    course = root / "course.yaml"
    text = course.read_text(encoding="utf-8")
    assert old in text, old
    course.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_good_package_is_read_whole(package: Path):
    course = read_package(package)
    assert (course.code, course.default_language) == ("TEST-PKG", "en")
    assert course.texts == {
        "en": {"title": "Test course", "summary": "A small package for tests."},
        "ja": {"title": "テストコース"},
    }
    assert [m.uid for m in course.modules] == ["first", "second"]
    video, reading, handout, quiz = course.lessons
    assert (video.kind, video.completion_threshold, video.required) == ("video", 0.8, True)
    assert video.media is not None and video.media.kind == "video"
    assert video.media.duration == pytest.approx(2, abs=0.1)
    assert len(video.media.sha256) == 64
    assert set(video.captions) == {"en", "ja"}
    # The SRT file is converted to the WebVTT that is stored.
    assert video.captions["ja"].vtt.startswith("WEBVTT")
    assert "00:00:01.000 --> 00:00:02.000\nコースへようこそ。" in video.captions["ja"].vtt
    assert video.captions["ja"].cue_count == 2
    assert reading.texts == {
        "en": {"title": "Reading one", "body": "# One\n\nSome *text*."},
        "ja": {"title": "読み物1", "body": "# 一\n\n本文。"},
    }
    assert reading.estimated_minutes == 5
    assert handout.media is not None and handout.media.info == {"pages": 1}
    assert handout.required is False
    assert (quiz.kind, quiz.media, quiz.reserved) == ("quiz", None, {})


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_bad_input_is_reported_with_file_and_line(
    make_package: Callable[..., Path], case: Callable[[Path], object]
):
    root = make_package()
    expected = case(root)
    problems = problems_of(root)
    assert any(
        p.file == expected.file and p.line == expected.line and expected.fragment in str(p.message)
        for p in problems
    ), [str(p) for p in problems]
    where = expected.file if expected.line is None else f"{expected.file}:{expected.line}"
    assert any(str(p).startswith(f"{where}: ") for p in problems)


def test_the_message_reads_file_line_message(package: Path):
    edit(package, "kind: quiz", "kind: podcast")
    line = line_of(package / "course.yaml", "kind: podcast")
    [problem] = problems_of(package)
    assert str(problem) == (
        f"course.yaml:{line}: unknown lesson kind 'podcast' "
        "(known: video, reading, document, quiz, tour)"
    )


def test_every_problem_is_reported_at_once(package: Path):
    edit(package, "kind: quiz", "kind: podcast")
    edit(package, "video: media/intro.mp4", "video: media/missing.mp4")
    edit(package, "uid: handout", "uid: reading-one")
    (package / "captions" / "intro.en.vtt").write_text("WEBVTT\n\nnot a cue\n")
    problems = problems_of(package)
    messages = " | ".join(str(p) for p in problems)
    assert "podcast" in messages
    assert "missing.mp4" in messages
    assert "already used" in messages
    assert "captions/intro.en.vtt:3:" in messages
    assert len(problems) == 4


def test_a_caption_error_uses_the_video_length(package: Path):
    # 5 seconds of captions for a 2-second video: refused at the cue that runs past.
    (package / "captions" / "intro.en.vtt").write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nok\n\n00:00:01.000 --> 00:00:05.000\nlong\n"
    )
    [problem] = problems_of(package)
    assert (problem.file, problem.line) == ("captions/intro.en.vtt", 6)
    assert "after the end of the video" in str(problem.message)


def test_unknown_fields_are_refused_with_a_suggestion(package: Path):
    edit(package, "estimated_minutes: 5", "estimated_minuts: 5")
    [problem] = problems_of(package)
    assert problem.line == line_of(package / "course.yaml", "estimated_minuts")
    assert "unknown field 'estimated_minuts' (did you mean 'estimated_minutes'?)" in str(problem)


def test_a_field_of_another_kind_is_refused(package: Path):
    edit(package, "document: media/handout.pdf", "video: media/handout.pdf")
    problems = problems_of(package)
    assert any("'video' does not belong to a lesson of kind 'document'" in str(p) for p in problems)


def test_a_key_written_twice_is_refused(package: Path):
    edit(package, "estimated_minutes: 5", "estimated_minutes: 5\n        estimated_minutes: 6")
    [problem] = problems_of(package)
    assert problem.line == line_of(package / "course.yaml", "estimated_minutes: 6")
    assert "written twice" in str(problem)


def test_anchors_and_aliases_are_refused(package: Path):
    edit(package, "en: {title: Second module}", "en: &t {title: Second module}\n      ja: *t")
    [problem] = problems_of(package)
    assert problem.line == line_of(package / "course.yaml", "&t")
    assert "aliases" in str(problem)


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("estimated_minutes: 5", "estimated_minutes: 0", "whole number from 1 to 600"),
        ("estimated_minutes: 5", "estimated_minutes: yes", "whole number from 1 to 600"),
        ("completion_threshold: 0.8", "completion_threshold: 1.5", "number from 0.1 to 1.0"),
        ("required: false", "required: maybe", "true or false"),
        ("uid: reading-one", "uid: Reading One", "not a valid id"),
        ("code: TEST-PKG", "code: TEST PKG", "not a valid course code"),
        ("format: 1", "format: 2", "format 2 is not supported"),
        ("default_language: en", "default_language: klingon", "unknown language 'klingon'"),
    ],
)
def test_bad_values_are_reported_on_their_line(package: Path, old: str, new: str, fragment: str):
    edit(package, old, new)
    problems = problems_of(package)
    line = line_of(package / "course.yaml", new)
    assert any(p.line == line and fragment in str(p.message) for p in problems), [
        str(p) for p in problems
    ]


def test_captions_need_a_video(package: Path):
    edit(package, "        video: media/intro.mp4\n", "")
    problems = problems_of(package)
    assert any("captions need a video" in str(p) for p in problems)


def test_a_media_file_belongs_to_one_lesson(package: Path):
    edit(package, "document: media/handout.pdf", "document: media/intro.mp4")
    problems = problems_of(package)
    line = line_of(package / "course.yaml", "video: media/intro.mp4")
    assert any(f"already used on line {line}" in str(p) for p in problems)


def test_a_text_may_be_shared_by_lessons(package: Path):
    edit(package, "body: {en: readings/one.en.md, ja:", "body: {en: notes/video.en.md, ja:")
    course = read_package(package)
    assert course.lessons[1].texts["en"]["body"] == "Watch it."


def test_an_empty_text_file_is_refused(package: Path):
    (package / "readings" / "one.en.md").write_text("\n\n")
    [problem] = problems_of(package)
    assert (problem.file, problem.line) == ("readings/one.en.md", None)
    assert "empty" in str(problem)


def test_a_missing_course_yaml_is_reported(package: Path):
    (package / "course.yaml").unlink()
    [problem] = problems_of(package)
    assert str(problem) == "course.yaml: the package has no course.yaml"


def test_a_path_that_is_not_a_folder_is_reported(tmp_path: Path):
    [problem] = problems_of(tmp_path / "nowhere")
    assert "not a folder" in str(problem)


def test_a_quiz_lesson_carries_its_settings_not_a_file(package: Path):
    # The field once reserved for a file holds the quiz's settings (tests/content/
    # test_quiz_packages.py covers quizzes and the question bank).
    edit(
        package,
        "en: {title: Quiz (coming later)}",
        "en: {title: Quiz (coming later)}\n        quiz: quizzes/one.yaml",
    )
    [problem] = problems_of(package)
    assert "'quiz' must be a mapping" in str(problem)
    edit(package, "quiz: quizzes/one.yaml", "quiz: {pass_mark: 70}")
    assert read_package(package).lessons[3].quiz.pass_mark == 70.0


def test_texts_with_numbers_and_yaml_words_stay_text(package: Path):
    edit(package, "title: Reading one", "title: 2026")
    edit(package, "title: Handout", "title: yes")
    course = read_package(package)
    assert course.lessons[1].titles["en"] == "2026"
    assert course.lessons[2].titles["en"] == "yes"


def test_the_written_yaml_reads_back_the_same(package: Path):
    course = read_package(package)
    text = dump_course_yaml(course)
    assert text.startswith("format: 1\ncode: TEST-PKG\ndefault_language: en\ntexts:\n")
    data = yaml.safe_load(text)
    lesson = data["modules"][0]["lessons"][0]
    assert list(lesson) == [
        "uid",
        "kind",
        "required",
        "estimated_minutes",
        "completion_threshold",
        "texts",
        "body",
        "video",
        "captions",
    ]
    assert lesson["captions"] == {"en": "captions/intro.en.vtt", "ja": "captions/intro.ja.srt"}
    (package / "course.yaml").write_text(text, encoding="utf-8")
    again = read_package(package)
    assert dump_course_yaml(again) == text
