"""Sets of watched media time as sorted, disjoint intervals: pure functions, no I/O.

Time is counted in whole *units* of a tenth of a second (``UNIT = 0.1`` s), stored
as integers. Why tenths, and why integers:

- Integer arithmetic is exact, so merging, subtracting and measuring never drift and
  the same beat always gives the same answer (idempotence needs exactness).
- Whole seconds would be too coarse: a seek or a pause mid-second would credit (or
  lose) up to a second per edge, and a trainee who seeks a lot would be visibly
  over- or under-counted. Tenths keep the error under 0.05 s per edge.
- Both edges are rounded to the *nearest* tenth, so two beats that meet at the same
  instant (``[0, 15.04]`` then ``[15.04, 30]``) round to the same unit and merge
  into one interval instead of leaving a sliver between them.
- A two-hour lecture is 72,000 units: the stored JSON stays short numbers.

An interval ``(start, end)`` is half-open: it covers the units ``start <= u < end``.
A *normalised* set is sorted, has no empty intervals, and no two intervals overlap
or touch (touching ones are merged), so its length is the plain sum of lengths.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

UNIT = 0.1  # seconds per unit
UNITS_PER_SECOND = 10

Interval = tuple[int, int]
Intervals = list[Interval]


def to_units(seconds: float) -> int:
    """Seconds to the nearest unit (halves round up, unlike Python's banker's ``round``)."""
    return math.floor(seconds * UNITS_PER_SECOND + 0.5)


def to_seconds(units: int) -> float:
    return units / UNITS_PER_SECOND


def from_seconds(pairs: Iterable[Sequence[float]]) -> Intervals:
    """``[[start, end], ...]`` in seconds to a normalised set of units."""
    return normalise((to_units(start), to_units(end)) for start, end in pairs)


def normalise(intervals: Iterable[Sequence[int]]) -> Intervals:
    """Sorted, merged, disjoint intervals; empty or reversed ones are dropped."""
    result: Intervals = []
    for start, end in sorted((int(s), int(e)) for s, e in intervals if e > s):
        if result and start <= result[-1][1]:
            if end > result[-1][1]:
                result[-1] = (result[-1][0], end)
        else:
            result.append((start, end))
    return result


def merge(a: Intervals, b: Intervals) -> Intervals:
    """The union of two normalised sets."""
    return normalise([*a, *b])


def length(intervals: Intervals) -> int:
    """Units covered by a normalised set."""
    return sum(end - start for start, end in intervals)


def clip(intervals: Intervals, low: int, high: int) -> Intervals:
    """The part of a normalised set inside ``[low, high)``."""
    result: Intervals = []
    for start, end in intervals:
        start, end = max(start, low), min(end, high)
        if end > start:
            result.append((start, end))
    return result


def subtract(a: Intervals, b: Intervals) -> Intervals:
    """The part of ``a`` not covered by ``b`` (both normalised): what a beat adds."""
    result: Intervals = []
    j = 0
    for start, end in a:
        # skip the parts of b that end before this interval starts
        while j < len(b) and b[j][1] <= start:
            j += 1
        k = j
        cursor = start
        while k < len(b) and b[k][0] < end:
            if b[k][0] > cursor:
                result.append((cursor, b[k][0]))
            cursor = max(cursor, b[k][1])
            if cursor >= end:
                break
            k += 1
        if cursor < end:
            result.append((cursor, end))
    return result


def intersect(a: Intervals, b: Intervals) -> Intervals:
    """The part of ``a`` also in ``b`` (both normalised)."""
    return subtract(a, subtract(a, b))


def take(intervals: Intervals, amount: int) -> Intervals:
    """The earliest ``amount`` units of a normalised set (all of it if shorter)."""
    result: Intervals = []
    left = max(0, amount)
    for start, end in intervals:
        if left <= 0:
            break
        size = min(end - start, left)
        result.append((start, start + size))
        left -= size
    return result


def bound_credit(new: Intervals, allowed: int) -> tuple[Intervals, int]:
    """Keep at most ``allowed`` units of ``new`` (the earliest); also say how many were cut.

    ``new`` is what a beat would add to the watched set. Keeping its earliest part
    is the reading most favourable to an honest player that happened to send a
    late beat: the beginning of what it reports is the part played first.
    """
    kept = take(new, allowed)
    return kept, length(new) - length(kept)


def is_normalised(intervals: Sequence[Sequence[int]]) -> bool:
    previous_end: int | None = None
    for start, end in intervals:
        if end <= start or (previous_end is not None and start <= previous_end):
            return False
        previous_end = end
    return True


def dump(intervals: Intervals) -> list[list[int]]:
    """The JSON form stored in the database: ``[[start, end], ...]`` in units."""
    return [[start, end] for start, end in intervals]


def load(data: object) -> Intervals:
    """The stored JSON form back to a normalised set (tolerant of anything odd in it)."""
    if not isinstance(data, list):
        return []
    pairs = []
    for item in data:
        if isinstance(item, list | tuple) and len(item) == 2:
            start, end = item
            if isinstance(start, int) and isinstance(end, int):
                pairs.append((start, end))
    return normalise(pairs)
