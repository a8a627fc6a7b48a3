"""Where the frames of ``python -m vid2vid prepare`` come from: a video file or a folder of images.

:class:`FrameSource` decodes a video with PyAV (mp4, avi, mov, ..., any frame rate, variable frame
rates included) or reads a folder of images in natural order, and yields :class:`Frame` objects:
the ``uint8 [H, W, 3]`` RGB picture with the index of the source frame it came from (``--fps``
resamples by time stamp, so one source frame may be shown twice or skipped; per-frame files the
user gives, such as OpenPose keypoints, are looked up by that index). :class:`Fit` maps a source
frame onto the output size, by a centre crop (aspect ratio kept) or a plain resize (stretched), and
maps keypoints the same way.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vid2vid.data.layout import IMAGE_EXTENSIONS, DataError, list_frames, read_rgb

__all__ = [
    "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "Frame", "FrameSource", "Fit", "fitted", "per_frame_files",
    "CutDetector",
]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
_TIME_EPS = 1e-6  # seconds: a frame stamped at t is shown at t even after float rounding


@dataclass
class Frame:
    """One output frame: ``rgb`` ``uint8 [H, W, 3]`` at the source size, ``index`` the source frame
    it was decoded from (0-based, in decoding order), ``name`` the source file's name for a folder
    of images (``None`` for a video)."""

    index: int
    rgb: np.ndarray
    name: str | None = None


class FrameSource:
    """The frames of a video file or of a folder of images, resampled to ``fps`` when given.

    Args:
        path: a video file (:data:`VIDEO_EXTENSIONS`, decoded by PyAV; other suffixes are tried too)
            or a folder of ``.png/.jpg/.jpeg/.bmp`` frames in natural (time) order.
        fps: output frames per second; ``None`` keeps every decoded frame. Resampling shows at time
            ``k / fps`` the last source frame stamped at or before it (a folder has no time
            stamps, so ``fps`` needs a video).
        max_frames: stop after this many output frames.
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = None, max_frames: int | None = None):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: video file or frame folder not found")
        self.is_folder = self.path.is_dir()
        if self.is_folder:
            self._files = list_frames(self.path, IMAGE_EXTENSIONS)
            if not self._files:
                raise DataError(f"{self.path}: folder holds no frames (expected .png/.jpg/.bmp images)")
            if fps is not None:
                raise DataError(f"{self.path}: a folder of frames has no time stamps to resample by; "
                                f"--fps needs a video file (leave --fps out to keep every frame)")
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a number > 0, got {fps}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        self.fps, self.max_frames = fps, max_frames
        self.name = self.path.name if self.is_folder else self.path.stem
        self._count: int | None = len(self._files) if self.is_folder else None

    # ----------------------------------------------------------------- counts
    def source_count(self) -> int:
        """Frames in the source before resampling (a video is decoded once to count them: container
        headers are often wrong, e.g. OpenCV's tree.avi says 444 frames and holds 68)."""
        if self._count is None:
            n = 0
            for _ in self._decode(convert=False):
                n += 1
            self._count = n
        return self._count

    def expected_count(self) -> int | None:
        """Output frames when known without decoding (a folder; a video's header count otherwise,
        which may be wrong: for progress bars only)."""
        n = self._count
        if n is None and not self.is_folder:
            try:
                import av

                with av.open(str(self.path)) as container:
                    stream = container.streams.video[0]
                    n = stream.frames or None
                    if n and self.fps and stream.average_rate:
                        n = int(n * self.fps / float(stream.average_rate)) + 1
            except Exception:  # a progress-bar hint only; decoding reports real errors
                n = None
        if n is not None and self.max_frames is not None:
            n = min(n, self.max_frames)
        return n

    def probe(self) -> tuple[int, int]:
        """(height, width) of the first frame: a cheap check, before anything is written, that the
        source can be read (a DataError names it otherwise)."""
        if self.is_folder:
            return read_rgb(self.path / self._files[0]).shape[:2]
        for _, rgb in self._decode():
            return rgb.shape[:2]
        raise DataError(f"{self.path}: unreadable video (no frame could be decoded)")  # pragma: no cover

    # ----------------------------------------------------------------- frames
    def __iter__(self) -> Iterator[Frame]:
        """Output frames in time order (see the class docstring)."""
        if self.is_folder:
            for i, name in enumerate(self._files[: self.max_frames]):
                yield Frame(i, read_rgb(self.path / name), name)
            return
        emitted = 0
        for frame in self._resampled():
            yield frame
            emitted += 1
            if self.max_frames is not None and emitted >= self.max_frames:
                return

    def _resampled(self) -> Iterator[Frame]:
        if self.fps is None:
            for i, (_, rgb) in enumerate(self._decode()):
                yield Frame(i, rgb)
            return
        step = 1.0 / self.fps
        t0: float | None = None
        k = 0  # next output frame, shown at t0 + k * step
        prev: Frame | None = None
        last_t = 0.0
        for i, (t, rgb) in enumerate(self._decode()):
            if t0 is None:
                t0 = t
            # output times before this frame's stamp show the previous frame
            while prev is not None and t0 + k * step < t - _TIME_EPS:
                yield prev
                k += 1
            prev, last_t = Frame(i, rgb), t
        while prev is not None and t0 is not None and t0 + k * step <= last_t + _TIME_EPS:
            yield prev
            k += 1

    def _decode(self, convert: bool = True) -> Iterator[tuple[float, np.ndarray | None]]:
        """``(time in seconds, rgb uint8 [H, W, 3])`` of every decoded frame; a file PyAV cannot
        open or decode raises a :class:`DataError` naming it."""
        import av

        try:
            container = av.open(str(self.path))
        except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
            raise DataError(f"{self.path}: unreadable video ({_reason(err)})") from err
        with container:
            if not container.streams.video:
                raise DataError(f"{self.path}: no video stream in the file")
            stream = container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or 25)
            n = 0
            try:
                for frame in container.decode(stream):
                    t = frame.time if frame.time is not None else n / rate
                    yield t, frame.to_ndarray(format="rgb24") if convert else None
                    n += 1
            except av.FFmpegError as err:
                raise DataError(f"{self.path}: video decoding failed after {n} frames ({_reason(err)})") \
                    from err
        if n == 0:
            raise DataError(f"{self.path}: unreadable video (no frame could be decoded)")


def _reason(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:200] or type(err).__name__


def per_frame_files(folder: str | os.PathLike, extensions: tuple[str, ...], what: str,
                    source: FrameSource) -> list[Path]:
    """The files of ``folder`` (natural order), one per *source* frame of ``source`` (before
    ``--fps`` resampling): user-given keypoints, DensePose renderings, label maps are paired with
    frames by position; a count that differs raises a :class:`DataError` naming both."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: {what} folder not found")
    files = [folder / f for f in list_frames(folder, extensions)]
    n = source.source_count()
    if len(files) != n:
        raise DataError(f"{folder}: {len(files)} {what} files ({'/'.join(extensions)}) but {source.path} "
                        f"has {n} frames; expected one file per frame, paired in natural name order")
    return files


@dataclass(frozen=True)
class Fit:
    """How a ``src`` (height, width) frame becomes an ``out`` (height, width) frame.

    ``mode="crop"``: scaled (aspect kept) until it covers ``out``, then centre-cropped;
    ``mode="stretch"``: resized to ``out`` exactly (the aspect ratio changes). The same map moves
    keypoints: ``x_out = x_src * sx - ox`` (pixels, x right, y down).
    """

    src: tuple[int, int]
    out: tuple[int, int]
    mode: str = "crop"

    def __post_init__(self) -> None:
        if self.mode not in ("crop", "stretch"):
            raise ValueError(f"resize mode must be 'crop' or 'stretch', got {self.mode!r}")

    @property
    def scaled(self) -> tuple[int, int]:
        """(height, width) of the resized frame before cropping."""
        (h, w), (H, W) = self.src, self.out
        if self.mode == "stretch":
            return H, W
        s = max(H / h, W / w)
        return max(H, round(h * s)), max(W, round(w * s))

    @property
    def offset(self) -> tuple[int, int]:
        """(top, left) of the crop inside the resized frame."""
        (sh, sw), (H, W) = self.scaled, self.out
        return (sh - H) // 2, (sw - W) // 2

    def image(self, img: np.ndarray, nearest: bool = False) -> np.ndarray:
        """``img`` ``[h, w(, C)]`` -> ``[H, W(, C)]``; ``nearest`` for id maps (labels, instances)."""
        if img.shape[:2] != self.src:
            raise ValueError(f"frame size {img.shape[:2]} differs from {self.src}")
        (sh, sw), (top, left), (H, W) = self.scaled, self.offset, self.out
        if (sh, sw) != self.src:
            if nearest:
                interp = cv2.INTER_NEAREST
            else:  # area averaging when shrinking (no aliasing), bilinear when enlarging
                interp = cv2.INTER_AREA if sh * sw < self.src[0] * self.src[1] else cv2.INTER_LINEAR
            img = _resize(img, (sw, sh), interp)
        return np.ascontiguousarray(img[top: top + H, left: left + W])

    def points(self, xy: np.ndarray) -> np.ndarray:
        """Pixel coordinates ``[..., 2]`` (x, y) in the source frame -> the output frame."""
        (h, w), (sh, sw), (top, left) = self.src, self.scaled, self.offset
        return np.asarray(xy, dtype=np.float64) * (sw / w, sh / h) - (left, top)


def _resize(img: np.ndarray, size_wh: tuple[int, int], interp: int) -> np.ndarray:
    """cv2.resize of ``uint8`` / ``uint16`` images with any number of channels (OpenCV's resize
    takes at most 4 channels at once)."""
    if img.ndim == 3 and img.shape[2] > 4:
        return np.stack([cv2.resize(img[..., c], size_wh, interpolation=interp)
                         for c in range(img.shape[2])], axis=-1)
    return cv2.resize(img, size_wh, interpolation=interp)


def fitted(source: FrameSource, size: tuple[int, int], mode: str) -> Iterator[tuple[Frame, Fit]]:
    """``(frame, fit)`` for every frame of ``source``: the :class:`Fit` of the first frame's size
    to ``size`` (height, width); a later frame of another size raises a :class:`DataError`."""
    fit: Fit | None = None
    for frame in source:
        if fit is None:
            fit = Fit(frame.rgb.shape[:2], tuple(size), mode)
        elif frame.rgb.shape[:2] != fit.src:
            where = source.path / frame.name if frame.name else f"{source.path}, frame {frame.index}"
            raise DataError(f"{where}: frame size {frame.rgb.shape[:2]} differs from {fit.src} of the "
                            f"first frame")
        yield frame, fit


class CutDetector:
    """Shot cuts in a stream of frames: ``detector(rgb)`` is True when ``rgb`` starts a new shot.

    A cut is a frame whose 64-pixel-wide grey thumbnail differs from the previous frame's by more
    than ``threshold`` grey levels on average *and* by more than ``ratio`` times the median
    difference of the last ``history`` frames of the shot (so fast motion, which differs every
    frame, is not a cut; a fade is not one either). A window of frames across a cut would teach
    the generator a jump, and the flow across it means nothing.
    """

    def __init__(self, threshold: float = 20.0, ratio: float = 4.0, history: int = 10) -> None:
        self.threshold, self.ratio, self.history = threshold, ratio, history
        self._prev: np.ndarray | None = None
        self._diffs: list[float] = []

    def __call__(self, rgb: np.ndarray) -> bool:
        h, w = rgb.shape[:2]
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        thumb = cv2.resize(grey, (64, max(1, round(64 * h / w))), interpolation=cv2.INTER_AREA)
        prev, self._prev = self._prev, thumb.astype(np.float32)
        if prev is None or prev.shape != self._prev.shape:
            return False
        d = float(np.abs(self._prev - prev).mean())
        usual = float(np.median(self._diffs)) if self._diffs else 0.0
        if d > self.threshold and d > self.ratio * usual:
            self._diffs = []
            return True
        self._diffs = [*self._diffs, d][-self.history:]
        return False
