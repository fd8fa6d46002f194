"""Results of a quiz: score distribution and item analysis, as pure functions.

Item analysis follows Moodle's quiz statistics:

- *facility index*: the mean score on the question as a percentage of its points
  (100 = everyone got it right);
- *discrimination index*: 100 × the Pearson correlation, over the attempts that drew
  the question, between the score on the question and the score on the rest of the
  test (the attempt's total minus this question), so a question does not correlate
  with itself. None when fewer than two attempts or when either score never varies;
- how often each choice (or answer) was picked.

A question is flagged when its discrimination is negative (the better trainees do
worse on it: often a wrong key), weak (below 20), or when almost no one or almost
everyone gets it right.

Only trainees' attempts are analysed: :mod:`lms.quizzes.results` says whose count.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l

WEAK_DISCRIMINATION = 20.0
VERY_HARD = 10.0  # facility below this
VERY_EASY = 95.0  # facility above this
TOP_RESPONSES = 8


@dataclass(frozen=True)
class Observation:
    """One answer of one graded attempt."""

    attempt_id: int
    uid: str  # the question's bank uid
    spec: Mapping[str, Any]  # as frozen in the attempt
    response: Any
    score: float  # the answer's effective score (an override counts)
    total: float  # the attempt's total score


@dataclass
class Pick:
    key: str  # a choice id, "true"/"false", or a response as text
    label: str
    count: int
    share: float  # of the attempts that drew the question, 0..100
    credit: str = ""  # what the choice is worth, e.g. "100%", "✓"


@dataclass
class ItemStats:
    uid: str
    type: str
    text: str
    count: int
    points: float
    mean: float
    facility: float | None  # 0..100
    discrimination: float | None  # -100..100
    picks: list[Pick] = field(default_factory=list)
    flags: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Bin:
    low: int
    high: int
    count: int


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r, None when undefined (fewer than two pairs, or no variation)."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return None
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mean_x) ** 2 for x in xs)
    syy = sum((y - mean_y) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def distribution(percents: Iterable[float], bins: int = 10) -> list[Bin]:
    """Counts of attempts per band of ``100 / bins`` percent; 100% falls in the last band."""
    width = 100 // bins
    counts = [0] * bins
    for percent in percents:
        index = min(bins - 1, max(0, int(percent // width)))
        counts[index] += 1
    return [Bin(i * width, (i + 1) * width, count) for i, count in enumerate(counts)]


def _text(texts: Mapping[str, Mapping[str, str]], language: str) -> str:
    entry = texts.get(language) or next(iter(texts.values()), {})
    return entry.get("text", "")


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _picks(observations: Sequence[Observation], language: str) -> list[Pick]:
    spec = observations[-1].spec
    kind = spec["type"]
    n = len(observations)
    counts: Counter[str] = Counter()
    for observation in observations:
        response = observation.response
        if response is None:
            continue
        if kind == "multiple_response":
            counts.update(str(value) for value in response)
        elif kind == "true_false":
            counts["true" if response else "false"] += 1
        elif kind in ("single_choice", "numeric", "short_answer"):
            counts[str(response) if not isinstance(response, float) else f"{response:g}"] += 1
        else:  # matching, ordering: the whole response
            counts[json.dumps(response, sort_keys=True, ensure_ascii=False)] += 1

    def share(count: int) -> float:
        return 100.0 * count / n if n else 0.0

    if kind in ("single_choice", "multiple_response"):
        picks = []
        for choice in spec["choices"]:
            if "weight" in choice:
                credit = _percent(choice["weight"])
            else:
                credit = "✓" if choice.get("correct") else "✗"
            count = counts.get(choice["id"], 0)
            label = _text(choice["texts"], language)
            picks.append(Pick(choice["id"], label, count, share(count), credit))
        return picks
    if kind == "true_false":
        return [
            Pick(
                key,
                str(_l("True") if key == "true" else _l("False")),
                counts.get(key, 0),
                share(counts.get(key, 0)),
                "✓" if (key == "true") == spec["answer"] else "✗",
            )
            for key in ("true", "false")
        ]
    if kind in ("matching", "ordering"):
        labels = {}
        for entry in (*spec.get("prompts", ()), *spec.get("options", ()), *spec.get("items", ())):
            labels[entry["id"]] = _text(entry["texts"], language)

        def describe(key: str) -> str:
            value = json.loads(key)
            if isinstance(value, dict):
                return "; ".join(
                    f"{labels.get(k, k)} → {labels.get(v, v)}" for k, v in value.items()
                )
            return " → ".join(labels.get(v, v) for v in value)

        return [
            Pick(key, describe(key), count, share(count))
            for key, count in counts.most_common(TOP_RESPONSES)
        ]
    return [Pick(key, key, count, share(count)) for key, count in counts.most_common(TOP_RESPONSES)]


def _flags(facility: float | None, discrimination: float | None) -> list[Any]:
    flags: list[Any] = []
    if discrimination is not None and discrimination < 0:
        flags.append(_l("Negative discrimination: check the correct answer."))
    elif discrimination is not None and discrimination < WEAK_DISCRIMINATION:
        flags.append(_l("Weak discrimination."))
    if facility is not None and facility < VERY_HARD:
        flags.append(_l("Very hard: almost no one gets it right."))
    elif facility is not None and facility > VERY_EASY:
        flags.append(_l("Very easy: almost everyone gets it right."))
    return flags


def item_analysis(observations: Iterable[Observation], language: str = "en") -> list[ItemStats]:
    """Statistics per question, in the order questions first appear."""
    by_uid: dict[str, list[Observation]] = {}
    for observation in observations:
        by_uid.setdefault(observation.uid, []).append(observation)
    result = []
    for uid, group in by_uid.items():
        spec = group[-1].spec
        scores = [o.score for o in group]
        rest = [o.total - o.score for o in group]
        fractions = [o.score / float(o.spec["points"]) for o in group if o.spec["points"]]
        facility = 100.0 * sum(fractions) / len(fractions) if fractions else None
        r = correlation(scores, rest)
        discrimination = None if r is None else 100.0 * r
        result.append(
            ItemStats(
                uid=uid,
                type=spec["type"],
                text=_text(spec["texts"], language),
                count=len(group),
                points=float(spec["points"]),
                mean=sum(scores) / len(scores),
                facility=facility,
                discrimination=discrimination,
                picks=_picks(group, language),
                flags=_flags(facility, discrimination),
            )
        )
    return result
