"""The official vid2vid folder layout and the readers / writers of its files.

    <root>/<split>_A/<sequence>/<frame>.png     label ids (uint8) or a continuous input map
    <root>/<split>_A/<sequence>/<frame>.npy     or a continuous input map of C channels, uint8 [H, W, C]
    <root>/<split>_B/<sequence>/<frame>.png     RGB frames (uint8)
    <root>/<split>_inst/<sequence>/<frame>.png  instance ids (uint16), optional
    <root>/<split>_flow/<sequence>/<frame>.npy  backward flow t -> t-1, float32 [H, W, 2], optional;
                                                no file for the first frame of a sequence
    <root>/<split>_occ/<sequence>/<frame>.png   255 where a pixel of t is not visible in t-1, optional

``split`` is ``train`` or ``test``. Frame file names sort in time order *naturally*: runs of digits
compare as numbers (:func:`natural_key`), so ``8.png, 9.png, 10.png`` (unpadded) is in time order
too. The files of one frame are paired by :func:`frame_key` (their name without extension and
without trailing non-numeric ``_`` tags), so ``0007.png`` in ``_A`` pairs with ``0007.png`` in
``_B`` and Cityscapes' ``aachen_000000_000019_gtFine_labelIds.png`` with
``aachen_000000_000019_leftImg8bit.png``. A flow or occlusion file is named after the frame ``t``
it belongs to (``python -m vid2vid flow`` uses the ``_B`` frame names).

Every reader raises :class:`DataError` naming the file when it cannot deliver what was expected:
label and instance maps must be lossless (no JPEG), RGB frames 8- or 16-bit, flows finite, ``.npy``
input maps ``uint8 [H, W, C]``. What is readable but probably not what was meant (a grey map read as
three channels, frames squashed to another aspect ratio) gets a :class:`DataWarning`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "DataError", "DataWarning", "KINDS", "IMAGE_EXTENSIONS", "SOURCE_EXTENSIONS", "LOSSY_EXTENSIONS",
    "kind_dir", "natural_key", "frame_key", "list_sequences", "list_frames",
    "read_label", "read_rgb", "read_instance", "read_flow", "read_mask", "read_input_map", "file_shape",
    "write_label", "write_rgb", "write_instance", "write_flow", "write_mask",
]

KINDS = ("A", "B", "inst", "flow", "occ")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
SOURCE_EXTENSIONS = (*IMAGE_EXTENSIONS, ".npy")  # A files: images, or .npy maps of any channel count
LOSSY_EXTENSIONS = (".jpg", ".jpeg")  # fine for frames, wrong for id maps (see read_label)
_JPEG_MAGIC = b"\xff\xd8\xff"  # a JPEG stream under any extension is lossy all the same
_DIGITS = re.compile(r"([0-9]+)")
_is_number = re.compile(r"[0-9]+").fullmatch


class DataError(ValueError):
    """A dataset file or folder is not what was expected (the message names where)."""


class DataWarning(UserWarning):
    """A dataset is readable but is probably not read as meant (the message names the setting)."""


def kind_dir(root: str | os.PathLike, split: str, kind: str) -> Path:
    """``<root>/<split>_<kind>``, e.g. ``data/train_A``."""
    if kind not in KINDS:
        raise ValueError(f"unknown folder kind {kind!r}; expected one of {KINDS}")
    return Path(root) / f"{split}_{kind}"


def natural_key(name: str) -> tuple:
    """Sort key comparing runs of ASCII digits as numbers: ``9.png < 10.png``, ``f_8 < f_10``.

    Plain text sorting puts ``10.png`` before ``9.png``, which silently shuffles the frames of
    a sequence whose names are not zero-padded. Names whose numbers are equal but spelled
    differently (``8`` and ``08``) fall back to plain text order, so the order is total.
    """
    parts = _DIGITS.split(name)  # text, digits, text, digits, ..., text: digit runs at odd indices
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def frame_key(name: str) -> str:
    """The name that pairs the files of one frame across ``_A``, ``_B``, ``_inst``, ``_flow``, ``_occ``.

    The file name without its extension and without trailing ``_``-separated tags that are not
    all digits, as long as an all-digit part remains before them: ``0007.png -> 0007``,
    ``frame_8.png -> frame_8``, ``aachen_000000_000019_leftImg8bit.png -> aachen_000000_000019``,
    ``aachen_000000_000019_gtFine_labelIds.png -> aachen_000000_000019``. Names without such a
    numeric part are kept whole (``frame8_label.png -> frame8_label``).
    """
    tokens = Path(name).stem.split("_")
    while len(tokens) > 1 and not _is_number(tokens[-1]) and any(_is_number(t) for t in tokens[:-1]):
        tokens.pop()
    return "_".join(tokens)


def list_sequences(folder: str | os.PathLike) -> list[str]:
    """Sequence (sub-folder) names of a ``<split>_<kind>`` folder, in natural order (:func:`natural_key`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    return sorted((p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=natural_key)


def list_frames(folder: str | os.PathLike, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> list[str]:
    """Frame file names of one sequence folder with the given extensions, in time order.

    Time order is natural order (:func:`natural_key`): ``8.png, 9.png, 10.png``, not the text
    order ``10.png, 8.png, 9.png``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: sequence folder not found")
    return sorted(
        (p.name for p in folder.iterdir()
         if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith(".")),
        key=natural_key,
    )


def _imread(path: str | os.PathLike, flags: int, ids: str | None = None) -> np.ndarray:
    """Decode an image file; ``ids`` names what the file holds when it holds ids ("label",
    "instance"), which a lossy file cannot store exactly."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    data = np.fromfile(str(path), dtype=np.uint8)
    if ids is not None and (path.suffix.lower() in LOSSY_EXTENSIONS or data[:3].tobytes() == _JPEG_MAGIC):
        # JPEG's block compression turns an id of 7 into 6 or 8 near edges: wrong ids that
        # still lie in range, so nothing downstream would notice.
        raise DataError(f"{path}: {ids} map stored as JPEG; lossy compression changes the ids "
                        f"(wrong but in-range values near edges); save {ids} maps as PNG")
    img = cv2.imdecode(data, flags) if data.size else None
    if img is None:
        raise DataError(f"{path}: unreadable or truncated image")
    return img


def read_label(path: str | os.PathLike, ids: bool = True) -> np.ndarray:
    """A label map (or a single-channel continuous map): ``uint8 [H, W]``.

    A colour file is accepted only when its three channels are equal (grey stored as RGB).
    ``ids``: the file holds label ids, so a JPEG (lossy) file is refused; pass ``False`` for
    continuous maps (edge maps), which may be JPEG.
    """
    img = _imread(path, cv2.IMREAD_UNCHANGED, ids="label" if ids else None)
    if img.ndim == 3:
        if img.shape[2] >= 3 and not (np.array_equal(img[..., 0], img[..., 1])
                                      and np.array_equal(img[..., 0], img[..., 2])):
            raise DataError(f"{path}: expected a single-channel label map, found a colour image")
        img = img[..., 0]
    if img.dtype != np.uint8:
        raise DataError(f"{path}: expected an 8-bit label map, found {img.dtype}")
    return img


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An RGB frame: ``uint8 [H, W, 3]`` (grey files are expanded to three channels, alpha dropped).

    16-bit files are read with their true depth: value ``v`` means ``v / 65535`` and becomes
    ``round(v * 255 / 65535)``. (A plain 8-bit decode keeps only the high byte, so a 16-bit file
    holding values 0..255 would come out black.) Such a file, a 16-bit file whose values are all
    ``<= 255`` but not all zero, is ambiguous (a nearly black frame, or 8-bit values stored in 16
    bits by mistake) and is refused with a :class:`DataError`: save it as 8-bit.
    """
    # ANYDEPTH keeps 16 bits instead of truncating to the high byte; COLOR gives 3 channels.
    img = _imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if img.dtype == np.uint16:
        _refuse_8_bit_values(path, img, "a nearly black frame at 16 bits")
        # round(v * 255 / 65535) == round(v / 257), exact in integers
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise DataError(f"{path}: expected an 8- or 16-bit image, found {img.dtype}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_instance(path: str | os.PathLike) -> np.ndarray:
    """An instance map: ``int32 [H, W]`` (8- or 16-bit single-channel lossless file, not JPEG)."""
    img = _imread(path, cv2.IMREAD_UNCHANGED, ids="instance")
    if img.ndim != 2:
        raise DataError(f"{path}: expected a single-channel instance map, found shape {img.shape}")
    return img.astype(np.int32)


def _load_npy(path: Path, what: str) -> np.ndarray:
    """The array of a ``.npy`` file (no pickles); a missing or damaged file is a :class:`DataError`
    naming it as ``what``."""
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as err:  # numpy raises several types for damaged files
        raise DataError(f"{path}: unreadable {what} ({err})") from err


def read_flow(path: str | os.PathLike) -> np.ndarray:
    """A backward flow ``float32 [H, W, 2]`` (dx, dy in pixels, t -> t-1), every value finite.

    NaN or Inf (a failed estimate, or float64 values beyond float32's range) is refused: it
    would reach the flow loss and ``grid_sample`` and turn training to NaN (or crash it).
    """
    path = Path(path)
    flow = _load_npy(path, "flow file")
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise DataError(f"{path}: expected flow of shape [H, W, 2], found {flow.shape}")
    if flow.dtype.kind not in "fiu":
        raise DataError(f"{path}: expected a float flow array, found dtype {flow.dtype}")
    with np.errstate(over="ignore"):  # values beyond float32 become Inf, refused just below
        flow = flow.astype(np.float32, copy=False)
    finite = np.isfinite(flow)
    if not finite.all():
        bad = np.argwhere(~finite)
        y, x, c = (int(v) for v in bad[0])
        raise DataError(f"{path}: flow holds {len(bad)} non-finite values (NaN or Inf), the first at "
                        f"row {y}, column {x} ({'dx' if c == 0 else 'dy'}); expected finite pixel "
                        f"displacements")
    return flow


def read_input_map(path: str | os.PathLike) -> np.ndarray:
    """A continuous input map of ``C`` channels stored as ``.npy``: ``uint8 [H, W, C]`` (values 0-255,
    read like an 8-bit image: ``v`` means ``v / 127.5 - 1`` to the generator).

    For inputs with more channels than an image holds (face-512's edge map plus 14 distance maps).
    Another dtype or number of dimensions raises :class:`DataError` naming the file.
    """
    path = Path(path)
    array = _load_npy(path, ".npy input map")
    if array.ndim != 3 or min(array.shape) < 1:
        raise DataError(f"{path}: expected an input map of shape [H, W, C], found {array.shape}")
    if array.dtype != np.uint8:
        raise DataError(f"{path}: expected a uint8 input map (values 0-255), found dtype {array.dtype}")
    return array


def file_shape(path: str | os.PathLike) -> tuple[int, int, int]:
    """``(H, W, C)`` of an image file as stored (``C`` = 1 for a grey file) or of a ``.npy`` array
    (its header only); :class:`DataError` when it cannot be read."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        try:
            shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
        except Exception as err:
            raise DataError(f"{path}: unreadable .npy file ({err})") from err
    else:
        shape = _imread(path, cv2.IMREAD_UNCHANGED).shape
    if len(shape) < 2:
        raise DataError(f"{path}: expected a 2-D map, found shape {shape}")
    return int(shape[0]), int(shape[1]), int(shape[2]) if len(shape) > 2 else 1


def _refuse_8_bit_values(path: str | os.PathLike, img: np.ndarray, reading: str) -> None:
    """A 16-bit image whose values are all ``<= 255`` but not all zero holds 8-bit values stored in
    16 bits by mistake (at 16 bits it would read as ``reading``): refuse it."""
    peak = int(img.max(initial=0))
    if 0 < peak <= 255:
        raise DataError(f"{path}: 16-bit file holding 8-bit values (largest value {peak} of 65535, "
                        f"{reading}); save it as an 8-bit image")


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A binary mask file (occlusion, foreground): ``bool [H, W]``, true above half the file's range
    (> 127 for 8-bit files, > 32767 for 16-bit files; a 16-bit file holding only 0..255 is refused
    as in :func:`read_rgb`)."""
    img = _imread(path, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH)
    if img.dtype == np.uint16:
        _refuse_8_bit_values(path, img, "an empty mask at 16 bits")
        return img > 32767
    if img.dtype != np.uint8:
        raise DataError(f"{path}: expected an 8- or 16-bit mask, found {img.dtype}")
    return img > 127


def _prepare(path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _imwrite(path: Path, img: np.ndarray) -> None:
    ok, buf = cv2.imencode(path.suffix or ".png", img)
    if not ok:
        raise OSError(f"{path}: could not encode image")
    buf.tofile(str(path))


def write_label(path: str | os.PathLike, label: np.ndarray) -> None:
    """Write ``uint8 [H, W]`` label ids as a PNG."""
    _imwrite(_prepare(path), np.asarray(label, dtype=np.uint8))


def write_rgb(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write ``uint8 [H, W, 3]`` RGB as a PNG."""
    _imwrite(_prepare(path), cv2.cvtColor(np.asarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2BGR))


def write_instance(path: str | os.PathLike, inst: np.ndarray) -> None:
    """Write instance ids as a 16-bit PNG."""
    inst = np.asarray(inst)
    if inst.min(initial=0) < 0 or inst.max(initial=0) > 65535:
        raise ValueError(f"{path}: instance ids must lie in [0, 65535]")
    _imwrite(_prepare(path), inst.astype(np.uint16))


def write_flow(path: str | os.PathLike, flow: np.ndarray) -> None:
    """Write a backward flow ``float32 [H, W, 2]`` as ``.npy``."""
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"{path}: flow must be [H, W, 2], got {flow.shape}")
    np.save(_prepare(path), flow, allow_pickle=False)


def write_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write a boolean mask as a PNG (255 = true)."""
    _imwrite(_prepare(path), np.asarray(mask, dtype=bool).astype(np.uint8) * 255)
