"""The sample course's plant tour: generated pictures, panoramas and clips.

``content/tokyo-msw/tours/plant.yaml`` (written by hand, English and Japanese) names
these files; :func:`build_tour_media` draws them (``lms content build-sample`` runs it
with the rest of the sample's media): a plan of a waste-to-energy plant, 360°
panoramas of four stops (2:1 equirectangular, with the stop's equipment drawn around
the viewer), photos, and two short clips with English and Japanese captions. Drawn,
not photographed: the sample must be free to ship, and small.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from lms.media.captions import format_timestamp
from lms.media.synth import load_font, make_slides_video

FOLDER = "tours/plant"

# uid, label on the plan, x, y (fractions of the plan), as in plant.yaml
STOPS: tuple[tuple[str, str, float, float], ...] = (
    ("weighbridge", "Weighbridge", 0.10, 0.82),
    ("tipping-floor", "Tipping floor", 0.25, 0.55),
    ("waste-bunker", "Bunker and crane", 0.40, 0.40),
    ("furnace", "Furnace", 0.55, 0.40),
    ("boiler-turbine", "Boiler and turbine", 0.68, 0.22),
    ("flue-gas", "Flue gas treatment", 0.78, 0.50),
    ("ash-handling", "Ash handling", 0.58, 0.72),
    ("control-room", "Control room", 0.38, 0.80),
    ("stack", "Stack", 0.92, 0.30),
)

# Panoramas: the things drawn around the viewer, at their yaw (degrees).
PANORAMAS: dict[str, tuple[tuple[str, float, tuple[int, int, int]], ...]] = {
    "tipping-floor": (
        ("Bunker gates 1-6", 0.0, (120, 120, 135)),
        ("Trucks in", 120.0, (70, 110, 160)),
        ("Exit", -120.0, (160, 120, 60)),
    ),
    "furnace": (
        ("Grate furnace", 0.0, (170, 70, 40)),
        ("Feed hopper", 90.0, (110, 110, 110)),
        ("To the boiler", -90.0, (90, 90, 140)),
    ),
    "flue-gas": (
        ("Bag filter", 0.0, (130, 130, 150)),
        ("Scrubber", 100.0, (80, 130, 150)),
        ("Catalytic reactor", -100.0, (110, 100, 80)),
    ),
    "control-room": (
        ("Plant overview screens", 0.0, (40, 60, 90)),
        ("Crane operators", 110.0, (60, 80, 70)),
        ("Window to the stack", -110.0, (120, 150, 180)),
    ),
}

PHOTOS: dict[str, tuple[str, ...]] = {
    "weighbridge": ("Truck on the weighbridge", "Weighing terminal"),
    "boiler-turbine": ("Boiler drum", "Turbine generator"),
    "ash-handling": ("Bottom ash conveyor",),
}

CLIPS: dict[str, tuple[str, ...]] = {
    "waste-bunker": (
        "The crane grab opens over the bunker",
        "It mixes the waste and feeds the hopper",
    ),
    "stack": ("The stack: 100 m, clean flue gas", "Emissions are measured all the time"),
}
CLIP_SECONDS_PER_SLIDE = 2.5

# The clips' captions, one cue per slide: English (the slides' words) and Japanese.
CLIP_CAPTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "waste-bunker": {
        "en": CLIPS["waste-bunker"],
        "ja": ("クレーンのグラブがバンカの上で開きます", "ごみをかくはんし、ホッパへ投入します"),
    },
    "stack": {
        "en": CLIPS["stack"],
        "ja": (
            "高さ100メートルの煙突から、きれいになったガスが出ます",
            "排出ガスは常時測定されています",
        ),
    },
}
CLIP_SRT = {("stack", "ja")}  # written as SubRip, to show that SRT is accepted too


def clip_captions_text(uid: str, language: str) -> str:
    """A clip's captions in WebVTT (or SRT, see ``CLIP_SRT``): one cue per slide."""
    srt = (uid, language) in CLIP_SRT
    blocks = [] if srt else ["WEBVTT"]
    for index, line in enumerate(CLIP_CAPTIONS[uid][language]):
        start = format_timestamp(index * CLIP_SECONDS_PER_SLIDE + 0.2)
        end = format_timestamp((index + 1) * CLIP_SECONDS_PER_SLIDE - 0.2)
        if srt:
            timing = f"{start} --> {end}".replace(".", ",")
            blocks.append(f"{index + 1}\n{timing}\n{line}")
        else:
            blocks.append(f"{start} --> {end}\n{line}")
    return "\n\n".join(blocks) + "\n"


def clip_caption_path(uid: str, language: str) -> str:
    return f"{FOLDER}/{uid}.{language}.{'srt' if (uid, language) in CLIP_SRT else 'vtt'}"


def write_clip_captions(root: Path) -> list[str]:
    """Write the clips' caption files under ``root``; the paths written."""
    written = []
    for uid, languages in CLIP_CAPTIONS.items():
        for language in languages:
            relative = clip_caption_path(uid, language)
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(clip_captions_text(uid, language), encoding="utf-8", newline="\n")
            written.append(relative)
    return written


def _panorama(dest: Path, things: tuple[tuple[str, float, tuple[int, int, int]], ...]) -> None:
    width, height = 2048, 1024
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    horizon = height // 2
    for y in range(height):  # a hall: light ceiling, grey walls, dark floor
        t = y / height
        if y < horizon * 0.6:
            color = (int(200 - 40 * t), int(205 - 40 * t), int(210 - 30 * t))
        elif y < horizon * 1.15:
            color = (150, 155, 160)
        else:
            color = (int(90 - 30 * t), int(90 - 30 * t), int(95 - 30 * t))
        draw.line([(0, y), (width, y)], fill=color)
    for lon in range(0, 360, 30):  # pillars every 30°
        x = round(lon / 360 * width)
        draw.rectangle(
            [x - 6, int(horizon * 0.6), x + 6, int(horizon * 1.15)], fill=(110, 115, 120)
        )
    font = load_font(height // 22)
    for label, yaw, color in things:
        centre = (yaw + 180) % 360 / 360 * width  # the image's centre faces yaw 0
        half = width * 0.06
        box = [centre - half, horizon - height * 0.16, centre + half, horizon + height * 0.08]
        for shift in (-width, 0, width):  # drawn across the seam where needed
            shifted = [box[0] + shift, box[1], box[2] + shift, box[3]]
            draw.rectangle(shifted, fill=color, outline=(255, 255, 255), width=3)
            draw.text(
                (centre + shift, horizon - height * 0.2),
                label,
                font=font,
                fill=(20, 20, 20),
                anchor="mb",
            )
    img.save(dest, quality=72, optimize=True)


def _photo(dest: Path, caption: str, hue: int) -> None:
    width, height = 960, 640
    img = Image.new("RGB", (width, height), (40 + hue % 80, 70, 90 + hue % 60))
    draw = ImageDraw.Draw(img)
    for i in range(6):  # some machinery: boxes and pipes
        x = 80 + i * 140
        draw.rectangle([x, 220 + (i % 3) * 30, x + 100, 520], fill=(150, 150, 160 - i * 10))
        draw.line([(x + 50, 220), (x + 50, 80)], fill=(200, 200, 200), width=10)
    font = load_font(36)
    draw.rectangle([0, height - 80, width, height], fill=(0, 0, 0))
    draw.text((width / 2, height - 40), caption, font=font, fill=(255, 255, 255), anchor="mm")
    img.save(dest, quality=70, optimize=True)


def _map(dest: Path) -> None:
    width, height = 1000, 600
    img = Image.new("RGB", (width, height), (236, 240, 232))
    draw = ImageDraw.Draw(img)
    font = load_font(20)
    draw.rectangle([150, 120, 870, 520], fill=(210, 214, 206), outline=(90, 90, 90), width=4)
    draw.line([(0, 560), (1000, 560)], fill=(160, 160, 160), width=30)  # the road
    for _uid, label, x, y in STOPS:
        cx, cy = x * width, y * height
        draw.rectangle(
            [cx - 70, cy - 45, cx + 70, cy + 45], fill=(250, 250, 246), outline=(120, 120, 120)
        )
        draw.text((cx, cy + 62), label, font=font, fill=(40, 40, 40), anchor="mm")
    stack_x = 0.92 * width
    draw.ellipse([stack_x - 20, 160, stack_x + 20, 200], fill=(150, 150, 150))
    draw.text((20, 20), "Waste-to-energy plant (sample)", font=load_font(26), fill=(30, 30, 30))
    arrow = [(60, 575), (120, 575)]
    draw.line(arrow, fill=(30, 30, 30), width=4)
    draw.polygon([(120, 567), (132, 575), (120, 583)], fill=(30, 30, 30))
    img.save(dest, optimize=True)


def build_tour_media(root: Path) -> list[str]:
    """Write the tour's files under ``root`` (the package folder); the paths written."""
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    _map(folder / "map.png")
    written.append(f"{FOLDER}/map.png")
    for uid, things in PANORAMAS.items():
        _panorama(folder / f"{uid}.jpg", things)
        written.append(f"{FOLDER}/{uid}.jpg")
    for uid, captions in PHOTOS.items():
        for index, caption in enumerate(captions):
            _photo(folder / f"{uid}-{index + 1}.jpg", caption, sum(map(ord, uid)) % 97)
            written.append(f"{FOLDER}/{uid}-{index + 1}.jpg")
    for uid, slides in CLIPS.items():
        make_slides_video(
            folder / f"{uid}.mp4",
            slides,
            CLIP_SECONDS_PER_SLIDE,
            width=640,
            height=360,
            audio="silence",
            fps=10,
        )
        written.append(f"{FOLDER}/{uid}.mp4")
    written += write_clip_captions(root)
    return written
