"""What a file really is, decided by its content and never by its name.

Uploads arrive with whatever name and MIME type the browser invents, so every check
here opens the bytes: PyAV for video, Pillow for images, pypdf for PDFs, and a look
at the first bytes for captions. Failures raise :class:`MediaError`, whose
``message`` is a lazily translated sentence that a view can show as it is.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass
from typing import Literal

import av
import pypdf
import pypdf.errors
from flask_babel import lazy_gettext as _l
from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

StrPath = str | os.PathLike[str]
Kind = Literal["video", "image", "pdf", "vtt", "srt", "unknown"]

# A 360° photo from a consumer camera is 20-72 megapixels; 100 leaves room and still
# refuses the small files that claim gigapixel sizes to exhaust memory when decoded.
MAX_IMAGE_PIXELS = 100_000_000
IMAGE_FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}

# A video stream that yields no picture within this many packets is treated as broken;
# the bound keeps a hostile file from making the probe read all of it.
_MAX_PACKETS_FOR_FIRST_FRAME = 500


class MediaError(ValueError):
    """A file that cannot be used as the media it claims to be.

    ``message`` is for the user (lazily translated); ``detail`` is for the log (tool
    output, paths) and is never meant to be shown.
    """

    def __init__(self, message: object, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return str(self.message)

    def __repr__(self) -> str:
        return f"MediaError({str(self.message)!r}, detail={self.detail!r})"


def _not_video(reason: object, detail: str | None = None) -> MediaError:
    return MediaError(_l("The file is not a playable video (%(reason)s).", reason=reason), detail)


# --- video ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    duration: float  # seconds
    width: int  # as displayed, i.e. after the rotation a phone records
    height: int
    video_codec: str  # "h264", "hevc", "vp9", ...
    audio_codec: str | None  # None when the file has no audio track
    bit_rate: int | None  # bits per second over the whole file, when known
    size: int  # bytes on disk

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


def _is_still_image_format(format_name: str) -> bool:
    # FFmpeg happily opens a PNG or JPEG as a one-frame "video"; those are images.
    names = set(format_name.split(","))
    return any(n == "image2" or n.endswith("_pipe") for n in names)


def probe_video(path: StrPath) -> VideoInfo:
    """Open ``path`` with FFmpeg (through PyAV) and describe its first video stream.

    The file must hold a video stream that decodes at least one picture and must last
    a positive time; anything else raises :class:`MediaError`.
    """
    size = os.path.getsize(path)
    # A file object, not the path: FFmpeg would otherwise let the extension sway its
    # guess of the container, and the name is exactly what we must not trust.
    with open(path, "rb") as fh:
        try:
            container = av.open(fh, mode="r")
        except (av.FFmpegError, ValueError, OSError) as exc:
            raise _not_video(_l("unknown or damaged format"), repr(exc)) from exc
        with container:
            return _describe(container, size)


def _describe(container: av.container.InputContainer, size: int) -> VideoInfo:
    if _is_still_image_format(container.format.name):
        raise _not_video(_l("it is a still image"), container.format.name)
    if not container.streams.video:
        if container.streams.audio:
            raise _not_video(_l("it has sound but no picture"))
        raise _not_video(_l("it has no video track"))
    stream = container.streams.video[0]
    audio = container.streams.audio[0] if container.streams.audio else None

    # Decode until the first picture, then keep demuxing (cheap: no decoding) only if
    # the container does not state its duration, as browser-recorded WebM often does not.
    frame = None
    end = 0.0
    stated = _duration(container, stream)
    try:
        for count, packet in enumerate(container.demux(stream)):
            if frame is None:
                if count >= _MAX_PACKETS_FOR_FIRST_FRAME:
                    break
                for decoded in packet.decode():
                    frame = decoded
                    break
                if frame is not None and stated:
                    break
            if packet.pts is not None and packet.time_base is not None:
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    except (av.FFmpegError, ValueError, OSError) as exc:
        if frame is None:
            raise _not_video(_l("the picture cannot be decoded"), repr(exc)) from exc
        log.info("demuxing stopped early after the first frame: %r", exc)
    if frame is None:
        raise _not_video(_l("the picture cannot be decoded"))

    duration = stated or end
    if not duration or duration <= 0:
        raise _not_video(_l("its length is zero or unknown"))

    width, height = frame.width, frame.height
    if abs(getattr(frame, "rotation", 0) or 0) % 180 == 90:
        width, height = height, width  # players rotate phone videos; so do renditions

    return VideoInfo(
        duration=duration,
        width=width,
        height=height,
        video_codec=stream.codec_context.codec.canonical_name,
        audio_codec=audio.codec_context.codec.canonical_name if audio is not None else None,
        bit_rate=container.bit_rate or None,
        size=size,
    )


def _duration(container: av.container.InputContainer, stream: av.video.VideoStream) -> float:
    if container.duration:
        return container.duration / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return 0.0


# --- images --------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInfo:
    width: int  # as displayed, after EXIF orientation
    height: int
    format: str  # "jpeg", "png" or "webp"

    @property
    def mime_type(self) -> str:
        return f"image/{self.format}"


def probe_image(path: StrPath, *, max_pixels: int = MAX_IMAGE_PIXELS) -> ImageInfo:
    """Check that ``path`` is a JPEG, PNG or WebP image of at most ``max_pixels``."""
    not_image = _l("The file is not a JPEG, PNG or WebP image.")
    # Pillow's own bomb guard is a process-wide setting; leave it alone and apply ours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as img:
                fmt = IMAGE_FORMATS.get(img.format or "")
                if fmt is None:
                    raise MediaError(not_image, f"format {img.format}")
                width, height = img.size
                if width * height > max_pixels:
                    raise _too_large(width, height, max_pixels)
                img.verify()  # PNG: every chunk checksum up to IEND
            # verify() leaves the image unusable, hence a second (cheap, lazy) open.
            with Image.open(path) as img:
                if _exif_rotates(img):
                    width, height = height, width
                if fmt != "png":
                    # verify() does next to nothing for JPEG and WebP: decode to catch a
                    # truncated upload (JPEG at 1/8 scale, which is cheap).
                    if fmt == "jpeg":
                        img.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                    img.load()
        except Image.DecompressionBombError as exc:
            raise MediaError(_bomb_message(max_pixels), repr(exc)) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            if isinstance(exc, MediaError):
                raise
            raise MediaError(not_image, repr(exc)) from exc
    return ImageInfo(width=width, height=height, format=fmt)


def _bomb_message(max_pixels: int) -> object:
    return _l(
        "The image is too large: at most %(megapixels)s megapixels are accepted.",
        megapixels=max_pixels // 1_000_000 or 1,
    )


def _too_large(width: int, height: int, max_pixels: int) -> MediaError:
    return MediaError(_bomb_message(max_pixels), f"{width}x{height}")


def _exif_rotates(img: Image.Image) -> bool:
    try:
        orientation = img.getexif().get(0x0112, 1)  # EXIF Orientation
    except Exception:  # noqa: BLE001 - a broken EXIF block must not reject a good image
        return False
    return orientation in (5, 6, 7, 8)


def is_equirectangular(info: ImageInfo, tolerance: float = 0.01) -> bool:
    """True when the image has the 2:1 shape of a 360° equirectangular panorama."""
    if info.height <= 0:
        return False
    return abs(info.width - 2 * info.height) <= tolerance * 2 * info.height


# --- PDF -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PdfInfo:
    pages: int


def probe_pdf(path: StrPath) -> PdfInfo:
    """Check the ``%PDF-`` signature and that pypdf can read the page tree."""
    not_pdf = _l("The file is not a readable PDF document.")
    with open(path, "rb") as fh:
        if not fh.read(5) == b"%PDF-":
            raise MediaError(not_pdf, "no %PDF- signature")
    try:
        reader = pypdf.PdfReader(path, strict=False)
        # Many PDFs are encrypted only to restrict printing or editing, with an empty
        # password that every viewer tries first (AES needs pypdf[crypto]); those are fine.
        if reader.is_encrypted and not reader.decrypt(""):
            raise MediaError(_l("The PDF is protected by a password; upload it without one."))
        pages = len(reader.pages)
    except MediaError:
        raise
    except pypdf.errors.DependencyError:
        raise  # a missing library is the server's fault, not the file's
    except Exception as exc:  # noqa: BLE001 - pypdf raises many unrelated types on bad input
        raise MediaError(not_pdf, repr(exc)) from exc
    if pages < 1:
        raise MediaError(not_pdf, "no pages")
    return PdfInfo(pages=pages)


# --- sniffing ------------------------------------------------------------------------

_SRT_TIMING = re.compile(r"^\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}")
_VTT_HEADER = re.compile(r"WEBVTT(?:[ \t\r\n]|$)")


def sniff(path: StrPath) -> Kind:
    """Say what kind of media ``path`` holds, from its bytes alone.

    A cheap classifier that picks which probe to run; it does not prove the file is
    usable (a truncated MP4 may still sniff as "video"): the ``probe_*`` functions do.
    """
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if (
        head.startswith(b"\xff\xd8\xff")
        or head.startswith(b"\x89PNG\r\n\x1a\n")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    ):
        return "image"
    text = _as_text(head)
    if text is not None:
        if _VTT_HEADER.match(text):
            return "vtt"
        if _looks_like_srt(text):
            return "srt"
        return "unknown"
    return "video" if _has_video_stream(path) else "unknown"


def _as_text(head: bytes) -> str | None:
    """Decode the start of a caption file, or None when it is binary."""
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if head.startswith(bom):
            return head[len(bom) :].decode(codec, errors="replace")
    if b"\x00" in head:
        return None
    # Captions made on Windows are often Latin-1 or Shift_JIS; the markers we look for
    # are ASCII, so undecodable bytes (or a character cut at 4096) do not matter.
    text = head.decode("utf-8", errors="replace")
    if text.count("\ufffd") > len(text) // 4:
        return None
    return text


def _looks_like_srt(text: str) -> bool:
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line] + ["", ""]
    return lines[0].isdigit() and bool(_SRT_TIMING.match(lines[1]))


def _has_video_stream(path: StrPath) -> bool:
    try:
        with open(path, "rb") as fh, av.open(fh, mode="r") as container:
            return bool(container.streams.video) and not _is_still_image_format(
                container.format.name
            )
    except (av.FFmpegError, ValueError, OSError):
        return False


__all__ = [
    "MAX_IMAGE_PIXELS",
    "ImageInfo",
    "Kind",
    "MediaError",
    "PdfInfo",
    "VideoInfo",
    "is_equirectangular",
    "probe_image",
    "probe_pdf",
    "probe_video",
    "sniff",
]
