"""Question types: validation, the public view, response normalisation and grading.

Most tests are properties (Hypothesis) over generated questions of every type. Every
secret an author writes (explanations, feedback, accepted answers) is generated with the
marker ``SECRET`` while every text the trainee may see is lower-case, so the public view
can be searched for the marker; the answer-leak tests also check that re-drawing every
secret of a question leaves its public view unchanged.
"""

from __future__ import annotations

import json
import math
import random
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lms.quizzes import questions as q
from lms.quizzes.questions import QuestionError

LANGUAGES = ["en", "ja", "th", "ar", "vi"]
PUBLIC_ALPHABET = string.ascii_lowercase + " あいう漢字"
SECRET_KEYS = {
    "correct",
    "weight",
    "credit",
    "answer",
    "answers",
    "feedback",
    "explanation",
    "tolerance",
    "value",
    "min",
    "max",
    "match",
    "scoring",
    "case_sensitive",
}

languages_st = st.lists(st.sampled_from(LANGUAGES), min_size=1, max_size=3, unique=True)
public_text = st.text(PUBLIC_ALPHABET, min_size=1, max_size=12).filter(str.strip)
secret_text = st.text(string.ascii_lowercase, max_size=8).map(lambda s: f"SECRET{s}")
points_st = st.one_of(
    st.sampled_from([1.0, 2.0, 0.5, 10.0]),
    st.floats(min_value=0.01, max_value=q.MAX_POINTS, allow_nan=False),
)
weight_st = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)


def ids_st(count: int) -> st.SearchStrategy[list[str]]:
    # Opaque ids, as importers and the editor make them: lower-case hex never spells SECRET.
    return st.lists(
        st.text("0123456789abcdef", min_size=6, max_size=6),
        min_size=count,
        max_size=count,
        unique=True,
    )


@st.composite
def question_texts(draw: st.DrawFn, languages: list[str]) -> dict[str, dict[str, str]]:
    texts = {}
    for language in languages:
        entry = {"text": draw(public_text)}
        if draw(st.booleans()):
            entry["explanation"] = draw(secret_text)
        texts[language] = entry
    return texts


@st.composite
def entry_texts(
    draw: st.DrawFn, languages: list[str], feedback: bool = False
) -> dict[str, dict[str, str]]:
    texts = {}
    for language in languages:
        entry = {"text": draw(public_text)}
        if feedback and draw(st.booleans()):
            entry["feedback"] = draw(secret_text)
        texts[language] = entry
    return texts


@st.composite
def feedback_map(draw: st.DrawFn, languages: list[str]) -> dict[str, str]:
    chosen = draw(st.lists(st.sampled_from(languages), unique=True))
    return {language: draw(secret_text) for language in chosen}


@st.composite
def common(draw: st.DrawFn, kind: str) -> tuple[dict[str, Any], list[str]]:
    languages = draw(languages_st)
    spec: dict[str, Any] = {
        "type": kind,
        "points": draw(points_st),
        "texts": draw(question_texts(languages)),
    }
    if draw(st.booleans()):
        spec["images"] = draw(st.lists(st.sampled_from(["img/a.png", "img/b.jpg"]), max_size=2))
    return spec, languages


@st.composite
def single_choice_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec, languages = draw(common("single_choice"))
    count = draw(st.integers(2, 6))
    right = draw(st.integers(0, count - 1))
    choices = []
    for index, id_ in enumerate(draw(ids_st(count))):
        choice: dict[str, Any] = {"id": id_, "texts": draw(entry_texts(languages, True))}
        if index == right:
            choice.update(draw(st.sampled_from([{"correct": True}, {"weight": 1.0}])))
        elif draw(st.booleans()):
            choice["weight"] = draw(weight_st)
        choices.append(choice)
    return {**spec, "choices": choices}


@st.composite
def partial_weights(draw: st.DrawFn, count: int) -> list[float]:
    """Positive weights adding up to 1 (or within the import slack), the rest 0 or negative."""
    positives = draw(st.integers(1, count))
    shares = draw(st.lists(st.integers(1, 100), min_size=positives, max_size=positives))
    weights = [share / sum(shares) for share in shares]
    if draw(st.booleans()):  # as a GIFT file writes them: whole percentages with 5 decimals
        weights = [round(weight * 100, 5) / 100 for weight in weights]
    weights += draw(
        st.lists(
            st.one_of(st.just(0.0), st.floats(-1.0, 0.0, allow_nan=False)),
            min_size=count - positives,
            max_size=count - positives,
        )
    )
    return draw(st.permutations(weights))


@st.composite
def multiple_response_specs(draw: st.DrawFn, scoring: str | None = None) -> dict[str, Any]:
    spec, languages = draw(common("multiple_response"))
    scoring = scoring or draw(st.sampled_from(["all_or_nothing", "partial"]))
    if scoring == "partial" or draw(st.booleans()):
        spec["scoring"] = scoring
    count = draw(st.integers(2, 6))
    ids = draw(ids_st(count))
    choices = [{"id": id_, "texts": draw(entry_texts(languages, True))} for id_ in ids]
    if scoring == "partial":
        for choice, weight in zip(choices, draw(partial_weights(count)), strict=True):
            choice["weight"] = weight
    else:
        flags = draw(st.lists(st.booleans(), min_size=count, max_size=count).filter(any))
        for choice, flag in zip(choices, flags, strict=True):
            if flag or draw(st.booleans()):
                choice["correct"] = flag
    return {**spec, "choices": choices}


@st.composite
def true_false_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec, languages = draw(common("true_false"))
    spec["answer"] = draw(st.booleans())
    feedback = {key: draw(feedback_map(languages)) for key in ("true", "false")}
    if draw(st.booleans()):
        spec["feedback"] = feedback
    return spec


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@st.composite
def numeric_answer(draw: st.DrawFn, id_: str, languages: list[str]) -> dict[str, Any]:
    answer: dict[str, Any] = {"id": id_}
    if draw(st.booleans()):
        answer["value"] = draw(finite)
        if draw(st.booleans()):
            answer["tolerance"] = draw(st.floats(0.0, 1e3, allow_nan=False))
    else:
        low, high = sorted(draw(st.tuples(finite, finite)))
        answer["min"], answer["max"] = low, high
    if draw(st.booleans()):
        answer["credit"] = draw(st.floats(0.01, 1.0))
    if draw(st.booleans()):
        answer["feedback"] = draw(feedback_map(languages))
    return answer


@st.composite
def numeric_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec, languages = draw(common("numeric"))
    count = draw(st.integers(1, 4))
    answers = [draw(numeric_answer(id_, languages)) for id_ in draw(ids_st(count))]
    answers[draw(st.integers(0, count - 1))]["credit"] = 1.0
    return {**spec, "answers": answers}


@st.composite
def short_answer_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec, languages = draw(common("short_answer"))
    sensitive = draw(st.booleans())
    if sensitive or draw(st.booleans()):
        spec["case_sensitive"] = sensitive
    count = draw(st.integers(1, 4))
    texts = draw(
        st.lists(
            st.text(string.ascii_letters + string.digits + " カナ漢", max_size=10).map(
                lambda s: f"SECRET {s}"
            ),
            min_size=count,
            max_size=count,
            unique_by=lambda text: q.answer_key(text, case_sensitive=sensitive),
        )
    )
    answers = []
    for id_, text in zip(draw(ids_st(count)), texts, strict=True):
        answer: dict[str, Any] = {"id": id_, "text": text}
        if draw(st.booleans()):
            answer["credit"] = draw(st.floats(0.01, 1.0))
        if draw(st.booleans()):
            answer["feedback"] = draw(feedback_map(languages))
        answers.append(answer)
    answers[draw(st.integers(0, count - 1))]["credit"] = 1.0
    return {**spec, "answers": answers}


@st.composite
def matching_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec, languages = draw(common("matching"))
    option_ids = draw(ids_st(draw(st.integers(2, 6))))
    prompt_ids = draw(ids_st(draw(st.integers(2, 5))))
    spec["options"] = [{"id": id_, "texts": draw(entry_texts(languages))} for id_ in option_ids]
    spec["prompts"] = [
        {
            "id": id_,
            "texts": draw(entry_texts(languages)),
            "match": draw(st.sampled_from(option_ids)),
        }
        for id_ in prompt_ids
    ]
    return spec


@st.composite
def ordering_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec, languages = draw(common("ordering"))
    if draw(st.booleans()):
        spec["scoring"] = draw(st.sampled_from(["positions", "all_or_nothing"]))
    ids = draw(ids_st(draw(st.integers(2, 7))))
    spec["items"] = [{"id": id_, "texts": draw(entry_texts(languages))} for id_ in ids]
    return spec


STRATEGIES = {
    "single_choice": single_choice_specs(),
    "multiple_response": multiple_response_specs(),
    "true_false": true_false_specs(),
    "numeric": numeric_specs(),
    "short_answer": short_answer_specs(),
    "matching": matching_specs(),
    "ordering": ordering_specs(),
}
raw_specs = st.one_of(*STRATEGIES.values())
specs = raw_specs.map(q.validate)


def test_every_type_is_generated() -> None:
    assert set(STRATEGIES) == set(q.QUESTION_TYPES)


# --- responses ----------------------------------------------------------------------


def full_marks(spec: dict[str, Any]) -> Any:
    """A response that deserves full points."""
    kind = spec["type"]
    if kind == "single_choice":
        return next(c["id"] for c in spec["choices"] if c["weight"] == 1.0)
    if kind == "multiple_response":
        if spec["scoring"] == "all_or_nothing":
            return [c["id"] for c in spec["choices"] if c["correct"]]
        return [c["id"] for c in spec["choices"] if c["weight"] > 0]
    if kind == "true_false":
        return spec["answer"]
    if kind == "numeric":
        best = next(a for a in spec["answers"] if a["credit"] == 1.0)
        return best["value"] if "value" in best else (best["min"] + best["max"]) / 2
    if kind == "short_answer":
        return next(a["text"] for a in spec["answers"] if a["credit"] == 1.0)
    if kind == "matching":
        return {p["id"]: p["match"] for p in spec["prompts"]}
    assert kind == "ordering"
    return [item["id"] for item in spec["items"]]


@st.composite
def responses(draw: st.DrawFn, spec: dict[str, Any]) -> Any:
    """Any well-formed response, as the browser could post it (``None``: not answered)."""
    kind = spec["type"]
    if draw(st.integers(0, 9)) == 0:
        return None
    if kind == "single_choice":
        return draw(st.sampled_from([c["id"] for c in spec["choices"]]))
    if kind == "multiple_response":
        return draw(st.lists(st.sampled_from([c["id"] for c in spec["choices"]])))
    if kind == "true_false":
        return draw(st.one_of(st.booleans(), st.sampled_from(["true", "false", " True "])))
    if kind == "numeric":
        near = [a.get("value", a.get("min")) for a in spec["answers"]]
        return draw(st.one_of(finite, st.sampled_from(near), finite.map(repr)))
    if kind == "short_answer":
        return draw(
            st.one_of(st.text(max_size=20), st.sampled_from([a["text"] for a in spec["answers"]]))
        )
    if kind == "matching":
        options = [o["id"] for o in spec["options"]]
        prompts = [p["id"] for p in spec["prompts"]]
        return draw(st.dictionaries(st.sampled_from(prompts), st.sampled_from(options)))
    return draw(st.permutations([item["id"] for item in spec["items"]]))


BLANKS = {
    "single_choice": [None, ""],
    "multiple_response": [None, "", []],
    "true_false": [None, ""],
    "numeric": [None, "", "  "],
    "short_answer": [None, "", " \u3000 "],
    "matching": [None, {}],
    "ordering": [None, []],
}


# --- properties of every type -------------------------------------------------------


@given(raw_specs)
def test_validate_is_idempotent_and_json_storable(raw: dict[str, Any]) -> None:
    spec = q.validate(raw)
    assert q.validate(spec) == spec
    assert json.loads(json.dumps(spec)) == spec


@given(st.data(), specs)
def test_score_stays_within_bounds(data: st.DataObject, spec: dict[str, Any]) -> None:
    raw = data.draw(responses(spec))
    result = q.grade(spec, raw)
    assert 0.0 <= result.score <= spec["points"]
    assert 0.0 <= result.fraction <= 1.0
    assert math.isclose(result.score, result.fraction * spec["points"], abs_tol=1e-12)
    assert result.correct == (result.fraction == 1.0)
    assert json.loads(json.dumps(result.to_dict())) == result.to_dict()


@given(st.data(), specs)
def test_normalised_response_is_canonical(data: st.DataObject, spec: dict[str, Any]) -> None:
    response = q.normalise_response(spec, data.draw(responses(spec)))
    assert q.normalise_response(spec, response) == response
    assert json.loads(json.dumps(response)) == response
    assert q.grade(spec, response) == q.grade(spec, json.loads(json.dumps(response)))


@given(specs)
def test_full_marks_for_the_right_answer(spec: dict[str, Any]) -> None:
    result = q.grade(spec, full_marks(spec))
    assert result.score == spec["points"]
    assert result.fraction == 1.0
    assert result.correct and result.answered


@given(specs)
def test_no_answer_scores_zero(spec: dict[str, Any]) -> None:
    for blank in BLANKS[spec["type"]]:
        assert q.normalise_response(spec, blank) is None
        result = q.grade(spec, blank)
        assert (result.score, result.fraction, result.correct, result.answered) == (
            0.0,
            0.0,
            False,
            False,
        )
        assert result.feedback == ()


@given(st.data(), specs)
def test_feedback_ids_name_entries_with_feedback(data: st.DataObject, spec: dict[str, Any]) -> None:
    response = q.normalise_response(spec, data.draw(responses(spec)))
    result = q.grade(spec, response)
    kind = spec["type"]
    if kind in ("single_choice", "multiple_response"):
        by_id = {c["id"]: c for c in spec["choices"]}
        for id_ in result.feedback:
            assert any("feedback" in t for t in by_id[id_]["texts"].values())
        picked = response if isinstance(response, list) else [response]
        assert set(result.feedback) <= set(picked)
    elif kind == "true_false":
        assert set(result.feedback) <= set(spec.get("feedback", {}))
    elif kind in ("numeric", "short_answer"):
        by_id = {a["id"]: a for a in spec["answers"]}
        assert len(result.feedback) <= 1
        for id_ in result.feedback:
            assert by_id[id_].get("feedback")
    else:
        assert result.feedback == ()


# --- choice order -------------------------------------------------------------------


choice_specs = st.one_of(single_choice_specs(), multiple_response_specs()).map(q.validate)


@given(st.data(), choice_specs, st.integers(), st.integers())
def test_presentation_order_never_changes_the_score(
    data: st.DataObject, spec: dict[str, Any], seed_a: int, seed_b: int
) -> None:
    """The trainee picks the same choices, whatever order two attempts showed them in."""
    shown_a = q.public(spec, q.layout(spec, seed=seed_a))["choices"]
    shown_b = q.public(spec, q.layout(spec, seed=seed_b))["choices"]
    assert sorted(shown_a, key=lambda c: c["id"]) == sorted(shown_b, key=lambda c: c["id"])
    picked = data.draw(st.sets(st.sampled_from([c["id"] for c in shown_a]), min_size=1))
    if spec["type"] == "single_choice":
        picked = {sorted(picked)[0]}
        as_a = next(c["id"] for c in shown_a if c["id"] in picked)
        as_b = next(c["id"] for c in shown_b if c["id"] in picked)
    else:
        as_a = [c["id"] for c in shown_a if c["id"] in picked]
        as_b = [c["id"] for c in shown_b if c["id"] in picked]
    assert q.grade(spec, as_a) == q.grade(spec, as_b)


@given(st.data(), st.one_of(single_choice_specs(), multiple_response_specs()))
def test_authoring_order_of_choices_never_changes_the_score(
    data: st.DataObject, raw: dict[str, Any]
) -> None:
    spec = q.validate(raw)
    reordered = q.validate({**raw, "choices": data.draw(st.permutations(raw["choices"]))})
    response = data.draw(responses(spec))
    a, b = q.grade(spec, response), q.grade(reordered, response)
    assert math.isclose(a.fraction, b.fraction, abs_tol=1e-12)
    assert a.correct == b.correct and set(a.feedback) == set(b.feedback)
    assert q.grade(reordered, full_marks(spec)).score == spec["points"]


@given(st.data(), multiple_response_specs())
def test_multiple_response_ignores_order_and_repeats_of_the_selection(
    data: st.DataObject, raw: dict[str, Any]
) -> None:
    spec = q.validate(raw)
    picked = data.draw(st.lists(st.sampled_from([c["id"] for c in spec["choices"]]), min_size=1))
    again = data.draw(st.permutations(picked + picked[:1]))
    assert q.normalise_response(spec, picked) == q.normalise_response(spec, again)
    assert q.grade(spec, picked) == q.grade(spec, again) == q.grade(spec, set(picked))


@given(st.integers(), specs)
def test_layout_is_a_frozen_permutation(seed: int, spec: dict[str, Any]) -> None:
    kind = q.QUESTION_TYPES[spec["type"]]
    frozen = q.layout(spec, seed=seed)
    assert frozen == q.layout(spec, seed=seed)  # same seed, same order
    assert json.loads(json.dumps(frozen)) == frozen
    for key, ids in kind.order_keys(spec).items():
        assert sorted(frozen[key]) == sorted(ids)
    if spec["type"] != "ordering":
        assert q.layout(spec, shuffle=False) == kind.order_keys(spec)


# --- multiple response --------------------------------------------------------------


@given(st.data(), multiple_response_specs("partial"))
def test_partial_credit_with_negative_weights_never_goes_below_zero(
    data: st.DataObject, raw: dict[str, Any]
) -> None:
    spec = q.validate(raw)
    ids = [c["id"] for c in spec["choices"]]
    picked = data.draw(st.sets(st.sampled_from(ids), min_size=1))
    result = q.grade(spec, sorted(picked))
    weights = {c["id"]: c["weight"] for c in spec["choices"]}
    positive = sum(w for w in weights.values() if w > 0)
    expected = min(1.0, max(0.0, sum(weights[i] for i in picked) / positive))
    assert math.isclose(result.fraction, expected, abs_tol=1e-12)
    assert q.grade(spec, ids).score >= 0.0  # "select everything" is no loophole
    negatives = [i for i in ids if weights[i] < 0]
    if negatives:
        assert q.grade(spec, negatives).score == 0.0


def test_partial_credit_example() -> None:
    spec = q.validate(
        {
            "type": "multiple_response",
            "scoring": "partial",
            "points": 3,
            "texts": {"en": {"text": "Which are burnable in Tokyo's 23 wards?"}},
            "choices": [
                {"id": "kitchen", "texts": {"en": {"text": "Kitchen waste"}}, "weight": 1 / 3},
                {"id": "paper", "texts": {"en": {"text": "Dirty paper"}}, "weight": 1 / 3},
                {"id": "wood", "texts": {"en": {"text": "Small wood"}}, "weight": 1 / 3},
                {"id": "glass", "texts": {"en": {"text": "Glass"}}, "weight": -0.5},
                {"id": "battery", "texts": {"en": {"text": "Batteries"}}, "weight": -1},
            ],
        }
    )
    assert q.grade(spec, ["kitchen", "paper", "wood"]).score == 3.0
    assert math.isclose(q.grade(spec, ["kitchen", "paper"]).score, 2.0)
    assert math.isclose(q.grade(spec, ["kitchen", "paper", "glass"]).score, 0.5)
    assert q.grade(spec, ["kitchen", "battery"]).score == 0.0
    assert q.grade(spec, ["kitchen", "paper", "wood", "glass", "battery"]).score == 0.0


def test_all_or_nothing_example() -> None:
    spec = q.validate(
        {
            "type": "multiple_response",
            "points": 2,
            "texts": {"en": {"text": "Pick the two"}},
            "choices": [
                {"id": "a", "texts": {"en": {"text": "A"}}, "correct": True},
                {"id": "b", "texts": {"en": {"text": "B"}}, "correct": True},
                {"id": "c", "texts": {"en": {"text": "C"}}},
            ],
        }
    )
    assert q.grade(spec, ["b", "a"]).score == 2.0
    assert q.grade(spec, ["a"]).score == 0.0
    assert q.grade(spec, ["a", "b", "c"]).score == 0.0


# --- short answer -------------------------------------------------------------------

WIDE_SPACES = [" ", "  ", "\u3000", "\t", " \u3000 "]


@st.composite
def spelled_differently(draw: st.DrawFn, text: str, change_case: bool) -> str:
    """The same answer with other widths, case and spacing, as a trainee might type it."""
    out = []
    for char in text:
        if char == " ":
            out.append(draw(st.sampled_from(WIDE_SPACES)))
            continue
        if change_case and char in string.ascii_letters and draw(st.booleans()):
            char = char.swapcase()
        if "!" <= char <= "~" and draw(st.booleans()):
            char = chr(ord(char) + 0xFEE0)  # the full-width form
        out.append(char)
    lead = draw(st.sampled_from(["", " ", "\u3000", "\n"]))
    trail = draw(st.sampled_from(["", " ", "\u3000", "\t"]))
    return lead + "".join(out) + trail


@given(st.data(), short_answer_specs())
def test_short_answer_matches_width_case_and_spacing_variants(
    data: st.DataObject, raw: dict[str, Any]
) -> None:
    spec = q.validate(raw)
    answer = data.draw(st.sampled_from(raw["answers"]))
    typed = data.draw(spelled_differently(answer["text"], not spec["case_sensitive"]))
    result = q.grade(spec, typed)
    assert result.fraction == answer.get("credit", 1.0)
    stored = next(a for a in spec["answers"] if a["id"] == answer["id"])
    assert result.feedback == ((answer["id"],) if stored.get("feedback") else ())


@given(st.text(string.ascii_letters + " ", min_size=1).filter(lambda s: s.strip()))
def test_case_sensitive_short_answer_refuses_another_case(text: str) -> None:
    answer = f"Answer {text}"
    spec = q.validate(
        {
            "type": "short_answer",
            "points": 1,
            "case_sensitive": True,
            "texts": {"en": {"text": "?"}},
            "answers": [{"id": "a", "text": answer}],
        }
    )
    assert q.grade(spec, "\u3000" + answer.replace(" ", "  ")).correct
    assert q.grade(spec, answer.swapcase()).answered
    assert q.grade(spec, answer.swapcase()).score == 0.0


def test_short_answer_examples() -> None:
    spec = q.validate(
        {
            "type": "short_answer",
            "points": 2,
            "texts": {"en": {"text": "Name the plant code"}, "ja": {"text": "工場コードは？"}},
            "answers": [
                {"id": "full", "text": "ABC 123", "feedback": {"ja": "正解"}},
                {"id": "half", "text": "ABC", "credit": 0.5},
            ],
        }
    )
    assert q.grade(spec, "ＡＢＣ　１２３").score == 2.0
    assert q.grade(spec, "  abc   123 ").feedback == ("full",)
    assert q.grade(spec, "ａｂｃ").score == 1.0
    assert q.grade(spec, "ABC1234").score == 0.0
    assert q.normalise_response(spec, " ＡＢＣ\u3000 １２３ ") == "ABC 123"
    katakana = q.validate({**spec, "answers": [{"id": "k", "text": "カタカナ"}]})
    assert q.grade(katakana, "ｶﾀｶﾅ").correct  # half-width katakana too


def test_short_answer_refuses_answers_equal_after_normalising() -> None:
    with pytest.raises(QuestionError) as caught:
        q.validate(
            {
                "type": "short_answer",
                "points": 1,
                "texts": {"en": {"text": "?"}},
                "answers": [{"id": "a", "text": "Tokyo"}, {"id": "b", "text": "ＴＯＫＹＯ"}],
            }
        )
    assert caught.value.field == "answers[1].text"


# --- numeric ------------------------------------------------------------------------

moderate = st.floats(min_value=-1e5, max_value=1e5, allow_nan=False)


@given(moderate, st.floats(0.0, 100.0), st.floats(-1.0, 1.0), st.booleans())
def test_numeric_tolerance(value: float, tolerance: float, where: float, as_text: bool) -> None:
    spec = q.validate(
        {
            "type": "numeric",
            "points": 4,
            "texts": {"en": {"text": "How many tonnes?"}},
            "answers": [{"id": "a", "value": value, "tolerance": tolerance}],
        }
    )
    inside = value + where * tolerance
    margin = max(tolerance * 0.01, 1e-6 * max(1.0, abs(value) + tolerance))
    outside = value + math.copysign(tolerance + margin, where or 1.0)
    post = repr if as_text else (lambda x: x)
    assert q.grade(spec, post(inside)).score == 4.0
    assert q.grade(spec, post(outside)).score == 0.0
    assert q.grade(spec, post(value)).correct


@given(moderate, moderate, st.floats(0.0, 1.0))
def test_numeric_range(a: float, b: float, where: float) -> None:
    low, high = sorted((a, b))
    spec = q.validate(
        {
            "type": "numeric",
            "points": 1,
            "texts": {"en": {"text": "?"}},
            "answers": [{"id": "r", "min": low, "max": high}],
        }
    )
    margin = 1e-6 * max(1.0, abs(low), abs(high))
    assert q.grade(spec, min(high, low + where * (high - low))).correct
    assert q.grade(spec, low).correct and q.grade(spec, high).correct
    assert q.grade(spec, low - margin).score == 0.0
    assert q.grade(spec, high + margin).score == 0.0


def test_numeric_partial_credit_takes_the_best_match() -> None:
    spec = q.validate(
        {
            "type": "numeric",
            "points": 10,
            "texts": {"en": {"text": "Tokyo's 23 wards burn how many kt a year?"}},
            "answers": [
                {"id": "close", "min": 2000, "max": 3000, "credit": 0.5, "feedback": {"en": "x"}},
                {"id": "exact", "value": 2500, "tolerance": 100},
            ],
        }
    )
    assert q.grade(spec, 2550).score == 10.0
    assert q.grade(spec, 2550).feedback == ()
    assert q.grade(spec, "2900").score == 5.0
    assert q.grade(spec, "2900").feedback == ("close",)
    assert q.grade(spec, 3100).score == 0.0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.5", 12.5),
        (" １２．５ ", 12.5),  # full-width digits and point
        ("12,5", 12.5),  # a decimal comma
        ("\u22123", -3.0),  # a Unicode minus sign
        ("١٢٫٥", 12.5),  # Arabic-Indic digits and decimal separator
        ("-.5", -0.5),
        ("1e3", 1000.0),
        ("\u3000－４２\u3000", -42.0),  # full-width minus and ideographic spaces
        ("۱۲", 12.0),  # Persian digits
        (7, 7.0),
        (2.5, 2.5),
        ("", None),
        (None, None),
    ],
)
def test_parse_number(raw: Any, expected: float | None) -> None:
    assert q.parse_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        *("1,000", "1,234.5", "1.2.3", "abc", "nan", "inf", "1e999", "1_000", "0x10"),
        *("10²", "½", "1 000", "--1", "1e", "x" * 101),
        *(True, [1], {}),
    ],
)
def test_parse_number_refuses(raw: Any) -> None:
    with pytest.raises(QuestionError):
        q.parse_number(raw)


# --- matching and ordering ----------------------------------------------------------


@given(st.data(), matching_specs())
def test_matching_scores_the_share_of_right_pairs(data: st.DataObject, raw: dict[str, Any]) -> None:
    spec = q.validate(raw)
    options = [o["id"] for o in spec["options"]]
    answer = {
        p["id"]: data.draw(st.sampled_from(options))
        for p in spec["prompts"]
        if data.draw(st.booleans())
    }
    right = sum(1 for p in spec["prompts"] if answer.get(p["id"]) == p["match"])
    result = q.grade(spec, answer)
    assert result.fraction == right / len(spec["prompts"])
    shuffled = dict(data.draw(st.permutations(list(answer.items()))))
    assert q.grade(spec, shuffled) == result


@given(st.data(), ordering_specs())
def test_ordering_scores(data: st.DataObject, raw: dict[str, Any]) -> None:
    spec = q.validate(raw)
    ids = [item["id"] for item in spec["items"]]
    given_order = data.draw(st.permutations(ids))
    in_place = sum(1 for a, b in zip(given_order, ids, strict=True) if a == b)
    result = q.grade(spec, given_order)
    if spec["scoring"] == "positions":
        assert result.fraction == in_place / len(ids)
    else:
        assert result.fraction == (1.0 if given_order == ids else 0.0)
    assert result.correct == (given_order == ids)


@given(st.integers(), st.booleans(), ordering_specs().map(q.validate))
def test_ordering_is_never_shown_solved(seed: int, shuffle: bool, spec: dict[str, Any]) -> None:
    shown = [
        item["id"] for item in q.public(spec, q.layout(spec, seed=seed, shuffle=shuffle))["items"]
    ]
    assert shown != [item["id"] for item in spec["items"]]
    assert [item["id"] for item in q.public(spec)["items"]] != [
        item["id"] for item in spec["items"]
    ]


def test_ordering_refuses_incomplete_responses() -> None:
    spec = q.validate(
        {
            "type": "ordering",
            "points": 1,
            "texts": {"en": {"text": "Order the steps"}},
            "items": [{"id": i, "texts": {"en": {"text": i}}} for i in ("x1", "y2", "z3")],
        }
    )
    for bad in (["x1", "y2"], ["x1", "y2", "y2"], ["x1", "y2", "q9"], "x1", {"x1": 1}):
        with pytest.raises(QuestionError):
            q.grade(spec, bad)
    assert q.grade(spec, ["x1", "z3", "y2"]).fraction == pytest.approx(1 / 3)


# --- what the browser sees: the answer-leak tests -----------------------------------


def walk(value: Any) -> Iterator[tuple[str | None, Any]]:
    """Every (key, value) in a JSON document, keys of lists being None."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield None, item
            yield from walk(item)


def assert_nothing_secret(spec: dict[str, Any], shown: dict[str, Any]) -> None:
    document = json.dumps(shown, ensure_ascii=False)
    assert "SECRET" not in document
    keys = {key for key, _value in walk(shown) if key is not None}
    assert not keys & SECRET_KEYS, keys & SECRET_KEYS
    assert set(shown) <= {
        "type",
        "points",
        "texts",
        "images",
        "choices",
        "prompts",
        "options",
        "items",
    }
    for texts in (value for key, value in walk(shown) if key == "texts"):
        for entry in texts.values():
            assert set(entry) == {"text"}
    for key in ("choices", "prompts", "options", "items"):
        for entry in shown.get(key, []):
            assert set(entry) == {"id", "texts"}
    assert shown["type"] == spec["type"] and shown["points"] == spec["points"]
    for value in (value for _key, value in walk(shown)):
        assert not isinstance(value, bool)  # no correct flag in any disguise


@given(st.integers(), st.booleans(), specs)
def test_public_view_holds_nothing_secret(seed: int, shuffle: bool, spec: dict[str, Any]) -> None:
    assert_nothing_secret(spec, q.public(spec, q.layout(spec, seed=seed, shuffle=shuffle)))
    assert_nothing_secret(spec, q.public(spec))


@st.composite
def with_other_secrets(draw: st.DrawFn, raw: dict[str, Any]) -> dict[str, Any]:
    """The same question as the trainee sees it, with every secret drawn again."""
    kind = raw["type"]
    languages = list(raw["texts"])
    other = json.loads(json.dumps(raw))
    for language, entry in other["texts"].items():
        entry.pop("explanation", None)
        if draw(st.booleans()):
            entry["explanation"] = draw(secret_text) + language
    for key in ("choices",):
        for choice in other.get(key, []):
            for entry in choice["texts"].values():
                entry.pop("feedback", None)
                if draw(st.booleans()):
                    entry["feedback"] = draw(secret_text)
            choice.pop("weight", None)
            choice.pop("correct", None)
    if kind == "single_choice":
        right = draw(st.integers(0, len(other["choices"]) - 1))
        for index, choice in enumerate(other["choices"]):
            choice["weight"] = 1.0 if index == right else draw(weight_st.filter(lambda w: w < 1))
    elif kind == "multiple_response":
        scoring = draw(st.sampled_from(["all_or_nothing", "partial"]))
        other["scoring"] = scoring
        if scoring == "partial":
            weights = draw(partial_weights(len(other["choices"])))
            for choice, weight in zip(other["choices"], weights, strict=True):
                choice["weight"] = weight
        else:
            flags = draw(
                st.lists(
                    st.booleans(), min_size=len(other["choices"]), max_size=len(other["choices"])
                ).filter(any)
            )
            for choice, flag in zip(other["choices"], flags, strict=True):
                choice["correct"] = flag
    elif kind == "true_false":
        other["answer"] = not raw["answer"]
        other["feedback"] = {key: draw(feedback_map(languages)) for key in ("true", "false")}
    elif kind == "numeric":
        fresh = draw(numeric_specs())
        other["answers"] = [
            {**answer, "feedback": {languages[0]: "SECRETx"}} for answer in fresh["answers"]
        ]
    elif kind == "short_answer":
        fresh = draw(short_answer_specs())
        other["answers"] = [
            {k: v for k, v in a.items() if k != "feedback"} for a in fresh["answers"]
        ]
        other["case_sensitive"] = fresh.get("case_sensitive", False)
    elif kind == "matching":
        options = [option["id"] for option in other["options"]]
        for prompt in other["prompts"]:
            prompt["match"] = draw(st.sampled_from(options))
    else:
        other["items"] = draw(st.permutations(other["items"]))
        other["scoring"] = draw(st.sampled_from(["positions", "all_or_nothing"]))
    return other


@given(st.data(), raw_specs, st.integers())
def test_public_view_does_not_depend_on_any_secret(
    data: st.DataObject, raw: dict[str, Any], seed: int
) -> None:
    """Two questions that differ only in their answers, weights and feedback look the same."""
    spec = q.validate(raw)
    other = q.validate(data.draw(with_other_secrets(raw)))
    frozen = q.layout(spec, seed=seed)
    assert q.public(spec, frozen) == q.public(other, frozen)
    if spec["type"] != "ordering":  # the unshuffled view of an ordering follows its layout
        assert q.public(spec) == q.public(other)


@given(st.data(), specs)
def test_public_refuses_a_layout_that_does_not_fit(
    data: st.DataObject, spec: dict[str, Any]
) -> None:
    frozen = q.layout(spec, seed=data.draw(st.integers()))
    assume(frozen)
    key = data.draw(st.sampled_from(sorted(frozen)))
    broken = {**frozen, key: frozen[key][:-1]}
    with pytest.raises(QuestionError):
        q.public(spec, broken)
    with pytest.raises(QuestionError):
        q.public(spec, {**frozen, key: [*frozen[key][:-1], "zzzzzz"]})


# --- validation errors --------------------------------------------------------------


def base(kind: str = "single_choice", **fields: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": kind,
        "points": 1,
        "texts": {"en": {"text": "Q"}, "ja": {"text": "問"}},
        "choices": [
            {"id": "a", "texts": {"en": {"text": "A"}, "ja": {"text": "あ"}}, "correct": True},
            {"id": "b", "texts": {"en": {"text": "B"}, "ja": {"text": "い"}}},
        ],
    }
    spec.update(fields)
    return {key: value for key, value in spec.items() if value is not None}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ("not a mapping", None),
        (base("essay"), "type"),
        ({**base(), "type": None}, "type"),
        (base(points=0), "points"),
        (base(points=-1), "points"),
        (base(points=True), "points"),
        (base(points=float("nan")), "points"),
        (base(points=1001), "points"),
        (base(texts={}), "texts"),
        (base(texts={"xx": {"text": "Q"}}), "texts.xx"),
        (base(texts={"en": {"text": "  "}}), "texts.en.text"),
        (base(texts={"en": {"body": "Q"}}), "texts.en"),
        (base(hint="no"), None),
        (base(texts={"en": {"text": "Q"}}), "choices[0].texts"),  # a choice in an extra language
        (
            base(texts={"en": {"text": "Q"}, "ja": {"text": "問"}, "th": {"text": "ถาม"}}),
            "choices[0].texts",
        ),
        (base(choices=[]), "choices"),
        (base(choices="ab"), "choices"),
        (
            base(
                choices=[
                    {
                        "id": "a",
                        "texts": {"en": {"text": "A"}, "ja": {"text": "あ"}},
                        "correct": True,
                    }
                ]
            ),
            "choices",
        ),
        (
            base(
                choices=[
                    {
                        "id": "a",
                        "texts": {"en": {"text": "A"}, "ja": {"text": "あ"}},
                        "weight": 0.5,
                    },
                    {"id": "b", "texts": {"en": {"text": "B"}, "ja": {"text": "い"}}},
                ]
            ),
            "choices",
        ),
        (
            base(
                choices=[
                    {
                        "id": "a",
                        "texts": {"en": {"text": "A"}, "ja": {"text": "あ"}},
                        "correct": True,
                    },
                    {"id": "a", "texts": {"en": {"text": "B"}, "ja": {"text": "い"}}},
                ]
            ),
            "choices[1].id",
        ),
        (
            base(
                choices=[
                    {
                        "id": "a b",
                        "texts": {"en": {"text": "A"}, "ja": {"text": "あ"}},
                        "correct": True,
                    },
                    {"id": "b", "texts": {"en": {"text": "B"}, "ja": {"text": "い"}}},
                ]
            ),
            "choices[0].id",
        ),
        (
            base(
                choices=[
                    {
                        "id": "a",
                        "texts": {"en": {"text": "A"}, "ja": {"text": "あ"}},
                        "correct": True,
                        "weight": 1,
                    },
                    {"id": "b", "texts": {"en": {"text": "B"}, "ja": {"text": "い"}}, "weight": -2},
                ]
            ),
            "choices[0]",
        ),
        (
            base(
                choices=[
                    {
                        "id": "a",
                        "texts": {"en": {"text": "A"}, "ja": {"text": "あ"}},
                        "correct": True,
                    },
                    {"id": "b", "texts": {"en": {"text": "B"}, "ja": {"text": "い"}}, "weight": -2},
                ]
            ),
            "choices[1].weight",
        ),
        (base("multiple_response", scoring="most"), "scoring"),
        (
            base(
                "multiple_response",
                scoring="partial",
                choices=[
                    {
                        "id": "a",
                        "texts": {"en": {"text": "A"}, "ja": {"text": "あ"}},
                        "weight": 0.5,
                    },
                    {
                        "id": "b",
                        "texts": {"en": {"text": "B"}, "ja": {"text": "い"}},
                        "weight": 0.4,
                    },
                ],
            ),
            "choices",
        ),
        (base("multiple_response", scoring="partial"), "choices[0]"),  # "correct" has no place
        (
            base(
                "multiple_response",
                choices=[
                    {"id": "a", "texts": {"en": {"text": "A"}, "ja": {"text": "あ"}}},
                    {"id": "b", "texts": {"en": {"text": "B"}, "ja": {"text": "い"}}},
                ],
            ),
            "choices",
        ),
        (base("true_false", choices=None), "answer"),
        (base("true_false", choices=None, answer="yes"), "answer"),
        (base("true_false", choices=None, answer=True, feedback={"maybe": {}}), "feedback"),
        (
            base("true_false", choices=None, answer=True, feedback={"true": {"th": "x"}}),
            "feedback.true.th",
        ),
        (base("numeric", choices=None, answers=[{"id": "a"}]), "answers[0]"),
        (
            base("numeric", choices=None, answers=[{"id": "a", "min": 2, "max": 1}]),
            "answers[0].max",
        ),
        (
            base("numeric", choices=None, answers=[{"id": "a", "value": 1, "tolerance": -1}]),
            "answers[0].tolerance",
        ),
        (
            base("numeric", choices=None, answers=[{"id": "a", "value": 1, "credit": 0.5}]),
            "answers",
        ),
        (
            base("numeric", choices=None, answers=[{"id": "a", "value": 1, "credit": 0}]),
            "answers[0].credit",
        ),
        (base("numeric", choices=None, answers=[{"id": "a", "value": "1"}]), "answers[0].value"),
        (base("short_answer", choices=None, answers=[{"id": "a", "text": " "}]), "answers[0].text"),
        (
            base(
                "short_answer",
                choices=None,
                answers=[{"id": "a", "text": "x"}],
                case_sensitive="no",
            ),
            "case_sensitive",
        ),
        (
            base(
                "matching",
                choices=None,
                options=[{"id": "o1", "texts": {"en": {"text": "1"}, "ja": {"text": "1"}}}] * 1
                + [{"id": "o2", "texts": {"en": {"text": "2"}, "ja": {"text": "2"}}}],
                prompts=[
                    {
                        "id": "p1",
                        "texts": {"en": {"text": "1"}, "ja": {"text": "1"}},
                        "match": "o1",
                    },
                    {
                        "id": "p2",
                        "texts": {"en": {"text": "2"}, "ja": {"text": "2"}},
                        "match": "o3",
                    },
                ],
            ),
            "prompts[1].match",
        ),
        (
            base(
                "ordering",
                choices=None,
                items=[{"id": "x", "texts": {"en": {"text": "1"}, "ja": {"text": "1"}}}],
            ),
            "items",
        ),
        (base(images=["", "a.png"]), "images[0]"),
    ],
)
def test_validation_names_the_field(spec: Any, field: str | None) -> None:
    with pytest.raises(QuestionError) as caught:
        q.validate(spec)
    assert caught.value.field == field
    message = str(caught.value)
    assert message and (field is None or message.startswith(f"{field}: "))


def test_messages_are_translated_lazily() -> None:
    from flask import Flask
    from flask_babel import Babel

    from lms.i18n import TRANSLATIONS_DIR

    app = Flask(__name__)
    Babel(app, locale_selector=lambda: "ja", default_translation_directories=str(TRANSLATIONS_DIR))
    try:
        q.validate(base(points=0))
    except QuestionError as error:
        caught = error
    with app.test_request_context():
        assert str(caught)  # rendered in the request's language when it is shown
    assert "%(" not in str(caught)


def test_single_choice_shorthand_and_feedback() -> None:
    spec = q.validate(
        base(
            choices=[
                {
                    "id": "a",
                    "texts": {"en": {"text": "A", "feedback": "Yes"}, "ja": {"text": "あ"}},
                    "correct": True,
                },
                {
                    "id": "b",
                    "texts": {"en": {"text": "B"}, "ja": {"text": "い", "feedback": ""}},
                    "weight": 0.25,
                },
                {"id": "c", "texts": {"en": {"text": "C"}, "ja": {"text": "う"}}, "correct": False},
            ]
        )
    )
    assert [c["weight"] for c in spec["choices"]] == [1.0, 0.25, 0.0]
    assert spec["choices"][1]["texts"]["ja"] == {"text": "い"}  # empty feedback is dropped
    assert q.grade(spec, "a").feedback == ("a",)
    assert q.grade(spec, "b").score == 0.25 and q.grade(spec, "b").feedback == ()
    assert q.grade(spec, "c").score == 0.0


@pytest.mark.parametrize(
    ("kind", "fields", "bad"),
    [
        ("single_choice", {}, ["z"]),
        ("single_choice", {}, "z"),
        ("single_choice", {}, 1),
        ("multiple_response", {}, ["a", "z"]),
        ("multiple_response", {}, {"a": True}),
        ("true_false", {"choices": None, "answer": True}, "yes"),
        ("true_false", {"choices": None, "answer": True}, 1),
        ("numeric", {"choices": None, "answers": [{"id": "a", "value": 1}]}, "one"),
        ("short_answer", {"choices": None, "answers": [{"id": "a", "text": "x"}]}, 5),
        ("short_answer", {"choices": None, "answers": [{"id": "a", "text": "x"}]}, "x" * 1001),
        (
            "matching",
            {
                "choices": None,
                "options": [
                    {"id": o, "texts": {"en": {"text": o}, "ja": {"text": o}}} for o in ("o1", "o2")
                ],
                "prompts": [
                    {"id": p, "texts": {"en": {"text": p}, "ja": {"text": p}}, "match": "o1"}
                    for p in ("p1", "p2")
                ],
            },
            {"p9": "o1"},
        ),
        (
            "matching",
            {
                "choices": None,
                "options": [
                    {"id": o, "texts": {"en": {"text": o}, "ja": {"text": o}}} for o in ("o1", "o2")
                ],
                "prompts": [
                    {"id": p, "texts": {"en": {"text": p}, "ja": {"text": p}}, "match": "o1"}
                    for p in ("p1", "p2")
                ],
            },
            {"p1": "o9"},
        ),
    ],
)
def test_malformed_responses_are_refused(kind: str, fields: dict[str, Any], bad: Any) -> None:
    spec = q.validate(base(kind, **fields))
    with pytest.raises(QuestionError) as caught:
        q.normalise_response(spec, bad)
    assert caught.value.field == "response"
    with pytest.raises(QuestionError):
        q.grade(spec, bad)


def test_random_layouts_differ_between_attempts() -> None:
    spec = q.validate(
        base(
            choices=[
                {
                    "id": f"c{i}",
                    "texts": {"en": {"text": str(i)}, "ja": {"text": str(i)}},
                    "weight": float(i == 0),
                }
                for i in range(6)
            ]
        )
    )
    orders = {tuple(q.layout(spec, seed=seed)["choices"]) for seed in range(20)}
    assert len(orders) > 1
    assert q.layout(spec, shuffle=False)["choices"] == [f"c{i}" for i in range(6)]
    rng_order = q.QUESTION_TYPES["single_choice"].layout(spec, random.Random(5), True)
    assert rng_order == q.layout(spec, seed=5)
