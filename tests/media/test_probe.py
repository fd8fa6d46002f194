"""Content-based checks of uploads: video, images, PDFs, captions."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import pypdf
import pytest
from flask_babel.speaklater import LazyString
from PIL import Image

from lms.media.ffmpeg import ffmpeg_exe
from lms.media.probe import (
    ImageInfo,
    MediaError,
    is_equirectangular,
    probe_image,
    probe_pdf,
    probe_video,
    sniff,
)
from lms.media.synth import (
    make_equirectangular_image,
    make_pdf,
    make_slides_video,
    make_test_audio,
    make_test_video,
)

VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHello\n"
SRT = "1\n00:00:00,000 --> 00:00:02,000\nHello\n\n2\n00:00:02,000 --> 00:00:04,000\nBye\n"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One of each kind of file, generated once for the module."""
    d = tmp_path_factory.mktemp("probe")
    files = {
        "video": make_test_video(d / "video.mp4", seconds=3, width=320, height=180),
        "silent": make_test_video(
            d / "silent.mp4", seconds=2, width=160, height=90, with_audio=False
        ),
        "audio": make_test_audio(d / "audio.m4a", seconds=2),
        "pano": make_equirectangular_image(d / "pano.jpg", width=512),
        "pdf": make_pdf(d / "doc.pdf", "Page one\fPage two"),
    }
    Image.new("RGB", (40, 30), "red").save(d / "small.png")
    Image.new("RGB", (40, 30), "blue").save(d / "small.webp")
    files["png"] = d / "small.png"
    files["webp"] = d / "small.webp"
    return files


def write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# --- video ---------------------------------------------------------------------------


def test_probe_generated_video(media: dict[str, Path]) -> None:
    info = probe_video(media["video"])
    assert info.duration == pytest.approx(3.0, abs=0.1)
    assert (info.width, info.height) == (320, 180)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.has_audio
    assert info.size == media["video"].stat().st_size
    assert info.bit_rate and info.bit_rate > 0


def test_probe_video_without_sound(media: dict[str, Path]) -> None:
    info = probe_video(media["silent"])
    assert info.audio_codec is None and not info.has_audio
    assert info.duration == pytest.approx(2.0, abs=0.1)


def test_probe_video_without_stated_duration(tmp_path: Path) -> None:
    # Browsers' MediaRecorder writes WebM like this: streamed, no duration in the header.
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi"]
    cmd += ["-i", "testsrc2=size=160x90:rate=25:duration=2", "-c:v", "libvpx", "-b:v", "200k"]
    cmd += ["-deadline", "realtime", "-f", "webm", "pipe:1"]
    path = tmp_path / "recorded.webm"
    with open(path, "wb") as out:
        subprocess.run(cmd, stdout=out, check=True)
    info = probe_video(path)
    assert info.video_codec == "vp8"
    assert info.duration == pytest.approx(2.0, abs=0.1)


def test_probe_judges_by_content_not_name(media: dict[str, Path], tmp_path: Path) -> None:
    renamed = tmp_path / "lecture.txt"
    renamed.write_bytes(media["video"].read_bytes())
    assert probe_video(renamed).video_codec == "h264"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda m, p: write(p, "just some notes\n" * 50), id="text"),
        pytest.param(lambda m, p: write(p, m["video"].read_bytes()[:2048]), id="truncated"),
        pytest.param(lambda m, p: write(p, m["png"].read_bytes()), id="png"),
        pytest.param(lambda m, p: write(p, m["pano"].read_bytes()), id="jpeg"),
        pytest.param(lambda m, p: write(p, m["audio"].read_bytes()), id="audio-only"),
        pytest.param(lambda m, p: write(p, b""), id="empty"),
    ],
)
def test_rejects_what_is_not_a_playable_video(media, tmp_path: Path, make) -> None:
    path = make(media, tmp_path / "lecture.mp4")
    with pytest.raises(MediaError) as caught:
        probe_video(path)
    assert "not a playable video" in str(caught.value)


def test_media_error_message_is_lazy_and_readable_without_an_app(media) -> None:
    with pytest.raises(MediaError) as caught:
        probe_video(media["audio"])
    assert isinstance(caught.value.message, LazyString)
    assert str(caught.value) == ("The file is not a playable video (it has sound but no picture).")
    assert isinstance(caught.value, ValueError)


def test_slides_video_lasts_one_period_per_slide(tmp_path: Path) -> None:
    path = make_slides_video(
        tmp_path / "slides.mp4",
        ["Welcome", "焼却工場 (incineration plant)"],
        1,
        width=320,
        height=180,
    )
    info = probe_video(path)
    assert info.duration == pytest.approx(2.0, abs=0.15)
    assert (info.width, info.height, info.audio_codec) == (320, 180, "aac")


# --- images --------------------------------------------------------------------------


def test_png_jpeg_webp_accepted(media: dict[str, Path]) -> None:
    assert probe_image(media["png"]) == ImageInfo(40, 30, "png")
    assert probe_image(media["webp"]) == ImageInfo(40, 30, "webp")
    info = probe_image(media["pano"])
    assert info == ImageInfo(512, 256, "jpeg")
    assert info.mime_type == "image/jpeg"


def test_image_judged_by_content(media: dict[str, Path], tmp_path: Path) -> None:
    jpeg_named_png = write(tmp_path / "photo.png", media["pano"].read_bytes())
    assert probe_image(jpeg_named_png).format == "jpeg"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda m, p: write(p, "not an image at all"), id="text"),
        pytest.param(lambda m, p: write(p, m["png"].read_bytes()[:60]), id="truncated-png"),
        pytest.param(lambda m, p: write(p, m["pano"].read_bytes()[:3000]), id="truncated-jpeg"),
        pytest.param(lambda m, p: write(p, m["pdf"].read_bytes()), id="pdf"),
    ],
)
def test_rejects_what_is_not_an_image(media, tmp_path: Path, make) -> None:
    with pytest.raises(MediaError, match="not a JPEG, PNG or WebP image"):
        probe_image(make(media, tmp_path / "picture.png"))


def test_rejects_formats_outside_the_list(tmp_path: Path) -> None:
    Image.new("RGB", (10, 10)).save(tmp_path / "anim.gif")
    with pytest.raises(MediaError, match="not a JPEG, PNG or WebP"):
        probe_image(tmp_path / "anim.gif")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size but holds no pixels: what a decompression bomb starts as."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_rejects_decompression_bomb(tmp_path: Path) -> None:
    bomb = write(tmp_path / "bomb.png", _png_header_only(30_000, 30_000))  # 900 megapixels
    with pytest.raises(MediaError, match="too large: at most 100 megapixels"):
        probe_image(bomb)
    just_over = write(tmp_path / "big.png", _png_header_only(12_000, 9_000))  # 108 megapixels
    with pytest.raises(MediaError, match="too large"):
        probe_image(just_over)


def test_pixel_cap_is_adjustable(media: dict[str, Path]) -> None:
    with pytest.raises(MediaError, match="too large"):
        probe_image(media["png"], max_pixels=1000)


def test_exif_rotation_gives_displayed_size(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.new("RGB", (40, 20)).save(tmp_path / "phone.jpg", exif=exif)
    assert probe_image(tmp_path / "phone.jpg") == ImageInfo(20, 40, "jpeg")


def test_equirectangular_detection(media: dict[str, Path]) -> None:
    assert is_equirectangular(probe_image(media["pano"]))
    assert is_equirectangular(ImageInfo(6720, 3360, "jpeg"))
    assert is_equirectangular(ImageInfo(2040, 1024, "jpeg"))  # within 1%
    assert not is_equirectangular(ImageInfo(1920, 1080, "jpeg"))
    assert not is_equirectangular(ImageInfo(2000, 1024, "jpeg"))
    assert not is_equirectangular(probe_image(media["png"]))


# --- PDF -----------------------------------------------------------------------------


def test_pdf_accepted_with_page_count(media: dict[str, Path]) -> None:
    assert probe_pdf(media["pdf"]).pages == 2


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"Minutes of the meeting\n", id="text"),
        pytest.param(b"%PDF-1.7\n" + b"\x00garbage" * 100, id="header-then-garbage"),
        pytest.param(b"", id="empty"),
    ],
)
def test_rejects_what_is_not_a_pdf(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(MediaError, match="not a readable PDF"):
        probe_pdf(write(tmp_path / "handout.pdf", data))


def _encrypted_copy(src: Path, dest: Path, user_password: str) -> Path:
    writer = pypdf.PdfWriter(clone_from=src)
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-128")
    with open(dest, "wb") as fh:
        writer.write(fh)
    return dest


def test_rejects_password_protected_pdf(media: dict[str, Path], tmp_path: Path) -> None:
    locked = _encrypted_copy(media["pdf"], tmp_path / "locked.pdf", user_password="secret")
    with pytest.raises(MediaError, match="protected by a password"):
        probe_pdf(locked)


def test_accepts_pdf_restricted_with_owner_password_only(media, tmp_path: Path) -> None:
    # "No printing" PDFs are encrypted with an empty user password: viewers open them.
    restricted = _encrypted_copy(media["pdf"], tmp_path / "restricted.pdf", user_password="")
    assert probe_pdf(restricted).pages == 2


# --- sniffing ------------------------------------------------------------------------


def test_sniff_each_kind(media: dict[str, Path], tmp_path: Path) -> None:
    # Every name is misleading on purpose: only the bytes count.
    assert sniff(write(tmp_path / "a.pdf", media["video"].read_bytes())) == "video"
    assert sniff(write(tmp_path / "b.mp4", media["png"].read_bytes())) == "image"
    assert sniff(write(tmp_path / "c.txt", media["pano"].read_bytes())) == "image"
    assert sniff(media["webp"]) == "image"
    assert sniff(write(tmp_path / "d.jpg", media["pdf"].read_bytes())) == "pdf"
    assert sniff(write(tmp_path / "e.srt", VTT)) == "vtt"
    assert sniff(write(tmp_path / "f.vtt", SRT)) == "srt"
    assert sniff(write(tmp_path / "g.mp4", "hello\n")) == "unknown"


def test_sniff_caption_variants(tmp_path: Path) -> None:
    assert sniff(write(tmp_path / "bom.vtt", b"\xef\xbb\xbf" + VTT.encode())) == "vtt"
    assert sniff(write(tmp_path / "crlf.vtt", VTT.replace("\n", "\r\n"))) == "vtt"
    assert sniff(write(tmp_path / "utf16.srt", SRT.encode("utf-16"))) == "srt"
    assert sniff(write(tmp_path / "crlf.srt", "\r\n" + SRT.replace("\n", "\r\n"))) == "srt"
    assert (
        sniff(write(tmp_path / "sjis.srt", SRT.replace("Hello", "こんにちは").encode("shift_jis")))
        == "srt"
    )
    assert sniff(write(tmp_path / "x.vtt", "WEBVTTX\n")) == "unknown"
    assert sniff(write(tmp_path / "y.srt", "1\nnot a timing\n")) == "unknown"


def test_sniff_unknown_binary(media: dict[str, Path], tmp_path: Path) -> None:
    assert sniff(media["audio"]) == "unknown"  # sound without picture is not a video
    assert sniff(write(tmp_path / "empty.mp4", b"")) == "unknown"
    assert sniff(write(tmp_path / "noise.mp4", bytes(range(256)) * 16)) == "unknown"
