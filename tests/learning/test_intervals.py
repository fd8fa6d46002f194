"""Interval arithmetic, checked against the obvious model: a set of unit cells."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lms.learning import intervals as iv

LIMIT = 300

raw_interval = st.tuples(st.integers(0, LIMIT), st.integers(0, LIMIT))
raw_set = st.lists(raw_interval, max_size=12)
normal_set = raw_set.map(iv.normalise)


def cells(intervals) -> set[int]:
    """The model: every unit u with start <= u < end for some interval."""
    return {u for start, end in intervals for u in range(start, end)}


# --- normalise -------------------------------------------------------------------------------


@given(raw_set)
def test_normalise_keeps_exactly_the_covered_units(raw) -> None:
    result = iv.normalise(raw)
    assert cells(result) == cells(raw)
    assert iv.is_normalised(result)
    assert iv.length(result) == len(cells(raw))


@given(raw_set)
def test_normalise_is_idempotent_and_order_free(raw) -> None:
    once = iv.normalise(raw)
    assert iv.normalise(once) == once
    assert iv.normalise(list(reversed(raw))) == once


def test_touching_intervals_merge_and_empty_ones_vanish() -> None:
    assert iv.normalise([(10, 20), (0, 10), (30, 30), (25, 22)]) == [(0, 20)]
    assert iv.normalise([(0, 5), (6, 9)]) == [(0, 5), (6, 9)]
    assert not iv.is_normalised([(0, 5), (5, 9)])


# --- merge -----------------------------------------------------------------------------------


@given(normal_set, normal_set)
def test_merge_is_the_union(a, b) -> None:
    merged = iv.merge(a, b)
    assert iv.is_normalised(merged)
    assert cells(merged) == cells(a) | cells(b)
    assert iv.length(merged) == iv.length(a) + iv.length(b) - iv.length(iv.intersect(a, b))


@given(normal_set, normal_set, normal_set)
def test_merge_is_commutative_associative_idempotent(a, b, c) -> None:
    assert iv.merge(a, b) == iv.merge(b, a)
    assert iv.merge(iv.merge(a, b), c) == iv.merge(a, iv.merge(b, c))
    assert iv.merge(a, a) == a
    assert iv.merge(a, []) == a


# --- clip, subtract, intersect -----------------------------------------------------------------


@given(normal_set, st.integers(-10, LIMIT + 10), st.integers(-10, LIMIT + 10))
def test_clip_keeps_what_lies_in_the_window(a, low, high) -> None:
    clipped = iv.clip(a, low, high)
    assert iv.is_normalised(clipped)
    assert cells(clipped) == {u for u in cells(a) if low <= u < high}


@given(normal_set, normal_set)
def test_subtract_is_the_difference(a, b) -> None:
    difference = iv.subtract(a, b)
    assert iv.is_normalised(difference)
    assert cells(difference) == cells(a) - cells(b)
    assert iv.merge(difference, b) == iv.merge(a, b)  # what a beat adds, and no more


@given(normal_set, normal_set)
def test_intersect_is_the_intersection(a, b) -> None:
    assert cells(iv.intersect(a, b)) == cells(a) & cells(b)


# --- the bound on a beat's credit ------------------------------------------------------------


@given(normal_set, st.integers(-5, LIMIT + 5))
def test_take_keeps_the_earliest_units(a, amount) -> None:
    kept = iv.take(a, amount)
    assert iv.is_normalised(kept)
    assert cells(kept) <= cells(a)
    assert iv.length(kept) == max(0, min(amount, iv.length(a)))
    dropped = cells(a) - cells(kept)
    assert all(k < d for k in cells(kept) for d in dropped)


@given(normal_set, st.integers(0, LIMIT))
def test_bound_credit_never_exceeds_the_allowance_and_accounts_for_the_rest(a, allowed) -> None:
    kept, cut = iv.bound_credit(a, allowed)
    assert iv.length(kept) <= allowed
    assert iv.length(kept) + cut == iv.length(a)
    if iv.length(a) <= allowed:
        assert kept == a and cut == 0


# --- seconds and the stored form ----------------------------------------------------------------


def test_rounding_is_to_the_nearest_tenth_and_beats_that_meet_merge() -> None:
    assert iv.to_units(0.05) == 1 and iv.to_units(0.04) == 0 and iv.to_units(0.25) == 3
    assert iv.from_seconds([[0, 15.04], [15.04, 30]]) == [(0, 300)]
    assert iv.to_seconds(iv.length(iv.from_seconds([[1.26, 2.5]]))) == 1.2


@given(
    st.lists(
        st.tuples(st.floats(0, 7200, allow_nan=False), st.floats(0, 7200, allow_nan=False)),
        max_size=10,
    )
)
def test_seconds_round_trip_through_the_stored_form(pairs) -> None:
    ordered = [(min(a, b), max(a, b)) for a, b in pairs]
    units = iv.from_seconds(ordered)
    assert iv.is_normalised(units)
    assert iv.load(iv.dump(units)) == units
    # each edge is off by at most half a unit
    for start, end in ordered:
        s, e = iv.to_units(start), iv.to_units(end)
        assert abs(s * iv.UNIT - start) <= iv.UNIT / 2 + 1e-9
        assert abs(e * iv.UNIT - end) <= iv.UNIT / 2 + 1e-9


def test_load_tolerates_junk() -> None:
    assert iv.load(None) == []
    assert iv.load({"a": 1}) == []
    assert iv.load([[5, 9], [0, 3], "x", [1], [2.5, 4], [3, 5]]) == [(0, 9)]
