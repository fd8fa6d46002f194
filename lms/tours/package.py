"""Tours in course packages: the ``tour: tours/<name>.yaml`` file of a tour lesson.

The file names its media by path (relative to the package folder, like everything
in ``course.yaml``); the kind of a stop follows from the one media field it has::

    map: tours/plant/map.png
    order: guided            # or free
    dwell_seconds: 10        # how long photos or a panorama must stay open
    stops:
      - uid: weighbridge
        x: 0.12              # place on the map, fractions of its width and height
        y: 0.80
        required: true
        texts:
          en: {title: Weighbridge, body: "Markdown ..."}
          ja: {title: 計量機}
        photos:
          - file: tours/plant/weighbridge.jpg
            caption: {en: "...", ja: "..."}
      - uid: tipping-floor
        panorama: tours/plant/tipping-floor.jpg
        hotspots:
          - {yaw: 30, pitch: -5, note: {en: "...", ja: "..."}}
          - {yaw: 120, pitch: 0, stop: waste-bunker}
      - uid: waste-bunker
        video: tours/plant/bunker.mp4
        captions: {en: tours/plant/bunker.en.vtt, ja: tours/plant/bunker.ja.srt}

:func:`read_tour` checks it all (the tour's rules, and every file by its content: the
map an image, a panorama a 2:1 equirectangular image, a clip a playable video, its
captions WebVTT or SRT that fit the clip, with the line of any problem) while the
package is read, before anything is imported. :func:`import_tour` stores the files
and the tour; :func:`export_tour` writes them back. Captions belong to the clip's
asset, as a lecture video's do (they are not part of the tour's data, and publishing
does not freeze them); they are stored and exported as WebVTT.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from lms.catalog.models import Lesson
from lms.content.package import CaptionFile
from lms.content.package import _read_captions as read_captions
from lms.db import utcnow
from lms.media import services as media_services
from lms.media.models import Caption, MediaAsset, MediaKind, MediaStatus
from lms.media.probe import MediaError, probe_video
from lms.storage import NotFound, Storage, StorageError, new_key
from lms.tours import services
from lms.tours.schema import StopKind, TourError, parse_tour, tour_of

STOP_MEDIA = ("video", "photos", "panorama")
TOUR_FIELDS = {"map", "order", "dwell_seconds", "stops"}
STOP_FIELDS = {
    "uid",
    "x",
    "y",
    "required",
    "texts",
    "video",
    "captions",
    "photos",
    "panorama",
    "hotspots",
}


@dataclass
class TourMedia:
    """A file a tour names: checked, with what it is for."""

    path: str
    role: str  # map, photo, panorama, video
    sha256: str
    open: Callable[[], BinaryIO]
    source: Path | None = None
    duration: float | None = None  # a clip's, which its captions must fit

    @property
    def filename(self) -> str:
        return PurePosixPath(self.path).name


@dataclass
class TourFile:
    """A tour read from (or to be written to) a package."""

    path: str  # the YAML file
    data: dict[str, Any]  # as in the file, media named by path
    files: dict[str, TourMedia] = field(default_factory=dict)  # by path
    # Captions of video stops: stop uid -> language -> the captions (WebVTT).
    captions: dict[str, dict[str, CaptionFile]] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def read_tour(
    reader: Any, relative: str, path: Path, default_language: str | None
) -> TourFile | None:
    """Read and check a tour file; its problems go to ``reader`` (the package reader)."""
    data = reader.load_yaml(relative, path)
    if data is None:
        return None
    if not isinstance(data, dict):
        reader.problem(relative, 1, _l("a tour file must be a mapping (key: value lines)"))
        return None
    tour = TourFile(path=relative, data=data)
    problems_before = len(reader.problems)
    line = getattr(data, "line_of", lambda key: 1)

    def media(value: Any, at: int, name: str, role: str) -> int | None:
        """Check a media path; a placeholder id (its index) for the schema's checks."""
        found = reader.resolve(value, at, name)
        if found is None:
            return None
        rel, file_path = found
        duration = None
        try:
            if role == "video":
                duration = probe_video(file_path).duration
            else:
                services.check_image(file_path, role)
        except MediaError as error:
            reader.problem(relative, at, _l("%(path)s: %(reason)s", path=rel, reason=error.message))
            return None
        except services.TourServiceError as error:
            reader.problem(relative, at, _l("%(path)s: %(reason)s", path=rel, reason=error.message))
            return None
        tour.files[rel] = TourMedia(
            rel, role, _sha256(file_path), (lambda p=file_path: p.open("rb")), file_path, duration
        )
        return list(tour.files).index(rel) + 1

    def captions(item: Any, clip: int | None) -> None:
        """A video stop's ``captions: {language: path}``, each checked against the clip."""
        duration = list(tour.files.values())[clip - 1].duration if clip else None
        found: dict[str, CaptionFile] = {}
        for language, (value, at) in reader.per_language(item, "captions").items():
            resolved = reader.resolve(value, at, f"captions.{language}")
            if resolved is not None:
                caption = read_captions(reader, language, *resolved, duration)
                if caption is not None:
                    found[language] = caption
        if found and isinstance(item.get("uid"), str):
            tour.captions[item["uid"]] = found

    for key in data:
        if key not in TOUR_FIELDS:
            reader.problem(relative, line(key), _l("unknown field %(field)s", field=repr(key)))
    schema: dict[str, Any] = {
        "order": data.get("order", "guided"),
        "dwell_seconds": data.get("dwell_seconds", 10),
        "map_media_id": None,
        "stops": [],
    }
    if "map" in data:
        schema["map_media_id"] = media(data["map"], line("map"), "map", services.ROLE_MAP) or 0
    stops = data.get("stops")
    if not isinstance(stops, list):
        reader.problem(relative, line("stops"), _l("'stops' must be a list of stops"))
        stops = []
    for item in stops:
        if not isinstance(item, dict):
            reader.problem(relative, line("stops"), _l("each stop must be a mapping"))
            continue
        at = getattr(item, "line", 1)
        for key in item:
            if key not in STOP_FIELDS:
                reader.problem(relative, at, _l("unknown field %(field)s", field=repr(key)))
        kinds = [name for name in STOP_MEDIA if name in item]
        if len(kinds) != 1:
            reader.problem(
                relative, at, _l("a stop has exactly one of 'video', 'photos' or 'panorama'")
            )
            continue
        stop: dict[str, Any] = {
            key: item[key] for key in ("uid", "x", "y", "required", "texts") if key in item
        }
        kind = kinds[0]
        stop["kind"] = kind
        if kind == "photos":
            photos = item["photos"] if isinstance(item["photos"], list) else []
            stop["photos"] = []
            for photo in photos:
                if not isinstance(photo, dict) or "file" not in photo:
                    reader.problem(relative, at, _l("each photo needs a 'file'"))
                    continue
                photo_id = media(photo["file"], getattr(photo, "line", at), "file", "photo")
                caption = photo.get("caption") or {}
                stop["photos"].append(
                    {
                        "media_id": photo_id or 0,
                        "texts": {
                            lang: {"caption": text}
                            for lang, text in caption.items()
                            if isinstance(caption, dict)
                        }
                        if isinstance(caption, dict)
                        else caption,
                    }
                )
        else:
            role = services.ROLE_PANORAMA if kind == "panorama" else "video"
            stop["media_id"] = media(item[kind], item.line_of(kind), kind, role) or 0
        if "captions" in item and kind != "video":
            reader.problem(relative, item.line_of("captions"), _l("only video stops have captions"))
        elif "captions" in item:
            captions(item, stop["media_id"])
        if "hotspots" in item:
            spots = []
            for spot in item["hotspots"] if isinstance(item["hotspots"], list) else []:
                if not isinstance(spot, dict):
                    continue
                converted = {k: spot[k] for k in ("uid", "yaw", "pitch") if k in spot}
                if "note" in spot:
                    converted["kind"] = "note"
                    note = spot["note"]
                    converted["texts"] = (
                        {lang: {"text": text} for lang, text in note.items()}
                        if isinstance(note, dict)
                        else note
                    )
                elif "stop" in spot:
                    converted["kind"] = "stop"
                    converted["stop"] = spot["stop"]
                spots.append(converted)
            stop["hotspots"] = spots
        schema["stops"].append(stop)
    if len(reader.problems) > problems_before:
        return None
    try:
        parse_tour(_placeholders(schema), default_language or "en")
    except TourError as error:
        for where, message in error.problems:
            reader.problem(relative, None, f"{where}: {message}" if where else message)
        return None
    tour.data = schema
    return tour


def _placeholders(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with None for a missing map (0 marks a file already reported)."""
    data = dict(schema)
    if not data.get("map_media_id"):
        data["map_media_id"] = None
    return data


# --- import ------------------------------------------------------------------------------


def import_tour(
    session: Session,
    storage: Storage,
    lesson: Lesson,
    tour: TourFile,
    actor_id: int | None,
    created: list[str],
) -> bool:
    """Store the tour's files (a file already in the lesson's tour is kept, not stored
    again) and save the tour on the lesson. True when something changed."""
    current = tour_of(lesson.settings)
    kept: dict[str, MediaAsset] = {}
    if current is not None:
        for asset in services.tour_assets(session, current).values():
            if asset.sha256 and asset.status != MediaStatus.FAILED:
                kept[f"{(asset.info or {}).get('tour')}:{asset.sha256}"] = asset
    ids: dict[str, int] = {}
    changed = False
    for index, media in enumerate(tour.files.values()):
        existing = kept.get(f"{media.role}:{media.sha256}")
        if existing is not None:
            ids[str(index + 1)] = existing.id
            continue
        assert media.source is not None, "media read from a package folder"
        if media.role == "video":
            asset = services.store_video(
                session,
                storage,
                course_id=lesson.course_id,
                path=media.source,
                filename=media.filename,
                actor_id=actor_id,
            )
        else:
            asset = services.store_image(
                session,
                storage,
                course_id=lesson.course_id,
                path=media.source,
                filename=media.filename,
                role=media.role,
                actor_id=actor_id,
            )
        created.extend([asset.key, *(r.key for r in asset.renditions)])
        ids[str(index + 1)] = asset.id
        changed = True
    data = _placeholders(tour.data)

    def real(value: Any) -> int | None:
        return ids.get(str(value)) if value else None

    for stop in data["stops"]:
        if stop.get("kind") == StopKind.VIDEO and real(stop.get("media_id")):
            clip = session.get(MediaAsset, real(stop["media_id"]))
            assert clip is not None
            wanted = tour.captions.get(stop["uid"], {})
            changed |= _sync_captions(session, storage, clip, wanted, created)

    data["map_media_id"] = real(data.get("map_media_id"))
    stops = []
    for stop in data["stops"]:
        stop = dict(stop)
        if "media_id" in stop:
            stop["media_id"] = real(stop["media_id"])
        if "photos" in stop:
            stop["photos"] = [{**p, "media_id": real(p["media_id"])} for p in stop["photos"]]
        stops.append(stop)
    data["stops"] = stops
    before = (lesson.settings or {}).get("tour")
    saved = services.save_tour(session, lesson, data).to_dict()
    return changed or before != saved


def _sync_captions(
    session: Session,
    storage: Storage,
    clip: MediaAsset,
    wanted: dict[str, CaptionFile],
    created: list[str],
) -> bool:
    """Make the clip's captions those of the package (as lesson imports do); True when
    something changed. Captions already stored with the same text are left alone."""
    existing = {caption.language: caption for caption in clip.captions}
    changed = False
    for language, caption in wanted.items():
        data = caption.vtt.encode("utf-8")
        row = existing.pop(language, None)
        if row is not None and _stored(storage, row.key) == data:
            continue
        key = new_key("captions", f"tour-{clip.id}.{language}.vtt")
        storage.put(key, io.BytesIO(data), "text/vtt; charset=utf-8")
        created.append(key)
        media_services.delete_on_rollback(session, storage, [key])
        if row is None:
            clip.captions.append(Caption(language=language, key=key, cue_count=caption.cue_count))
        else:
            media_services.delete_after_commit(session, storage, [row.key])
            row.key, row.cue_count, row.created_at = key, caption.cue_count, utcnow()
        changed = True
    for row in existing.values():  # languages no longer in the package
        media_services.delete_after_commit(session, storage, [row.key])
        clip.captions.remove(row)
        changed = True
    session.flush()
    return changed


def _stored(storage: Storage, key: str) -> bytes | None:
    try:
        return media_services.read_object(storage, key)
    except (NotFound, StorageError):
        return None


# --- export ------------------------------------------------------------------------------

EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


def export_tour(
    session: Session, storage: Storage, lesson: Lesson, notes: list[Any]
) -> TourFile | None:
    """The lesson's tour as a package file, its media from storage (the originals)."""
    tour = tour_of(lesson.settings)
    if tour is None:
        return None
    assets = services.tour_assets(session, tour)
    folder = f"tours/{lesson.uid}"
    files: dict[str, TourMedia] = {}
    captions: dict[str, dict[str, CaptionFile]] = {}

    def path_of(media_id: int | None, name: str) -> str | None:
        asset = assets.get(media_id or 0)
        if asset is None or asset.status == MediaStatus.UPLOADING:
            notes.append(_l("lesson %(uid)s: a tour file is missing; not exported", uid=lesson.uid))
            return None
        suffix = PurePosixPath(asset.filename).suffix.lower() or (
            ".mp4" if asset.kind == MediaKind.VIDEO else EXTENSIONS.get(asset.content_type, ".bin")
        )
        relative = f"{folder}/{name}{suffix}"
        key = asset.key
        files[relative] = TourMedia(
            relative,
            str((asset.info or {}).get("tour") or asset.kind),
            asset.sha256 or "",
            (lambda: storage.open(key)),
        )
        return relative

    data: dict[str, Any] = {}
    if tour.map_media_id is not None:
        data["map"] = path_of(tour.map_media_id, "map")
    data["order"] = tour.order
    data["dwell_seconds"] = tour.dwell_seconds
    stops = []
    for stop in tour.stops:
        item: dict[str, Any] = {
            "uid": stop.uid,
            "x": stop.x,
            "y": stop.y,
            "required": stop.required,
            "texts": stop.texts,
        }
        if stop.kind == StopKind.PHOTOS:
            item["photos"] = [
                {
                    "file": path_of(photo.media_id, f"{stop.uid}-{index + 1}"),
                    **(
                        {"caption": {k: v["caption"] for k, v in photo.texts.items()}}
                        if photo.texts
                        else {}
                    ),
                }
                for index, photo in enumerate(stop.photos)
            ]
        else:
            item[stop.kind] = path_of(stop.media_id, stop.uid)
        clip = assets.get(stop.media_id or 0) if stop.kind == StopKind.VIDEO else None
        if clip is not None and clip.captions:
            captions[stop.uid] = {
                caption.language: CaptionFile(
                    path=f"{folder}/{stop.uid}.{caption.language}.vtt",
                    language=caption.language,
                    vtt=media_services.read_object(storage, caption.key).decode("utf-8"),
                    cue_count=caption.cue_count,
                )
                for caption in clip.captions
            }
            item["captions"] = {lang: c.path for lang, c in captions[stop.uid].items()}
        if stop.kind == StopKind.PANORAMA and stop.hotspots:
            spots = []
            for spot in stop.hotspots:
                converted: dict[str, Any] = {"uid": spot.uid, "yaw": spot.yaw, "pitch": spot.pitch}
                if spot.kind == "note":
                    converted["note"] = {k: v["text"] for k, v in spot.texts.items()}
                else:
                    converted["stop"] = spot.stop
                spots.append(converted)
            item["hotspots"] = spots
        stops.append(item)
    data["stops"] = stops
    return TourFile(path=f"tours/{lesson.uid}.yaml", data=data, files=files, captions=captions)
