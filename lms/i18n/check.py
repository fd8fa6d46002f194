"""``lms translations check``: every shipped catalogue complete and consistent."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from babel.messages.pofile import read_po

from lms.i18n import LANGUAGES, TRANSLATIONS_DIR

# Python %-style placeholders, named or positional (``%(name)s``, ``%d``); ``%%`` is literal.
PLACEHOLDER = re.compile(r"%(?:\([^)]+\))?[-#0 +]*\d*(?:\.\d+)?[sdifr]|%%")


def placeholders(text: str) -> list[str]:
    return sorted(p for p in PLACEHOLDER.findall(text) if p != "%%")


def check_catalogues(
    directory: Path = TRANSLATIONS_DIR, languages: Iterable[str] = tuple(LANGUAGES)
) -> list[str]:
    """One line per problem: a missing catalogue, an untranslated, fuzzy or mismatched entry."""
    problems: list[str] = []
    for code in languages:
        if code == "en":
            continue  # the source language
        path = directory / code / "LC_MESSAGES" / "messages.po"
        if not path.exists():
            problems.append(f"{code}: catalogue {path} is missing")
            continue
        with path.open("rb") as handle:
            catalogue = read_po(handle, locale=code)
        for message in catalogue:
            if not message.id:
                continue
            where = f"{code}: {message.id if isinstance(message.id, str) else message.id[0]!r}"
            if message.fuzzy:
                problems.append(f"{where} is fuzzy")
            sources = [message.id] if isinstance(message.id, str) else list(message.id)
            targets = [message.string] if isinstance(message.string, str) else list(message.string)
            if not all(targets):
                problems.append(f"{where} is not translated")
                continue
            expected = placeholders(sources[-1])
            for target in targets:
                # A plural form for "one" may spell the number out; every other must match.
                if placeholders(target) != expected and not (
                    len(targets) > 1 and set(placeholders(target)) <= set(expected)
                ):
                    problems.append(
                        f"{where} has placeholders {placeholders(target)}, expected {expected}"
                    )
    return problems
