from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lms.i18n.check import check_catalogues, placeholders

PO_HEADER = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'


def _catalogue(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "ja" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(PO_HEADER + body, encoding="utf-8")
    return tmp_path


def test_shipped_catalogues_are_complete():
    assert check_catalogues() == []


def test_the_lms_command_checks_catalogues(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lms.cli", "translations", "check"],
        capture_output=True,
        text=True,
        env={"LMS_INSTANCE_PATH": str(tmp_path), "PATH": ""},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "complete" in result.stdout


def test_missing_translation_is_reported(tmp_path):
    directory = _catalogue(tmp_path, 'msgid "Sign in"\nmsgstr ""\n')
    assert check_catalogues(directory, ["ja"]) == ["ja: 'Sign in' is not translated"]


def test_fuzzy_translation_is_reported(tmp_path):
    directory = _catalogue(tmp_path, '#, fuzzy\nmsgid "Sign in"\nmsgstr "ログイン"\n')
    assert check_catalogues(directory, ["ja"]) == ["ja: 'Sign in' is fuzzy"]


def test_changed_placeholder_is_reported(tmp_path):
    directory = _catalogue(tmp_path, 'msgid "Hello %(name)s"\nmsgstr "こんにちは %(nom)s"\n')
    [problem] = check_catalogues(directory, ["ja"])
    assert "placeholders" in problem


def test_missing_catalogue_is_reported(tmp_path):
    assert "missing" in check_catalogues(tmp_path, ["ja"])[0]


def test_placeholders_ignore_literal_percent():
    assert placeholders("%(n)d%% done, %s left") == ["%(n)d", "%s"]
