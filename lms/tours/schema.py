"""A plant tour as plain data: what ``Lesson.settings["tour"]`` holds, and its checks.

The tour lives in the lesson's settings so that publishing freezes it with the rest
of the lesson (see :func:`lms.catalog.services.snapshot`). :func:`parse_tour` is a
pure function: it takes the JSON-like data and returns a :class:`Tour`, or raises
:class:`TourError` listing every problem in the user's language, each with where it
is (``stops[2].hotspots[0].yaw``). Whether the media ids name real, suitable files
is checked by the services, which have the database.

Stored shape::

    {"map_media_id": 7, "order": "guided", "dwell_seconds": 10,
     "stops": [{"uid": "weighbridge", "x": 0.12, "y": 0.8, "required": true,
                "texts": {"en": {"title": "...", "body": "Markdown"}, "ja": {...}},
                "kind": "panorama", "media_id": 9,
                "photos": [{"media_id": 11, "texts": {"en": {"caption": "..."}}}],
                "hotspots": [{"uid": "h1", "yaw": 30.0, "pitch": -5.0, "kind": "note",
                              "texts": {"en": {"text": "..."}}},
                             {"uid": "h2", "yaw": 120.0, "pitch": 0.0, "kind": "stop",
                              "stop": "tipping-floor"}]}]}

A stop's number is its place in the list (1, 2, 3 ...); yaw and pitch are degrees
(yaw -180..180 from the panorama's centre, pitch -90..90 from the horizon); x and y
place the stop on the map as fractions of its width and height from the top left.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l

from lms.i18n import CONTENT_LANGUAGES

UID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_STOPS = 60
MAX_PHOTOS = 12
MAX_HOTSPOTS = 40
MAX_TITLE = 200
MAX_BODY = 20_000
MAX_NOTE = 2_000
DEFAULT_DWELL_SECONDS = 10
MIN_DWELL_SECONDS = 1
MAX_DWELL_SECONDS = 300

# Texts: {language: {field: text}}
Texts = dict[str, dict[str, str]]


class TourOrder(StrEnum):
    GUIDED = "guided"  # a stop opens once every earlier required stop is visited
    FREE = "free"


class StopKind(StrEnum):
    VIDEO = "video"
    PHOTOS = "photos"
    PANORAMA = "panorama"


class HotspotKind(StrEnum):
    NOTE = "note"
    STOP = "stop"


class TourError(Exception):
    """The tour is not valid; ``problems`` holds (where, lazily translated message) pairs."""

    def __init__(self, problems: list[tuple[str, Any]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{where}: {message}" for where, message in problems))

    @property
    def messages(self) -> list[str]:
        return [
            f"{where}: {message}" if where else str(message) for where, message in self.problems
        ]


@dataclass
class Hotspot:
    uid: str
    yaw: float
    pitch: float
    kind: str
    texts: Texts = field(default_factory=dict)  # notes: {"en": {"text": ...}}
    stop: str | None = None  # links: the uid of the stop it leads to

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"uid": self.uid, "yaw": self.yaw, "pitch": self.pitch}
        data["kind"] = self.kind
        if self.kind == HotspotKind.NOTE:
            data["texts"] = self.texts
        else:
            data["stop"] = self.stop
        return data


@dataclass
class Photo:
    media_id: int
    texts: Texts = field(default_factory=dict)  # {"en": {"caption": ...}}

    def to_dict(self) -> dict[str, Any]:
        return {"media_id": self.media_id, "texts": self.texts}


@dataclass
class Stop:
    uid: str
    x: float
    y: float
    kind: str
    texts: Texts
    required: bool = True
    media_id: int | None = None  # the video or the panorama
    photos: list[Photo] = field(default_factory=list)
    hotspots: list[Hotspot] = field(default_factory=list)

    def media_ids(self) -> list[int]:
        ids = [self.media_id] if self.media_id is not None else []
        return ids + [photo.media_id for photo in self.photos]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "uid": self.uid,
            "x": self.x,
            "y": self.y,
            "required": self.required,
            "kind": self.kind,
            "texts": self.texts,
        }
        if self.kind == StopKind.PHOTOS:
            data["photos"] = [photo.to_dict() for photo in self.photos]
        else:
            data["media_id"] = self.media_id
        if self.kind == StopKind.PANORAMA:
            data["hotspots"] = [hotspot.to_dict() for hotspot in self.hotspots]
        return data


@dataclass
class Tour:
    map_media_id: int | None
    order: str = TourOrder.GUIDED
    stops: list[Stop] = field(default_factory=list)
    dwell_seconds: int = DEFAULT_DWELL_SECONDS

    def stop(self, uid: str) -> Stop | None:
        return next((stop for stop in self.stops if stop.uid == uid), None)

    def index(self, uid: str) -> int:
        return next(i for i, stop in enumerate(self.stops) if stop.uid == uid)

    @property
    def required_uids(self) -> list[str]:
        return [stop.uid for stop in self.stops if stop.required]

    def media_ids(self) -> list[int]:
        ids = [self.map_media_id] if self.map_media_id is not None else []
        return ids + [media_id for stop in self.stops for media_id in stop.media_ids()]

    def is_open(self, uid: str, visited: set[str]) -> bool:
        """Free tours open every stop; guided ones a stop once every earlier required one
        is visited (optional stops may be skipped)."""
        if self.order == TourOrder.FREE:
            return True
        for stop in self.stops:
            if stop.uid == uid:
                return True
            if stop.required and stop.uid not in visited:
                return False
        return False

    def is_complete(self, visited: set[str]) -> bool:
        """Every required stop visited; a tour with none required, any one stop."""
        required = self.required_uids
        if not required:
            return bool(visited & {stop.uid for stop in self.stops})
        return all(uid in visited for uid in required)

    def to_dict(self) -> dict[str, Any]:
        return {
            "map_media_id": self.map_media_id,
            "order": self.order,
            "dwell_seconds": self.dwell_seconds,
            "stops": [stop.to_dict() for stop in self.stops],
        }


# --- checking --------------------------------------------------------------------------


class _Checker:
    def __init__(self) -> None:
        self.problems: list[tuple[str, Any]] = []

    def add(self, where: str, message: Any) -> None:
        self.problems.append((where, message))

    def number(self, data: dict[str, Any], key: str, where: str, low: float, high: float) -> float:
        value = data.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            self.add(
                f"{where}.{key}",
                _l("must be a number from %(low)s to %(high)s", low=low, high=high),
            )
            return low
        return float(value)

    def media_id(self, data: dict[str, Any], where: str) -> int | None:
        value = data.get("media_id")
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            self.add(f"{where}.media_id", _l("a file is required"))
            return None
        return value

    def texts(
        self,
        value: Any,
        where: str,
        fields: dict[str, int],
        required: str | None,
        default_language: str,
    ) -> Texts:
        """``{language: {field: text}}`` with known languages and fields within their limits."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.add(where, _l("must be a mapping of languages to texts"))
            return {}
        texts: Texts = {}
        for language, values in value.items():
            if language not in CONTENT_LANGUAGES:
                self.add(f"{where}.{language}", _l("unknown language"))
                continue
            if not isinstance(values, dict):
                self.add(f"{where}.{language}", _l("must be a mapping of fields to texts"))
                continue
            kept: dict[str, str] = {}
            for name, text in values.items():
                if name not in fields:
                    self.add(f"{where}.{language}.{name}", _l("unknown field"))
                elif not isinstance(text, str):
                    self.add(f"{where}.{language}.{name}", _l("must be text"))
                elif len(text.strip()) > fields[name]:
                    self.add(
                        f"{where}.{language}.{name}",
                        _l("is too long (at most %(limit)d characters)", limit=fields[name]),
                    )
                elif text.strip():
                    kept[name] = text.strip()
            if kept:
                texts[language] = kept
        if required and not any(values.get(required) for values in texts.values()):
            self.add(where, _l("a %(field)s is required", field=required))
        elif required and not (texts.get(default_language) or {}).get(required):
            self.add(
                where,
                _l(
                    "a %(field)s in the default language (%(language)s) is required",
                    field=required,
                    language=default_language,
                ),
            )
        return texts


def parse_tour(data: Any, default_language: str = "en") -> Tour:
    """Check a tour's data; the :class:`Tour`, or :class:`TourError` with every problem."""
    check = _Checker()
    if not isinstance(data, dict):
        raise TourError([("", _l("The tour must be a mapping."))])
    known = {"map_media_id", "order", "dwell_seconds", "stops"}
    for key in data:
        if key not in known:
            check.add(str(key), _l("unknown field"))
    map_id = data.get("map_media_id")
    if map_id is not None and (isinstance(map_id, bool) or not isinstance(map_id, int)):
        check.add("map_media_id", _l("must be the id of an image"))
        map_id = None
    order = data.get("order", TourOrder.GUIDED)
    if order not in {str(o) for o in TourOrder}:
        check.add("order", _l("must be guided or free"))
        order = TourOrder.GUIDED
    dwell = data.get("dwell_seconds", DEFAULT_DWELL_SECONDS)
    if (
        isinstance(dwell, bool)
        or not isinstance(dwell, int)
        or not (MIN_DWELL_SECONDS <= dwell <= MAX_DWELL_SECONDS)
    ):
        check.add(
            "dwell_seconds",
            _l(
                "must be a whole number of seconds from %(low)d to %(high)d",
                low=MIN_DWELL_SECONDS,
                high=MAX_DWELL_SECONDS,
            ),
        )
        dwell = DEFAULT_DWELL_SECONDS
    raw_stops = data.get("stops", [])
    if not isinstance(raw_stops, list):
        check.add("stops", _l("must be a list"))
        raw_stops = []
    if len(raw_stops) > MAX_STOPS:
        check.add("stops", _l("at most %(count)d stops", count=MAX_STOPS))
    stops = [
        _stop(check, item, f"stops[{i}]", default_language) for i, item in enumerate(raw_stops)
    ]
    seen: set[str] = set()
    for index, stop in enumerate(stops):
        if stop is None:
            continue
        if stop.uid in seen:
            check.add(f"stops[{index}].uid", _l("this id is used by another stop"))
        seen.add(stop.uid)
    for index, stop in enumerate(stops):
        for h, hotspot in enumerate(stop.hotspots if stop else []):
            if hotspot.kind == HotspotKind.STOP and hotspot.stop not in seen:
                check.add(f"stops[{index}].hotspots[{h}].stop", _l("no stop has this id"))
            elif hotspot.kind == HotspotKind.STOP and stop and hotspot.stop == stop.uid:
                check.add(f"stops[{index}].hotspots[{h}].stop", _l("a stop cannot lead to itself"))
    if check.problems:
        raise TourError(check.problems)
    return Tour(
        map_media_id=map_id,
        order=str(order),
        stops=[stop for stop in stops if stop is not None],
        dwell_seconds=dwell,
    )


def _stop(check: _Checker, data: Any, where: str, default_language: str) -> Stop | None:
    if not isinstance(data, dict):
        check.add(where, _l("must be a mapping"))
        return None
    known = {"uid", "x", "y", "required", "kind", "texts", "media_id", "photos", "hotspots"}
    for key in data:
        if key not in known:
            check.add(f"{where}.{key}", _l("unknown field"))
    uid = data.get("uid")
    if not isinstance(uid, str) or not UID_PATTERN.fullmatch(uid):
        check.add(f"{where}.uid", _l("use lower-case letters, digits and - (at most 64)"))
        uid = ""
    x = check.number(data, "x", where, 0, 1)
    y = check.number(data, "y", where, 0, 1)
    required = data.get("required", True)
    if not isinstance(required, bool):
        check.add(f"{where}.required", _l("must be true or false"))
        required = True
    kind = data.get("kind")
    if kind not in {str(k) for k in StopKind}:
        check.add(f"{where}.kind", _l("must be video, photos or panorama"))
        kind = None
    texts = check.texts(
        data.get("texts"),
        f"{where}.texts",
        {"title": MAX_TITLE, "body": MAX_BODY},
        "title",
        default_language,
    )
    media_id = None
    photos: list[Photo] = []
    hotspots: list[Hotspot] = []
    if kind == StopKind.PHOTOS:
        raw = data.get("photos")
        if not isinstance(raw, list) or not raw:
            check.add(f"{where}.photos", _l("add at least one photo"))
            raw = []
        if len(raw) > MAX_PHOTOS:
            check.add(f"{where}.photos", _l("at most %(count)d photos", count=MAX_PHOTOS))
        for i, item in enumerate(raw):
            spot = f"{where}.photos[{i}]"
            if not isinstance(item, dict):
                check.add(spot, _l("must be a mapping"))
                continue
            photo_id = check.media_id(item, spot)
            caption = check.texts(
                item.get("texts"), f"{spot}.texts", {"caption": MAX_NOTE}, None, default_language
            )
            if photo_id is not None:
                photos.append(Photo(photo_id, caption))
    elif kind in (StopKind.VIDEO, StopKind.PANORAMA):
        media_id = check.media_id(data, where)
    if kind == StopKind.PANORAMA:
        raw_spots = data.get("hotspots", [])
        if not isinstance(raw_spots, list):
            check.add(f"{where}.hotspots", _l("must be a list"))
            raw_spots = []
        if len(raw_spots) > MAX_HOTSPOTS:
            check.add(f"{where}.hotspots", _l("at most %(count)d hotspots", count=MAX_HOTSPOTS))
        for i, item in enumerate(raw_spots):
            hotspot = _hotspot(check, item, f"{where}.hotspots[{i}]", i, default_language)
            if hotspot is not None:
                hotspots.append(hotspot)
        hotspot_uids = [hotspot.uid for hotspot in hotspots]
        if len(set(hotspot_uids)) != len(hotspot_uids):
            check.add(f"{where}.hotspots", _l("two hotspots have the same id"))
    elif data.get("hotspots"):
        check.add(f"{where}.hotspots", _l("only panoramas have hotspots"))
    if not uid or kind is None:
        return None
    return Stop(
        uid=uid,
        x=x,
        y=y,
        kind=kind,
        texts=texts,
        required=required,
        media_id=media_id,
        photos=photos,
        hotspots=hotspots,
    )


def _hotspot(
    check: _Checker, data: Any, where: str, index: int, default_language: str
) -> Hotspot | None:
    if not isinstance(data, dict):
        check.add(where, _l("must be a mapping"))
        return None
    for key in data:
        if key not in {"uid", "yaw", "pitch", "kind", "texts", "stop"}:
            check.add(f"{where}.{key}", _l("unknown field"))
    uid = data.get("uid") or f"h{index + 1}"
    if not isinstance(uid, str) or not UID_PATTERN.fullmatch(uid):
        check.add(f"{where}.uid", _l("use lower-case letters, digits and - (at most 64)"))
        uid = f"h{index + 1}"
    yaw = check.number(data, "yaw", where, -180, 180)
    pitch = check.number(data, "pitch", where, -90, 90)
    kind = data.get("kind")
    if kind == HotspotKind.NOTE:
        texts = check.texts(
            data.get("texts"), f"{where}.texts", {"text": MAX_NOTE}, "text", default_language
        )
        return Hotspot(uid=uid, yaw=yaw, pitch=pitch, kind=str(kind), texts=texts)
    if kind == HotspotKind.STOP:
        target = data.get("stop")
        if not isinstance(target, str) or not target:
            check.add(f"{where}.stop", _l("name the stop it leads to"))
            return None
        return Hotspot(uid=uid, yaw=yaw, pitch=pitch, kind=str(kind), stop=target)
    check.add(f"{where}.kind", _l("must be note or stop"))
    return None


def tour_of(settings: dict[str, Any] | None, default_language: str = "en") -> Tour | None:
    """The tour stored in a lesson's (or a snapshot's) settings; None if it has none or a
    stored one no longer passes the checks (never expected: every writer checks)."""
    data = (settings or {}).get("tour")
    if data is None:
        return None
    try:
        return parse_tour(data, default_language)
    except TourError:
        return None
