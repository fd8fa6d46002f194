"""Captions per language on a processed video: stored as WebVTT, replaced, deleted, read."""

from __future__ import annotations

from sqlalchemy import select

from lms.db import new_session
from lms.media.models import Caption, MediaAsset
from lms.media.services import read_object
from lms.storage import get_storage
from tests.media.conftest import Files, World, load_asset, stored_files, upload
from tests.media.test_upload_errors import caption_count, post_caption


def captions_of(app, asset_id: int) -> dict[str, Caption]:
    with new_session(app) as session:
        rows = session.scalars(select(Caption).where(Caption.asset_id == asset_id)).all()
        return {c.language: c for c in rows}


def test_two_languages_on_a_processed_video(world: World, files: Files) -> None:
    app = world.app
    client = world.client(world.instructor)
    asset_id, _ = upload(client, world.video_lesson_id, files.small)

    english = post_caption(client, asset_id, files.vtt.read_bytes(), "en", "en.vtt")
    assert english.status_code == 302
    japanese = post_caption(client, asset_id, files.srt_ja.read_bytes(), "ja", "ja.srt")
    assert japanese.status_code == 302
    page = client.get(english.headers["Location"]).get_data(as_text=True)
    assert "Captions in 日本語 saved (2 cues)." in page or "Captions in" in page

    captions = captions_of(app, asset_id)
    assert set(captions) == {"en", "ja"}
    storage = get_storage(app)
    stored = read_object(storage, captions["ja"].key).decode()
    assert stored.startswith("WEBVTT")  # SRT converted
    assert "00:00:01.000 --> 00:00:02.000" in stored and "さようなら" in stored
    assert captions["ja"].cue_count == 2

    transcript = client.get(f"/media/captions/{captions['ja'].id}/transcript").get_json()
    assert transcript["language"] == "ja"
    assert [item["text"] for item in transcript["items"]] == ["こんにちは", "さようなら"]
    assert transcript["url"]
    # Nobody outside the course can read it, and to them it does not exist.
    for outsider in (world.other_instructor, world.trainee):
        refused = world.client(outsider).get(f"/media/captions/{captions['ja'].id}/transcript")
        assert refused.status_code == 404

    html = client.get(f"/teach/lessons/{world.video_lesson_id}/media").get_data(as_text=True)
    assert 'lang="ja"' in html and "日本語" in html and "English" in html


def test_replacing_a_language_deletes_the_old_file(world: World, files: Files) -> None:
    app = world.app
    client = world.client(world.instructor)
    asset_id, _ = upload(client, world.video_lesson_id, files.small)
    post_caption(client, asset_id, files.vtt.read_bytes(), "en")
    old_key = captions_of(app, asset_id)["en"].key
    replacement = b"WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nOnly one cue\n"
    assert post_caption(client, asset_id, replacement, "en").status_code == 302
    caption = captions_of(app, asset_id)["en"]
    assert caption.key != old_key and caption.cue_count == 1
    storage = get_storage(app)
    assert not storage.exists(old_key) and storage.exists(caption.key)
    assert caption_count(app) == 1


def test_deleting_a_caption_removes_row_and_object(world: World, files: Files) -> None:
    app = world.app
    client = world.client(world.instructor)
    asset_id, _ = upload(client, world.video_lesson_id, files.small)
    before = stored_files(app)
    post_caption(client, asset_id, files.vtt.read_bytes(), "en")
    caption = captions_of(app, asset_id)["en"]
    response = client.post(f"/teach/media/{asset_id}/captions/{caption.id}/delete")
    assert response.status_code == 302
    assert caption_count(app) == 0
    assert stored_files(app) == before


def test_captions_follow_a_replacement_video_when_they_fit(world: World, files: Files) -> None:
    app = world.app
    client = world.client(world.instructor)
    first_id, _ = upload(client, world.video_lesson_id, files.small)
    post_caption(client, first_id, files.vtt.read_bytes(), "en")
    second_id, _ = upload(client, world.video_lesson_id, files.medium)
    assert set(captions_of(app, second_id)) == {"en"}
    assert load_asset(app, first_id) is None
    with new_session(app) as session:
        assert session.get(MediaAsset, second_id) is not None


def test_unknown_language_is_refused(world: World, files: Files) -> None:
    client = world.client(world.instructor)
    asset_id, _ = upload(client, world.video_lesson_id, files.small)
    response = post_caption(client, asset_id, files.vtt.read_bytes(), "xx")
    assert response.status_code == 400
    assert caption_count(world.app) == 0
