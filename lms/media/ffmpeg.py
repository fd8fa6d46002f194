"""Posters and renditions, made by the FFmpeg binary that ships with imageio-ffmpeg.

Trainees watch on slow, metered links, so each lecture is kept in a small ladder of
H.264/AAC MP4 files (every browser and phone plays them) with the index at the front
("fast start") so playback and seeking begin before the download ends, plus a
48 kbps audio-only file for when even 240p does not get through.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask_babel import lazy_gettext as _l

from lms.media.probe import MediaError, StrPath, VideoInfo, probe_video

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]

# A source a few lines short of a rung (a screen recording cropped to 1280x718, say)
# still gets that rung, encoded at the source height: never upscaled.
RUNG_TOLERANCE = 0.95
POSTER_MAX_WIDTH = 1280
KEYFRAME_SECONDS = 4  # seek points close enough that a jump fetches little extra
MAX_FPS = 30  # 60 fps screen captures would spend a thin bitrate on frames, not detail


@cache
def ffmpeg_exe() -> str:
    """Path of the FFmpeg binary bundled with imageio-ffmpeg (no system FFmpeg needed)."""
    import imageio_ffmpeg  # noqa: PLC0415 - imported late: it looks on disk at import

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class Rendition:
    name: str  # "240p", "360p", "720p" or "audio"
    height: int | None  # target picture height; None for audio only
    video_kbps: int | None
    audio_kbps: int

    @property
    def audio_only(self) -> bool:
        return self.height is None

    @property
    def extension(self) -> str:
        return "m4a" if self.audio_only else "mp4"

    @property
    def mime_type(self) -> str:
        return "audio/mp4" if self.audio_only else "video/mp4"


RENDITIONS: tuple[Rendition, ...] = (
    Rendition("240p", 240, 250, 64),
    Rendition("360p", 360, 600, 96),
    Rendition("720p", 720, 2500, 128),
    Rendition("audio", None, None, 48),
)
VIDEO_RENDITIONS = tuple(r for r in RENDITIONS if not r.audio_only)
AUDIO_RENDITION = next(r for r in RENDITIONS if r.audio_only)


def _even(n: int) -> int:
    return max(2, n - n % 2)  # H.264 with 4:2:0 chroma needs even dimensions


def plan_renditions(info: VideoInfo) -> list[Rendition]:
    """The renditions worth making for a source: never larger than the source.

    Every rung up to the source height is kept (with :data:`RUNG_TOLERANCE`). A source
    below 240 lines still gets the lowest rung, so every video has a small MP4, but at
    its own (even) height instead of an upscaled one; its name stays "240p" so players
    and storage keys need no special case. Audio only when the source has sound.
    """
    plan = [r for r in VIDEO_RENDITIONS if info.height >= r.height * RUNG_TOLERANCE]
    if not plan:
        plan = [VIDEO_RENDITIONS[0]]
    plan = [
        dataclasses.replace(r, height=_even(info.height)) if info.height < r.height else r
        for r in plan
    ]
    if info.has_audio:
        plan.append(AUDIO_RENDITION)
    return plan


# --- running FFmpeg ------------------------------------------------------------------


def run_ffmpeg(
    args: Sequence[str],
    *,
    duration: float | None = None,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,
    progress_interval: float = 0.5,
) -> None:
    """Run the bundled FFmpeg with ``args`` (after its global options).

    Reports progress from ``-progress pipe:1`` when ``duration`` and ``on_progress`` are
    given, and raises :class:`MediaError` (stderr tail in ``detail``) on failure.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"]
    cmd += ["-progress", "pipe:1", "-stats_period", f"{progress_interval:g}", *args]
    log.debug("ffmpeg %s", " ".join(cmd[1:]))
    # stderr goes to a file, not a pipe: a flood of decode errors cannot fill a pipe
    # buffer and deadlock FFmpeg while we are busy reading progress from stdout.
    with (
        tempfile.TemporaryFile() as err,
        subprocess.Popen(  # noqa: S603 - fixed binary, arguments are a list
            cmd, stdout=subprocess.PIPE, stderr=err, text=True, encoding="utf-8"
        ) as proc,
    ):
        # A timer, not wait(timeout=): reading progress blocks until FFmpeg ends.
        timed_out = threading.Event()

        def kill_on_timeout() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, kill_on_timeout) if timeout else None
        reporter = _ProgressReporter(duration, on_progress)
        try:
            if timer is not None:
                timer.start()
            assert proc.stdout is not None
            for line in proc.stdout:
                reporter.feed(line)
            returncode = proc.wait()
        finally:
            if timer is not None:
                timer.cancel()
            if proc.poll() is None:  # the callback raised, e.g. to cancel the job
                proc.kill()
        if returncode != 0:
            err.seek(0)
            tail = err.read()[-2000:].decode("utf-8", errors="replace").strip()
            if timed_out.is_set():
                tail = f"killed after {timeout}s timeout\n{tail}"
            log.warning("ffmpeg failed (%s): %s", returncode, tail)
            raise MediaError(_l("The video could not be converted."), tail or f"exit {returncode}")
    if on_progress is not None and reporter.last < 1.0:
        on_progress(1.0)


class _ProgressReporter:
    """Turn FFmpeg's ``key=value`` progress lines into calls with a rising 0..1."""

    def __init__(self, duration: float | None, on_progress: ProgressCallback | None) -> None:
        self.duration = duration if duration and duration > 0 else None
        self.on_progress = on_progress
        self.last = 0.0

    def feed(self, line: str) -> None:
        key, _, value = line.strip().partition("=")
        # out_time_ms is microseconds too (a historical misnomer); newer builds add _us.
        if key not in ("out_time_us", "out_time_ms") or not self.duration or not self.on_progress:
            return
        try:
            seconds = int(value) / 1_000_000
        except ValueError:  # "N/A" before the first frame is out
            return
        fraction = min(max(seconds / self.duration, 0.0), 1.0)
        if fraction > self.last:  # both keys arrive per block; report each step once
            self.last = fraction
            self.on_progress(fraction)


@contextlib.contextmanager
def _atomic_output(dest: StrPath, suffix: str) -> Iterator[str]:
    """A temporary path beside ``dest``, renamed over it only when the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name FFmpeg creates itself (mkstemp would leave it readable by us only).
    tmp = str(dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.part{suffix}"))
    try:
        yield tmp
        if not os.path.exists(tmp) or os.path.getsize(tmp) == 0:
            raise MediaError(_l("The video could not be converted."), "empty output")
        os.replace(tmp, dest)  # same folder, so the rename is atomic
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


# --- posters -------------------------------------------------------------------------


def make_poster(
    src: StrPath,
    dest: StrPath,
    at_seconds: float | None = None,
    *,
    duration: float | None = None,
) -> Path:
    """Write a JPEG still of ``src`` to ``dest``, at most 1280 pixels wide.

    By default the frame at 10% of the running time: the first frames are usually a
    black fade-in or a title card. ``duration`` saves a probe when it is known.
    """
    if at_seconds is None:
        if duration is None:
            duration = probe_video(src).duration
        at_seconds = duration * 0.10
    for seek in (max(at_seconds, 0.0), 0.0):
        # Input seeking (-ss before -i) jumps to the nearest keyframe: fast on long files.
        args = ["-ss", f"{seek:.3f}", "-i", os.fspath(src), "-map", "0:v:0", "-frames:v", "1"]
        args += ["-vf", f"scale='min({POSTER_MAX_WIDTH},iw)':-2,format=yuvj420p"]
        args += ["-c:v", "mjpeg", "-q:v", "3", "-f", "image2", "-update", "1"]
        try:
            with _atomic_output(dest, ".jpg") as tmp:
                run_ffmpeg([*args, tmp])
            return Path(dest)
        except MediaError:
            if seek == 0.0:
                raise
            # A seek past the last keyframe of a short or odd file yields nothing.
            log.info("no frame at %.3fs in %s; taking the first one", seek, src)
    raise AssertionError("unreachable")


# --- renditions ----------------------------------------------------------------------


def transcode_args(src: StrPath, dest: StrPath, rendition: Rendition) -> list[str]:
    """FFmpeg arguments (after the global ones) for one rendition."""
    args = ["-i", os.fspath(src)]
    # Drop the uploader's metadata (phone GPS position, software names) and chapters.
    args += ["-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn"]
    if rendition.audio_only:
        # Mono: at 48 kbps one channel of speech sounds far better than two.
        args += ["-map", "0:a:0", "-vn", "-c:a", "aac", "-b:a", f"{rendition.audio_kbps}k"]
        args += ["-ac", "1"]
    else:
        assert rendition.height is not None and rendition.video_kbps is not None
        kbps = rendition.video_kbps
        height = f"trunc(min({rendition.height}\\,ih)/2)*2"  # never upscale; even lines
        args += ["-map", "0:v:0", "-map", "0:a:0?"]
        args += ["-vf", f"scale=-2:{height}", "-fpsmax", str(MAX_FPS)]
        args += ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main"]
        args += ["-pix_fmt", "yuv420p"]
        # Capped bit rate: a trainee's link can count on the ceiling, not an average.
        args += ["-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{2 * kbps}k"]
        args += ["-force_key_frames", f"expr:gte(t,n_forced*{KEYFRAME_SECONDS})"]
        args += ["-c:a", "aac", "-b:a", f"{rendition.audio_kbps}k", "-ac", "2"]
    args += ["-movflags", "+faststart", "-f", "mp4", os.fspath(dest)]
    return args


def transcode(
    src: StrPath,
    dest: StrPath,
    rendition: Rendition,
    *,
    duration: float,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,
    progress_interval: float = 0.5,
) -> Path:
    """Encode ``src`` as ``rendition`` into ``dest`` (MP4 or M4A with fast start).

    ``on_progress`` receives a rising fraction in 0..1 and 1.0 at the end; if it
    raises (to cancel a job, say), FFmpeg is stopped and the exception propagates.
    ``dest`` appears only complete: FFmpeg writes to a temporary file beside it.
    ``timeout`` (seconds) stops a run that hangs; ``progress_interval`` is how often
    FFmpeg reports.
    """
    with _atomic_output(dest, f".{rendition.extension}") as tmp:
        run_ffmpeg(
            transcode_args(src, tmp, rendition),
            duration=duration,
            on_progress=on_progress,
            timeout=timeout,
            progress_interval=progress_interval,
        )
    return Path(dest)


__all__ = [
    "AUDIO_RENDITION",
    "RENDITIONS",
    "VIDEO_RENDITIONS",
    "ProgressCallback",
    "Rendition",
    "ffmpeg_exe",
    "make_poster",
    "plan_renditions",
    "run_ffmpeg",
    "transcode",
    "transcode_args",
]
