"""GIFT files (Moodle's documented formats) ⇄ the question bank, with meaning intact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from lms.db import new_session
from lms.quizzes import bank, questions
from lms.quizzes.models import Question
from tests.quizzes.authoring_helpers import make_world

DATA = Path(__file__).parent / "data"


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


@pytest.fixture
def ctx(app: Flask):
    with app.test_request_context():
        yield


def meaning(spec: dict[str, Any]) -> dict[str, Any]:
    """A spec with its generated ids replaced by positions: what a trainee experiences."""
    spec = questions.validate(spec)
    ids: dict[str, str] = {}
    for key in ("choices", "answers", "prompts", "options", "items"):
        for index, entry in enumerate(spec.get(key, [])):
            ids[entry["id"]] = f"{key}{index}"
            entry["id"] = f"{key}{index}"
    for prompt in spec.get("prompts", []):
        prompt["match"] = ids[prompt["match"]]
    return spec


def by_title(entries: list[bank.BankEntry]) -> dict[str, bank.BankEntry]:
    return {entry.title or entry.spec["texts"]["en"]["text"][:30]: entry for entry in entries}


def test_moodle_formats_map_to_the_right_specs(ctx) -> None:
    entries = by_title(bank.gift_to_entries(read("moodle_formats.gift")))

    ward = entries["Ward collection"]
    assert ward.category == "$course$/top/GIFT formats"
    assert ward.spec["type"] == "single_choice"
    assert [c["weight"] for c in ward.spec["choices"]] == [1.0, 0.0, 0.0]
    assert (
        ward.spec["choices"][0]["texts"]["en"]["feedback"] == "Right: collection is the ward's job."
    )
    # Opaque, distinct choice ids: nothing in them tells the answer.
    ids = [c["id"] for c in ward.spec["choices"]]
    assert len(set(ids)) == 3 and not any("right" in i or i == "1" for i in ids)

    blank = entries["Tokyo's incineration plants ar"]
    assert blank.spec["texts"]["en"]["text"] == (
        "Tokyo's incineration plants are run by the _____ on behalf of the wards."
    )
    assert [c["weight"] for c in blank.spec["choices"]] == [0.0, 1.0, 0.0]

    landfill = entries["Landfill"].spec
    assert landfill["type"] == "true_false" and landfill["answer"] is True
    # "#if wrong#if right": a trainee answering false is wrong.
    assert landfill["feedback"] == {
        "false": {"en": "It is in the bay, off Koto ward."},
        "true": {"en": "Right."},
    }
    assert entries["Plastic bottles go out with bu"].spec["answer"] is False

    gas = entries["Gas"].spec
    assert gas["type"] == "short_answer" and gas["case_sensitive"] is False
    assert [(a["text"], a["credit"]) for a in gas["answers"]] == [
        ("carbon dioxide", 1.0),
        ("CO2", 1.0),
        ("carbon", 0.5),
    ]
    assert questions.grade(gas, "ｃｏ２").correct  # full-width and lower case match

    treatments = entries["Treatments"].spec
    assert treatments["type"] == "matching"
    options = {o["id"]: o["texts"]["en"]["text"] for o in treatments["options"]}
    assert {p["texts"]["en"]["text"]: options[p["match"]] for p in treatments["prompts"]} == {
        "Burnable waste": "incineration",
        "Non-burnable waste": "crushing and sorting",
        "Bulky waste": "shredding",
        "Resources": "recycling",
    }

    plants = entries["Plants"].spec
    assert plants["answers"][0] | {"id": "x"} == {
        "id": "x",
        "credit": 1.0,
        "value": 19.0,
        "tolerance": 2.0,
    }
    assert questions.grade(plants, "21").correct and not questions.grade(plants, "22").correct
    temperature = entries["Temperature"].spec
    assert (temperature["answers"][0]["min"], temperature["answers"][0]["max"]) == (800.0, 1200.0)
    energy = entries["Energy"].spec
    assert [(a["value"], a["tolerance"], a["credit"]) for a in energy["answers"]] == [
        (80.0, 5.0, 1.0),
        (80.0, 15.0, 0.5),
    ]
    assert questions.grade(energy, "70").score == 0.5

    hazardous = entries["Hazardous"].spec
    assert hazardous["type"] == "multiple_response" and hazardous["scoring"] == "partial"
    assert [c["weight"] for c in hazardous["choices"]] == [0.5, 0.5, -1.0, -1.0]

    separation = entries["Separation"].spec
    assert [c["weight"] for c in separation["choices"]] == [1.0, 0.5, 0.0]
    assert separation["texts"]["en"]["explanation"] == (
        "Each ward publishes its own calendar every year."
    )

    escapes = entries["Escapes"]
    assert escapes.category == "$course$/top/GIFT formats/Special characters"
    assert escapes.spec["texts"]["en"]["text"] == 'Which sign stands for "equals" in 1 = 1?'
    assert [c["texts"]["en"]["text"] for c in escapes.spec["choices"]] == ["=", "~", "#"]
    assert escapes.spec["choices"][0]["texts"]["en"]["feedback"] == "Right: the equals sign."
    braces = entries["Braces: a title"].spec
    assert braces["texts"]["en"]["text"] == (
        "In the text {braces} and a colon: are literal.\nSecond line."
    )
    assert entries["Formats"].spec["texts"]["en"]["text"] == (
        "Which is the <b>first</b> step of treatment?"
    )


def test_moodle_numeric_examples(ctx) -> None:
    entries = by_title(bank.gift_to_entries(read("moodle_numeric.gift")))
    assert questions.grade(entries["Q1"].spec, "3.1418").correct
    assert not questions.grade(entries["Q1"].spec, "3.1421").correct
    assert questions.grade(entries["Q2"].spec, "5").correct
    assert questions.grade(entries["Q3"].spec, "1823").score == 0.5
    assert entries["Q3"].spec["answers"][1]["feedback"] == {
        "en": "He was born in 1822. You get half credit for being close."
    }
    assert entries["Q4"].spec["answers"][0]["value"] == -150.0


@pytest.mark.parametrize("name", ["moodle_formats.gift", "moodle_numeric.gift", "japanese.gift"])
def test_round_trip_through_the_bank_keeps_the_meaning(app: Flask, make_user, name: str) -> None:
    world = make_world(app, make_user)
    with app.test_request_context(), new_session(app) as session:
        language = "ja" if name.startswith("japanese") else "en"
        imported = bank.gift_to_entries(read(name), language=language)
        bank.import_entries(session, world.course_id, imported, replace=False)
        session.commit()
        exported = bank.export_entries(session, world.course_id)
        text = bank.entries_to_gift(exported, language=language)
        again = bank.gift_to_entries(text, language=language)

    def key(entry: bank.BankEntry):
        return (entry.category or "", entry.title, entry.spec["texts"][language]["text"])

    before = sorted(imported, key=key)
    after = sorted(again, key=key)
    assert len(before) == len(after)
    for first, second in zip(before, after, strict=True):
        assert (first.title, first.category) == (second.title, second.category)
        assert meaning(first.spec) == meaning(second.spec)
    # The export carries each question's uid: importing it again updates, never copies.
    assert {e.uid for e in again} == {e.uid for e in exported}


def test_reimporting_an_export_updates_the_same_questions(app: Flask, make_user) -> None:
    world = make_world(app, make_user)
    with app.test_request_context(), new_session(app) as session:
        spec = bank.gift_to_entries("::P::Two points? {T}")[0].spec | {"points": 2.5}
        saved = bank.save_question(
            session, world.course_id, uid=None, title="P", category=None, spec=spec
        )
        session.commit()
        text = bank.entries_to_gift(bank.export_entries(session, world.course_id))
        assert f"uid={saved.uid}" in text and "points=2.5" in text
        edited = text.replace("Two points?", "Still two points?")
        bank.import_entries(session, world.course_id, bank.gift_to_entries(edited), replace=False)
        session.commit()
        rows = session.query(Question).filter_by(course_id=world.course_id).all()
        assert len(rows) == 1
        assert rows[0].spec["texts"]["en"]["text"] == "Still two points?"
        assert rows[0].spec["points"] == 2.5


def test_ordering_questions_are_listed_as_not_exported(ctx) -> None:
    ordering = {
        "type": "ordering",
        "points": 1,
        "texts": {"en": {"text": "Order the steps."}},
        "items": [
            {"id": "a1", "texts": {"en": {"text": "collect"}}},
            {"id": "a2", "texts": {"en": {"text": "burn"}}},
        ],
    }
    text = bank.entries_to_gift([bank.BankEntry("q-order", "Steps", None, ordering)])
    assert text.startswith("// Not exported, GIFT has no such question: q-order")
    with pytest.raises(bank.BankImportError):  # nothing else in the file
        bank.gift_to_entries(text)


def test_all_or_nothing_multiple_response_is_written_as_weights(ctx) -> None:
    spec = {
        "type": "multiple_response",
        "points": 1,
        "scoring": "all_or_nothing",
        "texts": {"en": {"text": "Pick the two burnable ones."}},
        "choices": [
            {"id": "a", "texts": {"en": {"text": "paper"}}, "correct": True},
            {"id": "b", "texts": {"en": {"text": "scraps"}}, "correct": True},
            {"id": "c", "texts": {"en": {"text": "cans"}}},
        ],
    }
    text = bank.entries_to_gift([bank.BankEntry(None, "", None, spec)])
    again = bank.gift_to_entries(text)[0].spec
    assert [c["weight"] for c in again["choices"]] == [0.5, 0.5, -1.0]
    paper, scraps, cans = (c["id"] for c in again["choices"])
    assert questions.grade(again, [paper, scraps]).correct
    assert questions.grade(again, [paper, scraps, cans]).score == 0


def test_malformed_file_reports_every_line(ctx) -> None:
    with pytest.raises(bank.BankImportError) as caught:
        bank.gift_to_entries(read("bad.gift"))
    assert [e.line for e in caught.value.errors] == [4, 9, 13]
    assert str(caught.value).splitlines()[0].startswith("Line 4:")


def test_essay_and_description_are_refused_with_their_line(ctx) -> None:
    with pytest.raises(bank.BankImportError) as caught:
        bank.gift_to_entries(read("unsupported.gift"))
    assert [e.line for e in caught.value.errors] == [4, 6]
    assert "Essay" in str(caught.value.errors[0]) and "Description" in str(caught.value.errors[1])


def test_a_question_that_does_not_validate_is_reported_with_its_line(ctx) -> None:
    text = "::OK::Fine? {T}\n\n\n::Zero::Which? {=%0%never#no credit =always}\n"
    with pytest.raises(bank.BankImportError) as caught:
        bank.gift_to_entries(text)
    # A short answer worth 0% has no place in a Kenshu spec: named, with its line.
    assert [e.line for e in caught.value.errors] == [4]
    assert "no credit" in str(caught.value)


def test_import_view_imports_all_or_nothing(app: Flask, make_user) -> None:
    from tests.conftest import login

    world = make_world(app, make_user)
    client = app.test_client()
    login(client, world.instructor.email)
    url = f"/teach/courses/{world.course_id}/questions/import"
    import io

    response = client.post(
        url,
        data={
            "file": (io.BytesIO(read("constructs.gift").encode()), "constructs.gift"),
            "language": "en",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Nothing was imported" in page and "Line 53:" in page and "Line 55:" in page
    with new_session(app) as session:
        assert session.query(Question).count() == 0

    response = client.post(
        url,
        data={
            "file": (io.BytesIO(read("moodle_formats.gift").encode()), "m.gift"),
            "language": "en",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    with new_session(app) as session:
        assert session.query(Question).filter_by(course_id=world.course_id).count() == 14
        from lms.audit.models import AuditEvent

        event = session.query(AuditEvent).filter_by(action="quiz_gift_imported").one()
        assert event.details["questions"] == 14 and event.actor_id == world.instructor.id

    export = client.get(f"/teach/courses/{world.course_id}/questions/export.txt")
    assert export.status_code == 200
    assert "attachment" in export.headers["Content-Disposition"]
    assert "::Ward collection::" in export.get_data(as_text=True)
