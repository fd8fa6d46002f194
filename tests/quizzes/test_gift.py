"""Moodle's GIFT format: every documented construct, errors with line numbers, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lms.quizzes.gift import (
    BLANK,
    GiftAnswer,
    GiftError,
    GiftFileError,
    GiftNumericAnswer,
    GiftPair,
    GiftQuestion,
    from_spec,
    parse_gift,
    to_spec,
    write_gift,
)

DATA = Path(__file__).parent / "data"


def one(text: str) -> GiftQuestion:
    questions = parse_gift(text)
    assert len(questions) == 1
    return questions[0]


def errors_of(text: str) -> list[tuple[int, str]]:
    with pytest.raises(GiftFileError) as caught:
        parse_gift(text)
    return [(e.line, str(e.message)) for e in caught.value.errors]


def round_trips(questions: list[GiftQuestion]) -> None:
    written = write_gift(questions)
    assert parse_gift(written) == questions, written


# --- constructs --------------------------------------------------------------------------


def test_single_choice_with_feedback_weights_and_general_feedback():
    q = one(
        "::Days::Burnable waste is collected {\n"
        "  =twice a week#Right.\n"
        "  ~once a month#Too seldom.\n"
        "  ~%-50%never\n"
        "  ####See the ward calendar.\n"
        "}"
    )
    assert q.type == "single"
    assert q.title == "Days"
    assert q.text == "Burnable waste is collected"
    assert q.text_after is None
    assert q.general_feedback == "See the ward calendar."
    assert q.answers == [
        GiftAnswer("twice a week", 1.0, "Right."),
        GiftAnswer("once a month", 0.0, "Too seldom."),
        GiftAnswer("never", -0.5, ""),
    ]
    assert q.line == 1


def test_multiple_response_has_only_tilde_answers_with_weights():
    q = one("Burnable? {~%50%scraps ~%50%paper cups ~%-100%spray cans#Hazardous.}")
    assert q.type == "multiple"
    assert [a.fraction for a in q.answers] == [0.5, 0.5, -1.0]
    assert q.answers[2].feedback == "Hazardous."


def test_fractional_weights_like_moodle_exports():
    q = one("Pick {~%33.33333%a ~%33.33333%b ~%33.33334%c ~%-100%d}")
    assert q.type == "multiple"
    assert q.answers[0].fraction == pytest.approx(0.3333333)


@pytest.mark.parametrize(
    ("body", "truth", "wrong", "right"),
    [
        ("{T}", True, "", ""),
        ("{TRUE}", True, "", ""),
        ("{F}", False, "", ""),
        ("{FALSE}", False, "", ""),
        ("{T#Not so.#Yes.}", True, "Not so.", "Yes."),
        ("{F#Only wrong}", False, "Only wrong", ""),
        ("{FALSE##Only right}", False, "", "Only right"),
    ],
)
def test_true_false(body, truth, wrong, right):
    q = one(f"Trucks run on Sundays.{body}")
    assert (q.type, q.truth, q.feedback_wrong, q.feedback_right) == (
        "truefalse",
        truth,
        wrong,
        right,
    )


def test_true_false_with_general_feedback():
    q = one("Bottles are burnable.{FALSE#Wrong.####They are resources.}")
    assert (q.truth, q.feedback_wrong, q.general_feedback) == (
        False,
        "Wrong.",
        "They are resources.",
    )


def test_numeric_exact_tolerance_and_range():
    assert one("Plants? {#21}").numeric == [GiftNumericAnswer(value=21.0)]
    assert one("Temp? {#850:50}").numeric == [GiftNumericAnswer(value=850.0, tolerance=50.0)]
    rng = one("pH? {#5.8..8.6}").numeric[0]
    assert (rng.minimum, rng.maximum, rng.value, rng.is_range) == (5.8, 8.6, None, True)
    assert one("Below zero? {#-5..-1}").numeric[0].maximum == -1.0
    assert one("Small {#1e-3:5E-4}").numeric == [GiftNumericAnswer(value=0.001, tolerance=0.0005)]


def test_numeric_several_answers_partial_credit_and_wrong_feedback():
    q = one("Pi? {# =%100%3.14:0 =%50%3.1:0.1#Close. ~#Not really.####Pi is 3.14159…}")
    assert q.type == "numeric"
    assert q.numeric == [
        GiftNumericAnswer(fraction=1.0, value=3.14, tolerance=0.0),
        GiftNumericAnswer(fraction=0.5, feedback="Close.", value=3.1, tolerance=0.1),
    ]
    assert q.feedback_wrong == "Not really."
    assert q.general_feedback == "Pi is 3.14159…"


def test_short_answer():
    q = one("Gas not removed? {=carbon dioxide =%50%CO2#Use words.}")
    assert q.type == "short"
    assert q.answers == [
        GiftAnswer("carbon dioxide", 1.0, ""),
        GiftAnswer("CO2", 0.5, "Use words."),
    ]


def test_short_answer_may_mention_an_arrow_after_the_first_answer():
    q = one("Arrow? {=right#Yes ->}")
    assert q.type == "short" and q.answers[0].feedback == "Yes ->"


def test_matching_with_an_extra_right_hand_answer():
    q = one("Match. {=Burnable -> incineration =Bulky -> shredding = -> composting ####Done.}")
    assert q.type == "matching"
    assert q.pairs == [
        GiftPair("Burnable", "incineration"),
        GiftPair("Bulky", "shredding"),
        GiftPair("", "composting"),
    ]
    assert q.general_feedback == "Done."


def test_missing_word_keeps_the_text_on_both_sides():
    q = one("The ash goes to the {=landfill ~river ~sea} in Tokyo Bay.")
    assert q.type == "single"
    assert (q.text, q.text_after) == ("The ash goes to the", "in Tokyo Bay.")
    assert to_spec(q)["texts"]["en"]["text"] == f"The ash goes to the {BLANK} in Tokyo Bay."
    assert to_spec(q)["blank"] == {"before": "The ash goes to the", "after": "in Tokyo Bay."}


def test_missing_word_at_the_start():
    q = one("{=Tokyo ~Osaka} has 23 wards.")
    assert (q.text, q.text_after) == ("", "has 23 wards.")
    round_trips([q])


def test_essay_and_description():
    essay = one("::Reflect::Describe one change. {####Model: separation at source.}")
    assert (essay.type, essay.general_feedback) == ("essay", "Model: separation at source.")
    assert one("Write freely {}").type == "essay"
    description = one("::Intro::The next questions are about plants.")
    assert (description.type, description.title) == ("description", "Intro")
    assert description.text == "The next questions are about plants."


@pytest.mark.parametrize("fmt", ["html", "moodle", "markdown", "plain"])
def test_text_formats(fmt):
    q = one(f"::T::[{fmt}]Some *text*. {{=a ~b}}")
    assert (q.text_format, q.text) == (fmt, "Some *text*.")
    round_trips([q])


def test_default_format_and_unknown_tag_kept_as_text():
    assert one("Plain {T}").text_format == "moodle"
    assert one("[foo]bar {T}").text == "[foo]bar"


def test_format_tag_before_an_answer_is_dropped():
    q = one("[html]Q {=[html]<b>a</b>#[html]<i>yes</i> ~b}")
    assert q.answers[0] == GiftAnswer("<b>a</b>", 1.0, "<i>yes</i>")


def test_escaped_characters():
    q = one(
        r"::A\:B::Is 1 \= 1 \{really\}\: yes \~ no \# \\ end\nnext {=the \= sign\#1#Right\: \~ ~x}"
    )
    assert q.title == "A:B"
    assert q.text == "Is 1 = 1 {really}: yes ~ no # \\ end\nnext"
    assert q.answers[0] == GiftAnswer("the = sign#1", 1.0, "Right: ~")


def test_an_unknown_escape_keeps_its_backslash():
    assert one(r"C:\temp and \d {T}").text == r"C:\temp and \d"


def test_comments_and_multi_line_questions():
    questions = parse_gift(
        "// first comment\n"
        "\n"
        "::Q1::A question\n"
        "  // a comment inside the question\n"
        "spread over lines {\n"
        "=yes\n"
        "~no}\n"
        "\n\n\n"
        "// trailing comment\n"
    )
    assert len(questions) == 1
    assert questions[0].text == "A question\nspread over lines"
    assert questions[0].line == 3


def test_categories_apply_to_the_questions_that_follow():
    questions = parse_gift(
        "Before any category {T}\n\n"
        "$CATEGORY: $course$/top/Collection\n\n"
        "Q1 {T}\n\nQ2 {F}\n\n"
        "$CATEGORY: $course$/top/Plants/Incinerators\n"
        "Q3 on the next line {T}\n"
    )
    assert [q.category for q in questions] == [
        None,
        "$course$/top/Collection",
        "$course$/top/Collection",
        "$course$/top/Plants/Incinerators",
    ]
    assert questions[3].line == 10


def test_windows_line_endings_and_bom():
    questions = parse_gift("\ufeff::A::One {T}\r\n\r\n::B::Two {F}\r\n")
    assert [(q.title, q.line) for q in questions] == [("A", 1), ("B", 3)]


def test_empty_file():
    assert parse_gift("") == []
    assert parse_gift("// only comments\n\n") == []
    assert write_gift([]) == ""


# --- sample files ------------------------------------------------------------------------


def test_sample_file_with_every_construct():
    questions = parse_gift((DATA / "constructs.gift").read_text(encoding="utf-8"))
    types = [q.type for q in questions]
    assert types == [
        "single",
        "multiple",
        "truefalse",
        "truefalse",
        "truefalse",
        "numeric",
        "numeric",
        "numeric",
        "numeric",
        "short",
        "matching",
        "single",
        "essay",
        "description",
        "single",
        "single",
    ]
    by_title = {q.title: q for q in questions}
    assert by_title["Collection days"].category == "$course$/top/Collection"
    assert by_title["Incinerators"].category == "$course$/top/Plants"
    assert by_title["Escapes"].text == "Which sign means {equal} in 1 = 1: yes or no?"
    assert by_title["Escapes"].answers[0] == GiftAnswer(
        "the = sign#1", 1.0, "Right: it is ~ equal."
    )
    assert by_title["Escapes"].answers[1].text == "a backslash \\"
    assert by_title["Line breaks"].text == "First line\nsecond line"
    assert by_title["Reflection"].text_format == "markdown"
    assert questions[11].text_after == "in Tokyo Bay."


def test_japanese_sample():
    questions = parse_gift((DATA / "japanese.gift").read_text(encoding="utf-8"))
    assert [q.title for q in questions] == [
        "焼却温度",
        "分別",
        "清掃工場の数",
        "組合せ",
        None,
        "全角",
    ]
    assert all(q.category == "$course$/top/清掃工場" for q in questions)
    temp = questions[0]
    assert (temp.numeric[0].minimum, temp.numeric[0].maximum) == (800.0, 1000.0)
    assert temp.general_feedback == "ダイオキシン類の発生を抑えるためです。"
    assert questions[1].answers[1].feedback == "危険です。別に出してください。"
    assert (questions[2].text, questions[2].text_after) == (
        "清掃一部事務組合が運営する清掃工場は",
        "か所あります。",
    )
    assert questions[3].pairs[1] == GiftPair("燃やさないごみ", "破砕・選別")
    assert (questions[4].truth, questions[4].feedback_right) == (True, "そのとおりです。")
    assert questions[5].text == "全角の答え：「ごみ」をひらがなで。"


@pytest.mark.parametrize("name", ["constructs.gift", "japanese.gift"])
def test_sample_files_round_trip(name):
    questions = parse_gift((DATA / name).read_text(encoding="utf-8"))
    written = write_gift(questions)
    again = parse_gift(written)
    assert again == questions
    assert write_gift(again) == written  # writing is stable


def test_bad_sample_reports_every_problem_and_imports_nothing():
    with pytest.raises(GiftFileError) as caught:
        parse_gift((DATA / "bad.gift").read_text(encoding="utf-8"))
    assert [e.line for e in caught.value.errors] == [4, 9, 13]


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("Good {T}\n\nQuestion {\n=a\n~b\n", 3, "not closed"),
        ("Good {T}\n\n\nQuestion {=a ~b\n\nNext {T}", 4, "not closed"),
        ("Q {\n=a\n~%abc%b\n}", 3, "not a number"),
        ("Q {\n=a\n~%150%b\n}", 3, "outside"),
        ("Q {\n=a\n~%-101%b\n}", 3, "outside"),
        ("Q {=a ~%50 b}", 1, "not closed"),
        ("Q {\n=cat\n=%-50%dog\n}", 3, "outside"),
        ("Match {\n=a -> b\n}", 2, "at least two pairs"),
        ("Match {\n=a -> b\n=c -> d\n=e f\n}", 4, "->"),
        ("Match {\n=a -> b\n=c ->\n}", 3, "nothing after"),
        ("\nPi {#3.14:abc}", 2, "tolerance"),
        ("Pi {#3.14:-1}", 1, "tolerance"),
        ("Pi {#three}", 1, "not a number"),
        ("Pi {#5..1}", 1, "backwards"),
        ("Pi {#1..x}", 1, "not a number"),
        ("Pi {#}", 1, "no answer"),
        ("Pi {#=%50%3}", 1, "100%"),
        ("Pi {#3 ~oops}", 1, "#feedback"),
        ("A stray } here", 1, "closes no"),
        ("Q\nline two }\n{=a ~b}", 2, "closes no"),
        ("Q {=a ~b} and } after", 1, "only one set"),
        ("Q {=a ~b} and {=c ~d}", 1, "only one set"),
        ("Q {=a\n{ ~b}", 2, "inside"),
        ("::Title without end Q {T}", 1, "title"),
        ("Q {~a ~b}", 1, "add up to 100%"),
        ("Q {=%50%a ~b}", 1, "100%"),
        ("Q {~only}", 1, "at least two"),
        ("Q {=a ~}", 1, "empty"),
        ("Q {words only}", 1, "not understood"),
        ("Q {T#a#b#c}", 1, "at most two"),
        ("::T::{=a ~b}", 1, "no text"),
        ("$CATEGORY:\n\nQ {T}", 1, "category"),
        ("Q {x =a ~b}", 1, "before the first answer"),
    ],
)
def test_malformed_questions_report_the_line(text, line, words):
    found = errors_of(text)
    assert len(found) == 1, found
    assert found[0][0] == line
    assert words in found[0][1]


def test_all_errors_are_collected_and_nothing_is_returned():
    text = "Q1 {=a ~%x%b}\n\nGood {T}\n\n\nQ3 {=a\n~%200%b\n~%y%c}\n\nQ4 }"
    found = errors_of(text)
    assert [line for line, _ in found] == [1, 7, 8, 10]


def test_error_messages_name_the_line_and_are_lazy():
    with pytest.raises(GiftFileError) as caught:
        parse_gift("\n\nQ {=a ~%x%b}")
    error = caught.value.errors[0]
    assert isinstance(error, GiftError)
    assert str(error) == f"Line 3: {error.message}"
    assert "Line 3:" in str(caught.value)
    assert type(error.message).__name__ == "LazyString"


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_error_messages_render_inside_a_request(locale):
    from flask import Flask
    from flask_babel import Babel, force_locale

    app = Flask(__name__)
    Babel(app)
    with app.test_request_context(), force_locale(locale):
        with pytest.raises(GiftFileError) as caught:
            parse_gift("Q {=a ~%150%b}\n\nQ {~%40%a ~b}\n\nQ {=a ~%1 b}")
        rendered = [str(e) for e in caught.value.errors]
    assert len(rendered) == 3
    assert "150%" in rendered[0] and "%%" not in "".join(rendered)


# --- writing -----------------------------------------------------------------------------


def test_write_escapes_and_marks_ambiguous_starts():
    q = GiftQuestion(
        type="single",
        text="// not a comment: {x} = ~y # \\z",
        title="a::b",
        answers=[
            GiftAnswer("%5 off", 1.0, "[html] is literal"),
            GiftAnswer("%7", 0.0),
            GiftAnswer("[plain]tag-like", -0.25),
        ],
    )
    written = write_gift([q])
    assert r"::a\:\:b::[moodle]// not a comment\: \{x\} \= \~y \# \\z" in written
    round_trips([q])


def test_write_single_choice_whose_answers_are_all_right():
    q = GiftQuestion(
        type="single", text="Both", answers=[GiftAnswer("a", 1.0), GiftAnswer("b", 1.0)]
    )
    round_trips([q])


def test_write_categories_only_where_they_change():
    qs = [
        GiftQuestion(type="truefalse", text=f"Q{n}", truth=True, category=cat)
        for n, cat in enumerate(["$course$/top/A", "$course$/top/A", "$course$/top/B"])
    ]
    written = write_gift(qs)
    assert written.count("$CATEGORY:") == 2
    round_trips(qs)
    with pytest.raises(ValueError, match="without a category"):
        write_gift([qs[0], GiftQuestion(type="essay", text="x")])


def test_write_refuses_what_gift_cannot_say():
    with pytest.raises(ValueError, match="->"):
        write_gift([GiftQuestion(type="matching", text="M", pairs=[GiftPair("a->b", "c")] * 2)])
    with pytest.raises(ValueError, match="->"):
        write_gift([GiftQuestion(type="short", text="S", answers=[GiftAnswer("a->b", 1.0)])])


def test_numbers_are_written_plainly():
    q = one("N {#= 23 =%50%1e-05:2.5 =%25%-3..4.5}")
    written = write_gift([q])
    assert "=23\n" in written and "=%50%1e-05:2.5" in written and "=%25%-3..4.5" in written
    round_trips([q])


# --- to_spec ------------------------------------------------------------------------------


def test_to_spec_single():
    q = one("::T::Q {=a#yes ~%-50%b####why}")
    q.category = "$course$/top/X"
    assert to_spec(q) == {
        "type": "single",
        "points": 1.0,
        "title": "T",
        "category": "$course$/top/X",
        "text_format": "moodle",
        "texts": {"en": {"text": "Q", "explanation": "why"}},
        "choices": [
            {"id": "c1", "texts": {"en": {"text": "a", "feedback": "yes"}}, "weight": 1.0},
            {"id": "c2", "texts": {"en": {"text": "b", "feedback": ""}}, "weight": -0.5},
        ],
    }


def test_to_spec_other_types():
    tf = to_spec(one("Q {F#wrong#right}"), lang="ja")
    assert tf["correct"] is False
    assert tf["choices"] == [
        {"id": "true", "texts": {"ja": {"text": "True", "feedback": "wrong"}}, "weight": 0.0},
        {"id": "false", "texts": {"ja": {"text": "False", "feedback": "right"}}, "weight": 1.0},
    ]
    numeric = to_spec(one("Q {# =3:0.5#ok =%50%1..2 ~#no}"))
    assert numeric["answers"] == [
        {"value": 3.0, "tolerance": 0.5, "fraction": 1.0, "feedback": "ok"},
        {"min": 1.0, "max": 2.0, "fraction": 0.5, "feedback": ""},
    ]
    assert numeric["texts"]["en"]["feedback_wrong"] == "no"
    short = to_spec(one("Q {=cat =%50%kitten}"))
    assert short["answers"] == [
        {"text": "cat", "fraction": 1.0, "feedback": ""},
        {"text": "kitten", "fraction": 0.5, "feedback": ""},
    ]
    matching = to_spec(one("Q {=a -> b =c -> d}"))
    assert matching["pairs"] == [{"left": "a", "right": "b"}, {"left": "c", "right": "d"}]
    assert to_spec(one("Intro"))["points"] == 0.0
    assert "choices" not in to_spec(one("Q {}"))


def test_from_spec_inverts_to_spec_for_every_sample():
    for name in ("constructs.gift", "japanese.gift"):
        for q in parse_gift((DATA / name).read_text(encoding="utf-8")):
            assert from_spec(to_spec(q, lang="ja"), lang="ja") == q


# --- property: parse(write(q)) == q -----------------------------------------------------

# Any character but a lone surrogate and "\r" (written as a line break, read back as "\n").
_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r")
_special = st.sampled_from(list("~=#{}:\\\n%[]->/ 　") + ["->", "//", "::", "####", "[html]"])
_raw = st.lists(st.one_of(_chars, _special), max_size=12).map("".join)
texts = _raw.map(str.strip).filter(bool)
maybe_texts = _raw.map(str.strip)
fractions = st.sampled_from([0.0, 0.1, 0.25, 0.5, 1 / 3, 2 / 3, 0.9, -0.1, -0.5, -1 / 3, -1.0])
positive_fractions = st.sampled_from([0.0, 0.05, 0.2, 0.5, 0.8333333, 1 / 7])
numbers = st.floats(allow_nan=False, allow_infinity=False)
tolerances = st.floats(min_value=0, allow_nan=False, allow_infinity=False)


@st.composite
def questions(draw) -> GiftQuestion:
    kind = draw(
        st.sampled_from(
            [
                "single",
                "multiple",
                "truefalse",
                "numeric",
                "short",
                "matching",
                "essay",
                "description",
            ]
        )
    )
    q = GiftQuestion(
        type=kind,
        text=draw(texts),
        title=draw(st.none() | texts),
        category=draw(st.none() | texts.filter(lambda t: "\n" not in t)),
        text_format=draw(st.sampled_from(["moodle", "html", "markdown", "plain"])),
    )
    if kind != "description":
        q.text_after = draw(st.none() | texts)
        q.general_feedback = draw(maybe_texts)
    if kind == "single":
        right = [GiftAnswer(draw(texts), 1.0, draw(maybe_texts))]
        others = draw(st.lists(st.builds(GiftAnswer, texts, fractions, maybe_texts), max_size=4))
        q.answers = draw(st.permutations(right + others)) if others else right * 2
    elif kind == "multiple":
        count = draw(st.integers(1, 4))
        good = [GiftAnswer(draw(texts), 1 / count, draw(maybe_texts)) for _ in range(count)]
        bad = draw(
            st.lists(
                st.builds(GiftAnswer, texts, st.sampled_from([0.0, -0.5, -1.0]), maybe_texts),
                min_size=1 if count == 1 else 0,
                max_size=3,
            )
        )
        q.answers = draw(st.permutations(good + bad))
    elif kind == "truefalse":
        q.truth = draw(st.booleans())
        q.feedback_right, q.feedback_wrong = draw(maybe_texts), draw(maybe_texts)
    elif kind == "short":
        first = GiftAnswer(draw(texts.filter(lambda t: "->" not in t)), 1.0, draw(maybe_texts))
        rest = draw(st.lists(st.builds(GiftAnswer, texts, positive_fractions, maybe_texts)))
        q.answers = [first, *rest]
    elif kind == "numeric":
        exact = st.builds(
            lambda v, t, f, fb: GiftNumericAnswer(f, fb, value=v, tolerance=t),
            numbers,
            tolerances,
            positive_fractions,
            maybe_texts,
        )
        ranged = st.builds(
            lambda a, b, f, fb: GiftNumericAnswer(f, fb, minimum=min(a, b), maximum=max(a, b)),
            numbers,
            numbers,
            positive_fractions,
            maybe_texts,
        )
        answers = draw(st.lists(exact | ranged, min_size=1, max_size=3))
        answers[draw(st.integers(0, len(answers) - 1))].fraction = 1.0
        q.numeric = answers
        q.feedback_wrong = draw(maybe_texts)
    elif kind == "matching":
        lefts = texts.filter(lambda t: "->" not in t)
        q.pairs = draw(st.lists(st.builds(GiftPair, lefts, texts), min_size=2, max_size=4))
        q.pairs += draw(st.lists(st.builds(GiftPair, st.just(""), texts), max_size=2))
    return q


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(questions())
def test_property_parse_of_write_is_identity(q):
    assert parse_gift(write_gift([q])) == [q]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(questions(), min_size=1, max_size=5))
def test_property_files_of_several_questions(qs):
    category = None
    for q in qs:  # once a file names a category, it stays until the next one
        if q.category is None:
            q.category = category
        category = q.category
    parsed = parse_gift(write_gift(qs))
    assert parsed == qs
    assert [from_spec(to_spec(q)) for q in parsed] == qs


def test_a_huge_question_is_refused_before_it_is_parsed(monkeypatch) -> None:
    from lms.quizzes import gift
    from lms.quizzes.questions import MAX_CHOICES

    choices = "".join(f"~wrong answer {i}\n" for i in range(60_000))
    text = "// one question of 1 MB\n\n::Q:: Pick one {\n=right\n" + choices + "}\n"
    assert len(text) > 1_000_000

    def no_parse(*_args, **_kwargs):
        raise AssertionError("the huge question was parsed character by character")

    monkeypatch.setattr(gift._Src, "from_lines", no_parse)
    with pytest.raises(GiftFileError) as refused:
        parse_gift(text)
    [error] = refused.value.errors
    assert error.line == 3 and f"at most {MAX_CHOICES} answers" in str(error.message)
    monkeypatch.undo()

    # At the limit (escaped marks not counted), the question is parsed as before.
    escaped = "Is 1 \\= 2 \\~ 3? {\n=right\n" + "".join(
        f"~wrong \\= {i}\n" for i in range(MAX_CHOICES - 1)
    )
    question = one(escaped + "}\n")
    assert len(question.answers) == MAX_CHOICES
