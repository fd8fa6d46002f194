"""Verification codes: short, unguessable, easy to read aloud and to type.

A code is 16 characters of Crockford's base32 (digits and capital letters without I, L,
O and U), that is 80 bits from :mod:`secrets`, shown in four groups of four:
``K7M2-9QXD-4TRW-HC8P``. Reading one back is forgiving, as Crockford intends: case,
spaces and hyphens do not matter, ``O`` is read as ``0`` and ``I``/``L`` as ``1``, and
full-width characters typed with a Japanese or Chinese input method are folded to ASCII.
"""

from __future__ import annotations

import math
import re
import secrets
import unicodedata

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
GROUP_SIZE = 4
CODE_BITS = CODE_LENGTH * int(math.log2(len(ALPHABET)))  # 80

_DECODE_MAP = {char: char for char in ALPHABET} | {"O": "0", "I": "1", "L": "1"}
# Separators people put in, or that copying from a PDF or a chat brings along.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc\u00b7_.]+")
_MAX_INPUT = 64


def new_verification_code() -> str:
    """Return a fresh code such as ``K7M2-9QXD-4TRW-HC8P`` (80 random bits)."""
    value = secrets.randbits(CODE_BITS)
    chars = []
    for _ in range(CODE_LENGTH):
        value, digit = divmod(value, len(ALPHABET))
        chars.append(ALPHABET[digit])
    return _group("".join(reversed(chars)))


def normalise_code(text: str | None) -> str | None:
    """Return the canonical form of a typed code, or ``None`` if it cannot be one.

    The result is what :func:`new_verification_code` would have printed, so it can be
    looked up directly. Malformed input of any kind (wrong length, a ``U``, punctuation,
    not a string) gives ``None``: callers answer malformed and unknown codes alike.
    """
    if not isinstance(text, str) or len(text) > _MAX_INPUT:
        return None
    folded = unicodedata.normalize("NFKC", text).upper()
    compact = _SEPARATORS.sub("", folded)
    if len(compact) != CODE_LENGTH:
        return None
    chars = []
    for char in compact:
        mapped = _DECODE_MAP.get(char)
        if mapped is None:
            return None
        chars.append(mapped)
    return _group("".join(chars))


def _group(chars: str) -> str:
    return "-".join(chars[i : i + GROUP_SIZE] for i in range(0, len(chars), GROUP_SIZE))
