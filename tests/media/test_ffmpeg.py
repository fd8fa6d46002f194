"""Posters and renditions made with the bundled FFmpeg, checked by probing the output."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import av
import pytest
from PIL import Image

from lms.media.ffmpeg import (
    AUDIO_RENDITION,
    RENDITIONS,
    Rendition,
    ffmpeg_exe,
    make_poster,
    plan_renditions,
    run_ffmpeg,
    transcode,
    transcode_args,
)
from lms.media.probe import MediaError, VideoInfo, probe_image, probe_video
from lms.media.synth import make_test_video

R240, R360, R720 = RENDITIONS[:3]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s 640x360 H.264/AAC file with its index at the end, like a camera's."""
    return make_test_video(tmp_path_factory.mktemp("src") / "source.mp4", seconds=3)


def top_level_boxes(path: Path) -> list[str]:
    """The types of the top-level ISO-BMFF boxes, in file order."""
    boxes = []
    with open(path, "rb") as fh:
        end = os.fstat(fh.fileno()).st_size
        pos = 0
        while pos + 8 <= end:
            fh.seek(pos)
            size, kind = struct.unpack(">I4s", fh.read(8))
            if size == 1:  # 64-bit size follows the type
                size = struct.unpack(">Q", fh.read(8))[0]
            elif size == 0:  # box runs to the end of the file
                size = end - pos
            boxes.append(kind.decode("latin-1"))
            if size < 8:
                break
            pos += size
    return boxes


def assert_fast_start(path: Path) -> None:
    boxes = top_level_boxes(path)
    assert "moov" in boxes and "mdat" in boxes, boxes
    assert boxes.index("moov") < boxes.index("mdat"), boxes


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def info(height: int, *, width: int | None = None, audio: str | None = "aac") -> VideoInfo:
    return VideoInfo(
        duration=60.0,
        width=width or height * 16 // 9,
        height=height,
        video_codec="h264",
        audio_codec=audio,
        bit_rate=None,
        size=1,
    )


# --- the ladder ----------------------------------------------------------------------


def test_ffmpeg_binary_is_bundled() -> None:
    assert os.access(ffmpeg_exe(), os.X_OK)


def test_ladder() -> None:
    assert [(r.name, r.height, r.video_kbps) for r in RENDITIONS] == [
        ("240p", 240, 250),
        ("360p", 360, 600),
        ("720p", 720, 2500),
        ("audio", None, None),
    ]
    assert AUDIO_RENDITION.audio_kbps == 48 and AUDIO_RENDITION.extension == "m4a"
    assert AUDIO_RENDITION.mime_type == "audio/mp4"
    assert R240.extension == "mp4" and R240.mime_type == "video/mp4"


def names(plan: list[Rendition]) -> list[str]:
    return [r.name for r in plan]


def test_plan_1080p_gets_every_rung() -> None:
    assert names(plan_renditions(info(1080))) == ["240p", "360p", "720p", "audio"]


def test_plan_360p_stops_at_the_source() -> None:
    assert plan_renditions(info(360)) == [R240, R360, AUDIO_RENDITION]


def test_plan_small_source_keeps_its_height() -> None:
    plan = plan_renditions(info(200))
    assert names(plan) == ["240p", "audio"]
    assert plan[0].height == 200 and plan[0].video_kbps == 250
    assert plan_renditions(info(119, width=212))[0].height == 118  # even for H.264


def test_plan_near_miss_keeps_the_rung_without_upscaling() -> None:
    plan = plan_renditions(info(718, width=1280))  # a cropped screen recording
    assert names(plan) == ["240p", "360p", "720p", "audio"]
    assert plan[2].height == 718
    assert names(plan_renditions(info(600))) == ["240p", "360p", "audio"]


def test_plan_without_sound_has_no_audio_rendition() -> None:
    assert names(plan_renditions(info(1080, audio=None))) == ["240p", "360p", "720p"]


def test_transcode_arguments() -> None:
    args = transcode_args("in.mov", "out.mp4", R360)
    joined = " ".join(args)
    for expected in (
        "-c:v libx264",
        "-preset veryfast",
        "-profile:v main",
        "-pix_fmt yuv420p",
        "-b:v 600k -maxrate 600k -bufsize 1200k",
        "-c:a aac -b:a 96k",
        "-movflags +faststart",
        "-map_metadata -1",
    ):
        assert expected in joined
    assert "scale=-2:" in joined
    audio = " ".join(transcode_args("in.mov", "out.m4a", AUDIO_RENDITION))
    assert "-vn -c:a aac -b:a 48k" in audio and "+faststart" in audio


# --- transcoding ---------------------------------------------------------------------


def test_transcode_240p(source: Path, tmp_path: Path) -> None:
    progress: list[float] = []
    dest = tmp_path / "240p.mp4"
    result = transcode(
        source, dest, R240, duration=3.0, on_progress=progress.append, progress_interval=0.02
    )
    assert result == dest
    out = probe_video(dest)
    assert (out.video_codec, out.audio_codec) == ("h264", "aac")
    assert (out.width, out.height) == (426, 240)
    assert out.duration == pytest.approx(3.0, abs=0.15)
    assert out.bit_rate is not None and out.bit_rate < 450_000  # 250k video + 64k audio
    assert_fast_start(dest)
    assert progress, "no progress reported"
    assert progress == sorted(progress) and len(set(progress)) == len(progress)
    assert all(0.0 <= p <= 1.0 for p in progress)
    assert progress[-1] == pytest.approx(1.0)
    assert leftovers(tmp_path) == []
    with av.open(str(dest)) as container:
        assert container.streams.video[0].codec_context.profile == "Main"


def test_source_without_fast_start_is_fixed(source: Path) -> None:
    boxes = top_level_boxes(source)
    assert boxes.index("mdat") < boxes.index("moov")  # the test would prove nothing otherwise


def test_transcode_audio_only(source: Path, tmp_path: Path) -> None:
    progress: list[float] = []
    dest = tmp_path / "audio.m4a"
    transcode(source, dest, AUDIO_RENDITION, duration=3.0, on_progress=progress.append)
    with av.open(str(dest)) as container:
        assert not container.streams.video
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "aac"
        assert stream.codec_context.channels == 1
        assert container.duration / av.time_base == pytest.approx(3.0, abs=0.15)
    assert_fast_start(dest)
    assert progress[-1] == 1.0
    with pytest.raises(MediaError):
        probe_video(dest)


def test_transcode_never_upscales_a_small_silent_source(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "tiny.mp4", seconds=2, width=320, height=200, with_audio=False)
    plan = plan_renditions(probe_video(src))
    assert names(plan) == ["240p"]
    transcode(src, tmp_path / "out.mp4", plan[0], duration=2.0)
    out = probe_video(tmp_path / "out.mp4")
    assert (out.width, out.height, out.audio_codec) == (320, 200, None)


def test_phone_video_rotation_is_applied(source: Path, tmp_path: Path) -> None:
    rotated = tmp_path / "phone.mp4"  # same pixels, displayed turned a quarter
    run_ffmpeg(["-display_rotation", "90", "-i", str(source), "-c", "copy", str(rotated)])
    src = probe_video(rotated)
    assert (src.width, src.height) == (360, 640)
    transcode(rotated, tmp_path / "240p.mp4", R240, duration=src.duration)
    out = probe_video(tmp_path / "240p.mp4")
    assert (out.width, out.height) == (136, 240)


def test_failed_transcode_leaves_nothing(source: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(source.read_bytes()[:2048])
    dest = tmp_path / "out" / "240p.mp4"
    with pytest.raises(MediaError) as caught:
        transcode(corrupt, dest, R240, duration=3.0)
    assert str(caught.value) == "The video could not be converted."
    assert caught.value.detail  # FFmpeg's own words, for the log
    assert not dest.exists()
    assert leftovers(dest.parent) == []


def test_audio_rendition_of_a_silent_video_fails_cleanly(tmp_path: Path) -> None:
    src = make_test_video(
        tmp_path / "silent.mp4", seconds=2, width=160, height=90, with_audio=False
    )
    with pytest.raises(MediaError):
        transcode(src, tmp_path / "a.m4a", AUDIO_RENDITION, duration=2.0)
    assert not (tmp_path / "a.m4a").exists() and leftovers(tmp_path) == []


def test_progress_callback_can_cancel(source: Path, tmp_path: Path) -> None:
    class Cancelled(Exception):
        pass

    def cancel(fraction: float) -> None:
        raise Cancelled

    with pytest.raises(Cancelled):
        transcode(
            source,
            tmp_path / "x.mp4",
            R240,
            duration=3.0,
            on_progress=cancel,
            progress_interval=0.01,
        )
    assert not (tmp_path / "x.mp4").exists() and leftovers(tmp_path) == []


def test_uploader_metadata_is_dropped(source: Path, tmp_path: Path) -> None:
    tagged = tmp_path / "tagged.mp4"
    run_ffmpeg(
        ["-i", str(source), "-c", "copy", "-metadata", "location=+35.6895+139.6917/"]
        + ["-metadata", "title=Private", "-f", "mp4", str(tagged)]
    )
    with av.open(str(tagged)) as container:
        assert "location" in container.metadata  # the test would prove nothing otherwise
    transcode(tagged, tmp_path / "out.mp4", R240, duration=3.0)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert "location" not in container.metadata and "title" not in container.metadata


def test_existing_dest_is_replaced_whole(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "240p.mp4"
    dest.write_bytes(b"old")
    transcode(source, dest, R240, duration=3.0)
    assert probe_video(dest).height == 240


# --- posters -------------------------------------------------------------------------


def test_poster_is_a_jpeg(source: Path, tmp_path: Path) -> None:
    dest = make_poster(source, tmp_path / "poster.jpg")
    assert probe_image(dest).format == "jpeg"
    with Image.open(dest) as img:
        assert img.size == (640, 360)
    assert leftovers(tmp_path) == []


def test_poster_is_at_most_1280_wide(tmp_path: Path) -> None:
    wide = make_test_video(
        tmp_path / "wide.mp4", seconds=1, width=1920, height=240, with_audio=False
    )
    poster = make_poster(wide, tmp_path / "poster.jpg", duration=1.0)
    assert (probe_image(poster).width, probe_image(poster).height) == (1280, 160)


def test_poster_past_the_end_falls_back_to_the_start(source: Path, tmp_path: Path) -> None:
    poster = make_poster(source, tmp_path / "poster.jpg", at_seconds=99)
    assert probe_image(poster).format == "jpeg"


def test_poster_of_a_broken_file_fails(tmp_path: Path) -> None:
    (tmp_path / "bad.mp4").write_text("nope")
    with pytest.raises(MediaError):
        make_poster(tmp_path / "bad.mp4", tmp_path / "poster.jpg", at_seconds=1)
    assert not (tmp_path / "poster.jpg").exists() and leftovers(tmp_path) == []
