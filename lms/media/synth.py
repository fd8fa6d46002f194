"""Generated media for tests and for the sample course: no binary files in the repo.

Text is drawn with Pillow rather than FFmpeg's ``drawtext`` so the result does not
depend on how FFmpeg was built or on fontconfig. Japanese (or any CJK) text needs a
CJK font; when none is installed, Pillow's built-in font is used and such glyphs come
out as empty boxes: the file is still valid, only less pretty. Pass ``font_path`` to
choose a font explicitly.
"""

from __future__ import annotations

import glob
import logging
import os
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

from lms.media.ffmpeg import run_ffmpeg
from lms.media.probe import StrPath

log = logging.getLogger(__name__)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
AudioKind = Literal["tone", "silence"] | None

_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "C:/Windows/Fonts",
)
# File names of common fonts with Japanese glyphs (Linux packages, macOS, Windows).
_CJK_FONT_PATTERNS = (
    "NotoSansCJK*",
    "NotoSansJP*",
    "NotoSerifCJK*",
    "SourceHanSans*",
    "ipaexg*",
    "ipag*",
    "TakaoGothic*",
    "VL-Gothic*",
    "fonts-japanese-gothic*",
    "DroidSansFallback*",
    "Hiragino*",
    "YuGoth*",
    "meiryo*",
    "msgothic*",
)
_LATIN_FONT_PATTERNS = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf", "arial.ttf")


@cache
def _find_font_file(patterns: tuple[str, ...]) -> str | None:
    for pattern in patterns:
        for folder in _FONT_DIRS:
            found = glob.glob(
                os.path.join(os.path.expanduser(folder), "**", pattern), recursive=True
            )
            if found:
                return sorted(found)[0]
    return None


def _needs_cjk(text: str) -> bool:
    # CJK radicals, kana, ideographs, Hangul and full-width forms start at U+2E80.
    return any(ord(ch) >= 0x2E80 for ch in text)


def load_font(size: int, text: str = "", font_path: StrPath | None = None) -> Font:
    """A font able to draw ``text`` if one is installed, else Pillow's built-in one."""
    if font_path is not None:
        return ImageFont.truetype(os.fspath(font_path), size)
    path = None
    if _needs_cjk(text):
        path = _find_font_file(_CJK_FONT_PATTERNS)
        if path is None:
            log.warning("no CJK font installed: Japanese text will show as boxes")
    path = path or _find_font_file(_LATIN_FONT_PATTERNS)
    if path is not None:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            log.warning("cannot load font %s; using Pillow's default", path)
    return ImageFont.load_default(size=size)


def wrap_text(text: str, font: Font, max_width: float) -> list[str]:
    """Greedy line breaking at spaces, or between characters for CJK (no spaces)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= max_width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            for ch in word:  # a word too long for a line: break it anywhere
                if line and font.getlength(line + ch) > max_width:
                    lines.append(line)
                    line = ""
                line += ch
        lines.append(line)
    return lines


def render_text_image(
    text: str,
    size: tuple[int, int],
    *,
    background: tuple[int, ...] = (24, 64, 96),
    color: tuple[int, ...] = (255, 255, 255),
    font_path: StrPath | None = None,
    mode: str = "RGB",
) -> Image.Image:
    """An image with ``text`` centred, wrapped and sized to the picture."""
    width, height = size
    img = Image.new(mode, size, background)
    font = load_font(max(12, height // 12), text, font_path)
    lines = wrap_text(text, font, width * 0.85)
    draw = ImageDraw.Draw(img)
    line_height = font.getbbox("Ag")[3] * 1.4 if lines else 0
    y = (height - line_height * len(lines)) / 2
    for line in lines:
        draw.text(((width - font.getlength(line)) / 2, y), line, font=font, fill=color)
        y += line_height
    return img


# --- video ---------------------------------------------------------------------------


def _audio_input(kind: AudioKind, seconds: float) -> list[str]:
    if kind == "tone":
        # A quiet 440 Hz tone: audible enough to tell the track plays, not shrill.
        source = f"sine=frequency=440:sample_rate=48000:duration={seconds},volume=0.2"
    elif kind == "silence":
        source = f"anullsrc=channel_layout=mono:sample_rate=48000,atrim=duration={seconds}"
    else:
        return []
    return ["-f", "lavfi", "-i", source]


def _h264_output(dest: StrPath, seconds: float, *, with_audio: bool) -> list[str]:
    args = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    if with_audio:
        args += ["-c:a", "aac", "-b:a", "96k"]
    # No fast start on purpose: a camera file has its index at the end, and the
    # transcoder must be the one that moves it.
    return [*args, "-t", f"{seconds:g}", "-f", "mp4", os.fspath(dest)]


def make_test_video(
    dest: StrPath,
    *,
    seconds: float = 3,
    width: int = 640,
    height: int = 360,
    with_audio: bool = True,
    text: str | None = None,
    fps: int = 25,
) -> Path:
    """An H.264/AAC MP4 test pattern (FFmpeg ``testsrc2``) with a 440 Hz tone.

    ``text`` is drawn over the pattern (with Pillow, see the module notes).
    """
    args = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"]
    args += _audio_input("tone" if with_audio else None, seconds)
    with tempfile.TemporaryDirectory() as tmp:
        if text:
            overlay = os.path.join(tmp, "text.png")
            band = (width, max(2, height // 4))
            render_text_image(text, band, background=(0, 0, 0, 160), mode="RGBA").save(overlay)
            overlay_input = 2 if with_audio else 1
            args += ["-i", overlay, "-filter_complex", f"[0:v][{overlay_input}:v]overlay=0:H-h[v]"]
            args += ["-map", "[v]"] + (["-map", "1:a"] if with_audio else [])
        run_ffmpeg([*args, *_h264_output(dest, seconds, with_audio=with_audio)])
    return Path(dest)


def make_test_audio(dest: StrPath, *, seconds: float = 2) -> Path:
    """An AAC-only M4A file (no picture): what a video probe must refuse."""
    args = [*_audio_input("tone", seconds), "-c:a", "aac", "-b:a", "64k"]
    run_ffmpeg([*args, "-t", f"{seconds:g}", "-f", "mp4", os.fspath(dest)])
    return Path(dest)


def make_slides_video(
    dest: StrPath,
    slides: Sequence[str],
    seconds_per_slide: float = 4,
    *,
    width: int = 1280,
    height: int = 720,
    audio: AudioKind = "tone",
    font_path: StrPath | None = None,
    fps: int = 10,
) -> Path:
    """A lecture-like MP4: one text slide after another, with a tone or silence."""
    if not slides:
        raise ValueError("at least one slide is needed")
    seconds = seconds_per_slide * len(slides)
    with tempfile.TemporaryDirectory() as tmp:
        for i, slide in enumerate(slides):
            img = render_text_image(slide, (width, height), font_path=font_path)
            img.save(os.path.join(tmp, f"slide{i:04d}.png"))
        args = ["-framerate", f"1/{seconds_per_slide:g}", "-i", os.path.join(tmp, "slide%04d.png")]
        args += _audio_input(audio, seconds)
        # A key frame at each slide change so seeking to a slide is instant.
        args += [
            "-vf",
            f"fps={fps}",
            "-force_key_frames",
            f"expr:gte(t,n_forced*{seconds_per_slide:g})",
        ]
        run_ffmpeg([*args, *_h264_output(dest, seconds, with_audio=audio is not None)])
    return Path(dest)


# --- still images and documents ------------------------------------------------------


def make_equirectangular_image(dest: StrPath, width: int = 2048, *, quality: int = 85) -> Path:
    """A 2:1 panorama (sky, horizon, ground, a 15° grid, N/E/S/W marks) for 360° viewers.

    The format follows the file extension (.jpg, .png or .webp).
    """
    height = width // 2
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    horizon = height // 2
    for y in range(height):  # vertical gradient: blue sky above, green-brown ground below
        t = y / height
        if y < horizon:
            color = (int(90 + 110 * t), int(150 + 80 * t), 235)
        else:
            color = (int(120 - 60 * t), int(140 - 50 * t), int(70 - 30 * t))
        draw.line([(0, y), (width, y)], fill=color)
    line = max(1, width // 1024)
    for lon in range(0, 360, 15):
        x = round(lon / 360 * width)
        draw.line([(x, 0), (x, height)], fill=(255, 255, 255), width=line)
    for lat in range(-75, 90, 15):
        y = round((90 - lat) / 180 * height)
        draw.line([(0, y), (width, y)], fill=(255, 255, 255), width=line * (3 if lat == 0 else 1))
    font = load_font(max(12, height // 16))
    for label, lon in (("N", 0), ("E", 90), ("S", 180), ("W", 270)):
        x = (lon + 180) % 360 / 360 * width  # the centre of the image faces north
        for wrapped in (x - width, x, x + width):  # "S" straddles the seam at the edges
            draw.text(
                (wrapped, horizon - height // 8), label, font=font, fill=(255, 40, 40), anchor="mm"
            )
    # A round mark the viewer should show undistorted straight ahead.
    r = height / 20
    cx, cy = width / 2, horizon - height / 4
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(255, 220, 0), width=line * 3)
    dest = Path(dest)
    if dest.suffix.lower() in (".jpg", ".jpeg", ".webp"):
        img.save(dest, quality=quality)
    else:
        img.save(dest)
    return dest


def make_pdf(dest: StrPath, text: str, *, dpi: int = 100, font_path: StrPath | None = None) -> Path:
    """A valid A4 PDF showing ``text``; a form feed (``\\f``) starts a new page.

    Pillow writes each page as a picture, so the text cannot be selected: fine for
    tests and handouts in the sample course, not a substitute for a real document.
    """
    size = (round(8.27 * dpi), round(11.69 * dpi))  # A4 in inches
    pages = [
        render_text_image(page, size, background=(255,), color=(0,), font_path=font_path, mode="L")
        for page in text.split("\f")
    ]
    pages[0].save(dest, "PDF", resolution=float(dpi), save_all=True, append_images=pages[1:])
    return Path(dest)


__all__ = [
    "load_font",
    "make_equirectangular_image",
    "make_pdf",
    "make_slides_video",
    "make_test_audio",
    "make_test_video",
    "render_text_image",
    "wrap_text",
]
