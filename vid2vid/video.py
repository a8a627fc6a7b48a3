"""Writing and showing videos: MP4 (H.264), GIF or PNG frames, side-by-side panels, notebook animations.

Frames are ``uint8 [H, W, 3]`` RGB arrays, or tensors ``[3, H, W]`` in ``[-1, 1]`` (converted by
:func:`to_uint8`). :class:`VideoWriter` takes one frame at a time, so a long generated sequence
streams to disk in constant memory::

    with VideoWriter("out.mp4", fps=10) as video:
        for frame in generate(...):
            video.write(frame)

A video, GIF or set of PNG frames appears at its path only when complete: it is written beside
it under a hidden temporary name and renamed into place, so a run that fails halfway leaves an
earlier file (or earlier frames) as it was.
"""

from __future__ import annotations

import math
import numbers
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from vid2vid.data.labels import label_palette
from vid2vid.flow.viz import flow_to_color

__all__ = [
    "VideoWriter", "write_video", "to_uint8", "side_by_side", "caption", "label_to_color", "mask_to_gray",
    "flow_to_color", "animate",
]

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")


def to_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """A frame tensor in ``[-1, 1]`` -> ``uint8`` RGB (clamped, rounded): the way back from
    :func:`vid2vid.data.encoding.image_to_tensor`, and the package's one tensor-to-picture converter.

    Args:
        image: ``[3, H, W]`` or ``[1, H, W]`` (grey, repeated to RGB), or a batch ``[B, C, H, W]``,
            values in ``[-1, 1]`` (clipped). A ``uint8`` array ``[H, W, 3]`` / ``[H, W]`` is
            passed through (grey expanded to RGB).

    Returns:
        ``uint8 [H, W, 3]`` (or ``[B, H, W, 3]`` for a batch).
    """
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ValueError(f"expected a uint8 array [H, W, 3] or a tensor in [-1, 1], "
                             f"got a {image.dtype} array")
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a uint8 array [H, W, 3] or [H, W], got shape {image.shape}")
        return image
    if image.dim() not in (3, 4) or image.shape[-3] not in (1, 3):
        raise ValueError(f"expected a tensor [3, H, W] or [B, 3, H, W] in [-1, 1], got {tuple(image.shape)}")
    x = ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    if x.shape[-3] == 1:
        x = x.expand(*x.shape[:-3], 3, *x.shape[-2:])
    return np.ascontiguousarray(x.movedim(-3, -1).cpu().numpy())


def label_to_color(label: np.ndarray | torch.Tensor) -> np.ndarray:
    """Label ids ``[H, W]`` -> ``uint8 [H, W, 3]`` RGB in :func:`vid2vid.data.labels.label_palette`.

    Cityscapes ids get their Cityscapes colours where it has one, other ids a fixed pseudo-random
    colour (id 0 black). Out-of-range ids: there is no upper bound, ids past 255 (e.g. instance ids
    ``label_id * 1000 + k``) get ``label_palette``'s colour for that id like any other; a negative id
    raises ``ValueError`` (indexing the palette with it would silently pick a colour from its end).

    Args:
        label: integer ids ``[H, W]``, a tensor or an array (any integer dtype).

    Raises:
        ValueError: for another shape, or for negative ids (naming the smallest).
    """
    if isinstance(label, torch.Tensor):
        label = label.detach().cpu().numpy()
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f"label_to_color expects label ids [H, W], got shape {label.shape}")
    if label.size and label.min() < 0:
        raise ValueError(f"label ids must be >= 0 to be coloured, found {label.min()}")
    label = label.astype(np.int64)
    palette = np.array(label_palette(max(256, int(label.max(initial=0)) + 1)), dtype=np.uint8)
    return palette[label]


def mask_to_gray(mask: np.ndarray | torch.Tensor) -> np.ndarray:
    """A mask ``[H, W]`` (bool, or float in ``[0, 1]``, e.g. the occlusion mask ``m~_t``) -> grey
    ``uint8 [H, W, 3]`` (1 = white)."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().float().cpu().numpy()
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.ndim != 2:
        raise ValueError(f"mask_to_gray expects a mask [H, W], got shape {mask.shape}")
    grey = (np.clip(mask.astype(np.float32), 0, 1) * 255).round().astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


@lru_cache(maxsize=1)
def _caption_font():
    """PIL's built-in bitmap font (6 pixels a character, 11 rows): no font file, no anti-aliasing,
    the same pixels wherever Pillow runs. Pillow >= 10.1 returns a scalable font from
    ``load_default()`` when FreeType is there, so ask for the bitmap one by name where it exists."""
    from PIL import ImageFont

    load = getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)
    return load()


CAPTION_ROWS = 11  # the rows a caption's dark band covers at the top of a panel
MIN_CAPTION_HEIGHT = 32  # side_by_side captions panels this tall or taller (the band: a third or less)


def caption(image: np.ndarray | torch.Tensor, text: str) -> np.ndarray:
    """``image`` with ``text`` written in its top-left corner: white letters (6 pixels wide, 7 to 9
    tall) on a band darkened to a third of its brightness, legible on any picture. The band covers
    the top :data:`CAPTION_ROWS` rows and the width of the text; text wider than the image is cut off.

    Args:
        image: anything :func:`to_uint8` accepts (``uint8 [H, W, 3]``, a tensor in ``[-1, 1]``).
        text: one line; empty leaves the image as it is.

    Returns:
        a new ``uint8 [H, W, 3]`` array (the input is not modified).
    """
    from PIL import Image, ImageDraw

    out = to_uint8(image).copy()
    if not text:
        return out
    font = _caption_font()
    width = font.getmask(text).size[0]  # (older Pillows measure bitmap fonts only this way)
    band = out[:CAPTION_ROWS, :width + 3]
    band[:] = band // 3  # darken: white letters then read on white, black and anything between
    picture = Image.fromarray(out)
    # the bitmap font's letters sit in rows 2-10 of its 11-row cell: one row up, and 2 px from the edge
    ImageDraw.Draw(picture).text((2, -1), text, fill=(255, 255, 255), font=font)
    return np.asarray(picture).copy()


def side_by_side(*panels: np.ndarray | torch.Tensor, gap: int = 0,
                 captions: Sequence[str | None] | None = None) -> np.ndarray:
    """Concatenate equally tall panels left to right: ``uint8 [H, W_1 + ... + W_n (+ gaps), 3]``.

    Each panel is anything :func:`to_uint8` accepts (``uint8 [H, W, 3]`` / ``[H, W]``, tensors in
    ``[-1, 1]``); ``gap`` white columns separate them. ``captions``: one text per panel (None or
    ``""``: none), written in the panel's top-left corner by :func:`caption` when the panels are at
    least :data:`MIN_CAPTION_HEIGHT` rows tall (on smaller ones a caption would hide a third of the
    picture).
    """
    if not panels:
        raise ValueError("side_by_side needs at least one panel")
    images = [to_uint8(p) for p in panels]
    if captions is not None:
        if len(captions) != len(images):
            raise ValueError(f"side_by_side got {len(captions)} captions for {len(images)} panels")
        if images[0].shape[0] >= MIN_CAPTION_HEIGHT:
            images = [caption(im, text) if text else im for im, text in zip(images, captions, strict=True)]
    heights = {im.shape[0] for im in images}
    if len(heights) != 1:
        raise ValueError(f"side_by_side panels must share a height; got shapes {[im.shape for im in images]}")
    if gap > 0:
        sep = np.full((images[0].shape[0], gap, 3), 255, np.uint8)
        images = [part for im in images for part in (im, sep)][:-1]
    return np.concatenate(images, axis=1)


def _pad_even(frame: np.ndarray) -> np.ndarray:
    """H.264 with 4:2:0 chroma needs even sizes: replicate the last row / column when odd."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return frame


class VideoWriter:
    """Write frames one at a time to ``.mp4`` (H.264), ``.gif``, or PNG files.

    Args:
        path: ``*.mp4`` / ``*.mkv`` / ``*.mov``: H.264 (libx264, yuv420p; odd sizes padded to
            even by edge replication). ``*.gif``: an animated GIF (PIL; the frames are held as
            palette images, 1 byte per pixel, until :meth:`close`). ``*.png``: one PNG per frame,
            named by the pattern (``frame_%04d.png`` or ``frame_{:04d}.png``; a plain
            ``frame.png`` becomes ``frame_000000.png``, ...). Any other path (no suffix): a folder
            of ``000000.png``, ``000001.png``, ...
        fps: frames per second (MP4, GIF), a finite number > 0.
        crf: H.264 constant rate factor (0 lossless .. 51 worst; 18 is visually lossless).

    All frames must have the size of the first. MP4 and GIF files are written to ``.<name>.partial
    <suffix>`` in the same folder (the suffix chooses the container) and renamed to ``path`` by
    :meth:`close`; :meth:`abort`, or an exception inside the ``with`` block, removes that temporary
    and leaves whatever was at ``path`` untouched. PNG frames are written to a hidden folder
    ``.partial-*`` inside their folder and moved into place by :meth:`close`, which also removes
    the frames of an earlier, longer video under the same names (they would otherwise play on
    after the new ones); :meth:`abort` removes the hidden folder and leaves earlier frames as they were.
    """

    def __init__(self, path: str | os.PathLike, fps: float = 10, crf: int = 18) -> None:
        self.path = Path(path)
        if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
            raise ValueError(f"{self.path}: fps must be a finite number > 0, got {fps!r}")
        self.fps = fps
        self.crf = crf
        suffix = self.path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            self.kind = "video"
        elif suffix == ".gif":
            self.kind = "gif"
        elif suffix == ".png":
            self.kind = "png"
            self._folder, self._pattern = self.path.parent, self.path.name
            if "%" not in self._pattern and "{" not in self._pattern:
                self._pattern = f"{self.path.stem}_{{:06d}}.png"
        elif suffix == "":
            self.kind = "png"
            self._folder, self._pattern = self.path, "{:06d}.png"
        else:
            raise ValueError(f"{self.path}: unsupported video suffix {suffix!r}; expected one of "
                             f"{VIDEO_SUFFIXES + ('.gif', '.png')} or a folder path")
        self._partial = (self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
                         if self.kind != "png" else None)
        self._stage: Path | None = None  # PNG kinds: the hidden folder the frames are written to
        self._made_folder = False  # PNG kinds: the folder did not exist before (abort removes it)
        self.count = 0
        self.size: tuple[int, int] | None = None  # (H, W) of the frames given
        self._container = self._stream = None
        self._gif: list = []
        self._closed = False

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _open_video(self, h: int, w: int) -> None:
        import av

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self._partial), mode="w")
        self._stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
        self._stream.width, self._stream.height = w + w % 2, h + h % 2
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(self.crf)}

    def write(self, frame: np.ndarray | torch.Tensor) -> None:
        """Append one frame: ``uint8 [H, W, 3]`` (grey ``[H, W]``), or a tensor ``[3, H, W]`` in [-1, 1]."""
        if self._closed:
            raise ValueError(f"{self.path}: write() after close()")
        frame = to_uint8(frame)
        if frame.ndim != 3:
            raise ValueError(f"{self.path}: expected one frame [H, W, 3], got shape {frame.shape}")
        h, w = frame.shape[:2]
        if self.size is None:
            self.size = (h, w)
        elif self.size != (h, w):
            raise ValueError(f"{self.path}: frame {self.count} is {h}x{w} but the first frame was "
                             f"{self.size[0]}x{self.size[1]} (H x W); all frames must share a size")
        if self.kind == "video":
            import av

            if self._container is None:
                self._open_video(h, w)
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(_pad_even(frame)), format="rgb24")
            for packet in self._stream.encode(image):
                self._container.mux(packet)
        elif self.kind == "gif":
            from PIL import Image

            # Per-frame adaptive palette (GIF allows 256 colours per frame); stored compactly.
            self._gif.append(Image.fromarray(frame).quantize(colors=256, method=Image.Quantize.MEDIANCUT))
        else:
            from PIL import Image

            if self._stage is None:
                self._made_folder = not self._folder.exists()
                self._folder.mkdir(parents=True, exist_ok=True)
                # Inside the target folder: the same file system, so close() only renames.
                self._stage = Path(tempfile.mkdtemp(prefix=".partial-", dir=self._folder))
            Image.fromarray(frame).save(self._stage / self._frame_name(self.count))
        self.count += 1

    def _frame_name(self, index: int) -> str:
        """The file name of PNG frame ``index`` (PNG kinds only)."""
        return self._pattern % index if "%" in self._pattern else self._pattern.format(index)

    def close(self) -> None:
        """Finish the file (flush the encoder / write the GIF) and move it to ``path``. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.kind == "video" and self._container is not None:
                for packet in self._stream.encode(None):  # flush delayed frames
                    self._container.mux(packet)
                self._container.close()
            elif self.kind == "gif" and self._gif:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                first, rest = self._gif[0], self._gif[1:]
                first.save(self._partial, save_all=True, append_images=rest, duration=round(1000 / self.fps),
                           loop=0, optimize=False, disposal=1)
                self._gif = []
            if self.count == 0:
                raise ValueError(f"{self.path}: no frames were written")
            if self._partial is not None:
                os.replace(self._partial, self.path)
            if self._stage is not None:
                self._move_frames_into_place()
        except BaseException:
            self.abort()
            raise

    def _move_frames_into_place(self) -> None:
        """Rename the staged PNG frames into their folder, then delete the frames that follow them
        under the same naming pattern (left by an earlier, longer video), then the hidden folder."""
        assert self._stage is not None
        for index in range(self.count):
            name = self._frame_name(index)
            os.replace(self._stage / name, self._folder / name)
        index = self.count
        while (self._folder / self._frame_name(index)).is_file():
            (self._folder / self._frame_name(index)).unlink()
            index += 1
        self._stage.rmdir()
        self._stage = None

    def abort(self) -> None:
        """Stop without finishing: remove the temporary file (or PNG folder), leave ``path`` as it was."""
        self._closed = True
        self._gif = []
        if self._container is not None:
            try:
                self._container.close()
            except Exception:
                pass
        if self._partial is not None:
            self._partial.unlink(missing_ok=True)
        if self._stage is not None:
            shutil.rmtree(self._stage, ignore_errors=True)
            self._stage = None
            if self._made_folder:  # created for this video: removed again unless something else is in it
                try:
                    self._folder.rmdir()
                except OSError:
                    pass


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray | torch.Tensor], fps: float = 10,
                crf: int = 18) -> Path:
    """Write ``frames`` (any iterable, e.g. a generator: consumed one at a time) to ``path``.

    See :class:`VideoWriter` for the formats chosen by the suffix. Returns the path.
    """
    with VideoWriter(path, fps=fps, crf=crf) as video:
        for frame in frames:
            video.write(frame)
    return video.path


def animate(
    frames: Iterable[np.ndarray | torch.Tensor], fps: float = 10, embed_limit_mb: float = 50
) -> object:
    """An inline HTML5 animation of ``frames`` for notebooks (play / pause / step controls).

    Renders with matplotlib's non-interactive machinery, so it works headless (no display,
    no ffmpeg). Returns an ``IPython.display.HTML`` when IPython is installed, else the HTML string.
    """
    from matplotlib import rcParams
    from matplotlib.animation import FuncAnimation
    from matplotlib.figure import Figure

    images = [to_uint8(f) for f in frames]
    if not images:
        raise ValueError("animate needs at least one frame")
    h, w = images[0].shape[:2]
    dpi = 100
    fig = Figure(figsize=(w / dpi, h / dpi), dpi=dpi)  # not pyplot: no window, no duplicate display
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    shown = ax.imshow(images[0], interpolation="nearest")

    def draw(i: int):
        shown.set_data(images[i])
        return (shown,)

    anim = FuncAnimation(fig, draw, frames=len(images), interval=1000 / fps, blit=False)
    old_limit = rcParams["animation.embed_limit"]
    rcParams["animation.embed_limit"] = embed_limit_mb
    try:
        html = anim.to_jshtml(fps=fps, default_mode="loop")
    finally:
        rcParams["animation.embed_limit"] = old_limit
    try:
        from IPython.display import HTML
    except ImportError:
        return html
    return HTML(html)
