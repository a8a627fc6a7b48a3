"""The official vid2vid folder layout and the readers / writers of its files.

    <root>/<split>_A/<sequence>/<frame>.png     label ids (uint8) or a continuous input map
    <root>/<split>_B/<sequence>/<frame>.png     RGB frames (uint8)
    <root>/<split>_inst/<sequence>/<frame>.png  instance ids (uint16), optional
    <root>/<split>_flow/<sequence>/<frame>.npy  backward flow t -> t-1, float32 [H, W, 2], optional;
                                                no file for the first frame of a sequence
    <root>/<split>_occ/<sequence>/<frame>.png   255 where a pixel of t is not visible in t-1, optional

``split`` is ``train`` or ``test``. Frame file names sort in time order. Every reader raises
:class:`DataError` naming the file when it cannot deliver what was expected.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "DataError", "KINDS", "IMAGE_EXTENSIONS", "kind_dir", "list_sequences", "list_frames",
    "read_label", "read_rgb", "read_instance", "read_flow", "read_mask",
    "write_label", "write_rgb", "write_instance", "write_flow", "write_mask",
]

KINDS = ("A", "B", "inst", "flow", "occ")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


class DataError(ValueError):
    """A dataset file or folder is not what was expected (the message names where)."""


def kind_dir(root: str | os.PathLike, split: str, kind: str) -> Path:
    """``<root>/<split>_<kind>``, e.g. ``data/train_A``."""
    if kind not in KINDS:
        raise ValueError(f"unknown folder kind {kind!r}; expected one of {KINDS}")
    return Path(root) / f"{split}_{kind}"


def list_sequences(folder: str | os.PathLike) -> list[str]:
    """Sorted sequence (sub-folder) names of a ``<split>_<kind>`` folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_frames(folder: str | os.PathLike, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> list[str]:
    """Sorted frame file names (time order) of one sequence folder with the given extensions."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: sequence folder not found")
    return sorted(
        p.name for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith(".")
    )


def _imread(path: str | os.PathLike, flags: int) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, flags) if data.size else None
    if img is None:
        raise DataError(f"{path}: unreadable or truncated image")
    return img


def read_label(path: str | os.PathLike) -> np.ndarray:
    """A label map (or a single-channel continuous map): ``uint8 [H, W]``.

    A colour file is accepted only when its three channels are equal (grey stored as RGB).
    """
    img = _imread(path, cv2.IMREAD_UNCHANGED)
    if img.ndim == 3:
        if img.shape[2] >= 3 and not (np.array_equal(img[..., 0], img[..., 1])
                                      and np.array_equal(img[..., 0], img[..., 2])):
            raise DataError(f"{path}: expected a single-channel label map, found a colour image")
        img = img[..., 0]
    if img.dtype != np.uint8:
        raise DataError(f"{path}: expected an 8-bit label map, found {img.dtype}")
    return img


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An RGB frame: ``uint8 [H, W, 3]`` (grey files are expanded to three channels)."""
    img = _imread(path, cv2.IMREAD_COLOR)
    if img.dtype != np.uint8:
        raise DataError(f"{path}: expected an 8-bit image, found {img.dtype}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_instance(path: str | os.PathLike) -> np.ndarray:
    """An instance map: ``int32 [H, W]`` (8- or 16-bit single-channel file)."""
    img = _imread(path, cv2.IMREAD_UNCHANGED)
    if img.ndim != 2:
        raise DataError(f"{path}: expected a single-channel instance map, found shape {img.shape}")
    return img.astype(np.int32)


def read_flow(path: str | os.PathLike) -> np.ndarray:
    """A backward flow ``float32 [H, W, 2]`` (dx, dy in pixels, t -> t-1)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: flow file not found")
    try:
        flow = np.load(path, allow_pickle=False)
    except Exception as err:  # numpy raises several types for damaged files
        raise DataError(f"{path}: unreadable flow file ({err})") from err
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise DataError(f"{path}: expected flow of shape [H, W, 2], found {flow.shape}")
    return flow.astype(np.float32, copy=False)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A binary mask file (occlusion, foreground): ``bool [H, W]``, true where the file is > 127."""
    img = _imread(path, cv2.IMREAD_GRAYSCALE)
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
