"""Verification codes: format, entropy, forgiving normalisation."""

from __future__ import annotations

import math
import re
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from lms.credentials.codes import (
    ALPHABET,
    CODE_BITS,
    CODE_LENGTH,
    new_verification_code,
    normalise_code,
)

CODE_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


def test_format_is_four_groups_of_crockford_base32() -> None:
    for _ in range(200):
        code = new_verification_code()
        assert CODE_RE.match(code), code
        assert not set(code) & set("ILOU")


def test_entropy_is_at_least_80_bits() -> None:
    assert len(ALPHABET) == 32 and len(set(ALPHABET)) == 32
    assert CODE_BITS >= 80
    assert CODE_LENGTH * math.log2(len(ALPHABET)) >= 80


def test_codes_are_unique_and_characters_uniform() -> None:
    codes = [new_verification_code().replace("-", "") for _ in range(4000)]
    assert len(set(codes)) == len(codes)
    # Every position uses the whole alphabet, roughly evenly (a loose chi-square bound:
    # 31 degrees of freedom, p < 1e-6 is above 80).
    for position in range(CODE_LENGTH):
        counts = Counter(code[position] for code in codes)
        assert set(counts) == set(ALPHABET)
        expected = len(codes) / len(ALPHABET)
        chi2 = sum((counts[c] - expected) ** 2 / expected for c in ALPHABET)
        assert chi2 < 80, (position, chi2)


def test_normalise_accepts_what_people_type() -> None:
    canonical = "K7M2-9QXD-4TRW-HC8P"
    for typed in [
        canonical,
        "k7m2-9qxd-4trw-hc8p",
        "K7M29QXD4TRWHC8P",
        " k7m2 9qxd 4trw hc8p ",
        "K7M2--9QXD-4TRW-HC8P",
        "Ｋ７Ｍ２－９ＱＸＤ－４ＴＲＷ－ＨＣ８Ｐ",  # full-width, from a Japanese IME
        "K7M2\u20139QXD\u20134TRW\u2013HC8P",  # en dashes from a PDF
    ]:
        assert normalise_code(typed) == canonical, typed


def test_normalise_maps_confusable_letters() -> None:
    assert normalise_code("OOOO-IIII-LLLL-oil0") == "0000-1111-1111-0110"


def test_normalise_rejects_malformed() -> None:
    for bad in [
        "",
        "K7M2-9QXD-4TRW-HC8",  # too short
        "K7M2-9QXD-4TRW-HC8PX",  # too long
        "K7M2-9QXD-4TRW-HC8U",  # U is not in the alphabet
        "K7M2-9QXD-4TRW-HC8!",
        "K7M2/9QXD/4TRW/HC8P",
        "x" * 10_000,
        None,
        12345,
    ]:
        assert normalise_code(bad) is None, bad  # type: ignore[arg-type]


def test_round_trip_fresh_codes() -> None:
    for _ in range(500):
        code = new_verification_code()
        assert normalise_code(code) == code
        assert normalise_code(code.lower().replace("-", " ")) == code


_VALID_CHARS = st.sampled_from(ALPHABET + ALPHABET.lower() + "oOiIlL")


@given(st.lists(_VALID_CHARS, min_size=CODE_LENGTH, max_size=CODE_LENGTH))
def test_round_trip_any_typed_code(chars: list[str]) -> None:
    code = normalise_code("".join(chars))
    assert code is not None and CODE_RE.match(code)
    assert normalise_code(code) == code  # idempotent
    assert normalise_code(code.replace("-", "")) == code


@given(st.text(max_size=40))
def test_normalise_never_raises_and_is_idempotent(text: str) -> None:
    code = normalise_code(text)
    assert code is None or (CODE_RE.match(code) and normalise_code(code) == code)
